"""The registry of metric keys: the one place that knows what a key means.

Labels, which direction is better, which task a key belongs to and how to
print it live here, so the summary, the diagnostics, the CLI and the charts
all agree. Unknown keys are never dropped: they get a generic spec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from metricwatch.safetext import printable


class Direction(str, Enum):
    LOWER = "lower"
    HIGHER = "higher"
    NONE = "none"


class Kind(str, Enum):
    """How a value is printed and which chart it belongs on."""

    LOSS = "loss"
    FRACTION = "fraction"  # accuracy-like, 0-1 (or 0-100): printed as a percentage
    ERROR = "error"  # regression errors: plain significant digits
    SCORE = "score"  # unbounded-ish score such as R2
    LR = "lr"
    DURATION = "duration"
    THROUGHPUT = "throughput"  # samples or steps per second: how fast, not how well
    GRADIENT = "gradient"
    EPOCH = "epoch"
    GENERIC = "generic"


class Task(str, Enum):
    CLASSIFICATION = "classification"
    ANOMALY_DETECTION = "anomaly_detection"
    OBJECT_DETECTION = "object_detection"
    ORIENTED_OD = "oriented_od"
    SEGMENTATION = "segmentation"
    INSTANCE_SEGMENTATION = "instance_segmentation"
    REGRESSION = "regression"
    POSE = "pose_estimation"  # keypoints (Ultralytics' task `pose`: its name matches too)


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    kind: Kind
    direction: Direction
    tasks: tuple[Task, ...] = ()

    @property
    def known(self) -> bool:
        return self.key in REGISTRY

    @property
    def is_task_metric(self) -> bool:
        return bool(self.tasks) or self.kind in (Kind.FRACTION, Kind.ERROR, Kind.SCORE)

    def better(self, a: float, b: float) -> bool:
        """Whether value a is strictly better than value b for this key."""
        if self.direction is Direction.HIGHER:
            return a > b
        return a < b


_C, _A, _OD, _OOD = (
    Task.CLASSIFICATION,
    Task.ANOMALY_DETECTION,
    Task.OBJECT_DETECTION,
    Task.ORIENTED_OD,
)
_S, _IS, _R, _P = Task.SEGMENTATION, Task.INSTANCE_SEGMENTATION, Task.REGRESSION, Task.POSE
_HI, _LO, _NO = Direction.HIGHER, Direction.LOWER, Direction.NONE

_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("epoch", "Epoch", Kind.EPOCH, _NO),
    MetricSpec("train_loss", "Train Loss", Kind.LOSS, _LO),
    MetricSpec("val_loss", "Val Loss", Kind.LOSS, _LO),
    MetricSpec("lr", "Learning Rate", Kind.LR, _NO),
    MetricSpec("duration_s", "Epoch Duration", Kind.DURATION, _NO),
    MetricSpec("grad_norm", "Grad Norm", Kind.GRADIENT, _NO),
    MetricSpec("grad_max", "Grad Max", Kind.GRADIENT, _NO),
    MetricSpec("train_accuracy", "Train Accuracy", Kind.FRACTION, _HI),
    MetricSpec("val_accuracy", "Val Accuracy", Kind.FRACTION, _HI, (_C,)),
    MetricSpec("val_f1", "Val F1", Kind.FRACTION, _HI, (_C, _A)),
    MetricSpec("val_precision", "Val Precision", Kind.FRACTION, _HI, (_C,)),
    MetricSpec("val_recall", "Val Recall", Kind.FRACTION, _HI, (_C,)),
    MetricSpec("val_auroc", "Val AUROC", Kind.FRACTION, _HI, (_A,)),
    MetricSpec("val_mAP", "Val mAP", Kind.FRACTION, _HI, (_OD, _OOD)),
    MetricSpec("val_mAP_50", "Val mAP@50", Kind.FRACTION, _HI, (_OD, _OOD)),
    MetricSpec("val_mAP_75", "Val mAP@75", Kind.FRACTION, _HI, (_OD,)),
    MetricSpec("val_mIoU", "Val mIoU", Kind.FRACTION, _HI, (_S,)),
    MetricSpec("val_pixel_acc", "Val Pixel Acc", Kind.FRACTION, _HI, (_S,)),
    MetricSpec("val_dice", "Val Dice", Kind.FRACTION, _HI, (_S,)),
    MetricSpec("val_mAP_mask", "Val mAP (mask)", Kind.FRACTION, _HI, (_IS,)),
    MetricSpec("val_mAP_box", "Val mAP (box)", Kind.FRACTION, _HI, (_IS,)),
    # Ultralytics' other mask columns (`metrics/mAP50(M)`...). No task: the two keys above
    # already tell an instance-segmentation run, and a task's keys are what the simulated
    # runs write (simulate._TARGETS has none for these).
    MetricSpec("val_mAP_50_mask", "Val mAP@50 (mask)", Kind.FRACTION, _HI),
    MetricSpec("val_precision_mask", "Val Precision (mask)", Kind.FRACTION, _HI),
    MetricSpec("val_recall_mask", "Val Recall (mask)", Kind.FRACTION, _HI),
    # Ultralytics pose (`metrics/mAP50-95(P)`...): keypoint OKS mAP. A pose run also logs
    # the box columns (val_mAP...), so all four tell the task; mAP50-95 is its main metric.
    MetricSpec("val_mAP_pose", "Val mAP (pose)", Kind.FRACTION, _HI, (_P,)),
    MetricSpec("val_mAP_50_pose", "Val mAP@50 (pose)", Kind.FRACTION, _HI, (_P,)),
    MetricSpec("val_precision_pose", "Val Precision (pose)", Kind.FRACTION, _HI, (_P,)),
    MetricSpec("val_recall_pose", "Val Recall (pose)", Kind.FRACTION, _HI, (_P,)),
    # Their loss parts (`train/pose_loss`: keypoint location, `kobj_loss`: keypoint
    # visibility), already losses by name; here for their labels.
    MetricSpec("train_pose_loss", "Train Pose Loss", Kind.LOSS, _LO),
    MetricSpec("val_pose_loss", "Val Pose Loss", Kind.LOSS, _LO),
    MetricSpec("train_kobj_loss", "Train Keypoint Obj Loss", Kind.LOSS, _LO),
    MetricSpec("val_kobj_loss", "Val Keypoint Obj Loss", Kind.LOSS, _LO),
    MetricSpec("val_mae", "Val MAE", Kind.ERROR, _LO, (_R,)),
    MetricSpec("val_mse", "Val MSE", Kind.ERROR, _LO, (_R,)),
    MetricSpec("val_rmse", "Val RMSE", Kind.ERROR, _LO, (_R,)),
    MetricSpec("val_r2", "Val R²", Kind.SCORE, _HI, (_R,)),
    # Speech recognition (Hugging Face's eval_wer / eval_cer): error rates, lower is better.
    MetricSpec("val_wer", "Val WER", Kind.ERROR, _LO),
    MetricSpec("val_cer", "Val CER", Kind.ERROR, _LO),
    MetricSpec("val_accuracy_top5", "Val Top-5 Accuracy", Kind.FRACTION, _HI),
)

#: Unknown keys that are the time a step or an evaluation took (detectron2's `time` and
#: `data_time`, Hugging Face's `eval_runtime`): durations, not task metrics.
_TIMING_KEYS = frozenset({"time", "data_time", "rank_data_time", "eta_seconds"})

REGISTRY: dict[str, MetricSpec] = {spec.key: spec for spec in _SPECS}

ALIASES: dict[str, str] = {
    "learning_rate": "lr",
    "learning_rates": "lr",  # a history dict's list of the epochs' learning rates
    "val_acc": "val_accuracy",
    "train_acc": "train_accuracy",
    # Keras' History.history names the training-set values without a prefix.
    "loss": "train_loss",
    "acc": "train_accuracy",
    "accuracy": "train_accuracy",
}

#: The metric that ranks epochs when a run logs no val_loss.
MAIN_METRIC: dict[Task, str] = {
    Task.CLASSIFICATION: "val_accuracy",
    Task.ANOMALY_DETECTION: "val_auroc",
    Task.OBJECT_DETECTION: "val_mAP",
    Task.ORIENTED_OD: "val_mAP",
    Task.SEGMENTATION: "val_mIoU",
    Task.INSTANCE_SEGMENTATION: "val_mAP_mask",
    Task.REGRESSION: "val_rmse",
    Task.POSE: "val_mAP_pose",
}

#: Keys that describe the training process rather than the task.
PROCESS_KEYS = frozenset({"epoch", "train_loss", "val_loss", "lr", "duration_s"})
LOSS_KEYS = ("train_loss", "val_loss")
GRADIENT_KEYS = ("grad_norm", "grad_max")


def canonical_key(key: str) -> str:
    return ALIASES.get(key, key)


def spec_for(key: str) -> MetricSpec:
    """The registry entry for a key, or a generic one built from its name."""
    key = canonical_key(key)
    spec = REGISTRY.get(key)
    if spec is not None:
        return spec
    if key.endswith("_step") and (base := REGISTRY.get(key[: -len("_step")])) is not None:
        # The per-step values of a key also logged per epoch (Lightning's `_step`, the
        # step log beside metrics.json): the same metric, no evidence of a task.
        return MetricSpec(key, f"{base.label} (step)", base.kind, base.direction)
    group = _LR_GROUP.fullmatch(key)
    if group is not None:
        return MetricSpec(key, f"Learning Rate {group.group(1) or key}", Kind.LR, _NO)
    if _COCO_PERCENT.fullmatch(key.rsplit("/", 1)[-1]):
        return MetricSpec(key, _title(key), Kind.FRACTION, _HI)
    lowered = key.lower()
    if _is_loss_name(lowered):
        return MetricSpec(key, _title(key), Kind.LOSS, _LO)
    if lowered in _TIMING_KEYS or lowered.endswith("_runtime"):
        return MetricSpec(key, _title(key), Kind.DURATION, _NO)
    if lowered.endswith("_per_second"):
        return MetricSpec(key, _title(key), Kind.THROUGHPUT, _NO)
    return MetricSpec(key, _title(key), Kind.GENERIC, _guess_direction(lowered))


#: Learning rates of further parameter groups: `lr_pg0`, `lr_pg2` (Ultralytics' groups
#: besides the schedule, which is `lr`), and names readers keep as they are: Ultralytics'
#: `lr/pg0` and YOLOv5's `x/lr0` in event files, Lightning's `lr-Adam_pg2`, `lr-SGD-1`.
#: Learning rates: LR formatting, the LR chart (log scale), never task metrics.
_LR_GROUP = re.compile(r"lr_(pg\d+)|lr/pg\d+|x/lr\d+|lr-[A-Za-z][A-Za-z0-9]*(?:_pg\d+|-\d+)?")

#: COCO-style evaluation names, the last part of a key (`bbox/AP-person`, `segm/APs`,
#: `bbox/AR@100`, `sem_seg/fwIoU`, `panoptic_seg/PQ_th`): percentages, higher is better.
#: detectron2 writes them on a 0-100 scale and declares it (meta["value_scale"]).
_COCO_PERCENT = re.compile(
    r"(?:AP|AR)(?:\d+|[sml]|@\d+|-.+)?|(?:m|fw)?IoU(?:-.+)?|[mp]?ACC(?:-.+)?|[PSR]Q(?:_th|_st)?"
)


def _is_loss_name(lowered: str) -> bool:
    """`val_loss`, `loss_cls` (detectron2's parts), `train_loss_step` (Lightning's pairs)."""
    return (
        lowered.endswith("loss")
        or lowered.startswith("loss_")
        or "_loss_" in lowered
        or lowered.endswith(("_loss_step", "_loss_epoch"))
    )


def _guess_direction(lowered: str) -> Direction:
    if any(
        word in lowered
        for word in (
            "acc",
            "f1",
            "map",
            "iou",
            "auc",
            "dice",
            "precision",
            "recall",
            "r2",
            "bleu",
            "score",
        )
    ):
        return _HI
    if any(word in lowered for word in ("err", "mae", "mse", "rmse", "perplexity", "wer", "cer")):
        return _LO
    return _NO


def _title(key: str) -> str:
    """A label from an unknown key. Keys come from files: the label is made printable."""
    title = " ".join(part[:1].upper() + part[1:] for part in key.split("_") if part) or key
    return printable(title)


def task_metric_keys(keys: Iterable[str]) -> list[str]:
    """The keys a run logs that are task metrics (plotted on the metric charts)."""
    result = []
    for key in keys:
        if key in PROCESS_KEYS or key in GRADIENT_KEYS:
            continue
        spec = spec_for(key)
        # Losses and learning rates have their own charts; timings and speed are not metrics.
        if spec.kind in (Kind.LOSS, Kind.LR, Kind.DURATION, Kind.THROUGHPUT):
            continue
        result.append(key)
    return result


def infer_task(keys: Iterable[str], declared: object = None) -> Task | None:
    """The run's task: the one it declares in meta, else the best match of its keys."""
    if isinstance(declared, str):
        normalised = declared.strip().lower().replace(" ", "_").replace("-", "_")
        for task in Task:
            if normalised in (task.value, task.name.lower()):
                return task
    present = set(keys)
    best: tuple[int, bool] | None = None
    chosen: Task | None = None
    for task in Task:  # enum order breaks ties: the more common task first
        if task is Task.ORIENTED_OD:
            continue  # its keys are detection's: only a declared task tells them apart
        task_keys = {k for k, spec in REGISTRY.items() if task in spec.tasks}
        hits = len(task_keys & present)
        if hits == 0:
            continue
        score = (hits, task_keys <= present)
        if best is None or score > best:
            best, chosen = score, task
    return chosen


def fraction_scale(values: Sequence[float] | np.ndarray) -> float:
    """100 when a fraction-like series is already in percent (any |value| > 1.5), else 1.

    A guess, for formats that do not say: an AP of 0.9 % on a 0-100 scale reads as 90 %
    here. Where the format declares its scale, value_scale uses that instead.
    """
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return 1.0
    # Two reductions, no copy: NaN and infinities carry through, so a finite result
    # means every value is finite.
    top = max(float(values.max()), -float(values.min()))
    if not math.isfinite(top):
        finite = values[np.isfinite(values)]
        top = float(np.max(np.abs(finite))) if len(finite) else 0.0
    return 100.0 if top > 1.5 else 1.0


def declared_scales(meta: Mapping[str, object]) -> dict[str, float]:
    """The value scales a run's format declares (`meta["value_scale"]`, e.g. detectron2's
    `{"val_mAP": 100.0}` for COCO AP on 0-100): key -> scale, well-formed entries only.

    Meta can come from a user's file (the native format keeps its `meta` block), so
    anything but a string key with a finite positive number is left out, not trusted.
    """
    declared = meta.get("value_scale")
    if not isinstance(declared, Mapping):
        return {}
    scales = {}
    for key, scale in declared.items():
        number = isinstance(scale, (int, float)) and not isinstance(scale, bool)
        if isinstance(key, str) and number and math.isfinite(scale) and scale > 0:
            scales[key] = float(scale)
    return scales


def value_scale(
    key: str, values: Sequence[float] | np.ndarray, declared: Mapping[str, float]
) -> float:
    """The scale a key's values are printed and drawn on: the one its format declared,
    else fraction_scale's guess from the values."""
    scale = declared.get(key)
    return scale if scale is not None else fraction_scale(values)


def format_value(key: str, value: float | None, *, scale: float = 1.0) -> str:
    """Print a value the way a person reads that metric.

    `scale` is 100 when a fraction-like metric is logged in percent already
    (see fraction_scale), so 45.3 prints as 45.3% and 0.453 prints as 45.3%.
    """
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    kind = spec_for(key).kind
    if kind is Kind.FRACTION:
        percent = value * (100 / scale)
        if abs(percent) < 1e5:
            return f"{percent:.1f}%"
        return format_sig(value)  # no fraction at all: print the number, not "inf%"
    if kind is Kind.LR:
        return format_lr(value)
    if kind is Kind.DURATION:
        return format_duration(value)
    if kind is Kind.EPOCH:
        return str(int(value))
    return format_sig(value)


def format_sig(value: float, digits: int = 4) -> str:
    """Significant digits without trailing noise: 0.04213, 2.31, 1.2e-05, 12345."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 99999.5 or magnitude < 1e-3:  # 99999.6 would print as 100000
        return f"{value:.{digits - 1}e}"
    if magnitude >= 10 ** (digits - 1):
        return f"{value:.0f}"  # 12345, not 1.234e+04
    return f"{value:.{digits}g}"


def format_lr(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.2e}".replace("e-0", "e-").replace("e+0", "e+")


def format_duration(seconds: float | None) -> str:
    """`40m 12s`, `1h 02m`, `3d 04h`, `45.2s`, `45ms`: the seed's summary-table style."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 0.9995:  # 45 ms epochs are not "0.0s"
        return "<1ms" if 0 < seconds < 0.001 else f"{seconds * 1000:.0f}ms"
    if seconds < 59.95:  # 59.96 would print as "60.0s"
        return f"{seconds:.1f}s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"

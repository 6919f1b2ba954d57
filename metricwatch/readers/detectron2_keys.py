"""detectron2's names: its file, its keys and what they are called here.

detectron2 logs `total_loss`, `bbox/AP` and the like; the registry knows
them as `train_loss`, `val_mAP`. The line parsing (detectron2) and the
runs (detectron2_runs, which take a run of lines of one shape as a table)
both name a line's metrics this way, so the names live here, below both.
"""

from __future__ import annotations

from metricwatch.metrics import ALIASES

NAME = "metrics.json"

#: Larger iteration numbers are garbage, not a very long training.
MAX_ITERATION = 10**12
#: A line's keys that are not its metrics; the first is a count (a plain integer).
AXES = ("iteration", "eta_seconds")

#: detectron2's names for the canonical keys. COCO-style results are on a 0-100 scale.
KEYS = {
    "total_loss": "train_loss",
    "validation_loss": "val_loss",  # the LossEvalHook of the detectron2 tutorials
    "bbox/AP": "val_mAP",
    "bbox/AP50": "val_mAP_50",
    "bbox/AP75": "val_mAP_75",
    "segm/AP": "val_mAP_mask",
    "sem_seg/mIoU": "val_mIoU",
    "sem_seg/pACC": "val_pixel_acc",
}


def canonical_key(raw: str) -> str:
    """The registry's name for a detectron2 key (unknown keys keep their own name)."""
    return KEYS.get(raw) or ALIASES.get(raw, raw)


def metric_keys(keys: tuple[str, ...]) -> list[tuple[int, str, str]] | None:
    """(index, raw, canonical) of a line shape's metrics, or None when a line of it is not
    simply one value per metric (no metric, or two names of one: a collision to report)."""
    metrics = [(i, raw, canonical_key(raw)) for i, raw in enumerate(keys) if raw not in AXES]
    if not metrics or len({key for _, _, key in metrics}) < len(metrics):
        return None
    return metrics

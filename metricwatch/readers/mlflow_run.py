"""What both MLflow stores share: key names, and metric columns to a run table.

Each MLflow run is a run of ours; x is MLflow's step. A metric logged
without a step has step 0 on every point: its points are numbered by
position instead (and said so). A step logged twice keeps the value logged
last. Keys map onto the registry's through _KEYS below; the original is
kept in meta["source_keys"]; an `epoch` metric becomes the epochs axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult, quote_key, union_steps, with_epochs

#: Names the frameworks log to MLflow whose meaning is a registry key: Hugging Face
#: Trainer's MLflowCallback (`loss`, `eval_loss`, `learning_rate`), Lightning's MLFlowLogger
#: (whatever is logged: `train_loss`, `lr-Adam`), Keras autolog (`loss`, `val_loss`).
_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "train/loss": "train_loss",
    "training_loss": "train_loss",
    "val_loss": "val_loss",
    "val/loss": "val_loss",
    "valid_loss": "val_loss",
    "validation_loss": "val_loss",
    "eval_loss": "val_loss",
    "eval/loss": "val_loss",
    "lr": "lr",
    "learning_rate": "lr",
    "train/lr": "lr",
    "lr-Adam": "lr",
    "lr-AdamW": "lr",
    "lr-SGD": "lr",
    "grad_norm": "grad_norm",
    "accuracy": "train_accuracy",
    "acc": "train_accuracy",
    "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "val/acc": "val_accuracy",
    "eval_accuracy": "val_accuracy",
    "metrics/mAP50-95(B)": "val_mAP",
    "metrics/mAP50(B)": "val_mAP_50",
}
#: Keys that give the epoch at a step (HF and Lightning log `epoch`): the epochs axis.
_EPOCH_KEYS = ("epoch",)


def canonical_key(key: str) -> str:
    if key in _KEYS:
        return _KEYS[key]
    if key.startswith("eval_") and len(key) > 5:  # Hugging Face Trainer
        return "val_" + key[5:]
    return key


def build_result(
    columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    meta: dict[str, Any],
    problems: list[Problem],
) -> ParseResult:
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    unstepped: list[str] = []
    epoch_axis = None
    collisions: list[str] = []
    # Canonical spellings first, so an alias never takes the place of the real key.
    for key in sorted(columns, key=lambda k: canonical_key(k) != k):
        steps, values, times = columns[key]
        # (Each step below skips its copies when there is nothing to do: a live run's
        # metrics come in order, one value a step, and are read again at every write.)
        if len(steps) > 1 and steps[0] == steps[-1] and bool(np.all(steps == steps[0])):
            unstepped.append(key)  # logged without a step: number the points in order
            steps = np.arange(len(steps), dtype=np.int64)
        if len(steps) > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
            order = np.argsort(steps, kind="stable")
            steps, values, times = steps[order], values[order], times[order]
        if len(steps) > 1:  # a step logged twice: the later value wins
            last = np.append(steps[1:] != steps[:-1], True)
            if not last.all():
                steps, values, times = steps[last], values[last], times[last]
        if key in _EPOCH_KEYS:
            epoch_axis = (steps, values)
            continue
        name = canonical_key(key)
        if name in series:
            collisions.append(f"{quote_key(sources[name])} and {quote_key(key)}")
            name = key
        sources[name] = key
        series[name] = Series(name, steps, values, None, times)
    if epoch_axis is not None:
        series = {k: with_epochs(s, *epoch_axis) for k, s in series.items()}
    if unstepped:
        problems.append(
            Problem(
                ProblemKind.BAD_EPOCH,
                f"{', '.join(map(quote_key, unstepped[:3]))} logged without a step: "
                "points numbered in the order they were logged",
            )
        )
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "two keys mean the same metric (" + "; ".join(collisions[:3]) + "): "
                "the second keeps its own name",
            )
        )
    table_steps = union_steps([s.steps for s in series.values()])
    meta["source_keys"] = {k: v for k, v in sources.items() if k != v}
    if not series and not problems:
        problems.append(Problem(ProblemKind.EMPTY, "the MLflow run has no metrics yet"))
    return ParseResult(
        table=Table(table_steps, series, STEP), meta=meta, problems=problems, format="mlflow"
    )

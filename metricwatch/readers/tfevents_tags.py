"""What a TensorBoard run's tags mean, and the run's Table built from its per-tag columns.

Tags map onto the registry's keys through `_TAG_KEYS` below (PyTorch, Hugging Face,
Lightning, Ultralytics names) and Keras' `train/` and `validation/` layout
(canonical_tag); the original tag is kept in meta["source_keys"]. _build merges a
run's files' columns per (directory role, tag), keeps the later points of a step that
went back (a resumed run), sets aside Keras' other-axis tags, takes an epoch tag as the
epochs axis and reports restarts and tags that mean the same metric.
"""

from __future__ import annotations

import re

import numpy as np

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult, quote_key, union_steps, with_epochs
from metricwatch.readers.tfevents_columns import _Column
from metricwatch.readers.ultralytics import lr_keys

# --- tag names ----------------------------------------------------------------------------

#: Tags whose meaning is the registry's key, from the frameworks that write event files:
#: PyTorch tutorials (`Loss/train`), Hugging Face Trainer (`train/loss`, `eval/loss`,
#: `train/learning_rate`), Lightning (`train_loss`, `lr-Adam`), Ultralytics (`metrics/...`).
_TAG_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "train/loss": "train_loss",
    "Loss/train": "train_loss",
    "loss/train": "train_loss",
    "training_loss": "train_loss",
    "train_loss_step": "train_loss",
    "train/loss_step": "train_loss",
    "val_loss": "val_loss",
    "val/loss": "val_loss",
    "valid/loss": "val_loss",
    "validation/loss": "val_loss",
    "validation_loss": "val_loss",
    "eval/loss": "val_loss",
    "eval_loss": "val_loss",
    "Loss/val": "val_loss",
    "Loss/valid": "val_loss",
    "Loss/validation": "val_loss",
    "loss/val": "val_loss",
    "lr": "lr",
    "learning_rate": "lr",
    "train/lr": "lr",
    "train/learning_rate": "lr",
    "grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "acc": "train_accuracy",
    "accuracy": "train_accuracy",
    "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy",
    "train/acc": "train_accuracy",
    "train/accuracy": "train_accuracy",
    "Accuracy/train": "train_accuracy",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "val/acc": "val_accuracy",
    "val/accuracy": "val_accuracy",
    "eval/accuracy": "val_accuracy",
    "Accuracy/val": "val_accuracy",
    "Accuracy/valid": "val_accuracy",
    "val_f1": "val_f1",
    "val/f1": "val_f1",
    "eval/f1": "val_f1",
    "metrics/mAP50-95(B)": "val_mAP",
    "metrics/mAP50(B)": "val_mAP_50",
    "metrics/precision(B)": "val_precision",
    "metrics/recall(B)": "val_recall",
    "metrics/mAP50-95(M)": "val_mAP_mask",
    "metrics/mAP_0.5:0.95": "val_mAP",  # YOLOv5
    "metrics/mAP_0.5": "val_mAP_50",
    "metrics/precision": "val_precision",
    "metrics/recall": "val_recall",
}
#: Ultralytics segmentation runs log box and mask mAP: there the box one is val_mAP_box.
_SEGMENT_KEYS = {"metrics/mAP50-95(B)": "val_mAP_box"}
#: Lightning's LearningRateMonitor: `lr-Adam`, `lr-SGD` (one param group).
_LR_MONITOR = re.compile(r"lr-[A-Za-z][A-Za-z0-9_]*")
#: Tags that are the epoch of a step (HF `train/epoch`, Lightning `epoch`): the epochs axis.
_EPOCH_TAGS = ("train/epoch", "epoch")
#: Keras' TensorBoard callback: `epoch_loss` in train/ and validation/ (TF2 tensors).
_KERAS_DIRS = {"train": "train", "validation": "val"}
_KERAS_KEYS = {"epoch_learning_rate": "lr", "epoch_lr": "lr"}
#: YOLOv5 and Ultralytics log once per epoch, with the epoch as the step.
_EPOCH_RUN_TAGS = frozenset({"train/box_loss"})


def canonical_tag(tag: str, role: str = "") -> str:
    """The registry's key for a tag read in directory `role` ("", "train", "validation")."""
    if role in _KERAS_DIRS:
        if tag in _KERAS_KEYS:
            return _KERAS_KEYS[tag]
        if tag.startswith("epoch_"):
            name = tag[len("epoch_") :]
            key = f"{_KERAS_DIRS[role]}_{name}"
            return {"train_acc": "train_accuracy", "val_acc": "val_accuracy"}.get(key, key)
        return f"{role}/{tag}"
    if tag in _TAG_KEYS:
        return _TAG_KEYS[tag]
    if _LR_MONITOR.fullmatch(tag):
        return "lr"
    if tag.startswith("eval/") and "/" not in tag[5:]:  # Hugging Face Trainer
        return "val_" + tag[5:]
    return tag


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of a column's parts: the part itself when there is one."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _build(files: list[tuple[str, dict[str, _Column]]], problems: list[Problem]) -> ParseResult:
    """Columns per (role, tag) across files in order -> a Table with canonical keys."""
    merged: dict[tuple[str, str], tuple[list, list, list]] = {}
    for role, columns in files:
        for tag, column in columns.items():
            target = merged.setdefault((role, tag), ([], [], []))
            for parts, view in zip(target, column.views()):
                parts.append(view)
    # Keras: per-epoch tags in train/ and validation/ make an epoch run; its per-batch and
    # `evaluation_*_vs_iterations` tags count optimiser steps, another axis: set aside.
    keras = any(role and tag.startswith("epoch_") for role, tag in merged)
    other_axis = [f"{r}/{t}" for r, t in merged if keras and not t.startswith("epoch_")]
    tags = {tag for role, tag in merged if not role}
    segment = "metrics/mAP50-95(M)" in tags
    lrs = lr_keys(tags)  # Ultralytics' lr/pg0..2: the schedule is group 1
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    epoch_axis: tuple[np.ndarray, np.ndarray] | None = None
    restarts: list[str] = []
    collisions: list[str] = []
    for (role, tag), (steps_l, times_l, values_l) in merged.items():
        steps, times, values = (_joined(a) for a in (steps_l, times_l, values_l))
        keep = _latest(steps)
        if not keep.all():
            back = int(np.count_nonzero(steps[1:] < steps[:-1]))
            if back:
                restarts.append(f"{quote_key(tag)} ×{back}")
            steps, times, values = steps[keep], times[keep], values[keep]
        original = f"{role}/{tag}" if role else tag
        if original in other_axis:
            continue
        if not role and tag == "hp_metric" and bool(np.all(values == -1)):
            continue  # Lightning's placeholder, logged once when no metric is named
        if not role and tag in _EPOCH_TAGS and epoch_axis is None:
            epoch_axis = (steps, values)
            continue
        key = _SEGMENT_KEYS.get(tag, "") if segment and not role else ""
        key = key or (lrs.get(tag, "") if not role else "")
        key = key or canonical_tag(tag, role)
        if key in series:
            collisions.append(f"{quote_key(sources[key])} and {quote_key(original)}")
            key = original
            if key in series:
                continue
        sources[key] = original
        series[key] = Series(key, steps, values, None, times)
    if epoch_axis is not None:
        series = {k: with_epochs(s, *epoch_axis) for k, s in series.items()}
    if restarts:
        problems.append(
            Problem(
                ProblemKind.RESTART,
                "steps went back (a resumed or restarted run) in "
                + ", ".join(restarts[:3])
                + "; the later values replace the earlier ones",
            )
        )
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "two tags mean the same metric ("
                + "; ".join(collisions[:3])
                + "): the second keeps its own name",
            )
        )
    table_steps = union_steps([s.steps for s in series.values()])
    per_epoch = keras or not _EPOCH_RUN_TAGS.isdisjoint(tags)
    table = Table(table_steps, series, EPOCH if per_epoch else STEP)
    meta = {"source_keys": {k: v for k, v in sources.items() if k != v}}
    extra = {"other_axis_tags": other_axis} if other_axis else {}
    return ParseResult(table=table, meta=meta, extra=extra, problems=problems)


def _latest(steps: np.ndarray) -> np.ndarray:
    """Points no later point replaces: a step that goes back (or repeats) wins over earlier
    points at or after it, as a resumed run's log does."""
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return np.ones(len(steps), dtype=bool)
    later_min = np.minimum.accumulate(steps[::-1])[::-1]
    keep = np.ones(len(steps), dtype=bool)
    keep[:-1] = steps[:-1] < later_min[1:]
    return keep

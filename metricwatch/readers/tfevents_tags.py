"""What a TensorBoard run's tags mean, and the run's Table built from its per-tag columns.

Tags map onto the registry's keys through `_TAG_KEYS` below (PyTorch, Hugging Face,
Lightning, Ultralytics names) and Keras' `train/` and `validation/` layout
(canonical_tag); the original tag is kept in meta["source_keys"]. _build merges a
run's files' columns per (directory role, tag), keeps the later points of a step that
went back (a resumed run), sets aside Keras' other-axis tags, takes an epoch tag as the
epochs axis and reports restarts and tags that mean the same metric. A live run is
built again at every read: given the run's BuildMemo, _build works out only what the
points added since change (tfevents_merged, grown), so a read costs what it read, and
what the tags mean (_Plan) only when a tag comes or goes.
"""

from __future__ import annotations

import re

import numpy as np

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult, quote_key
from metricwatch.readers.grown import GrownEpochs, GrownUnion, Name
from metricwatch.readers.shared_steps import StepPool
from metricwatch.readers.tfevents_columns import _Column
from metricwatch.readers.tfevents_merged import MergedTags, _Merged
from metricwatch.readers.ultralytics import lr_keys

# --- tag names ----------------------------------------------------------------------------

_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # a tag's steps, times, values

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


class BuildMemo:
    """What a run's last _build worked out, for the next one to extend: each tag's merged
    points (tfevents_merged), each series' epochs and the table steps (grown), and what
    its tags mean (_Plan). A live run's read then costs the points it added, not the run
    (EventDirTail keeps one)."""

    def __init__(self, pool: StepPool | None = None) -> None:
        self.tags = MergedTags(pool)
        self.epochs = GrownEpochs()
        self.union = GrownUnion()
        self.series: dict[str, tuple[Name, bool, Series]] = {}  # key -> (tag, dated, Series)
        self.plan: _Plan | None = None


_TagName = tuple[str, str]  # (directory role, tag)


class _Plan:
    """What a run's tags mean, worked out from their names alone (and whether Lightning's
    `hp_metric` placeholder is left out): the epochs axis, the series' keys, the tags set
    aside and the collisions. A live run's writes seldom bring a new tag: the last build's
    plan is used again while the names are the same (`names`, `hp_left_out`)."""

    def __init__(self, names: list[_TagName], hp_left_out: bool) -> None:
        self.names, self.hp_left_out = names, hp_left_out
        # Keras: per-epoch tags in train/ and validation/ make an epoch run; its per-batch
        # and `evaluation_*_vs_iterations` tags count optimiser steps, another axis: set aside.
        keras = any(role and tag.startswith("epoch_") for role, tag in names)
        self.other_axis = [f"{r}/{t}" for r, t in names if keras and not t.startswith("epoch_")]
        tags = {tag for role, tag in names if not role}
        self.per_epoch = keras or not _EPOCH_RUN_TAGS.isdisjoint(tags)
        self.axis: _TagName | None = None  # the tag whose points are the epochs axis
        self.keys: list[tuple[_TagName, str]] = []  # the series' tags and keys, in order
        self.sources: dict[str, str] = {}  # key -> original tag
        self.collisions: list[str] = []
        self._assign(names, tags, hp_left_out)

    def _assign(self, names: list[_TagName], tags: set[str], hp_left_out: bool) -> None:
        segment = "metrics/mAP50-95(M)" in tags
        lrs = lr_keys(tags)  # Ultralytics' lr/pg0..2: the schedule is group 1
        for role, tag in names:
            original = f"{role}/{tag}" if role else tag
            if original in self.other_axis:
                continue
            if not role and tag == "hp_metric" and hp_left_out:
                continue  # Lightning's placeholder, logged once when no metric is named
            if not role and tag in _EPOCH_TAGS and self.axis is None:
                self.axis = (role, tag)
                continue
            key = _SEGMENT_KEYS.get(tag, "") if segment and not role else ""
            key = key or (lrs.get(tag, "") if not role else "")
            key = key or canonical_tag(tag, role)
            if key in self.sources:
                self.collisions.append(f"{quote_key(self.sources[key])} and {quote_key(original)}")
                key = original
                if key in self.sources:
                    continue
            self.sources[key] = original
            self.keys.append(((role, tag), key))


def _plan_of(memo: BuildMemo, merged: dict[_TagName, _Merged]) -> _Plan:
    """The memo's plan, or a new one when the tags (or the placeholder's fate) changed."""
    hp = merged.get(("", "hp_metric"))
    hp_left_out = hp is not None and hp.all_minus_one()
    plan = memo.plan
    if plan is None or plan.hp_left_out != hp_left_out or plan.names != list(merged):
        plan = memo.plan = _Plan(list(merged), hp_left_out)
    return plan


def _build(
    files: list[tuple[str, dict[str, _Column]]],
    problems: list[Problem],
    memo: BuildMemo | None = None,
) -> ParseResult:
    """Columns per (role, tag) across files in order -> a Table with canonical keys; with
    the memo of the run's last build, only what was added since is worked out."""
    memo = memo if memo is not None else BuildMemo()
    parts: dict[_TagName, list[_Column]] = {}
    for role, columns in files:
        for tag, column in columns.items():
            parts.setdefault((role, tag), []).append(column)
    # the epochs axis: the first epoch tag of the run's own directory (its times unused)
    axis = next((name for name in parts if not name[0] and name[1] in _EPOCH_TAGS), None)
    merged = memo.tags.merge(parts, axis)
    plan = _plan_of(memo, merged)
    restarts = [(tag, points.back) for (_, tag), points in merged.items() if points.back]
    epoch_axis: tuple[Name, np.ndarray, np.ndarray] | None = None
    if plan.axis is not None:
        points = merged[plan.axis]
        steps, _, values = points.arrays()
        epoch_axis = ((plan.axis, points.version), steps, values)
    found: dict[str, tuple[Name, bool, _Arrays]] = {}
    for name, key in plan.keys:
        points = merged[name]
        found[key] = ((name, points.version), points.changed, points.arrays())
    series = _series(found, epoch_axis, memo)
    _note_problems(problems, restarts, plan.collisions)
    table_steps = memo.union.steps([(name, arrays[0]) for name, _, arrays in found.values()])
    table = Table(table_steps, series, EPOCH if plan.per_epoch else STEP)
    meta = {"source_keys": {k: v for k, v in plan.sources.items() if k != v}}
    extra = {"other_axis_tags": list(plan.other_axis)} if plan.other_axis else {}
    return ParseResult(table=table, meta=meta, extra=extra, problems=problems)


def _series(
    found: dict[str, tuple[Name, bool, _Arrays]],
    epoch_axis: tuple[Name, np.ndarray, np.ndarray] | None,
    memo: BuildMemo,
) -> dict[str, Series]:
    """The run's Series, dated against the epoch axis: the last build's own Series where
    neither its points nor its epochs changed (most evaluation tags at most reads)."""
    series: dict[str, Series] = {}
    kept: dict[str, tuple[Name, bool, Series]] = {}
    for key, (name, changed, (steps, times, values)) in found.items():
        epochs, dated = None, False
        if epoch_axis is not None:
            epochs, dated = memo.epochs.epochs(name, steps, *epoch_axis)
        before = memo.series.get(key)
        if (
            before is not None
            and before[0] == name
            and before[1] == (epochs is not None)
            and not changed
            and not dated
        ):
            series[key] = before[2]
        else:
            series[key] = Series(key, steps, values, epochs, times)
        kept[key] = (name, epochs is not None, series[key])
    memo.epochs.done()
    memo.series = kept
    return series


def _note_problems(
    problems: list[Problem], restarts: list[tuple[str, int]], collisions: list[str]
) -> None:
    if restarts:  # the first three named (a quoted name is a grapheme walk: not every tag's)
        problems.append(
            Problem(
                ProblemKind.RESTART,
                "steps went back (a resumed or restarted run) in "
                + ", ".join(f"{quote_key(tag)} ×{back}" for tag, back in restarts[:3])
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

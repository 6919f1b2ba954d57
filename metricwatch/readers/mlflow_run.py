"""What both MLflow stores share: key names, and metric columns to a run table.

Each MLflow run is a run of ours; x is MLflow's step. A metric logged
without a step has step 0 on every point: its points are numbered by
position instead (and said so). A step logged twice keeps the value logged
last. Keys map onto the registry's through _KEYS below; the original is
kept in meta["source_keys"]; an `epoch` metric becomes the epochs axis.

A live file-store run is built again at every write: its reader says which
keys only grew, in step order, since its last build (`grown`), and a
BuildMemo keeps what that build worked out (each key's epochs, the table
steps), so that the new points alone are dated and added. Anything else (a
file replaced, a step logged out of order or twice, an epoch logged after
steps already dated) is built from scratch, as every build once was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult, quote_key, union_steps, with_epochs
from metricwatch.readers.columns import GrowingColumn
from metricwatch.readers.grown import GrownUnion, epochs_at, new_version

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
#: A key's (steps, values, times).
_Columns = tuple[np.ndarray, np.ndarray, np.ndarray]
#: Keys that give the epoch at a step (HF and Lightning log `epoch`): the epochs axis.
EPOCH_KEYS = ("epoch",)
#: BuildMemo.epochs of a key whose epochs are the epoch axis's values.
SHARED = object()


def canonical_key(key: str) -> str:
    if key in _KEYS:
        return _KEYS[key]
    if key.startswith("eval_") and len(key) > 5:  # Hugging Face Trainer
        return "val_" + key[5:]
    return key


class BuildMemo:
    """What the last build_result of a growing run worked out, for the next one to extend.

    lengths: each key given as grown (strictly ascending), its number of points then.
    epoch_length: the epoch axis's number of points then, if it was ascending (else None).
    epochs: each such key's epochs then, dated against that axis; SHARED for a key logged
        at exactly the axis's steps, whose epochs are the axis's values themselves (no copy:
        Hugging Face and Lightning log the epoch with every loss, a copy a key was 8 bytes
        a point).
    union: the table steps then (grown.GrownUnion), each series named by its key and a
    version that stays the same for as long as the key only grew (versions)."""

    def __init__(self) -> None:
        self.lengths: dict[str, int] = {}
        self.epoch_length: int | None = None
        self.epochs: dict[str, GrowingColumn | object] = {}
        self.union = GrownUnion()
        self.versions: dict[str, int] = {}

    def kept(self, key: str, grown: Mapping[str, int]) -> int | None:
        """How many of key's first points are the ones the last build had (None: unknown)."""
        before = grown.get(key)
        if before is None or before == 0:
            return before
        return before if self.lengths.get(key) == before else None


def build_result(
    columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    meta: dict[str, Any],
    problems: list[Problem],
    *,
    grown: Mapping[str, int] | None = None,
    memo: BuildMemo | None = None,
) -> ParseResult:
    """The run of a store's metric columns (key -> steps, values, times as logged).

    grown: the keys whose steps are known to be strictly ascending (nothing to number,
    sort or dedup), each with its number of points at the previous call made with `memo`:
    those points are unchanged, the rest were appended since. With a memo, the epochs and
    table steps of such keys are then worked out for the new points only (a live run is
    built again at every write). The SQLite store passes neither: everything is built."""
    grown = grown or {}
    found: dict[str, _Columns] = {}
    sources: dict[str, str] = {}
    unstepped: list[str] = []
    epoch_axis: tuple[str, np.ndarray, np.ndarray] | None = None
    collisions: list[str] = []
    # Canonical spellings first, so an alias never takes the place of the real key.
    for key in sorted(columns, key=lambda k: canonical_key(k) != k):
        steps, values, times = columns[key]
        if key not in grown:
            steps, values, times = _in_step_order(key, steps, values, times, unstepped)
        if key in EPOCH_KEYS:
            epoch_axis = (key, steps, values)
            continue
        name = canonical_key(key)
        if name in found:
            collisions.append(f"{quote_key(sources[name])} and {quote_key(key)}")
            name = key
        sources[name] = key
        found[name] = (steps, values, times)
    epochs = _dated(found, sources, epoch_axis, grown, memo)
    series = {name: Series(name, s, v, epochs.get(name), t) for name, (s, v, t) in found.items()}
    _note_problems(problems, unstepped, collisions)
    table_steps = _table_steps(series, sources, grown, memo)
    if memo is not None:
        memo.lengths = {key: len(columns[key][0]) for key in columns if key in grown}
    meta["source_keys"] = {k: v for k, v in sources.items() if k != v}
    if not series and not problems:
        problems.append(Problem(ProblemKind.EMPTY, "the MLflow run has no metrics yet"))
    return ParseResult(
        table=Table(table_steps, series, STEP), meta=meta, problems=problems, format="mlflow"
    )


def _in_step_order(
    key: str, steps: np.ndarray, values: np.ndarray, times: np.ndarray, unstepped: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A key's columns in step order, each step once (the value logged last wins); a key
    logged without a step (the same step on every point) numbered by position."""
    # (Each step below skips its copies when there is nothing to do.)
    if len(steps) > 1 and steps[0] == steps[-1] and bool(np.all(steps == steps[0])):
        unstepped.append(key)
        steps = np.arange(len(steps), dtype=np.int64)
    if len(steps) > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        order = np.argsort(steps, kind="stable")
        steps, values, times = steps[order], values[order], times[order]
    if len(steps) > 1:
        last = np.append(steps[1:] != steps[:-1], True)
        if not last.all():
            steps, values, times = steps[last], values[last], times[last]
    return steps, values, times


def _note_problems(problems: list[Problem], unstepped: list[str], collisions: list[str]) -> None:
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


# --- epochs -----------------------------------------------------------------------------------


def _dated(
    found: dict[str, _Columns],
    sources: dict[str, str],
    epoch_axis: tuple[str, np.ndarray, np.ndarray] | None,
    grown: Mapping[str, int],
    memo: BuildMemo | None,
) -> dict[str, np.ndarray]:
    """Each series' epochs: the epoch logged at (or last before) each of its steps."""
    if epoch_axis is None:
        if memo is not None:
            memo.epoch_length, memo.epochs = None, {}
        return {}
    epoch_key, epoch_steps, epochs = epoch_axis
    ascending = epoch_key in grown
    axis_from = None
    if memo is not None and ascending and memo.epoch_length == grown[epoch_key]:
        axis_from = grown[epoch_key]
    dated: dict[str, np.ndarray] = {}
    kept: dict[str, GrowingColumn | object] = {}
    for name, columns in found.items():
        key = sources[name]
        if memo is None or not ascending or key not in grown:
            dated[name] = _with_epochs(name, columns, epoch_steps, epochs)
            continue
        before = memo.kept(key, grown)
        if _still_shared(columns[0], memo.epochs.get(key), before, epoch_steps, axis_from):
            kept[key], dated[name] = SHARED, epochs
            continue
        column = _grown_epochs(name, columns, memo, before, key, epoch_axis, axis_from)
        if isinstance(column, GrowingColumn):
            kept[key], dated[name] = column, column.view()
        else:
            kept[key], dated[name] = SHARED, column
    if memo is not None:
        memo.epoch_length, memo.epochs = (len(epoch_steps) if ascending else None), kept
    return dated


def _grown_epochs(
    name: str,
    columns: _Columns,
    memo: BuildMemo,
    before: int | None,
    key: str,
    epoch_axis: tuple[str, np.ndarray, np.ndarray],
    axis_from: int | None,
) -> GrowingColumn | np.ndarray:
    """An ascending series' epochs: the last build's, extended by the new points' (and
    redated from the first point at or after the first epoch logged since, if any); the
    axis's values themselves for a series logged at exactly the axis's steps."""
    _, epoch_steps, epochs = epoch_axis
    column = memo.epochs.get(key)
    if (
        not isinstance(column, GrowingColumn)
        or before is None
        or axis_from is None
        or column.size != before
    ):
        dated = _with_epochs(name, columns, epoch_steps, epochs)
        return dated if dated is epochs else GrowingColumn(dated, np.float64)
    steps = columns[0]
    start = before
    if axis_from < len(epoch_steps) and before and steps[before - 1] >= epoch_steps[axis_from]:
        # an epoch logged after steps already dated: they are dated again (from a copy:
        # the arrays handed out before must not change)
        start = int(np.searchsorted(steps[:before], epoch_steps[axis_from], side="left"))
        column = GrowingColumn(column.view()[:start], np.float64)
    column.extend(epochs_at(steps[start:], epoch_steps, epochs))
    return column


def _still_shared(
    steps: np.ndarray,
    known: GrowingColumn | object | None,
    before: int | None,
    epoch_steps: np.ndarray,
    axis_from: int | None,
) -> bool:
    """Whether a key whose epochs were the axis's values (SHARED) is still logged at exactly
    the axis's steps: its first `before` points were (and are unchanged), so only the
    points both gained since are compared, not the whole run at every write."""
    if known is not SHARED or before is None or axis_from != before:
        return False
    return len(steps) == len(epoch_steps) and bool(
        np.array_equal(steps[before:], epoch_steps[before:])
    )


def _with_epochs(
    name: str, columns: _Columns, epoch_steps: np.ndarray, epochs: np.ndarray
) -> np.ndarray:
    """with_epochs's epochs of one key's columns."""
    steps, values, times = columns
    dated = with_epochs(Series(name, steps, values, None, times), epoch_steps, epochs).epochs
    return dated  # type: ignore[return-value]


# --- table steps ------------------------------------------------------------------------------


def _table_steps(
    series: dict[str, Series],
    sources: dict[str, str],
    grown: Mapping[str, int],
    memo: BuildMemo | None,
) -> np.ndarray:
    """Every step of every series, once, ascending: with a memo, the last build's extended
    by the new steps (grown.GrownUnion: a live run's writes), and a series' own steps, not
    a copy, when they hold every other's."""
    if memo is None:
        return union_steps([s.steps for s in series.values()])
    versions = {}
    for name in series:
        key = sources[name]
        known = memo.versions.get(key)
        grew = key in grown and grown[key] > 0 and memo.kept(key, grown) is not None
        versions[key] = known if known is not None and grew else new_version()
    memo.versions = versions
    return memo.union.steps(
        [((sources[n], versions[sources[n]]), s.steps) for n, s in series.items()]
    )

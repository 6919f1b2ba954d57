"""metricwatch's step log `metrics.jsonl`, and how it joins the run's `metrics.json`.

The training side logs every N optimiser steps to `metrics.jsonl`, one JSON
object per line, appended: `step` (the x), `epoch` (fractional, where the
logger knows it), `time` (Unix seconds), then the metrics. Its epoch
records stay in `metrics.json`, which may carry the `step` at which each
epoch ended. A run with both is one run on the step axis:

- the step log's series are drawn at their steps; a key logged both per
  step and per epoch (`train_loss`) keeps its name for the epoch values
  (the mean over the epoch, what the rules judge, as with Lightning's
  `train_loss_epoch`) and the step values become `<key>_step`;
- an epoch record stands at its `step`, or where it has none, at the last
  logged step of that epoch (the last step whose fractional epoch is at
  most the epoch number); an epoch that cannot be placed is said;
- a step going back (a restart from a checkpoint, `resume=True`) replaces
  the steps from there on, as the writer does;
- a last line cut short (a write in progress) is waited for, not an error.

Either file may be the run's file (the other its companion): the logger
writes metrics.json first, but a script that only logs steps has only the
step log.

The writer repeats one line shape (the same keys in the same order, all
numbers): runs of such lines are read as tables of numbers (one regular
expression and one float() a value, no dict a line; json_text.LineShape),
any other line as before, with the json module; the points are the same.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import Appends, FileFormat, ParseResult, union_steps
from metricwatch.readers.json_text import (
    DECODER,
    LineRuns,
    decode_text,
    non_numeric_problem,
    quote_key,
    to_number,
    whole_number,
)

NAME = "metrics.jsonl"
EPOCHS_NAME = "metrics.json"

#: Larger step numbers are garbage, not a very long training.
MAX_STEP = 10**15
#: Keys of a line that are its coordinates, not metrics.
_AXES = ("step", "epoch", "time")


def parse_step_log(data: bytes) -> ParseResult:
    """Read the bytes of a metrics.jsonl. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip():
        problems.append(Problem(ProblemKind.EMPTY, f"{NAME} is empty (a write may be in progress)"))
        return ParseResult(problems=problems)
    columns = _Columns()
    last = text.count("\n")
    if _RUNS.few(text):
        _read_lines(text.split("\n"), 0, last, columns)
    else:
        for index, names, run in _RUNS.runs(text):
            if isinstance(run, str):
                _read_lines((run,), index, last, columns)
            elif isinstance(run, list):  # a few lines: as many dicts
                for row in run:
                    columns.add(dict(zip(names, row)))
            else:
                columns.add_table(names, run)
    result = ParseResult(problems=problems)
    result.table = columns.table()
    if columns.sources:
        result.meta["source_keys"] = columns.sources
    columns.report(problems)
    return result


def _read_lines(lines: Iterable[str], first: int, last: int, columns: _Columns) -> None:
    """Lines from line number first on, each decoded by the json module (as every line was
    before runs of one shape were read as tables; those give the same points). last: the
    number of the file's last line (no line end after it)."""
    for index, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            row = DECODER.decode(line)
        except (ValueError, RecursionError):
            if index == last:  # no line end after it: still being written
                columns.truncated = True
            else:
                columns.invalid += 1
            continue
        if not isinstance(row, dict):
            columns.invalid += 1
            continue
        columns.add(row)


class _Pieces:
    """Columns of one length, in ascending steps (the first column): grown a point at a time
    (Python lists) or a run of lines at a time (arrays), joined once at the end."""

    __slots__ = ("arrays", "lists")

    def __init__(self, width: int) -> None:
        self.arrays: list[tuple[np.ndarray, ...]] = []
        self.lists: tuple[list[Any], ...] = ([], [], [], []) if width == 4 else ([],)

    def __bool__(self) -> bool:
        return bool(self.lists[0] or self.arrays)

    def last(self) -> int:
        steps = self.lists[0]
        return steps[-1] if steps else int(self.arrays[-1][0][-1])

    def extend(self, arrays: tuple[np.ndarray, ...]) -> None:
        self._flush()
        self.arrays.append(arrays)

    def cut(self, step: int) -> None:
        """Drop every point at step or after."""
        steps = self.lists[0]
        if steps and steps[0] < step:
            cut = bisect.bisect_left(steps, step)
            for part in self.lists:
                del part[cut:]
            return
        for part in self.lists:
            part.clear()
        while self.arrays and self.arrays[-1][0][0] >= step:
            self.arrays.pop()
        if self.arrays:
            last = self.arrays[-1]
            cut = int(np.searchsorted(last[0], step))
            self.arrays[-1] = tuple(array[:cut] for array in last)

    def joined(self, dtypes: tuple[type, ...]) -> list[np.ndarray]:
        if not self.arrays:
            return [np.asarray(part, dtype=dtype) for part, dtype in zip(self.lists, dtypes)]
        self._flush(dtypes)
        if len(self.arrays) == 1:
            return list(self.arrays[0])
        return [np.concatenate(parts) for parts in zip(*self.arrays)]

    def _flush(self, dtypes: tuple[type, ...] | None = None) -> None:
        if not self.lists[0]:
            return
        dtypes = dtypes or (np.int64,) + (np.float64,) * (len(self.lists) - 1)
        self.arrays.append(tuple(np.asarray(p, dtype=t) for p, t in zip(self.lists, dtypes)))
        for part in self.lists:
            part.clear()


_SERIES_DTYPES = (np.int64, np.float64, np.float64, np.float64)


class _Columns:
    """The step log's points, per key, in step order."""

    def __init__(self) -> None:
        self.steps = _Pieces(1)
        self.keys: dict[str, _Pieces] = {}
        #: the steps, and each key's lists, of the points added a line at a time
        self.line_steps: list[int] = self.steps.lists[0]
        self.lines: dict[str, tuple[list[Any], ...]] = {}
        self.sources: dict[str, str] = {}
        self.non_numeric: Counter[str] = Counter()
        self.invalid = 0
        self.no_step = 0
        self.truncated = False
        self.restarts: list[str] = []

    def add(self, row: dict[str, Any]) -> None:
        step = _step(row.get("step"))
        if step is None:
            self.no_step += 1
            return
        known = self.line_steps
        if (step <= known[-1]) if known else self.steps.arrays:
            self._before(step)
        known.append(step)
        epoch = _float(row.get("epoch"))
        time = _float(row.get("time"))
        for raw, value in row.items():
            if raw in _AXES or value is None:
                continue
            number = value if type(value) is float else to_number(value)
            if number is None:
                self.non_numeric[raw] += 1
                continue
            key = ALIASES.get(raw, raw)
            if key != raw:
                self.sources.setdefault(key, raw)
            column = self.lines.get(key)
            if column is None:
                column = self.lines[key] = self._column(key).lists
            column[0].append(step)
            column[1].append(number)
            column[2].append(epoch)
            column[3].append(time)

    def _column(self, key: str) -> _Pieces:
        column = self.keys.get(key)
        if column is None:
            column = self.keys[key] = _Pieces(4)
        return column

    def add_table(self, keys: tuple[str, ...], table: np.ndarray) -> None:
        """Lines of one shape (all numbers, a plain integer step): the same points as add()
        of each line, with restarts found and cut where the step does not grow."""
        where = {key: index for index, key in enumerate(keys)}
        raw_steps = table[where["step"]]
        usable = raw_steps <= MAX_STEP
        if not usable.all():
            self.no_step += int(np.count_nonzero(~usable))
            table = table[:, usable]
            raw_steps = table[where["step"]]
        if not len(raw_steps):
            return
        steps = raw_steps.astype(np.int64)
        epochs = _finite_or_nan(table, where.get("epoch"))
        times = _finite_or_nan(table, where.get("time"))
        metrics = [(ALIASES.get(raw, raw), raw, i) for raw, i in where.items() if raw not in _AXES]
        for key, raw, _ in metrics:
            if key != raw:
                self.sources.setdefault(key, raw)
            self._column(key)
        back = np.flatnonzero(steps[1:] <= steps[:-1]) + 1
        for start, end in zip([0, *back.tolist()], [*back.tolist(), len(steps)]):
            self._before(int(steps[start]))
            part = slice(start, end)
            self.steps.extend((steps[part],))
            for key, _, index in metrics:
                self.keys[key].extend((steps[part], table[index, part], epochs[part], times[part]))

    def _before(self, step: int) -> None:
        """A step at or before the last one: the writer restarted there."""
        known = self.steps.lists[0]
        if known:
            if step > known[-1]:
                return
        elif not self.steps.arrays or step > self.steps.last():
            return
        last = self.steps.last()
        self.restarts.append(f"{step} (after {last})")
        self.steps.cut(step)
        for column in self.keys.values():
            column.cut(step)

    def table(self) -> Table:
        series = {}
        for key, column in self.keys.items():
            if column.arrays:
                series[key] = Series(key, *column.joined(_SERIES_DTYPES))
            elif column.lists[0]:  # read line by line (a few appended lines)
                steps, values, epochs, times = column.lists
                series[key] = Series(
                    key,
                    np.asarray(steps, dtype=np.int64),
                    np.asarray(values, dtype=np.float64),
                    np.asarray(epochs, dtype=np.float64),
                    np.asarray(times, dtype=np.float64),
                )
        if self.steps.arrays:
            (steps,) = self.steps.joined((np.int64,))
        else:
            steps = np.asarray(self.line_steps, dtype=np.int64)
        return Table(steps, series, STEP)

    def report(self, problems: list[Problem]) -> None:
        if self.truncated:
            problems.append(
                Problem(
                    ProblemKind.TRUNCATED,
                    f"the last line of {NAME} is incomplete (a write in progress?)",
                )
            )
        if self.invalid:
            problems.append(
                Problem(
                    ProblemKind.INVALID_JSON,
                    f"skipped {self.invalid} lines of {NAME} that are not JSON objects",
                )
            )
        if self.no_step:
            problems.append(
                Problem(
                    ProblemKind.BAD_EPOCH,
                    f'skipped {self.no_step} lines of {NAME} without a usable "step"',
                )
            )
        found = non_numeric_problem(self.non_numeric)
        if found is not None:
            problems.append(found)
        if self.restarts:
            problems.append(
                Problem(
                    ProblemKind.RESTART,
                    "the step went back (restarted from a checkpoint) at step "
                    + ", ".join(self.restarts[:3])
                    + "; the later lines replace the earlier ones",
                )
            )


def _one_name_each(keys: tuple[str, ...]) -> bool:
    """Whether no two keys of a line are one metric (`acc` and `accuracy`): such a line
    gives two points at one step, which only the line by line reading keeps in order."""
    metrics = [ALIASES.get(raw, raw) for raw in keys if raw not in _AXES]
    return len(set(metrics)) == len(metrics)


_RUNS = LineRuns(frozenset({"step"}), _one_name_each)


def _finite_or_nan(table: np.ndarray, index: int | None) -> np.ndarray:
    """An axis column (epoch, time) as _float reads it: NaN where missing or not finite."""
    if index is None:
        return np.full(table.shape[1], math.nan)
    column = table[index]
    return column if np.isfinite(column).all() else np.where(np.isfinite(column), column, math.nan)


def _step(value: Any) -> int | None:
    return whole_number(value, MAX_STEP)


def _float(value: Any) -> float:
    number = None if isinstance(value, bool) else to_number(value)
    return math.nan if number is None or not math.isfinite(number) else number


# --- the run of both files ----------------------------------------------------------------


def join_epochs(epochs: ParseResult, steps: ParseResult) -> ParseResult:
    """The run of a metrics.json (`epochs`) and its step log (`steps`), on the step axis.

    Cheap on a long run: the step log's arrays are used as they are; only the epoch
    records (one per epoch) are placed.
    """
    step_problems = [p for p in steps.problems if p.kind is not ProblemKind.EMPTY]
    if not len(steps.table.steps) or epochs.table.x != EPOCH:
        return _with_problems(epochs, step_problems)
    step_table = steps.table
    epoch_table = epochs.table
    problems = [*epochs.problems, *step_problems]
    at = _epoch_steps(epoch_table, step_table)
    lost = [int(e) for e, s in zip(epoch_table.steps.tolist(), at.tolist()) if s < 0]
    if lost:
        shown = ", ".join(str(e) for e in lost[:5]) + (" ..." if len(lost) > 5 else "")
        problems.append(
            Problem(
                ProblemKind.BAD_EPOCH,
                f'epoch {shown} of {EPOCHS_NAME} has no step (no "step" in the record and '
                f"no step of {NAME} in that epoch): not shown on the step axis",
            )
        )
    series: dict[str, Series] = {}
    for key, column in step_table.series.items():
        name = f"{key}_step" if key in epoch_table.series and key != "step" else key
        series[name] = Series(name, column.steps, column.values, column.epochs, column.times)
    epoch_of = dict(zip(epoch_table.steps.tolist(), at.tolist()))
    for key, column in epoch_table.series.items():
        if key == "step":
            continue
        placed = np.asarray([epoch_of[int(e)] for e in column.steps.tolist()], dtype=np.int64)
        keep = placed >= 0
        if not keep.any():
            continue
        order = np.argsort(placed[keep], kind="stable")
        series[key] = Series(
            key,
            placed[keep][order],
            column.values[keep][order],
            column.steps[keep][order].astype(np.float64),
            None if column.times is None else column.times[keep][order],
        )
    epoch_steps = np.unique(at[at >= 0])
    known = step_table.steps
    inside = np.searchsorted(known, epoch_steps)
    if len(epoch_steps) and (
        inside.max() >= len(known) or not np.array_equal(known[inside], epoch_steps)
    ):
        all_steps = union_steps([known, epoch_steps])
    else:
        all_steps = known
    meta = {**steps.meta, **epochs.meta}
    sources = {**steps.meta.get("source_keys", {}), **epochs.meta.get("source_keys", {})}
    if sources:
        meta["source_keys"] = sources
    return ParseResult(
        table=Table(all_steps, series, STEP),
        meta=meta,
        extra={**steps.extra, **epochs.extra},
        problems=problems,
        format=epochs.format,
    )


def join_steps(steps: ParseResult, epochs: ParseResult) -> ParseResult:
    """join_epochs, for a run whose file is the step log and metrics.json its companion."""
    if not len(epochs.table):  # metrics.json not written yet, or no epoch in it
        kept = [p for p in epochs.problems if p.kind is not ProblemKind.EMPTY]
        return _with_problems(steps, kept)
    joined = join_epochs(epochs, steps)
    joined.format = steps.format
    return joined


def _with_problems(result: ParseResult, problems: list[Problem]) -> ParseResult:
    if not problems:
        return result
    return ParseResult(
        result.table, result.meta, result.extra, [*result.problems, *problems], result.format
    )


def _epoch_steps(epoch_table: Table, step_table: Table) -> np.ndarray:
    """The step each epoch record stands at: its own `step`, else its epoch's last step in
    the step log (the last with a fractional epoch at most the epoch number); -1: none."""
    epochs = epoch_table.steps
    at = np.full(len(epochs), -1, dtype=np.int64)
    own = epoch_table.series.get("step")
    if own is not None:
        where = np.searchsorted(epochs, own.steps)
        ok = np.isfinite(own.values) & (own.values >= 0) & (own.values <= MAX_STEP)
        at[where[ok]] = own.values[ok].astype(np.int64)
    missing = np.flatnonzero(at < 0)
    if len(missing):
        logged_steps, logged_epochs = _logged_epochs(step_table)
        if len(logged_steps):
            index = np.searchsorted(logged_epochs, epochs[missing], side="right") - 1
            found = index >= 0
            at[missing[found]] = logged_steps[index[found]]
    return at


def _logged_epochs(step_table: Table) -> tuple[np.ndarray, np.ndarray]:
    """The step log's (step, epoch) pairs where the epoch is known, ascending in both."""
    best: Series | None = None
    for column in step_table.series.values():
        if column.epochs is not None and (best is None or len(column) > len(best)):
            best = column
    if best is None or best.epochs is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    known = np.isfinite(best.epochs)
    steps, epochs = best.steps[known], best.epochs[known]
    # Epochs only grow with the steps; a log that says otherwise is read by its running max.
    return steps, np.maximum.accumulate(epochs) if len(epochs) else epochs


def _sniff(head: bytes) -> bool:
    """JSON lines whose first object has a "step" (or a first line still being written)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return True
    if not text.startswith(b"{"):
        return False
    first, newline, _ = text.partition(b"\n")
    try:
        row = json.loads(first.decode("utf-8", errors="replace"))
    except ValueError:
        return not newline and b'"step"' in first
    return isinstance(row, dict) and "step" in row


FORMAT = FileFormat(
    name="metricwatch_steps",
    label="metricwatch step log metrics.jsonl",
    patterns=(NAME,),
    sniff=_sniff,
    parse=parse_step_log,
    appends=Appends(header_lines=0, context_lines=2),
    companion=(EPOCHS_NAME, join_steps),
)

__all__ = ["FORMAT", "join_epochs", "join_steps", "parse_step_log", "quote_key"]

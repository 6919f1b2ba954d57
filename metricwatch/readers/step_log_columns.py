"""The step log's lines (`metrics.jsonl`) read into columns of points, one a metric.

Each line gives its metrics' points at its `step`, with its fractional
`epoch` and `time` (NaN where the line has none or they are not finite); a
step going back (a restart from a checkpoint, `resume=True`) drops the points
from that step on, as the writer does; what is skipped (a cut last line, bad
JSON, a line without a usable step, values that are not numbers) is counted
and told as problems at the end.

The writer repeats one line shape (the same keys in the same order, all
numbers): runs of such lines come from json_lines.LineRuns as tables of numbers
and are kept as array pieces, with no dict a line; any other line is decoded
with the json module and added point by point to lists. The points are the
same either way. step_log turns the columns into the format's ParseResult and
joins them with metrics.json.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.appended_rows import NewPoints, Points
from metricwatch.readers.json_lines import LineRuns, cut_last_line
from metricwatch.readers.json_rows import json_objects
from metricwatch.readers.json_text import DECODER, non_numeric_problem, to_number, whole_number

NAME = "metrics.jsonl"

#: Larger step numbers are garbage, not a very long training.
MAX_STEP = 10**15
#: Keys of a line that are its coordinates, not metrics.
_AXES = ("step", "epoch", "time")


def read_columns(text: str) -> Columns:
    """The columns of the step log's text (decoded, not empty)."""
    columns = Columns()
    if _RUNS.few(text):
        _read_lines(text.split("\n"), 0, columns)
    else:
        for index, names, run in _RUNS.runs(text):
            if isinstance(run, str):
                _read_lines((run,), index, columns)
            elif isinstance(run, list):  # a few lines: as many dicts
                for row in run:
                    columns.add(dict(zip(names, row)))
            else:
                columns.add_table(names, run)
    _wait_for_last_line(text, columns)
    return columns


def _read_lines(lines: Iterable[str], first: int, columns: Columns) -> None:
    """Lines from line number first on, each decoded by the json module (as every line was
    before runs of one shape were read as tables; those give the same points)."""
    for index, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            row = DECODER.decode(line)
        except (ValueError, RecursionError):
            columns.invalid += 1
            columns.last_undecoded = index
            continue
        if not isinstance(row, dict):
            columns.invalid += 1
            continue
        columns.add(row)


def _wait_for_last_line(text: str, columns: Columns) -> None:
    """A last line that does not decode (no line end after it) is still being written: it
    is waited for, not counted as bad. Told once the lines are read, so that a text's lines
    are counted only when one of them did not decode: counting every chunk's lines cost a
    big log's first read 3 % of its time."""
    if columns.last_undecoded is not None and columns.last_undecoded == text.count("\n"):
        columns.invalid -= 1
        columns.truncated = True


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


class Columns:
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
        #: the number of the last line that did not decode as JSON
        self.last_undecoded: int | None = None
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
            problems.append(cut_last_line(NAME))
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


def read_new_lines(header: bytes, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points of new lines each at a step after the last (the fast path of an appended
    step log: readers/appended_rows.py), as Columns.add reads them; None for lines it
    leaves to the parse: no usable step, a step going back (a restart), a value that is
    no number, two names of one metric on a line."""
    rows = json_objects(complete)
    if rows is None:
        return None
    steps: list[int] = []
    series: dict[str, Points] = {}
    sources: dict[str, str] = {}
    for row in rows:
        step = _step(row.get("step"))
        if step is None or (steps and step <= steps[-1]):
            return None
        steps.append(step)
        epoch, time = _float(row.get("epoch")), _float(row.get("time"))
        seen = set()
        for raw, value in row.items():
            if raw in _AXES or value is None:
                continue
            number = value if type(value) is float else to_number(value)
            key = ALIASES.get(raw, raw)
            if number is None or key in seen:
                return None
            seen.add(key)
            if key != raw:
                sources.setdefault(key, raw)
            points = series.get(key)
            if points is None:
                points = series[key] = Points([], [], [], [])
            points.steps.append(step)
            points.values.append(number)
            points.epochs.append(epoch)  # type: ignore[union-attr]
            points.times.append(time)  # type: ignore[union-attr]
    return NewPoints(steps, series, {"source_keys": sources} if sources else None)


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

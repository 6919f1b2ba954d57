"""A detectron2 metrics.json's records, sorted into runs: late lines, resumes, new runs.

detectron2's JSONWriter writes a line an iteration, but one write groups
values by the iteration they were logged at, in no particular order, and a
file may hold several trainings one after another. Runs takes the lines'
records in file order and keeps the last training run's, one record an
iteration, ascending:

- a line that comes back to an earlier iteration with other keys is a late
  line of the same write: merged into the record it belongs to;
- one that repeats keys already logged there is a restart: back part-way it
  is a resume from a checkpoint (the later lines replace the earlier ones),
  back to the run's start, or near the start after a run that finished
  (eta 0), a new run (the earlier runs are listed, only the last is kept);
- what the reader skipped is tallied (_Tally) and told as problems at the end.

Runs of lines of one shape come as tables of numbers (json_lines.LineRuns)
and are kept as blocks of arrays; only what a late line or a resume reaches
back into becomes dicts again. The table is built from blocks and dicts
alike. Reading the lines into records is detectron2's, naming their keys
detectron2_keys'.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from typing import Any

import numpy as np

from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult
from metricwatch.readers.detectron2_keys import MAX_ITERATION, NAME, metric_keys
from metricwatch.readers.json_lines import cut_last_line
from metricwatch.readers.json_text import collision_problem, non_numeric_problem


class _Tally:
    """What the reader skipped, turned into problems once at the end."""

    def __init__(self) -> None:
        self.non_numeric: Counter[str] = Counter()
        self.invalid = 0
        self.not_objects = 0
        self.no_iteration = 0
        self.truncated = False
        self.collisions: set[str] = set()
        self.resumes: list[str] = []

    def report(self, problems: list[Problem]) -> None:
        if self.truncated:
            problems.append(cut_last_line(NAME))
        if self.invalid:
            problems.append(
                Problem(
                    ProblemKind.INVALID_JSON,
                    f"skipped {self.invalid} lines that are not valid JSON",
                )
            )
        if self.not_objects:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS, f"skipped {self.not_objects} lines that are not objects"
                )
            )
        if self.no_iteration:
            problems.append(
                Problem(
                    ProblemKind.BAD_EPOCH,
                    f'skipped {self.no_iteration} lines without a usable "iteration"',
                )
            )
        for problem in (
            non_numeric_problem(self.non_numeric),
            collision_problem(self.collisions),
        ):
            if problem is not None:
                problems.append(problem)
        if self.resumes:
            problems.append(
                Problem(
                    ProblemKind.RESTART,
                    "the iteration went back (resumed from a checkpoint) at iteration "
                    + ", ".join(self.resumes[:3])
                    + "; the later lines replace the earlier ones",
                )
            )


#: A run of lines of one shape: their iterations, metric names, values (one row a metric).
_Block = tuple[np.ndarray, tuple[str, ...], np.ndarray]


class _Records:
    """Records one dict an iteration (lines read one at a time), ascending."""

    __slots__ = ("records", "steps")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.records: list[dict[str, float]] = []


class Runs:
    """The records of the run being read, in ascending iterations, and the runs before it
    in the same file. The records are parts in order: blocks (runs of lines of one shape,
    read as arrays) and dicts (one an iteration), then the tail, dicts, where add() works.
    What a late line or a resume reaches back into becomes dicts in the tail again."""

    def __init__(self) -> None:
        self.tally = _Tally()
        self.parts: list[_Block | _Records] = []  # before the tail
        self.tail = _Records()
        self.first = 0  # the lowest iteration of the current run
        self.first_line = 0
        self.last_line = 0
        self.finished = False  # the last eta was 0: the run reached its last iteration
        self.earlier: list[dict[str, int]] = []
        self.sources: dict[str, str] = {}
        self.raw_names: dict[str, str] = {}

    def add(self, iteration: int, values: dict[str, float], line: int, eta: float | None) -> None:
        finished = self.finished
        if eta is not None:
            self.finished = eta == 0.0
        if not values:
            return  # only an eta (a run stopped by hand writes one): not a point of the run
        steps, records = self.tail.steps, self.tail.records
        if not steps and not self.parts:
            self.first, self.first_line = iteration, line
        elif (
            finished
            and iteration <= 2 * (self.first + 1)
            and not values.keys().isdisjoint(records[-1] if records else self._last_keys())
        ):
            # The run before ended (eta 0 at its last iteration) and this one logs from
            # near the start: a new run (a 10-iteration run, then one logging from 19).
            # Far from the start it is the finished run extended by a resume.
            self._new_run(iteration, line)
        elif iteration <= (steps[-1] if steps else self._last()):
            self._reach(iteration)
            cut = bisect.bisect_left(steps, iteration)
            if not any(key in record for record in records[cut:] for key in values):
                # A late line of the same write (other keys): merged where it belongs.
                if steps[cut] != iteration:
                    steps.insert(cut, iteration)
                    records.insert(cut, {})
                records[cut].update(values)
                self.first = min(self.first, iteration)
                self.last_line = line
                return
            if iteration <= self.first:
                self._new_run(iteration, line)
            else:
                self.tally.resumes.append(f"{iteration} (after {steps[-1]})")
                del steps[cut:]
                del records[cut:]
        self.tail.steps.append(iteration)
        self.tail.records.append(dict(values))
        self.last_line = line

    def add_table(
        self, keys: tuple[str, ...], table: np.ndarray, line: int, meta: dict[str, Any]
    ) -> None:
        """Lines of one shape from `line` on (all numbers, a plain integer iteration): the
        same records as add() of each line. A line after one with eta 0, or going back, is
        added as a line; the lines between such are appended as a block."""
        metrics = metric_keys(keys) or []
        where = {raw: index for index, raw in enumerate(keys)}
        lines = np.arange(line, line + table.shape[1])
        usable = table[where["iteration"]] <= MAX_ITERATION
        if not usable.all():
            self.tally.no_iteration += int(np.count_nonzero(~usable))
            table, lines = table[:, usable], lines[usable]
        if not len(lines):
            return
        iterations = table[where["iteration"]].astype(np.int64)
        etas = table[where["eta_seconds"]] if "eta_seconds" in where else None
        for _, raw, key in metrics:
            self.raw_names.setdefault(key, raw)
            if key != raw:
                self.sources.setdefault(key, raw)
        if etas is not None:
            meta["eta_seconds"] = float(etas[-1])
        names = tuple(key for _, _, key in metrics)
        values = table[[index for index, _, _ in metrics]]
        for start, end in _segments(iterations, etas):
            row = start
            while row < end:
                if row > start and not self.finished and iterations[row] > self._last():
                    self._append((iterations[row:end], names, values[:, row:end]))
                    self.last_line = int(lines[end - 1])
                    if etas is not None:
                        self.finished = bool(etas[end - 1] == 0.0)
                    break
                eta = None if etas is None else float(etas[row])
                record = dict(zip(names, values[:, row].tolist()))
                self.add(int(iterations[row]), record, int(lines[row]), eta)
                row += 1

    def _append(self, block: _Block) -> None:
        if self.tail.steps:
            self.parts.append(self.tail)
            self.tail = _Records()
        self.parts.append(block)

    def _last(self) -> int:
        if self.tail.steps:
            return self.tail.steps[-1]
        part = self.parts[-1]
        return part.steps[-1] if isinstance(part, _Records) else int(part[0][-1])

    def _last_keys(self) -> Any:
        """The keys of the last record, where the tail has none."""
        part = self.parts[-1]
        return part.records[-1] if isinstance(part, _Records) else part[1]

    def _reach(self, iteration: int) -> None:
        """Move every record at iteration or after into the tail (as dicts), for a late
        line or a resume to reach them there."""
        tail = self.tail
        while self.parts:
            part = self.parts[-1]
            if isinstance(part, _Records):
                cut = bisect.bisect_left(part.steps, iteration)
                tail.steps[:0] = part.steps[cut:]
                tail.records[:0] = part.records[cut:]
                del part.steps[cut:], part.records[cut:]
            else:
                iterations, names, values = part
                cut = int(np.searchsorted(iterations, iteration))
                tail.steps[:0] = iterations[cut:].tolist()
                tail.records[:0] = [dict(zip(names, row)) for row in values[:, cut:].T.tolist()]
                self.parts[-1] = (iterations[:cut], names, values[:, :cut])
            if cut:
                return
            self.parts.pop()

    def _new_run(self, iteration: int, line: int) -> None:
        self.earlier.append(
            {
                "first_line": self.first_line,
                "last_line": self.last_line,
                "first_iteration": self.first,
                "last_iteration": self._last(),
            }
        )
        self.parts = []
        self.tail = _Records()
        self.first, self.first_line = iteration, line

    def report(self, problems: list[Problem], result: ParseResult) -> None:
        self.tally.report(problems)
        if not self.earlier:
            return
        result.extra["earlier_runs"] = self.earlier
        problems.append(
            Problem(
                ProblemKind.RESTART,
                f"{NAME} holds {len(self.earlier) + 1} training runs one after another (the "
                "iteration went back to the start, or a run ended and another began); showing "
                f"only the last one, from line {self.first_line} (iteration {self.first})",
            )
        )

    def table(self) -> Table:
        if not self.parts:
            return _records_table(self.tail)
        parts = [*self.parts, self.tail]
        columns: dict[str, list[tuple[Any, Any]]] = {}
        for part in parts:
            if isinstance(part, _Records):
                _add_records(columns, part)
            else:
                iterations, names, values = part
                for key, column in zip(names, values):
                    columns.setdefault(key, []).append((iterations, column))
        all_steps = _joined([steps for part in parts for steps in _steps_of(part)], np.int64)
        series = {}
        for key, pieces in columns.items():
            steps = _joined([steps for steps, _ in pieces], np.int64)
            series[key] = Series(
                key,
                all_steps if len(steps) == len(all_steps) else steps,
                _joined([values for _, values in pieces], np.float64),
            )
        return Table(all_steps, series, STEP)


def _records_table(part: _Records) -> Table:
    """The table of dicts alone (a few lines read, as when following appends)."""
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for step, record in zip(part.steps, part.records):
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [])
            column[0].append(step)
            column[1].append(value)
    all_steps = np.asarray(part.steps, dtype=np.int64)
    series = {
        key: Series(
            key,
            all_steps if len(steps) == len(all_steps) else np.asarray(steps, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
        )
        for key, (steps, values) in columns.items()
    }
    return Table(all_steps, series, STEP)


def _steps_of(part: _Block | _Records) -> list[Any]:
    return [part.steps] if isinstance(part, _Records) else [part[0]]


def _add_records(columns: dict[str, list[tuple[Any, Any]]], part: _Records) -> None:
    """The dicts' values, a list a key, as the next piece of each key's column."""
    lists: dict[str, tuple[list[int], list[float]]] = {}
    for step, record in zip(part.steps, part.records):
        for key, value in record.items():
            column = lists.get(key)
            if column is None:
                column = lists[key] = ([], [])
                columns.setdefault(key, []).append(column)
            column[0].append(step)
            column[1].append(value)


def _joined(pieces: list[Any], dtype: type) -> np.ndarray:
    """One array of the pieces (arrays, or lists); a lone array piece as it is."""
    if len(pieces) == 1:
        return np.asarray(pieces[0], dtype=dtype)
    return np.concatenate([np.asarray(piece, dtype=dtype) for piece in pieces])


def _segments(iterations: np.ndarray, etas: np.ndarray | None) -> list[tuple[int, int]]:
    """Where a run of lines is cut into spans that may simply follow each other: before a
    line whose iteration does not grow, and after a line with eta 0 (a run's end)."""
    cuts = np.flatnonzero(iterations[1:] <= iterations[:-1]) + 1
    if etas is not None:
        cuts = np.union1d(cuts, np.flatnonzero(etas[:-1] == 0.0) + 1)
    bounds = [0, *cuts.tolist(), len(iterations)]
    return list(itertools.pairwise(bounds))

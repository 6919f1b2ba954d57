"""detectron2's `metrics.json` (JSON lines): bytes in, a step table and typed problems out.

detectron2's JSONWriter appends one JSON object per line (keys sorted,
`NaN` bare) every 20 iterations: `iteration` (our x), `total_loss` and its
`loss_*` parts, `lr`, timings (`time`, `data_time`, `eta_seconds`) and
evaluation results (`bbox/AP`, `bbox/AP50`, `segm/AP`, per-class
`bbox/AP-person`, all COCO-style on a 0-100 scale). Quirks handled, each
seen in real files:

- evaluation results are merged into the training line of their iteration,
  or written on a line of their own (same or next iteration);
- one write groups values by the iteration they were logged at, in no
  particular order: a line may come back to an earlier iteration with
  other keys (iteration 2, then 1, then 4); that is a late line, merged;
- a line that goes back and repeats keys already logged there is a
  restart. Back part-way (after the first iteration of the run) it is a
  resume from a checkpoint: the later lines replace the earlier ones.
  Back to the start (at or below the run's first iteration) it is a new
  training run appended to the same file; so is a training line near the
  start after a run that finished (eta 0 at its last iteration: a
  10-iteration run, then one logging from 19). Only the last run is kept,
  the earlier ones are listed in extra["earlier_runs"] and a RESTART
  problem says so;
- `eta_seconds` is a countdown, not a series: its last value goes to meta;
- a last line cut short (a write in progress) is a TRUNCATED note; the
  complete lines are kept.

The same file name is the native format's, so the sniffer says yes only to
JSON lines whose first object has an `iteration`.

JSONWriter repeats one line shape (sort_keys, all numbers) between evaluations:
runs of such lines are read as tables of numbers and kept as blocks of arrays
(json_text.LineShape); any other line is decoded with the json module and
kept as a dict, as before, and the records are the same.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import Appends, FileFormat, ParseResult
from metricwatch.readers.json_text import (
    DECODER,
    LineRuns,
    collision_problem,
    non_numeric_problem,
    quote_key,
    to_number,
    whole_number,
)

NAME = "metrics.json"

#: Larger iteration numbers are garbage, not a very long training.
MAX_ITERATION = 10**12
#: A line's keys that are not its metrics; the first is a count (a plain integer).
_AXES = ("iteration", "eta_seconds")

#: detectron2's names for the canonical keys. COCO-style results are on a 0-100 scale.
_KEYS = {
    "total_loss": "train_loss",
    "validation_loss": "val_loss",  # the LossEvalHook of the detectron2 tutorials
    "bbox/AP": "val_mAP",
    "bbox/AP50": "val_mAP_50",
    "bbox/AP75": "val_mAP_75",
    "segm/AP": "val_mAP_mask",
    "sem_seg/mIoU": "val_mIoU",
    "sem_seg/pACC": "val_pixel_acc",
}

#: Evaluator prefixes whose values are percentages (COCO AP, semantic segmentation IoU).
_PERCENT_PREFIXES = ("bbox/", "segm/", "keypoints/", "sem_seg/", "panoptic_seg/")

#: The task a line's evaluation keys tell (instance masks before boxes).
_TASKS = (("segm/", "instance_segmentation"), ("sem_seg/", "segmentation"))


def canonical_key(raw: str) -> str:
    """The registry's name for a detectron2 key (unknown keys keep their own name)."""
    return _KEYS.get(raw) or ALIASES.get(raw, raw)


def parse_detectron2(data: bytes) -> ParseResult:
    """Parse the bytes of a detectron2 metrics.json. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip():
        problems.append(Problem(ProblemKind.EMPTY, f"{NAME} is empty (a write may be in progress)"))
        return ParseResult(problems=problems)
    runs = _Runs()
    meta: dict[str, Any] = {}
    last = text.count("\n")
    if _RUNS.few(text):
        _read_lines(text.split("\n"), 0, last, runs, meta)
    else:
        for index, names, run in _RUNS.runs(text):
            if isinstance(run, str):
                _read_lines((run,), index, last, runs, meta)
            elif isinstance(run, list):  # a few lines: as many dicts
                for offset, row in enumerate(run):
                    _read_row(dict(zip(names, row)), index + offset, runs, meta)
            else:
                runs.add_table(names, run, index + 1, meta)
    result = ParseResult(problems=problems, meta=meta)
    runs.report(problems, result)
    result.table = runs.table()
    if runs.sources:
        meta["source_keys"] = runs.sources
    keys = result.table.series
    percent = {key: 100.0 for key, raw in runs.raw_names.items() if key in keys and _percent(raw)}
    if percent:
        meta["value_scale"] = percent
    for prefix, task in _TASKS:
        if any(raw.startswith(prefix) for raw in runs.raw_names.values()):
            meta["task"] = task
            break
    else:
        if any(raw.startswith("bbox/") for raw in runs.raw_names.values()):
            meta["task"] = "object_detection"
    return result


def _read_lines(
    lines: Iterable[str], first: int, last: int, runs: _Runs, meta: dict[str, Any]
) -> None:
    """Lines from line number first on, each decoded by the json module (as every line was
    before runs of one shape were read as tables; those give the same records). last: the
    number of the file's last line (no line end after it)."""
    for index, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            row = DECODER.decode(line)
        except RecursionError:
            runs.tally.invalid += 1
            continue
        except ValueError:  # JSONDecodeError, and the json module's other refusals
            if index == last:  # no newline after it: being written
                runs.tally.truncated = True
            else:
                runs.tally.invalid += 1
            continue
        if not isinstance(row, dict):
            runs.tally.not_objects += 1
            continue
        iteration = _iteration(row.get("iteration"))
        if iteration is None:
            runs.tally.no_iteration += 1
            continue
        eta = to_number(row.get("eta_seconds"))
        runs.add(iteration, _values(row, runs, meta), index + 1, eta)


def _read_row(row: dict[str, Any], index: int, runs: _Runs, meta: dict[str, Any]) -> None:
    """The object of line index: a record of the run, or the reason it is not one."""
    iteration = _iteration(row.get("iteration"))
    if iteration is None:
        runs.tally.no_iteration += 1
        return
    eta = to_number(row.get("eta_seconds"))
    runs.add(iteration, _values(row, runs, meta), index + 1, eta)


def _metric_keys(keys: tuple[str, ...]) -> list[tuple[int, str, str]] | None:
    """(index, raw, canonical) of a line shape's metrics, or None when a line of it is not
    simply one value per metric (no metric, or two names of one: a collision to report)."""
    metrics = [(i, raw, canonical_key(raw)) for i, raw in enumerate(keys) if raw not in _AXES]
    if not metrics or len({key for _, _, key in metrics}) < len(metrics):
        return None
    return metrics


_RUNS = LineRuns(frozenset(_AXES[:1]), lambda keys: _metric_keys(keys) is not None)


def _percent(raw: str) -> bool:
    return raw.startswith(_PERCENT_PREFIXES)


def decode_text(data: bytes, problems: list[Problem]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(
            Problem(
                ProblemKind.ENCODING,
                f"{NAME} is not valid UTF-8 (first bad byte at offset {error.start}); "
                "undecodable bytes were replaced",
            )
        )
        return data.decode("utf-8-sig", errors="replace")


def _iteration(value: Any) -> int | None:
    return whole_number(value, MAX_ITERATION)


def _values(row: dict[str, Any], runs: _Runs, meta: dict[str, Any]) -> dict[str, float]:
    """A line's numbers under canonical keys; eta_seconds to meta."""
    values: dict[str, float] = {}
    raw_of: dict[str, str] = {}
    for raw, value in row.items():
        if raw == "iteration" or value is None:
            continue
        number = value if type(value) is float else to_number(value)
        if number is None:
            runs.tally.non_numeric[raw] += 1
            continue
        if raw == "eta_seconds":
            meta["eta_seconds"] = number
            continue
        key = canonical_key(raw)
        if key in values:
            runs.tally.collisions.add(
                " and ".join(sorted((quote_key(raw_of[key]), quote_key(raw))))
            )
            if raw != key and raw not in _KEYS:
                continue  # an alias never overrides detectron2's own spelling
        values[key] = number
        raw_of[key] = raw
        runs.raw_names.setdefault(key, raw)
        if key != raw:
            runs.sources.setdefault(key, raw)
    return values


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


class _Runs:
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
        metrics = _metric_keys(keys) or []
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


def _sniff(head: bytes) -> bool:
    """JSON lines whose first object has an "iteration": not the native {"epochs": [...]}
    document, nor the native JSON lines of {"epoch": ...} records."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    first, newline, _ = text.partition(b"\n")
    try:
        row = json.loads(first.decode("utf-8", errors="replace"))
    except ValueError:
        if newline:
            return False  # a whole first line that is not one object: a pretty-printed document
        # The first line is still being written: an "iteration" key at the top level so far.
        at = first.find(b'"iteration"')
        before = first[:at]
        return at > 0 and before.count(b"{") == 1 and b"[" not in before
    return isinstance(row, dict) and "iteration" in row and "epochs" not in row


FORMAT = FileFormat(
    name="detectron2",
    label="detectron2 metrics.json (JSON lines)",
    patterns=("metrics.json",),
    sniff=_sniff,
    parse=parse_detectron2,
    appends=Appends(header_lines=0, context_lines=2),
)

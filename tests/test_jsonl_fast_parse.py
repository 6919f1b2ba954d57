"""Runs of same-shape JSON lines read as tables give exactly what line-by-line reading gave.

The step log (metrics.jsonl) and detectron2's metrics.json read a run of lines of one shape
(the same keys in the same order, every value a number) as one table of numbers. The
readers as they were before that, line by line with a dict a line, are kept below as the
reference: every file here, real and generated (keys reordered, missing or extra, strings,
nulls, NaN and Infinity tokens, huge numbers, cut and blank lines, CRLF, restarts, eval
lines, runs appended), must give the same table (bit for bit), meta, extra and problems;
and a file read in chunks as the loader reads a big log must give what a whole read gives.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metricwatch.metrics import ALIASES
from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers import detectron2, step_log
from metricwatch.readers.appended import read_in_chunks
from metricwatch.readers.base import ParseResult
from metricwatch.readers.detectron2 import _TASKS, _iteration, _percent, _values
from metricwatch.readers.detectron2_runs import _Tally
from metricwatch.readers.json_lines import MIN_SHAPED_LINES
from metricwatch.readers.json_text import DECODER, decode_text, non_numeric_problem, to_number
from metricwatch.readers.step_log_columns import _AXES, _float, _step

CORPUS = Path(__file__).parent / "corpus"
NAN = math.nan

SL_NAME = step_log.NAME
D2_NAME = detectron2.NAME

# --- the reference: the readers as they were, one json.loads and one dict a line ----------


def old_parse_step_log(data: bytes) -> ParseResult:
    """Read the bytes of a metrics.jsonl. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip():
        problems.append(
            Problem(ProblemKind.EMPTY, f"{SL_NAME} is empty (a write may be in progress)")
        )
        return ParseResult(problems=problems)
    lines = text.split("\n")
    columns = _OldColumns()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = DECODER.decode(line)
        except (ValueError, RecursionError):
            if index == len(lines) - 1:  # no line end after it: still being written
                columns.truncated = True
            else:
                columns.invalid += 1
            continue
        if not isinstance(row, dict):
            columns.invalid += 1
            continue
        columns.add(row)
    result = ParseResult(problems=problems)
    result.table = columns.table()
    if columns.sources:
        result.meta["source_keys"] = columns.sources
    columns.report(problems)
    return result


class _OldColumns:
    """The step log's points, per key, in step order."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.keys: dict[str, tuple[list[int], list[float], list[float], list[float]]] = {}
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
        if self.steps and step <= self.steps[-1]:
            self.restarts.append(f"{step} (after {self.steps[-1]})")
            self._cut(step)
        self.steps.append(step)
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
            column = self.keys.setdefault(key, ([], [], [], []))
            column[0].append(step)
            column[1].append(number)
            column[2].append(epoch)
            column[3].append(time)

    def _cut(self, step: int) -> None:
        """Drop every point at step or after (the writer restarted from there)."""
        del self.steps[bisect.bisect_left(self.steps, step) :]
        for column in self.keys.values():
            cut = bisect.bisect_left(column[0], step)
            for part in column:
                del part[cut:]

    def table(self) -> Table:
        series = {}
        for key, (steps, values, epochs, times) in self.keys.items():
            if not steps:
                continue
            series[key] = Series(
                key,
                np.asarray(steps, dtype=np.int64),
                np.asarray(values, dtype=np.float64),
                np.asarray(epochs, dtype=np.float64),
                np.asarray(times, dtype=np.float64),
            )
        return Table(np.asarray(self.steps, dtype=np.int64), series, STEP)

    def report(self, problems: list[Problem]) -> None:
        if self.truncated:
            problems.append(
                Problem(
                    ProblemKind.TRUNCATED,
                    f"the last line of {SL_NAME} is incomplete (a write in progress?)",
                )
            )
        if self.invalid:
            problems.append(
                Problem(
                    ProblemKind.INVALID_JSON,
                    f"skipped {self.invalid} lines of {SL_NAME} that are not JSON objects",
                )
            )
        if self.no_step:
            problems.append(
                Problem(
                    ProblemKind.BAD_EPOCH,
                    f'skipped {self.no_step} lines of {SL_NAME} without a usable "step"',
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


def old_parse_detectron2(data: bytes) -> ParseResult:
    """Parse the bytes of a detectron2 metrics.json. Never raises on content."""
    problems: list[Problem] = []
    text = detectron2.decode_text(data, problems)
    if not text.strip():
        problems.append(
            Problem(ProblemKind.EMPTY, f"{D2_NAME} is empty (a write may be in progress)")
        )
        return ParseResult(problems=problems)
    runs = _OldRuns()
    meta: dict[str, Any] = {}
    lines = text.split("\n")
    last = max(i for i, line in enumerate(lines) if line.strip())
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = DECODER.decode(line)
        except RecursionError:
            runs.tally.invalid += 1
            continue
        except ValueError:  # JSONDecodeError, and the json module's other refusals
            if index == last and index == len(lines) - 1:  # no newline after it: being written
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


class _OldRuns:
    """The records of the run being read (one dict per iteration, ascending), and the
    runs before it in the same file."""

    def __init__(self) -> None:
        self.tally = _Tally()
        self.steps: list[int] = []
        self.records: list[dict[str, float]] = []
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
        steps, records = self.steps, self.records
        if not steps:
            self.first, self.first_line = iteration, line
        elif (
            finished
            and iteration <= 2 * (self.first + 1)
            and not values.keys().isdisjoint(records[-1])
        ):
            # The run before ended (eta 0 at its last iteration) and this one logs from
            # near the start: a new run (a 10-iteration run, then one logging from 19).
            # Far from the start it is the finished run extended by a resume.
            self._new_run(iteration, line)
        elif iteration <= steps[-1]:
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
        steps.append(iteration)
        records.append(dict(values))
        self.last_line = line

    def _new_run(self, iteration: int, line: int) -> None:
        self.earlier.append(
            {
                "first_line": self.first_line,
                "last_line": self.last_line,
                "first_iteration": self.first,
                "last_iteration": self.steps[-1],
            }
        )
        self.steps.clear()
        self.records.clear()
        self.first, self.first_line = iteration, line

    def report(self, problems: list[Problem], result: ParseResult) -> None:
        self.tally.report(problems)
        if not self.earlier:
            return
        result.extra["earlier_runs"] = self.earlier
        problems.append(
            Problem(
                ProblemKind.RESTART,
                f"{D2_NAME} holds {len(self.earlier) + 1} training runs one after another (the "
                "iteration went back to the start, or a run ended and another began); showing "
                f"only the last one, from line {self.first_line} (iteration {self.first})",
            )
        )

    def table(self) -> Table:
        columns: dict[str, tuple[list[int], list[float]]] = {}
        for step, record in zip(self.steps, self.records):
            for key, value in record.items():
                column = columns.get(key)
                if column is None:
                    column = columns[key] = ([], [])
                column[0].append(step)
                column[1].append(value)
        all_steps = np.asarray(self.steps, dtype=np.int64)
        series = {
            key: Series(
                key,
                all_steps if len(steps) == len(all_steps) else np.asarray(steps, dtype=np.int64),
                np.asarray(values, dtype=np.float64),
            )
            for key, (steps, values) in columns.items()
        }
        return Table(all_steps, series, STEP)


# --- comparing results bit for bit ----------------------------------------------------------


def _array(array: np.ndarray | None) -> Any:
    """An array as its dtype and bytes: NaN payloads and the sign of zero count."""
    return None if array is None else (array.dtype.str, array.shape, array.tobytes())


def _table(table: Table) -> Any:
    series = [
        (key, s.key, _array(s.steps), _array(s.values), _array(s.epochs), _array(s.times))
        for key, s in table.series.items()
    ]
    return table.x, _array(table.steps), series


def assert_same(new: ParseResult, old: ParseResult) -> None:
    assert _table(new.table) == _table(old.table)
    assert repr(new.meta) == repr(old.meta)  # repr: NaN equals NaN, and the order counts
    assert repr(new.extra) == repr(old.extra)
    assert new.problems == old.problems
    assert new.format == old.format and not new.parts and not old.parts


def check_step_log(data: bytes) -> None:
    assert_same(step_log.parse_step_log(data), old_parse_step_log(data))


def check_detectron2(data: bytes) -> None:
    assert_same(detectron2.parse_detectron2(data), old_parse_detectron2(data))


# --- files ----------------------------------------------------------------------------------


def dumps(row: dict[str, Any], **options: Any) -> str:
    return json.dumps(row, **options)


def step_row(step: int) -> dict[str, Any]:
    return {
        "step": step,
        "epoch": round(step / 50, 4),
        "time": 1_700_000_000.0 + 0.1 * step,
        "loss": 2.0 / step,
        "acc": 1 - 1 / (step + 1),
        "lr": 3e-4 * (1 + math.cos(step)),
        "grad_norm": 1.0 + math.sin(step) / 3,
    }


def step_text(first: int, count: int, **options: Any) -> str:
    return "".join(dumps(step_row(s), **options) + "\n" for s in range(first, first + count))


def d2_row(iteration: int, total: int = 10_000) -> dict[str, Any]:
    loss = 2.0 / (1 + iteration / 100)
    return {
        "data_time": 0.004 + (iteration % 7) / 1000,
        "eta_seconds": max(0.0, (total - iteration) * 0.2),
        "fast_rcnn/cls_accuracy": 1 - loss / 3,
        "iteration": iteration,
        "loss_box_reg": loss / 3,
        "loss_cls": loss / 2,
        "lr": 0.02 * min(1.0, iteration / 1000),
        "time": 0.21 + (iteration % 5) / 100,
        "total_loss": loss,
    }


def d2_text(first: int, count: int, period: int = 20, total: int = 10_000) -> str:
    rows = (d2_row(first + period * i, total) for i in range(count))
    return "".join(dumps(row, sort_keys=True) + "\n" for row in rows)


def insert_lines(text: str, at: int, *lines: str) -> str:
    """text with lines put before its line number at (negative: from the end)."""
    rows = text.split("\n")
    rows[at:at] = list(lines)
    return "\n".join(rows)


def step_around(*lines: str) -> str:
    """Lines between two runs of regular lines (steps 1-100, and 1000 on)."""
    return step_text(1, 100) + "".join(line + "\n" for line in lines) + step_text(1000, 60)


def d2_around(*lines: str) -> str:
    """Lines between two runs of regular lines (iterations 19-1199, and 3019 on)."""
    return d2_text(19, 60) + "".join(line + "\n" for line in lines) + d2_text(3019, 60)


def test_the_fast_path_is_taken_by_the_files_below():
    """Not vacuous: these files are long enough to be read in runs."""
    assert len(step_text(1, 100).split("\n")) > MIN_SHAPED_LINES
    result = step_log.parse_step_log(step_text(1, 100).encode())
    assert result.table.steps.tolist() == list(range(1, 101))


STEP_EDGES = {
    "plain": step_text(1, 150),
    "compact": step_text(1, 150, separators=(",", ":")),
    "indented spaces": step_text(1, 120).replace(", ", " ,\t").replace("{", " { "),
    "crlf": step_text(1, 150).replace("\n", "\r\n"),
    "bom": "\ufeff" + step_text(1, 150),
    "cut last line": step_text(1, 150) + '{"step": 151, "epoch": 3.02, "loss": 0.0',
    "cut last number": step_text(1, 150) + '{"step": 151, "loss": 1}'[:-1],
    "whole last line without end": step_text(1, 150) + dumps(step_row(151)),
    "blank lines": insert_lines(step_text(1, 150), 70, "", "   ", "\t", "\x0c"),
    "keys reordered": step_around(dumps({"loss": 1.0, "step": 101, "epoch": 1.62, "time": 5.0})),
    "keys reordered going back": insert_lines(
        step_text(1, 150), 80, dumps({"loss": 1.0, "step": 81, "epoch": 1.62, "time": 5.0})
    ),
    "missing and extra keys": step_around(
        dumps({"step": 101, "loss": 0.5}),
        dumps({**step_row(102), "val_loss": 0.7, "note": "hi"}),
    ),
    "strings nulls bools": step_around(
        '{"step": 101, "epoch": null, "time": "1.5", "loss": "nan", "acc": null, "lr": true}',
        '{"step": 102, "epoch": "x", "time": false, "loss": "Infinity", "acc": [1], "lr": {}}',
    ),
    "nan and infinity tokens": step_around(
        '{"step": 101, "epoch": NaN, "time": Infinity, "loss": NaN, "acc": -Infinity, '
        '"lr": Infinity, "grad_norm": -0.0}',
    ),
    "huge and odd numbers": step_around(
        '{"step": 111, "epoch": 1e400, "time": -1e400, "loss": '
        + "9" * 400
        + ', "acc": -'
        + "7" * 5000
        + ', "lr": 1E5, "grad_norm": -0}',
        '{"step": 112, "epoch": -0, "time": 0, "loss": 0.0, "acc": 4.9e-324, "lr": 1e-400, '
        '"grad_norm": 123456789012345678901234567890}',
        '{"step": 113.0, "loss": 1}',
        '{"step": 114.5, "loss": 1}',
        '{"step": -1, "loss": 1}',
        '{"step": 1000000000000001, "loss": 1}',
        '{"step": 99999999999999999, "loss": 1}',
        '{"step": 1000000000000000, "loss": 1}',
    ),
    "step too big inside a run": step_text(1, 100)
    + dumps({**step_row(101), "step": 10**15 + 1})
    + "\n"
    + step_text(102, 50),
    "step going back": step_text(1, 100) + step_text(40, 100),
    "step going back inside lines of one shape": step_text(1, 90)
    + step_text(90, 5)
    + step_text(3, 80)
    + step_text(1, 1),
    "step the same": step_text(1, 80) + step_text(80, 1) + step_text(80, 70),
    "going back to before a line read alone": insert_lines(
        step_text(1, 100), 95, dumps({"step": 96, "loss": 3.0})
    )
    + step_text(50, 80),
    "bad lines": insert_lines(
        step_text(1, 150), 75, "not json", "[1, 2]", '"text"', "5", "{", '{"step": 76} x'
    ),
    "duplicate keys": step_around('{"step": 101, "loss": 1.0, "loss": 2.0, "step": 102}'),
    "two names of one metric": "".join(
        dumps({"step": s, "loss": 1.0 / s, "train_loss": 2.0 / s}) + "\n" for s in range(1, 120)
    ),
    "escaped and unicode keys": "".join(
        f'{{"step": {s}, "\\u006coss": {1 / s!r}, "λ": 1.5, "a\\"b": 2}}\n' for s in range(1, 120)
    ),
    "no step in the first lines": '{"loss": 1}\n{"epoch": 1}\n[]\n' + step_text(1, 150),
    "only steps": "".join(dumps({"step": s}) + "\n" for s in range(1, 120)),
    "step only once a shape": "".join(dumps({"step": s, "loss": s}) + "\n" for s in range(1, 99)),
    "shape changes": step_text(1, 100)
    + "".join(dumps({**step_row(s), "val_loss": 1.0}) + "\n" for s in range(101, 200)),
    "alternating shapes": "".join(
        dumps(step_row(s) if s % 2 else {"step": s, "val_acc": 0.5}) + "\n" for s in range(1, 200)
    ),
    "short runs between odd lines": "".join(
        step_text(s, s % 11 + 1) + dumps({"step": s + s % 11 + 1, "odd": None}) + "\n"
        for s in range(1, 3000, 20)
    ),
    "epoch known after the first epoch, over many pieces": "".join(
        dumps({k: v for k, v in step_row(s).items() if s > 3000 or k != "epoch"}) + "\n"
        for s in range(1, 6000)
    ),
    "nested values": "".join(
        dumps({"step": s, "loss": {"a": 1}, "x": [s]}) + "\n" for s in range(1, 100)
    ),
}


@pytest.mark.parametrize("name", list(STEP_EDGES))
def test_step_log_edge_cases_read_as_before(name):
    check_step_log(STEP_EDGES[name].encode())


def test_step_log_invalid_utf8_and_utf16_read_as_before():
    check_step_log(step_text(1, 100).encode() + b"\xff\xfe bad\n" + step_text(101, 10).encode())
    check_step_log(step_text(1, 100).encode("utf-16"))


D2_EDGES = {
    "plain": d2_text(19, 150),
    "crlf": d2_text(19, 150).replace("\n", "\r\n"),
    "cut last line": d2_text(19, 150) + '{"data_time": 0.1, "eta_seconds": 3',
    "eval merged and on its own line": insert_lines(
        d2_text(19, 150),
        50,
        dumps({**d2_row(1019), "bbox/AP": 12.5, "segm/AP": NAN}, sort_keys=True),
    )
    + dumps({"bbox/AP": 30.0, "bbox/AP50": 45.0, "iteration": 3019}, sort_keys=True)
    + "\n"
    + dumps({"bbox/AP": 31.0, "iteration": 3020}, sort_keys=True)
    + "\n"
    + d2_text(3039, 80),
    "late line of a write": d2_text(19, 100)
    + dumps({"iteration": 1500, "validation_loss": 0.3}, sort_keys=True)
    + "\n"
    + d2_text(2019, 80),
    "late line reaching into a run": d2_text(19, 100)
    + dumps({"iteration": 20, "validation_loss": 0.3}, sort_keys=True)
    + "\n"
    + d2_text(2019, 80),
    "resume part way": d2_text(19, 120) + d2_text(1019, 120),
    "resume inside lines of one shape": d2_text(19, 120) + d2_text(2019, 3) + d2_text(1019, 90),
    "a second run appended from the start": d2_text(19, 100) + d2_text(19, 100),
    "a second run after a finished run": d2_text(19, 100, total=1999)
    + d2_text(39, 100, total=4000),
    "a finished run extended by a resume": d2_text(19, 100, total=1999) + d2_text(1019, 100),
    "eta zero in the middle": d2_text(19, 80, total=819) + d2_text(839, 80, total=4000),
    "eta zero then a line alone": d2_text(19, 80, total=1599)
    + dumps({"iteration": 1600, "eta_seconds": 0.0}, sort_keys=True)
    + "\n"
    + d2_text(1619, 80),
    "a two-line run then one from its start, no step back": "".join(
        dumps({**d2_row(i), "eta_seconds": {0: 1.0, 1: 0.0}.get(i, 9.0)}, sort_keys=True) + "\n"
        for i in [0, 1, *range(2, 3000, 20)]
    ),
    "eta zero inside a run of one shape": "".join(
        dumps({**d2_row(i), "eta_seconds": 0.0 if i % 200 == 39 else 5.0}, sort_keys=True) + "\n"
        for i in [19, 39, 40, *range(41, 3000, 20)]
    ),
    "short runs between odd lines": "".join(
        d2_text(i, i % 11 + 1) + dumps({"iteration": i + 15, "odd": None}) + "\n"
        for i in range(19, 9000, 300)
    ),
    "many short runs": "".join(d2_text(19, 70, total=1399) for _ in range(4)),
    "nan and infinity tokens": d2_text(19, 100)
    .replace('"loss_cls": 0.', '"loss_cls": NaN, "x": 0.', 3)
    .replace('"time": 0.2', '"time": Infinity, "y": 0.2', 2)
    + d2_text(2019, 70).replace('"total_loss": ', '"total_loss": -Infinity, "z": ')
    + d2_text(3419, 70).replace('"lr": ', '"lr": NaN, "w": '),
    "no eta": "".join(
        dumps({k: v for k, v in d2_row(i).items() if k != "eta_seconds"}, sort_keys=True) + "\n"
        for i in range(19, 3000, 20)
    ),
    "only iteration and eta": "".join(
        dumps({"eta_seconds": 10.0 - i / 100, "iteration": i}, sort_keys=True) + "\n"
        for i in range(19, 3000, 20)
    ),
    "odd iterations": d2_around(
        '{"iteration": 1219.0, "total_loss": 1}',
        '{"iteration": 1239.5, "total_loss": 1}',
        '{"iteration": -1, "total_loss": 1}',
        '{"iteration": 10000000000001, "total_loss": 1}',
        '{"iteration": 99999999999999999, "total_loss": 1}',
        '{"total_loss": 1}',
        "[1]",
        "not json",
        "",
    ),
    "iteration too big inside a run": d2_text(19, 100)
    + d2_text(10**12 + 19, 5)
    + d2_text(2019, 80),
    "strings and nulls": d2_text(19, 100)
    + d2_text(2019, 20)
    .replace('"lr": ', '"lr": null, "v": ', 4)
    .replace('"data_time": ', '"data_time": "fast", "u": ', 3)
    + d2_text(2019, 80),
    "collisions": "".join(
        dumps({"iteration": i, "total_loss": 1.0, "train_loss": 2.0, "loss": 3.0}) + "\n"
        for i in range(19, 3000, 20)
    ),
    "aliases and scales": "".join(
        dumps({"bbox/AP": i / 100, "iteration": i, "sem_seg/mIoU": 3.0, "accuracy": 0.5}) + "\n"
        for i in range(19, 3000, 20)
    ),
    "keys in other orders": "".join(
        dumps(d2_row(i), sort_keys=bool(i % 3)) + "\n" for i in range(19, 3000, 20)
    ),
}


@pytest.mark.parametrize("name", list(D2_EDGES))
def test_detectron2_edge_cases_read_as_before(name):
    check_detectron2(D2_EDGES[name].encode())


@pytest.mark.parametrize("path", sorted(CORPUS.glob("detectron2/*/metrics.json")), ids=str)
def test_detectron2_corpus_reads_as_before(path):
    data = path.read_bytes()
    check_detectron2(data)
    for cut in range(0, len(data), max(1, len(data) // 97)):
        check_detectron2(data[:cut])


@pytest.mark.parametrize(
    "path", sorted([*CORPUS.rglob("metrics.jsonl"), *CORPUS.rglob("metrics.json")]), ids=str
)
def test_every_corpus_json_lines_file_reads_as_before_as_a_step_log(path):
    """Whatever the format: the step log reader on any JSON file says the same as before."""
    check_step_log(path.read_bytes())


# --- random files: a regular log with random lines changed ----------------------------------

ODD_VALUES = [
    "null", "true", "false", '"1.5"', '"nan"', '"x"', "[]", "{}", "NaN", "Infinity",
    "-Infinity", "-0", "-0.0", "0", "1e400", "-1e-400", "1E+2", "12.0", "01", "1.", ".5",
    "+1", "- 1", "9" * 30, "9" * 4500, "0x10", "1_000", "nan", "inf",
]  # fmt: skip


def odd_value(line: str, rnd: random.Random, values: list[str] = ODD_VALUES) -> str:
    """One value of the line replaced by one of `values`."""
    parts = line.split(": ")
    if len(parts) < 2:
        return line
    index = rnd.randrange(1, len(parts))
    _, comma, tail = parts[index].partition(",")
    parts[index] = rnd.choice(values) + comma + tail
    return ": ".join(parts)


def mutate(line: str, rnd: random.Random) -> str:
    """One line changed the way a real or broken writer might."""
    choice = rnd.randrange(10)
    if choice == 9:  # a run's end (detectron2's eta 0)
        return re.sub('"eta_seconds": [^,}]*', '"eta_seconds": 0.0', line, count=1)
    if choice == 0:  # a value replaced
        return odd_value(line, rnd)
    if choice == 1:  # cut anywhere
        return line[: rnd.randrange(len(line) + 1)]
    if choice == 2:  # keys reordered or one dropped
        try:
            row = json.loads(line)
        except ValueError:
            return line
        if not isinstance(row, dict) or not row:
            return line
        items = list(row.items())
        rnd.shuffle(items)
        return dumps(dict(items[: rnd.randrange(1, len(items) + 1)]))
    if choice == 3:
        return rnd.choice(["", " ", "\r", "garbage", "[1]", "{}"])
    if choice == 4:  # whitespace
        return line.replace(", ", rnd.choice([",", " , ", ",\t", ", "]))
    if choice == 5:
        return line + rnd.choice(["\r", " ", " x", "}"])
    if choice == 6:  # a count changed
        for key in ('"step": ', '"iteration": '):
            if key in line:
                head, _, rest = line.partition(key)
                _, comma, tail = rest.partition(",")
                value = rnd.choice([0, 1, 5, 40, 10**15, 10**12 + 1, -3, "7.0", "2.5", "null"])
                return f"{head}{key}{value}{comma}{tail}"
        return line
    if choice == 7:  # an extra key
        return line.replace("{", '{"extra": ' + rnd.choice(["1", "null", '"s"']) + ", ", 1)
    return line.replace("1", rnd.choice(["2", "-", "e", "."]), 1)


def mutated(text: str, rnd: random.Random, changes: int) -> str:
    lines = text.split("\n")
    for _ in range(changes):
        index = rnd.randrange(len(lines))
        lines[index] = mutate(lines[index], rnd)
    if rnd.random() < 0.3:  # a restart: a stretch of the file written again
        start = rnd.randrange(len(lines))
        lines[start:start] = lines[rnd.randrange(len(lines)) : start][:50]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(60))
def test_random_step_logs_read_as_before(seed):
    rnd = random.Random(seed)
    text = step_text(rnd.randrange(1, 5), rnd.randrange(60, 400))
    check_step_log(mutated(text, rnd, rnd.choice([0, 1, 3, 20])).encode())


@pytest.mark.parametrize("seed", range(60))
def test_random_detectron2_logs_read_as_before(seed):
    rnd = random.Random(seed)
    period, total = rnd.choice([1, 20]), rnd.choice([2000, 8000])
    text = d2_text(rnd.choice([0, 1, 19]), rnd.randrange(60, 400), period, total)
    if rnd.random() < 0.3:
        text += d2_text(rnd.choice([19, 39, 1019]), rnd.randrange(10, 200))
    check_detectron2(mutated(text, rnd, rnd.choice([0, 1, 3, 20])).encode())


# --- chunked reads ---------------------------------------------------------------------------


def chunked(fmt: Any, data: bytes, size: int) -> ParseResult | None:
    found = read_in_chunks(fmt, lambda offset, n: data[offset : offset + n], size)
    return None if found is None else found[0]


@pytest.mark.parametrize("size", [4096, 10_000, 65_536])
@pytest.mark.parametrize(
    "fmt, data",
    [
        (step_log.FORMAT, step_text(1, 3000)),
        (step_log.FORMAT, insert_lines(step_text(1, 3000), 1500, dumps({"step": 1500.5}))),
        (detectron2.FORMAT, d2_text(19, 2500)),
        (detectron2.FORMAT, D2_EDGES["eval merged and on its own line"] * 1),
    ],
    ids=["steps", "steps with a bad line", "detectron2", "detectron2 eval lines"],
)
def test_chunked_reads_give_the_whole_read(fmt, data, size):
    data = data.encode()
    whole = fmt.parse(data)
    pieces = chunked(fmt, data, size)
    reference = (old_parse_step_log if fmt is step_log.FORMAT else old_parse_detectron2)(data)
    assert_same(whole, reference)
    if pieces is None:  # the loader reads such a file whole
        return
    assert _table(pieces.table) == _table(whole.table)
    assert repr(pieces.meta) == repr(whole.meta)
    assert pieces.problems == whole.problems


def test_chunked_step_log_read_holds_every_point():
    data = step_text(1, 5000).encode()
    pieces = chunked(step_log.FORMAT, data, 8192)
    assert pieces is not None
    assert pieces.table.steps.tolist() == list(range(1, 5001))


def test_line_patterns_compile_on_python_3_10():
    """requires-python is 3.10, whose re has no possessive quantifiers (`*+`, `++`, `?+`,
    `{m,n}+`): they raise `multiple repeat` there, at import."""
    import re

    from metricwatch.readers import json_lines

    for pattern in (json_lines._LINE_WS, json_lines._NUMBER, json_lines._COUNT):
        assert not re.search(r"[*+?}]\+", pattern), pattern

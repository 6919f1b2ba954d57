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
runs of such lines are read as tables of numbers (json_lines.LineRuns) and kept
as blocks of arrays; any other line is decoded with the json module and kept as
a dict, as before, and the records are the same.

This module is the format: the FileFormat, its sniffer, and the parse of the
lines into records (a line's values under canonical keys, eta_seconds to meta,
what the file's keys say of the task and scale). Sorting the records into runs
(late lines, resumes, new runs) and building the table is detectron2_runs; the
names of detectron2's file and keys are detectron2_keys, which both use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.appended_checks import merge_meta
from metricwatch.readers.appended_rows import NewPoints, Points, RowAppends
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.detectron2_keys import (
    AXES,
    KEYS,
    MAX_ITERATION,
    NAME,
    canonical_key,
    metric_keys,
)
from metricwatch.readers.detectron2_runs import Runs
from metricwatch.readers.json_lines import LineRuns
from metricwatch.readers.json_rows import json_objects
from metricwatch.readers.json_text import DECODER, quote_key, to_number, whole_number

#: Evaluator prefixes whose values are percentages (COCO AP, semantic segmentation IoU).
_PERCENT_PREFIXES = ("bbox/", "segm/", "keypoints/", "sem_seg/", "panoptic_seg/")

#: The task a line's evaluation keys tell, the first found of these: instance masks before
#: boxes (a segm evaluator writes both).
_TASKS = (
    ("segm/", "instance_segmentation"),
    ("sem_seg/", "segmentation"),
    ("bbox/", "object_detection"),
)


def parse_detectron2(data: bytes) -> ParseResult:
    """Parse the bytes of a detectron2 metrics.json. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip():
        problems.append(Problem(ProblemKind.EMPTY, f"{NAME} is empty (a write may be in progress)"))
        return ParseResult(problems=problems)
    runs = Runs()
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
    return result


def _read_lines(
    lines: Iterable[str], first: int, last: int, runs: Runs, meta: dict[str, Any]
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
        _read_row(row, index, runs, meta)


def _read_row(row: dict[str, Any], index: int, runs: Runs, meta: dict[str, Any]) -> None:
    """The object of line index: a record of the run, or the reason it is not one."""
    iteration = _iteration(row.get("iteration"))
    if iteration is None:
        runs.tally.no_iteration += 1
        return
    eta = to_number(row.get("eta_seconds"))
    runs.add(iteration, _values(row, runs, meta), index + 1, eta)


_RUNS = LineRuns(frozenset(AXES[:1]), lambda keys: metric_keys(keys) is not None)


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


def _values(row: dict[str, Any], runs: Runs, meta: dict[str, Any]) -> dict[str, float]:
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
            if raw != key and raw not in KEYS:
                continue  # an alias never overrides detectron2's own spelling
        values[key] = number
        raw_of[key] = raw
        runs.raw_names.setdefault(key, raw)
        if key != raw:
            runs.sources.setdefault(key, raw)
    return values


def read_new_lines(header: bytes, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points of new training lines, each at an iteration after the last (the fast
    path of an appended log: readers/appended_rows.py), as _read_row reads them, and the
    meta they tell (eta_seconds, source names). None for lines it leaves to the parse:
    evaluation results (their keys tell the task and scale), a line after a run's end
    (eta 0: it may start a new run), a late line or a resume, no usable iteration, a
    value that is no number, two names of one key."""
    rows = json_objects(complete)
    if rows is None or _finished(context):
        return None
    runs, meta = Runs(), {}
    steps: list[int] = []
    series: dict[str, Points] = {}
    finished = False
    for row in rows:
        iteration = _iteration(row.get("iteration"))
        if iteration is None or finished or any(raw.startswith(_PERCENT_PREFIXES) for raw in row):
            return None
        eta = to_number(row.get("eta_seconds"))
        finished = finished if eta is None else eta == 0.0
        values = _values(row, runs, meta)
        if runs.tally.non_numeric or runs.tally.collisions:
            return None
        if not values:
            continue  # only an eta: no point of the run
        if steps and iteration <= steps[-1]:
            return None
        steps.append(iteration)
        for key, value in values.items():
            points = series.get(key)
            if points is None:
                points = series[key] = Points([], [])
            points.steps.append(iteration)
            points.values.append(value)
    if runs.sources:
        meta["source_keys"] = runs.sources
    return NewPoints(steps, series, meta)


def merge_new_meta(meta: dict[str, Any], new: dict[str, Any]) -> None:
    """The meta of a write's lines joins the run's (appended_checks.merge_meta), but for
    the task: the whole parse's is the first of _TASKS any line tells, so a write telling
    a later one (a bbox-only evaluation after a segm one) leaves the run's as it is."""
    known = meta.get("task")
    merge_meta(meta, new)
    rank = {task: i for i, (_, task) in enumerate(_TASKS)}
    last = len(rank)  # a task no line of the parse tells ranks after every known one
    if known in rank and rank[known] < rank.get(meta.get("task", known), last):
        meta["task"] = known


def _finished(context: list[bytes]) -> bool:
    """Whether the last eta before the new lines was 0 (the run had ended), or cannot be
    told from the context (none there, or a line that is no object)."""
    for line in reversed(context):
        rows = json_objects(line)
        if not rows or _iteration(rows[0].get("iteration")) is None:
            return True  # (the parse keeps no eta of a line without an iteration)
        eta = to_number(rows[0].get("eta_seconds"))
        if eta is not None:
            return eta == 0.0
    return True


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
    appends=RowAppends(
        header_lines=0,
        context_lines=2,
        rows=read_new_lines,
        parse=parse_detectron2,
        merge_meta=merge_new_meta,
    ),
)

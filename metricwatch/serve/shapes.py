"""The JSON the API answers with, built from runs; and the encoding (NaN/Inf as null).

The metrics shape is the seed's (`{"epochs": [{"epoch": 1, "train_loss": ..}]}`),
`{"steps": [{"step": .., ..}]}` for a run logged per step. Records are built
from the run's columns for the steps asked for only (`records_after`): an
event for one new epoch of a 100,000-step run costs one row, not the table.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from metricwatch.analysis.diagnostics import Severity
from metricwatch.json_out import json_safe
from metricwatch.model import EPOCH, STEP, STEP_AXES, Run, Table
from metricwatch.report import RunReport, run_json


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, NaN and Inf as null (JSON has neither). A lone surrogate (a run
    named after a directory whose name is not UTF-8, a key read from such a file) cannot
    be UTF-8: it is shown as U+FFFD rather than failing the answer or the event."""
    text = json.dumps(json_safe(value), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text).encode("utf-8")


_SURROGATES = re.compile("[\ud800-\udfff]")


def records_key(run: Run) -> str:
    """`epochs` or `steps`: the key the records go under, after the run's x axis."""
    return "steps" if run.x == STEP else "epochs"


def record_kind(run: Run) -> str:
    """The event name of one new record: `epoch` or `step`."""
    return STEP if run.x == STEP else EPOCH


def records_after(table: Table, after: int | None) -> list[dict[str, Any]]:
    """The table's records whose x is above `after` (every record for None), in x order,
    as `{x: n, key: value, ...}` (values may be NaN/Inf: `dumps` makes them null).

    A step run's record also says its `epoch` (fractional) and `time` (Unix seconds)
    where the file gives them: a client draws the run against those axes too (the `x`
    key). Not when the run has metrics of those names: they are the metrics."""
    steps = table.steps
    start = 0 if after is None else int(np.searchsorted(steps, after, side="right"))
    out: dict[int, dict[str, Any]] = {step: {table.x: step} for step in steps[start:].tolist()}
    axes = table.x == STEP and not (set(STEP_AXES) & set(table.series))
    for key, series in table.series.items():
        first = 0 if after is None else int(np.searchsorted(series.steps, after, side="right"))
        if first >= len(series):
            continue
        at = series.steps[first:].tolist()
        for step, value in zip(at, series.values[first:].tolist()):
            out.setdefault(step, {table.x: step})[key] = value
        if axes:
            for name, column in zip(STEP_AXES, (series.epochs, series.times)):
                if column is not None:
                    for step, known in zip(at, column[first:].tolist()):
                        if math.isfinite(known):
                            out[step].setdefault(name, known)
    return [out[step] for step in sorted(out)]


def count_after(table: Table, after: int | None) -> int:
    """How many of the table's records have their x above `after` (all for None)."""
    if after is None:
        return len(table)
    return len(table) - int(np.searchsorted(table.steps, after, side="right"))


def first_changed(old: Table, new: Table, upto: int | None) -> int | None:
    """The smallest x at or before `upto` whose record differs between old and new (a key
    added, dropped or changed there: metrics.json placing an epoch's validation at the
    step already sent, a file rewritten in place); None when that prefix is the same.

    Every column is compared (vectorised): a new value at an x already sent must never be
    missed, and the cost is a few microseconds per thousand points.
    """
    if upto is None or old is new:
        return None
    found = _first_difference(old.steps, None, new.steps, None, upto)
    for key in old.series.keys() | new.series.keys():
        before, after = old.series.get(key), new.series.get(key)
        if before is after:
            continue
        x = _first_difference(
            _EMPTY if before is None else before.steps,
            _NO_VALUES if before is None else before.values,
            _EMPTY if after is None else after.steps,
            _NO_VALUES if after is None else after.values,
            upto,
        )
        if x is not None and (found is None or x < found):
            found = x
    return found


_EMPTY = np.zeros(0, dtype=np.int64)
_NO_VALUES = np.zeros(0, dtype=np.float64)


def _first_difference(
    steps_a: np.ndarray,
    values_a: np.ndarray | None,
    steps_b: np.ndarray,
    values_b: np.ndarray | None,
    upto: int,
) -> int | None:
    """The first x (at or before upto) where two columns differ; NaN equals NaN."""
    a_end = int(np.searchsorted(steps_a, upto, side="right"))
    b_end = int(np.searchsorted(steps_b, upto, side="right"))
    common = min(a_end, b_end)
    if a_end == b_end and _same_bits(steps_a[:common], steps_b[:common]):
        if values_a is None or values_b is None:
            return None
        if _same_bits(values_a[:common], values_b[:common]):
            return None  # the common case, a few times faster than the search below
    differ = steps_a[:common] != steps_b[:common]
    if values_a is not None and values_b is not None:
        va, vb = values_a[:common], values_b[:common]
        differ |= ~((va == vb) | (np.isnan(va) & np.isnan(vb)))
    if differ.any():
        i = int(np.argmax(differ))
        return int(min(steps_a[i], steps_b[i]))
    if a_end != b_end:
        longer = steps_a if a_end > b_end else steps_b
        return int(longer[common])
    return None


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one 8-byte dtype hold the same bits (NaN equals NaN)."""
    return bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def findings_count(report: RunReport) -> dict[str, int]:
    """How many findings of each severity (every severity present, 0 where none)."""
    counts = Counter(f.severity.value for f in report.findings)
    return {severity.value: counts.get(severity.value, 0) for severity in Severity}


def run_listing(run_id: str, report: RunReport, status: str) -> dict[str, Any]:
    """One entry of `GET /api/runs`."""
    run = report.run
    return {
        "id": run_id,
        "name": run.name,
        "format": run.format or None,
        "x": run.x,
        "status": status,
        "epochs": run.epochs_done,
        "steps": run.last_step if run.x == STEP else None,
        "total": run.total_epochs,
        "updated": run.mtime,
        "findings": findings_count(report),
    }


def summary_json(run_id: str, report: RunReport, status: str) -> dict[str, Any]:
    """`GET /api/training/{id}/summary`: the run's entry of `summary --json`, with its id,
    its current status and the seed's summary table as rows of [label, value]."""
    body = {"id": run_id, **run_json(report)}
    body["status"] = status
    body["rows"] = [list(row) for row in report.summary.rows()] if report.summary else []
    return body


def findings_by_id(report: RunReport) -> dict[str, dict[str, Any]]:
    """The run's findings as `summary --json` writes them, by finding id."""
    return {finding["id"]: finding for finding in run_json(report)["diagnostics"]}

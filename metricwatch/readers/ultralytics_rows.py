"""An Ultralytics results.csv's new rows read alone: the fast path of its appended log.

ultralytics reads the whole file; a live training appends a row an epoch, and
readers/appended_rows.py lets a reader read such rows alone. Here are the file's rules
as they apply to rows whose epochs come after every epoch read (appended_rows refuses
others: a resume): each column's cells; train_loss and val_loss as the sum of their
parts on the rows holding every part (added in the header's order, from 0, as
ultralytics._loss_sum adds them); duration_s as the row's `time` minus the time of the
row before (the last of the context's rows the parse keeps, or the time itself after a
restart of the clock). A row whose every val/ and metrics/ cell is 0 (validation did
not run) changes the parse's count of such epochs: the parse's, as is anything else.

The row a duration is read from may lie a few rows back (rows without a time between):
lines_to_last_time tells how many of the last lines the context must hold for it to
hold that row (readers/appended_context.py), for this path and the parse alike.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from metricwatch.readers import csv_table
from metricwatch.readers.appended_rows import NewPoints, Points
from metricwatch.readers.csv_rows import plain_rows, whole


class RowPlan(NamedTuple):
    """How a results.csv's rows are read (ultralytics finds it from the header): the
    delimiter and width, where `epoch` and `time` are, each column's key, the val/ and
    metrics/ columns, and the loss sums (key, the columns of its parts)."""

    delimiter: bytes
    width: int
    epoch: int
    time: int | None
    columns: tuple[tuple[int, str], ...]
    validated: tuple[int, ...]
    sums: tuple[tuple[str, tuple[int, ...]], ...]


def epoch_rows(plan: RowPlan, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points new plain rows add (see the module), or None."""
    rows = plain_rows(complete, plan.delimiter, plan.width)
    if rows is None:
        return None
    epochs: list[int] = []
    for cells in rows:
        epoch = whole(cells[plan.epoch])
        if epoch is None or (epochs and epoch <= epochs[-1]):
            return None
        if plan.validated and all(cells[i] == 0 for i in plan.validated):
            return None  # an epoch without validation: the parse counts them in a notice
        epochs.append(epoch)
    series = {}
    for column, key in plan.columns:
        points = _present(epochs, [cells[column] for cells in rows])
        if points is not None:
            series[key] = points
    for key, parts in plan.sums:
        points = _present(epochs, [_sum(cells, parts) for cells in rows])
        if points is not None:
            series[key] = points
    if plan.time is not None:
        previous = _last_time(plan, context)
        if previous is None:
            return None
        points = _present(epochs, _durations([cells[plan.time] for cells in rows], previous))
        if points is not None:
            series["duration_s"] = points
    return NewPoints(epochs, series)


def _present(epochs: list[int], values: list[float | None]) -> Points | None:
    """The points of the rows with a value, or None when no row has one."""
    steps = [epoch for epoch, value in zip(epochs, values) if value is not None]
    if not steps:
        return None
    return Points(steps, [value for value in values if value is not None])


def _sum(cells: list[float | None], parts: tuple[int, ...]) -> float | None:
    """The sum of the parts, in order from 0 (None when a part is missing)."""
    total = 0.0
    for part in parts:
        value = cells[part]
        if value is None:
            return None
        total += value
    return total


def _durations(times: list[float | None], previous: float) -> list[float | None]:
    """Each row's seconds (None without a time): its time minus the last one before, or
    its time itself when that is less (the clock restarted at a resume)."""
    durations: list[float | None] = []
    for elapsed in times:
        if elapsed is None:
            durations.append(None)
            continue
        duration = elapsed - previous
        durations.append(elapsed if duration < 0 else duration)
        previous = elapsed
    return durations


def _last_time(plan: RowPlan, context: list[bytes]) -> float | None:
    """The `time` of the last context row the parse keeps that has one (a row is kept when
    no later row has its epoch or a smaller one); None when there is none there (it may
    be before the context) or a row read on the way is not a plain one. Read from the
    last line back: most often that line alone."""
    assert plan.time is not None
    later = math.inf
    for line in reversed(context):
        rows = plain_rows(line, plan.delimiter, plan.width)
        if rows is None:
            return None
        cells = rows[0]
        epoch = whole(cells[plan.epoch])
        if epoch is None:
            continue
        kept, later = epoch < later, min(later, epoch)
        if kept and cells[plan.time] is not None:
            return cells[plan.time]
    return None


# --- the row a duration is read from (the context of an appended log: appended_context.py) ---


class TimeCells(NamedTuple):
    """Where a results.csv's rows hold their epoch and time (-1: cells a split at the
    delimiter does not find, a header with quotes)."""

    delimiter: bytes
    epoch: int
    time: int


def lines_to_last_time(cells: TimeCells, header_line: bytes, lines: list[bytes]) -> int | None:
    """How many of the last lines hold the row the last row's duration is read from (the
    last row before it the parse keeps that has a time), which is, or comes before, the
    row a later row's duration is read from: those back to it. len(lines) when no such
    row is among them (it may lie before them); None when a line is not read here."""
    later = math.inf
    last_row = True
    for back, line in enumerate(reversed(lines)):
        stripped = line.strip()
        if not stripped or stripped == header_line:
            continue  # a blank line, the header again: no row
        found = _epoch_and_time(line, cells)
        if found is None:
            return None
        epoch, time = found
        if epoch is None:
            continue  # no usable epoch: a row the parse skips
        kept, later = epoch < later, min(later, epoch)
        if kept and time is not None and not last_row:
            return back + 1
        last_row = False
    return len(lines)


def _epoch_and_time(line: bytes, cells: TimeCells) -> tuple[int | None, float | None] | None:
    """A row's usable epoch and its time as csv_table reads their cells, or None when they
    are not read here (quotes, too few cells)."""
    if cells.epoch < 0 or b'"' in line:
        return None
    parts = line.split(cells.delimiter)
    if max(cells.epoch, cells.time) >= len(parts):
        return None
    epoch = csv_table.number_of(parts[cells.epoch].decode("utf-8", "replace"))
    return whole(epoch), csv_table.number_of(parts[cells.time].decode("utf-8", "replace"))

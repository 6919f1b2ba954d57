"""A Lightning metrics.csv's new rows read alone: the fast path of its appended log.

lightning_csv reads the whole file; a live run's write adds a few rows (the
LearningRateMonitor's `lr-*` row, the training row, at an epoch's end the validation and
epoch rows), and readers/appended_rows.py lets a reader read those alone. Here are the
file's rules as they apply to rows that come after every row read before (appended_rows
refuses a row at the last step read, or before it): a key's value comes from the last
row of a step holding it; a row without an epoch takes the largest epoch of the rows at
its step (lightning_csv._fill_epochs), else none (NaN). Anything else (no usable step,
a step going back among the new rows, an epoch that is not finite, a cell that is no
plain number) is the parse's, with the problems it tells.

Rows a write adds at the last step read are the general path's, which parses them with
the context: last_step_lines tells how many of the last lines the context must hold for
it to hold every row at that step (readers/appended_context.py).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

from metricwatch.readers import csv_table
from metricwatch.readers.appended_rows import NewPoints, Points
from metricwatch.readers.csv_rows import plain_rows, whole


class RowPlan(NamedTuple):
    """How a step log's rows are read: the header's delimiter and width, where its `step`
    and `epoch` are, and each metric column's key (lightning_csv finds them)."""

    delimiter: bytes
    width: int
    step: int
    epoch: int | None
    columns: tuple[tuple[int, str], ...]


def step_rows(plan: RowPlan, complete: bytes) -> NewPoints | None:
    """The points new plain rows add (see the module), or None."""
    rows = plain_rows(complete, plan.delimiter, plan.width)
    if rows is None:
        return None
    xs: list[int] = []
    dated: dict[int, float] = {}  # each step's largest epoch
    for cells in rows:
        x = whole(cells[plan.step])
        if x is None or (xs and x < xs[-1]):
            return None  # no usable step (a problem the parse tells), or a resume
        xs.append(x)
        epoch = None if plan.epoch is None else cells[plan.epoch]
        if epoch is not None:
            if not math.isfinite(epoch):
                return None
            dated[x] = max(epoch, dated.get(x, epoch))
    epochs = None if plan.epoch is None else _row_epochs(rows, xs, plan.epoch, dated)
    series = {}
    for column, key in plan.columns:
        points = _last_per_step(rows, xs, column, epochs)
        if points is not None:
            series[key] = points
    return NewPoints(list(dict.fromkeys(xs)), series)


def _row_epochs(
    rows: list[list[float | None]], xs: list[int], epoch_at: int, dated: dict[int, float]
) -> list[float]:
    """Each row's epoch: its own, else the largest at its step, else NaN."""
    epochs = []
    for cells, x in zip(rows, xs):
        epoch = cells[epoch_at]
        if epoch is None:
            epoch = dated.get(x, math.nan)
        epochs.append(epoch)
    return epochs


def _last_per_step(
    rows: list[list[float | None]], xs: list[int], column: int, epochs: list[float] | None
) -> Points | None:
    """One column's points: the rows holding a value, the last of each step."""
    steps: list[int] = []
    values: list[float] = []
    dates: list[float] = []
    for index, cells in enumerate(rows):
        value = cells[column]
        if value is None:
            continue
        if steps and steps[-1] == xs[index]:
            steps.pop(), values.pop(), dates.pop()
        steps.append(xs[index])
        values.append(value)
        dates.append(math.nan if epochs is None else epochs[index])
    if not steps:
        return None
    return Points(steps, values, None if epochs is None else dates)


# --- the rows at the last step (the context of an appended log: readers/appended_context.py) ---


@lru_cache(maxsize=32)
def _step_cell(header: bytes, filename: str) -> tuple[bytes, int] | None:
    """Where a step log's rows hold their step: the delimiter and the `step` column's
    index (-1: rows whose cells a split at the delimiter does not find, a header with
    quotes); None when the parse dates no row by another (no `step` or `epoch` column)."""
    table = csv_table.read_table(header, filename)
    if "step" not in table.header or "epoch" not in table.header:
        return None
    delimiter = table.delimiter.encode("ascii")
    if b'"' in header or header.count(delimiter) + 1 != len(table.header):
        return delimiter, -1
    return delimiter, table.header.index("step")


def last_step_lines(header: bytes, lines: list[bytes], filename: str) -> int | None:
    """How many of the last lines hold every row at the last step (lightning_csv dates a
    row without an epoch by the rows at its step): those up to a row at an earlier step;
    None when the lines cannot tell (a row whose step is not read here, a later step
    before the last step's rows: a resume, and rows at that step the parse keeps may lie
    before it); 0 for a log whose rows are not dated by each other."""
    found = _step_cell(header, filename)
    if found is None:
        return 0
    delimiter, index = found
    again = header.lstrip(b"\xef\xbb\xbf").strip()
    last = None
    for back, line in enumerate(reversed(lines)):
        stripped = line.strip()
        if not stripped or stripped == again:
            continue  # a blank line, the header again: no row
        step = _step_of(line, delimiter, index)
        if step is None or (last is not None and step > last):
            return None
        if last is not None and step < last:
            return back
        last = step
    return len(lines)


def _step_of(line: bytes, delimiter: bytes, index: int) -> int | None:
    """A row's usable step (csv_table reads its cell), or None when not read here."""
    if index < 0 or b'"' in line:
        return None
    cells = line.split(delimiter)
    if index >= len(cells):
        return None
    return whole(csv_table.number_of(cells[index].decode("utf-8", "replace")))

"""The fast path of an appended log: a write's new points read from its new lines alone.

AppendedLog's general path parses the header, the context and the new lines, takes the
context's parse (remembered, or parsed again), and keeps what the first has beyond the
second: exact by construction, but about a millisecond a write of a few rows, nearly
all of it the parse's and numpy's cost per call, not per row. A reader that knows its
format reads plain new lines (whole rows of plain numbers, every one after the last)
in Python instead, into the points the whole parse would add, and answers None for
anything else (a row at the last step, a resume, a cell that is no plain number, a
blank or ragged line...): the general path then reads the lines as before.

What this module checks for every format: the new points are only appended (each key's
steps after its last, the table's after its last), every key has a column already (a
key's first point is the general path's), and the keys that share axes (logged on the
same lines) get the same new axes. A reader checks what only its format knows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metricwatch.readers.appended_series import Axes, GrowingSeries
from metricwatch.readers.base import Appends
from metricwatch.readers.columns import GrowingColumn


@dataclass(slots=True)
class Points:
    """One key's new points (as Python lists: a few a write)."""

    steps: list[int]
    values: list[float]
    epochs: list[float] | None = None
    times: list[float] | None = None


@dataclass(slots=True)
class NewPoints:
    """What a write adds: the table's new steps (ascending), each key's new points (keys
    without any left out), and the meta entries the new lines tell (merged as the
    general path merges a parse's)."""

    steps: list[int]
    series: dict[str, Points]
    meta: dict[str, Any] | None = None


#: A reader's fast path: (header bytes, context lines, new complete lines) -> the new
#: points, or None when the lines are not plain ones it reads exactly.
RowReader = Callable[[bytes, list[bytes], bytes], "NewPoints | None"]


#: A format's reading of its last lines: (header bytes, lines) -> how many of the last
#: lines hold every line the last row is read with, or None when they cannot tell (see
#: RowAppends).
StepLines = Callable[[bytes, list[bytes]], "int | None"]
#: A format's merging of a write's meta into the run's (meta known, meta of the write).
MetaMerge = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class RowAppends(Appends):
    """Appends, with the reader's fast path for plain new lines (see the module). `parse`
    is the parse whose points `rows` reads: a format given another parse (a wrapper that
    counts its calls) is read by the general path, which calls it. `unfollowed`: given the
    header and bytes after it, whether those hold a line after which no later line can be
    read from the header and the last lines (a CSV's header again, with other names):
    the log is then read whole. `last_step_lines`: for a format whose parse reads a row
    with rows before it, how many of the last lines hold every line the last row, and a
    new row at its step, is read with (Lightning dates a row without an epoch by the rows
    at its step: those; Ultralytics' duration is the time since the last row with one:
    those back to the one before the last row), 0 when none is needed, or None when they
    cannot tell; the context then holds them (readers/appended_context.py).
    `merge_meta`: how the meta of a write's lines joins the run's, when the whole parse's
    is not what appended_checks.merge_meta makes of them (detectron2's task: the highest
    one any line tells)."""

    rows: RowReader | None = None
    parse: Callable[[bytes], Any] | None = None
    unfollowed: Callable[[bytes, bytes], bool] | None = None
    last_step_lines: StepLines | None = None
    merge_meta: MetaMerge | None = None


def unfollowed(appends: Appends | None, header: bytes, data: bytes) -> bool:
    """Whether data (bytes after the header) holds a line the log cannot be followed past."""
    check = appends.unfollowed if isinstance(appends, RowAppends) else None
    return check is not None and check(header, data)


def row_reader(appends: Appends | None, parse: Callable[[bytes], Any]) -> RowReader | None:
    """The fast path of a format with these appends and parse, if it has one."""
    if isinstance(appends, RowAppends) and appends.parse is parse:
        return appends.rows
    return None


def last_step_lines(appends: Appends | None) -> StepLines | None:
    """The format's reading of how many last lines hold the last step's rows, if it needs
    one (see RowAppends)."""
    return appends.last_step_lines if isinstance(appends, RowAppends) else None


def meta_merge(appends: Appends | None) -> MetaMerge | None:
    """The format's merging of a write's meta, if it has one of its own (see RowAppends)."""
    return appends.merge_meta if isinstance(appends, RowAppends) else None


def append_points(steps: GrowingColumn, series: dict[str, GrowingSeries], new: NewPoints) -> bool:
    """Append a write's points to the table's steps and the series' columns when they
    simply follow; False, with nothing changed, when not (see the module)."""
    if new.steps and steps.size and new.steps[0] <= steps.buffer[steps.size - 1]:
        return False
    if not new.series.keys() <= series.keys():
        return False  # a key's first point: the general path makes its column
    groups: dict[int, tuple[Axes, Points | None]] = {}
    for key, grown in series.items():
        points = new.series.get(key)
        group = groups.get(id(grown.axes))
        if group is None:
            if points is not None and not _follows(grown.axes, points):
                return False
            groups[id(grown.axes)] = (grown.axes, points)
        elif not _same_axes(group[1], points):
            return False  # sharers whose new lines differ: the general path parts them
    for axes, points in groups.values():
        if points is not None:
            axes.extend_lists(points.steps, points.epochs, points.times)
    for key, points in new.series.items():
        series[key].values.extend(points.values)
    steps.extend(new.steps)
    return True


def _follows(axes: Axes, points: Points) -> bool:
    """Whether the points can follow the axes: the same axes known, every step after."""
    if (axes.epochs is None) != (points.epochs is None):
        return False
    if (axes.times is None) != (points.times is None):
        return False
    column = axes.steps
    return not column.size or points.steps[0] > column.buffer[column.size - 1]


def _same_axes(a: Points | None, b: Points | None) -> bool:
    """Whether two keys' new points have the same steps, epochs and times (or none)."""
    if a is None or b is None:
        return a is b
    return a.steps == b.steps and same_floats(a.epochs, b.epochs) and same_floats(a.times, b.times)


def same_floats(a: list[float] | None, b: list[float] | None) -> bool:
    """Whether two lists of floats are equal, NaN equal to NaN (both absent: equal)."""
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b)
    )

"""The growing columns of an appended log's series (readers/appended.AppendedLog).

Each key's values grow in a column of their own; its steps, epochs and times in an
Axes that the keys a log writes on the same lines share (every key of a step log, a
CSV's columns filled on every row), so a log holds them once, not once a key.
AppendedLog decides when sharers part (a line without one of them, an epoch filled in
for some of them only); this module only holds the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricwatch.model import Series
from metricwatch.readers.columns import GrowingColumn


def same_axis(mine: np.ndarray | None, theirs: np.ndarray | None) -> bool:
    """Whether two axes are the same (both absent, or equal with NaN equal to NaN)."""
    if mine is None or theirs is None:
        return mine is theirs
    return bool(np.array_equal(mine, theirs, equal_nan=mine.dtype.kind == "f"))


def same_axes(a: Series, b: Series) -> bool:
    """Whether two series have the same steps, epochs and times (logged on the same lines)."""
    return (
        same_axis(a.steps, b.steps)
        and same_axis(a.epochs, b.epochs)
        and same_axis(a.times, b.times)
    )


@dataclass
class Axes:
    """A series' steps, epochs and times as they grow. The keys a log writes on the same
    lines (every key of a step log, a CSV's columns filled on every row) share one: a
    million-point step log of four keys holds its axes once, not four times (32 bytes a
    point of columns become 14)."""

    steps: GrowingColumn
    epochs: GrowingColumn | None
    times: GrowingColumn | None

    @classmethod
    def of(cls, series: Series) -> Axes:
        return cls(
            GrowingColumn(series.steps, np.int64),
            None if series.epochs is None else GrowingColumn(series.epochs, np.float64),
            None if series.times is None else GrowingColumn(series.times, np.float64),
        )

    def copy(self) -> Axes:
        """Columns of its own, for a series whose lines part from those it shared with."""
        return Axes(
            GrowingColumn(self.steps.view(), np.int64),
            None if self.epochs is None else GrowingColumn(self.epochs.view(), np.float64),
            None if self.times is None else GrowingColumn(self.times.view(), np.float64),
        )

    def extend(self, new: Series) -> None:
        self.extend_lists(new.steps, new.epochs, new.times)

    def extend_lists(self, steps: Any, epochs: Any, times: Any) -> None:
        """New points' axes, as arrays or lists (the fast path's few points a write)."""
        self.steps.extend(steps)
        if self.epochs is not None:
            self.epochs.extend(epochs)
        if self.times is not None:
            self.times.extend(times)

    @property
    def columns(self) -> list[GrowingColumn]:
        return [c for c in (self.steps, self.epochs, self.times) if c is not None]


@dataclass
class GrowingSeries:
    key: str
    axes: Axes
    values: GrowingColumn
    #: the Series last handed out (see series())
    _shown: Series | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, series: Series, axes: Axes | None = None) -> GrowingSeries:
        return cls(series.key, axes or Axes.of(series), GrowingColumn(series.values, np.float64))

    @property
    def steps(self) -> GrowingColumn:
        return self.axes.steps

    @property
    def epochs(self) -> GrowingColumn | None:
        return self.axes.epochs

    def accepts(self, new: Series) -> bool:
        """Whether new points can follow: same axes known, every step after the last."""
        if (self.epochs is None) != (new.epochs is None) or (self.axes.times is None) != (
            new.times is None
        ):
            return False
        return not self.steps.size or int(new.steps[0]) > int(self.steps.view()[-1])

    def series(self) -> Series:
        """The series as read so far. The one handed out last when its columns have not
        grown nor moved since (a key a write left alone): most of a log's keys at most of
        its writes, and a Series made again costs more than the write's own points."""
        axes = self.axes
        steps, values = axes.steps.shown(), self.values.shown()
        epochs = None if axes.epochs is None else axes.epochs.shown()
        times = None if axes.times is None else axes.times.shown()
        shown = self._shown
        if (
            shown is not None
            and shown.values is values
            and shown.steps is steps
            and shown.epochs is epochs
            and shown.times is times
        ):
            return shown
        self._shown = Series.of_columns(self.key, steps, values, epochs, times)
        return self._shown

    def forget(self) -> None:
        """Hand out a new Series next time (its epochs were written in place)."""
        self._shown = None

"""Per-column min/max reduction of a series for drawing.

A terminal chart has a few dozen to a few hundred columns, and plotext's
build time grows with the number of points, so a series is reduced before
drawing. Random or stride sampling loses spikes (TensorBoard keeps 1,000
random points); here the x range is cut into one bin per column and each
bin keeps its minimum and its maximum, in the order they occur, so every
spike and every dip of the full data is still drawn.

NaN/Inf points cannot be drawn as values; they are returned apart (one x
per column) so the chart can mark them instead of dropping them silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Reduced", "reduce_minmax"]


@dataclass(frozen=True)
class Reduced:
    """A series ready to draw: finite points (at most 2 per column) and non-finite x positions."""

    x: np.ndarray
    y: np.ndarray
    nonfinite_x: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def reduce_minmax(x: ArrayLike | Sequence[float], y: ArrayLike, columns: int) -> Reduced:
    """Reduce (x, y) to at most 2 * columns finite points keeping each column's min and max.

    x must be non-decreasing (epochs are). Columns are equal slices of the
    x range, not of the point count, so gaps in the epochs stay gaps.
    Series already short enough are returned unchanged (minus non-finite
    points), so small runs are drawn point for point.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-d and the same length ({xs.shape} vs {ys.shape})")
    columns = max(1, int(columns))
    finite = np.isfinite(ys)
    bad_x = xs[~finite]
    fx, fy = (xs, ys) if finite.all() else (xs[finite], ys[finite])
    return Reduced(*_minmax(fx, fy, columns), _one_per_column(bad_x, xs, columns))


def _bins(x: np.ndarray, lo: float, hi: float, columns: int) -> np.ndarray:
    if hi <= lo:
        return np.zeros(len(x), dtype=np.int64)
    scaled = (x - lo) * (columns / (hi - lo))
    return np.clip(scaled.astype(np.int64), 0, columns - 1)


def _minmax(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(x)
    if n <= 2 * columns:
        return x, y
    bins = _bins(x, float(x[0]), float(x[-1]), columns)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    mins = np.minimum.reduceat(y, starts)
    maxs = np.maximum.reduceat(y, starts)
    lengths = np.diff(np.r_[starts, n])
    index = np.arange(n)
    # First index of each bin's min and max: the positions keep time order inside a column.
    first_min = np.minimum.reduceat(np.where(y == np.repeat(mins, lengths), index, n), starts)
    first_max = np.minimum.reduceat(np.where(y == np.repeat(maxs, lengths), index, n), starts)
    lo_idx = np.minimum(first_min, first_max)
    hi_idx = np.maximum(first_min, first_max)
    picks = np.empty(2 * len(starts), dtype=np.int64)
    picks[0::2] = lo_idx
    picks[1::2] = hi_idx
    # A bin whose min and max are the same point contributes it once.
    keep = np.ones(len(picks), dtype=bool)
    keep[1::2] = hi_idx != lo_idx
    picks = picks[keep]
    return x[picks], y[picks]


def _one_per_column(bad_x: np.ndarray, all_x: np.ndarray, columns: int) -> np.ndarray:
    if len(bad_x) <= columns:
        return bad_x
    bins = _bins(bad_x, float(all_x[0]), float(all_x[-1]), columns)
    first = np.r_[True, bins[1:] != bins[:-1]]
    return bad_x[first]

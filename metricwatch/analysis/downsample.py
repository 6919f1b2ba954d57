"""Per-column min/max reduction of a series for drawing.

A terminal chart has a few dozen to a few hundred columns, and plotext's
build time grows with the number of points, so a series is reduced before
drawing. Random or stride sampling loses spikes (TensorBoard keeps 1,000
random points); here the x range is cut into one bin per column and each
bin keeps its minimum and its maximum, in the order they occur, so every
spike and every dip of the full data is still drawn.

NaN/Inf points cannot be drawn as values; they are returned apart (one x
per column) so the chart can mark them instead of dropping them silently.

Any finite floats are valid input, up to +/-1.7e308 and down to denormals:
the column of a point is its position as a fraction of the x range,
computed so that neither the range nor the fraction can overflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Reduced", "fraction_of", "reduce_minmax"]


@dataclass(frozen=True)
class Reduced:
    """A series ready to draw: finite points (at most 2 per column) and non-finite x positions."""

    x: np.ndarray
    y: np.ndarray
    nonfinite_x: np.ndarray
    #: The first and last x of every point placed (NaN/Inf values included), or None.
    x_range: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self.x)


def reduce_minmax(x: ArrayLike | Sequence[float], y: ArrayLike, columns: int) -> Reduced:
    """Reduce (x, y) to at most 2 * columns finite points keeping each column's min and max.

    Columns are equal slices of the x range, not of the point count, so gaps
    in the epochs stay gaps. Epochs come sorted; x out of order is sorted
    first (stable), and points whose x is not finite have no place on the
    axis and are left out. Series already short enough are returned
    unchanged (minus non-finite points), so small runs are drawn point for
    point.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-d and the same length ({xs.shape} vs {ys.shape})")
    columns = max(1, int(columns))
    placed = np.isfinite(xs)
    if not placed.all():
        xs, ys = xs[placed], ys[placed]
    if len(xs) > 1 and not (xs[1:] >= xs[:-1]).all():
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    finite = np.isfinite(ys)
    bad_x = xs[~finite]
    fx, fy = (xs, ys) if finite.all() else (xs[finite], ys[finite])
    x_range = (float(xs[0]), float(xs[-1])) if len(xs) else None
    return Reduced(*_minmax(fx, fy, columns), _one_per_column(bad_x, xs, columns), x_range)


def _bins(x: np.ndarray, lo: float, hi: float, columns: int) -> np.ndarray:
    """Each x's column: floor(columns * (x - lo) / (hi - lo)), clipped to the columns."""
    if not hi > lo:
        return np.zeros(len(x), dtype=np.int64)
    with np.errstate(over="ignore"):
        factor = columns / (hi - lo)
    if np.isfinite(factor) and factor > 0:  # the common case: one pass fewer
        scaled = (x - lo) * factor
    else:
        scaled = _fraction(x, lo, hi) * columns
    bins = scaled.astype(np.int64)
    np.maximum(bins, 0, out=bins)  # np.clip's Python wrapper costs more than the pass
    return np.minimum(bins, columns - 1, out=bins)


def fraction_of(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(x - lo) / (hi - lo) for x in [lo, hi] (lo < hi, both finite), without overflow.

    Clipped to [0, 1] (0 for anything that is not a number): the result is a
    plot coordinate.
    """
    fraction = _fraction(x, lo, hi)
    fraction = np.where(fraction >= 0.0, fraction, 0.0)  # NaN and below the range: 0
    return np.minimum(fraction, 1.0, out=fraction)


def _fraction(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(x - lo) / (hi - lo), in the way that cannot overflow for these ends.

    hi - lo overflows when the ends have opposite signs and huge magnitudes
    (-1e308 to 1e308): then the halves are subtracted, which cannot
    overflow. Multiplying by columns / (hi - lo) instead of dividing would
    overflow when the range is a denormal (5e-324 wide); a quotient of two
    differences inside the range is at most 1.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        span = hi - lo
        if np.isfinite(span):
            return (x - lo) / span
        return (x * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)


def _minmax(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(x)
    if n <= 2 * columns:
        return x, y
    starts = _column_starts(x, columns)
    ends = np.append(starts[1:], n)
    # First index of each column's min and of its max: at most `columns` slices, each
    # scanned once by argmin/argmax (no full-length temporaries), in time order.
    first_min = np.empty(len(starts), dtype=np.int64)
    first_max = np.empty(len(starts), dtype=np.int64)
    for column, (start, end) in enumerate(zip(starts.tolist(), ends.tolist())):
        part = y[start:end]
        first_min[column] = start + int(part.argmin())
        first_max[column] = start + int(part.argmax())
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


def _column_starts(x: np.ndarray, columns: int) -> np.ndarray:
    """The first index of each column that holds a point, for sorted x.

    A column's first point is found by a binary search for its left edge, checked against
    `_bins` on either side of it (a point within rounding of an edge may belong to either
    column); if any check fails, every point's column is computed. Exact either way, and
    for a long series a few dozen searches instead of arithmetic on every point.
    """
    n = len(x)
    lo, hi = float(x[0]), float(x[-1])
    if n > 16 * columns and columns > 1:
        k = np.arange(1, columns)
        with np.errstate(all="ignore"):  # rounding only: the check below is exact
            edges = lo + (hi - lo) * (k / columns)
        if np.isfinite(edges).all():
            first = np.searchsorted(x, edges, side="left")
            at = _bins(x[np.minimum(first, n - 1)], lo, hi, columns)
            before = _bins(x[np.maximum(first - 1, 0)], lo, hi, columns)
            exact = ((first == n) | (at >= k)) & ((first == 0) | (before < k))
            if exact.all():
                first = np.concatenate(([0], first[first < n]))
                return first[np.concatenate(([True], first[1:] != first[:-1]))]
    bins = _bins(x, lo, hi, columns)
    return np.concatenate(([0], np.flatnonzero(bins[1:] != bins[:-1]) + 1))


def _one_per_column(bad_x: np.ndarray, all_x: np.ndarray, columns: int) -> np.ndarray:
    if len(bad_x) <= columns:
        return bad_x
    bins = _bins(bad_x, float(all_x[0]), float(all_x[-1]), columns)
    return bad_x[np.concatenate(([True], bins[1:] != bins[:-1]))]

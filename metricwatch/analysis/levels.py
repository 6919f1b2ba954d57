"""Recent levels for the rules: window and block medians, windows sized by points.

The smoothed curve a trend rule reads is smoothing.debiased_ema (the chart's
smoothing) at the weight weight_for picks; this module holds what is not a
smoothed curve but a level: the median of the points just before one (what a
spike is measured against: row_medians of the windows the rule needs) and the
medians of blocks of points (what a step run's oscillation is judged on, one
logged batch's loss being a sample). A median ignores a single spike and keeps
a level change sharp, and one of the points before never mixes a value with the
future, so the live monitor and a later re-read agree at every step. Windows are
a fraction of the curve's points (thresholds.window_fraction), so a 20-epoch run
and a log of 3,000 steps are both read over a tenth of their length.

Every function works on float64 arrays and is overflow-safe: values of 1e308
give infinities, never exceptions. All are pure; block_medians keeps its last
results for read-only arrays (the same values give the same medians).
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np

from metricwatch.analysis.smoothing import WEIGHTS, debiased_ema
from metricwatch.analysis.thresholds import THRESHOLDS, Thresholds

#: Values whose medians are taken at once (np.median sorts a copy of them): about 1 MB of
#: temporaries whatever the curve's length and window. Each row's median is its own, so
#: the rows are taken a chunk at a time with the same results; a 250,000-point curve's
#: medians taken at once made the summary's peak memory 4 to 8 MB higher.
_CHUNK_VALUES = 1 << 17


def _rows_at_once(width: int) -> int:
    """How many rows of `width` values to take the medians of at once."""
    return max(1, _CHUNK_VALUES // max(1, width))


def window_for(points: int, limits: Thresholds = THRESHOLDS) -> int:
    """The smoothing window for a curve of `points` points: odd, within [min, max]."""
    window = max(limits.window_min, math.ceil(points * limits.window_fraction))
    window = min(window, limits.window_max)
    return window if window % 2 else window + 1


def weight_for(points: int, limits: Thresholds = THRESHOLDS) -> float:
    """The chart's EMA weight (smoothing.WEIGHTS) closest to the window for `points` points.

    An EMA of weight w averages about (1 + w) / (1 - w) points; the rules take the
    offered weight nearest the window, so the user can show the curve a finding
    describes by picking that weight on the chart.
    """
    window = window_for(points, limits)
    offered = [w for w in WEIGHTS if w > 0]
    return min(offered, key=lambda w: abs((1 + w) / (1 - w) - window))


def smoothed(values: np.ndarray, points: int, limits: Thresholds = THRESHOLDS) -> np.ndarray:
    """The curve a trend rule reads: the chart's debiased EMA at weight_for(points)."""
    return debiased_ema(values, weight_for(points, limits))


def row_medians(rows: np.ndarray, which: np.ndarray) -> np.ndarray:
    """The medians of the rows `which` of a 2-D array (a sliding window view): the values
    np.median of all its rows gives them, for only the rows a rule needs."""
    out = np.empty(len(which), dtype=np.float64)
    chunk = _rows_at_once(rows.shape[1])
    with np.errstate(over="ignore"):  # the mean of two middle values of 1e308: inf
        for start in range(0, len(which), chunk):
            out[start : start + chunk] = np.median(rows[which[start : start + chunk]], axis=1)
    return out


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Each point's mean with the window - 1 before it (fewer at the start); overflow-safe."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    sums = np.convolve(values / window, np.ones(window))[: len(values)]  # divided first
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return sums * (window / counts)


def block_medians(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Medians of consecutive blocks of `size` points, and the index of each block's last point.

    A trailing partial block is kept when it holds at least half a block; fewer
    points than that say too little about the level to stand as a point.
    The last results are kept for the same read-only array (see _LastBlocks).
    """
    if size <= 1:
        values = np.asarray(values, dtype=np.float64)
        return values, np.arange(len(values))
    found = _LAST_BLOCKS.get(values, size)
    if found is None:
        found = _block_medians(np.asarray(values, dtype=np.float64), size)
        _LAST_BLOCKS.put(values, size, found)
    return found


def _block_medians(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    whole = len(values) // size
    blocks = values[: whole * size].reshape(whole, size)
    chunk = _rows_at_once(size)
    medians = np.empty(whole, dtype=np.float64)
    for start in range(0, whole, chunk):
        medians[start : start + chunk] = np.median(blocks[start : start + chunk], axis=1)
    ends = np.arange(1, whole + 1, dtype=np.int64) * size - 1
    rest = len(values) - whole * size
    if rest * 2 >= size:
        medians = np.append(medians, np.median(values[whole * size :]))
        ends = np.append(ends, len(values) - 1)
    medians.flags.writeable = ends.flags.writeable = False  # shared by the rules that ask
    return medians, ends


class _LastBlocks(threading.local):
    """The block medians last taken (KEPT of them, per thread), each for one read-only
    array (by identity, held weakly) and size. The trend, spike and oscillation rules of
    one analysis ask for the same loss curve's medians four times, at two sizes: half of
    a long run's analysis. A read-only array's values cannot change under it; a writable
    one (or another array) is worked out again."""

    KEPT = 4

    def __init__(self) -> None:
        self.kept: list[tuple[weakref.ref[np.ndarray], int, tuple[np.ndarray, np.ndarray]]] = []

    def get(self, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray] | None:
        for held, held_size, found in self.kept:
            if held() is values and held_size == size:
                return found
        return None

    def put(self, values: np.ndarray, size: int, found: tuple[np.ndarray, np.ndarray]) -> None:
        if isinstance(values, np.ndarray) and not values.flags.writeable:
            self.kept = [(weakref.ref(values), size, found), *self.kept[: self.KEPT - 1]]


_LAST_BLOCKS = _LastBlocks()


def reduced(values: np.ndarray, limits: Thresholds = THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """A curve cut to at most max_trend_points block medians (itself when short enough)."""
    size = math.ceil(len(values) / limits.max_trend_points)
    return block_medians(values, size)

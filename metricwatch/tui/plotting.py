"""Drawing a ChartSpec with plotext at a given size.

Kept apart from the widget so the cost of a redraw (reduce, then build) can
be measured without a terminal, and so every drawing rule lives in one
place: reduce each series to the plot's width first (plotext's build time
grows with the point count), draw log scales as log10 values with
real-valued tick labels (plotext's own yscale("log") breaks on redraw),
mark NaN/Inf points on the top edge instead of dropping them, and mark the
best epoch with a dashed vertical line.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metricwatch.downsample import reduce_minmax
from metricwatch.tui.charts import BAD_COLOR, MARKER_COLOR, ChartSpec, linear_ticks, log_ticks

#: Columns taken by the y tick labels and the axis, roughly (they shrink the plot area).
Y_LABEL_COLUMNS = 8
LINE_MARKER = "braille"  # 2 x 4 dots per cell: the smoothest line a terminal can draw
BAD_MARKER = "×"
BEST_MARKER = "┆"


def draw(plt: Any, spec: ChartSpec, width: int, height: int, theme: str | None = None) -> None:
    """Draw spec onto a plotext figure (a textual_plotext `Plot`, or the plotext module).

    The theme is set first: plotext fixes a text label's background when
    the label is added, so a theme applied afterwards leaves a wrong box.
    """
    plt.clear_figure()
    if theme is not None:
        plt.theme(theme)
    plt.plotsize(width, height)
    plt.xaxes(True, False)
    plt.yaxes(True, False)
    if spec.empty:
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xticks([], [])
        plt.yticks([], [])
        plt.text("waiting for data", 0.5, 0.5, alignment="center", color=MARKER_COLOR)
        return
    # One bin per terminal column: its min and max are the column's vertical extent, which is
    # all a column can show; more points only make plotext slower.
    columns = max(8, width - Y_LABEL_COLUMNS)
    all_x: list[np.ndarray] = []
    all_y: list[np.ndarray] = []
    bad_x: list[tuple[np.ndarray, str]] = []
    for line in spec.lines:
        x, y = line.x, line.y
        if spec.log_y:
            # Zero or negative values have no place on a log axis; the spec notes them.
            # Left in as NaN they would be drawn as the NaN/Inf marks, which they are not.
            keep = ~(np.isfinite(y) & (y <= 0))
            x, y = x[keep], y[keep]
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        reduced = reduce_minmax(x, y, columns)
        if len(reduced.x):
            marker = LINE_MARKER if len(reduced.x) > 1 else "●"
            plt.plot(reduced.x.tolist(), reduced.y.tolist(), marker=marker, color=line.color)
            all_y.append(reduced.y)
        all_x.append(x)
        if len(reduced.nonfinite_x):
            bad_x.append((reduced.nonfinite_x, line.color))
    xs = np.concatenate(all_x)
    x_lo, x_hi = float(xs.min()), float(xs.max())
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_lo, y_hi = _y_range(np.concatenate(all_y) if all_y else np.empty(0))
    plt.xlim(x_lo, x_hi)
    plt.ylim(y_lo, y_hi)
    label_width = max(8, len(_epoch_label(x_hi)) + 5)
    x_ticks, x_labels = _epoch_ticks(x_lo, x_hi, max(2, (width - Y_LABEL_COLUMNS) // label_width))
    plt.xticks(x_ticks, x_labels)
    rows = max(3, (height - 2) // 2)
    if spec.log_y:
        y_ticks, y_labels = log_ticks(y_lo, y_hi, rows)
    else:
        y_ticks, y_labels = linear_ticks(y_lo, y_hi, rows)
        y_labels = [label + spec.unit for label in y_labels]
    plt.yticks(y_ticks, y_labels)
    if spec.marker_x is not None:
        _best_marker(plt, spec, y_lo, y_hi, height, x_lo, x_hi)
    for positions, _color in bad_x:
        plt.scatter(positions.tolist(), [y_hi] * len(positions), marker=BAD_MARKER, color=BAD_COLOR)


def _y_range(values: np.ndarray) -> tuple[float, float]:
    if not len(values):
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _epoch_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """Whole-epoch ticks at a regular step: never 2.5 epochs, never 2, 5, 8, 10."""
    whole: list[float] = []
    for attempt in range(count, 1, -1):
        ticks, _ = linear_ticks(lo, hi, attempt)
        if ticks and all(abs(t - round(t)) < 1e-9 for t in ticks):
            whole = [float(round(t)) for t in ticks]
            break
    if not whole:
        whole = [float(math.ceil(lo))]
    return whole, [_epoch_label(t) for t in whole]


def _epoch_label(value: float) -> str:
    """`40`, `1200`, `25k`, `1.5M`: short enough that ticks never run into each other."""
    value = round(value)
    if abs(value) < 10_000:
        return str(value)
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{value / size:.4g}{suffix}"
    return str(value)


def _best_marker(
    plt: Any, spec: ChartSpec, lo: float, hi: float, height: int, x_lo: float, x_hi: float
) -> None:
    x = spec.marker_x
    rows = max(2, height - 2)
    ys = np.linspace(lo, hi, rows)[::2]
    plt.scatter([x] * len(ys), ys.tolist(), marker=BEST_MARKER, color=MARKER_COLOR)
    if spec.marker_label:
        left_half = x <= (x_lo + x_hi) / 2
        label = f" {spec.marker_label}" if left_half else f"{spec.marker_label} "
        plt.text(label, x, hi, alignment="left" if left_half else "right", color=MARKER_COLOR)

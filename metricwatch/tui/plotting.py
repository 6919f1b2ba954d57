"""Drawing a ChartSpec with plotext at a given size.

Kept apart from the widget so the cost of a redraw (reduce, then build) can
be measured without a terminal, and so every drawing rule lives in one
place: reduce each series to the plot's width first (plotext's build time
grows with the point count), draw log scales as log10 values with
real-valued tick labels (plotext's own yscale("log") breaks on redraw),
mark NaN/Inf points on the top edge instead of dropping them, and mark the
best epoch with a dashed vertical line.

plotext does its own arithmetic on whatever it is given (it pads ranges,
multiplies by 10**8 to round, takes log10 of spans) and raises on values
near the float limits. So plotext is never given a value from a file: the
pure `layout` maps every axis onto [0, 1] first (see `Axis`) and hands
plotext only those plot units, with tick labels written in real values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricwatch.analysis.downsample import fraction_of, reduce_minmax
from metricwatch.tui.axes import (
    decade,
    epoch_label,
    log_ticks,
    scale_down,
    scaled_ticks,
    time_ticks,
    whole_ticks,
)
from metricwatch.tui.braille import rasterize
from metricwatch.tui.charts import BAD_COLOR, MARKER_COLOR, ChartSpec, dimmed, themed
from metricwatch.tui.view_options import zoom_start

#: Columns taken by the y tick labels and the axis, roughly (they shrink the plot area).
Y_LABEL_COLUMNS = 8
LINE_MARKER = "braille"  # 2 x 4 dots per cell: the smoothest line a terminal can draw
BAD_MARKER = "×"
BEST_MARKER = "┆"
#: Where a point past the y range is marked when outliers are left out of the range.
HIGH_MARKER, LOW_MARKER = "▲", "▼"
#: The percent of points left out of the y range at either end when clipping outliers.
OUTLIER_PERCENT = 1.0
#: A range narrower than this fraction of its magnitude is drawn as flat: its ticks would
#: all print the same.
FLAT = 1e-12


@dataclass(frozen=True)
class Axis:
    """One axis mapped onto plot units: lo..hi (after padding) becomes 0..1.

    Values are first scaled (y: divided by 10**k, or log10 on a log axis),
    so lo and hi are small numbers and hi - lo cannot overflow; `place`
    maps real values onto [0, 1]. Tick positions are in plot units, labels
    in real values.
    """

    lo: float
    hi: float
    k: int = 0
    log: bool = False
    ticks: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Real values in this axis' scaled units (NaN where a log axis has no place)."""
        values = np.asarray(values, dtype=np.float64)
        return log10_positive(values) if self.log else scale_down(values, self.k)

    def place(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled values onto [0, 1]."""
        return fraction_of(np.asarray(scaled, dtype=np.float64), self.lo, self.hi)


def log10_positive(values: np.ndarray) -> np.ndarray:
    """log10 of positive values (-323.3 to 308.3 for finite ones), NaN for the others."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


@dataclass(frozen=True)
class Trace:
    x: tuple[float, ...]
    y: tuple[float, ...]
    color: int
    marker: str
    dim: bool = False  # the raw curve behind a smoothed one


@dataclass(frozen=True)
class Layout:
    """Everything plotext is given for one chart, every number in [0, 1]."""

    x: Axis
    y: Axis
    traces: tuple[Trace, ...] = ()
    bad_x: tuple[float, ...] = ()
    best_x: float | None = None
    best_label: str = ""
    best_align: str = "left"  # the label starts at the marker, or ends there ("right")
    message: str = ""
    #: x (plot units) of points past the y range when outliers are left out of it.
    clipped_high: tuple[float, ...] = ()
    clipped_low: tuple[float, ...] = ()

    def coordinates(self) -> list[float]:
        """Every coordinate plotext will see (for tests: all finite, all in [0, 1])."""
        values = [*self.x.ticks, *self.y.ticks, *self.bad_x, *self.clipped_high, *self.clipped_low]
        for trace in self.traces:
            values.extend(trace.x)
            values.extend(trace.y)
        if self.best_x is not None:
            values.append(self.best_x)
        return values


def layout(spec: ChartSpec, width: int, height: int, *, no_color: bool = False) -> Layout:
    """Reduce, scale and place the spec's lines; choose ticks. Pure; never raises on data.

    A smoothed line's raw values are reduced and placed too, as a dim trace drawn first.
    A zoomed spec keeps the points in the last `zoom` of its x range; a spec clipping
    outliers takes its y range from the 1st-99th percentile of what is shown and marks
    the points past it on the edge they pass.
    """
    columns = max(8, width - Y_LABEL_COLUMNS)
    start = zoom_start([line.x for line in spec.lines], spec.zoom)
    reduced = []
    x_lo, x_hi = math.inf, -math.inf
    for line in spec.lines:
        parts = [(line.raw, True), (line.y, False)] if line.raw is not None else [(line.y, False)]
        for values, dim in parts:
            x, y = line.x, values
            if start is not None:
                keep = x >= start
                x, y = x[keep], y[keep]
            if spec.log_y:
                # Zero or negative values have no place on a log axis; the spec notes them.
                # Left in as NaN they would be drawn as the NaN/Inf marks, which they are not.
                keep = ~(np.isfinite(y) & (y <= 0))
                if not keep.all():
                    x, y = x[keep], y[keep]
                y = log10_positive(y)
            # The raw curve behind a smoothed one at half the resolution: it is context, and
            # plotext's cost grows with the points it draws.
            reduction = reduce_minmax(x, y, max(4, columns // 2) if dim else columns)
            reduced.append((line, reduction, dim))
            if reduction.x_range is not None:
                x_lo, x_hi = min(x_lo, reduction.x_range[0]), max(x_hi, reduction.x_range[1])
    if x_lo > x_hi:
        return Layout(Axis(0.0, 1.0), Axis(0.0, 1.0), message=_empty_message(spec))
    x_axis = _x_axis(x_lo, x_hi, width, spec.x_kind)
    finite_y = [r.y for _, r, _ in reduced if len(r.y)]
    rows = max(3, (height - 2) // 2)
    shown = np.concatenate(finite_y) if finite_y else None
    if spec.clip_outliers and shown is not None:
        shown = inner_range(shown)
    y_axis = _y_axis(shown, spec, rows)
    traces = []
    bad: list[np.ndarray] = []
    high: list[np.ndarray] = []
    low: list[np.ndarray] = []
    for line, r, dim in reduced:
        if len(r.x):
            marker = line.mark if no_color else LINE_MARKER
            if len(r.x) == 1 and not no_color:
                marker = "●"
            px = x_axis.place(r.x)
            sy = r.y if spec.log_y else y_axis.scaled(r.y)  # log: already log10
            py = y_axis.place(sy)  # clipped to [0, 1]
            if spec.clip_outliers and not dim:
                high.append(px[sy > y_axis.hi])
                low.append(px[sy < y_axis.lo])
            trace = Trace(tuple(px.tolist()), tuple(py.tolist()), line.color, marker, dim)
            traces.append(trace)
        if len(r.nonfinite_x) and not dim:
            bad.append(x_axis.place(r.nonfinite_x))
    best_x, best_label, best_align = None, "", "left"
    if spec.marker_x is not None and x_axis.contains(spec.marker_x):
        best_x = float(x_axis.place(np.array([spec.marker_x]))[0])
        plot_columns = width - max((len(label) for label in y_axis.labels), default=0) - 2
        best_label, best_align = _fit_label(spec.marker_label, best_x, plot_columns)
    return Layout(
        x_axis,
        y_axis,
        tuple(traces),
        tuple(np.concatenate(bad).tolist()) if bad else (),
        best_x,
        best_label,
        best_align,
        "" if finite_y else _empty_message(spec),
        clipped_high=_joined(high),
        clipped_low=_joined(low),
    )


def inner_range(values: np.ndarray) -> np.ndarray:
    """The 1st and 99th percentile of values: the y range when outliers are left out.
    Points of the data, not interpolated between them: between -1.7e308 and 1.7e308 an
    interpolation overflows."""
    bounds = [OUTLIER_PERCENT, 100 - OUTLIER_PERCENT]
    lo, hi = np.percentile(values, bounds, method="closest_observation")
    return np.array([lo, hi], dtype=np.float64)


def _joined(parts: list[np.ndarray]) -> tuple[float, ...]:
    parts = [p for p in parts if len(p)]
    return tuple(np.unique(np.concatenate(parts)).tolist()) if parts else ()


def _fit_label(label: str, x: float, columns: int) -> tuple[str, str]:
    """The marker label on the side of the marker where it fits, shortened if neither does.

    `best 12 (Val Accuracy 87.0%)`, then `best 12 (87.0%)`, then `best 12`: plotext
    drops or cuts a text that runs past the plot's edge.
    """
    column = round(x * (columns - 1))
    variants = [label, re.sub(r"\((?:.* )?(\S+)\)$", r"(\1)", label), label.split(" (")[0]]
    for text in dict.fromkeys(variants):
        if not text:
            continue
        if column + 1 + len(text) <= columns:
            return f" {text}", "left"
        if column - 1 - len(text) >= 0:
            return f"{text} ", "right"
    return "", "left"


def _x_axis(lo: float, hi: float, width: int, kind: str = "") -> Axis:
    """Epochs: the data's range (one epoch either side of a single point), whole-number ticks.

    Ticks stay inside the data's epochs: a run at epoch 0 gets no tick at -1.
    """
    first, last = lo, hi
    if not hi > lo:
        pad = max(1.0, abs(lo) * 1e-9)  # relative past 1e9: lo - 1 == lo in floats
        limit = float(np.finfo(np.float64).max)
        lo, hi = max(lo - pad, -limit), min(hi + pad, limit)  # a point at the float limit
    axis = _EpochAxis(float(lo), float(hi))
    if kind:
        count = max(2, (width - Y_LABEL_COLUMNS) // 10)
        ticks, labels = time_ticks(first, last, count, wall=kind == "wall")
    else:
        label_width = max(8, len(epoch_label(last)) + 5, len(epoch_label(first)) + 5)
        count = max(2, (width - Y_LABEL_COLUMNS) // label_width)
        ticks = [float(t) for t in whole_ticks(first, last, count)]
        labels = [epoch_label(t) for t in ticks]
    places = axis.place(np.array(ticks, dtype=np.float64)) if ticks else np.empty(0)
    return _EpochAxis(axis.lo, axis.hi, ticks=tuple(places.tolist()), labels=tuple(labels))


@dataclass(frozen=True)
class _EpochAxis(Axis):
    """The x axis: real epochs, no scaling (fraction_of handles any finite range)."""

    def scaled(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def contains(self, value: float) -> bool:
        return math.isfinite(value) and self.lo <= value <= self.hi


def _y_axis(values: np.ndarray | None, spec: ChartSpec, rows: int) -> Axis:
    """The y range of the (already log10ed on a log axis) values, padded, in scaled units."""
    if values is None or not len(values):
        return Axis(0.0, 1.0, log=spec.log_y)
    if spec.log_y:
        k = 0
        scaled = values  # log10s: within -324..309
    else:
        k = decade(max(abs(float(values.min())), abs(float(values.max()))))
        scaled = scale_down(values, k)
    lo, hi = float(scaled.min()), float(scaled.max())
    if hi - lo <= max(abs(lo), abs(hi)) * FLAT:
        pad = 0.5 if spec.log_y else (abs(lo) * 0.1 or 1.0)
    else:
        pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    if spec.log_y:
        positions, labels = log_ticks(lo, hi, rows)
    else:
        positions, labels = scaled_ticks(lo, hi, rows, k)
        labels = [label + spec.unit for label in labels]
    axis = Axis(lo, hi, k, spec.log_y)
    places = axis.place(np.array(positions, dtype=np.float64)) if positions else np.empty(0)
    return Axis(lo, hi, k, spec.log_y, tuple(places.tolist()), tuple(labels))


def _empty_message(spec: ChartSpec) -> str:
    if spec.empty:
        return "waiting for data"
    if spec.log_y:
        return "no positive value"  # short: plotext drops a text wider than the plot
    return "no finite value"


def draw(
    plt: Any,
    spec: ChartSpec,
    width: int,
    height: int,
    theme: str | None = None,
    *,
    no_color: bool = False,
    dark: bool = True,
) -> Layout:
    """Draw spec onto a plotext figure (a textual_plotext `Plot`, or the plotext module).

    The theme is set first: plotext fixes a text label's background when
    the label is added, so a theme applied afterwards leaves a wrong box.
    Colours are the style table's, or their ON_LIGHT versions when not
    `dark`. Returns the layout drawn (plot units, ticks, labels).
    """
    plan = layout(spec, width, height, no_color=no_color)
    plt.clear_figure()
    if theme is not None:
        plt.theme(theme)
    plt.plotsize(width, height)
    plt.xaxes(True, False)
    plt.yaxes(True, False)
    plt.xlim(0.0, 1.0)
    plt.ylim(0.0, 1.0)
    plt.xticks(list(plan.x.ticks), list(plan.x.labels))
    plt.yticks(list(plan.y.ticks), list(plan.y.labels))
    if plan.traces:
        _draw_lines(plt, plan, width, height, dark)
    grey = themed(MARKER_COLOR, dark)
    for xs, y, mark in ((plan.clipped_high, 1.0, HIGH_MARKER), (plan.clipped_low, 0.0, LOW_MARKER)):
        if xs:
            plt.scatter(list(xs), [y] * len(xs), marker=mark, color=grey)
    if plan.best_x is not None:
        _best_marker(plt, plan, height, grey)
    if plan.bad_x:
        bad = themed(BAD_COLOR, dark)
        plt.scatter(list(plan.bad_x), [1.0] * len(plan.bad_x), marker=BAD_MARKER, color=bad)
    if plan.message:
        plt.text(plan.message, 0.5, 0.5, alignment="center", color=grey)
    return plan


def _draw_lines(plt: Any, plan: Layout, width: int, height: int, dark: bool) -> None:
    """The traces as plotext would draw them, rasterised with numpy (see `braille`): one
    point a covered cell, given to plotext as one scatter."""
    colors = [dimmed(t.color, dark) if t.dim else themed(t.color, dark) for t in plan.traces]
    columns, rows = canvas_size(plan, width, height)
    cells = rasterize(plan.traces, colors, columns, rows)
    if len(cells):
        xs, ys = _cell_units(cells.columns, columns), _cell_units(cells.rows, rows)
        plt.scatter(xs, ys, marker=cells.chars, color=cells.colors)


def canvas_size(plan: Layout, width: int, height: int) -> tuple[int, int]:
    """The cells plotext leaves for data in a `width` x `height` plot of this layout: the
    left axis and the y labels' width off the columns, the bottom axis and the x labels'
    row off the rows (no title, no axis names)."""
    label_width = max((len(label) for label in plan.y.labels), default=0)
    return width - 1 - label_width, height - 1 - (1 if plan.x.labels else 0)


def _cell_units(cells: np.ndarray, count: int) -> list[float]:
    """Plot units that plotext places in exactly these cells (of `count`)."""
    if count <= 1:
        return [0.0] * len(cells)
    return (cells / (count - 1)).tolist()


def _best_marker(plt: Any, plan: Layout, height: int, color: int) -> None:
    x = plan.best_x
    rows = max(2, height - 2)
    ys = np.linspace(0.0, 1.0, rows)[::2]
    plt.scatter([x] * len(ys), ys.tolist(), marker=BEST_MARKER, color=color)
    if plan.best_label:
        plt.text(plan.best_label, x, 1.0, alignment=plan.best_align, color=color)

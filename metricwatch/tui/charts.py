"""Which charts a run gets and what goes on each: pure decisions, no drawing.

Seed §3: a loss chart (train blue, val orange, best epoch marked), metric
charts apart from the loss (metrics of different scales never share a y
axis), a learning-rate chart on a log scale when it spans orders of
magnitude, and a gradient-norm chart when those are logged. The widgets
only draw what a ChartSpec says.

Every value a file can hold is valid input here: +/-1.7e308, denormals,
NaN and Inf. Nothing below computes a difference, ratio or mean of raw
values that could overflow; magnitudes are compared as log10s (the axis
arithmetic is in axes.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from metricwatch.analysis.summary import RunSummary
from metricwatch.metrics import (
    GRADIENT_KEYS,
    LOSS_KEYS,
    Kind,
    format_value,
    spec_for,
    task_metric_keys,
)
from metricwatch.tui.axes import epoch_label, linear_ticks, log_ticks
from metricwatch.tui.state import RunState
from metricwatch.tui.view_options import AXIS_NAMES, ViewOptions, is_loss_chart

__all__ = ["ChartSpec", "Line", "charts_for", "linear_ticks", "log_ticks", "visible"]

# --- the one style table --------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesStyle:
    """How one series is drawn: its colour, and the marker that replaces colour under NO_COLOR.

    Colours are xterm-256 indexes: plotext draws them and Rich styles the
    legend swatch as `color(N)`, so both degrade the same way. The marker is
    a plotext marker character, drawn instead of braille under NO_COLOR and
    shown in the legend there, so series stay apart without colour.
    """

    color: int
    mark: str


#: Train is blue and val orange on every chart (seed §3.1): loss, accuracy, any metric pair.
TRAIN_STYLE = SeriesStyle(33, "•")
VAL_STYLE = SeriesStyle(208, "+")  # plotext's "orange" is ANSI yellow: use the 256 index
#: Series that are neither half of a train/val pair; never blue or orange, never a mark above.
OTHER_STYLES = (
    SeriesStyle(41, "o"),  # green
    SeriesStyle(170, "*"),  # magenta
    SeriesStyle(44, "#"),  # cyan
    SeriesStyle(220, "@"),  # yellow
    SeriesStyle(141, "%"),  # lavender
    SeriesStyle(252, "="),  # light grey
)
MARKER_COLOR = 250  # light grey: the best-epoch line and its label
BAD_COLOR = 203  # red: NaN/Inf marks and notes
#: The same hues, darker, on a light theme: there the bright ones fade into the background
#: (orange 208 on white is 2.4:1). Every colour above has one.
ON_LIGHT = {
    33: 25,
    208: 130,
    41: 28,
    170: 127,
    44: 30,
    220: 94,
    141: 91,
    252: 240,
    250: 239,
    203: 124,
}
#: The raw curve behind a smoothed one: the same hue, darker (lighter on a light theme).
DIMMED = {33: 24, 208: 94, 41: 22, 170: 90, 44: 23, 220: 100, 141: 60, 252: 243}
DIMMED_ON_LIGHT = {33: 153, 208: 223, 41: 157, 170: 219, 44: 159, 220: 229, 141: 189, 252: 254}


def dimmed(color: int, dark: bool = True) -> int:
    """The dim version of a line colour, for the raw curve drawn behind a smoothed one."""
    table = DIMMED if dark else DIMMED_ON_LIGHT
    return table.get(color, 240 if dark else 252)


#: At most this many lines on one metric chart; more go to the next chart of the group.
MAX_LINES = 4
#: Series whose typical magnitudes differ by more than this many decades get separate charts.
SCALE_DECADES = 1.0
#: The most values _magnitude reads (every n-th of a longer series).
MAGNITUDE_SAMPLE = 4096


def themed(color: int, dark: bool = True) -> int:
    """The colour to draw on a dark (the table's own) or a light background."""
    return color if dark else ON_LIGHT.get(color, color)


def pair_style(key: str, keys: Sequence[str]) -> SeriesStyle | None:
    """TRAIN_STYLE for train_*, VAL_STYLE for val_loss and for a val_* whose train_* is logged."""
    if key.startswith("train_"):
        return TRAIN_STYLE
    if key == "val_loss" or (key.startswith("val_") and "train_" + key[4:] in keys):
        return VAL_STYLE
    return None


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    x: np.ndarray
    y: np.ndarray
    color: int
    mark: str = "•"
    unit: str = "epoch"  # what x counts: "epoch", or "step" in a run logged per step
    #: The raw values behind a smoothed `y`, drawn first in a dim style; None when unsmoothed.
    raw: np.ndarray | None = None
    #: The factor from the file's values to `y` (100 / scale on a percent chart).
    factor: float = 1.0


@dataclass(frozen=True)
class ChartSpec:
    """One chart: its lines (y already in display units) and how to label it."""

    id: str
    title: str
    lines: tuple[Line, ...]
    log_y: bool = False
    unit: str = ""
    marker_x: float | None = None
    marker_label: str = ""
    notes: tuple[str, ...] = field(default=())
    #: The same notes shorter, one for one, for a frame too narrow for `notes`.
    short_notes: tuple[str, ...] = field(default=())
    #: The y range leaves out the lowest and highest 1% of what is shown (the `o` key).
    clip_outliers: bool = False
    #: The x range shown: the last `zoom` of the data's range (the `[` key); 1 is all of it.
    zoom: float = 1.0
    #: What x is: "" (epochs or steps: whole-number ticks), "relative" (seconds since the
    #: start, ticks as durations), "wall" (Unix seconds, ticks as clock times).
    x_kind: str = ""

    @property
    def empty(self) -> bool:
        return not any(len(line.x) for line in self.lines)


def charts_for(state: RunState, view: ViewOptions | None = None) -> list[ChartSpec]:
    """Every chart the run has data for, in display order: loss, metrics, other losses, LR,
    gradients. Every logged series is on one of them. A step run's charts say so in their
    title (`Loss by step`): its x axis counts optimiser steps, not epochs. `view` (the
    keys' choices) smooths, clips, zooms and puts the losses on a log scale."""
    charts = _plain_charts(state)
    return [with_view(chart, state, view) for chart in charts] if view is not None else charts


def with_view(chart: ChartSpec, state: RunState, view: ViewOptions) -> ChartSpec:
    """A chart under the view's choices: its lines smoothed (the raw ones kept behind),
    the loss charts on a log scale when asked, outliers out of the y range, the x zoomed."""
    x = state.summary.x
    weight = view.smoothing_for(x)
    lines = chart.lines
    if weight and chart.id != "lr":  # a schedule is not noise: the LR chart stays raw
        lines = tuple(_smoothed(line, state, weight) for line in lines)
    log_y = chart.log_y
    notes = list(zip(chart.notes, chart.short_notes or chart.notes))
    axis = view.axis_for(x)
    marker_x, marker_label = chart.marker_x, chart.marker_label
    title = chart.title
    if axis != x:
        lines, missing = _on_axis(lines, state, axis)
        marker_x, marker_label = _marker_on_axis(state, chart, axis)
        title = f"{title.split(' by ')[0]} by {AXIS_NAMES[axis]}"
        if missing:
            names = ", ".join(missing)
            notes.append((f"no {AXIS_NAMES[axis]} for {names}", f"no {AXIS_NAMES[axis]}"))
    if view.log_y and is_loss_chart(chart.id) and not log_y:
        log_y = True
        notes += _nonpositive_notes(lines)
    return replace(
        chart,
        title=title,
        lines=lines,
        log_y=log_y,
        clip_outliers=view.outliers_for(x),
        zoom=view.zoom_fraction,
        marker_x=marker_x,
        marker_label=marker_label,
        x_kind=axis if axis in ("relative", "wall") else "",
        **_notes(notes),
    )


def _marker_on_axis(state: RunState, chart: ChartSpec, axis: str) -> tuple[float | None, str]:
    """The best point's marker on another x axis: placed at that point's epoch or time, its
    label naming the point in the run's own terms (`best step 1200 (0.31)`). None where
    that point has no such x (a time the file does not give)."""
    best_x, key = chart.marker_x, state.summary.best_by
    if best_x is None or key is None or key not in state.keys:
        return None, ""
    steps = state.column(key)[0]
    at = np.flatnonzero(steps == best_x)
    placed = state.x_values(key, axis)
    if not len(at) or placed is None or not math.isfinite(placed[at[0]]):
        return None, ""
    # `best 1200 (0.31)` names a point of the run's own axis: say which
    label = chart.marker_label.replace("best ", f"best {state.summary.x} ", 1)
    return float(placed[at[0]]), label


def _on_axis(
    lines: tuple[Line, ...], state: RunState, axis: str
) -> tuple[tuple[Line, ...], list[str]]:
    """The lines with x on another axis; the keys without that axis are left out, named."""
    out, missing = [], []
    for line in lines:
        x = state.x_values(line.key, axis)
        if x is None:
            missing.append(line.key)
        else:
            out.append(replace(line, x=x, unit=AXIS_NAMES[axis]))
    return tuple(out), missing


def _smoothed(line: Line, state: RunState, weight: float) -> Line:
    """The line smoothed with the state's cached EMA, in the line's display scale (percent)."""
    smooth = state.smoothed(line.key, weight)
    if line.factor != 1.0:
        smooth = _scaled(smooth, line.factor)
    return replace(line, y=smooth, raw=line.y)


def _plain_charts(state: RunState) -> list[ChartSpec]:
    charts = [loss_chart(state)]
    charts.extend(metric_charts(state))
    charts.extend(other_loss_charts(state))
    if lr_keys(state.keys):
        charts.append(lr_chart(state))
    grads = [k for k in GRADIENT_KEYS if k in state.keys]
    if grads:
        charts.append(grad_chart(state, grads))
    if state.summary.x != "epoch":
        charts = [replace(chart, title=f"{chart.title} by {state.summary.x}") for chart in charts]
    return unique_titles(charts)


def visible(charts: Sequence[ChartSpec], capacity: int, offset: int) -> list[ChartSpec]:
    """The charts that fit: the loss chart always, the rest rotated by offset (the `m` key)."""
    if len(charts) <= capacity:
        return list(charts)
    first, pool = charts[0], list(charts[1:])
    shift = offset % len(pool)
    rotated = pool[shift:] + pool[:shift]
    return [first, *rotated[: max(0, capacity - 1)]]


def unique_titles(charts: list[ChartSpec]) -> list[ChartSpec]:
    """`Metrics (%) 1/2`, `Metrics (%) 2/2`: no two charts on screen share a title."""
    totals: dict[str, int] = {}
    for chart in charts:
        totals[chart.title] = totals.get(chart.title, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for chart in charts:
        total = totals[chart.title]
        if total > 1:
            seen[chart.title] = seen.get(chart.title, 0) + 1
            chart = replace(chart, title=f"{chart.title} {seen[chart.title]}/{total}")
        out.append(chart)
    return out


# --- the charts -----------------------------------------------------------------------------


def _styled_lines(state: RunState, keys: Sequence[str], labels: Sequence[str]) -> list[Line]:
    """Lines in the table's styles: the train/val pair's, then the others' in order."""
    lines = []
    others = 0
    for key, label in zip(keys, labels):
        x, y = state.drawn_column(key)
        style = pair_style(key, state.keys)
        if style is None:
            style = OTHER_STYLES[others % len(OTHER_STYLES)]
            others += 1
        lines.append(Line(key, label, x, y, style.color, style.mark, state.summary.x))
    return lines


def loss_chart(state: RunState) -> ChartSpec:
    keys = [k for k in ("train_loss", "val_loss") if k in state.keys]
    lines = _styled_lines(state, keys, [k.split("_")[0] for k in keys])
    marker_x, marker_label = best_marker(state.summary)
    return ChartSpec(
        "loss",
        "Loss",
        tuple(lines),
        marker_x=marker_x,
        marker_label=marker_label,
        **_notes(_nonfinite_notes(lines)),
    )


def best_marker(summary: RunSummary) -> tuple[float | None, str]:
    """The summary's best epoch and value, as the summary prints them: `best 12 (0.3412)`.

    The epoch and the value are the ones summary.best_of found for the
    ranking key (the summary's Best Epoch row), formatted by the registry
    with the same scale as the summary's own row; the key is named unless
    it is val_loss, the seed's ranking key.
    """
    key, epoch = summary.best_by, summary.best_step
    if key is None or epoch is None:
        return None, ""
    best = summary.best.get(key)
    label = f"best {epoch}"
    if best is not None:
        line = next((m for m in summary.metrics if m.key == key), None)
        shown = line.format(best.value) if line is not None else format_value(key, best.value)
        what = "" if key == "val_loss" else f"{spec_for(key).label} "
        label += f" ({what}{shown})"
    return float(epoch), label


def metric_groups(state: RunState) -> list[list[str]]:
    """Task metrics grouped so each chart's lines share a scale.

    Fraction-like metrics share one chart in percent (each normalised with
    the summary's scale for it, the declared one or fraction_scale's guess, so
    0.95 and 45.3 both read as %); every other
    kind is split by magnitude, so MSE never flattens MAE and R² sits apart.
    A train/val pair stays on one chart.
    """
    keys = task_metric_keys(state.keys)
    fractions = [k for k in keys if spec_for(k).kind is Kind.FRACTION]
    groups: list[list[str]] = _chunks(_paired(fractions))
    by_kind: dict[Kind, list[str]] = {}
    for key in keys:
        kind = spec_for(key).kind
        if kind is not Kind.FRACTION:
            by_kind.setdefault(kind, []).append(key)
    for members in by_kind.values():
        groups.extend(_chunks_by_scale(state, members))
    return groups


#: A metric chart's title by the kind of its lines.
_GROUP_TITLES = {Kind.FRACTION: "Metrics (%)", Kind.ERROR: "Errors", Kind.SCORE: "Scores"}


def metric_charts(state: RunState) -> list[ChartSpec]:
    charts = []
    scales = {line.key: line.scale for line in state.summary.metrics}
    for index, keys in enumerate(metric_groups(state)):
        percent = all(spec_for(k).kind is Kind.FRACTION for k in keys)
        lines = _styled_lines(state, keys, [spec_for(k).label for k in keys])
        if percent:
            # The summary's scale for each key: the format's declared one (detectron2's AP is
            # 0-100) or, where none is declared, fraction_scale's guess (0-1 or 0-100).
            lines = [_percent(line, scales.get(line.key, 1.0)) for line in lines]
        kinds = {spec_for(k).kind for k in keys}
        title = _GROUP_TITLES.get(kinds.pop(), "Metrics") if len(kinds) == 1 else "Metrics"
        charts.append(
            ChartSpec(
                f"metrics-{index}",
                title,
                tuple(lines),
                log_y=False,
                unit="%" if percent else "",
                **_notes(_nonfinite_notes(lines)),
            )
        )
    return charts


def other_loss_charts(state: RunState) -> list[ChartSpec]:
    """Losses besides train_loss/val_loss (`train_box_loss`, `val_cls_loss`...), by scale.

    They are neither task metrics nor the seed's two losses; without this
    chart they were drawn nowhere.
    """
    keys = [k for k in state.keys if k not in LOSS_KEYS and spec_for(k).kind is Kind.LOSS]
    charts = []
    for index, group in enumerate(_chunks_by_scale(state, _paired(keys))):
        lines = _styled_lines(state, group, [spec_for(k).label for k in group])
        charts.append(
            ChartSpec(
                f"losses-{index}", "Other losses", tuple(lines), **_notes(_nonfinite_notes(lines))
            )
        )
    return charts


def _percent(line: Line, scale: float) -> Line:
    factor = 100.0 / scale if scale and math.isfinite(scale) else 100.0
    # Keeps the unit: a step run's notes say "step", not "epoch".
    return replace(line, y=_scaled(line.y, factor), factor=factor)


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        y = values * factor
    # A finite value the factor pushed past the float range stays finite (at the largest float):
    # it is data, not an Inf the file held.
    return np.where(np.isfinite(values) & ~np.isfinite(y), np.copysign(np.finfo(float).max, y), y)


def lr_keys(keys: Sequence[str]) -> list[str]:
    """The learning rates a run logs: `lr` (the schedule) first, then the other parameter
    groups (`lr_pg0`, `lr_pg2`...), each a learning rate by the registry."""
    others = [k for k in keys if k != "lr" and spec_for(k).kind is Kind.LR]
    return (["lr"] if "lr" in keys else []) + others


def lr_chart(state: RunState) -> ChartSpec:
    """The schedule (`lr`) and every other parameter group's learning rate, one line each.

    Ultralytics logs three groups: `lr` is the weights' group (the schedule) and
    `lr/pg0` the biases', which warms up from 0.1, so both are drawn, with a legend
    of the file's own names. A group equal to one already drawn at every point (often
    all three are) is not drawn again over it, where it would hide that line: a note
    under the chart names it.
    """
    keys = lr_keys(state.keys)
    drawn: list[str] = []
    same: dict[str, list[str]] = {}
    for key in keys:
        twin = next((k for k in drawn if _same_points(state, k, key)), None)
        if twin is None:
            drawn.append(key)
        else:
            same.setdefault(twin, []).append(key)
    names = _group_names(state, keys)
    lines = _styled_lines(state, drawn, [names[k] for k in drawn])
    values = np.concatenate([line.y for line in lines])
    log_y = spans_decades(values)
    notes = _nonfinite_notes(lines) + (_nonpositive_notes(lines) if log_y else [])
    for twin, keys_alike in same.items():
        equal = f"{', '.join(names[k] for k in keys_alike)} = {names[twin]}"
        notes.append((f"{equal} throughout", equal))
    return ChartSpec("lr", "Learning rate", tuple(lines), log_y=log_y, **_notes(notes))


def _same_points(state: RunState, a: str, b: str) -> bool:
    """Whether two series hold the same values at the same x (NaN where the other has NaN)."""
    (xa, ya), (xb, yb) = state.column(a), state.column(b)
    return np.array_equal(xa, xb) and np.array_equal(ya, yb, equal_nan=True)


def _group_names(state: RunState, keys: Sequence[str]) -> dict[str, str]:
    """The LR chart's legend: each key's name in the file (`lr/pg1`, `x/lr0`) where the
    reader kept it, after the folder they all share (`pg1`, `lr0`); `lr` for the schedule
    when there is no other name. The schedule line says it is lr: `lr (pg1)`."""
    sources = state.meta.get("source_keys")
    sources = sources if isinstance(sources, dict) else {}
    names = {k: str(sources.get(k, k)) for k in keys}
    folders = {n.rsplit("/", 1)[0] for n in names.values() if "/" in n}
    if len(folders) == 1 and all("/" in n for n in names.values()):
        names = {k: n.rsplit("/", 1)[1] for k, n in names.items()}
    if "lr" in names and names["lr"] != "lr":
        names["lr"] = f"lr ({names['lr']})"
    return names


def grad_chart(state: RunState, keys: Sequence[str]) -> ChartSpec:
    lines = _styled_lines(state, keys, [spec_for(k).label for k in keys])
    values = np.concatenate([line.y for line in lines]) if lines else np.empty(0)
    log_y = spans_decades(values)
    return ChartSpec(
        "grad",
        "Gradients",
        tuple(lines),
        log_y=log_y,
        **_notes(_nonfinite_notes(lines) + (_nonpositive_notes(lines) if log_y else [])),
    )


# --- helpers --------------------------------------------------------------------------------


def spans_decades(values: np.ndarray) -> bool:
    """Whether positive finite values span more than one order of magnitude."""
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) < 2:
        return False
    # Compared as log10s: max / min overflows for 1.7e308 / 5e-324.
    return math.log10(float(positive.max())) - math.log10(float(positive.min())) > 1.0


def _paired(keys: list[str]) -> list[str]:
    """Each val_* right after its train_*, so a chunk boundary never splits the pair."""
    out: list[str] = []
    for key in keys:
        if key in out:
            continue
        out.append(key)
        if key.startswith("train_") and "val_" + key[6:] in keys:
            out.append("val_" + key[6:])
    return out


def _chunks(keys: list[str]) -> list[list[str]]:
    """Runs of at most MAX_LINES keys; a train/val pair (adjacent after _paired) stays whole."""
    units: list[list[str]] = []
    for key in keys:
        if units and units[-1][-1].startswith("train_") and key == "val_" + units[-1][-1][6:]:
            units[-1].append(key)
        else:
            units.append([key])
    chunks: list[list[str]] = []
    for unit in units:
        if chunks and len(chunks[-1]) + len(unit) <= MAX_LINES:
            chunks[-1].extend(unit)
        else:
            chunks.append(list(unit))
    return chunks


def _chunks_by_scale(state: RunState, keys: list[str]) -> list[list[str]]:
    sizes = {key: _magnitude(state.column(key)[1]) for key in keys}
    sized = sorted(keys, key=sizes.__getitem__)
    groups: list[list[str]] = []
    floor = -math.inf
    for key in sized:
        size = sizes[key]
        fits = groups and len(groups[-1]) < MAX_LINES
        if fits and size <= floor + SCALE_DECADES:
            groups[-1].append(key)
        else:
            groups.append([key])
            floor = size
    return groups


def _magnitude(values: np.ndarray) -> float:
    """The median decade of a series' non-zero finite values (-400 for none); of every
    n-th value past MAGNITUDE_SAMPLE values: a decade is a coarse measure, and a million
    points need not be sorted at every redraw to tell 0.1 from 100."""
    if len(values) > MAGNITUDE_SAMPLE:
        values = values[:: -(-len(values) // MAGNITUDE_SAMPLE)]
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    return float(np.median(np.log10(finite))) if len(finite) else -400.0


def _notes(pairs: list[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """ChartSpec's notes and short_notes from (note, short note) pairs."""
    return {"notes": tuple(n for n, _ in pairs), "short_notes": tuple(s for _, s in pairs)}


def _nonpositive_notes(lines: Sequence[Line]) -> list[tuple[str, str]]:
    """`lr: 0 at 4 epochs, not on the log scale`: such points are left out, so say so."""
    notes = []
    for line in lines:
        low = np.isfinite(line.y) & (line.y <= 0)
        count = int(low.sum())
        if count:
            what = "0" if not (line.y[low] < 0).any() else "≤ 0"
            at = f"{line.key}: {what} at {count} {line.unit}{'' if count == 1 else 's'}"
            notes.append((f"{at}, not on the log scale", f"{at}, not shown"))
    return notes


def _nonfinite_notes(lines: Sequence[Line]) -> list[tuple[str, str]]:
    """`val_loss: NaN from epoch 12 (3 epochs)`: non-finite points are shown, never dropped."""
    notes = []
    for line in lines:
        bad = ~np.isfinite(line.y)
        if not bad.any():
            continue
        first = int(np.argmax(bad))
        value = float(line.y[first])
        kind = "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
        count = int(bad.sum())
        since = f"{line.key}: {kind} from {line.unit} {epoch_label(float(line.x[first]))}"
        notes.append((since + (f" ({count} {line.unit}s)" if count > 1 else ""), since))
    return notes

"""Which charts a run gets and what goes on each: pure decisions, no drawing.

Seed §3: a loss chart (train blue, val orange, best epoch marked), metric
charts apart from the loss (metrics of different scales never share a y
axis), a learning-rate chart on a log scale when it spans orders of
magnitude, and a gradient-norm chart when those are logged. The widgets
only draw what a ChartSpec says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from metricwatch.metrics import (
    GRADIENT_KEYS,
    Kind,
    format_sig,
    format_value,
    spec_for,
    task_metric_keys,
)
from metricwatch.tui.state import RunState

# Colours are xterm-256 indexes: plotext draws them, Rich styles them as `color(N)` in the
# legends, and both degrade the same way (NO_COLOR, 16-colour terminals).
TRAIN_COLOR = 33  # blue
VAL_COLOR = 208  # orange (plotext's "orange" is ANSI yellow)
METRIC_COLORS = (41, 170, 44, 220, 99, 203)
LR_COLOR = 44  # cyan
GRAD_COLORS = (170, 203)
MARKER_COLOR = 250  # light gray
BAD_COLOR = 196  # red
#: At most this many lines on one metric chart; more go to the next chart of the group.
MAX_LINES = 4
#: Series whose typical magnitudes differ by more than this factor get separate charts.
SCALE_FACTOR = 10.0


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    x: np.ndarray
    y: np.ndarray
    color: int


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

    @property
    def empty(self) -> bool:
        return not any(len(line.x) for line in self.lines)


def charts_for(state: RunState) -> list[ChartSpec]:
    """Every chart the run has data for, in display order: loss, metrics, LR, gradients."""
    charts = [loss_chart(state)]
    charts.extend(metric_charts(state))
    if "lr" in state.keys:
        charts.append(lr_chart(state))
    grads = [k for k in GRADIENT_KEYS if k in state.keys]
    if grads:
        charts.append(grad_chart(state, grads))
    return charts


def visible(charts: Sequence[ChartSpec], capacity: int, offset: int) -> list[ChartSpec]:
    """The charts that fit: the loss chart always, the rest rotated by offset (the `m` key)."""
    if len(charts) <= capacity:
        return list(charts)
    first, pool = charts[0], list(charts[1:])
    shift = offset % len(pool)
    rotated = pool[shift:] + pool[:shift]
    return [first, *rotated[: max(0, capacity - 1)]]


# --- the charts -----------------------------------------------------------------------------


def loss_chart(state: RunState) -> ChartSpec:
    lines = []
    for key, label, color in (
        ("train_loss", "train", TRAIN_COLOR),
        ("val_loss", "val", VAL_COLOR),
    ):
        if key in state.keys:
            x, y = state.column(key)
            lines.append(Line(key, label, x, y, color))
    best = state.summary.best_epoch if state.summary.best_by == "val_loss" else None
    marker_label = ""
    if best is not None:
        value = state.summary.best.get("val_loss")
        shown = format_value("val_loss", value.value) if value else ""
        marker_label = f"best {best}" + (f" ({shown})" if shown else "")
    return ChartSpec(
        "loss",
        "Loss",
        tuple(lines),
        marker_x=float(best) if best is not None else None,
        marker_label=marker_label,
        notes=_nonfinite_notes(lines),
    )


def metric_groups(state: RunState) -> list[list[str]]:
    """Task metrics grouped so each chart's lines share a scale.

    Fraction-like metrics share one chart in percent (each normalised with
    its own fraction_scale, so 0.95 and 45.3 both read as %); every other
    kind is split by magnitude, so MSE never flattens MAE and R² sits apart.
    """
    keys = task_metric_keys(state.keys)
    fractions = [k for k in keys if spec_for(k).kind is Kind.FRACTION]
    groups: list[list[str]] = _chunks(fractions)
    by_kind: dict[Kind, list[str]] = {}
    for key in keys:
        kind = spec_for(key).kind
        if kind is not Kind.FRACTION:
            by_kind.setdefault(kind, []).append(key)
    for members in by_kind.values():
        groups.extend(_chunks_by_scale(state, members))
    return groups


def metric_charts(state: RunState) -> list[ChartSpec]:
    charts = []
    for index, keys in enumerate(metric_groups(state)):
        lines = []
        percent = all(spec_for(k).kind is Kind.FRACTION for k in keys)
        scales = {line.key: line.scale for line in state.summary.metrics}
        for n, key in enumerate(keys):
            x, y = state.column(key)
            if percent:
                # The summary already measured each key's fraction_scale (0-1 or 0-100).
                y = y * (100.0 / scales.get(key, 1.0))
            color = METRIC_COLORS[n % len(METRIC_COLORS)]
            lines.append(Line(key, spec_for(key).label, x, y, color))
        title = "Metrics (%)" if percent else "Metrics"
        charts.append(
            ChartSpec(
                f"metrics-{index}",
                title,
                tuple(lines),
                log_y=False,
                unit="%" if percent else "",
                notes=_nonfinite_notes(lines),
            )
        )
    return charts


def lr_chart(state: RunState) -> ChartSpec:
    x, y = state.column("lr")
    line = Line("lr", "lr", x, y, LR_COLOR)
    log_y = spans_decades(y)
    return ChartSpec(
        "lr",
        "Learning rate",
        (line,),
        log_y=log_y,
        notes=_nonfinite_notes([line]) + (_nonpositive_notes([line]) if log_y else ()),
    )


def grad_chart(state: RunState, keys: Sequence[str]) -> ChartSpec:
    lines = []
    for n, key in enumerate(keys):
        x, y = state.column(key)
        lines.append(Line(key, spec_for(key).label, x, y, GRAD_COLORS[n % len(GRAD_COLORS)]))
    values = np.concatenate([line.y for line in lines]) if lines else np.empty(0)
    log_y = spans_decades(values)
    return ChartSpec(
        "grad",
        "Gradients",
        tuple(lines),
        log_y=log_y,
        notes=_nonfinite_notes(lines) + (_nonpositive_notes(lines) if log_y else ()),
    )


# --- helpers --------------------------------------------------------------------------------


def spans_decades(values: np.ndarray) -> bool:
    """Whether positive finite values span more than one order of magnitude."""
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) < 2:
        return False
    return float(positive.max()) / float(positive.min()) > 10.0


def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[i : i + MAX_LINES] for i in range(0, len(keys), MAX_LINES)]


def _chunks_by_scale(state: RunState, keys: list[str]) -> list[list[str]]:
    sized = sorted(keys, key=lambda k: _magnitude(state.column(k)[1]))
    groups: list[list[str]] = []
    floor = None
    for key in sized:
        size = _magnitude(state.column(key)[1])
        fits = floor is not None and groups and len(groups[-1]) < MAX_LINES
        if fits and size <= floor * SCALE_FACTOR:
            groups[-1].append(key)
        else:
            groups.append([key])
            floor = max(size, 1e-300)
    return groups


def _magnitude(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(np.median(finite)) if len(finite) else 0.0


def _nonpositive_notes(lines: Sequence[Line]) -> tuple[str, ...]:
    """`lr: 0 at 4 epochs, not on the log scale`: such points are left out, so say so."""
    notes = []
    for line in lines:
        low = np.isfinite(line.y) & (line.y <= 0)
        count = int(low.sum())
        if count:
            what = "0" if not (line.y[low] < 0).any() else "≤ 0"
            epochs = "epoch" if count == 1 else "epochs"
            notes.append(f"{line.key}: {what} at {count} {epochs}, not on the log scale")
    return tuple(notes)


def _nonfinite_notes(lines: Sequence[Line]) -> tuple[str, ...]:
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
        epochs = f" ({count} epochs)" if count > 1 else ""
        notes.append(f"{line.key}: {kind} from epoch {int(line.x[first])}{epochs}")
    return tuple(notes)


# --- ticks ----------------------------------------------------------------------------------


def linear_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Round-numbered ticks (1, 2, 2.5, 5 x 10^k steps) inside [lo, hi].

    The smallest round step that gives no more than max_ticks is used (one
    more is allowed when that step would leave a single tick), so a short
    chart still gets labelled values instead of none.
    """
    max_ticks = max(2, max_ticks)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi <= lo:
        return [lo], [format_sig(lo)]
    power = 10 ** math.floor(math.log10((hi - lo) / max_ticks))
    previous: tuple[list[float], float] | None = None
    chosen: tuple[list[float], float] = ([], power)
    for candidate in (m * power * scale for scale in (1, 10, 100) for m in (1, 2, 2.5, 5)):
        first = math.ceil(lo / candidate - 1e-9)
        last = math.floor(hi / candidate + 1e-9)
        ticks = [0.0 if i == 0 else i * candidate for i in range(first, last + 1)]
        if len(ticks) <= max_ticks:
            chosen = previous if len(ticks) < 2 and previous else (ticks, candidate)
            break
        previous = (ticks, candidate)
    ticks, step = chosen
    return ticks, _tick_labels(ticks, step)


def _tick_labels(ticks: list[float], step: float) -> list[str]:
    """Same style for every label of an axis: all decimals, or all `2e-4` when values are tiny."""
    biggest = max((abs(t) for t in ticks), default=0.0)
    if biggest >= 1e5 or 0 < biggest < 1e-2:
        # As many mantissa digits as it takes to tell the ticks apart (a flat lr of 1e-3
        # gets 9.5e-4 1e-3 1.05e-3, not 1e-3 1e-3 1.1e-3).
        for digits in range(1, 7):
            labels = [_real_label(t, digits) if t else "0" for t in ticks]
            if all(abs(float(label) - t) <= step * 1e-3 for label, t in zip(labels, ticks)):
                break
        return labels
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return [f"{t:.{decimals}f}" for t in ticks]


def log_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis: positions in log10 units, labels in real values (`1e-3`).

    Whole decades when at least two fit; otherwise 1-2-5 steps inside the
    decade, so a narrow range still gets readable labels.
    """
    max_ticks = max(2, max_ticks)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return [], []
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    decades = list(range(first, last + 1))
    if len(decades) >= 2:
        stride = max(1, math.ceil(len(decades) / max_ticks))
        chosen = decades[::stride]
        return [float(d) for d in chosen], [_decade_label(d) for d in chosen]
    ticks: list[float] = []
    for decade in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for mantissa in (1, 2, 5):
            position = decade + math.log10(mantissa)
            if lo - 1e-9 <= position <= hi + 1e-9:
                ticks.append(position)
    if len(ticks) > max_ticks:
        ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
    return ticks, [_real_label(10**t) for t in ticks]


def _decade_label(decade: int) -> str:
    return f"1e{decade}" if decade else "1"


def _real_label(value: float, digits: int = 1) -> str:
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    exponent = str(int(exponent))
    return f"{mantissa}e{exponent}" if exponent != "0" else mantissa

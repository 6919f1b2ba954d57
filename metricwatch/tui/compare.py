"""Comparing runs: the marks, each run's colour, and the overlay charts. Pure, no textual.

`space` marks runs; with two or more marked the charts overlay them: one chart
per metric (train loss, val loss, the main task metric, LR), one line per run.
A run keeps its colour on every chart and screen for as long as the monitor
runs (a run marked again gets its old colour back), and the runs list shows it
as a swatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from metricwatch.metrics import Kind, spec_for, task_metric_keys
from metricwatch.tui.charts import ChartSpec, Line, _nonpositive_notes, _notes, _scaled
from metricwatch.tui.state import RunState
from metricwatch.tui.view_options import AXIS_NAMES, ViewOptions

#: At most this many runs are compared at once.
MAX_COMPARED = 10
#: One colour per compared run (xterm-256), with its NO_COLOR marker: ten apart.
RUN_COLORS = (
    (33, "•"),
    (208, "+"),
    (41, "o"),
    (170, "*"),
    (44, "#"),
    (220, "@"),
    (141, "%"),
    (203, "x"),
    (252, "="),
    (130, "&"),
)


@dataclass
class Marks:
    """The runs marked for comparison, in marking order, and each run's colour for good."""

    names: list[str] = field(default_factory=list)
    colors: dict[str, int] = field(default_factory=dict)  # name -> index into RUN_COLORS

    def toggle(self, name: str) -> bool:
        """Mark or unmark a run; False when it would be one more than MAX_COMPARED."""
        if name in self.names:
            self.names.remove(name)
            return True
        if len(self.names) >= MAX_COMPARED:
            return False
        self.names.append(name)
        if name not in self.colors:
            taken = set(self.colors.values())  # a colour once given stays that run's
            free = [i for i in range(len(RUN_COLORS)) if i not in taken]
            if not free:  # every colour was given once: the first one no marked run uses
                used = {self.colors[n] for n in self.names if n in self.colors}
                free = [i for i in range(len(RUN_COLORS)) if i not in used] or [0]
            self.colors[name] = free[0]
        return True

    def clear(self) -> None:
        self.names.clear()

    def drop(self, names: Sequence[str]) -> None:
        self.names = [n for n in self.names if n not in names]

    @property
    def comparing(self) -> bool:
        return len(self.names) >= 2

    def color(self, name: str) -> tuple[int, str] | None:
        """(colour, NO_COLOR marker) of a marked run; None for a run not marked."""
        return RUN_COLORS[self.colors[name]] if name in self.names else None


def main_metric(states: Sequence[RunState]) -> str | None:
    """The task metric the runs are ranked by: the first run's best-by key when it is not a
    loss, else the first task metric any of the runs logs."""
    for state in states:
        key = state.summary.best_by
        if key and key in task_metric_keys([key]):
            return key
    for state in states:
        keys = task_metric_keys(state.keys)
        if keys:
            return keys[0]
    return None


def compare_charts(
    states: Sequence[RunState], marks: Marks, view: ViewOptions | None = None
) -> list[ChartSpec]:
    """One chart per metric (train loss, val loss, the main metric, LR), one line per run."""
    view = view or ViewOptions()
    keys = ["train_loss", "val_loss"]
    metric = main_metric(states)
    if metric is not None:
        keys.append(metric)
    if any("lr" in s.keys for s in states):
        keys.append("lr")
    charts = []
    for key in keys:
        chart = _overlay(states, marks, key, view)
        if chart is not None:
            charts.append(chart)
    return charts


def _overlay(
    states: Sequence[RunState], marks: Marks, key: str, view: ViewOptions
) -> ChartSpec | None:
    lines = []
    missing = []
    no_axis = []
    percent = False
    first_x = states[0].summary.x if states else "epoch"
    axis = view.axis_for(first_x)
    for state in states:
        if key not in state.keys:
            missing.append(state.name)
            continue
        color, mark = marks.color(state.name) or RUN_COLORS[0]
        x, y = state.drawn_column(key)
        if axis != state.summary.x:
            on_axis = state.x_values(key, axis)
            if on_axis is None:
                no_axis.append(state.name)
                continue
            x = on_axis
        factor = 1.0
        scale = next((m.scale for m in state.summary.metrics if m.key == key), None)
        if key != "lr" and scale is not None and _is_fraction(key):
            factor = 100.0 / scale if scale else 100.0
            percent = True
        weight = view.smoothing_for(state.summary.x) if key != "lr" else 0.0  # not noise
        raw = None
        if weight:
            raw = _scaled(y, factor) if factor != 1.0 else y
            y = state.smoothed(key, weight)
        y = _scaled(y, factor) if factor != 1.0 else y
        lines.append(Line(key, state.name, x, y, color, mark, state.summary.x, raw, factor))
    if not lines and not no_axis:
        return None
    log_y = False
    notes: list[tuple[str, str]] = []
    if missing:
        text = f"no {key}: {', '.join(missing)}"
        notes.append((text, f"no {key}: {len(missing)} runs"))
    if key == "lr":
        values = np.concatenate([line.y for line in lines]) if lines else np.empty(0)
        positive = values[np.isfinite(values) & (values > 0)]
        log_y = len(positive) > 1 and float(positive.max()) > 10 * float(positive.min())
    elif view.log_y and spec_for(key).kind is Kind.LOSS:
        log_y = True
    if log_y:
        notes += _nonpositive_notes(lines)
    if no_axis:
        name = AXIS_NAMES[axis]
        notes.append((f"no {name} for {', '.join(no_axis)}", f"no {name}: {len(no_axis)} runs"))
    x = first_x
    title = spec_for(key).label if key != "lr" else "Learning rate"
    if axis != "epoch":
        title = f"{title} by {AXIS_NAMES[axis]}"
    return ChartSpec(
        f"compare-{key}",
        title,
        tuple(lines),
        log_y=log_y,
        unit="%" if percent else "",
        clip_outliers=view.outliers_for(x),
        zoom=view.zoom_fraction,
        x_kind=axis if axis in ("relative", "wall") else "",
        **_notes(notes),
    )


def _is_fraction(key: str) -> bool:
    return spec_for(key).kind is Kind.FRACTION

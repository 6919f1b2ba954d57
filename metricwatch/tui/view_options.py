"""How the charts are read: smoothing, y scale, outliers, zoom, x axis. Plain data, pure.

One ViewOptions value holds every choice the keys make (`s`/`S`, `y`, `o`, `[`,
`]`, `0`, `x`); `with_options` turns the ChartSpecs of charts.py into what is
drawn under those choices. Nothing here imports textual: the app keeps one
ViewOptions and hands it to the view, the tests build them directly.

- Smoothing is the debiased EMA of analysis/smoothing.py over the full data,
  applied before the per-column reduction; the raw line stays behind, dim.
  None means the run's default: per-step series are smoothed (their raw loss is
  noise), per-epoch series are not.
- Log y applies to the loss charts (the LR and gradient charts choose their own).
- Outliers: the y range is the 1st-99th percentile of what is shown; points
  outside are marked at the edge. None means on for per-step series.
- Zoom: the x range is the last 1 / 2**zoom of the run, so the live end stays in view.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from metricwatch.analysis.smoothing import WEIGHTS

#: The weight a per-step run starts with: its raw per-step loss is noise.
STEP_DEFAULT_SMOOTHING = 0.9
#: The x axes the `x` key cycles through, as the header and titles name them.
AXIS_NAMES = {"step": "step", "epoch": "epoch", "relative": "relative time", "wall": "wall clock"}
#: `[` halves the x range at most this many times (the last 1/64 of the run).
MAX_ZOOM = 6


@dataclass(frozen=True)
class ViewOptions:
    smoothing: float | None = None
    log_y: bool = False
    outliers: bool | None = None
    zoom: int = 0
    x_axis: str | None = None  # None: the run's own x (epoch or step)

    # --- the keys ----------------------------------------------------------------------------

    def cycle_smoothing(self, x: str, backwards: bool = False) -> ViewOptions:
        """The next weight of WEIGHTS after the one in effect (`s`), or the one before (`S`)."""
        current = self.smoothing_for(x)
        index = min(range(len(WEIGHTS)), key=lambda i: abs(WEIGHTS[i] - current))
        index = (index + (-1 if backwards else 1)) % len(WEIGHTS)
        return replace(self, smoothing=WEIGHTS[index])

    def cycle_axis(self, x: str, have: list[str]) -> ViewOptions:
        """The next x axis of those the run has (`have`, its own first)."""
        current = self.axis_for(x)
        index = have.index(current) if current in have else 0
        return replace(self, x_axis=have[(index + 1) % len(have)])

    def axis_for(self, x: str) -> str:
        return self.x_axis or x

    def toggle_log(self) -> ViewOptions:
        return replace(self, log_y=not self.log_y)

    def toggle_outliers(self, x: str) -> ViewOptions:
        return replace(self, outliers=not self.outliers_for(x))

    def zoom_in(self) -> ViewOptions:
        return replace(self, zoom=min(MAX_ZOOM, self.zoom + 1))

    def zoom_out(self) -> ViewOptions:
        return replace(self, zoom=max(0, self.zoom - 1))

    def reset_zoom(self) -> ViewOptions:
        return replace(self, zoom=0)

    # --- what is in effect for a run ---------------------------------------------------------

    def smoothing_for(self, x: str) -> float:
        if self.smoothing is not None:
            return self.smoothing
        return STEP_DEFAULT_SMOOTHING if x == "step" else 0.0

    def outliers_for(self, x: str) -> bool:
        """Whether outliers are left out of the y range (on by default for per-step runs)."""
        return self.outliers if self.outliers is not None else x == "step"

    @property
    def zoom_fraction(self) -> float:
        return 1.0 / 2**self.zoom

    def labels(self, x: str) -> list[str]:
        """The header's words for what is not the plain view: `smooth 0.9`, `log y`..."""
        words = []
        weight = self.smoothing_for(x)
        if weight:
            words.append(f"smooth {weight:g}")
        if self.log_y:
            words.append("log y")
        if self.outliers_for(x) != (x == "step"):
            words.append("outliers clipped" if self.outliers_for(x) else "outliers shown")
        if self.zoom:
            words.append(f"last {100 * self.zoom_fraction:g}%")
        if self.axis_for(x) != x:
            words.append(f"x: {AXIS_NAMES[self.axis_for(x)]}")
        return words


def zoom_start(xs: list[np.ndarray], fraction: float) -> float | None:
    """The first x shown when the last `fraction` of the x range is shown (None: all)."""
    if fraction >= 1.0:
        return None
    lo, hi = np.inf, -np.inf
    for x in xs:
        finite = x[np.isfinite(x)] if len(x) else x
        if len(finite):
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if not hi > lo:
        return None
    return hi - (hi - lo) * fraction


def is_loss_chart(chart_id: str) -> bool:
    return chart_id == "loss" or chart_id.startswith("losses-")

"""One chart: a PlotextPlot that draws a ChartSpec, reduced to its own width."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from metricwatch.safetext import printable
from metricwatch.tui.charts import ChartSpec
from metricwatch.tui.plotting import draw


class ChartWidget(PlotextPlot):
    """Draws lazily: the plot is rebuilt only when the spec or the widget's size changes."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._spec: ChartSpec | None = None
        self._drawn: tuple[int, int, int] | None = None

    @property
    def spec(self) -> ChartSpec | None:
        return self._spec

    def show(self, spec: ChartSpec, *, hint: str = "") -> None:
        self._spec = spec
        self._drawn = None
        self.border_title = legend(spec)
        self.border_subtitle = _subtitle(spec, hint)
        self.refresh()

    def render(self) -> RenderResult:
        spec = self._spec
        width, height = self.size.width, self.size.height
        if spec is None or width < 4 or height < 3:
            return ""
        key = (id(spec), width, height)
        if key != self._drawn:
            draw(self.plt, spec, width, height, self._get_plotext_theme_name(self.app.theme))
            self._drawn = key
        return super().render()


def legend(spec: ChartSpec) -> Text:
    """`Loss ━ train ━ val`: the title doubles as the legend (plotext's legend box hides data)."""
    title = Text(spec.title, style="bold")
    if spec.log_y:
        title.append(" (log)", style="dim")
    if len(spec.lines) > 1 or spec.id.startswith("metrics"):
        for line in spec.lines:
            title.append(" ")
            title.append("━", style=f"color({line.color})")
            title.append(" ")
            title.append(printable(line.label))  # Text, not markup; no ESC from a file key
    return title


def _subtitle(spec: ChartSpec, hint: str) -> Text:
    text = Text()
    if spec.notes:
        text.append("× " + printable("; ".join(spec.notes)), style="bold red")
    if hint:
        if text:
            text.append("  ")
        text.append(hint, style="dim")
    return text

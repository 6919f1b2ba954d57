"""One chart: a PlotextPlot that draws a ChartSpec, reduced to its own width.

The frame's top edge carries the title and the legend, the bottom edge the
notes (NaN/Inf, values off a log scale) and the `m` hint. What does not fit
on an edge is listed under the plot instead, wrapped, never cut: a legend
with five metrics or a long NaN note costs plot rows, not information.

Drawing never takes the app down: a chart plotext cannot build becomes a
note in its own frame (DrawFailure, logged), and the other charts go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import RenderResult
from textual.events import Resize
from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot

from metricwatch.safetext import printable, shorten_middle
from metricwatch.tui.charts import BAD_COLOR, ChartSpec, themed
from metricwatch.tui.plot_text import figure_text
from metricwatch.tui.plotting import Layout, draw

#: The least rows left to the plot when the legend and notes are listed under it.
MIN_PLOT_ROWS = 4
#: Cells an edge label cannot use: the two corners and a blank either side.
EDGE_CELLS = 6


@dataclass(frozen=True)
class DrawFailure:
    """A chart plotext could not build: which chart, and the error, shown in its frame."""

    chart: str
    error: str

    @property
    def note(self) -> str:
        return f"× this chart cannot be drawn: {self.error}"


class ChartWidget(PlotextPlot):
    """Draws lazily: the plot is rebuilt only when the spec, size, theme or colour mode change."""

    # The title and notes sit on the frame: in the theme's text colour, not the dim border's.
    DEFAULT_CSS = """
    ChartWidget {
        border-title-color: $foreground;
        border-subtitle-color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._spec: ChartSpec | None = None
        self._hint = ""
        self._footer: list[Text] = []
        self._drawn: tuple[object, ...] | None = None
        self._body = Text()
        #: What the last build drew (plot units, ticks) or why it could not: for tests.
        self.drawn_layout: Layout | None = None
        self.failure: DrawFailure | None = None
        #: Told the seconds each build took (the view paces live redraws by it).
        self.cost_sink: Callable[[float], None] | None = None
        self._built = False  # whether the render being timed built the plot again

    @property
    def spec(self) -> ChartSpec | None:
        return self._spec

    @property
    def no_color(self) -> bool:
        return bool(getattr(self.app, "no_color", False))

    @property
    def dark(self) -> bool:
        return self.app.current_theme.dark

    def on_mount(self) -> None:
        super().on_mount()
        # The legend's colours follow the theme (ON_LIGHT), as the plot's do.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._fit_labels())

    def show(self, spec: ChartSpec, *, hint: str = "") -> None:
        self._spec = spec
        self._hint = hint
        self._drawn = None
        self._fit_labels()
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        self._fit_labels()

    def _fit_labels(self) -> None:
        """Legend and notes on the frame when they fit, else listed under the plot."""
        spec = self._spec
        if spec is None:
            return
        room = self.outer_size.width - EDGE_CELLS
        width = self.size.width
        footer: list[Text] = []
        title = legend(spec, no_color=self.no_color, dark=self.dark)
        if width and title.cell_len > room:
            title = heading(spec)
            footer.extend(_pack(legend_entries(spec, self.no_color, width, self.dark), width))
        hint = Text(self._hint) if self._hint else Text()
        for notes in (spec.notes, spec.short_notes or spec.notes):
            shown = notes_text(notes, self.dark)
            subtitle = Text.assemble(shown, "  " if notes and hint else "", hint)
            if not width or subtitle.cell_len <= room:
                break
        else:
            # Listed under the plot, short, several to a line when they fit, wrapped if not.
            subtitle = hint
            entries = [notes_text((note,), self.dark) for note in notes]
            for line in _pack(entries, width):
                footer.extend(line.wrap(self.app.console, width))
        self.border_title = title
        self.border_subtitle = subtitle
        self._footer = footer  # (Text equality ignores a Text's own style: always replace)
        self._drawn = None
        self.refresh()

    def render(self) -> RenderResult:
        spec = self._spec
        width, height = self.size.width, self.size.height
        if spec is None or width < 4 or height < 3:
            return ""
        footer = self._footer[: max(0, height - MIN_PLOT_ROWS)]
        if len(footer) < len(self._footer):
            hidden = len(self._footer) - len(footer) + 1
            footer = [*footer[:-1], Text(f"… {hidden} more lines: enlarge the terminal")]
        plot_height = height - len(footer)
        theme = self._get_plotext_theme_name(self.app.theme)
        key = (id(spec), width, plot_height, theme, self.no_color, self.dark)
        if key != self._drawn:
            self._body = self._build(spec, width, plot_height, theme)
            self._drawn = key
            self._built = True
        if not footer:
            return self._body
        return Text("\n").join([self._body, *footer])

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual's, timed when the plot was built again: that build and its turning into
        lines is what a redraw of this chart costs (told to cost_sink; the view paces live
        redraws by it). Lines drawn again from the same plot (another widget's update near
        it) cost no build and are not counted: the pace is the redraws'."""
        started = time.perf_counter()
        self._built = False
        lines = super().render_lines(crop)
        if self._built and self.cost_sink is not None:
            self.cost_sink(time.perf_counter() - started)
        return lines

    def _build(self, spec: ChartSpec, width: int, height: int, theme: str) -> Text:
        try:
            self.drawn_layout = draw(
                self.plt, spec, width, height, theme, no_color=self.no_color, dark=self.dark
            )
            self.plt._set_size(width, height)  # as PlotextPlot.render does: no terminal clamp
            body = figure_text(self.plt)  # plotext's cells as Text, no ANSI round trip
        except Exception as error:  # noqa: BLE001 - shown in the chart's frame and logged
            self.failure = DrawFailure(spec.id, printable(f"{type(error).__name__}: {error}"))
            self.drawn_layout = None
            self.log.error(f"chart {spec.id!r} not drawn", repr(error))
            note = Text(self.failure.note, style=note_style(self.dark))
            lines = list(note.wrap(self.app.console, width))
            blank = [Text()] * max(0, (height - len(lines)) // 2)
            return Text("\n").join([*blank, *lines])
        self.failure = None
        return body


def heading(spec: ChartSpec) -> Text:
    """The chart's title, `(log)` when its y axis is."""
    title = Text(spec.title, style="bold")
    if spec.log_y:
        title.append(" (log)")
    return title


def legend_entries(
    spec: ChartSpec, no_color: bool = False, width: int = 0, dark: bool = True
) -> list[Text]:
    """`━ train`, `━ val` in the lines' colours; under NO_COLOR each line's own marker.

    Labels come from files: printable, as Text (never markup), and shortened
    in the middle only when a single entry is wider than the chart.
    """
    entries = []
    for line in spec.lines:
        swatch = line.mark if no_color else "━"
        label = printable(line.label)
        if width:
            label = shorten_middle(label, max(1, width - cell_len(swatch) - 1))
        color = themed(line.color, dark)
        entries.append(Text.assemble((swatch, f"bold color({color})"), " " + label))
    return entries


def legend(spec: ChartSpec, *, no_color: bool = False, dark: bool = True) -> Text:
    """`Loss ━ train ━ val`: the title doubles as the legend (plotext's legend box hides data)."""
    title = heading(spec)
    if len(spec.lines) > 1 or spec.id.startswith("metrics"):
        for entry in legend_entries(spec, no_color, dark=dark):
            title.append("  ")
            title.append_text(entry)
    return title


def note_style(dark: bool = True) -> str:
    return f"bold color({themed(BAD_COLOR, dark)})"


def notes_text(notes: tuple[str, ...], dark: bool = True) -> Text:
    if not notes:
        return Text()
    return Text("× " + printable("; ".join(notes)), style=note_style(dark))


def _pack(entries: list[Text], width: int) -> list[Text]:
    """Entries in as few lines of `width` cells as fit, two blanks apart, in order."""
    lines: list[Text] = []
    for entry in entries:
        if lines and lines[-1].cell_len + 2 + entry.cell_len <= width:
            lines[-1].append("  ")
            lines[-1].append_text(entry)
        else:
            lines.append(entry.copy())
    return lines

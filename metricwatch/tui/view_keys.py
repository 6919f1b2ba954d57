"""The keys that change how the charts are read: `s`/`S`, `y`, `o`, `[`, `]`, `0`.

A mixin of the app: each action makes a new ViewOptions (view_options.py,
pure) and hands it to the run view. The bindings and the command palette's
entries are listed here, next to the actions they call.
"""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import SystemCommand
from textual.binding import Binding

from metricwatch.tui.view_options import ViewOptions

#: description: the footer's word; tooltip: the help screen's line.
VIEW_BINDINGS = [
    Binding("s", "smooth", "Smooth", show=False, tooltip="Smoothing: next weight (0 ... 0.99)"),
    Binding("S", "smooth_back", "Smooth back", show=False, tooltip="Smoothing: previous weight"),
    Binding("y", "log_y", "Log y", show=False, tooltip="Log scale on the loss charts"),
    Binding(
        "o",
        "outliers",
        "Outliers",
        show=False,
        tooltip="Leave outliers out of the y range (marked at the edge)",
    ),
    Binding(
        "left_square_bracket",
        "zoom_in",
        "Zoom",
        show=False,
        key_display="[",
        tooltip="Zoom to the last half of the x range",
    ),
    Binding(
        "right_square_bracket",
        "zoom_out",
        "Unzoom",
        show=False,
        key_display="]",
        tooltip="Zoom back out",
    ),
    Binding("0", "zoom_reset", "Reset zoom", show=False, tooltip="Show the whole x range"),
]


class ViewKeys:
    """Actions of the view keys; the app provides `view`, `states`, `selected`, `notify`."""

    @property
    def view_options(self) -> ViewOptions:
        return self.view.options  # type: ignore[attr-defined]

    def set_view_options(self, options: ViewOptions) -> None:
        """Every chart follows at once; the header says what is in effect."""
        self.view.options = options  # type: ignore[attr-defined]
        self._show_selected()  # type: ignore[attr-defined]

    def _x_of_selected(self) -> str:
        state = self.states.get(self.selected or "")  # type: ignore[attr-defined]
        return state.summary.x if state is not None else "epoch"

    def action_smooth(self) -> None:
        self.set_view_options(self.view_options.cycle_smoothing(self._x_of_selected()))

    def action_smooth_back(self) -> None:
        x = self._x_of_selected()
        self.set_view_options(self.view_options.cycle_smoothing(x, backwards=True))

    def action_log_y(self) -> None:
        self.set_view_options(self.view_options.toggle_log())

    def action_outliers(self) -> None:
        self.set_view_options(self.view_options.toggle_outliers(self._x_of_selected()))

    def action_zoom_in(self) -> None:
        self.set_view_options(self.view_options.zoom_in())

    def action_zoom_out(self) -> None:
        self.set_view_options(self.view_options.zoom_out())

    def action_zoom_reset(self) -> None:
        self.set_view_options(self.view_options.reset_zoom())

    def view_commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Smoothing", "Next smoothing weight (s)", self.action_smooth)
        yield SystemCommand("Log scale", "Log y on the loss charts (y)", self.action_log_y)
        yield SystemCommand("Outliers", "Outliers out of the y range (o)", self.action_outliers)
        yield SystemCommand("Zoom in", "The last half of the x range ([)", self.action_zoom_in)
        yield SystemCommand("Zoom out", "Zoom back out (])", self.action_zoom_out)
        yield SystemCommand("Reset zoom", "The whole x range (0)", self.action_zoom_reset)

"""The keys that change how the charts are read: `s`/`S`, `y`, `o`, `[`, `]`, `0`.

A mixin of the app: each action makes a new ViewOptions (view_options.py,
pure) and hands it to the run view. The bindings and the command palette's
entries are listed here, next to the actions they call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rich.markup import escape
from textual.app import SystemCommand
from textual.binding import Binding

from metricwatch.safetext import printable
from metricwatch.tui.compare import MAX_COMPARED
from metricwatch.tui.export import export_name
from metricwatch.tui.runs_table import runs_table
from metricwatch.tui.view_options import ViewOptions

#: description: the footer's word; tooltip: the help screen's line.
VIEW_BINDINGS = [
    Binding(
        "space",
        "mark",
        "Mark",
        show=False,
        tooltip="Mark or unmark the run for comparison (2 or more: charts overlaid)",
    ),
    Binding(
        "t",
        "runs_table",
        "Table",
        show=False,
        tooltip="Runs table: sort (< >), filter (/), open (enter), mark (space)",
    ),
    Binding("e", "export", "Export", show=False, tooltip="Save the screen as an SVG file"),
    Binding("s", "smooth", "Smooth", show=False, tooltip="Smoothing: next weight (0 ... 0.99)"),
    Binding("S", "smooth_back", "Smooth back", show=False, tooltip="Smoothing: previous weight"),
    Binding("x", "x_axis", "X axis", show=False, tooltip="X axis: step, epoch, relative, wall"),
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
        self.remember()  # type: ignore[attr-defined]

    def _x_of_selected(self) -> str:
        state = self.states.get(self.selected or "")  # type: ignore[attr-defined]
        return state.summary.x if state is not None else "epoch"

    def action_smooth(self) -> None:
        self.set_view_options(self.view_options.cycle_smoothing(self._x_of_selected()))

    def action_smooth_back(self) -> None:
        x = self._x_of_selected()
        self.set_view_options(self.view_options.cycle_smoothing(x, backwards=True))

    def action_x_axis(self) -> None:
        """The next x axis any shown run has (in comparison: any marked run)."""
        states = self.compared_states() or [self.states.get(self.selected or "")]  # type: ignore[attr-defined]
        states = [s for s in states if s is not None]
        if not states:
            return
        have: list[str] = []
        for state in states:
            have += [a for a in state.axes() if a not in have]
        self.set_view_options(self.view_options.cycle_axis(states[0].summary.x, have))

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

    # --- comparing runs ---------------------------------------------------------------------------

    def action_mark(self) -> None:
        """Mark or unmark the selected run; with two or more marked the charts overlay them."""
        name = self.selected  # type: ignore[attr-defined]
        if name is not None:
            self.mark_run(name)

    def mark_run(self, name: str) -> None:
        marks = self.view.marks  # type: ignore[attr-defined]
        if not marks.toggle(name):
            self.notify(f"at most {MAX_COMPARED} runs are compared", severity="warning")  # type: ignore[attr-defined]
            return
        self._show_marks()

    def action_escape(self) -> None:
        """Esc: clears the filter when one is typed, else the marks."""
        if self.query_one("#filter").has_class("-active"):  # type: ignore[attr-defined]
            self.action_clear_filter()  # type: ignore[attr-defined]
        elif self.view.marks.names:  # type: ignore[attr-defined]
            self.view.marks.clear()  # type: ignore[attr-defined]
            self._show_marks()

    def _show_marks(self) -> None:
        marks = self.view.marks  # type: ignore[attr-defined]
        states = self.states  # type: ignore[attr-defined]
        marks.drop([n for n in marks.names if n not in states])
        run_list = self.run_list  # type: ignore[attr-defined]
        before = dict(run_list.swatches)
        run_list.swatches = {n: marks.color(n) for n in marks.names}
        changed = set(before) ^ set(run_list.swatches)
        run_list.upsert([states[n] for n in changed if n in states], self.clock())  # type: ignore[attr-defined]
        self._show_selected()  # type: ignore[attr-defined]
        self.remember()  # type: ignore[attr-defined]

    def compared_states(self) -> list | None:
        """The marked runs' latest states when two or more are marked, else None."""
        marks = self.view.marks  # type: ignore[attr-defined]
        states = self.states  # type: ignore[attr-defined]
        shown = [states[n] for n in marks.names if n in states]
        return shown if len(shown) >= 2 else None

    # --- export -----------------------------------------------------------------------------------

    #: Where `e` saves the screen (None: the current directory).
    export_dir: Path | None = None

    def action_export(self) -> None:
        """Save the screen as SVG, named after the run and the time; a toast gives the path."""
        name = export_name(self.selected, self.clock())  # type: ignore[attr-defined]
        folder = self.export_dir or Path.cwd()
        self.view.flush_charts()  # type: ignore[attr-defined]  # charts waiting on live data
        try:
            saved = self.save_screenshot(filename=name, path=str(folder))  # type: ignore[attr-defined]
        except OSError as error:
            message = f"could not save the screen: {error.strerror or error}"
            self.notify(escape(printable(message)), severity="error", timeout=10)  # type: ignore[attr-defined]
            return
        self.notify(f"saved {escape(printable(saved))}", timeout=10)  # type: ignore[attr-defined]

    # --- the runs table ---------------------------------------------------------------------------

    def action_runs_table(self) -> None:
        # Imported when first opened (with Textual's DataTable, about 7 ms): the table is
        # not part of the first screen.
        from metricwatch.tui.screens.runs_table import RunsTableScreen

        if isinstance(self.screen, RunsTableScreen):  # type: ignore[attr-defined]
            return
        screen = RunsTableScreen(
            lambda: runs_table(list(self.states.values()), self.clock()),  # type: ignore[attr-defined]
            lambda: dict(self.run_list.swatches),  # type: ignore[attr-defined]
            self.mark_run,
        )
        self.push_screen(screen, callback=self._open_from_table)  # type: ignore[attr-defined]

    def _open_from_table(self, name: str | None) -> None:
        if name is not None:
            self.stop_following()  # type: ignore[attr-defined]
            self.select(name)  # type: ignore[attr-defined]

    def view_commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand(
            "Runs table", "Every run, its best and its hyperparameters (t)", self.action_runs_table
        )
        yield SystemCommand("Mark run", "Mark the run for comparison (space)", self.action_mark)
        yield SystemCommand("Smoothing", "Next smoothing weight (s)", self.action_smooth)
        yield SystemCommand("X axis", "Step, epoch, relative or wall time (x)", self.action_x_axis)
        yield SystemCommand("Log scale", "Log y on the loss charts (y)", self.action_log_y)
        yield SystemCommand("Outliers", "Outliers out of the y range (o)", self.action_outliers)
        yield SystemCommand("Zoom in", "The last half of the x range ([)", self.action_zoom_in)
        yield SystemCommand("Zoom out", "Zoom back out (])", self.action_zoom_out)
        yield SystemCommand("Reset zoom", "The whole x range (0)", self.action_zoom_reset)
        yield SystemCommand("Export SVG", "Save the screen as an SVG file (e)", self.action_export)

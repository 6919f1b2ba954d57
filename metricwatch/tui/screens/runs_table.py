"""The `t` screen: every run as a row of a table, hyperparameters that differ as columns.

`<` / `>` sort by the column under the cursor (ascending / descending), a click on
a header sorts by it (again: the other way), `/` filters by run name, `enter`
opens the run, `space` marks it for comparison, `esc` or `t` closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input

from metricwatch.tui.runs_table import Table

#: How often the open table is built again from the runs (live runs move on).
REFRESH_S = 1.0


class RunsTableScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,t", "close", "Close"),
        Binding("less_than_sign", "sort(False)", "Sort ascending", key_display="<"),
        Binding("greater_than_sign", "sort(True)", "Sort descending", key_display=">"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("space", "mark", "Mark", priority=True),
    ]

    DEFAULT_CSS = """
    RunsTableScreen { align: center middle; }
    #table-box { width: 100%; height: 100%; border: round $accent; }
    #table-filter { display: none; height: 1; border: none; padding: 0 1; }
    #table-filter.-active { display: block; }
    """

    def __init__(
        self,
        build: Callable[[], Table],
        swatches: Callable[[], dict[str, tuple[int, str]]],
        mark: Callable[[str], None],
    ) -> None:
        super().__init__()
        self._build = build
        self._swatches = swatches
        self._mark = mark
        self.table = build()
        self.sort: tuple[int, bool] | None = None
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="table-box") as box:
            box.border_title = "runs"
            box.border_subtitle = "enter open · space mark · < > sort · / filter · esc close"
            yield Input(placeholder="filter runs…", id="table-filter")
            yield DataTable(id="runs-table", cursor_type="cell", zebra_stripes=True)

    @property
    def data_table(self) -> DataTable:
        return self.query_one("#runs-table", DataTable)

    def on_mount(self) -> None:
        self.fill()
        self.data_table.focus()
        self.set_interval(REFRESH_S, self.refresh_rows)

    def refresh_rows(self) -> None:
        """Runs move on while the table is open (live ones log, new ones appear): it is built
        again and shown again when it changed, the cursor on the same run, the scroll kept."""
        table = self._build()
        if table != self.table:
            self.table = table
            self.fill()

    def shown(self) -> Table:
        table = self.table.filtered(self.filter_text)
        if self.sort is not None:
            table = table.sorted_by(*self.sort)
        return table

    @property
    def names(self) -> list[str]:
        """The runs in display order (filter and sort applied)."""
        return [name for name, _ in self.shown().rows]

    def fill(self) -> None:
        data = self.data_table
        keep = self._cursor_name()
        column = data.cursor_column
        scroll = (data.scroll_x, data.scroll_y)
        data.clear(columns=True)
        for index, title in enumerate(self.table.columns):
            arrow = ""
            if self.sort is not None and self.sort[0] == index:
                arrow = " ▼" if self.sort[1] else " ▲"
            data.add_column(Text(title + arrow), key=str(index))
        swatches = self._swatches()
        for name, cells in self.shown().rows:
            texts = [Text(cell.text) for cell in cells]
            swatch = swatches.get(name)
            if swatch is not None:
                texts[0] = Text.assemble(texts[0], ("▌", f"bold color({swatch[0]})"))
            data.add_row(*texts, key=name)
        data.scroll_to(*scroll, animate=False, immediate=True)
        names = self.names
        if names:
            row = names.index(keep) if keep in names else 0
            data.move_cursor(row=row, column=min(column, len(self.table.columns) - 1))

    def _cursor_name(self) -> str | None:
        data = self.data_table
        if not data.row_count:
            return None
        names = self.names
        row = data.cursor_row
        return names[row] if 0 <= row < len(names) else None

    def action_sort(self, descending: bool) -> None:
        self.sort = (self.data_table.cursor_column, descending)
        self.fill()

    @on(DataTable.HeaderSelected)
    def _on_header(self, event: DataTable.HeaderSelected) -> None:
        descending = self.sort == (event.column_index, False)
        self.sort = (event.column_index, descending)
        self.fill()

    def action_filter(self) -> None:
        box = self.query_one("#table-filter", Input)
        box.add_class("-active")
        box.focus()

    @on(Input.Changed, "#table-filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.fill()

    @on(Input.Submitted, "#table-filter")
    def _on_filter_done(self) -> None:
        self.data_table.focus()

    @on(DataTable.CellSelected)
    def _on_open(self, event: DataTable.CellSelected) -> None:
        name = event.cell_key.row_key.value
        self.dismiss(name)

    def action_mark(self) -> None:
        if isinstance(self.focused, Input):
            self.focused.insert_text_at_cursor(" ")
            return
        name = self._cursor_name()
        if name is not None:
            self._mark(name)
            self.table = self._build()
            self.fill()

    def action_close(self) -> None:
        if isinstance(self.focused, Input) and self.filter_text:
            box = self.query_one("#table-filter", Input)
            box.value = ""
            box.remove_class("-active")
            self.data_table.focus()
            return
        self.dismiss(None)

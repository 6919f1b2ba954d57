"""The runs list: one line per run, updated one row at a time."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from metricwatch.analysis.diagnostics import worst_severity
from metricwatch.analysis.status import SEVERITY_LOOKS, STATUS_LOOKS
from metricwatch.safetext import pad_cells, printable, shorten_middle
from metricwatch.tui.state import RunState


def row(state: RunState, now: float, width: int, swatch: tuple[int, str] | None = None) -> Text:
    """`● sweep/lr1…_seed3  23/50 ▲2`: fixed-width fields on the right, the name fills the
    rest in terminal cells, shortened in the middle (the end is what tells sweep runs apart).
    A run marked for comparison has its colour as a swatch after the status mark."""
    findings = state.all_findings(now)
    status = state.status(now, findings)  # reuses the findings: one stall check per row
    look = STATUS_LOOKS[status]
    epochs = state.summary.progress(compact=True)
    count = f"▲{len(findings)}" if findings else ""
    epochs_field, count_field = f" {epochs:>5} ", f"{count:>3}"
    name_width = max(4, width - 2 - cell_len(epochs_field) - cell_len(count_field))
    name = shorten_middle(printable(state.name), name_width)  # ESC or a newline is escaped
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(look.mark, style=look.style)
    if swatch is None:
        text.append(" ")
    else:
        text.append("▌", style=f"bold color({swatch[0]})")
    text.append(pad_cells(name, name_width), style="strike dim" if state.gone else "")
    text.append(epochs_field, style="dim")
    severity = worst_severity(findings)
    count_style = f"bold {SEVERITY_LOOKS[severity][1]}" if severity is not None else ""
    text.append(count_field, style=count_style)
    if state.problems:
        text.stylize("italic", 2, 2 + len(name))
    return text


class RunList(OptionList):
    """OptionList of runs keyed by name; only changed rows are re-rendered, and only when
    the list is on screen: hidden (one run named, a narrow terminal, `l`), a known run's
    row is not even made until the list is shown. An epoch run's row changes at every
    write (its epoch count), and replacing a prompt clears the list's line caches and
    repaints it; making the row (its findings, status and text) was a tenth of a
    millisecond of every write."""

    class WidthChanged(Message):
        """The rows were fitted to another width: the app rebuilds them (it has the states)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, Text] = {}
        self._filter = ""
        self._order: list[str] = []
        self._width: int | None = None  # the width the rows were fitted to
        #: Runs updated while the list was hidden: their state and time, for their rows.
        self._unshown: dict[str, tuple[RunState, float]] = {}
        #: Runs marked for comparison: (colour, NO_COLOR marker), shown as a swatch.
        self.swatches: dict[str, tuple[int, str]] = {}

    def on_resize(self) -> None:
        # Shown with `l`, a terminal resized, a scrollbar appearing: rows fitted to the old
        # width would cut the epoch and findings columns off (or leave a gap).
        if self._width is not None and self.row_width != self._width:
            self.post_message(self.WidthChanged())

    @property
    def row_width(self) -> int:
        return max(16, self.scrollable_content_region.width or self.size.width or 28)

    @property
    def names(self) -> list[str]:
        """The names shown, in display order (the filter applied)."""
        return [option.id for option in self.options if option.id is not None]

    def selected_name(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def upsert(self, states: Iterable[RunState], now: float) -> None:
        """Add new runs at the end, replace the rows of known ones when their text changed."""
        hidden = not self.region.area
        # A hidden list has no width of its own: its rows keep theirs until it is shown
        # (and resized, if its width changed meanwhile: on_resize).
        width = (self._width or self.row_width) if hidden else self.row_width
        if self._width is not None and width != self._width:
            self.post_message(self.WidthChanged())
        self._width = self._width or width
        added: list[Option] = []
        for state in states:
            known = state.name in self._rows
            if known and hidden:
                self._unshown[state.name] = (state, now)
                continue
            self._replace(state, now, width, added)
        if added:
            self.add_options(added)

    def _replace(self, state: RunState, now: float, width: int, added: list[Option]) -> None:
        """The run's row made; a new run's added (to `added`), a known one's replaced if its
        text changed."""
        text = row(state, now, width, self.swatches.get(state.name))
        known = state.name in self._rows
        if known and self._rows[state.name] == text:
            return
        self._rows[state.name] = text
        if not known:
            self._order.append(state.name)
            if self._matches(state.name):
                added.append(Option(text, id=state.name))
        elif self._matches(state.name):
            self.replace_option_prompt(state.name, text)

    def on_show(self) -> None:
        """The rows of the runs updated while the list was hidden, as they are now."""
        unshown, self._unshown = self._unshown, {}
        width = self._width or self.row_width
        for name, (state, now) in unshown.items():
            if name in self._rows:
                self._replace(state, now, width, [])

    def remove(self, names: Iterable[str]) -> None:
        """Take runs off the list (their file no longer holds them)."""
        for name in names:
            self._unshown.pop(name, None)
            if self._rows.pop(name, None) is None:
                continue
            self._order.remove(name)
            if name in self.names:
                self.remove_option(name)

    def rebuild(self, states: dict[str, RunState], now: float) -> None:
        """All rows again: after a filter change or a resize (the row width changed)."""
        keep = self.selected_name()
        self._unshown.clear()
        width = self._width = self.row_width
        options = []
        for name in self._order:
            self._rows[name] = row(states[name], now, width, self.swatches.get(name))
            if self._matches(name):
                options.append(Option(self._rows[name], id=name))
        self.set_options(options)
        if keep is not None and keep in self.names:
            self.highlighted = self.get_option_index(keep)
        elif options:
            self.highlighted = 0

    def set_filter(self, text: str, states: dict[str, RunState], now: float) -> None:
        self._filter = text.strip().lower()
        self.rebuild(states, now)

    def highlight_name(self, name: str) -> None:
        if name in self.names:
            index = self.get_option_index(name)
            if self.highlighted != index:
                self.highlighted = index

    def _matches(self, name: str) -> bool:
        return not self._filter or self._filter in name.lower()

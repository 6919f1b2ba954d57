"""Everything about the selected run: header, notices, charts, summary, findings.

Built once; switching runs refills the same widgets (at most four charts
exist whatever the number of runs), inside one batch update so the whole
screen changes at once.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Static

from metricwatch.tui.charts import ChartSpec, charts_for, visible
from metricwatch.tui.state import RunState
from metricwatch.tui.widgets.chart import ChartWidget
from metricwatch.tui.widgets.header import RunHeader
from metricwatch.tui.widgets.panels import FindingsPanel, SummaryPanel, notice_text

MAX_CHARTS = 4


class RunView(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header = RunHeader(id="run-header")
        self.notice = Static("", id="notice")
        self.slots = [ChartWidget(classes="chart") for _ in range(MAX_CHARTS)]
        self.summary = SummaryPanel(id="summary")
        self.findings = FindingsPanel(id="findings")
        self.capacity = MAX_CHARTS
        self.columns = 2
        self.chart_offset = 0
        self._state: RunState | None = None
        self._charts: list[ChartSpec] = []
        self._charts_version: tuple[int, str] | None = None
        self._notice: Text | None = None

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.notice
        with Grid(id="charts"):
            yield from self.slots
        with Horizontal(id="bottom"):
            yield self.summary
            yield self.findings

    @property
    def state(self) -> RunState | None:
        return self._state

    @property
    def shown_charts(self) -> list[ChartSpec]:
        return [slot.spec for slot in self.slots if slot.display and slot.spec is not None]

    def show(
        self,
        state: RunState,
        now: float,
        mode_label: str,
        position: tuple[int, int] | None,
    ) -> None:
        self._state = state
        self.header.show(state, now, mode_label, position)
        notice = notice_text(
            state.problems, gone=state.gone, epochs=state.epochs_done, damaged=state.damaged
        )
        if notice != self._notice:
            self._notice = notice
            self.notice.update(notice)
            self.notice.display = bool(notice)
        self.summary.show(state.summary)
        self.findings.show(state.all_findings(now))
        key = (state.version, state.name)
        if key != self._charts_version:
            if state.has_columns:
                self._charts = charts_for(state)
                self._charts_version = key
            elif self._charts_version is None or self._charts_version[1] != state.name:
                # Another run whose columns a worker is building: no charts of the old one.
                self._charts = []
                self._charts_version = None
        self._place_charts()

    def tick(self, now: float) -> None:
        self.header.tick(now)

    def refresh_findings(self, now: float) -> None:
        if self._state is not None:
            self.findings.show(self._state.all_findings(now))

    def set_layout(self, capacity: int, columns: int) -> None:
        if (capacity, columns) != (self.capacity, self.columns):
            self.capacity, self.columns = capacity, columns
            self._place_charts()

    def cycle_charts(self) -> bool:
        """Show the next charts that did not fit (the `m` key). False when all fit already."""
        if len(self._charts) <= self.capacity:
            return False
        self.chart_offset += 1
        self._place_charts()
        return True

    def _place_charts(self) -> None:
        shown = visible(self._charts, self.capacity, self.chart_offset)
        hidden = len(self._charts) - len(shown)
        hint = f"m: {hidden} more chart{'s' if hidden > 1 else ''}" if hidden else ""
        count = len(shown)
        grid = self.query_one("#charts", Grid)
        columns = min(self.columns, count) or 1
        rows = -(-count // columns) if count else 1
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = rows
        for index, slot in enumerate(self.slots):
            if index < count:
                spec = shown[index]
                if slot.spec is not spec:
                    slot.show(spec, hint=hint if index == count - 1 else "")
                slot.display = True
                # Three charts in a 2x2 grid: the loss chart takes the whole first row.
                slot.styles.column_span = 2 if (index == 0 and count == 3 and columns == 2) else 1
            else:
                slot.display = False

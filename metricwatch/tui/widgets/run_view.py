"""Everything about the selected run: header, charts, summary, findings (with notices).

Built once; switching runs refills the same widgets (at most four charts
exist whatever the number of runs), inside one batch update so the whole
screen changes at once.

Laid out by the width and height the view itself gets (the terminal minus the
runs list when it is shown), so every panel keeps a readable width: the charts
go in fewer columns, and below STACK_BELOW columns the findings and the summary
are stacked instead of squeezed side by side. The header is one line and the
notices live in the findings panel, so nothing above the charts changes height.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Static

from metricwatch.analysis.findings import Finding, Severity
from metricwatch.model import STEP
from metricwatch.pacing import Pacer
from metricwatch.tui.charts import ChartSpec, charts_for, visible
from metricwatch.tui.compare import Marks, compare_charts
from metricwatch.tui.state import RunState
from metricwatch.tui.view_options import ViewOptions
from metricwatch.tui.widgets.background import BackgroundContainer, BackgroundGrid, BackgroundOnly
from metricwatch.tui.widgets.chart import ChartWidget
from metricwatch.tui.widgets.header import RunHeader
from metricwatch.tui.widgets.panels import FindingsPanel, SummaryPanel, notice_text

MAX_CHARTS = 4
#: ((run name, version, colour), ...) and the view options: what the charts are drawn from.
ChartsKey = tuple[tuple[tuple[str, "int | None", object], ...], ViewOptions]
#: Below this height (the view's: the terminal's minus the footer) the charts go in one row.
SHORT_BELOW = 31
#: Below this width one row of charts holds two charts, not three.
THREE_CHARTS_FROM = 96
#: A chart narrower than this is hard to read (axis labels take 4-6 of its cells): fewer
#: columns instead, and `m` shows the rest.
CHART_MIN_WIDTH = 30
#: Below this width the summary and the findings are stacked (each needs about 34 cells).
STACK_BELOW = 68
#: The summary's width side by side: the width minus FINDINGS_SHARE, within these bounds.
SUMMARY_MIN, SUMMARY_MAX, FINDINGS_SHARE = 34, 46, 36


def bottom_layout(width: int) -> tuple[bool, int]:
    """(stacked, summary width) for a view `width` cells wide."""
    if width < STACK_BELOW:
        return True, width
    return False, max(SUMMARY_MIN, min(SUMMARY_MAX, width - FINDINGS_SHARE))


def _only_newer(key: ChartsKey, drawn: ChartsKey | None) -> bool:
    """Whether the charts drawn differ from `key` only by newer data of the same runs (live
    data), not by another run, a mark, a colour or an option (the user asked: draw now)."""
    if drawn is None or key[1] != drawn[1] or len(key[0]) != len(drawn[0]):
        return False
    return all(
        (name, colour) == (old_name, old_colour) and version is not None
        for (name, version, colour), (old_name, _, old_colour) in zip(key[0], drawn[0])
    )


def extent(state: RunState) -> float:
    """How far a run has got along its x axis: its last step, or its epochs."""
    summary = state.summary
    if summary.x == STEP and summary.last_step is not None:
        return float(summary.last_step)
    return float(summary.epochs)


def _kinds(findings: list[Finding]) -> set[tuple[str, Severity]]:
    """What findings there are, without their evidence (which moves with every write)."""
    return {(finding.id, finding.severity) for finding in findings}


def chart_layout(width: int, height: int) -> tuple[int, int]:
    """(charts shown, columns) for a view of this size: one row of charts when short,
    two otherwise; no chart narrower than CHART_MIN_WIDTH."""
    fit = max(1, width // CHART_MIN_WIDTH)
    if height < SHORT_BELOW:
        columns = min(fit, 3 if width >= THREE_CHARTS_FROM else 2)
        return columns, columns
    columns = min(fit, 2)
    return 2 * columns, columns


class RunView(BackgroundOnly, Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header = RunHeader(id="run-header")
        self.slots = [ChartWidget(classes="chart") for _ in range(MAX_CHARTS)]
        self.summary = SummaryPanel(id="summary")
        self.findings = FindingsPanel(id="findings")
        self.capacity = MAX_CHARTS
        self.columns = 2
        self.chart_offset = 0
        self._state: RunState | None = None
        self._now = 0.0  # the clock at the last show (the app's: a fixed one in tests)
        self._charts: list[ChartSpec] = []
        self._charts_version: ChartsKey | None = None
        #: Live data redraws the charts within a share of a core (see metricwatch.pacing).
        self.pacer = Pacer()
        self._redraw_timer: Timer | None = None
        self._redraw_at = 0.0  # when the waiting redraw is due (time.monotonic)
        for slot in self.slots:
            slot.cost_sink = self.pacer.add
        #: The keys' choices (smoothing, log y, outliers, zoom, x axis); set by the app.
        self.options = ViewOptions()
        #: The runs overlaid (two or more marked), in marking order; None: the one run.
        self.compared: list[RunState] | None = None
        self.marks = Marks()
        #: Words the header shows before the view's (`following`); set by the app.
        self.status_words: list[str] = []
        self._hints = [""] * MAX_CHARTS  # the `m: n more` hint each slot was shown with
        self._grid = (0, 0)  # the charts grid's (columns, rows) as last placed
        self._stage = 0  # counts placements: a staggered one checks it is still the last
        self._staging = False  # a staggered placement has charts still to show
        self._counting: int | None = None  # the placement whose redraw _drawn counts
        self._redraw_cpu = 0.0  # the UI thread's CPU clock when the last redraw began
        self._drawn_extents: dict[str, float] = {}  # each run's extent at the last redraw

    def compose(self) -> ComposeResult:
        yield self.header
        with BackgroundGrid(id="charts"):
            yield from self.slots
        with BackgroundContainer(id="bottom"):
            yield self.summary
            yield self.findings

    @property
    def notice(self) -> Static:
        """The notices line (in the findings panel: it never moves the charts)."""
        return self.findings.notice

    def on_resize(self, event: Resize) -> None:
        self.fit(event.size.width, event.size.height)

    def fit(self, width: int, height: int) -> None:
        """Lay the charts and the bottom panels out for a view of this size."""
        if not width or not height:
            return
        self.set_class(height < SHORT_BELOW, "-short")
        stacked, summary_width = bottom_layout(width)
        self.set_class(stacked, "-stacked")
        self.summary.styles.width = None if stacked else summary_width
        self.set_layout(*chart_layout(width, height))

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
        mode_alert: bool = False,
    ) -> None:
        self._state = state
        self._now = now
        words = [*self.status_words, *self.options.labels(state.summary.x)]
        if self.compared:
            words = [f"comparing {len(self.compared)} runs", *words]
        self.header.view_words = words
        self.header.show(state, now, mode_label, position, mode_alert)
        self.findings.show_notice(
            notice_text(
                state.problems, gone=state.gone, epochs=state.epochs_done, damaged=state.damaged
            )
        )
        findings = state.all_findings(now)
        key = self._charts_key(state)
        if key != self._charts_version and _only_newer(key, self._charts_version):
            clock = time.monotonic()
            wait = self.pacer.wait(clock, self._growth(state))
            if wait > 0 and _kinds(findings) == _kinds(self.findings.findings):
                # Live data: the header has it; the charts, the summary and the findings
                # follow when the last redraw is paid for (a finding that appears or goes
                # away, or changes severity, is news: drawn at once with the rest).
                self._redraw_later(clock, wait)
                return
        self._show_details(state, findings)
        self._update_charts(state, key)

    def _show_details(self, state: RunState, findings: list[Finding]) -> None:
        self.summary.show(state.summary)
        self.findings.show(findings)

    def flush_charts(self) -> None:
        """Draw the charts (and the summary and findings) of the data shown now, if live data
        left them waiting (export)."""
        if self._redraw_timer is not None:
            self._redraw_due(stagger=False)
        self._place_charts()  # and any chart a staggered redraw has not shown yet

    def _charts_key(self, state: RunState) -> ChartsKey:
        """What the charts are drawn from: the runs (name, version, colour) and the options."""
        if self.compared:
            runs = tuple((s.name, s.version, self.marks.color(s.name)) for s in self.compared)
        elif state.has_columns:
            runs = ((state.name, state.version, None),)
        else:
            runs = ((state.name, None, None),)  # its columns are being built: no charts yet
        return runs, self.options

    def _redraw_due(self, stagger: bool = True) -> None:
        """The live redraw the pacer let wait. Its charts are shown one a frame (stagger):
        a frame that builds four costly charts at once would hold the header's next
        update for all four."""
        self._redraw_timer = None
        state = self._state
        if state is not None and self.is_attached:
            wait = self.pacer.wait(time.monotonic(), self._growth(state)) if stagger else 0.0
            if wait > 0:  # the last redraw cost more than when this one was set: wait more
                self._redraw_later(time.monotonic(), wait)
                return
            with self.app.batch_update():
                self._show_details(state, state.all_findings(self._now))
                self._update_charts(state, self._charts_key(state), stagger=stagger)

    def _redraw_later(self, clock: float, wait: float) -> None:
        """The redraw due `wait` seconds after `clock`, unless one is due sooner. A redraw
        already waiting longer is brought forward: data that grew by a column of dots waits
        for the last redraw to be paid for, not for the unseen wait a smaller write set."""
        due = clock + wait
        if self._redraw_timer is not None:
            if self._redraw_at <= due:
                return
            self._redraw_timer.stop()
        self._redraw_timer = self.set_timer(wait, self._redraw_due)
        self._redraw_at = due

    def _update_charts(self, state: RunState, key: ChartsKey, *, stagger: bool = False) -> None:
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = None
        built = False
        if key != self._charts_version:
            started, cpu = time.monotonic(), time.thread_time()
            built = True
            if self.compared:
                self._charts = compare_charts(self.compared, self.marks, self.options)
            elif state.has_columns:
                self._charts = charts_for(state, self.options)
            else:
                built = False  # its columns are on their way (ColumnsReady)
                if self._charts_version is None or self._charts_version[0][0][0] != state.name:
                    self._charts = []  # another run's: no charts of the old one meanwhile
                    self._charts_version = None
            if built:
                self._charts_version = key
                self._drawn_extents = {s.name: extent(s) for s in self._drawn_runs(state)}
                # The charts plotext builds for these specs add their cost (cost_sink).
                self.pacer.begin(started, time.monotonic() - started)
        self._place_charts(stagger=stagger)
        if built:
            self._redraw_cpu, self._counting = cpu, self._stage
            if not self._staging:  # else the last staggered chart calls _drawn
                self.call_after_refresh(self._drawn)

    def _drawn_runs(self, state: RunState) -> list[RunState]:
        return self.compared if self.compared else [state]

    def _growth(self, state: RunState) -> float:
        """How much the runs drawn grew since their charts were last drawn: the largest
        share of a run's extent (1 for a run not drawn then)."""
        grown = 0.0
        for run in self._drawn_runs(state):
            now, then = extent(run), self._drawn_extents.get(run.name)
            if then is None:
                return 1.0
            grown = max(grown, abs(now - then) / max(abs(now), 1.0))
        return grown

    def _drawn(self) -> None:
        """The charts of a redraw are all on screen: what the UI thread spent from its specs
        to here, frames and compositor included (CPU time: waiting for a frame costs
        nothing), is its cost if more than the builds counted: the pace is a share of a
        core, of all of it. Not for a placement superseded meanwhile."""
        if self._counting == self._stage:
            spent = time.thread_time() - self._redraw_cpu
            self.pacer.cost = max(self.pacer.cost, spent)
        self._counting = None

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

    def _place_charts(self, *, stagger: bool = False) -> None:
        """Each shown chart in its slot. With `stagger` (a live redraw, the same layout as
        before), the first changed chart now and the others one a frame after it."""
        self._stage += 1  # a staggered placement still under way is superseded
        shown = visible(self._charts, self.capacity, self.chart_offset)
        hidden = len(self._charts) - len(shown)
        hint = f"m: {hidden} more chart{'s' if hidden > 1 else ''}" if hidden else ""
        count = len(shown)
        grid = self.query_one("#charts", BackgroundGrid)
        columns = min(self.columns, count) or 1
        rows = -(-count // columns) if count else 1
        stagger = stagger and (columns, rows) == self._grid
        self._grid = (columns, rows)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = rows
        later: list[tuple[int, ChartSpec, str]] = []
        changed = 0  # charts given a new spec so far
        for index, slot in enumerate(self.slots):
            if index < count:
                spec = shown[index]
                slot_hint = hint if index == count - 1 else ""
                # The hint changes with the capacity too (a resize, the runs list shown).
                if slot.spec is not spec or self._hints[index] != slot_hint:
                    if stagger and changed:
                        later.append((index, spec, slot_hint))
                    else:
                        slot.show(spec, hint=slot_hint)
                        self._hints[index] = slot_hint
                    changed += 1
                slot.display = True
                # Three charts in a 2x2 grid: the loss chart takes the whole first row.
                slot.styles.column_span = 2 if (index == 0 and count == 3 and columns == 2) else 1
            else:
                slot.display = False
        self._staging = bool(later)
        if later:
            stage = self._stage
            self.call_after_refresh(lambda: self._show_staged(stage, later))

    def _show_staged(self, stage: int, later: list[tuple[int, ChartSpec, str]]) -> None:
        """The next chart of a staggered placement, then the rest a frame later."""
        if stage != self._stage or not self.is_attached:
            return  # placed again meanwhile: that placement has them
        index, spec, hint = later[0]
        self.slots[index].show(spec, hint=hint)
        self._hints[index] = hint
        if later[1:]:
            self.call_after_refresh(lambda: self._show_staged(stage, later[1:]))
        else:
            self._staging = False
            self.call_after_refresh(self._drawn)

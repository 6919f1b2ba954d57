"""The summary table, the findings and the notices: text built from core results.

Notices (a half-written file, a reader problem, a vanished run) are shown at
the top of the findings panel, never above the charts: appearing and going
away with every write, they must not move the chart area.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from metricwatch.analysis.diagnostics import Finding, worst_severity
from metricwatch.analysis.status import SEVERITY_LOOKS
from metricwatch.analysis.summary import RunSummary
from metricwatch.model import Problem
from metricwatch.safetext import printable, shorten_middle

#: Summary labels (unknown metric keys can be long) are shortened in the middle to this.
LABEL_CELLS = 20


def summary_table(summary: RunSummary) -> Table:
    """RunSummary.rows() as a two-column table; every cell a Text, so no markup is parsed."""
    table = Table.grid(padding=(0, 1), expand=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=False)
    for label, value in summary.rows():
        label_text = shorten_middle(printable(label), LABEL_CELLS)
        table.add_row(Text(label_text), Text(printable(value), style="bold"))
    return table


def findings_renderable(findings: list[Finding]) -> RenderableType:
    """Each finding's observation, evidence, cause and action, coloured by severity, with
    hanging indents so wrapped lines stay under their label."""
    if not findings:
        return Text("✓ No problems found", style="bold green")
    parts: list[RenderableType] = []
    for index, finding in enumerate(findings):
        mark, colour = SEVERITY_LOOKS[finding.severity]
        title = Text(f"{mark} {printable(finding.observation)}", style=f"bold {colour}")
        if index:
            parts.append(Text(""))
        parts.append(title)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="dim", width=5)
        grid.add_column()
        grid.add_row(Text(""), Text(printable(finding.evidence)))
        grid.add_row(Text("cause"), Text(printable(finding.cause)))
        grid.add_row(Text("try"), Text(printable(finding.action), style=colour))
        parts.append(Padding(grid, (0, 0, 0, 1)))
    return Group(*parts)


def notice_text(problems: list[Problem], *, gone: bool, epochs: int, damaged: bool) -> Text:
    """Reader problems and a vanished file, in one line each (empty when all is well)."""
    text = Text()
    if gone:
        text.append("✗ metrics.json is gone (deleted or moved)", style="bold red")
        text.append(f": showing the last data read ({epochs} epochs)\n")
    for problem in problems:
        text.append("⚠ ", style="bold yellow")
        text.append(printable(problem.message))
        text.append("\n")
    if damaged and epochs and not gone:
        text.append(f"  showing the last good data ({epochs} epochs)\n", style="dim")
    text.rstrip()
    return text


class SummaryPanel(VerticalScroll):
    """Scrollable so a run with many metrics never pushes rows off screen unseen."""

    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Summary"
        self._body = Static("", id="summary-body")
        self._rows: list[tuple[str, str]] = []

    def compose(self):
        yield self._body

    def show(self, summary: RunSummary) -> None:
        rows = summary.rows()
        if rows == self._rows:
            return
        # Same labels: same height, so a repaint is enough (no relayout of the screen).
        same_shape = [label for label, _ in rows] == [label for label, _ in self._rows]
        self._rows = rows
        self._body.update(summary_table(summary), layout=not same_shape)

    @property
    def plain(self) -> str:
        return "\n".join(f"{printable(label)}  {printable(value)}" for label, value in self._rows)


class FindingsPanel(VerticalScroll):
    """The run's notices (file problems) first, then its findings; scrollable."""

    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Findings"
        self.notice = Static("", id="notice")
        self.notice.display = False
        self._notice: Text | None = None
        self._body = Static("", id="findings-body")
        self._findings: list[Finding] = []
        self._shown = False

    def compose(self):
        yield self.notice
        yield self._body

    def show_notice(self, notice: Text) -> None:
        """Reader problems (notice_text); an empty Text hides the notice."""
        if notice == self._notice:
            return
        self._notice = notice
        self.notice.update(notice)
        self.notice.display = bool(notice)

    @property
    def findings(self) -> list[Finding]:
        """The findings shown."""
        return self._findings

    def show(self, findings: list[Finding]) -> None:
        if self._shown and findings == self._findings:
            return  # the 5 s status check must not repaint an unchanged panel
        self._shown = True
        self._findings = list(findings)
        self._body.update(findings_renderable(findings))
        severity = worst_severity(findings)
        if severity is not None:
            _, colour = SEVERITY_LOOKS[severity]
            self.border_title = Text.assemble("Findings ", (f"({len(findings)})", f"bold {colour}"))
        else:
            self.border_title = "Findings"

    @property
    def plain(self) -> str:
        """The findings as the panel shows them, without styles (tests, screen readers)."""
        console = Console(width=200, color_system=None, file=io.StringIO())
        with console.capture() as capture:
            console.print(findings_renderable(self._findings))
        return capture.get()

"""The headless report of `metricwatch summary`: rich tables, plain when piped.

Names and messages come from files, so they go in as rich Text (never as
markup) and cannot inject styles or escape sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from metricwatch.diagnostics import Finding, Severity
from metricwatch.model import Run
from metricwatch.safetext import printable
from metricwatch.summary import RunSummary

SEVERITY_STYLE = {Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}


def render_run(run: Run, summary: RunSummary, findings: Sequence[Finding]) -> Panel:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for label, value in summary.rows():
        table.add_row(Text(printable(label)), Text(printable(value)))
    parts: list[object] = [Text(printable(run.path), style="dim"), table, Text("")]
    if findings:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for finding in findings:
            style = SEVERITY_STYLE[finding.severity]
            body = Text()
            body.append(finding.observation, style=f"{style} bold")
            body.append(f" ({finding.id})\n", style="dim")
            body.append(f"{printable(finding.evidence)}\n")
            body.append(f"cause: {finding.cause}\n", style="dim")
            body.append(f"try:   {finding.action}", style="dim")
            grid.add_row(Text(finding.severity.value.upper(), style=style), body)
        parts.append(grid)
    else:
        parts.append(Text("No problems found.", style="green"))
    for problem in run.problems:
        parts.append(Text(f"note: {printable(problem.message)}", style="magenta"))
    return Panel(
        Group(*parts),
        title=Text(printable(run.name), style="bold"),
        title_align="left",
        expand=False,
    )


def print_reports(
    reports: Sequence[tuple[Run, RunSummary, Sequence[Finding]]], console: Console | None = None
) -> None:
    console = console or Console()
    for run, summary, findings in reports:
        console.print(render_run(run, summary, findings))

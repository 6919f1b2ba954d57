"""The headless report of `metricwatch summary`: rich tables, plain when piped.

One run, up to TABLE_ABOVE runs, or `--detail`: a box per run with the
seed's summary table and every finding. More runs: one table row per run
(status, epochs, best value and where, last losses, findings by severity),
so 300 runs print about 300 lines, not 300 boxes.

Every run is summarised and diagnosed on its own (build_report): an
unexpected error in one run's arithmetic becomes a line in that run's row
and JSON entry ("could not summarise: ...") and the other runs are still
reported. Names and messages come from files, so they go in as rich Text
(never as markup) made printable, and cannot inject styles or escape
sequences.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from metricwatch.analysis.diagnostics import (
    Finding,
    Severity,
    diagnose,
)
from metricwatch.analysis.status import SEVERITY_LOOKS, STATUS_LOOKS, Status, run_status
from metricwatch.analysis.summary import RunSummary, mean_epoch_s, summarize
from metricwatch.metrics import format_value, spec_for
from metricwatch.model import STEP, ProblemKind, Run
from metricwatch.safetext import printable, shorten_middle

#: Up to this many runs get a box each; more get one table row each (`--detail`: boxes).
TABLE_ABOVE = 3
#: An error message longer than this is cut (an exception can quote a 4,000-digit number).
MAX_ERROR_CHARS = 200
#: The run-name column never gets narrower than this; names are shortened to fit.
MIN_NAME_WIDTH = 12


@dataclass
class RunReport:
    """What the summary command says about one run, or why it could not say it.

    `summary` is None when summarising raised; `errors` then holds the reason
    ("could not summarise: ...", "could not diagnose: ..."). `diagnosed` is
    False when the rules raised, so --fail-on can treat the findings as unknown.
    """

    run: Run
    summary: RunSummary | None
    findings: list[Finding] = field(default_factory=list)
    status: Status | None = None
    diagnosed: bool = True
    errors: list[str] = field(default_factory=list)


def build_report(run: Run, now: float | None = None) -> RunReport:
    """Summarise and diagnose one run; an error in either is reported for this run only.

    This is the command's last line of defence, not the fix: an error here
    is a bug in the summary or the rules, shown with where it came from.
    """
    now = time.time() if now is None else now
    report = RunReport(run, None)
    try:
        summary = summarize(run)
        summary.rows()  # formatting belongs to summarising: fail here, not while printing
        report.summary = summary
    except Exception as error:  # noqa: BLE001 - reported in the run's row, never swallowed
        report.errors.append(f"could not summarise: {describe_error(error)}")
    try:
        report.findings = diagnose(run)
    except Exception as error:  # noqa: BLE001 - reported in the run's row, never swallowed
        report.diagnosed = False
        report.errors.append(f"could not diagnose: {describe_error(error)}")
    try:
        report.status = status_of(run, now)
    except Exception as error:  # noqa: BLE001 - reported in the run's row, never swallowed
        report.errors.append(f"could not tell the status: {describe_error(error)}")
    return report


def describe_error(error: BaseException) -> str:
    """`OverflowError: int too large to convert to float (summary.py:131 in summarize)`."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        frame = frames[-1]
        text += f" ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    return printable(text)


def status_of(run: Run, now: float) -> Status:
    """The monitor's status words, from the run as read now (the same function)."""
    return run_status(
        gone=any(p.kind is ProblemKind.MISSING for p in run.problems),
        epochs_done=run.epochs_done,
        total_epochs=run.total_epochs,
        points=run.record_count,
        mtime=run.mtime,
        mean_epoch_s=mean_epoch_s(run),
        now=now,
        problems=run.problems,
    )


# --- JSON ------------------------------------------------------------------------------------


def run_json(report: RunReport) -> dict[str, Any]:
    """One run's entry of `summary --json` (NaN/Inf still in: the caller makes them null)."""
    run, summary = report.run, report.summary
    problems = [p.message for p in run.problems] + report.errors
    internal = ProblemKind.INTERNAL_ERROR.value
    kinds = [p.kind.value for p in run.problems] + [internal] * len(report.errors)
    return {
        "name": run.name,
        "path": str(run.path),
        "status": report.status.value if report.status else None,
        "epochs": summary.epochs if summary else run.epochs_done,
        "total_epochs": summary.total_epochs if summary else None,
        "task": summary.task.value if summary and summary.task else None,
        "format": run.format or None,
        "x": run.x,
        "steps": summary.steps if summary and run.x == STEP else None,
        "best_epoch": summary.best_epoch if summary else None,
        "best_step": summary.best_step if summary else None,
        "best_by": summary.best_by if summary else None,
        "training_time_s": summary.training_time_s if summary else None,
        "mean_epoch_s": summary.mean_epoch_s if summary else None,
        "last": dict(summary.last) if summary else {},
        "best": ({key: b.as_json(summary.x) for key, b in summary.best.items()} if summary else {}),
        "diagnostics": [
            {
                "id": f.id,
                "severity": f.severity.value,
                "message": f.message,
                "observation": f.observation,
                "evidence": f.evidence,
                "cause": f.cause,
                "action": f.action,
                "epoch": f.epoch,
                "step": f.step,
            }
            for f in report.findings
        ],
        "problems": problems,
        "problem_kinds": kinds,
    }


# --- text ------------------------------------------------------------------------------------


def print_reports(
    reports: Sequence[RunReport], console: Console | None = None, *, detail: bool = False
) -> None:
    """A box per run (few runs, or detail), else one table row per run."""
    console = console or Console()
    if detail or len(reports) <= TABLE_ABOVE:
        for report in reports:
            console.print(render_run(report))
        return
    console.print(render_table(reports, console.width))
    for line in notes(reports):
        console.print(line, overflow="fold")
    console.print(footer(reports, console.width))


def render_run(report: RunReport) -> Panel:
    run, summary, findings = report.run, report.summary, report.findings
    parts: list[Any] = [Text(printable(run.path), style="dim")]
    if summary is not None:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("Metric")
        table.add_column("Value", justify="right")
        for label, value in summary.rows():
            table.add_row(Text(printable(label)), Text(printable(value)))
        parts.append(table)
    parts.append(Text(""))
    if findings:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for finding in findings:
            style = SEVERITY_LOOKS[finding.severity][1]
            body = Text()
            body.append(printable(finding.observation), style=f"{style} bold")
            body.append(f" ({printable(finding.id)})\n", style="dim")
            body.append(f"{printable(finding.evidence)}\n")
            body.append(f"cause: {printable(finding.cause)}\n", style="dim")
            body.append(f"try:   {printable(finding.action)}", style="dim")
            grid.add_row(Text(finding.severity.value.upper(), style=style), body)
        parts.append(grid)
    elif report.diagnosed:
        parts.append(Text("No problems found.", style="green"))
    for error in report.errors:
        parts.append(Text(error, style="bold red"))
    for problem in run.problems:
        parts.append(Text(f"note: {printable(problem.message)}", style="magenta"))
    return Panel(
        Group(*parts),
        title=Text(printable(run.name), style="bold"),
        title_align="left",
        expand=False,
    )


HEADERS = ("Run", "Status", "Progress", "Best", "Train loss", "Val loss", "Findings")
BEST = 3  # the index of the Best column
#: Below this many columns for the names, the status column shows its mark only.
NAME_ROOM = 28


def render_table(reports: Sequence[RunReport], width: int) -> Table:
    """One row per run, fitted to `width`; the names take what the other columns leave.

    The Best column is headed by the metric most runs are ranked by; a run
    ranked by another one names it after the value, where it is cut first
    when room is short (the value and its epoch never are). Names are
    shortened in the middle (safetext.shorten_middle). When even that leaves
    them too little room, the status column shows its mark only (the footer
    is the legend).
    """
    ranked_by = Counter(r.summary.best_by for r in reports if r.summary and r.summary.best_by)
    common = ranked_by.most_common(1)[0][0] if ranked_by else None
    headers = list(HEADERS)
    if common:
        headers[BEST] = f"Best {_short_label(common)}"
    rows = [_row(report, common) for report in reports]
    gaps = 2 * (len(headers) - 1)
    longest_name = max(cell_len(row[0].plain) for row in rows)
    widths = _widths(headers, rows)
    best_min = max(cell_len(headers[BEST]), *(_value_width(row[BEST]) for row in rows))
    room = width - gaps - sum(widths[1:]) + widths[BEST]  # for the names and Best together
    if room - best_min < min(longest_name, NAME_ROOM):
        headers[1] = ""
        for row in rows:
            row[1] = row[1][:1]  # the mark
        room += widths[1] - 1
        widths[1] = 1
    name_width = min(longest_name, max(MIN_NAME_WIDTH, room - widths[BEST]))
    widths[BEST] = max(best_min, min(widths[BEST], room - name_width))
    name_width = min(longest_name, max(MIN_NAME_WIDTH, room - widths[BEST]))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    # Headers are Text, never markup: the Best header holds a key from a file (`acc[/]`).
    table.add_column(Text(headers[0]), no_wrap=True, width=name_width)
    last = len(headers) - 1
    for index in range(1, len(headers)):
        table.add_column(
            Text(headers[index]),
            justify="left" if index in (1, BEST, last) else "right",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[index],
        )
    for row in rows:
        row[0] = Text(shorten_middle(row[0].plain, name_width), style=row[0].style)
        table.add_row(*row)
    return table


def _widths(headers: list[str], rows: list[list[Text]]) -> list[int]:
    """Each column as wide as its header or its widest cell."""
    return [
        max(cell_len(header), *(cell_len(row[index].plain) for row in rows))
        for index, header in enumerate(headers)
    ]


def _value_width(best: Text) -> int:
    """The width of a Best cell without the metric named after the value."""
    return cell_len(best.plain.split("  ", 1)[0])


def _row(report: RunReport, common: str | None) -> list[Text]:
    run, summary = report.run, report.summary
    name = Text(printable(run.name), style="bold")
    status = _status_text(report)
    if summary is None:
        epochs = Text(str(run.epochs_done))
        best = train = val = Text("—", style="dim")
    else:
        epochs = Text(summary.progress(compact=True))
        best = _best_text(summary, common)
        train = Text(format_value("train_loss", summary.last.get("train_loss")))
        val = Text(format_value("val_loss", summary.last.get("val_loss")))
    return [name, status, epochs, best, train, val, _findings_text(report)]


def _status_text(report: RunReport) -> Text:
    if report.status is None:
        return Text("? error", style="bold red")
    look = STATUS_LOOKS[report.status]
    text = Text(look.mark, style=look.style)
    text.append(f" {look.word}", style=look.word_style or "")
    return text


def _best_text(summary: RunSummary, common: str | None) -> Text:
    """`0.2255 @ 48`, or `70.0% @ 10  val accuracy` when ranked by another metric."""
    key = summary.best_by
    best = summary.best.get(key) if key else None
    if key is None or best is None:
        return Text("—", style="dim")
    scales = {line.key: line.scale for line in summary.metrics}
    value = format_value(key, best.value, scale=scales.get(key, 1.0))
    text = Text(f"{value} @ {best.step}")
    if key != common:
        text.append(f"  {_short_label(key)}", style="dim")
    return text


def _short_label(key: str | None) -> str:
    """`val loss`, `val accuracy`: the registry's label, lower case (it sits in a header)."""
    return printable(spec_for(key).label.lower()) if key else ""


def _findings_text(report: RunReport) -> Text:
    if report.errors:  # the whole error is on its own line below the table
        return Text("error", style="bold red")
    if report.run.record_count == 0:
        return Text("—", style="dim")
    text = Text()
    for severity in (Severity.CRITICAL, Severity.WARNING):
        count = sum(1 for f in report.findings if f.severity is severity)
        if count:
            mark, style = SEVERITY_LOOKS[severity]
            text.append(f"{' ' if text else ''}{mark}{count}", style=style)
    return text if text else Text("ok", style="green")


def notes(reports: Sequence[RunReport]) -> list[Text]:
    """Below the table: each run's errors, then what its reader noted, one line each."""
    lines = []
    for report in reports:
        name = printable(report.run.name)
        for error in report.errors:
            lines.append(Text(f"{name}: {error}", style="bold red"))
        for problem in report.run.problems:
            lines.append(Text(f"{name}: note: {printable(problem.message)}", style="magenta"))
    return lines


def footer(reports: Sequence[RunReport], width: int) -> Text:
    """`17 runs: ◌ 1 stalled ✓ 16 finished · ■ 3 critical ▲ 4 warning · details: --detail`.

    It is also the legend of the marks, which stand alone in a narrow table;
    the hint at the end is left out when it would not fit on the line.
    """
    text = Text(f"{len(reports)} runs:", style="dim")
    for status, look in STATUS_LOOKS.items():
        count = sum(1 for r in reports if r.status is status)
        if count:
            text.append(f" {look.mark} {count} {look.word}", style=look.style)
    text.append(" ·", style="dim")
    for severity in (Severity.CRITICAL, Severity.WARNING):
        count = sum(1 for r in reports for f in r.findings if f.severity is severity)
        mark, style = SEVERITY_LOOKS[severity]
        text.append(f" {mark} {count} {severity.value}", style=style if count else "dim")
    hint = " · details: --detail"
    if text.cell_len + cell_len(hint) <= width:
        text.append(hint, style="dim")
    return text

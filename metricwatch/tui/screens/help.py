"""The `?` screen: every key binding, generated from the app's bindings so it cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from metricwatch.analysis.diagnostics import Severity
from metricwatch.analysis.status import SEVERITY_LOOKS, STATUS_LOOKS

EXTRA_KEYS = (
    ("tab / shift+tab", "Move focus (runs, summary, findings)"),
    ("enter (in filter)", "Keep the filter and go back to the runs"),
    ("ctrl+p", "Command palette"),
    ("mouse", "Click a run; scroll panels (never required)"),
)

_WARNING, _CRITICAL = SEVERITY_LOOKS[Severity.WARNING], SEVERITY_LOOKS[Severity.CRITICAL]
MARKS = (
    *((look.mark, f"{look.word}: {look.help}") for look in STATUS_LOOKS.values()),
    (
        f"{_WARNING[0]}n",
        f"findings, coloured by the worst ({_WARNING[1]}: warning, {_CRITICAL[1]}: critical)",
    ),
    (f"{_WARNING[0]} / {_CRITICAL[0]}", "a warning / a critical finding in the findings panel"),
)


def _key_label(binding: Binding) -> str:
    names = {
        "question_mark": "?",
        "slash": "/",
        "escape": "esc",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
    }
    return " / ".join(names.get(k.strip(), k.strip()) for k in binding.key.split(","))


def help_table(bindings: list[Binding]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for binding in bindings:
        if binding.tooltip or binding.description:
            table.add_row(Text(_key_label(binding)), Text(binding.tooltip or binding.description))
    for key, description in EXTRA_KEYS:
        table.add_row(Text(key), Text(description))
    table.add_row("", "")
    for mark, meaning in MARKS:
        table.add_row(Text(mark), Text(meaning, style="dim"))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,question_mark,q", "dismiss", "Close help"),
    ]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.listed = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "metricwatch keys"
            box.border_subtitle = "esc / ? to close"
            yield Static(help_table(self.listed), id="help-body")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

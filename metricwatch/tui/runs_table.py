"""The runs table's rows as data: one row per run, sortable cells, differing hyperparameters.

Pure (no textual): the `t` screen (screens/runs_table.py) only lays these out.
Every cell is a (text, sort key) pair; text from files (names, config values)
stays plain text, never markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from metricwatch.analysis.status import STATUS_LOOKS
from metricwatch.hparams import config_of, differing
from metricwatch.metrics import format_value
from metricwatch.safetext import printable
from metricwatch.tui.state import RunState

#: The fixed columns, before the hyperparameters that differ between runs.
FIXED = ("", "run", "format", "progress", "best", "train loss", "val loss", "findings")

SortKey = tuple[int, float, str]


@dataclass(frozen=True)
class Cell:
    text: str
    key: SortKey  # (missing last, number, text): numbers sort as numbers, blanks last

    @staticmethod
    def of(text: str, number: float | None = None) -> Cell:
        if number is not None and math.isfinite(number):
            return Cell(text, (0, number, ""))
        if text:
            try:
                return Cell(text, (0, float(text), ""))
            except ValueError:
                return Cell(text, (1, 0.0, text.lower()))
        return Cell(text, (2, 0.0, ""))


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (run name, cells)

    def sorted_by(self, column: int, descending: bool = False) -> Table:
        """Rows by one column; blanks last either way, ties in name order."""
        present = [r for r in self.rows if r[1][column].key[0] < 2]
        blank = [r for r in self.rows if r[1][column].key[0] == 2]
        present.sort(key=lambda r: r[1][column].key, reverse=descending)
        return Table(self.columns, tuple(present + blank))

    def filtered(self, text: str) -> Table:
        """Rows whose run name holds the text (case-insensitive)."""
        needle = text.strip().lower()
        if not needle:
            return self
        return Table(self.columns, tuple(r for r in self.rows if needle in r[0].lower()))


def runs_table(states: Sequence[RunState], now: float) -> Table:
    configs = {state.name: config_of(state.meta) for state in states}
    params = differing(configs)
    rows = []
    for state in states:
        findings = state.all_findings(now)
        look = STATUS_LOOKS[state.status(now, findings)]
        summary = state.summary
        points = summary.steps if summary.x == "step" else state.epochs_done
        cells = [
            Cell(look.mark, (0, 0.0, look.word)),
            Cell.of(printable(state.name)),
            Cell.of(printable(state.format)),
            Cell(summary.progress(compact=True), (0, float(points), "")),
            _best(state),
            _last(state, "train_loss"),
            _last(state, "val_loss"),
            Cell(str(len(findings)) if findings else "", (0, float(len(findings)), "")),
        ]
        cells += [Cell.of(printable(configs[state.name].get(key, ""))) for key in params]
        rows.append((state.name, tuple(cells)))
    ranked = {state.summary.best_by for state in states} - {None}
    fixed = list(FIXED)
    if len(ranked) == 1:  # every run ranked by the same key: the header names it
        fixed[FIXED.index("best")] = f"best {ranked.pop()}"
    return Table(tuple(fixed) + tuple(printable(p) for p in params), tuple(rows))


def _best(state: RunState) -> Cell:
    """`85.9% @ 19`: the ranking metric's best value and where."""
    summary = state.summary
    key = summary.best_by
    best = summary.best.get(key) if key else None
    if key is None or best is None:
        return Cell.of("")
    line = next((m for m in summary.metrics if m.key == key), None)
    shown = line.format(best.value) if line is not None else format_value(key, best.value)
    return Cell(f"{shown} @ {best.step}", (0, best.value, ""))


def _last(state: RunState, key: str) -> Cell:
    value = state.summary.last.get(key)
    if value is None:
        return Cell.of("")
    return Cell.of(format_value(key, value), value)

"""Plain data the rest of metricwatch passes around: no I/O, no terminal.

A run is the ordered list of its epoch records plus whatever went wrong
while reading it. Keeping problems beside the data (instead of raising)
is what lets the monitor keep showing the last good epochs while a file
is half-written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class ProblemKind(str, Enum):
    """What kind of trouble a reader met. Stable strings, used in JSON output."""

    EMPTY = "empty"
    TRUNCATED = "truncated"
    INVALID_JSON = "invalid_json"
    NOT_OURS = "not_ours"
    ENCODING = "encoding"
    NON_NUMERIC = "non_numeric"
    BAD_EPOCH = "bad_epoch"
    RESTART = "restart"
    UNREADABLE = "unreadable"
    MISSING = "missing"


@dataclass(frozen=True)
class Problem:
    """One thing a reader could not take at face value, in words a user can act on."""

    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Record:
    """One epoch: its 1-based number and every numeric value logged for it.

    Values may be NaN or +/-Inf: they are data the user must see, not noise.
    """

    epoch: int
    values: dict[str, float]

    def get(self, key: str) -> float | None:
        return self.values.get(key)


@dataclass(frozen=True)
class Series:
    """One key's values against epoch, in epoch order, with gaps skipped."""

    key: str
    epochs: tuple[int, ...]
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.values)

    def finite(self) -> Series:
        """The same series without NaN/Inf points, for arithmetic that needs numbers."""
        pairs = [(e, v) for e, v in zip(self.epochs, self.values) if math.isfinite(v)]
        return Series(self.key, tuple(e for e, _ in pairs), tuple(v for _, v in pairs))

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass
class Run:
    """A training run as read from disk at one moment."""

    name: str
    path: Path
    records: list[Record] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    mtime: float | None = None
    _column_cache: dict[str, tuple[list[int], list[float]]] | None = field(
        default=None, repr=False, compare=False
    )
    _column_count: int = field(default=-1, repr=False, compare=False)

    @property
    def epochs_done(self) -> int:
        """How many epochs have finished: the last epoch number, plus one if counting from 0."""
        if not self.records:
            return 0
        return self.records[-1].epoch + (1 if self.records[0].epoch == 0 else 0)

    @property
    def total_epochs(self) -> int | None:
        total = self.meta.get("total_epochs")
        if isinstance(total, bool) or not isinstance(total, (int, float)):
            return None
        if not math.isfinite(total) or total <= 0:
            return None
        return int(total)

    @property
    def keys(self) -> list[str]:
        """Every logged key, in first-seen order."""
        return list(self._columns())

    def series(self, key: str) -> Series:
        epochs, values = self._columns().get(key, ((), ()))
        return Series(key, tuple(epochs), tuple(values))

    def has(self, key: str) -> bool:
        return key in self._columns()

    def _columns(self) -> dict[str, tuple[list[int], list[float]]]:
        """Every key's (epochs, values), built in one pass and kept: records are not mutated."""
        if self._column_cache is None or self._column_count != len(self.records):
            columns: dict[str, tuple[list[int], list[float]]] = {}
            for record in self.records:
                for key, value in record.values.items():
                    column = columns.get(key)
                    if column is None:
                        column = columns[key] = ([], [])
                    column[0].append(record.epoch)
                    column[1].append(value)
            self._column_cache = columns
            self._column_count = len(self.records)
        return self._column_cache

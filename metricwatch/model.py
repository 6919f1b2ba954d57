"""Plain data the rest of metricwatch passes around: no I/O, no terminal.

A run is a table of scalar series against the epoch, plus whatever went
wrong while reading it. Keeping problems beside the data (instead of
raising) is what lets the monitor keep showing the last good epochs while a
file is half-written.

Storage is columnar: each series is two numpy arrays (epochs as int64,
values as float64), never one Python object per point. A 25-million-value
file then costs 16 bytes a point instead of a few hundred, and summaries,
rules and chart reduction are array operations, not Python loops. Series
that share their epochs share one array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


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
    INTERNAL_ERROR = "internal_error"  # metricwatch failed on this run: a bug, reported as one


@dataclass(frozen=True)
class Problem:
    """One thing a reader could not take at face value, in words a user can act on."""

    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return self.message


_NO_EPOCHS = np.empty(0, dtype=np.int64)
_NO_VALUES = np.empty(0, dtype=np.float64)
for _array in (_NO_EPOCHS, _NO_VALUES):
    _array.flags.writeable = False


def _frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only array of dtype: series are shared between runs, states and threads."""
    array = np.asarray(array, dtype=dtype)
    if array.flags.writeable:
        array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Series:
    """One key's values against epoch, in epoch order, gaps skipped.

    `epochs` is int64 and `values` float64, both read-only. Values may be
    NaN or +/-Inf: they are data the user must see, not noise.
    """

    key: str
    epochs: np.ndarray = field(default_factory=lambda: _NO_EPOCHS)
    values: np.ndarray = field(default_factory=lambda: _NO_VALUES)

    def __post_init__(self) -> None:
        epochs = _frozen(self.epochs, np.int64)
        values = _frozen(self.values, np.float64)
        if epochs.shape != values.shape or epochs.ndim != 1:
            raise ValueError(f"series {self.key!r}: epochs and values differ in shape")
        object.__setattr__(self, "epochs", epochs)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def finite(self) -> Series:
        """The same series without NaN/Inf points, for arithmetic that needs numbers."""
        keep = np.isfinite(self.values)
        if keep.all():
            return self
        return Series(self.key, self.epochs[keep], self.values[keep])

    @property
    def last(self) -> float | None:
        return float(self.values[-1]) if len(self) else None

    @property
    def last_epoch(self) -> int | None:
        return int(self.epochs[-1]) if len(self) else None


@dataclass(frozen=True, eq=False)
class Table:
    """Every series of a run, and the epoch of each record (the rows of the file).

    `epochs` holds one entry per record kept, ascending: it counts epochs
    and tells whether the run counts from 0, independently of which keys
    each record carried.
    """

    epochs: np.ndarray = field(default_factory=lambda: _NO_EPOCHS)
    series: Mapping[str, Series] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", _frozen(self.epochs, np.int64))

    def __len__(self) -> int:
        return int(self.epochs.shape[0])

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, Mapping[str, float]]]) -> Table:
        """A table from (epoch, {key: value}) rows in epoch order (tests, small writers)."""
        epochs: list[int] = []
        columns: dict[str, tuple[list[int], list[float]]] = {}
        for epoch, values in rows:
            epochs.append(epoch)
            for key, value in values.items():
                column = columns.setdefault(key, ([], []))
                column[0].append(epoch)
                column[1].append(value)
        return cls(
            np.asarray(epochs, dtype=np.int64),
            {key: Series(key, np.asarray(e), np.asarray(v)) for key, (e, v) in columns.items()},
        )

    def rows(self) -> list[dict[str, Any]]:
        """The table as epoch records ({"epoch": n, key: value, ...}), for writing it back."""
        out = {int(epoch): {"epoch": int(epoch)} for epoch in self.epochs}
        for key, series in self.series.items():
            for epoch, value in zip(series.epochs.tolist(), series.values.tolist()):
                out.setdefault(epoch, {"epoch": epoch})[key] = value
        return [out[epoch] for epoch in sorted(out)]


@dataclass
class Run:
    """A training run as read from disk at one moment."""

    name: str
    path: Path
    table: Table = field(default_factory=Table)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    mtime: float | None = None

    @property
    def record_count(self) -> int:
        """How many epoch records were read (a damaged re-read that has fewer lost data)."""
        return len(self.table)

    @property
    def epochs_done(self) -> int:
        """How many epochs have finished: the last epoch number, plus one if counting from 0."""
        epochs = self.table.epochs
        if not len(epochs):
            return 0
        return int(epochs[-1]) + (1 if epochs[0] == 0 else 0)

    @property
    def total_epochs(self) -> int | None:
        total = self.meta.get("total_epochs")
        if isinstance(total, bool) or not isinstance(total, (int, float)):
            return None
        try:
            if not math.isfinite(total) or total <= 0:
                return None
            return int(total)
        except OverflowError:  # an int too large for a float: not a real total
            return None

    @property
    def keys(self) -> list[str]:
        """Every logged key, in first-seen order."""
        return list(self.table.series)

    def series(self, key: str) -> Series:
        found = self.table.series.get(key)
        return found if found is not None else Series(key)

    def has(self, key: str) -> bool:
        return key in self.table.series

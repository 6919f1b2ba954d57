"""Plain data the rest of metricwatch passes around: no I/O, no terminal.

A run is a table of scalar series against a step axis (the epoch number
for runs logged once per epoch), plus whatever went wrong while reading
it. Keeping problems beside the data (instead of raising) is what lets
the monitor keep showing the last good points while a file is half-written.

Storage is columnar: each series is numpy arrays (steps as int64, values
as float64; epochs and times where known), never one Python object per
point. A 25-million-value file then costs 16 bytes a point instead of a
few hundred, and summaries, rules and chart reduction are array
operations, not Python loops. Series that share their steps share one array.
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


_NO_STEPS = np.empty(0, dtype=np.int64)
_NO_VALUES = np.empty(0, dtype=np.float64)
for _array in (_NO_STEPS, _NO_VALUES):
    _array.flags.writeable = False

#: The two natural x axes: a run logged once per epoch, or every N optimiser steps.
EPOCH = "epoch"
STEP = "step"
#: What a step run's points may also say: the other x axes (epoch, Unix time).
STEP_AXES = ("epoch", "time")


def _frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only array of dtype: series are shared between runs, states and threads."""
    array = np.asarray(array, dtype=dtype)
    if array.flags.writeable:
        array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Series:
    """One key's values against the run's x axis, in x order, gaps skipped.

    `steps` (int64) is the x position: the epoch number in a run logged per
    epoch, the optimiser step in a run logged per step. `epochs` (float64,
    fractional within an epoch) and `times` (float64, Unix seconds) are
    there where the source knows them, else None. All arrays are read-only
    and of one length. Values may be NaN or +/-Inf: they are data the user
    must see, not noise.
    """

    key: str
    steps: np.ndarray = field(default_factory=lambda: _NO_STEPS)
    values: np.ndarray = field(default_factory=lambda: _NO_VALUES)
    epochs: np.ndarray | None = None
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        steps = _frozen(self.steps, np.int64)
        values = _frozen(self.values, np.float64)
        if steps.shape != values.shape or steps.ndim != 1:
            raise ValueError(f"series {self.key!r}: steps and values differ in shape")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "values", values)
        for name in ("epochs", "times"):
            extra = getattr(self, name)
            if extra is not None:
                extra = _frozen(extra, np.float64)
                if extra.shape != values.shape:
                    raise ValueError(f"series {self.key!r}: {name} and values differ in shape")
                object.__setattr__(self, name, extra)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def of_columns(
        cls,
        key: str,
        steps: np.ndarray,
        values: np.ndarray,
        epochs: np.ndarray | None,
        times: np.ndarray | None,
    ) -> Series:
        """A Series of arrays that are already what __post_init__ makes them: read-only,
        int64 steps, float64 values, epochs and times, all of one length (a growing log's
        columns: readers/columns.GrowingColumn.shown). A live log makes a Series for every
        key it wrote at every write; the checks cost more than the write's points. Only the
        lengths are checked here, as __post_init__ would."""
        length = values.shape[0]
        if (
            steps.shape[0] != length
            or (epochs is not None and epochs.shape[0] != length)
            or (times is not None and times.shape[0] != length)
        ):
            raise ValueError(f"series {key!r}: its columns differ in length")
        made = object.__new__(cls)
        set_field = object.__setattr__
        set_field(made, "key", key)
        set_field(made, "steps", steps)
        set_field(made, "values", values)
        set_field(made, "epochs", epochs)
        set_field(made, "times", times)
        return made

    def take(self, index: np.ndarray) -> Series:
        """The points at index (a boolean mask or positions), every axis kept in step."""
        return Series(
            self.key,
            self.steps[index],
            self.values[index],
            None if self.epochs is None else self.epochs[index],
            None if self.times is None else self.times[index],
        )

    def finite(self) -> Series:
        """The same series without NaN/Inf points, for arithmetic that needs numbers."""
        keep = np.isfinite(self.values)
        return self if keep.all() else self.take(keep)

    # last and last_step are read for every key at every write of a live run: no len().
    @property
    def last(self) -> float | None:
        values = self.values
        return float(values[-1]) if values.shape[0] else None

    @property
    def last_step(self) -> int | None:
        steps = self.steps
        return int(steps[-1]) if steps.shape[0] else None

    def epoch_at(self, index: int) -> float | None:
        """The epoch of point index, where known."""
        return None if self.epochs is None else float(self.epochs[index])


@dataclass(frozen=True, eq=False)
class Table:
    """Every series of a run, and the x position of each record (the rows of the file).

    `steps` holds one entry per record kept, ascending: it counts epochs (or
    steps) and tells whether the run counts from 0, independently of which
    keys each record carried. `x` says what the steps are: EPOCH or STEP.
    """

    steps: np.ndarray = field(default_factory=lambda: _NO_STEPS)
    series: Mapping[str, Series] = field(default_factory=dict)
    x: str = EPOCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _frozen(self.steps, np.int64))

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, Mapping[str, float]]], x: str = EPOCH) -> Table:
        """A table from (step, {key: value}) rows in step order (tests, small writers)."""
        steps: list[int] = []
        columns: dict[str, tuple[list[int], list[float]]] = {}
        for step, values in rows:
            steps.append(step)
            for key, value in values.items():
                column = columns.setdefault(key, ([], []))
                column[0].append(step)
                column[1].append(value)
        return cls(
            np.asarray(steps, dtype=np.int64),
            {key: Series(key, np.asarray(e), np.asarray(v)) for key, (e, v) in columns.items()},
            x,
        )

    def rows(self) -> list[dict[str, Any]]:
        """The table as records ({x: n, key: value, ...}), for writing it back."""
        out = {int(step): {self.x: int(step)} for step in self.steps}
        for key, series in self.series.items():
            for step, value in zip(series.steps.tolist(), series.values.tolist()):
                out.setdefault(step, {self.x: step})[key] = value
        return [out[step] for step in sorted(out)]


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
    format: str = ""  # the FileFormat name that read it ("metricwatch", "hf_trainer_state"...)
    # A file holding several runs (an MLflow store, Keras fits appended): one Run per part,
    # by part name; this Run's problems are then the file's own (see run_parts.expand).
    parts: dict[str, Run] = field(default_factory=dict)

    @property
    def record_count(self) -> int:
        """How many epoch records were read (a damaged re-read that has fewer lost data)."""
        return len(self.table)

    @property
    def x(self) -> str:
        """The run's natural x axis: EPOCH (one record per epoch) or STEP."""
        return self.table.x

    @property
    def epochs_done(self) -> int:
        """How many epochs have finished: the last epoch number, plus one if counting from 0.

        For a step run, the whole epochs its latest point has reached, where known.
        """
        steps = self.table.steps
        if not len(steps):
            return 0
        if self.x == EPOCH:
            return int(steps[-1]) + (1 if steps[0] == 0 else 0)
        known = [s.epochs[-1] for s in self.table.series.values() if s.epochs is not None]
        finite = [e for e in known if math.isfinite(e)]
        return int(max(finite)) if finite else 0

    @property
    def last_step(self) -> int | None:
        """The latest x position logged (an epoch number in an epoch run)."""
        steps = self.table.steps
        return int(steps[-1]) if len(steps) else None

    @property
    def total_epochs(self) -> int | None:
        total = self.meta.get("total_epochs")
        if isinstance(total, bool) or not isinstance(total, (int, float)):
            return None
        try:
            if not math.isfinite(total) or total < 1:  # 0.5 epochs is no plan: not "finished"
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

"""A server's runs as the monitor's client holds them (metricwatch.sources.remote).

Each run is its listing (`GET /api/runs`) and its records by column, appended as
they come to numpy buffers that grow in place, and given to the run model's
Table as views of them: a step run of 100,000 points updated 20 times a second
costs the new records, not a copy of every column at every update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricwatch.model import EPOCH, STEP, STEP_AXES, Series, Table

#: The x a record may have: what the Table's int64 steps hold (a bigger one is refused).
X_MAX = 2**63 - 1


class _Buffer:
    """A column grown in place (its capacity doubling), given out as views of its filled
    part. A view given out is never written again: appends go past its end, and a cut
    starts a new array, so a Table made earlier (the monitor may still draw it) keeps
    its data."""

    def __init__(self, dtype: type, data: np.ndarray | None = None) -> None:
        self.size = 0 if data is None else len(data)
        self.data = np.empty(max(16, 2 * self.size), dtype=dtype)
        if data is not None:
            self.data[: self.size] = data

    def append(self, value: float) -> None:
        if self.size == len(self.data):
            grown = np.empty(2 * len(self.data), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size] = value
        self.size += 1

    def view(self) -> np.ndarray:
        return self.data[: self.size]

    def cut_at(self, start: int) -> _Buffer:
        """A new buffer of the values below `start` (this one, an x column, is sorted)."""
        keep = int(np.searchsorted(self.view(), start, side="left"))
        return _Buffer(self.data.dtype.type, self.data[:keep])


@dataclass
class RemoteRun:
    """One run of the server as the client holds it: its listing and its records, by
    column, in numpy buffers grown as records come (see the module docstring)."""

    id: str
    name: str
    x: str
    format: str
    total: int | None
    updated: float | None
    _steps: _Buffer = field(default_factory=lambda: _Buffer(np.int64))
    #: key -> (its x, its values, and a step run's epochs and times: NaN where unknown)
    _columns: dict[str, tuple[_Buffer, ...]] = field(default_factory=dict)
    gone: bool = False

    @property
    def last(self) -> int | None:
        return int(self._steps.data[self._steps.size - 1]) if self._steps.size else None

    def add(self, records: list[dict[str, Any]]) -> bool:
        """Append the records after the last x held; whether any was new."""
        added = False
        last = self.last
        for record in records:
            x = record.get(self.x)
            if (
                not isinstance(x, int)
                or isinstance(x, bool)
                or not -X_MAX <= x <= X_MAX
                or (last is not None and x <= last)
            ):
                continue
            self._steps.append(x)
            axes = self.x == STEP
            epoch, time = (_axis(record, name) for name in STEP_AXES) if axes else (math.nan,) * 2
            for key, value in _values(record, self.x, STEP_AXES if axes else ()).items():
                column = self._columns.get(key)
                if column is None:
                    buffers = [_Buffer(np.int64), *(_Buffer(np.float64) for _ in range(3))]
                    column = self._columns[key] = tuple(buffers)
                column[0].append(x)
                column[1].append(value)
                column[2].append(epoch)
                column[3].append(time)
            last = x
            added = True
        return added

    def take_records(self, held: RemoteRun) -> None:
        """Hold the records of `held` (the same run, listed again)."""
        self._steps, self._columns = held._steps, held._columns

    def clear(self) -> None:
        self._steps, self._columns = _Buffer(np.int64), {}

    def truncate(self, start: int) -> None:
        """Forget the records at x `start` and after (the server says they changed)."""
        self._steps = self._steps.cut_at(start)
        columns = {}
        for key, (steps, *rest) in self._columns.items():
            kept = steps.cut_at(start)
            if kept.size:
                columns[key] = (kept, *(_Buffer(np.float64, b.data[: kept.size]) for b in rest))
        self._columns = columns

    def table(self) -> Table:
        series = {}
        for key, (steps, values, epochs, times) in self._columns.items():
            # the other axes only where the server gave them (a step run's records)
            known = [b.view() if np.isfinite(b.view()).any() else None for b in (epochs, times)]
            series[key] = Series(key, steps.view(), values.view(), *known)
        return Table(self._steps.view(), series, self.x)


def boot(event_id: Any) -> str | None:
    """The server's start in an event id (`<boot>-<number>`): a new one, a new server."""
    return event_id.rpartition("-")[0] if isinstance(event_id, str) else None


def listed_last(entry: dict[str, Any]) -> int | None:
    """The last x a run of `GET /api/runs` says it has (steps, or epochs done)."""
    return _whole(entry.get("steps" if entry.get("x") == STEP else "epochs"))


def run_of_listing(entry: dict[str, Any]) -> RemoteRun:
    """A run of `GET /api/runs` (or of a `run` event), without its records yet."""
    return RemoteRun(
        str(entry["id"]),
        str(entry["name"]),
        STEP if entry.get("x") == STEP else EPOCH,
        str(entry.get("format") or ""),
        _whole(entry.get("total")),
        _number(entry.get("updated")),
    )


def _axis(record: dict[str, Any], name: str) -> float:
    """A record's epoch or time; NaN when it has none (or not a number)."""
    value = record.get(name)
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else math.nan
    )


def _values(record: dict[str, Any], x: str, axes: tuple[str, ...] = ()) -> dict[str, float]:
    """A record's values as floats; null (NaN or Inf on the server) as NaN."""
    out = {}
    for key, value in record.items():
        if key == x or key in axes or isinstance(value, bool):
            continue
        if value is None:
            out[key] = math.nan
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

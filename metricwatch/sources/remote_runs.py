"""A server's runs as the monitor's client holds them (metricwatch.sources.remote).

Each run is its listing (`GET /api/runs`) and its records by column, appended as
they come, made into the run model's Table in C (numpy) rather than record by
record: a step run of 100,000 points updated 20 times a second costs the
arrays, not a Python loop over every record.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricwatch.model import EPOCH, STEP, Series, Table

#: The x a record may have: what the Table's int64 steps hold (a bigger one is refused).
X_MAX = 2**63 - 1


@dataclass
class RemoteRun:
    """One run of the server as the client holds it: its listing and its records, by
    column (appended as they come; a Table is made of them in C, not record by record)."""

    id: str
    name: str
    x: str
    format: str
    total: int | None
    updated: float | None
    steps: list[int] = field(default_factory=list)
    columns: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    gone: bool = False

    @property
    def last(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def add(self, records: list[dict[str, Any]]) -> bool:
        """Append the records after the last x held; whether any was new."""
        added = False
        for record in records:
            x = record.get(self.x)
            if (
                not isinstance(x, int)
                or isinstance(x, bool)
                or not -X_MAX <= x <= X_MAX
                or (self.steps and x <= self.steps[-1])
            ):
                continue
            self.steps.append(x)
            for key, value in _values(record, self.x).items():
                steps, values = self.columns.setdefault(key, ([], []))
                steps.append(x)
                values.append(value)
            added = True
        return added

    def clear(self) -> None:
        self.steps, self.columns = [], {}

    def truncate(self, start: int) -> None:
        """Forget the records at x `start` and after (the server says they changed)."""
        del self.steps[bisect.bisect_left(self.steps, start) :]
        for key, (steps, values) in list(self.columns.items()):
            cut = bisect.bisect_left(steps, start)
            del steps[cut:], values[cut:]
            if not steps:
                del self.columns[key]

    def table(self) -> Table:
        series = {
            key: Series(key, np.asarray(steps, dtype=np.int64), np.asarray(values))
            for key, (steps, values) in self.columns.items()
        }
        return Table(np.asarray(self.steps, dtype=np.int64), series, self.x)


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


def _values(record: dict[str, Any], x: str) -> dict[str, float]:
    """A record's values as floats; null (NaN or Inf on the server) as NaN."""
    out = {}
    for key, value in record.items():
        if key == x or isinstance(value, bool):
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

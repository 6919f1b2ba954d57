"""Small builders shared by the core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from metricwatch.model import Run, Table
from metricwatch.writer import MetricsDocument


def make_run(
    rows: list[dict[str, Any]], *, meta: dict[str, Any] | None = None, name: str = "run"
) -> Run:
    table = Table.from_rows(
        (int(row["epoch"]), {k: float(v) for k, v in row.items() if k != "epoch"}) for row in rows
    )
    return Run(name=name, path=Path(name) / "metrics.json", table=table, meta=meta or {})


class Rec(NamedTuple):
    epoch: int
    values: dict[str, float]


def records(result: Any) -> list[Rec]:
    """A parse result's or run's table as (epoch, values) records, to compare with what was
    written row by row."""
    return [Rec(row.pop("epoch"), row) for row in result.table.rows()]


def columns(**series: list[float]) -> list[dict[str, Any]]:
    """Rows from columns: columns(train_loss=[...], val_loss=[...])."""
    length = max(len(v) for v in series.values())
    return [
        {"epoch": i + 1, **{k: v[i] for k, v in series.items() if i < len(v)}}
        for i in range(length)
    ]


def write_run(
    run_dir: Path, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> Path:
    document = MetricsDocument(run_dir, meta or {})
    for row in rows:
        document.put(row)
    document.write()
    return document.path

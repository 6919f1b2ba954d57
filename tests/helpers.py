"""Small builders shared by the core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metricwatch.model import Record, Run
from metricwatch.writer import MetricsDocument


def make_run(
    rows: list[dict[str, Any]], *, meta: dict[str, Any] | None = None, name: str = "run"
) -> Run:
    records = [
        Record(int(row["epoch"]), {k: float(v) for k, v in row.items() if k != "epoch"})
        for row in rows
    ]
    return Run(name=name, path=Path(name) / "metrics.json", records=records, meta=meta or {})


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

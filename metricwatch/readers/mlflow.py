"""MLflow stores: the file store (`mlruns/`) and the SQLite store (`mlflow.db`).

File store layout (MLflow's FileStore):
    mlruns/<experiment_id>/meta.yaml                  name: <experiment name>
    mlruns/<experiment_id>/<run_id>/meta.yaml         run_name, status, start_time, ...
    mlruns/<experiment_id>/<run_id>/metrics/<key>     lines "timestamp value step"
    mlruns/<experiment_id>/<run_id>/params/<name>     the value
    mlruns/<experiment_id>/<run_id>/tags/mlflow.runName
A key with `/` (`train/loss`) is a nested folder. Deleted experiments sit
in `mlruns/.trash`; a deleted run says `lifecycle_stage: deleted`.

A file-store run's files are read by mlflow_files, the SQLite store
(`mlflow.db`) by mlflow_sqlite, and what both stores share (key names,
columns to a table) is in mlflow_run; this module exports the whole API.
"""

from __future__ import annotations

import os
from pathlib import Path

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.mlflow_files import (
    FileStoreRunTail,
    MetricFileTail,
    _int_or_none,
    _run_name,
    parse_metric_file,
    read_file_store_run,
    read_meta_yaml,
)
from metricwatch.readers.mlflow_run import canonical_key
from metricwatch.readers.mlflow_sqlite import (
    SQLITE_MAGIC,
    SQLITE_TIMEOUT,
    is_sqlite_store,
    list_sqlite_runs,
    read_sqlite_run,
)


def list_file_store_runs(mlruns: Path) -> list[tuple[str, str, Path]]:
    """(experiment name, run name, run directory) of every live run of a file store."""
    runs: list[tuple[str, str, Path]] = []
    try:
        experiments = sorted((e for e in os.scandir(mlruns) if e.is_dir()), key=lambda e: e.name)
    except OSError:
        return runs
    for experiment in experiments:
        if experiment.name.startswith(".") or experiment.name == "models":
            continue
        exp_meta = read_meta_yaml(Path(experiment.path) / "meta.yaml")
        if not exp_meta or exp_meta.get("lifecycle_stage") == "deleted":
            continue
        exp_name = exp_meta.get("name") or experiment.name
        try:
            run_dirs = [r.path for r in os.scandir(experiment.path) if r.is_dir()]
        except OSError:
            continue
        found = []
        for run_dir in run_dirs:
            meta = read_meta_yaml(Path(run_dir) / "meta.yaml")
            if not (meta.get("run_id") or meta.get("run_uuid")):
                continue  # MLflow 3's models/ folder, or not a run
            if meta.get("lifecycle_stage") == "deleted":
                continue
            start = _int_or_none(meta.get("start_time", "")) or 0
            found.append((start, run_dir, _run_name(Path(run_dir), meta)))
        runs.extend((exp_name, name, Path(path)) for _, path, name in sorted(found))
    return runs


_RUN_KEYS = (b"run_id:", b"run_uuid:")


def _sniff_run_meta(head: bytes) -> bool:
    """A run's meta.yaml: top-level `run_id` (or the older `run_uuid`) and `experiment_id`
    lines; not an experiment's (no run id) and not a run marked deleted."""
    lines = {line.split(b":", 1)[0] + b":" for line in head.splitlines() if b":" in line}
    if b"lifecycle_stage: deleted" in head:
        return False
    return b"experiment_id:" in lines and any(key in lines for key in _RUN_KEYS)


def _parse_run_meta(data: bytes) -> ParseResult:
    """meta.yaml alone holds no metrics: the loader reads the run through the tail."""
    message = "an MLflow run is read from its directory (metrics/), not from meta.yaml alone"
    return ParseResult(problems=[Problem(ProblemKind.MISSING, message)])


def _owned_dirs(run_dir: Path) -> list[Path]:
    """The run's metrics/ folder and the folders of its nested keys (`train/loss`)."""
    metrics = run_dir / "metrics"
    if not metrics.is_dir():
        return []
    found = [metrics]
    for root, dirs, _ in os.walk(metrics):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / d for d in dirs)
    return found


def _names(meta_path: Path) -> tuple[str, ...] | None:
    """(experiment name, run name) for `<experiment_id>/<run_id>`, as MLflow shows them."""
    run_dir = meta_path.parent
    meta = read_meta_yaml(meta_path)
    if not meta:
        return None
    experiment = read_meta_yaml(run_dir.parent / "meta.yaml").get("name") or run_dir.parent.name
    return experiment, _run_name(run_dir, meta)


FORMAT = FileFormat(
    name="mlflow",
    label="MLflow file store run",
    patterns=("meta.yaml",),
    sniff=_sniff_run_meta,
    parse=_parse_run_meta,
    tail=lambda path: FileStoreRunTail(path.parent),
    owned=_owned_dirs,
    names=_names,
)


__all__ = [
    "FORMAT",
    "SQLITE_MAGIC",
    "SQLITE_TIMEOUT",
    "FileStoreRunTail",
    "MetricFileTail",
    "canonical_key",
    "is_sqlite_store",
    "list_file_store_runs",
    "list_sqlite_runs",
    "parse_metric_file",
    "read_file_store_run",
    "read_meta_yaml",
    "read_sqlite_run",
]

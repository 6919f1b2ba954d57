"""The SQLite store of MLflow (`mlflow.db`, the default since MLflow 3.7).

Tables experiments, runs (lifecycle_stage 'deleted' is skipped), metrics
(key, value, timestamp, step, is_nan, run_uuid) and params. NaN is stored as
0 with is_nan=1 and +/-Inf as +/-1.797e308 (the float maximum): both are
turned back into what was logged. The database is opened read-only with a
short timeout (the standard library's sqlite3), so a training process
writing it is never held up for long; a locked database is a problem to
retry, not a wait.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import ParseResult, quote_key
from metricwatch.readers.mlflow_run import build_result

#: How long a read waits for a writer's lock on mlflow.db (seconds).
SQLITE_TIMEOUT = 0.2
_FLOAT_MAX = 1.7976931348623157e308


def _connect(db: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(Path(db).resolve())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT, check_same_thread=False)


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_store(db: Path) -> bool:
    """Whether a file is an MLflow SQLite store: an SQLite file with MLflow's tables."""
    try:
        with open(db, "rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                return False
        connection = _connect(db)
        try:
            tables = {
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            }
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return False
    return {"experiments", "runs", "metrics"} <= tables


def list_sqlite_runs(db: Path) -> list[tuple[str, str, str]]:
    """(experiment name, run name, run_uuid) of every live run of an mlflow.db; [] when the
    file cannot be read as one (see read_sqlite_run for the reason)."""
    try:
        connection = _connect(db)
        try:
            rows = connection.execute(
                "SELECT e.name, r.name, r.run_uuid FROM runs r "
                "JOIN experiments e ON e.experiment_id = r.experiment_id "
                "WHERE r.lifecycle_stage != 'deleted' AND e.lifecycle_stage != 'deleted' "
                "ORDER BY e.experiment_id, r.start_time, r.run_uuid"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return []
    return [(str(e), str(name) if name else str(uuid), str(uuid)) for e, name, uuid in rows]


def read_sqlite_run(db: Path, run_uuid: str) -> ParseResult:
    """One run of an mlflow.db: metrics (NaN and Inf restored), name, status, params."""
    try:
        connection = _connect(db)
        try:
            run = connection.execute(
                "SELECT name, status, start_time, end_time, experiment_id, lifecycle_stage "
                "FROM runs WHERE run_uuid = ?",
                (run_uuid,),
            ).fetchone()
            connection.execute("BEGIN")  # one snapshot for every query below
            keys = connection.execute(
                "SELECT DISTINCT key FROM metrics WHERE run_uuid = ? ORDER BY key", (run_uuid,)
            ).fetchall()
            # Per key in step order, as the (run_uuid, key, step) index holds them: no sort,
            # no key string per row; equal steps come in the order they were logged.
            metrics = {
                key: connection.execute(
                    "SELECT value, timestamp, step, is_nan FROM metrics "
                    "WHERE run_uuid = ? AND key = ? ORDER BY step",
                    (run_uuid, key),
                ).fetchall()
                for (key,) in keys
            }
            params = connection.execute(
                "SELECT key, value FROM params WHERE run_uuid = ?", (run_uuid,)
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        return ParseResult(problems=[_sqlite_problem(db, error)], format="mlflow")
    if run is None:
        message = f"run {quote_key(run_uuid)} is not in {quote_key(Path(db).name)}"
        return ParseResult(problems=[Problem(ProblemKind.MISSING, message)], format="mlflow")
    name, status, start, end, experiment_id, _stage = run
    meta: dict[str, Any] = {
        "run_name": str(name) if name else run_uuid,
        "run_id": run_uuid,
        "experiment_id": str(experiment_id),
        "status": str(status or ""),
        "config": {str(k): str(v) for k, v in params},
    }
    if isinstance(start, (int, float)):
        meta["start_time"] = start / 1000.0
    if isinstance(end, (int, float)):
        meta["end_time"] = end / 1000.0
    columns = {str(key): _sqlite_column(rows) for key, rows in metrics.items() if rows}
    return build_result(columns, meta, [])


def _sqlite_column(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One key's rows (value, timestamp ms, step, is_nan) as (steps, values, times)."""
    raw_values, raw_times, raw_steps, raw_nan = zip(*rows)
    try:  # columns of the types MLflow writes convert in C
        values = np.array(raw_values, dtype=np.float64)
        times = np.array(raw_times, dtype=np.float64) / 1000.0
        steps = np.array(raw_steps, dtype=np.int64)
        nan = np.array(raw_nan, dtype=bool)
    except (TypeError, ValueError, OverflowError):  # anything else, value by value
        values = np.asarray([_sql_float(v) for v in raw_values], dtype=np.float64)
        times = np.asarray([_sql_float(t) for t in raw_times], dtype=np.float64) / 1000.0
        steps = np.asarray([_sql_int(v) for v in raw_steps], dtype=np.int64)
        nan = np.asarray([v is not None and v not in (0, "0", b"0", "") for v in raw_nan])
    values[nan] = math.nan
    values[values >= _FLOAT_MAX] = math.inf
    values[values <= -_FLOAT_MAX] = -math.inf
    return steps, values, times


def _sql_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return 0


def _sql_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _sqlite_problem(db: Path, error: sqlite3.Error) -> Problem:
    text = str(error)
    if "locked" in text or "busy" in text:
        return Problem(
            ProblemKind.UNREADABLE,
            f"{quote_key(Path(db).name)} is locked by a writer right now; will read it again",
        )
    if "no such table" in text or "not a database" in text or "file is" in text:
        return Problem(
            ProblemKind.NOT_OURS, f"{quote_key(Path(db).name)} is not an MLflow store ({text})"
        )
    return Problem(ProblemKind.UNREADABLE, f"{quote_key(Path(db).name)}: {text}")

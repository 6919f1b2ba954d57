"""The SQLite store of MLflow (`mlflow.db`, the default since MLflow 3.7).

Tables experiments, runs (lifecycle_stage 'deleted' is skipped), metrics
(key, value, timestamp, step, is_nan, run_uuid) and params. NaN is stored as
0 with is_nan=1 and +/-Inf as +/-1.797e308 (the float maximum): both are
turned back into what was logged. The database is opened read-only with a
short timeout (the standard library's sqlite3), so a training process
writing it is never held up for long; a locked database is a problem to
retry, not a wait.

As a format of the registry (FORMAT), the store is one file holding many
runs: SqliteStoreTail reads it into a ParseResult whose `parts` are its live
runs, named `experiment name/run name` (a short run id added when two runs of
an experiment share a name). MLflow writes the file in place; each read takes
only the metric rows added since the last one (by rowid, which SQLite gives
in insertion order; a smaller maximum rowid or another file means the store
was rebuilt: read whole again), and every read takes the list of live runs,
their status and params again (small), so a run deleted in MLflow leaves and
a new one appears.
"""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import FileFormat, ParseResult, quote_key
from metricwatch.readers.mlflow_run import build_result

#: Metric rows fetched and converted at a time (bounds the row tuples alive at once).
_CHUNK_ROWS = 100_000
#: How long a read waits for a writer's lock on mlflow.db (seconds).
SQLITE_TIMEOUT = 0.2
_FLOAT_MAX = 1.7976931348623157e308


def _connect(db: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(Path(db).resolve())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT, check_same_thread=False)


SQLITE_MAGIC = b"SQLite format 3\x00"


def _has_mlflow_tables(db: Path) -> bool:
    """Whether db is an SQLite file with MLflow's tables; raises what opening it raises."""
    with open(db, "rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return False
    connection = _connect(db)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {name for (name,) in rows.fetchall()}
    finally:
        connection.close()
    return {"experiments", "runs", "metrics"} <= tables


def is_sqlite_store(db: Path) -> bool:
    """Whether a file is an MLflow SQLite store: an SQLite file with MLflow's tables."""
    try:
        return _has_mlflow_tables(db)
    except (OSError, sqlite3.Error):
        return False


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
    try:  # rows of the numbers MLflow writes convert in C, in one call
        table = np.array(rows, dtype=np.float64)
        raw = table[:, 2] if table.ndim == 2 and table.shape[1] == 4 else None
        if raw is not None and bool(
            (np.abs(raw) < 2.0**53).all() and (raw == np.round(raw)).all()
        ):  # steps a float holds exactly (else the int path below)
            values, times = table[:, 0].copy(), table[:, 1] / 1000.0
            steps, nan = raw.astype(np.int64), table[:, 3] != 0
            return _restored(steps, values, nan, times)
    except (TypeError, ValueError, OverflowError):
        pass
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
    return _restored(steps, values, nan, times)


def _restored(
    steps: np.ndarray, values: np.ndarray, nan: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN and +/-Inf as logged: MLflow stores 0 with is_nan=1 and +/-the float maximum."""
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


# --- the store as a format of the registry: one file, many runs --------------------------------

#: The file names MLflow users give the store (`sqlite:///mlflow.db` is MLflow's default).
STORE_NAMES = ("mlflow.db", "mlruns.db")

_LIVE_RUNS = (
    "SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.experiment_id, e.name "
    "FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
    "WHERE r.lifecycle_stage != 'deleted' AND e.lifecycle_stage != 'deleted' "
    "ORDER BY e.experiment_id, r.start_time, r.run_uuid"
)


def claims_store(db: Path) -> bool:
    """A file named like a store whose head is SQLite's: is it MLflow's? A store locked by a
    writer right now is taken as one (the read will say it is locked and retry)."""
    try:
        return _has_mlflow_tables(db)
    except sqlite3.OperationalError as error:
        return "locked" in str(error) or "busy" in str(error)
    except (OSError, sqlite3.Error):
        return False


class SqliteStoreTail:
    """An mlflow.db read as it grows: each read() fetches only the metric rows added since
    the last (rowid above the last seen) and gives every live run as a part.

    mtime: after a read, the store file's mtime then (the loader's "last written")."""

    def __init__(self, db: Path) -> None:
        self.db = Path(db)
        self.mtime: float | None = None
        self.identity: tuple[int, int] | None = None
        self.rowid = 0
        # run_uuid -> key -> chunks of (steps, values, times), in the order they were logged
        self.columns: dict[str, dict[str, list[tuple[np.ndarray, ...]]]] = {}
        self.built: dict[str, tuple[Any, ParseResult]] = {}  # run_uuid -> (its inputs, result)
        self.rows_read = 0  # metric rows fetched (tests: a re-read fetches only new ones)

    def read(self) -> ParseResult:
        try:
            stat = os.stat(self.db)
        except OSError as error:
            self.mtime = None
            return _store_failed(self.db, error)
        self.mtime = stat.st_mtime
        identity = (stat.st_dev, stat.st_ino)
        if identity != self.identity:
            self._reset(identity)
        try:
            runs, rows, params = self._fetch()
        except sqlite3.Error as error:
            return ParseResult(problems=[_sqlite_problem(self.db, error)], format="mlflow")
        self._add(rows)
        return self._result(runs, params)

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.identity, self.rowid = identity, 0
        self.columns.clear()
        self.built.clear()

    def _fetch(self) -> tuple[list[tuple], tuple[list[tuple], list[tuple]], list[tuple]]:
        """(live runs, (new rows' (run, key, count) groups, their columns in chunks), params)."""
        connection = _connect(self.db)
        try:
            connection.execute("BEGIN")  # one snapshot for every query below
            runs = connection.execute(_LIVE_RUNS).fetchall()
            (top,) = connection.execute("SELECT max(rowid) FROM metrics").fetchone()
            top = top if isinstance(top, int) else 0
            if top < self.rowid:  # rows deleted and their rowids reused, or rebuilt: all again
                self._reset(self.identity)
            # The new rows grouped by run and key in SQL (no key string per row in Python),
            # in the order they were logged within each (a step logged twice: the last wins).
            # A first read walks MLflow's (run_uuid, key, step) index, whose entries end in the
            # rowid: no sort. Later reads take the few rows above the last rowid seen.
            where, order, span = "", "step", ()
            if self.rowid:
                where, order, span = "WHERE rowid > ? AND rowid <= ?", "rowid", (self.rowid, top)
            groups = connection.execute(
                f"SELECT run_uuid, key, count(*) FROM metrics {where} "
                "GROUP BY run_uuid, key ORDER BY run_uuid, key",
                span,
            ).fetchall()
            cursor = connection.execute(
                f"SELECT value, timestamp, step, is_nan FROM metrics {where} "
                f"ORDER BY run_uuid, key, {order}",
                span,
            )
            chunks = []  # converted chunk by chunk: never a million row tuples at once
            while batch := cursor.fetchmany(_CHUNK_ROWS):
                chunks.append(_sqlite_column(batch))
            params = connection.execute("SELECT run_uuid, key, value FROM params").fetchall()
        finally:
            connection.close()
        self.rowid = top
        self.rows_read += sum(len(chunk[0]) for chunk in chunks)
        return runs, (groups, chunks), params

    def _add(self, fetched: tuple[list[tuple], list[tuple]]) -> None:
        """New metric rows appended to their run's and key's columns (one slice per run and
        key of the rows converted by _fetch)."""
        groups, chunks = fetched
        if not chunks:
            return
        steps, values, times = (np.concatenate(axis) for axis in zip(*chunks))
        if sum(int(count) for _, _, count in groups) != len(steps):
            self._reset(self.identity)  # cannot happen in one snapshot; read all again
            return
        start = 0
        for run_uuid, key, count in groups:
            end = start + int(count)
            self.columns.setdefault(str(run_uuid), {}).setdefault(str(key), []).append(
                (steps[start:end], values[start:end], times[start:end])
            )
            self.built.pop(str(run_uuid), None)
            start = end

    def _result(self, runs: list[tuple], params: list[tuple]) -> ParseResult:
        config: dict[str, dict[str, str]] = {}
        for run_uuid, key, value in params:
            config.setdefault(str(run_uuid), {})[str(key)] = str(value)
        names = _part_names(
            [(str(r[6]), str(r[1]) if r[1] else str(r[0]), str(r[0])) for r in runs]
        )
        result = ParseResult(format="mlflow", meta={"runs": len(runs)})
        for (uuid, name, status, start, end, experiment_id, experiment), part in zip(runs, names):
            uuid = str(uuid)
            meta: dict[str, Any] = {
                "run_name": str(name) if name else uuid,
                "run_id": uuid,
                "experiment_id": str(experiment_id),
                "experiment": str(experiment),
                "status": str(status or ""),
                "config": config.get(uuid, {}),
            }
            if isinstance(start, (int, float)):
                meta["start_time"] = start / 1000.0
            if isinstance(end, (int, float)):
                meta["end_time"] = end / 1000.0
            result.parts[part] = self._run_result(uuid, meta)
        for uuid in [u for u in self.columns if u not in {str(r[0]) for r in runs}]:
            self.built.pop(uuid, None)  # deleted in MLflow: its rows stay, unshown
        return result

    def _run_result(self, uuid: str, meta: dict[str, Any]) -> ParseResult:
        known = self.built.get(uuid)
        if known is not None and known[0] == meta:
            return known[1]
        chunks = self.columns.get(uuid, {})
        columns = {
            key: tuple(np.concatenate(axis) for axis in zip(*parts))
            for key, parts in sorted(chunks.items())
        }
        for key, column in columns.items():
            chunks[key] = [column]  # one chunk again: the next update joins two, not n
        built = build_result(columns, dict(meta), [])
        last = [float(np.max(times)) for _, _, times in columns.values() if len(times)]
        stamps = [t for t in (*last, meta.get("end_time"), meta.get("start_time")) if t]
        if stamps and all(math.isfinite(t) for t in stamps):
            built.extra["mtime"] = max(stamps)  # when this run was last written, not the file
        self.built[uuid] = (meta, built)
        return built


def _part_names(runs: list[tuple[str, str, str]]) -> list[str]:
    """`experiment/run` for each (experiment, run name, run id); a short run id is added to
    the names two runs share (MLflow allows it), the id whole if the short one clashes."""
    plain = [f"{experiment}/{name}" for experiment, name, _ in runs]
    counts: dict[str, int] = {}
    for name in plain:
        counts[name] = counts.get(name, 0) + 1
    names = [
        name if counts[name] == 1 else f"{name} ({uuid[:8]})"
        for name, (_, _, uuid) in zip(plain, runs)
    ]
    if len(set(names)) < len(names):
        names = [
            name if counts[name] == 1 else f"{name} ({uuid})"
            for name, (_, _, uuid) in zip(plain, runs)
        ]
    return names


def _store_failed(db: Path, error: OSError) -> ParseResult:
    if isinstance(error, FileNotFoundError):
        problem = Problem(ProblemKind.MISSING, f"{quote_key(Path(db).name)} is gone")
    else:
        problem = Problem(
            ProblemKind.UNREADABLE, f"cannot read {quote_key(Path(db).name)}: {error.strerror}"
        )
    return ParseResult(problems=[problem], format="mlflow")


def _parse_store_bytes(data: bytes) -> ParseResult:
    """The store is read from its path (SQLite's own locking), never from a copy of bytes."""
    message = "an MLflow SQLite store is read from the file itself, not from its bytes"
    return ParseResult(problems=[Problem(ProblemKind.NOT_OURS, message)], format="mlflow")


FORMAT = FileFormat(
    name="mlflow",
    label="MLflow SQLite store",
    patterns=STORE_NAMES,
    sniff=lambda head: head.startswith(SQLITE_MAGIC),
    parse=_parse_store_bytes,
    tail=SqliteStoreTail,
    store=claims_store,
)

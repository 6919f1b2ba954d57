"""MLflow stores: the file store (`mlruns/`) and the SQLite store (`mlflow.db`).

File store layout (MLflow's FileStore):
    mlruns/<experiment_id>/meta.yaml                  name: <experiment name>
    mlruns/<experiment_id>/<run_id>/meta.yaml         run_name, status, start_time, ...
    mlruns/<experiment_id>/<run_id>/metrics/<key>     lines "timestamp value step"
    mlruns/<experiment_id>/<run_id>/params/<name>     the value
    mlruns/<experiment_id>/<run_id>/tags/mlflow.runName
A key with `/` (`train/loss`) is a nested folder. Deleted experiments sit
in `mlruns/.trash`; a deleted run says `lifecycle_stage: deleted`.

SQLite store (MLflow 3.7+ default): tables experiments, runs, metrics
(key, value, timestamp, step, is_nan, run_uuid), params. NaN is stored as
0 with is_nan=1 and +/-Inf as +/-1.797e308 (the float maximum): both are
turned back into what was logged. The database is opened read-only with a
short timeout, so a training process writing it is never held up for long.

Each MLflow run is a run of ours; x is MLflow's step. A metric logged
without a step has step 0 on every point: its points are numbered by
position instead (and said so). Keys map onto the registry's through
_KEYS below; the original is kept in meta["source_keys"].
"""

from __future__ import annotations

import math
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult
from metricwatch.safetext import printable, shorten_middle

#: Names the frameworks log to MLflow whose meaning is a registry key: Hugging Face
#: Trainer's MLflowCallback (`loss`, `eval_loss`, `learning_rate`), Lightning's MLFlowLogger
#: (whatever is logged: `train_loss`, `lr-Adam`), Keras autolog (`loss`, `val_loss`).
_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "train/loss": "train_loss",
    "training_loss": "train_loss",
    "val_loss": "val_loss",
    "val/loss": "val_loss",
    "valid_loss": "val_loss",
    "validation_loss": "val_loss",
    "eval_loss": "val_loss",
    "eval/loss": "val_loss",
    "lr": "lr",
    "learning_rate": "lr",
    "train/lr": "lr",
    "lr-Adam": "lr",
    "lr-AdamW": "lr",
    "lr-SGD": "lr",
    "grad_norm": "grad_norm",
    "accuracy": "train_accuracy",
    "acc": "train_accuracy",
    "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "val/acc": "val_accuracy",
    "eval_accuracy": "val_accuracy",
    "metrics/mAP50-95(B)": "val_mAP",
    "metrics/mAP50(B)": "val_mAP_50",
}
#: Keys that give the epoch at a step (HF and Lightning log `epoch`): the epochs axis.
_EPOCH_KEYS = ("epoch",)
#: MLflow's RunStatus numbers, as the file store's meta.yaml writes them.
_STATUS = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}
#: How long a read waits for a writer's lock on mlflow.db (seconds).
SQLITE_TIMEOUT = 0.2
_FLOAT_MAX = 1.7976931348623157e308


def canonical_key(key: str) -> str:
    if key in _KEYS:
        return _KEYS[key]
    if key.startswith("eval_") and len(key) > 5:  # Hugging Face Trainer
        return "val_" + key[5:]
    return key


# --- the file store --------------------------------------------------------------------------


def read_meta_yaml(path: Path) -> dict[str, str]:
    """The flat `key: value` lines of an MLflow meta.yaml (no YAML library: the few keys we
    need are flat scalars). Quotes are removed; nested lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in " \t-#" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        meta[key.strip()] = value
    return meta


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


def _run_name(run_dir: Path, meta: dict[str, str]) -> str:
    name = (
        meta.get("run_name") or _read_text(run_dir / "tags" / "mlflow.runName") or meta.get("name")
    )
    return name.strip() if name and name.strip() else run_dir.name


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _files_under(folder: Path) -> list[tuple[str, Path]]:
    """(key, path) of every file below folder; the key is the relative path with `/`."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            found.append((path.relative_to(folder).as_posix(), path))
    return found


def parse_metric_file(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """A metric file's lines `timestamp value step` as (steps, values, times in seconds),
    the number of lines that are not numbers, and whether the last line is cut short.

    Lines of MLflow before 1.0 have no step (step 0). Values may be nan, inf, -inf."""
    body = data[: data.rfind(b"\n") + 1]
    fast = _fast_lines(body)
    if fast is not None:
        return (*fast, 0, len(body) < len(data) and bool(data[len(body) :].strip()))
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    cut = bool(lines[-1].strip())  # no newline after the last line: a write in progress
    if cut:
        lines.pop()
    steps: list[int] = []
    values: list[float] = []
    times: list[float] = []
    bad = 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        try:
            stamp = float(parts[0]) / 1000.0
            value = float(parts[1])
            step = int(parts[2]) if len(parts) > 2 else 0
        except (ValueError, IndexError, OverflowError):
            bad += 1
            continue
        if len(parts) > 3 or not -(2**63) <= step < 2**63:
            bad += 1
            continue
        steps.append(step)
        values.append(value)
        times.append(stamp)
    return (
        np.asarray(steps, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        np.asarray(times, dtype=np.float64),
        bad,
        cut,
    )


def _fast_lines(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Whole lines of exactly `timestamp value step` (one space apart), parsed by numpy in
    one call; None when any line is shaped otherwise (the line-by-line path handles it)."""
    if not body:
        return None
    raw = np.frombuffer(body, dtype=np.uint8)
    space = raw == 0x20
    ends = np.flatnonzero(raw == 0x0A)
    per_line = np.diff(np.searchsorted(np.flatnonzero(space), ends), prepend=0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if (
        bool((per_line != 2).any())
        or bool((space[1:] & space[:-1]).any())
        or bool(space[starts].any())
        or bool(space[ends - 1].any())
    ):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numbers = np.fromstring(body.decode("ascii", errors="replace"), sep=" ")
    if numbers.shape[0] != 3 * len(ends):
        return None
    table = numbers.reshape(-1, 3)
    steps = table[:, 2]
    if not (np.isfinite(steps).all() and (steps == np.round(steps)).all()):
        return None
    if bool((np.abs(steps) >= 2.0**53).any()):
        return None  # beyond exact float integers: the line-by-line path parses them as ints
    return steps.astype(np.int64), table[:, 1].copy(), table[:, 0] / 1000.0


def read_file_store_run(run_dir: Path) -> ParseResult:
    """One run of a file store: metrics, run name, status and params. Never raises."""
    return FileStoreRunTail(run_dir).read()


def _file_problems(cut: list[str], bad: dict[str, int], problems: list[Problem]) -> None:
    if cut:
        problems.append(
            Problem(
                ProblemKind.TRUNCATED,
                f"the last line of metric {', '.join(map(_safe, cut[:3]))} is incomplete "
                "(a write in progress?)",
            )
        )
    if bad:
        detail = ", ".join(f"{_safe(k)} ×{n}" for k, n in list(bad.items())[:5])
        problems.append(
            Problem(ProblemKind.NON_NUMERIC, f"ignored lines that are not numbers ({detail})")
        )


def _file_meta(run_dir: Path, meta_yaml: dict[str, str]) -> dict[str, Any]:
    params = {key: _read_text(path) for key, path in _files_under(run_dir / "params")}
    meta: dict[str, Any] = {
        "run_name": _run_name(run_dir, meta_yaml),
        "run_id": meta_yaml.get("run_id") or meta_yaml.get("run_uuid") or run_dir.name,
        "experiment_id": meta_yaml.get("experiment_id", run_dir.parent.name),
        "status": _STATUS.get(meta_yaml.get("status", ""), meta_yaml.get("status", "")),
        "config": params,
    }
    for name in ("start_time", "end_time"):
        stamp = _int_or_none(meta_yaml.get(name, ""))
        if stamp is not None:
            meta[name] = stamp / 1000.0
    return meta


class MetricFileTail:
    """One append-only metric file and its read offset: read_new() parses only the whole
    lines added since the last call. A file replaced (new inode) or shrunk is read again
    from the start; `reset` then tells the caller to drop what it had."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.identity: tuple[int, int] | None = None
        self.reset = False
        self.cut = False  # the file ends in a line cut short (left for the next call)
        self.bad = 0

    def read_new(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, values, times) of the new whole lines. Raises OSError if unreadable."""
        self.reset = False
        with open(self.path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if identity != self.identity or stat.st_size < self.offset:
                self.reset = self.identity is not None
                self.identity, self.offset, self.bad = identity, 0, 0
            handle.seek(self.offset)
            data = handle.read()
        whole = data.rfind(b"\n") + 1
        steps, values, times, bad, _ = parse_metric_file(data[:whole])
        self.offset += whole
        self.bad += bad
        self.cut = bool(data[whole:].strip())
        return steps, values, times


class FileStoreRunTail:
    """A file-store run read as it grows: each read() parses only new metric lines."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.tails: dict[str, MetricFileTail] = {}
        self.columns: dict[str, tuple[list, list, list]] = {}

    def read(self) -> ParseResult:
        meta_yaml = read_meta_yaml(self.run_dir / "meta.yaml")
        problems: list[Problem] = []
        if not meta_yaml:
            problems.append(
                Problem(ProblemKind.MISSING, f"{_safe(self.run_dir.name)} has no MLflow meta.yaml")
            )
        present = _files_under(self.run_dir / "metrics")
        for key, path in present:
            tail = self.tails.setdefault(key, MetricFileTail(path))
            try:
                steps, values, times = tail.read_new()
            except OSError as error:
                problems.append(
                    Problem(
                        ProblemKind.UNREADABLE, f"metric {_safe(key)}: {error.strerror or error}"
                    )
                )
                continue
            if tail.reset or key not in self.columns:
                self.columns[key] = ([], [], [])
            for column, part in zip(self.columns[key], (steps, values, times)):
                column.append(part)
        keys = {key for key, _ in present}
        for key in [k for k in self.tails if k not in keys]:
            del self.tails[key]
            self.columns.pop(key, None)
        columns = {
            key: tuple(np.concatenate(parts) for parts in self.columns[key])
            for key, _ in present
            if key in self.columns
        }
        cut = [key for key, tail in self.tails.items() if tail.cut]
        bad = {key: tail.bad for key, tail in self.tails.items() if tail.bad}
        _file_problems(cut, bad, problems)
        return _result(columns, _file_meta(self.run_dir, meta_yaml), problems)


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


# --- the SQLite store ------------------------------------------------------------------------


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
        message = f"run {_safe(run_uuid)} is not in {_safe(Path(db).name)}"
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
    return _result(columns, meta, [])


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
            f"{_safe(Path(db).name)} is locked by a writer right now; will read it again",
        )
    if "no such table" in text or "not a database" in text or "file is" in text:
        return Problem(
            ProblemKind.NOT_OURS, f"{_safe(Path(db).name)} is not an MLflow store ({text})"
        )
    return Problem(ProblemKind.UNREADABLE, f"{_safe(Path(db).name)}: {text}")


# --- shared: columns to a table --------------------------------------------------------------


def _result(
    columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    meta: dict[str, Any],
    problems: list[Problem],
) -> ParseResult:
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    unstepped: list[str] = []
    epoch_axis = None
    collisions: list[str] = []
    # Canonical spellings first, so an alias never takes the place of the real key.
    for key in sorted(columns, key=lambda k: canonical_key(k) != k):
        steps, values, times = columns[key]
        if len(steps) > 1 and bool(np.all(steps == steps[0])):
            unstepped.append(key)  # logged without a step: number the points in order
            steps = np.arange(len(steps), dtype=np.int64)
        order = np.argsort(steps, kind="stable")
        steps, values, times = steps[order], values[order], times[order]
        if len(steps) > 1:  # a step logged twice: the later value wins
            last = np.append(steps[1:] != steps[:-1], True)
            steps, values, times = steps[last], values[last], times[last]
        if key in _EPOCH_KEYS:
            epoch_axis = (steps, values)
            continue
        name = canonical_key(key)
        if name in series:
            collisions.append(f"{_safe(sources[name])} and {_safe(key)}")
            name = key
        sources[name] = key
        series[name] = Series(name, steps, values, None, times)
    if epoch_axis is not None:
        series = {k: _with_epochs(s, *epoch_axis) for k, s in series.items()}
    if unstepped:
        problems.append(
            Problem(
                ProblemKind.BAD_EPOCH,
                f"{', '.join(map(_safe, unstepped[:3]))} logged without a step: "
                "points numbered in the order they were logged",
            )
        )
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "two keys mean the same metric (" + "; ".join(collisions[:3]) + "): "
                "the second keeps its own name",
            )
        )
    table_steps = _union([s.steps for s in series.values()])
    meta["source_keys"] = {k: v for k, v in sources.items() if k != v}
    if not series and not problems:
        problems.append(Problem(ProblemKind.EMPTY, "the MLflow run has no metrics yet"))
    return ParseResult(
        table=Table(table_steps, series, STEP), meta=meta, problems=problems, format="mlflow"
    )


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """Every step of ascending step arrays, once, ascending (a sort: np.unique hashes)."""
    if not arrays:
        return np.empty(0, dtype=np.int64)
    if len(arrays) == 1:
        return arrays[0]
    merged = np.sort(np.concatenate(arrays), kind="stable")
    return merged[np.append(True, merged[1:] != merged[:-1])]


def _with_epochs(series: Series, epoch_steps: np.ndarray, epochs: np.ndarray) -> Series:
    where = np.searchsorted(epoch_steps, series.steps, side="right") - 1
    found = np.where(where >= 0, epochs[np.clip(where, 0, None)], np.nan)
    return Series(series.key, series.steps, series.values, found, series.times)


def _safe(text: str) -> str:
    return "'" + shorten_middle(printable(text), 40) + "'"

"""MLflow's SQLite store (`mlflow.db`): one file, every live run of it a run of ours.

The stores are the real ones of tests/corpus/mlflow/generated (written by MLflow
3.17.2's client, gzipped; see its PROVENANCE.md), each next to the file store
MLflow wrote with the same runs: what metricwatch reads from the database must be
what it reads from the files. Writes while watching are made the way MLflow makes
them: rows inserted into `runs` and `metrics` of the database file, in place.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from test_watch_resilience import Collector

from metricwatch.cli import main
from metricwatch.model import ProblemKind
from metricwatch.readers.mlflow_sqlite import SqliteStoreTail
from metricwatch.run_parts import expand
from metricwatch.sources.discovery import claims_file, discover_runs, is_single_run, scan
from metricwatch.sources.loader import RunLoader, keep_last_good
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode

CORPUS = Path(__file__).parent / "corpus" / "mlflow" / "generated"
#: (gzipped store, the file store MLflow wrote with the same runs)
STORES = {
    "gen": (CORPUS / "mlflow.db.gz", CORPUS / "mlruns"),
    "client": (
        CORPUS / "mlflow_client_default_db" / "mlflow.db.gz",
        CORPUS / "mlflow_client_filestore" / "mlruns",
    ),
}


def unpack(gz: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(gz) as source:
        target.write_bytes(source.read())
    return target


@pytest.fixture
def db(tmp_path) -> Path:
    return unpack(STORES["gen"][0], tmp_path / "proj" / "mlflow.db")


def summary_json(capsys, path: Path) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["summary", str(path), "--json"]) == 0
    return {run["name"]: run for run in json.loads(capsys.readouterr().out)["runs"]}


# --- summary -----------------------------------------------------------------------------------


def test_summary_lists_every_live_run_equal_to_the_file_store(tmp_path, capsys):
    for folder, (gz, mlruns) in STORES.items():
        unpack(gz, tmp_path / folder / "mlflow.db")
        shutil.copytree(mlruns, tmp_path / folder / "mlruns")
    runs = summary_json(capsys, tmp_path)
    from_db = sorted(name for name in runs if "/mlflow.db/" in name)
    assert from_db == [
        "client/mlflow.db/tiny-classifier/baseline",
        "client/mlflow.db/tiny-classifier/diverged",
        "gen/mlflow.db/cifar/no-steps",
        "gen/mlflow.db/cifar/resnet-baseline",
    ]  # deleted-run and the deleted experiment `scratch` are not there
    for name in from_db:
        db_run = runs[name]
        file_run = runs[name.replace("/mlflow.db/", "/mlruns/")]
        assert db_run["path"] == str(tmp_path / name.split("/")[0] / "mlflow.db")
        assert db_run["format"] == file_run["format"] == "mlflow"
        differ = {"name", "path", "status"}  # status: the files were copied just now
        assert {k: v for k, v in db_run.items() if k not in differ} == {
            k: v for k, v in file_run.items() if k not in differ
        }, name
    baseline = runs["gen/mlflow.db/cifar/resnet-baseline"]
    assert baseline["last"]["train_loss"] == 0.5
    assert baseline["last"]["grad_norm"] is None  # inf: JSON has no Infinity
    assert baseline["steps"] == 4 and baseline["x"] == "step"


def test_summary_of_the_store_file_itself_and_its_text_output(db, capsys):
    runs = summary_json(capsys, db)
    assert list(runs) == ["mlflow.db/cifar/resnet-baseline", "mlflow.db/cifar/no-steps"]
    assert main(["summary", str(db)]) == 0
    text = capsys.readouterr().out
    assert "resnet-baseline" in text and "no-steps" in text


# --- discovery ---------------------------------------------------------------------------------


def test_a_project_with_mlflow_db_still_has_its_other_runs_found(tmp_path, capsys):
    project = tmp_path / "proj"
    unpack(STORES["gen"][0], project / "mlflow.db")
    shutil.copytree(STORES["gen"][1], project / "mlruns")
    keras = project / "experiments" / "keras"
    keras.mkdir(parents=True)
    (keras / "training.log").write_bytes(b"epoch,loss\r\n0,1.0\r\n1,0.5\r\n")
    found = {run.name: run.metrics_path for run in discover_runs(tmp_path)}
    assert set(found) == {
        "proj/mlflow.db",
        "proj/experiments/keras",
        "proj/mlruns/cifar/resnet-baseline",
        "proj/mlruns/cifar/no-steps",
    }
    assert found["proj/mlflow.db"] == project / "mlflow.db"
    assert found["proj/experiments/keras"] == keras / "training.log"
    assert project / "experiments" in scan(project).dirs  # watched: new runs appear there
    assert not is_single_run(project) and not is_single_run(project / "mlflow.db")
    names = summary_json(capsys, project)
    assert set(names) == {
        "mlflow.db/cifar/resnet-baseline",
        "mlflow.db/cifar/no-steps",
        "experiments/keras",
        "mlruns/cifar/resnet-baseline",
        "mlruns/cifar/no-steps",
    }
    # A run file beside the store makes its directory a run (whose subdirectories are its
    # own, as for any run): the store is still a run of its own beside it.
    (project / "metrics.json").write_text('{"epochs": [{"epoch": 1, "train_loss": 1.0}]}')
    assert {r.name for r in discover_runs(tmp_path)} == {"proj", "proj/mlflow.db"}


def test_mlflow_db_is_claimed_by_content_never_by_name_alone(tmp_path, db):
    assert claims_file(db).name == "mlflow"
    other = tmp_path / "other" / "mlflow.db"
    other.parent.mkdir()
    sqlite3.connect(other).execute("CREATE TABLE runs (x)").connection.close()
    text = tmp_path / "text" / "mlflow.db"
    text.parent.mkdir()
    text.write_text("SQLite format 3 is what this text file says first\n")
    empty = tmp_path / "empty" / "mlflow.db"
    empty.parent.mkdir()
    empty.touch()
    for path in (other, text, empty):
        assert claims_file(path) is None, path
    assert [r.name for r in discover_runs(tmp_path)] == ["proj/mlflow.db"]
    renamed = tmp_path / "store.sqlite"
    shutil.copy(db, renamed)
    assert claims_file(renamed) is None  # only the names users give a store are looked at


def test_a_store_locked_by_a_writer_is_claimed(db):
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        assert claims_file(db).name == "mlflow"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# --- loading -----------------------------------------------------------------------------------


def test_each_live_run_is_a_part_and_expands_to_a_run(db):
    run = RunLoader().load("proj/mlflow.db", db)
    assert run.format == "mlflow" and run.problems == []
    assert list(run.parts) == ["cifar/resnet-baseline", "cifar/no-steps"]
    runs = expand(run)
    assert [r.name for r in runs] == [
        "proj/mlflow.db/cifar/resnet-baseline",
        "proj/mlflow.db/cifar/no-steps",
    ]
    baseline = runs[0]
    assert baseline.path == db and baseline.format == "mlflow"
    assert baseline.series("train_loss").values.tolist() == [2.0, 1.5, 1.0, 0.5]
    assert baseline.meta["config"] == {"lr": "0.001", "optimizer/name": "adam"}
    assert baseline.meta["experiment"] == "cifar" and baseline.meta["status"] == "FINISHED"
    assert baseline.mtime == 1_700_000_004.0  # its last write, not the file's
    assert [p.kind for p in runs[1].problems] == [ProblemKind.BAD_EPOCH]  # logged without steps


def add_run(db: Path, name: str, *, experiment: int = 1, points=((0, 1.0),)) -> str:
    """A run and its metrics written into the store as MLflow's SQLAlchemy store does."""
    run_id = uuid.uuid4().hex
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO runs (run_uuid, name, status, start_time, lifecycle_stage, "
            "experiment_id, source_type, artifact_uri) VALUES (?, ?, 'RUNNING', ?, 'active', "
            "?, 'LOCAL', '')",
            (run_id, name, int(time.time() * 1000), experiment),
        )
    log(db, run_id, "loss", points)
    return run_id


def log(db: Path, run_id: str, key: str, points) -> None:
    with sqlite3.connect(db) as connection:
        connection.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            [(key, value, int(time.time() * 1000), run_id, step) for step, value in points],
        )


def delete_run(db: Path, run_id: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_uuid = ?", (run_id,)
        )


def test_a_reread_fetches_only_the_new_rows_and_follows_runs_coming_and_going(db):
    tail = SqliteStoreTail(db)
    first = tail.read()
    fetched = tail.rows_read
    run_id = add_run(db, "fresh", points=[(0, 3.0), (1, 2.0)])
    second = tail.read()
    assert tail.rows_read == fetched + 2
    assert list(second.parts) == [*first.parts, "cifar/fresh"]
    assert second.parts["cifar/resnet-baseline"] is first.parts["cifar/resnet-baseline"]
    log(db, run_id, "loss", [(2, 1.5)])
    third = tail.read()
    assert tail.rows_read == fetched + 3
    assert third.parts["cifar/fresh"].table.series["train_loss"].values.tolist() == [3, 2, 1.5]
    delete_run(db, run_id)
    assert list(tail.read().parts) == list(first.parts)
    # A fresh read of the whole store says the same.
    assert SqliteStoreTail(db).read().parts.keys() == tail.read().parts.keys()


def test_two_runs_of_one_name_get_a_short_run_id(db):
    a = add_run(db, "twin")
    b = add_run(db, "twin")
    names = list(SqliteStoreTail(db).read().parts)
    assert f"cifar/twin ({a[:8]})" in names and f"cifar/twin ({b[:8]})" in names


def test_a_locked_store_is_a_problem_to_retry_and_keeps_the_last_good_data(db):
    loader = RunLoader()
    good = loader.load("s", db)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        locked = loader.load("s", db)
        assert time.monotonic() - started < 2  # no wait for the writer
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [p.kind for p in locked.problems] == [ProblemKind.UNREADABLE]
    assert "locked" in locked.problems[0].message
    shown = keep_last_good(good, locked)
    runs = expand(shown)
    assert [r.name for r in runs] == [r.name for r in expand(good)]
    assert runs[0].series("train_loss").values.tolist() == [2.0, 1.5, 1.0, 0.5]
    assert "locked" in runs[0].problems[-1].message
    again = loader.load("s", db)
    assert again.problems == [] and list(again.parts) == list(good.parts)


# --- watching ----------------------------------------------------------------------------------


def test_a_run_added_to_the_store_while_watching_appears(db):
    root = db.parent
    (root / "sub").mkdir()
    watcher = RunWatcher(root, WatchMode(False))
    assert [(u.kind, u.name) for u in watcher.initial()] == [(UpdateKind.APPEARED, "mlflow.db")]
    loader = RunLoader()
    assert len(loader.load("mlflow.db", db).parts) == 2
    with Collector(watcher) as events:
        add_run(db, "live-run", points=[(0, 1.0)])
        update = events.until(UpdateKind.CHANGED, "mlflow.db")
        assert update.metrics_path == db
        assert "cifar/live-run" in loader.load("mlflow.db", db).parts
        # The project's subdirectories are still watched for runs of their own.
        (root / "sub" / "training.log").write_bytes(b"epoch,loss\r\n0,1.0\r\n")
        events.until(UpdateKind.APPEARED, "sub")


def test_a_run_file_appearing_beside_a_store_keeps_the_store(db):
    root = db.parent
    watcher = RunWatcher(root, WatchMode(False))
    watcher.initial()
    with Collector(watcher) as events:
        (root / "metrics.json").write_text('{"epochs": [{"epoch": 1, "train_loss": 1.0}]}')
        events.until(UpdateKind.APPEARED, "proj")
        events.drain()
        assert (UpdateKind.GONE, "mlflow.db") not in events.seen
    assert {r.name for r in discover_runs(root)} == {"proj", "mlflow.db"}


def test_a_store_appearing_beside_a_run_file_is_a_run_of_its_own(db, tmp_path):
    root = tmp_path / "proj2"
    root.mkdir()
    (root / "metrics.json").write_text('{"epochs": [{"epoch": 1, "train_loss": 1.0}]}')
    watcher = RunWatcher(root, WatchMode(False))
    assert [u.name for u in watcher.initial()] == ["proj2"]
    with Collector(watcher) as events:
        shutil.copy(db, root / "mlflow.db")
        events.until(UpdateKind.APPEARED, "mlflow.db")
    assert {r.name for r in discover_runs(root)} == {"proj2", "mlflow.db"}


@pytest.mark.parametrize("mode", [WatchMode(False), WatchMode(True, 0.02)], ids=["events", "poll"])
def test_a_store_in_wal_mode_updates_before_its_checkpoint(db, mode):
    root = db.parent
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    watcher = RunWatcher(root, mode)
    watcher.initial()
    reader = sqlite3.connect(db)  # an open reader keeps the log from being checkpointed
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM metrics").fetchone()
    try:
        stamp = db.stat().st_mtime_ns, db.stat().st_size
        with Collector(watcher, ready=(lambda: True) if mode.polling else None) as events:
            add_run(db, "wal-run", points=[(0, 1.0)])
            assert (db.stat().st_mtime_ns, db.stat().st_size) == stamp  # only the -wal moved
            events.until(UpdateKind.CHANGED, "mlflow.db")
    finally:
        reader.close()
    assert "cifar/wal-run" in RunLoader().load("mlflow.db", db).parts

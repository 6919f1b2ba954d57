"""MLflow's file store and SQLite store.

tests/corpus/mlflow/generated/ holds stores written by MLflow's own client
(mlflow 3.17.2, see generate.py): the same runs in `mlruns/` and `mlflow.db`.
swahili_keras_autolog/ is a real file store from a public repository, written
by MLflow's Keras autologging in 2021 (an old meta.yaml with `name: ''`).
"""

from __future__ import annotations

import gzip
import math
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.model import STEP, ProblemKind
from metricwatch.readers.mlflow import (
    FileStoreRunTail,
    MetricFileTail,
    is_sqlite_store,
    list_file_store_runs,
    list_sqlite_runs,
    parse_metric_file,
    read_file_store_run,
    read_meta_yaml,
    read_sqlite_run,
)

CORPUS = Path(__file__).parent / "corpus" / "mlflow"
GENERATED = CORPUS / "generated"
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):
    """generated/mlflow.db.gz (gzipped as written: the database is mostly empty schema pages)."""
    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    with gzip.open(GENERATED / "mlflow.db.gz") as source:
        db.write_bytes(source.read())
    return db


def by_name(runs):
    return {name: location for _, name, location in runs}


def check_baseline(result):
    table = result.table
    assert table.x == STEP
    assert table.steps.tolist() == [0, 1, 2, 3]
    assert list(table.series) == ["grad_norm", "val_loss", "val_accuracy", "train_loss"]
    train = table.series["train_loss"]
    assert train.values.tolist() == [2.0, 1.5, 1.0, 0.5]
    assert train.times.tolist() == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert train.epochs.tolist() == [0.0, 0.5, 1.0, 1.5]  # from the `epoch` metric
    val = table.series["val_loss"]
    assert val.steps.tolist() == [1, 3]
    assert val.values[0] == 1.5 and math.isnan(val.values[1])
    assert table.series["grad_norm"].values.tolist() == [math.inf]
    assert table.series["val_accuracy"].values.tolist() == [0.5, 0.75]
    assert result.meta["source_keys"] == {
        "val_accuracy": "eval_accuracy",
        "train_loss": "train/loss",
    }
    assert result.meta["run_name"] == "resnet-baseline"
    assert result.meta["status"] == "FINISHED"
    assert result.meta["config"] == {"lr": "0.001", "optimizer/name": "adam"}
    assert result.meta["start_time"] == T0 and result.meta["end_time"] == T0 + 4
    assert result.problems == []
    assert result.format == "mlflow"


def check_no_steps(result):
    series = result.table.series["train_loss"]
    assert series.steps.tolist() == [0, 1, 2]
    assert series.values.tolist() == [0.9, 0.7, 0.6]
    assert result.meta["status"] == "FAILED"
    assert [p.kind for p in result.problems] == [ProblemKind.BAD_EPOCH]
    assert "logged without a step" in result.problems[0].message


# --- file store ---------------------------------------------------------------------------


def test_file_store_lists_live_runs_with_experiment_names():
    runs = list_file_store_runs(GENERATED / "mlruns")
    assert sorted((e, n) for e, n, _ in runs) == [
        ("cifar", "no-steps"),
        ("cifar", "resnet-baseline"),
    ]


def test_file_store_run_nested_keys_nan_inf_params_and_epochs():
    check_baseline(
        read_file_store_run(by_name(list_file_store_runs(GENERATED / "mlruns"))["resnet-baseline"])
    )


def test_file_store_metric_logged_without_step():
    check_no_steps(
        read_file_store_run(by_name(list_file_store_runs(GENERATED / "mlruns"))["no-steps"])
    )


def test_real_keras_autolog_store_with_old_meta():
    runs = list_file_store_runs(CORPUS / "swahili_keras_autolog" / "mlruns")
    assert [(e, n) for e, n, _ in runs] == [
        ("Speech model simple rnn", "ed05f9cd599442fe9a0c9222184710b8")
    ]
    result = read_file_store_run(runs[0][2])
    loss = result.table.series["train_loss"]
    assert loss.steps.tolist() == list(range(10))
    assert loss.values[:2].tolist() == [332.6841735839844, 297.6000061035156]
    assert loss.times[0] == 1628697792.090
    assert result.meta["status"] == "FINISHED"
    assert result.meta["source_keys"] == {"train_loss": "loss"}
    assert result.problems == []


def test_the_corpus_builders_file_store():
    runs = by_name(list_file_store_runs(GENERATED / "mlflow_client_filestore" / "mlruns"))
    assert sorted(runs) == ["baseline", "diverged"]
    result = read_file_store_run(runs["baseline"])
    assert result.meta["source_keys"]["train_loss"] == "train/loss"
    assert result.table.series["val_accuracy"].values.tolist() == [
        0.5,
        0.58,
        0.66,
        0.74,
        0.8200000000000001,
    ]


def test_trash_models_and_deleted_are_skipped(tmp_path):
    mlruns = tmp_path / "mlruns"
    shutil.copytree(GENERATED / "mlruns", mlruns)
    (mlruns / "models").mkdir()
    (mlruns / "7").mkdir()  # no meta.yaml: not an experiment
    assert len(list_file_store_runs(mlruns)) == 2
    assert list_file_store_runs(tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    ("data", "steps", "values", "bad", "cut"),
    [
        (b"1000 0.5 3\n2000 nan 4\n3000 -inf 5\n", [3, 4, 5], [0.5, math.nan, -math.inf], 0, False),
        (b"1000 0.5\n2000 0.25\n", [0, 0], [0.5, 0.25], 0, False),  # before MLflow 1.0: no step
        (b"1000 0.5 3\r\n2000 0.25 4\r\n", [3, 4], [0.5, 0.25], 0, False),  # CRLF
        (b"1000 0.5 3\n2000 0.2", [3], [0.5], 0, True),  # a write in progress
        (b"1000 0.5 3\nhello\n1000 x 1\n1 2 3 4\n", [3], [0.5], 3, False),
        (b"", [], [], 0, False),
    ],
)
def test_metric_file_lines(data, steps, values, bad, cut):
    got_steps, got_values, times, got_bad, got_cut = parse_metric_file(data)
    assert got_steps.tolist() == steps
    assert repr(got_values.tolist()) == repr(values)
    assert (got_bad, got_cut) == (bad, cut)
    assert len(times) == len(steps)


def test_a_cut_metric_file_is_truncated_and_keeps_whole_lines(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(by_name(list_file_store_runs(GENERATED / "mlruns"))["resnet-baseline"], run)
    path = run / "metrics" / "train" / "loss"
    data = path.read_bytes()
    full = read_file_store_run(run).table.series["train_loss"].values.tolist()
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        result = read_file_store_run(run)
        series = result.table.series.get("train_loss")
        values = [] if series is None else series.values.tolist()
        assert values == full[: len(values)]
        truncated = ProblemKind.TRUNCATED in [p.kind for p in result.problems]
        assert truncated == (cut > 0 and data[cut - 1 : cut] != b"\n")


def test_a_repeated_step_keeps_the_last_logged_value(tmp_path):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: r\nstatus: 1\n")
    (run / "metrics" / "val_loss").write_text("1000 0.5 1\n2000 0.4 2\n3000 0.3 1\n")
    result = read_file_store_run(run)
    series = result.table.series["val_loss"]
    assert series.steps.tolist() == [1, 2] and series.values.tolist() == [0.3, 0.4]
    assert result.meta["status"] == "RUNNING"


def test_meta_yaml_flat_keys_only(tmp_path):
    path = tmp_path / "meta.yaml"
    path.write_text("name: 'my exp'\nrun_name: \"x: y\"\ntags:\n- a: 1\n  b: 2\nstatus: 3\n")
    assert read_meta_yaml(path) == {"name": "my exp", "run_name": "x: y", "tags": "", "status": "3"}
    assert read_meta_yaml(tmp_path / "missing.yaml") == {}


def test_a_run_dir_without_meta_or_metrics(tmp_path):
    result = read_file_store_run(tmp_path)
    assert [p.kind for p in result.problems] == [ProblemKind.MISSING]
    (tmp_path / "meta.yaml").write_text("run_id: abc\n")
    assert [p.kind for p in read_file_store_run(tmp_path).problems] == [ProblemKind.EMPTY]


# --- SQLite store -------------------------------------------------------------------------


def test_sqlite_lists_live_runs_skipping_deleted_runs_and_experiments(store_db):
    runs = list_sqlite_runs(store_db)
    assert [(e, n) for e, n, _ in runs] == [("cifar", "resnet-baseline"), ("cifar", "no-steps")]


def test_sqlite_run_equals_the_file_store_run(store_db):
    runs = by_name(list_sqlite_runs(store_db))
    check_baseline(read_sqlite_run(store_db, runs["resnet-baseline"]))
    check_no_steps(read_sqlite_run(store_db, runs["no-steps"]))


def test_the_corpus_builders_default_db(tmp_path):
    db = tmp_path / "mlflow.db"
    with gzip.open(GENERATED / "mlflow_client_default_db" / "mlflow.db.gz") as source:
        db.write_bytes(source.read())
    runs = by_name(list_sqlite_runs(db))
    assert sorted(runs) == ["baseline", "diverged"]
    result = read_sqlite_run(db, runs["baseline"])
    assert result.table.series["val_accuracy"].values.tolist() == [
        0.5,
        0.58,
        0.66,
        0.74,
        0.8200000000000001,
    ]


def test_sqlite_locked_by_a_writer_is_a_problem_not_a_wait(tmp_path, store_db):
    db = tmp_path / "mlflow.db"
    shutil.copy(store_db, db)
    uuid = list_sqlite_runs(db)[0][2]
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = read_sqlite_run(db, uuid)
        assert time.monotonic() - started < 2
        assert [p.kind for p in result.problems] == [ProblemKind.UNREADABLE]
        assert "locked" in result.problems[0].message
        assert list_sqlite_runs(db) == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert read_sqlite_run(db, uuid).problems == []


def test_sqlite_is_opened_read_only(tmp_path, store_db):
    db = tmp_path / "mlflow.db"
    shutil.copy(store_db, db)
    before = db.read_bytes()
    for _, _, uuid in list_sqlite_runs(db):
        read_sqlite_run(db, uuid)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]


def test_sqlite_files_that_are_not_stores(tmp_path, store_db):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert read_sqlite_run(other, "x").problems[0].kind is ProblemKind.NOT_OURS
    text = tmp_path / "mlflow.db"
    text.write_text("not sqlite at all " * 100)
    assert read_sqlite_run(text, "x").problems[0].kind is ProblemKind.NOT_OURS
    assert list_sqlite_runs(text) == []
    assert not is_sqlite_store(other) and not is_sqlite_store(text)
    assert not is_sqlite_store(tmp_path / "none.db") and is_sqlite_store(store_db)
    missing = read_sqlite_run(tmp_path / "none.db", "x")
    assert missing.problems[0].kind is ProblemKind.UNREADABLE
    assert not (tmp_path / "none.db").exists()
    unknown = read_sqlite_run(store_db, "no-such-run")
    assert unknown.problems[0].kind is ProblemKind.MISSING


# --- anything a file may hold -------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_metric_file_bytes_never_raise(data):
    steps, values, times, _, _ = parse_metric_file(data)
    assert len(steps) == len(values) == len(times)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_meta_yaml_never_raises(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("meta") / "meta.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    read_meta_yaml(path)


# --- reading as the files grow ------------------------------------------------------------


def test_run_tail_reads_only_new_lines_and_equals_a_fresh_read(tmp_path):
    run = tmp_path / "run"
    (run / "metrics" / "train").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: live\nstatus: 1\n")
    loss, lr = run / "metrics" / "train" / "loss", run / "metrics" / "lr"
    tail = FileStoreRunTail(run)
    lines = [f"{1000 + step} {1 / (step + 1)!r} {step}\n".encode() for step in range(40)]
    loss.write_bytes(b"")
    for step, line in enumerate(lines):
        with loss.open("ab") as handle:
            handle.write(line[:5])  # a line cut short: not read until whole
        assert len(tail.read().table.series.get("train_loss", [])) == step
        with loss.open("ab") as handle:
            handle.write(line[5:])
        if step % 10 == 0:
            with lr.open("ab") as handle:
                handle.write(f"{1000 + step} 0.1 {step}\n".encode())
        live = tail.read()
        fresh = read_file_store_run(run)
        assert live.table.steps.tolist() == fresh.table.steps.tolist()
        for key, series in fresh.table.series.items():
            assert live.table.series[key].values.tolist() == series.values.tolist()
    assert tail.tails["train/loss"].offset == sum(map(len, lines))
    assert live.table.series["lr"].steps.tolist() == [0, 10, 20, 30]


def test_metric_tail_starts_again_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "loss"
    path.write_bytes(b"1000 0.5 0\n2000 0.4 1\n")
    tail = MetricFileTail(path)
    assert tail.read_new()[1].tolist() == [0.5, 0.4] and not tail.reset
    other = tmp_path / "new"
    other.write_bytes(b"3000 0.9 0\n")
    other.replace(path)
    assert tail.read_new()[1].tolist() == [0.9] and tail.reset
    path.write_bytes(b"")
    assert tail.read_new()[1].tolist() == [] and tail.reset


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**41), finite_or_not, st.integers(-(2**62), 2**62)),
        max_size=30,
    )
)
def test_metric_lines_as_mlflow_writes_them(rows):
    data = "".join(f"{ts} {value} {step}\n" for ts, value, step in rows).encode()
    steps, values, times, bad, cut = parse_metric_file(data)
    assert steps.tolist() == [step for _, _, step in rows]
    assert repr(values.tolist()) == repr([value for _, value, _ in rows])
    assert times.tolist() == [ts / 1000 for ts, _, _ in rows]
    assert (bad, cut) == (0, False)


def _reference_points(steps, values, times):
    """build_result's ordering of one metric as written before its shortcuts."""
    if len(steps) > 1 and bool(np.all(steps == steps[0])):
        steps = np.arange(len(steps), dtype=np.int64)
    order = np.argsort(steps, kind="stable")
    steps, values, times = steps[order], values[order], times[order]
    if len(steps) > 1:
        last = np.append(steps[1:] != steps[:-1], True)
        steps, values, times = steps[last], values[last], times[last]
    return steps, values, times


def test_metric_points_are_ordered_and_deduplicated_as_the_plain_sort_does():
    from metricwatch.readers.mlflow_run import build_result

    rng = np.random.default_rng(3)
    for _ in range(400):
        n = int(rng.integers(0, 12))
        kind = rng.integers(0, 4)
        if kind == 0:
            steps = np.sort(rng.integers(0, 6, n))  # in order, with repeats
        elif kind == 1:
            steps = rng.integers(0, 6, n)  # any order
        elif kind == 2:
            steps = np.full(n, 7)  # logged without a step
        else:
            steps = np.arange(n) * 3  # a live run: in order, one value a step
        steps = steps.astype(np.int64)
        values = rng.normal(size=n)
        times = np.arange(n, dtype=np.float64) + 1e12
        result = build_result({"loss": (steps, values, times)}, {}, [])
        if n == 0:
            continue
        expected = _reference_points(steps, values, times)
        series = result.table.series["train_loss"]
        np.testing.assert_array_equal(series.steps, expected[0])
        np.testing.assert_array_equal(series.values, expected[1])
        np.testing.assert_array_equal(series.times, expected[2])


def test_a_metric_logged_at_the_epochs_steps_takes_them_as_the_search_would():
    from metricwatch.model import Series
    from metricwatch.readers.base import with_epochs

    def searched(series, epoch_steps, epochs):
        where = np.searchsorted(epoch_steps, series.steps, side="right") - 1
        return np.where(where >= 0, epochs[np.clip(where, 0, None)], np.nan)

    epoch_steps = np.array([0, 10, 20, 30], dtype=np.int64)
    epochs = np.array([0.0, 0.5, 1.0, 1.5])
    same = Series("loss", epoch_steps.copy(), np.array([4.0, 3.0, 2.0, 1.0]))
    assert with_epochs(same, epoch_steps, epochs).epochs is epochs  # taken as they are
    other = Series("val_loss", np.array([5, 25, 40], dtype=np.int64), np.array([3.0, 2.0, 1.0]))
    assert with_epochs(other, epoch_steps, epochs).epochs.tolist() == [0.0, 1.0, 1.5]
    shifted = Series("lr", np.array([1, 10, 20, 30], dtype=np.int64), np.ones(4))
    assert with_epochs(shifted, epoch_steps, epochs).epochs.tolist() == [0.0, 0.5, 1.0, 1.5]
    early = Series("lr", np.array([-5, 10], dtype=np.int64), np.ones(2))
    assert np.isnan(with_epochs(early, epoch_steps, epochs).epochs[0])
    # an epoch logged twice at a step: the later one, as the search takes it
    twice_steps = np.array([0, 10, 10, 20], dtype=np.int64)
    twice = np.array([0.0, 0.4, 0.5, 1.0])
    series = Series("loss", twice_steps.copy(), np.ones(4))
    got = with_epochs(series, twice_steps, twice).epochs
    np.testing.assert_array_equal(got, searched(series, twice_steps, twice))
    assert got.tolist() == [0.0, 0.5, 0.5, 1.0]


def test_union_steps_of_keys_logged_at_the_same_steps_is_those_steps():
    from metricwatch.readers.base import union_steps

    steps = np.array([1, 2, 5, 9], dtype=np.int64)
    assert union_steps([steps, steps.copy(), steps.copy()]) is steps  # no sort
    assert union_steps([steps.copy(), np.array([2, 9]), steps]).tolist() == [1, 2, 5, 9]
    assert union_steps([np.array([2, 9]), steps]) is steps  # the longest holds them all
    assert union_steps([steps, np.array([2, 3])]).tolist() == [1, 2, 3, 5, 9]
    assert union_steps([steps, np.array([0, 1])]).tolist() == [0, 1, 2, 5, 9]
    assert union_steps([steps, np.array([9, 10])]).tolist() == [1, 2, 5, 9, 10]
    assert union_steps([steps, np.array([], dtype=np.int64)]) is steps
    twice = np.array([1, 2, 2, 5], dtype=np.int64)  # a step twice: sorted out
    assert union_steps([twice, twice.copy()]).tolist() == [1, 2, 5]
    assert union_steps([twice]) is twice  # one array: as it is, as before
    assert union_steps([]).tolist() == []


def test_union_steps_equals_the_sorted_union_on_random_arrays():
    from metricwatch.readers.base import union_steps

    rng = np.random.default_rng(5)
    for _ in range(500):
        arrays = [
            np.unique(rng.integers(0, 30, int(rng.integers(0, 12)))).astype(np.int64)
            for _ in range(int(rng.integers(1, 5)))
        ]
        if rng.random() < 0.3:  # the common case: one holds the others
            arrays.append(np.unique(np.concatenate(arrays)))
        expected = np.unique(np.concatenate(arrays)) if arrays else []
        assert union_steps(arrays).tolist() == expected.tolist()


def test_no_epoch_logged_yet_dates_every_point_unknown():
    """An epoch axis with no point yet (its file's first line still being written): every
    epoch is NaN, not an IndexError (TensorBoard and MLflow both date series so)."""
    import numpy as np

    from metricwatch.model import Series
    from metricwatch.readers.base import with_epochs

    series = Series("loss", np.array([3, 5, 9]), np.array([0.5, 0.4, 0.3]), None, None)
    empty = np.empty(0, dtype=np.int64)
    dated = with_epochs(series, empty, np.empty(0))
    assert np.isnan(dated.epochs).all() and len(dated.epochs) == 3
    assert dated.steps is series.steps and dated.values is series.values
    assert len(with_epochs(Series("x", empty, np.empty(0), None, None), empty, empty).epochs) == 0

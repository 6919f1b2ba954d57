"""MLflow file-store runs found, read and followed like any other run.

A run is `mlruns/<experiment_id>/<run_id>/`, claimed through its meta.yaml (an
experiment's meta.yaml is no run) and named `experiment name/run name`; its
`metrics/` tree (keys with `/` nested) is the run's own and watched with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from test_watch_resilience import Collector, wait_until

from metricwatch.readers import claim
from metricwatch.sources.discovery import discover_runs, is_single_run, scan
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode

CORPUS = Path(__file__).parent / "corpus" / "mlflow"
T0 = 1_700_000_000_000


def experiment(mlruns: Path, exp_id: str, name: str) -> Path:
    folder = mlruns / exp_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(
        f"artifact_location: file://{folder}\ncreation_time: {T0}\nexperiment_id: '{exp_id}'\n"
        f"last_update_time: {T0}\nlifecycle_stage: active\nname: {name}\n"
    )
    return folder


def mlflow_run(exp: Path, run_id: str, name: str, *, stage: str = "active") -> Path:
    run = exp / run_id
    for sub in ("artifacts", "params", "tags"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (run / "meta.yaml").write_text(
        f"artifact_uri: file://{run}/artifacts\nend_time: null\nentry_point_name: ''\n"
        f"experiment_id: '{exp.name}'\nlifecycle_stage: {stage}\nrun_id: {run_id}\n"
        f"run_name: {name}\nrun_uuid: {run_id}\nsource_name: ''\nsource_type: 4\n"
        f"source_version: ''\nstart_time: {T0}\nstatus: 1\ntags: []\nuser_id: me\n"
    )
    (run / "params" / "lr").write_text("0.001")
    return run


def log(run: Path, key: str, *points: tuple[int, float]) -> None:
    path = run / "metrics" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        for step, value in points:
            handle.write(f"{T0 + step} {value} {step}\n")


def store(tmp_path: Path) -> tuple[Path, Path, Path]:
    mlruns = tmp_path / "mlruns"
    cifar = experiment(mlruns, "123", "cifar")
    experiment(mlruns, "0", "Default")
    a = mlflow_run(cifar, "a" * 32, "baseline")
    log(a, "train/loss", (0, 2.0), (1, 1.5))
    log(a, "val_loss", (1, 1.75))
    b = mlflow_run(cifar, "b" * 32, "wide")
    log(b, "loss", (0, 3.0))
    return mlruns, a, b


# --- discovery -------------------------------------------------------------------------------


def test_each_run_of_a_store_is_one_run_named_by_experiment_and_run(tmp_path):
    mlruns, a, b = store(tmp_path)
    found = {run.name: run.metrics_path for run in discover_runs(tmp_path)}
    assert found == {
        "mlruns/cifar/baseline": a / "meta.yaml",
        "mlruns/cifar/wide": b / "meta.yaml",
    }
    # From the store itself, the experiment, or the run: the names read the same way.
    assert {r.name for r in discover_runs(mlruns)} == {"cifar/baseline", "cifar/wide"}
    assert {r.name for r in discover_runs(mlruns / "123")} == {"cifar/baseline", "cifar/wide"}
    assert [r.name for r in discover_runs(a)] == ["cifar/baseline"]
    assert is_single_run(a) and not is_single_run(mlruns / "123")


def test_an_experiments_meta_yaml_is_no_run_and_a_runs_is(tmp_path):
    mlruns, a, _ = store(tmp_path)
    assert claim("meta.yaml", (mlruns / "123" / "meta.yaml").read_bytes()) is None
    assert claim("meta.yaml", (a / "meta.yaml").read_bytes()).name == "mlflow"
    assert claim("meta.yaml", b"name: some config\nexperiment_id: 3\n") is None


def test_trash_deleted_runs_and_models_are_not_runs(tmp_path):
    mlruns, _, _ = store(tmp_path)
    trash = experiment(mlruns / ".trash", "9", "scratch")
    log(mlflow_run(trash, "c" * 32, "in-trash"), "loss", (0, 1.0))
    log(mlflow_run(mlruns / "123", "d" * 32, "deleted", stage="deleted"), "loss", (0, 1.0))
    (mlruns / "123" / "models" / "m-1").mkdir(parents=True)
    (mlruns / "123" / "models" / "m-1" / "meta.yaml").write_text(
        "model_id: m-1\nexperiment_id: '123'\nsource_run_id: aaaa\n"
    )
    assert {r.name for r in discover_runs(mlruns)} == {"cifar/baseline", "cifar/wide"}


def test_two_runs_of_one_name_stay_two_runs(tmp_path):
    mlruns, a, _ = store(tmp_path)
    twin = mlflow_run(mlruns / "123", "e" * 32, "baseline")
    log(twin, "loss", (0, 1.0))
    names = {r.metrics_path.parent: r.name for r in discover_runs(mlruns)}
    assert len(set(names.values())) == 3
    assert names[twin] in {"cifar/baseline", f"cifar/baseline ({'e' * 32})"}
    assert {names[a], names[twin]} == {"cifar/baseline", f"cifar/baseline ({'e' * 32})"}


def test_the_real_stores_of_the_corpus(tmp_path):
    shutil.copytree(CORPUS / "generated" / "mlruns", tmp_path / "gen")
    shutil.copytree(CORPUS / "swahili_keras_autolog" / "mlruns", tmp_path / "keras")
    names = sorted(r.name for r in discover_runs(tmp_path))
    assert names == [
        "gen/cifar/no-steps",
        "gen/cifar/resnet-baseline",
        "keras/Speech model simple rnn/ed05f9cd599442fe9a0c9222184710b8",  # no run name
    ]


def test_the_metrics_tree_is_searched_for_watching_and_nothing_else_of_the_run(tmp_path):
    mlruns, a, b = store(tmp_path)
    found = scan(mlruns)
    below_runs = sorted(p.relative_to(mlruns).as_posix() for p in found.dirs if a in p.parents)
    assert below_runs == [f"123/{a.name}/metrics", f"123/{a.name}/metrics/train"]
    assert b / "params" not in found.dirs and b / "artifacts" not in found.dirs


# --- loading ---------------------------------------------------------------------------------


def test_the_loader_reads_the_run_from_its_directory_and_only_new_lines(tmp_path):
    _, a, _ = store(tmp_path)
    loader = RunLoader()
    run = loader.load("cifar/baseline", a / "meta.yaml")
    assert (run.format, run.x) == ("mlflow", "step")
    assert run.series("train_loss").values.tolist() == [2.0, 1.5]
    assert run.meta["run_name"] == "baseline" and run.meta["config"] == {"lr": "0.001"}
    log(a, "train/loss", (2, 1.25))
    run = loader.load("cifar/baseline", a / "meta.yaml")
    assert run.series("train_loss").steps.tolist() == [0, 1, 2]
    tail = loader._tails[a / "meta.yaml"].tails["train/loss"]
    assert tail.offset == (a / "metrics" / "train" / "loss").stat().st_size


def test_a_run_was_last_written_when_a_metric_was_not_when_meta_yaml_was(tmp_path):
    """A run logging for an hour has an hour-old meta.yaml: it is no stalled run."""
    import os

    _, a, _ = store(tmp_path)
    os.utime(a / "meta.yaml", (T0 / 1000, T0 / 1000))
    newest = max(p.stat().st_mtime for p in (a / "metrics").rglob("*") if p.is_file())
    run = RunLoader().load("cifar/baseline", a / "meta.yaml")
    assert run.mtime == newest > T0 / 1000


# --- watching --------------------------------------------------------------------------------


def test_a_metric_appended_changes_its_run(tmp_path):
    _, a, _ = store(tmp_path)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    assert {u.name for u in watcher.initial()} == {"mlruns/cifar/baseline", "mlruns/cifar/wide"}
    assert a / "metrics" / "train" in watcher.dirs
    with Collector(watcher) as events:
        log(a, "train/loss", (2, 1.25))
        update = events.until(UpdateKind.CHANGED, "mlruns/cifar/baseline")
        assert update.metrics_path == a / "meta.yaml"
        log(a, "val_loss", (3, 1.5))  # a top-level key
        events.until(UpdateKind.CHANGED, "mlruns/cifar/baseline")
    run = RunLoader().load("r", a / "meta.yaml")
    assert run.series("train_loss").steps.tolist() == [0, 1, 2]


def test_a_new_nested_key_and_a_run_logging_its_first_metric_are_followed(tmp_path):
    mlruns, a, _ = store(tmp_path)
    fresh = mlflow_run(mlruns / "123", "f" * 32, "fresh")  # no metrics/ yet
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    with Collector(watcher) as events:
        log(a, "eval/accuracy", (1, 0.5))  # a new folder below metrics/
        events.until(UpdateKind.CHANGED, "mlruns/cifar/baseline")
        wait_until(lambda: watcher._watched.get(a / "metrics" / "eval") is not None)
        log(a, "eval/accuracy", (2, 0.75))
        events.until(UpdateKind.CHANGED, "mlruns/cifar/baseline")
        log(fresh, "loss", (0, 1.0))  # metrics/ made
        events.until(UpdateKind.CHANGED, "mlruns/cifar/fresh")
        wait_until(lambda: watcher._watched.get(fresh / "metrics") is not None)
        log(fresh, "loss", (1, 0.5))
        events.until(UpdateKind.CHANGED, "mlruns/cifar/fresh")
    assert RunLoader().load("r", fresh / "meta.yaml").series("train_loss").steps.tolist() == [0, 1]


def test_a_new_run_of_the_store_appears_with_its_names(tmp_path):
    mlruns, _, _ = store(tmp_path)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    with Collector(watcher) as events:
        run = mlflow_run(experiment(mlruns, "456", "imagenet"), "9" * 32, "big")
        update = events.until(UpdateKind.APPEARED, "mlruns/imagenet/big")
        assert update.metrics_path == run / "meta.yaml"


def test_the_watch_set_grows_by_the_metrics_folders_only(tmp_path):
    """100 runs with three keys, two of them nested under one folder: the searched
    directories (2 + 100 run dirs + the store), plus metrics/ and train/ per run."""
    mlruns = tmp_path / "mlruns"
    exp = experiment(mlruns, "1", "sweep")
    for i in range(100):
        run = mlflow_run(exp, f"{i:032x}", f"trial-{i}")
        log(run, "train/loss", (0, 1.0))
        log(run, "train/acc", (0, 0.5))
        log(run, "lr", (0, 0.1))
    found = scan(tmp_path)
    assert len(found.runs) == 100
    assert len(found.dirs) == 3 + 100 + 2 * 100


def test_polling_sees_a_metric_appended_though_meta_yaml_did_not_move(tmp_path):
    """On a network mount (polling), the stat round looks at the run's metric files too."""
    _, a, b = store(tmp_path)
    watcher = RunWatcher(tmp_path, WatchMode(True, 0.02), rescan_every=1000)
    watcher.initial()
    with Collector(watcher, ready=lambda: True) as events:
        assert events.drain(0.1) == []  # nothing moved: nothing reported
        log(a, "train/loss", (2, 1.25))
        events.until(UpdateKind.CHANGED, "mlruns/cifar/baseline")
        log(b, "eval/acc", (0, 0.5))  # a new nested key: a new folder, seen without a rescan
        events.until(UpdateKind.CHANGED, "mlruns/cifar/wide")
        assert events.drain(0.1) == []

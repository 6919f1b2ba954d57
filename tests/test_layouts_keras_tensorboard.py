"""Keras' TensorBoard callback: `logs/<run>/train/` and `logs/<run>/validation/` are one run.

Keras (TF2) writes `events.out.tfevents.<time>.<host>.<pid>.<n>.v2` files into
`train/` and `validation/` below the run's log folder. The run is the folder
(named after it), read from both; PyTorch's writer (Ultralytics' `runs/detect/train/`
runs) writes no `.v2` files, so a folder of such runs named `train` stays a run of its own.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from test_reader_tfevents import event, file_of, ld, simple, tensor_value
from test_watch_resilience import Collector

from metricwatch.sources.discovery import discover_runs, is_single_run, scan
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode

CORPUS = Path(__file__).parent / "corpus" / "tfevents" / "generated"
V2 = "events.out.tfevents.1700000000.host.1.0.v2"


def epoch_scalar(tag: str, value: float) -> bytes:
    """A TF2 summary: a float32 rank-0 tensor (dtype 1, tensor_content)."""
    return tensor_value(tag, b"\x08\x01" + ld(2, b"") + ld(4, struct.pack("<f", value)))


def keras_events(path: Path, epochs, tag: str = "epoch_loss") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(file_of(*(event(e, epoch_scalar(tag, 1.0 / (e + 1))) for e in epochs)))


def keras_run(logs: Path, name: str, epochs=(0, 1)) -> Path:
    keras_events(logs / name / "train" / V2, epochs)
    keras_events(logs / name / "validation" / V2, epochs)
    return logs / name


def test_train_and_validation_are_one_run_named_after_their_folder(tmp_path):
    run = keras_run(tmp_path / "logs", "fit-20240101")
    keras_run(tmp_path / "logs", "fit-20240102")
    found = {r.name: r.metrics_path for r in discover_runs(tmp_path)}
    assert found == {
        "logs/fit-20240101": run / "train" / V2,
        "logs/fit-20240102": tmp_path / "logs" / "fit-20240102" / "train" / V2,
    }
    assert is_single_run(run)
    assert [r.name for r in discover_runs(run)] == ["fit-20240101"]


def test_a_run_with_only_validation_so_far_or_only_train(tmp_path):
    keras_events(tmp_path / "a" / "validation" / V2, [0])
    keras_events(tmp_path / "b" / "train" / V2, [0])
    assert sorted(r.name for r in discover_runs(tmp_path)) == ["a", "b"]


def test_the_real_keras_folder_of_the_corpus_reads_both_roles(tmp_path):
    shutil.copytree(CORPUS / "keras", tmp_path / "keras")
    (location,) = discover_runs(tmp_path)
    assert location.name == "keras"
    run = RunLoader().load(location.name, location.metrics_path)
    assert run.format == "tfevents"
    assert run.series("train_loss").values.tolist() == [1.0, 0.75, 0.5]
    assert run.series("val_loss").values.tolist() == [1.5, 1.25, 1.0]


def test_pytorch_writer_runs_in_folders_named_train_stay_separate_runs(tmp_path):
    """Ultralytics: runs/detect/train, runs/detect/train2 (torch SummaryWriter, no .v2)."""
    detect = tmp_path / "runs" / "detect"
    for name in ("train", "train2"):
        (detect / name).mkdir(parents=True)
        (detect / name / "events.out.tfevents.1700000000.host.1.0").write_bytes(
            file_of(event(1, simple("train/box_loss", 0.5)))
        )
    assert sorted(r.name for r in discover_runs(tmp_path)) == [
        "runs/detect/train",
        "runs/detect/train2",
    ]


def test_the_loader_reads_both_folders_from_the_run_file(tmp_path):
    run = keras_run(tmp_path, "fit", epochs=(0, 1))
    loader = RunLoader()
    loaded = loader.load("fit", run / "train" / V2)
    assert loaded.series("train_loss").steps.tolist() == [0, 1]
    assert loaded.series("val_loss").steps.tolist() == [0, 1]
    keras_events(run / "validation" / V2, [2])
    assert loader.load("fit", run / "train" / V2).series("val_loss").steps.tolist() == [0, 1, 2]


def test_train_and_validation_are_watched_with_the_run(tmp_path):
    for i in range(10):
        keras_run(tmp_path, f"fit{i}")
    found = scan(tmp_path)
    assert len(found.dirs) == 1 + 10 + 2 * 10  # PATH, the runs, train/ and validation/ each


def test_a_validation_epoch_written_changes_the_run(tmp_path):
    run = tmp_path / "fit"
    keras_events(run / "train" / V2, [0])
    watcher = RunWatcher(tmp_path, WatchMode(False))
    (appeared,) = watcher.initial()
    assert (appeared.kind, appeared.name) == (UpdateKind.APPEARED, "fit")
    with Collector(watcher) as events:
        keras_events(run / "validation" / V2, [0])  # validation/ made after the first epoch
        update = events.until(UpdateKind.CHANGED, "fit")
        assert update.metrics_path == run / "train" / V2
        keras_events(run / "train" / V2, [1])
        events.until(UpdateKind.CHANGED, "fit")
        keras_events(run / "validation" / V2, [1])
        events.until(UpdateKind.CHANGED, "fit")
    loaded = RunLoader().load("fit", run / "train" / V2)
    assert loaded.series("val_loss").steps.tolist() == [0, 1]
    assert loaded.series("train_loss").steps.tolist() == [0, 1]


def test_polling_sees_the_validation_file_grow(tmp_path):
    run = keras_run(tmp_path, "fit")
    watcher = RunWatcher(tmp_path, WatchMode(True, 0.02), rescan_every=1000)
    watcher.initial()
    with Collector(watcher, ready=lambda: True) as events:
        assert events.drain(0.1) == []
        keras_events(run / "validation" / V2, [2])
        events.until(UpdateKind.CHANGED, "fit")

"""TensorBoard runs found, read and followed like any other run (a directory of event files)."""

from __future__ import annotations

from test_reader_tfevents import event, file_of, simple
from test_watch_resilience import Collector

from metricwatch.sources.discovery import discover_runs
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode


def write_events(path, steps, tag="train/loss"):
    path.write_bytes(file_of(*(event(step, simple(tag, 1.0 / step)) for step in steps)))


def test_a_directory_of_event_files_is_one_run_read_whole(tmp_path):
    run_dir = tmp_path / "runs" / "exp"
    run_dir.mkdir(parents=True)
    write_events(run_dir / "events.out.tfevents.100.host.1.0", [1, 2, 3])
    write_events(run_dir / "events.out.tfevents.200.host.1.0", [4, 5], tag="eval/loss")
    (location,) = discover_runs(tmp_path / "runs")
    assert location.name == "exp"
    run = RunLoader().load(location.name, location.metrics_path)
    assert (run.format, run.x) == ("tfevents", "step")
    assert run.series("train_loss").steps.tolist() == [1, 2, 3]
    assert run.series("val_loss").steps.tolist() == [4, 5]


def test_the_loader_reads_only_what_was_appended(tmp_path):
    path = tmp_path / "events.out.tfevents.100.host.1.0"
    write_events(path, [1, 2])
    loader = RunLoader()
    assert loader.load("r", path).series("train_loss").steps.tolist() == [1, 2]
    with path.open("ab") as handle:
        handle.write(file_of(event(3, simple("train/loss", 0.25))))
    run = loader.load("r", path)
    assert run.series("train_loss").steps.tolist() == [1, 2, 3]
    tail = loader._tails[path]
    assert tail.tails[path][1].offset == path.stat().st_size  # all read, once


def test_a_second_event_file_of_a_watched_run_changes_that_run(tmp_path):
    run_dir = tmp_path / "exp"
    run_dir.mkdir()
    first = run_dir / "events.out.tfevents.100.host.1.0"
    write_events(first, [1, 2])
    watcher = RunWatcher(tmp_path, WatchMode(False))
    (appeared,) = watcher.initial()
    assert (appeared.kind, appeared.name) == (UpdateKind.APPEARED, "exp")
    with Collector(watcher) as events:
        write_events(run_dir / "events.out.tfevents.200.host.1.0", [3])  # a resume
        update = events.until(UpdateKind.CHANGED, "exp")
        assert update.metrics_path == first
    run = RunLoader().load("exp", first)
    assert run.series("train_loss").steps.tolist() == [1, 2, 3]

"""A batch that only wrote to a run's files (an MLflow run's metric files, an event file)
reports the run changed without listing its folders; anything else lists them as before."""

from __future__ import annotations

from pathlib import Path

from test_layouts_mlflow import log, store

from metricwatch import watch_runs
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode


def _watch(tmp_path: Path, monkeypatch) -> tuple[RunWatcher, list[Path], Path, Path]:
    _, a, _ = store(tmp_path)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    listed: list[Path] = []
    real = watch_runs.owned_dirs
    monkeypatch.setattr(
        watch_runs, "owned_dirs", lambda path, fmt: listed.append(path) or real(path, fmt)
    )
    run_file = next(path for path in watcher.known if a in path.parents or path == a)
    return watcher, listed, run_file, a


def _seen(updates) -> list[tuple[UpdateKind, Path]]:
    return [(u.kind, u.metrics_path) for u in updates]


def test_metric_files_written_report_the_run_without_listing_its_folders(tmp_path, monkeypatch):
    watcher, listed, run_file, run = _watch(tmp_path, monkeypatch)
    dirs = dict(watcher.dirs)
    for step in range(2, 5):
        log(run, "train/loss", (step, 1.0 / step))
        log(run, "val_loss", (step, 1.1 / step))
        batch = [("modified", str(run / "metrics" / k)) for k in ("train/loss", "val_loss")]
        assert _seen(watcher.classify(batch)) == [(UpdateKind.CHANGED, run_file)]
        assert watcher.contents_only
    assert listed == []  # no folder of the run listed, ten times a second
    assert dict(watcher.dirs) == dirs


def test_a_new_metric_folder_is_listed_and_watched(tmp_path, monkeypatch):
    watcher, listed, run_file, run = _watch(tmp_path, monkeypatch)
    log(run, "eval/acc", (1, 0.5))  # a new nested key: metrics/eval/ appears
    batch = [("added", str(run / "metrics" / "eval")), ("added", str(run / "metrics/eval/acc"))]
    assert _seen(watcher.classify(batch)) == [(UpdateKind.CHANGED, run_file)]
    assert not watcher.contents_only and listed  # the run's folders listed again
    assert run / "metrics" / "eval" in watcher.dirs  # and the new one watched


def test_a_catch_up_after_writes_reads_the_run_once_more_and_then_not(tmp_path, monkeypatch):
    watcher, _, run_file, run = _watch(tmp_path, monkeypatch)
    log(run, "train/loss", (2, 0.5))
    watcher.classify([("modified", str(run / "metrics" / "train/loss"))])
    # The files' digest was left as it was: a catch-up sees them moved, and reads the run
    # (finding what was read); a second finds nothing.
    assert (UpdateKind.CHANGED, run_file) in _seen(watcher.catch_up())
    assert (UpdateKind.CHANGED, run_file) not in _seen(watcher.catch_up())


def test_an_event_file_written_is_not_listed_with_its_folder(tmp_path, monkeypatch):
    from test_reader_tfevents import event, file_of, simple

    run = tmp_path / "tb"
    run.mkdir()
    path = run / "events.out.tfevents.10.host.1.0"
    path.write_bytes(file_of(event(1, simple("loss", 2.0))))
    watcher = RunWatcher(tmp_path, WatchMode(False))
    [first] = watcher.initial()
    digests: list[Path] = []
    real = watch_runs.RunLayouts._tree_stamp
    monkeypatch.setattr(
        watch_runs.RunLayouts, "_tree_stamp", lambda self, p: digests.append(p) or real(self, p)
    )
    with path.open("ab") as handle:
        handle.write(file_of(event(2, simple("loss", 1.0))))
    assert _seen(watcher.classify([("modified", str(path))])) == [
        (UpdateKind.CHANGED, first.metrics_path)
    ]
    assert digests == []  # the run's folder is not listed at a write
    (run / "events.out.tfevents.11.host.1.0").write_bytes(file_of(event(3, simple("loss", 0.5))))
    watcher.classify([("added", str(run / "events.out.tfevents.11.host.1.0"))])
    assert digests  # a new file: the run's files are listed again

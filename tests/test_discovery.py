import os
import time
from pathlib import Path

import pytest
from helpers import write_run

from metricwatch.sources.discovery import (
    DiscoveryError,
    discover_runs,
    is_run_dir_candidate,
    run_name,
)

ROW = [{"epoch": 1, "train_loss": 1.0}]


def test_parent_directory_lists_every_run_newest_first(tmp_path):
    old = write_run(tmp_path / "a" / "old", ROW)
    new = write_run(tmp_path / "b", ROW)
    os.utime(old, (time.time() - 100, time.time() - 100))
    runs = discover_runs(tmp_path)
    assert [r.name for r in runs] == ["b", "a/old"]
    assert runs[0].metrics_path == new


def test_hidden_venv_and_node_modules_are_skipped(tmp_path):
    write_run(tmp_path / "real", ROW)
    write_run(tmp_path / ".hidden" / "x", ROW)
    write_run(tmp_path / "node_modules" / "x", ROW)
    (tmp_path / "myenv").mkdir()
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    write_run(tmp_path / "myenv" / "lib", ROW)
    assert [r.name for r in discover_runs(tmp_path)] == ["real"]
    assert is_run_dir_candidate(tmp_path, tmp_path / "real")
    assert not is_run_dir_candidate(tmp_path, tmp_path / ".hidden" / "x")
    assert not is_run_dir_candidate(tmp_path, tmp_path / "myenv" / "lib")


def test_run_directory_and_file_paths_name_the_run_by_its_directory(tmp_path):
    path = write_run(tmp_path / "exp1", ROW)
    assert [r.name for r in discover_runs(tmp_path / "exp1")] == ["exp1"]
    assert [r.name for r in discover_runs(path)] == ["exp1"]
    assert run_name(tmp_path, path) == "exp1"
    assert run_name(tmp_path / "exp1", path) == "exp1"


def test_empty_directory_has_no_runs(tmp_path):
    assert discover_runs(tmp_path) == []


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(DiscoveryError, match="no such file or directory"):
        discover_runs(tmp_path / "nope")


def test_a_file_no_reader_claims_is_refused_with_the_supported_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DiscoveryError) as raised:
        discover_runs(tmp_path / "notes.txt")
    assert str(raised.value).startswith(
        f"{tmp_path / 'notes.txt'}: notes.txt is in no format metricwatch reads; "
        "supported: detectron2 metrics.json (JSON lines) (metrics.json); "
        "metricwatch metrics.json (metrics.json); "
    )


def test_a_directory_is_a_run_only_when_a_reader_claims_its_file(tmp_path, monkeypatch):
    from metricwatch import readers
    from metricwatch.readers.base import FileFormat, ParseResult
    from metricwatch.sources import discovery

    picky = FileFormat(
        "picky",
        "Picky log",
        ("log.csv",),
        lambda head: head.startswith(b"step,"),
        lambda data: ParseResult(),
    )
    monkeypatch.setattr(readers, "FORMATS", (picky, *readers.FORMATS))
    monkeypatch.setattr(discovery, "FORMATS", readers.FORMATS)
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "log.csv").write_text("step,loss\n1,0.5\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "log.csv").write_text("name,size\nx,1\n")  # someone else's CSV
    (tmp_path / "both").mkdir()
    (tmp_path / "both" / "log.csv").write_text("step,loss\n")
    (tmp_path / "both" / "metrics.json").write_text('{"epochs": []}')
    runs = {run.name: run.metrics_path.name for run in discover_runs(tmp_path)}
    assert runs == {"theirs": "log.csv", "both": "log.csv"}  # the registry's order decides


def test_a_fifo_named_metrics_json_is_reported_not_read(tmp_path):
    from metricwatch.model import ProblemKind
    from metricwatch.sources.loader import RunLoader

    (tmp_path / "r").mkdir()
    fifo = tmp_path / "r" / "metrics.json"
    os.mkfifo(fifo)
    (location,) = discover_runs(tmp_path)
    run = RunLoader().load(location.name, location.metrics_path)  # must not block
    assert [p.kind for p in run.problems] == [ProblemKind.UNREADABLE]
    with pytest.raises(DiscoveryError, match="not a regular file or a directory"):
        discover_runs(fifo)


def test_directories_that_cannot_be_entered_are_skipped(tmp_path, monkeypatch):
    from pathlib import Path

    write_run(tmp_path / "ok", ROW)
    (tmp_path / "locked").mkdir()
    real_exists = Path.exists

    def exists(self, *args, **kwargs):
        if "locked" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    assert [r.name for r in discover_runs(tmp_path)] == ["ok"]


def test_permission_denied_on_the_path_itself_is_a_clear_error(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "stat", refuse)
    with pytest.raises(DiscoveryError, match="permission denied"):
        discover_runs(tmp_path / "locked" / "inner")


def test_the_current_directory_is_named_after_itself(tmp_path, monkeypatch):
    write_run(tmp_path / "exp7", ROW)
    monkeypatch.chdir(tmp_path / "exp7")
    assert [r.name for r in discover_runs(Path("."))] == ["exp7"]


def test_is_single_run_also_before_the_file_exists_and_never_raises(tmp_path, monkeypatch):
    from metricwatch.sources.discovery import is_single_run

    assert is_single_run(tmp_path / "x" / "metrics.json")  # not written yet
    assert not is_single_run(tmp_path / "runs")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "metrics.json").write_text("{}")
    assert is_single_run(tmp_path / "one")
    assert not is_single_run(tmp_path)

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("os.stat", refuse)
    monkeypatch.setattr("os.listdir", refuse)
    assert not is_single_run(tmp_path / "one")  # cannot look: not one run, no exception

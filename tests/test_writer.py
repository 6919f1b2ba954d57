"""The shared writer: one format, atomic replace, the format's epoch semantics."""

import json
import math
import os

import pytest

from metricwatch.readers import parse_metrics_json
from metricwatch.writer import MetricsDocument, atomic_write_text


def test_document_round_trips_through_the_reader(tmp_path):
    doc = MetricsDocument(tmp_path / "run", {"total_epochs": 3, "task": "classification"})
    doc.put({"epoch": 1, "train_loss": 1.5, "learning_rate": 0.1, "val_acc": 0.5})
    doc.put({"epoch": 2, "train_loss": math.nan, "grad_norm": math.inf, "skip": None})
    doc.write()
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert text.startswith('{"meta": {')  # meta first, so a partial copy still has it
    result = parse_metrics_json(text.encode())
    assert result.problems == []
    assert result.meta == {"total_epochs": 3, "task": "classification"}
    rows = result.table.rows()
    assert rows[0] == {"epoch": 1, "train_loss": 1.5, "lr": 0.1, "val_accuracy": 0.5}
    assert math.isnan(rows[1]["train_loss"])
    assert rows[1]["grad_norm"] == math.inf
    assert "NaN" in text and "Infinity" in text


def test_relogging_an_epoch_drops_the_later_ones(tmp_path):
    doc = MetricsDocument(tmp_path)
    for epoch in (1, 2, 3, 4):
        doc.put({"epoch": epoch, "train_loss": epoch})
    doc.put({"epoch": 2, "train_loss": 20})
    assert [r["epoch"] for r in doc.records] == [1, 2]
    assert doc.records[1]["train_loss"] == 20.0
    assert doc.last_epoch == 2
    doc.write()
    assert [r["train_loss"] for r in json.loads(doc.path.read_text())["epochs"]] == [1.0, 20.0]


def test_load_existing_resumes_from_disk(tmp_path):
    first = MetricsDocument(tmp_path, {"total_epochs": 9})
    first.put({"epoch": 1, "train_loss": 1.0})
    first.write()
    second = MetricsDocument(tmp_path, {"task": "regression"})
    assert second.load_existing() is not None
    assert second.meta == {"task": "regression", "total_epochs": 9}
    assert second.last_epoch == 1
    assert MetricsDocument(tmp_path / "empty").load_existing() is None


def test_empty_document_is_valid_json(tmp_path):
    doc = MetricsDocument(tmp_path)
    doc.write()
    assert json.loads(doc.path.read_text()) == {"meta": {}, "epochs": []}


def test_atomic_write_leaves_no_temp_file_and_cleans_up_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    assert os.listdir(tmp_path) == ["metrics.json"]

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert os.listdir(tmp_path) == ["metrics.json"]
    assert target.read_text() == "old"


def test_written_file_is_readable_by_others_and_keeps_its_mode(tmp_path):
    old_umask = os.umask(0o022)
    try:
        target = tmp_path / "metrics.json"
        atomic_write_text(target, "{}")
        assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        target.chmod(0o640)
        atomic_write_text(target, "{}")
        assert target.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old_umask)


def test_stale_temp_files_of_a_killed_writer_are_removed_on_first_write(tmp_path):
    stale = tmp_path / ".metrics.json.abc123.tmp"
    fresh = tmp_path / ".metrics.json.def456.tmp"
    stale.write_text('{"epo')
    fresh.write_text('{"epo')
    os.utime(stale, (1, 1))
    doc = MetricsDocument(tmp_path)
    doc.write()
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer that is mid-write right now

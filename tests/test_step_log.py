"""The native step log metrics.jsonl, alone and joined with the run's metrics.json."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from test_watch_resilience import Collector

from metricwatch.model import EPOCH, STEP, ProblemKind
from metricwatch.readers import claim, parse
from metricwatch.readers.appended import AppendedLog
from metricwatch.readers.step_log import FORMAT, join_epochs, join_steps, parse_step_log
from metricwatch.sources.discovery import discover_runs
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode


def lines(*rows: dict) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def step_rows(first: int, last: int, per_epoch: int = 100) -> list[dict]:
    return [
        {"step": s, "epoch": s / per_epoch, "time": 1_700_000_000.5 + s, "loss": 4.0 / s}
        for s in range(first, last + 1)
    ]


def epochs_doc(*records: dict, **meta) -> bytes:
    return json.dumps({"epochs": list(records), "meta": meta}).encode()


# --- the step log alone -----------------------------------------------------------------------


def test_each_line_is_a_point_with_its_step_epoch_and_time():
    result = parse_step_log(lines(*step_rows(37, 39), {"step": 40, "loss": 0.1, "grad_norm": 2}))
    assert result.problems == []
    table = result.table
    assert table.x == STEP
    assert table.steps.tolist() == [37, 38, 39, 40]
    loss = table.series["train_loss"]  # `loss` is the registry's train_loss
    assert loss.steps.tolist() == [37, 38, 39, 40]
    assert loss.values.tolist() == [4 / 37, 4 / 38, 4 / 39, 0.1]
    assert loss.epochs.tolist()[:3] == [0.37, 0.38, 0.39]
    assert math.isnan(loss.epochs[3])
    assert loss.times.tolist()[:3] == [1_700_000_037.5, 1_700_000_038.5, 1_700_000_039.5]
    assert table.series["grad_norm"].steps.tolist() == [40]
    assert result.meta["source_keys"] == {"train_loss": "loss"}


def test_a_last_line_being_written_is_waited_for_and_a_bad_line_is_counted():
    data = lines(*step_rows(1, 3)) + b"not json\n" + lines(*step_rows(4, 5)) + b'{"step": 6, "lo'
    result = parse_step_log(data)
    assert result.table.steps.tolist() == [1, 2, 3, 4, 5]
    assert {(p.kind, p.message) for p in result.problems} == {
        (
            ProblemKind.TRUNCATED,
            "the last line of metrics.jsonl is incomplete (a write in progress?)",
        ),
        (ProblemKind.INVALID_JSON, "skipped 1 lines of metrics.jsonl that are not JSON objects"),
    }


def test_a_step_going_back_replaces_the_steps_from_there():
    result = parse_step_log(lines(*step_rows(1, 6), *step_rows(4, 5)))
    assert result.table.steps.tolist() == [1, 2, 3, 4, 5]
    assert result.table.series["train_loss"].values.tolist() == [4.0, 2.0, 4 / 3, 1.0, 0.8]
    assert [p.message for p in result.problems] == [
        "the step went back (restarted from a checkpoint) at step 4 (after 6); "
        "the later lines replace the earlier ones"
    ]


@pytest.mark.parametrize("step", [-1, 1.5, True, "7", None, 10**15 + 1])
def test_a_line_without_a_usable_step_is_skipped_and_said(step):
    result = parse_step_log(lines({"step": 1, "loss": 1.0}, {"step": step, "loss": 2.0}))
    assert result.table.steps.tolist() == [1]
    assert [p.message for p in result.problems] == [
        'skipped 1 lines of metrics.jsonl without a usable "step"'
    ]


def test_the_largest_step_is_kept():
    assert parse_step_log(lines({"step": 10**15, "loss": 1})).table.steps.tolist() == [10**15]


def test_it_is_claimed_by_name_and_content():
    assert claim("metrics.jsonl", lines(*step_rows(1, 1))) is FORMAT
    assert claim("metrics.jsonl", b'{"step": 3, "lo') is FORMAT  # first line being written
    assert claim("metrics.jsonl", b'{"epoch": 1}\n') is None
    assert claim("steps.jsonl", lines(*step_rows(1, 1))) is None


# --- joined with metrics.json -----------------------------------------------------------------


def test_epoch_records_stand_at_their_step_and_a_shared_key_splits():
    epochs = parse(
        "metrics.json",
        epochs_doc(
            {"epoch": 1, "step": 100, "train_loss": 0.9, "val_loss": 1.1},
            {"epoch": 2, "step": 200, "train_loss": 0.5, "val_loss": 0.7},
            total_epochs=3,
        ),
    )
    steps = parse("metrics.jsonl", lines(*step_rows(1, 250)))
    run = join_epochs(epochs, steps)
    assert run.table.x == STEP
    assert run.format == "metricwatch"
    assert run.problems == []
    assert run.table.steps.tolist() == list(range(1, 251))
    assert sorted(run.table.series) == ["train_loss", "train_loss_step", "val_loss"]
    val = run.table.series["val_loss"]
    assert val.steps.tolist() == [100, 200]
    assert val.epochs.tolist() == [1.0, 2.0]
    assert run.table.series["train_loss"].values.tolist() == [0.9, 0.5]
    per_step = run.table.series["train_loss_step"]
    assert per_step.steps[-1] == 250 and per_step.values[-1] == 4 / 250
    assert run.meta["total_epochs"] == 3


def test_an_epoch_without_step_stands_at_the_last_step_of_that_epoch():
    epochs = parse(
        "metrics.json", epochs_doc({"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.8})
    )
    # 37 steps an epoch: epoch 1 ends at step 37 (37/37 = 1.0), epoch 2 at 74.
    steps = parse("metrics.jsonl", lines(*step_rows(1, 80, per_epoch=37)))
    run = join_epochs(epochs, steps)
    assert run.table.series["val_loss"].steps.tolist() == [37, 74]
    assert run.problems == []


def test_an_epoch_that_cannot_be_placed_is_said():
    epochs = parse(
        "metrics.json", epochs_doc({"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.8})
    )
    steps = parse("metrics.jsonl", lines({"step": 5, "loss": 1.0}))  # no epochs logged
    run = join_epochs(epochs, steps)
    assert "val_loss" not in run.table.series
    assert [(p.kind, p.message) for p in run.problems] == [
        (
            ProblemKind.BAD_EPOCH,
            'epoch 1, 2 of metrics.json has no step (no "step" in the record and no step '
            "of metrics.jsonl in that epoch): not shown on the step axis",
        )
    ]


def test_an_epoch_step_between_logged_steps_joins_the_step_axis():
    epochs = parse("metrics.json", epochs_doc({"epoch": 1, "step": 15, "val_loss": 1.0}))
    steps = parse("metrics.jsonl", lines({"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5}))
    assert join_epochs(epochs, steps).table.steps.tolist() == [10, 15, 20]


def test_an_empty_step_log_leaves_the_epoch_run_as_it_is():
    epochs = parse("metrics.json", epochs_doc({"epoch": 1, "val_loss": 1.0}))
    run = join_epochs(epochs, parse("metrics.jsonl", b""))
    assert run.table.x == EPOCH
    assert run.problems == []
    assert run.table.series["val_loss"].steps.tolist() == [1]


# --- the loader and discovery -----------------------------------------------------------------


def write_run(directory: Path, step_last: int, epochs: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.jsonl").write_bytes(lines(*step_rows(1, step_last)))
    if epochs:
        (directory / "metrics.json").write_bytes(epochs_doc(*epochs))


def test_the_loader_joins_the_two_files_and_follows_the_step_log(tmp_path):
    run_dir = tmp_path / "run"
    write_run(run_dir, 150, [{"epoch": 1, "step": 100, "val_loss": 1.0}])
    loader = RunLoader()
    run = loader.load("run", run_dir / "metrics.json")
    assert (run.x, run.last_step, loader.parses) == (STEP, 150, 2)
    with open(run_dir / "metrics.jsonl", "ab") as handle:
        handle.write(lines(*step_rows(151, 160)))
    run = loader.load("run", run_dir / "metrics.json")
    assert run.last_step == 160
    assert (loader.parses, loader.appended) == (2, 1)  # only the new lines were parsed
    assert run.series("val_loss").steps.tolist() == [100]
    # The epoch file rewritten (atomically, as the logger does) joins the same step log.
    (run_dir / "new").write_bytes(
        epochs_doc(
            {"epoch": 1, "step": 100, "val_loss": 1.0}, {"epoch": 2, "step": 160, "val_loss": 0.5}
        )
    )
    os.replace(run_dir / "new", run_dir / "metrics.json")
    run = loader.load("run", run_dir / "metrics.json")
    assert run.series("val_loss").steps.tolist() == [100, 160]
    assert (loader.parses, loader.appended) == (3, 1)
    # The step log deleted: the epoch run alone.
    (run_dir / "metrics.jsonl").unlink()
    run = loader.load("run", run_dir / "metrics.json")
    assert (run.x, run.series("val_loss").steps.tolist()) == (EPOCH, [1, 2])


def test_a_run_of_steps_only_is_found_and_gains_its_epochs_when_they_come(tmp_path):
    run_dir = tmp_path / "runs" / "steps_only"
    write_run(run_dir, 50, [])
    [found] = discover_runs(tmp_path / "runs")
    assert found.metrics_path == run_dir / "metrics.jsonl"
    loader = RunLoader()
    run = loader.load(found.name, found.metrics_path)
    assert (run.format, run.x, run.last_step, run.problems) == ("metricwatch_steps", STEP, 50, [])
    (run_dir / "metrics.json").write_bytes(epochs_doc({"epoch": 1, "step": 50, "val_loss": 2.0}))
    run = loader.load(found.name, found.metrics_path)
    assert run.series("val_loss").steps.tolist() == [50]
    assert run.series("val_loss").epochs.tolist() == [1.0]


def test_with_both_files_the_run_is_read_from_metrics_json(tmp_path):
    write_run(tmp_path / "runs" / "both", 10, [{"epoch": 1, "step": 10, "val_loss": 2.0}])
    [found] = discover_runs(tmp_path / "runs")
    assert found.metrics_path.name == "metrics.json"


def test_a_step_log_written_line_by_line_reads_as_its_whole_parse():
    data = lines(*step_rows(1, 40)) + lines(*step_rows(30, 45)) + lines(*step_rows(46, 60))
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    log = AppendedLog.start(FORMAT, data[: ends[0]], parse_step_log(data[: ends[0]]))
    whole_reads = 0
    for end in ends[1:]:
        grown = log.update(data[log.offset : end])
        expected = parse_step_log(data[:end])
        if grown is None:
            whole_reads += 1
            log = AppendedLog.start(FORMAT, data[:end], expected)
            continue
        for key, series in expected.table.series.items():
            assert grown.table.series[key].steps.tolist() == series.steps.tolist()
            assert np.array_equal(grown.table.series[key].epochs, series.epochs, equal_nan=True)
        assert grown.table.steps.tolist() == expected.table.steps.tolist()
        assert grown.problems == expected.problems
    # The line going back to step 30 is read whole, and so is the next (its parse still
    # holds the step going back); then the log is followed line by line again.
    assert whole_reads == 2


def test_a_run_without_step_log_is_parsed_once_however_often_it_is_read(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(epochs_doc({"epoch": 1, "val_loss": 1.0}))
    loader = RunLoader()
    for _ in range(3):
        assert loader.load("run", path).series("val_loss").values.tolist() == [1.0]
    assert loader.parses == 1
    loader.forget(path)  # `r`: read again from the first byte
    loader.load("run", path)
    assert loader.parses == 2


# --- watching: the step log is the run's own ------------------------------------------------


@pytest.mark.parametrize("mode", [WatchMode(False), WatchMode(True, 0.02)], ids=["events", "poll"])
def test_a_step_log_growing_beside_metrics_json_updates_the_run(tmp_path, mode):
    run_dir = tmp_path / "runs" / "a"
    write_run(run_dir, 5, [{"epoch": 1, "step": 5, "val_loss": 1.0}])
    watcher = RunWatcher(tmp_path / "runs", mode)
    assert [(u.name, u.metrics_path.name) for u in watcher.initial()] == [("a", "metrics.json")]
    with Collector(watcher, ready=(lambda: True) if mode.polling else None) as events:
        with open(run_dir / "metrics.jsonl", "ab") as handle:
            handle.write(lines(*step_rows(6, 6)))
        update = events.until(UpdateKind.CHANGED, "a")
        assert update.metrics_path == run_dir / "metrics.json"
        (run_dir / "metrics.jsonl").unlink()
        events.until(UpdateKind.CHANGED, "a")
    assert watcher.known == {run_dir / "metrics.json": "a"}


def test_problems_of_an_empty_companion_are_kept_but_its_emptiness_is_not():
    epochs = parse("metrics.json", epochs_doc({"epoch": 1, "val_loss": 1.0}))
    cut_only = parse("metrics.jsonl", b'{"step": 1, "lo')  # no complete line yet
    run = join_epochs(epochs, cut_only)
    assert run.table.x == EPOCH
    assert [p.kind for p in run.problems] == [ProblemKind.TRUNCATED]
    assert run.table.series["val_loss"].values.tolist() == [1.0]
    assert (run.format, run.meta, run.extra) == ("metricwatch", epochs.meta, epochs.extra)
    steps = parse("metrics.jsonl", lines(*step_rows(1, 3)))
    for empty in (b"", b'{"epochs": [{"epoch": "x"}]}'):
        alone = join_steps(steps, parse("metrics.json", empty))
        assert alone.table.x == STEP and alone.table.steps.tolist() == [1, 2, 3]
        assert (alone.format, alone.meta) == ("metricwatch_steps", steps.meta)
        kinds = [p.kind for p in alone.problems]
        assert ProblemKind.EMPTY not in kinds
        assert kinds == [
            p.kind for p in parse("metrics.json", empty).problems if p.kind is not ProblemKind.EMPTY
        ]


def test_epochs_are_placed_by_the_longest_series_that_knows_them_read_by_its_running_max():
    epochs = parse(
        "metrics.json", epochs_doc({"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.5})
    )
    # grad_norm has epochs on two steps only; loss on every step, with one epoch going back.
    rows = [
        {"step": s, "epoch": e, "loss": 1.0}
        for s, e in [(10, 0.5), (20, 1.0), (30, 0.9), (40, 2.0)]
    ]
    rows += [{"step": 50, "loss": 1.0, "grad_norm": 3.0, "epoch": 2.5}]
    rows.insert(0, {"step": 5, "grad_norm": 1.0, "epoch": 3.0})
    run = join_epochs(epochs, parse("metrics.jsonl", lines(*rows)))
    # By loss's epochs (running max 0.5, 1, 1, 2, 2.5): epoch 1 ends at step 30, epoch 2 at 40.
    assert run.table.series["val_loss"].steps.tolist() == [30, 40]

"""Atomic writes: a polling reader never sees a partial file; SIGKILL leaves a whole one."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import records  # noqa: E402

from metricwatch.readers import parse_metrics_json  # noqa: E402
from metricwatch.torch import JSONMetricLogger  # noqa: E402

pytestmark = pytest.mark.torch

HELPERS = Path(__file__).parent / "torch_helpers"
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


class PollingReader:
    """tests/torch_helpers/poll_reader.py in a subprocess, re-reading the file non-stop."""

    def __init__(self, tmp_path, target):
        self.ready = tmp_path / "reader.ready"
        self.stop = tmp_path / "reader.stop"
        self.result = tmp_path / "reader.json"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HELPERS / "poll_reader.py"),
                str(target),
                str(self.ready),
                str(self.stop),
                str(self.result),
            ],
            env=ENV,
        )
        deadline = time.monotonic() + 20
        while not self.ready.exists():
            assert self.process.poll() is None, "reader died"
            assert time.monotonic() < deadline, "reader did not start"
            time.sleep(0.01)

    def finish(self):
        self.stop.write_text("stop")
        self.process.wait(timeout=20)
        assert self.process.returncode == 0
        return json.loads(self.result.read_text())


def test_a_polling_reader_never_sees_invalid_json(tmp_path):
    run_dir = tmp_path / "run"
    reader = PollingReader(tmp_path, run_dir / "metrics.json")
    try:
        with JSONMetricLogger(run_dir, total_epochs=400, task="classification") as logger:
            for epoch in range(1, 401):
                logger.log_epoch(
                    train_loss=torch.tensor(1.0 / epoch),
                    val_loss=float("nan") if epoch % 50 == 0 else 2.0 / epoch,
                    grad_norm=float("inf") if epoch % 77 == 0 else 1.0,
                    **{f"metric_{i}": epoch + i / 10 for i in range(20)},
                )
    finally:
        seen = reader.finish()
    assert seen["failures"] == 0, seen
    # The reader really raced the writer: it saw many different versions of the file.
    assert seen["reads"] >= 100
    assert seen["distinct_epoch_counts"] >= 20
    assert seen["max_epochs"] == 400
    final = parse_metrics_json((run_dir / "metrics.json").read_bytes())
    assert final.problems == []
    assert [record.epoch for record in records(final)] == list(range(1, 401))


def test_the_reader_does_catch_a_non_atomic_writer(tmp_path):
    # Control for the test above: the same reader against a plain open('w') + write
    # (in two halves, as a large write may well happen) must see broken documents.
    target = tmp_path / "metrics.json"
    document = json.dumps({"epochs": [{"epoch": e, "loss": 1.0 / e} for e in range(1, 2000)]})
    target.write_text(document)
    reader = PollingReader(tmp_path, target)
    half = len(document) // 2
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with open(target, "w") as handle:
                handle.write(document[:half])
                handle.flush()
                time.sleep(0.001)
                handle.write(document[half:])
            time.sleep(0.001)
    finally:
        seen = reader.finish()
    assert seen["failures"] > 0, seen


def _lines(piece):
    """A piece of metrics.jsonl: its complete lines as objects, and what follows them."""
    end = piece.rfind(b"\n") + 1
    return [json.loads(line) for line in piece[:end].splitlines()], piece[end:]


def test_sigkill_at_random_moments_leaves_both_files_whole(tmp_path):
    run_dir, snapshots = tmp_path / "run", tmp_path / "snapshots"
    trials = 120
    completed = subprocess.run(
        [
            sys.executable,
            str(HELPERS / "kill_writer.py"),
            str(run_dir),
            str(snapshots),
            str(trials),
            "7",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    reports = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(reports) == trials
    assert all(report["killed"] for report in reports)

    epochs_before = 0
    last_step = 0  # the last complete line's step after the previous kill
    written = b""  # the complete lines of metrics.jsonl, as the pieces give them
    cut_short = 0
    for report in reports:
        trial = report["trial"]
        data = (snapshots / f"{trial:03d}.json").read_bytes()
        json.loads(data)  # plain JSON, as any foreign reader would parse it
        result = parse_metrics_json(data)
        assert result.problems == [], (report, result.problems)
        epochs = records(result)
        numbers = [record.epoch for record in epochs]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) >= epochs_before  # a completed epoch is never lost
        epochs_before = len(numbers)
        assert result.meta["total_epochs"] == 10**6

        assert report["from"] == len(written)  # the file only grew: nothing rewritten
        piece = (snapshots / f"{trial:03d}.jsonl").read_bytes()
        lines, rest = _lines(piece)
        # Every line before the last is complete and the steps follow on exactly once.
        assert [line["step"] for line in lines] == list(
            range(last_step + 1, last_step + 1 + len(lines))
        )
        for line in lines:
            assert line["train_loss"] == 1.0 / line["step"]
            assert line["lr"] == line["step"] * 0.5
            assert set(line) == {
                "step",
                "time",
                "train_loss",
                "lr",
                *(["epoch"] if "epoch" in line else []),
            }
        last_step += len(lines)
        written += piece[: len(piece) - len(rest)]
        cut_short += bool(rest)
        # metrics.json never points at a step the step log does not have.
        steps = [record.values["step"] for record in epochs if "step" in record.values]
        assert steps == sorted(set(steps))
        assert not steps or steps[-1] <= last_step

    assert epochs_before > 300  # the children did log (the file started with 300 epochs)
    assert last_step > 1000
    # Some kills landed between creating metrics.json's temp file and renaming it.
    assert any(report["temp_files"] for report in reports), reports
    # The next logger removes a killed writer's temp files (never more than one is left)
    # and a line cut short, then appends: the file is the complete lines, in order.
    assert all(len(report["temp_files"]) <= 1 for report in reports)
    JSONMetricLogger(run_dir, resume=True).close()
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json", "metrics.jsonl"]
    final = (run_dir / "metrics.jsonl").read_bytes()
    assert final == written or final == written + rest + b"\n"  # a whole last record ended
    print(f"{trials} kills, {cut_short} left a line cut short, {last_step} steps")

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


def test_sigkill_at_random_moments_always_leaves_a_valid_file(tmp_path):
    run_dir, snapshots = tmp_path / "run", tmp_path / "snapshots"
    trials = 20
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
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    reports = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(reports) == trials
    assert all(report["killed"] for report in reports)

    previous = 0
    for report in reports:
        data = (snapshots / f"{report['trial']:03d}.json").read_bytes()
        json.loads(data)  # plain JSON, as any foreign reader would parse it
        result = parse_metrics_json(data)
        assert result.problems == [], (report, result.problems)
        epochs = [record.epoch for record in records(result)]
        assert epochs == list(range(1, len(epochs) + 1))
        assert len(epochs) >= previous  # a completed epoch is never lost
        previous = len(epochs)
        assert result.meta["total_epochs"] == 10**6
    assert previous > 600  # the children did log (the file started with 600 epochs)
    # Some kills landed between creating the temp file and renaming it: mid-write.
    assert reports[-1]["temp_files"], f"no kill hit a write in progress: {reports}"

"""A monitor tailing metrics.jsonl while the logger appends 100,000 steps sees each exactly once."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from metricwatch.sources.loader import RunLoader

pytestmark = pytest.mark.torch

HELPERS = Path(__file__).parent / "torch_helpers"
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
STEPS = 100_000


def test_a_reader_tailing_the_step_log_sees_every_step_exactly_once(tmp_path):
    run_dir = tmp_path / "run"
    writer = subprocess.Popen(
        [sys.executable, str(HELPERS / "step_writer.py"), str(run_dir), str(STEPS), "0.01"],
        env=ENV,
    )
    loader = RunLoader()
    seen = []  # how many steps each read saw
    deadline = time.monotonic() + 300
    try:
        while True:
            done = writer.poll() is not None  # one more read after the writer is gone
            if (run_dir / "metrics.jsonl").exists():
                run = loader.load("run", run_dir / "metrics.json")
                loss = run.series("train_loss")
                expected = np.arange(1, len(loss.steps) + 1)
                assert np.array_equal(loss.steps, expected)  # no step twice, none missing
                assert np.array_equal(loss.values, expected.astype(float))
                assert np.array_equal(run.table.steps, expected)
                assert not seen or len(loss.steps) >= seen[-1]
                seen.append(len(loss.steps))
            if done:
                break
            assert time.monotonic() < deadline, "the writer did not finish"
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    assert writer.returncode == 0
    assert seen[-1] == STEPS
    # It really read the log while it grew, by its new lines.
    assert len(set(seen)) >= 5, seen
    assert loader.appended >= 3

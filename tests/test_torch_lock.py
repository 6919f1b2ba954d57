"""One writer per run: the lock on the run directory, and a killed writer's leftovers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from metricwatch.torch import JSONMetricLogger, RunLockedError  # noqa: E402
from metricwatch.torch import distributed as mw_distributed  # noqa: E402
from metricwatch.torch.run_lock import LOCK_NAME  # noqa: E402

pytestmark = pytest.mark.torch

HELPERS = Path(__file__).parent / "torch_helpers"
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
HOST = socket.gethostname()


class Holder:
    """tests/torch_helpers/hold_logger.py: another process with a logger open on run_dir."""

    def __init__(self, tmp_path, run_dir):
        self.ready = tmp_path / "holder.ready"
        self.stop = tmp_path / "holder.stop"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HELPERS / "hold_logger.py"),
                str(run_dir),
                str(self.ready),
                str(self.stop),
            ],
            env=ENV,
        )
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            assert self.process.poll() is None, "holder died"
            assert time.monotonic() < deadline, "holder did not start"
            time.sleep(0.01)

    def finish(self):
        self.stop.write_text("stop")
        assert self.process.wait(timeout=60) == 0

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)


def test_a_second_logger_in_another_process_fails_naming_it(tmp_path):
    run_dir = tmp_path / "run"
    holder = Holder(tmp_path, run_dir)
    try:
        before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != LOCK_NAME}
        with pytest.raises(RunLockedError) as info:
            JSONMetricLogger(run_dir, total_epochs=99)
        error = info.value
        assert (error.pid, error.host) == (holder.process.pid, HOST)
        message = str(error)
        assert message.startswith(
            f"{run_dir} is already being logged to by another process: "
            f"pid {holder.process.pid} on host {HOST} (running "
        )
        assert "hold_logger.py" in message
        assert message.endswith(
            "Two loggers on one run would interleave their records and lose some: stop the "
            "other process, or log this one to another run directory"
        )
        # The failed logger touched nothing: no backup, no rewrite.
        after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != LOCK_NAME}
        assert after == before
        with pytest.raises(RunLockedError):
            JSONMetricLogger(run_dir, resume=True)
    finally:
        holder.finish()
    # Its owner closed it: the lock file is gone and the run is free.
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json", "metrics.jsonl"]
    with JSONMetricLogger(run_dir, resume=True) as logger:
        assert (logger.last_epoch, logger.last_step) == (1, 1)


def test_a_killed_holder_leaves_the_run_free_and_its_temp_files_go(tmp_path):
    run_dir = tmp_path / "run"
    holder = Holder(tmp_path, run_dir)
    holder.kill()
    assert (run_dir / LOCK_NAME).exists()  # left behind, but nobody holds it
    # A write the kill interrupted: its temp file (brand new, as after a kill just now).
    (run_dir / ".metrics.json.abc123.tmp").write_text('{"meta": {}, "epo')
    (run_dir / "notes.tmp").write_text("not ours")
    with JSONMetricLogger(run_dir, resume=True) as logger:
        holder_info = json.loads((run_dir / LOCK_NAME).read_text())
        assert holder_info["pid"] == os.getpid()
        assert logger.last_epoch == 1
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "metrics.json",
        "metrics.jsonl",
        "notes.tmp",
    ]


def test_two_loggers_in_one_process_the_second_is_told_to_close_the_first(tmp_path):
    first = JSONMetricLogger(tmp_path, total_epochs=3)
    first.log_epoch(val_loss=1.0)
    with pytest.raises(RunLockedError) as info:
        JSONMetricLogger(tmp_path, resume=True)
    message = str(info.value)
    assert message.startswith(
        f"{tmp_path} is already being logged to by another JSONMetricLogger in this process "
        f"(pid {os.getpid()} on host {HOST}) (running "
    )
    assert message.endswith(
        "close the first logger before opening another on the same run (logger.close(), "
        "or `with JSONMetricLogger(...) as logger:`)"
    )
    assert first.log_epoch(val_loss=0.5)["epoch"] == 2  # the first one is unharmed
    first.close()
    assert not (tmp_path / LOCK_NAME).exists()
    with JSONMetricLogger(tmp_path, resume=True) as second:
        assert second.last_epoch == 2
        assert (tmp_path / LOCK_NAME).exists()


def test_a_lock_file_without_a_holder_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 999999, "host": "elsewhere"}))
    with JSONMetricLogger(tmp_path) as logger:
        logger.log_epoch(val_loss=1.0)
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_holder_that_has_not_written_its_details_yet_is_still_refused(tmp_path, monkeypatch):
    from metricwatch.torch import run_lock

    monkeypatch.setattr(run_lock, "HOLDER_WAIT_S", 0.0)
    monkeypatch.setattr(run_lock, "_write_holder", lambda handle: None)
    with (
        JSONMetricLogger(tmp_path),
        pytest.raises(RunLockedError, match=r"another process \(it has not said which yet\)"),
    ):
        JSONMetricLogger(tmp_path)


def test_only_rank_0_takes_the_lock(tmp_path, monkeypatch):
    with JSONMetricLogger(tmp_path) as rank0:
        monkeypatch.setattr(mw_distributed, "get_rank", lambda: 1)
        with JSONMetricLogger(tmp_path, resume=True) as rank1:  # no error: it never writes
            rank1.log_step(loss=1.0)
            rank1.log_epoch(val_loss=1.0)
        monkeypatch.setattr(mw_distributed, "get_rank", lambda: 0)
        rank0.log_step(loss=2.0)
        rank0.log_epoch(val_loss=2.0)
    assert not (tmp_path / LOCK_NAME).exists()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["train_loss"] for line in lines] == [2.0]


def test_a_logger_that_fails_to_start_lets_go_of_the_lock(tmp_path):
    (tmp_path / "metrics.json").mkdir()  # cannot be read to resume
    with pytest.raises(IsADirectoryError):
        JSONMetricLogger(tmp_path, resume=True)
    assert not (tmp_path / LOCK_NAME).exists()

"""A live appended log costs one timed call per write: its new bytes and its side files.

RunLoader reads an appended log's new bytes and its side files (hparams.yaml) in one
job (TimedCalls.call_in_parts). These tests hold it to what two calls gave: a side
file that changes is picked up, one that vanishes takes its config with it, one
rewritten with the same bytes is not parsed again, one whose stamp did not move is
not read, and one that blocks leaves the log read, with the config last read.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from metricwatch import timed_io
from metricwatch.model import ProblemKind
from metricwatch.sources import loader as loader_module
from metricwatch.sources import loader_io
from metricwatch.sources.loader import RunLoader
from metricwatch.timed_io import Blocked, Partial, TimedCalls

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture
def run(tmp_path) -> Path:
    """A Lightning log with its hparams.yaml; returns the log's path."""
    shutil.copy(CORPUS / "lightning_csv/camels_lr_adam_hparams/metrics.csv", tmp_path)
    (tmp_path / "hparams.yaml").write_text("hidden_size: 85\n")
    return tmp_path / "metrics.csv"


def grow(log: Path) -> None:
    """One more row: a validation loss at the step after the last."""
    step = int(log.read_text().splitlines()[-1].split(",")[2]) + 1
    with open(log, "a") as handle:
        handle.write(f"12,,{step},,,0.5,0.5\n")


def restamp(path: Path, text: str, ns: int) -> None:
    """path rewritten with text, and a stamp of its own whatever the clock's resolution."""
    path.write_text(text)
    os.utime(path, ns=(ns, ns))


def test_one_timed_call_per_write(run, monkeypatch):
    loader = RunLoader()
    first = loader.load("camels", run)
    jobs: list[object] = []
    real = timed_io._POOL.submit
    monkeypatch.setattr(timed_io._POOL, "submit", lambda job: jobs.append(job) or real(job))
    for flush in range(3):
        restamp(run.parent / "hparams.yaml", "hidden_size: 85\n", 10 + flush)
        grow(run)
        loaded = loader.load("camels", run)
        assert loaded.record_count == first.record_count + flush + 1
        assert loaded.meta["config"] == {"hidden_size": 85}
    assert len(jobs) == 3 and loader.appended == 3


def test_a_side_file_whose_stamp_did_not_move_is_not_read(run, monkeypatch):
    loader = RunLoader()
    loader.load("camels", run)
    reads: list[list] = []
    real = loader_module._read_sidecars

    def recording(files):
        reads.append(real(files))
        return reads[-1]

    monkeypatch.setattr(loader_module, "_read_sidecars", recording)
    grow(run)
    assert loader.load("camels", run).meta["config"] == {"hidden_size": 85}
    hparams, meta_tags = reads[-1]
    assert hparams[0] is not None and hparams[1] is None  # stat'ed, its bytes not read
    assert meta_tags == (None, None)  # not there
    restamp(run.parent / "hparams.yaml", "hidden_size: 85\n", 20)
    grow(run)
    loader.load("camels", run)
    assert reads[-1][0][1] == b"hidden_size: 85\n"  # a new stamp: read (and compared)


def test_a_changed_side_file_is_picked_up_with_the_new_rows(run):
    loader = RunLoader()
    before = loader.load("camels", run)
    restamp(run.parent / "hparams.yaml", "hidden_size: 128\n", 30)
    grow(run)
    after = loader.load("camels", run)
    assert after.meta["config"] == {"hidden_size": 128}
    assert after.record_count == before.record_count + 1 and loader.appended == 1


def test_a_vanished_side_file_takes_its_config_with_it(run):
    loader = RunLoader()
    assert loader.load("camels", run).meta["config"] == {"hidden_size": 85}
    (run.parent / "hparams.yaml").unlink()
    grow(run)
    assert "config" not in loader.load("camels", run).meta
    (run.parent / "hparams.yaml").write_text("hidden_size: 85\n")
    grow(run)
    assert loader.load("camels", run).meta["config"] == {"hidden_size": 85}


def test_an_unchanged_log_reads_no_side_file(run, monkeypatch):
    loader = RunLoader()
    loaded = loader.load("camels", run)
    monkeypatch.setattr(loader_module, "_read_sidecars", lambda files: pytest.fail("read"))
    restamp(run.parent / "hparams.yaml", "hidden_size: 99\n", 40)
    assert loader.load("camels", run).meta == loaded.meta  # as before: the log decides


def test_a_side_file_that_hangs_leaves_the_log_read(run, monkeypatch):
    """The side files' part of the call hangs (a hung mount behind hparams.yaml): the
    call gives up after the deadline with the log's new bytes, later writes are read
    without waiting for the side files, and once they answer they are read again."""
    loader = RunLoader()
    loader._io = TimedCalls(0.3)
    before = loader.load("camels", run)
    hung, real = threading.Event(), loader_module._read_sidecars
    calls: list[int] = []

    def hanging(files):
        calls.append(len(files))
        hung.wait(10)
        return real(files)

    monkeypatch.setattr(loader_module, "_read_sidecars", hanging)
    restamp(run.parent / "hparams.yaml", "hidden_size: 128\n", 50)
    grow(run)
    started = time.monotonic()
    loaded = loader.load("camels", run)
    assert time.monotonic() - started < 2.0
    assert loaded.record_count == before.record_count + 1
    assert loaded.meta["config"] == {"hidden_size": 85}  # the config last read
    assert loader._io.is_stuck(("sidecars", run)) and not loader._io.is_stuck(run)
    grow(run)
    started = time.monotonic()
    loaded = loader.load("camels", run)
    assert time.monotonic() - started < 0.25  # no wait on the side files held up
    assert loaded.record_count == before.record_count + 2
    assert loaded.meta["config"] == {"hidden_size": 85} and calls == [2]
    hung.set()
    deadline = time.monotonic() + 5
    while loader._io.is_stuck(("sidecars", run)) and time.monotonic() < deadline:
        time.sleep(0.01)
    grow(run)
    loaded = loader.load("camels", run)
    assert loaded.meta["config"] == {"hidden_size": 128} and calls == [2, 2]
    assert loaded.record_count == before.record_count + 3


def test_a_log_that_hangs_is_reported_and_the_other_runs_go_on(run, monkeypatch):
    loader = RunLoader()
    loader._io = TimedCalls(0.2)
    loader.load("camels", run)
    hung = threading.Event()
    monkeypatch.setattr(loader_module, "_fetch_new", lambda *args: hung.wait(10))
    grow(run)
    loaded = loader.load("camels", run)
    assert [p.kind for p in loaded.problems] == [ProblemKind.UNREADABLE]
    assert "taking too long" in loaded.problems[0].message
    assert loader._io.is_stuck(run)
    hung.set()


# --- TimedCalls.call_in_parts --------------------------------------------------------------


def test_call_in_parts_answers_whole_when_in_time():
    calls = TimedCalls(1.0)

    def job(say_first, x):
        say_first(x)
        return x, x + 1

    assert calls.call_in_parts("k", "rest", job, 1) == (1, 2)
    assert calls.stuck_keys() == []


def test_call_in_parts_gives_the_first_part_when_the_rest_hangs():
    calls, hung = TimedCalls(0.1), threading.Event()

    def job(say_first, x):
        say_first(x)
        hung.wait(10)
        return x, "late"

    with pytest.raises(Partial) as raised:
        calls.call_in_parts("k", "rest", job, 7)
    assert raised.value.first == 7 and isinstance(raised.value, Blocked)
    assert calls.is_stuck("rest") and not calls.is_stuck("k")
    hung.set()
    deadline = time.monotonic() + 5
    while calls.is_stuck("rest") and time.monotonic() < deadline:
        time.sleep(0.01)
    quick = lambda say_first, x: (say_first(x), (x, "now"))[1]  # noqa: E731
    assert calls.call_in_parts("k", "rest", quick, 8) == (8, "now")
    assert calls.stuck_keys() == []


def test_call_in_parts_is_blocked_when_the_first_part_hangs():
    calls, hung = TimedCalls(0.1), threading.Event()

    def job(say_first, x):
        hung.wait(10)
        say_first(x)
        return x, "late"

    with pytest.raises(Blocked) as raised:
        calls.call_in_parts("k", "rest", job, 1)
    assert not isinstance(raised.value, Partial)
    assert calls.is_stuck("k") and not calls.is_stuck("rest")
    with pytest.raises(Blocked):  # at once, while it hangs
        calls.call_in_parts("k", "rest", job, 2)
    hung.set()
    deadline = time.monotonic() + 5
    while calls.is_stuck("k") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls.call_in_parts("k", "rest", job, 3) == (1, "late")  # the late answer


def test_an_error_in_a_job_is_raised_in_the_caller():
    calls = TimedCalls(1.0)

    def failing(say_first):
        say_first(1)
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        calls.call_in_parts("k", "rest", failing)
    with pytest.raises(ValueError, match="bad"):
        calls.call("k", lambda: (_ for _ in ()).throw(ValueError("bad")))


def test_a_forgotten_log_forgets_where_its_side_files_are(run):
    loader = RunLoader()
    loader.load("camels", run)
    grow(run)
    loader.load("camels", run)
    assert [key[0] for key in loader._sidecar_paths] == [run]
    loader.forget(run)  # `r`, or the run gone: nothing of it stays behind
    assert loader._sidecar_paths == {}
    assert loader.load("camels", run).meta["config"] == {"hidden_size": 85}


def _step_log(folder: Path, steps: range) -> Path:
    log = folder / "metrics.jsonl"
    with open(log, "a") as handle:
        for step in steps:
            handle.write(f'{{"step": {step}, "loss": {1 / (step + 1)!r}}}\n')
    return log


def _timed_jobs(monkeypatch) -> list[str]:
    """The names of the timed calls made from now on."""
    names: list[str] = []
    real = timed_io._POOL.submit
    monkeypatch.setattr(
        timed_io._POOL, "submit", lambda job: names.append(job.fn.__name__) or real(job)
    )
    return names


@pytest.mark.parametrize("epochs_file", [False, True])
def test_a_live_step_log_asks_once_a_write_for_its_epochs_file(tmp_path, monkeypatch, epochs_file):
    # The step log's companion (metrics.json) is absent, or there and unchanged: one stat
    # answers either; it was asked for twice a write (the head, then the whole file).
    if epochs_file:
        epochs = '{"epochs": [{"epoch": 1, "step": 50, "val_loss": 0.5}]}'
        (tmp_path / "metrics.json").write_text(epochs)
    log = _step_log(tmp_path, range(1, 101))
    loader = RunLoader()
    first = loader.load("steps", log)
    names = _timed_jobs(monkeypatch)
    for write in range(3):
        _step_log(tmp_path, range(101 + write, 102 + write))
        loaded = loader.load("steps", log)
        assert loaded.last_step == 101 + write
        assert loaded.keys == first.keys
        assert not loaded.problems
    assert names == ["_fetch_appended", "_head_of"] * 3


def test_the_head_of_an_unchanged_file_is_not_read_again(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"epochs": []}')
    stat, head, error = loader_io._head_of(path, None)
    assert (head, error) == (b'{"epochs": []}', None)
    assert loader_io._head_of(path, loader_io._stamp_of(stat)) == (stat, b"", None)
    gone, head, error = loader_io._head_of(tmp_path / "absent.json", None)
    assert (gone, head) == (None, b"")
    assert isinstance(error, FileNotFoundError)


def test_an_epochs_file_that_cannot_be_stated_is_said_so_on_the_step_log_run(tmp_path):
    log = _step_log(tmp_path, range(1, 101))
    (tmp_path / "metrics.json").symlink_to(tmp_path / "metrics.json")  # a loop: ELOOP
    loaded = RunLoader().load("steps", log)
    assert loaded.last_step == 100
    assert [str(problem) for problem in loaded.problems] == [
        "cannot read metrics.json: Too many levels of symbolic links"
    ]

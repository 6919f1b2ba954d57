"""JSONMetricLogger.log_step: the step log metrics.jsonl, its flushes, epochs and resumes."""

import errno
import io
import json
import math
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import records  # noqa: E402

from metricwatch.model import STEP  # noqa: E402
from metricwatch.readers import parse_metrics_json  # noqa: E402
from metricwatch.readers.step_log import parse_step_log  # noqa: E402
from metricwatch.sources.loader import RunLoader  # noqa: E402
from metricwatch.torch import JSONMetricLogger  # noqa: E402
from metricwatch.torch import distributed as mw_distributed  # noqa: E402
from metricwatch.torch import step_log as step_log_module  # noqa: E402

pytestmark = pytest.mark.torch


class Clock:
    """Stands in for the time module inside metricwatch.torch.step_log only."""

    def __init__(self, now=1000.0):
        self.now = now

    def monotonic(self):
        return self.now

    def time(self):
        return 1_700_000_000.0 + self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(step_log_module, "time", fake)
    return fake


def lines_of(run_dir):
    """metrics.jsonl as parsed lines; every line must be complete."""
    data = (run_dir / "metrics.jsonl").read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def steps_of(run_dir):
    return [line["step"] for line in lines_of(run_dir)]


# --- the lines ---------------------------------------------------------------------------------


def test_each_step_is_a_line_with_step_time_then_the_metrics(tmp_path, clock):
    with JSONMetricLogger(tmp_path) as logger:
        first = logger.log_step(train_loss=2.5, lr=0.1)
        clock.now += 0.25
        logger.log_step(train_loss=np.float32(1.5), lr=torch.tensor(0.05, dtype=torch.float64))
    assert first == {"step": 1, "time": 1_700_001_000.0, "train_loss": 2.5, "lr": 0.1}
    assert lines_of(tmp_path) == [
        {"step": 1, "time": 1_700_001_000.0, "train_loss": 2.5, "lr": 0.1},
        {"step": 2, "time": 1_700_001_000.25, "train_loss": 1.5, "lr": 0.05},
    ]
    raw = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]
    assert raw == '{"step": 1, "time": 1700001000.0, "train_loss": 2.5, "lr": 0.1}'


def test_keys_are_canonical_and_none_values_are_left_out(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        record = logger.log_step(loss=1.0, learning_rate=0.1, val_acc=None, count=3)
    assert {k: v for k, v in record.items() if k != "time"} == {
        "step": 1,
        "train_loss": 1.0,
        "lr": 0.1,
        "count": 3.0,
    }
    assert [set(line) for line in lines_of(tmp_path)] == [
        {"step", "time", "train_loss", "lr", "count"}
    ]


def test_explicit_steps_and_the_default_is_the_last_plus_one(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        assert logger.last_step is None
        assert logger.log_step(step=0, loss=1.0)["step"] == 0
        assert logger.log_step(loss=1.0)["step"] == 1
        assert logger.log_step(step=np.int64(50), loss=1.0)["step"] == 50
        assert logger.log_step(step=100.0, loss=1.0)["step"] == 100
        assert logger.log_step(loss=1.0)["step"] == 101
        assert logger.last_step == 101
    assert steps_of(tmp_path) == [0, 1, 50, 100, 101]


@pytest.mark.parametrize(
    ("step", "error"),
    [
        (-1, ValueError),
        (10**15 + 1, ValueError),
        (True, TypeError),
        (2.5, TypeError),
        ("3", TypeError),
    ],
)
def test_bad_steps_are_refused_and_nothing_is_logged(tmp_path, step, error):
    with JSONMetricLogger(tmp_path) as logger:
        with pytest.raises(error, match="step"):
            logger.log_step(step=step, loss=1.0)
        assert logger.last_step is None
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (torch.ones(3), ValueError, "shape (3,)"),
        (torch.tensor(1j), TypeError, "complex"),
        ("fast", TypeError, "str"),
    ],
)
def test_a_bad_value_names_the_metric(tmp_path, value, error, message):
    with JSONMetricLogger(tmp_path) as logger, pytest.raises(error, match="'val_loss'") as info:
        logger.log_step(train_loss=0.5, val_loss=value)
    assert message in str(info.value)


def test_time_and_epoch_given_replace_the_loggers_own(tmp_path):
    with JSONMetricLogger(tmp_path, steps_per_epoch=10) as logger:
        record = logger.log_step(time=5.0, epoch=0.5, loss=1.0)
    assert record == {"step": 1, "epoch": 0.5, "time": 5.0, "train_loss": 1.0}
    assert lines_of(tmp_path) == [record]


@pytest.mark.parametrize("epoch", [-0.5, math.nan, math.inf, "half"])
def test_a_given_epoch_must_be_a_finite_number_from_zero(tmp_path, epoch):
    with JSONMetricLogger(tmp_path) as logger, pytest.raises((ValueError, TypeError)):
        logger.log_step(epoch=epoch, loss=1.0)


def test_nan_and_inf_are_kept(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        logger.log_step(a=math.nan, b=torch.tensor(math.inf), c=-math.inf)
    text = (tmp_path / "metrics.jsonl").read_text()
    assert '"a": NaN, "b": Infinity, "c": -Infinity' in text
    result = parse_step_log(text.encode())
    assert result.problems == []
    assert result.table.series["b"].values.tolist() == [math.inf]


# --- tensors ---------------------------------------------------------------------------------


def test_tensor_values_of_every_kind_come_out_exact(tmp_path):
    weight = torch.nn.Parameter(torch.tensor(3.0))
    loss = weight * 2  # requires grad
    with JSONMetricLogger(tmp_path) as logger:
        record = logger.log_step(
            train_loss=loss,
            f64=torch.tensor(0.1, dtype=torch.float64),
            half=torch.tensor(1.5, dtype=torch.float16),
            bf16=torch.tensor(0.5, dtype=torch.bfloat16),
            count=torch.tensor(2**40 + 1),
            flag=torch.tensor(True),
            one=torch.tensor([0.25]),
            plain=1.0,
        )
        assert record["train_loss"] is loss  # as given: not read here
    [line] = lines_of(tmp_path)
    assert list(line) == [
        "step", "time", "train_loss", "f64", "half", "bf16", "count", "flag", "one", "plain",
    ]  # fmt: skip
    assert {k: v for k, v in line.items() if k not in ("step", "time")} == {
        "train_loss": 6.0,
        "f64": 0.1,
        "half": 1.5,
        "bf16": 0.5,
        "count": float(2**40 + 1),
        "flag": 1.0,
        "one": 0.25,
        "plain": 1.0,
    }
    assert loss.grad_fn is not None


def test_a_tensor_changed_in_place_after_logging_keeps_its_logged_value(tmp_path):
    running = torch.zeros(())
    with JSONMetricLogger(tmp_path) as logger:
        for step in range(1, 4):
            running += step
            logger.log_step(running_sum=running)
            running.zero_() if step == 2 else None
    assert [line["running_sum"] for line in lines_of(tmp_path)] == [1.0, 3.0, 3.0]


def test_one_host_transfer_per_flush_with_tensor_values(tmp_path, host_transfers, clock):
    logger = JSONMetricLogger(tmp_path, flush_every_s=1.0)
    for step in range(1, 101):
        logger.log_step(
            train_loss=torch.tensor(1.0 / step),
            val_accuracy=torch.tensor(step / 100, dtype=torch.float64),
            tokens=torch.tensor(step),
            grad_norm=torch.tensor([2.0]),
            lr=0.1,
        )
        if step == 60:
            clock.now += 1.0  # the next call flushes 61 steps
    assert host_transfers == ["tolist"]
    assert len(steps_of(tmp_path)) == 61
    logger.log_epoch(val_loss=1.0)  # flushes the other 39
    assert host_transfers == ["tolist", "tolist"]
    logger.close()
    lines = lines_of(tmp_path)
    assert [line["step"] for line in lines] == list(range(1, 101))
    assert [line["tokens"] for line in lines] == [float(s) for s in range(1, 101)]
    assert [line["val_accuracy"] for line in lines] == [s / 100 for s in range(1, 101)]
    assert [line["grad_norm"] for line in lines] == [2.0] * 100
    expected = [float(torch.tensor(1.0 / s)) for s in range(1, 101)]  # float32, as logged
    assert [line["train_loss"] for line in lines] == expected
    assert host_transfers[:2] == ["tolist", "tolist"]  # (the check above used __float__)


def test_float_values_need_no_host_transfer_at_all(tmp_path, host_transfers):
    with JSONMetricLogger(tmp_path, flush_every_s=0.0) as logger:
        for step in range(10):
            logger.log_step(loss=1.0 / (step + 1), lr=np.float64(0.1))
    assert host_transfers == []
    assert len(steps_of(tmp_path)) == 10


# --- flushes ---------------------------------------------------------------------------------


def test_steps_wait_in_memory_until_flush_every_s_has_passed(tmp_path, clock):
    logger = JSONMetricLogger(tmp_path, flush_every_s=1.0)
    for _ in range(4):
        logger.log_step(loss=1.0)
        clock.now += 0.25
    assert not (tmp_path / "metrics.jsonl").exists()
    logger.log_step(loss=1.0)  # 1.0 s since the logger was created
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5]
    clock.now += 0.875
    logger.log_step(loss=1.0)
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5]
    clock.now += 0.125
    logger.log_step(loss=1.0)
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5, 6, 7]
    logger.log_step(loss=1.0)
    logger.flush()
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 8]
    logger.log_step(loss=1.0)
    logger.close()
    assert steps_of(tmp_path) == list(range(1, 10))


@pytest.mark.parametrize("flush_every_s", [-0.001, math.nan, "soon"])
def test_flush_every_s_must_be_a_number_from_zero(tmp_path, flush_every_s):
    with pytest.raises((ValueError, TypeError)):
        JSONMetricLogger(tmp_path, flush_every_s=flush_every_s)
    assert list(tmp_path.iterdir()) == []


def test_pending_steps_counts_what_the_next_flush_writes(tmp_path, clock):
    with JSONMetricLogger(tmp_path, flush_every_s=1.0) as logger:
        for _ in range(3):
            logger.log_step(loss=1.0)
        assert logger.pending_steps == 3
        logger.flush()
        assert logger.pending_steps == 0
        assert steps_of(tmp_path) == [1, 2, 3]


def test_log_epoch_flushes_the_steps_and_stands_at_the_last_step(tmp_path, clock):
    logger = JSONMetricLogger(tmp_path, flush_every_s=60.0)
    for _ in range(7):
        logger.log_step(loss=1.0)
    record = logger.log_epoch(val_loss=0.5, duration_s=1.0)
    assert record == {"epoch": 1, "step": 7, "val_loss": 0.5, "duration_s": 1.0}
    assert steps_of(tmp_path) == list(range(1, 8))
    raw = json.loads((tmp_path / "metrics.json").read_text())["epochs"]
    assert raw == [{"epoch": 1, "step": 7, "val_loss": 0.5, "duration_s": 1.0}]
    assert logger.log_epoch(val_loss=0.4, step=9, duration_s=1.0)["step"] == 9  # given: kept
    logger.close()


def test_without_steps_epoch_records_have_no_step(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        assert "step" not in logger.log_epoch(val_loss=1.0)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_step_going_back_drops_the_later_ones(tmp_path, clock):
    with JSONMetricLogger(tmp_path, flush_every_s=1.0) as logger:
        for _ in range(5):
            logger.log_step(loss=1.0)
        clock.now += 1.0
        logger.log_step(loss=1.0)  # steps 1-6 flushed
        for _ in range(4):
            logger.log_step(loss=1.0)  # 7-10 queued
        logger.log_step(step=8, loss=0.5)  # back to a checkpoint: 8-10 never reach the file
        logger.log_step(loss=0.5)
        logger.flush()
        assert [(line["step"], line["train_loss"]) for line in lines_of(tmp_path)][5:] == [
            (6, 1.0),
            (7, 1.0),
            (8, 0.5),
            (9, 0.5),
        ]
        with pytest.raises(TypeError):
            logger.log_step(step=2, loss="bad")  # refused: drops nothing, numbers nothing
        assert logger.last_step == 9
        logger.log_step(step=4, loss=0.25)  # before flushed steps: appended, read as a cut
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 4]
    result = parse_step_log((tmp_path / "metrics.jsonl").read_bytes())
    assert result.table.steps.tolist() == [1, 2, 3, 4]
    assert result.table.series["train_loss"].values.tolist() == [1.0, 1.0, 1.0, 0.25]


# --- the fractional epoch --------------------------------------------------------------------


def test_with_steps_per_epoch_the_epoch_is_exact_from_the_first_step(tmp_path):
    with JSONMetricLogger(tmp_path, steps_per_epoch=4) as logger:
        epochs = [logger.log_step(loss=1.0)["epoch"] for _ in range(10)]
    assert epochs == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5]
    assert [line["epoch"] for line in lines_of(tmp_path)] == epochs


def test_without_it_the_pace_of_the_previous_epoch_is_used(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        first = [logger.log_step(loss=1.0).get("epoch") for _ in range(4)]
        logger.log_epoch(val_loss=1.0)  # epoch 1 took 4 steps
        second = [logger.log_step(loss=1.0)["epoch"] for _ in range(6)]  # a longer epoch
        logger.log_epoch(val_loss=1.0)  # epoch 2 took 6 steps
        third = [logger.log_step(loss=1.0)["epoch"] for _ in range(3)]
        # A restart from a checkpoint inside epoch 2: placed between the epochs it knows.
        back = logger.log_step(step=7, loss=1.0)["epoch"]
    assert first == [None] * 4  # unknown during the first epoch
    assert second == [1.25, 1.5, 1.75, 2.0, 2.0, 2.0]  # never past the next whole epoch
    assert third == [2 + 1 / 6, 2 + 2 / 6, 2.5]
    assert back == 1.5
    lines = lines_of(tmp_path)
    assert ["epoch" in line for line in lines[:4]] == [False] * 4


def test_the_reader_places_epochs_and_steps_on_one_axis(tmp_path):
    with JSONMetricLogger(tmp_path, steps_per_epoch=10, total_epochs=3) as logger:
        for epoch in range(3):
            for _ in range(10):
                logger.log_step(train_loss=3.0 - epoch)
            logger.log_epoch(train_loss=3.0 - epoch, val_loss=4.0 - epoch)
    run = RunLoader().load("run", tmp_path / "metrics.json")
    assert run.problems == []
    assert run.x == STEP
    assert run.series("train_loss_step").steps.tolist() == list(range(1, 31))
    assert run.series("val_loss").steps.tolist() == [10, 20, 30]
    assert run.series("val_loss").epochs.tolist() == [1.0, 2.0, 3.0]
    assert run.series("train_loss_step").epochs.tolist()[9::10] == [1.0, 2.0, 3.0]


# --- fresh runs and resumed ones -------------------------------------------------------------


def test_a_fresh_run_keeps_both_files_of_the_earlier_one_under_one_number(tmp_path):
    (tmp_path / "metrics.json.bak").write_text("kept by hand")
    for run in range(3):
        with JSONMetricLogger(tmp_path, config={"run": run}) as logger:
            logger.log_step(loss=float(run))
            logger.log_epoch(val_loss=float(run))
        if run == 1:
            assert logger.backup_paths == [
                tmp_path / "metrics.json.bak.1",
                tmp_path / "metrics.jsonl.bak.1",
            ]
            assert logger.backup_path == tmp_path / "metrics.json.bak.1"
    assert logger.backup_paths == [
        tmp_path / "metrics.json.bak.2",
        tmp_path / "metrics.jsonl.bak.2",
    ]
    assert (tmp_path / "metrics.json.bak").read_text() == "kept by hand"
    for number, run in (("1", 0), ("2", 1)):
        old = parse_metrics_json((tmp_path / f"metrics.json.bak.{number}").read_bytes())
        assert old.meta["config"] == {"run": run}
        steps = (tmp_path / f"metrics.jsonl.bak.{number}").read_text()
        assert [json.loads(line)["train_loss"] for line in steps.splitlines()] == [float(run)]
    assert [line["train_loss"] for line in lines_of(tmp_path)] == [2.0]
    assert steps_of(tmp_path) == [1]


def test_a_step_log_alone_is_kept_too(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    logger = JSONMetricLogger(tmp_path)
    assert logger.backup_paths == [tmp_path / "metrics.jsonl.bak"]
    assert logger.backup_path is None
    logger.close()


def test_resume_continues_the_step_log_and_the_epoch_pace(tmp_path):
    with JSONMetricLogger(tmp_path) as first:
        for _ in range(10):
            first.log_step(loss=1.0)
        first.log_epoch(val_loss=1.0)
        for _ in range(3):
            first.log_step(loss=1.0)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    with JSONMetricLogger(tmp_path, resume=True) as second:
        assert second.last_step == 13
        assert second.backup_paths == []
        record = second.log_step(loss=0.5)
    assert record["step"] == 14
    assert record["epoch"] == 1.4  # the pace of epoch 1, read back from metrics.json
    data = (tmp_path / "metrics.jsonl").read_bytes()
    assert data.startswith(before)
    assert steps_of(tmp_path) == list(range(1, 15))


def test_resuming_a_run_of_steps_only_keeps_its_start_time(tmp_path):
    with JSONMetricLogger(tmp_path) as first:
        first.log_step(loss=1.0)
    started = json.loads((tmp_path / "metrics.json").read_text())["meta"]["started_at"]
    with JSONMetricLogger(tmp_path, resume=True):
        pass
    meta = json.loads((tmp_path / "metrics.json").read_text())["meta"]
    assert meta["started_at"] == started
    assert "resumed_at" in meta


def test_resume_removes_a_line_cut_short_before_appending(tmp_path):
    whole = b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n'
    (tmp_path / "metrics.jsonl").write_bytes(whole + b'{"step": 3, "lo')
    with JSONMetricLogger(tmp_path, resume=True) as logger:
        assert logger.last_step == 2
        logger.log_step(loss=0.25)
    assert (tmp_path / "metrics.jsonl").read_bytes().startswith(whole + b'{"step": 3, "time"')
    assert steps_of(tmp_path) == [1, 2, 3]


def test_resume_ends_a_whole_last_record_that_lacks_its_line_end(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}')
    with JSONMetricLogger(tmp_path, resume=True) as logger:
        assert logger.log_step(loss=0.25)["step"] == 3
    assert steps_of(tmp_path) == [1, 2, 3]


def test_resume_reads_only_the_end_of_a_long_log_and_appends_to_it(tmp_path):
    # A 1,000,000-step log is resumed and appended to: never read whole, never rewritten.
    row = '{"step": %d, "train_loss": 0.5}\n'
    path = tmp_path / "metrics.jsonl"
    path.write_bytes("".join(row % step for step in range(1, 1_000_001)).encode())
    before = path.stat()
    reads = []

    class Counting:
        """The file as read_tail opens it, counting the bytes read."""

        def __init__(self, file, mode):
            self.handle = open(file, mode)  # noqa: SIM115

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def fileno(self):
            return self.handle.fileno()

        def seek(self, offset):
            return self.handle.seek(offset)

        def read(self, size=-1):
            data = self.handle.read(size)
            reads.append(len(data))
            return data

    step_log_module.open = Counting
    try:
        with JSONMetricLogger(tmp_path, resume=True) as logger:
            assert logger.last_step == 1_000_000
            for _ in range(10):
                logger.log_step(train_loss=0.25)
    finally:
        del step_log_module.open
    assert sum(reads) <= 1 << 16
    after = path.stat()
    assert after.st_ino == before.st_ino
    assert after.st_size > before.st_size
    with open(path, "rb") as handle:
        handle.seek(before.st_size - len(row % 1_000_000))
        tail = handle.read().decode().splitlines()
    assert [json.loads(line)["step"] for line in tail] == list(range(1_000_000, 1_000_011))


def test_resume_moves_a_foreign_step_log_aside(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\n{"iteration": 2}\n')
    with pytest.warns(UserWarning, match="no line with a step.*metrics.jsonl.bak"):
        logger = JSONMetricLogger(tmp_path, resume=True)
    assert logger.backup_paths == [tmp_path / "metrics.jsonl.bak"]
    assert logger.log_step(loss=1.0)["step"] == 1
    logger.close()
    assert steps_of(tmp_path) == [1]
    assert (tmp_path / "metrics.jsonl.bak").read_text() == '{"iteration": 1}\n{"iteration": 2}\n'


# --- failures, other ranks, exit -------------------------------------------------------------


class HalfWrites(io.FileIO):
    """A file whose next write takes half of what it is given, and the one after fails."""

    failing = 0

    def write(self, data):
        if HalfWrites.failing == 2:
            HalfWrites.failing = 1
            return super().write(bytes(data[: len(data) // 2 + 3]))
        if HalfWrites.failing == 1:
            HalfWrites.failing = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_full_disk_mid_line_is_caught_up_line_for_line(tmp_path, monkeypatch, clock):
    monkeypatch.setattr(step_log_module, "_append_file", lambda path: HalfWrites(path, "ab"))
    logger = JSONMetricLogger(tmp_path, flush_every_s=1.0)
    logger.log_step(loss=1.0)
    logger.flush()
    HalfWrites.failing = 2  # half of the next write goes in, then the disk is full
    logger.log_step(loss=2.0)
    logger.log_step(loss=3.0)
    with pytest.warns(RuntimeWarning, match="could not write .*metrics.jsonl.*No space"):
        logger.flush()
    assert isinstance(logger.write_error, OSError)
    data = (tmp_path / "metrics.jsonl").read_bytes()
    assert not data.endswith(b"\n")  # a line cut short, as a kill would leave it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger.log_step(loss=4.0)
        logger.close()  # the disk has room again: the rest, in order
    assert logger.write_error is None
    assert [line["train_loss"] for line in lines_of(tmp_path)] == [1.0, 2.0, 3.0, 4.0]


def test_a_removed_run_directory_is_recreated_at_the_next_flush(tmp_path):
    run_dir = tmp_path / "run"
    logger = JSONMetricLogger(run_dir, flush_every_s=0.0)
    logger.log_step(loss=1.0)
    for path in run_dir.iterdir():
        path.unlink()
    run_dir.rmdir()
    logger.log_step(loss=0.5)
    logger.log_epoch(val_loss=1.0)
    logger.close()
    assert steps_of(run_dir) == [2]
    assert [
        r.values["step"]
        for r in records(parse_metrics_json((run_dir / "metrics.json").read_bytes()))
    ] == [2]


def test_on_other_ranks_log_step_only_numbers_the_step(tmp_path, monkeypatch, host_transfers):
    monkeypatch.setattr(mw_distributed, "get_rank", lambda: 1)
    value = torch.tensor(0.5)
    with JSONMetricLogger(tmp_path / "run", steps_per_epoch=2) as logger:
        first = logger.log_step(loss=value, lr=0.1, skipped=None)
        second = logger.log_step(step=7, loss=value)
        record = logger.log_epoch(val_loss=1.0, duration_s=1.0)
    assert first["loss"] is value
    assert {k: v for k, v in first.items() if k not in ("time", "loss")} == {
        "step": 1,
        "epoch": 0.5,
        "lr": 0.1,
    }
    assert second["step"] == 7
    assert record == {"epoch": 1, "step": 7, "val_loss": 1.0, "duration_s": 1.0}
    assert not (tmp_path / "run").exists()
    assert host_transfers == []


def test_a_logger_left_open_writes_its_steps_at_exit(tmp_path):
    script = (
        "import sys\n"
        "from metricwatch.torch import JSONMetricLogger\n"
        "logger = JSONMetricLogger(sys.argv[1], flush_every_s=3600)\n"
        "for step in range(5):\n"
        "    logger.log_step(loss=float(step))\n"
    )
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=True, timeout=120)
    assert steps_of(tmp_path) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "metrics.jsonl"]

"""JSONMetricLogger: format, numbering, resume/replace, values, timing, meta, lifecycle, ranks."""

import argparse
import dataclasses
import enum
import errno
import json
import math
import warnings
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import records  # noqa: E402

from metricwatch import writer as writer_module  # noqa: E402
from metricwatch.readers import parse_metrics_json  # noqa: E402
from metricwatch.torch import JSONMetricLogger  # noqa: E402
from metricwatch.torch import distributed as mw_distributed  # noqa: E402
from metricwatch.torch import logger as logger_module  # noqa: E402

pytestmark = pytest.mark.torch


def read_back(run_dir):
    """The file as metricwatch's own reader sees it; it must have no complaints."""
    result = parse_metrics_json((run_dir / "metrics.json").read_bytes())
    assert result.problems == []
    return result


def epochs_of(run_dir):
    return [record.epoch for record in records(read_back(run_dir))]


class FakeTime:
    """Stands in for the time module inside metricwatch.torch.logger only."""

    def __init__(self, now=100.0):
        self.now = now

    def monotonic(self):
        return self.now


# --- format and numbering --------------------------------------------------------------------


def test_writes_the_seed_format_that_the_reader_reads_back(tmp_path):
    with JSONMetricLogger(tmp_path, total_epochs=2) as logger:
        logger.log_epoch(train_loss=2.31, val_loss=1.89, val_accuracy=0.32, lr=1e-3)
        logger.log_epoch(train_loss=1.45, val_loss=1.12, val_accuracy=0.58, lr=9.9e-4)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert list(raw) == ["meta", "epochs"]
    assert [row["epoch"] for row in raw["epochs"]] == [1, 2]
    assert raw["epochs"][1]["train_loss"] == 1.45
    rows = records(read_back(tmp_path))
    assert rows[0].values["val_accuracy"] == 0.32
    assert set(rows[0].values) == {"train_loss", "val_loss", "val_accuracy", "lr", "duration_s"}


def test_returns_the_record_it_stored_with_canonical_keys(tmp_path):
    logger = JSONMetricLogger(tmp_path)
    record = logger.log_epoch(train_loss=0.5, val_acc=0.75, learning_rate=0.1, duration_s=3.0)
    assert record == {
        "epoch": 1,
        "train_loss": 0.5,
        "val_accuracy": 0.75,
        "lr": 0.1,
        "duration_s": 3.0,
    }
    assert records(read_back(tmp_path))[0].values == {
        k: v for k, v in record.items() if k != "epoch"
    }
    record["train_loss"] = 99.0  # the caller's copy, not the logger's
    assert logger.records[0]["train_loss"] == 0.5


def test_the_file_exists_with_meta_before_the_first_epoch(tmp_path):
    run_dir = tmp_path / "not" / "yet" / "there"
    JSONMetricLogger(run_dir, total_epochs=50, task="classification")
    result = read_back(run_dir)
    assert records(result) == []
    assert result.meta["total_epochs"] == 50


def test_explicit_epochs_and_replacing_an_epoch_drops_the_later_ones(tmp_path):
    logger = JSONMetricLogger(tmp_path)
    for loss in (5.0, 4.0, 3.0, 2.0, 1.0):
        logger.log_epoch(train_loss=loss)
    assert epochs_of(tmp_path) == [1, 2, 3, 4, 5]
    record = logger.log_epoch(epoch=3, train_loss=30.0)  # back to a checkpoint at epoch 2
    assert record["epoch"] == 3
    assert epochs_of(tmp_path) == [1, 2, 3]
    assert records(read_back(tmp_path))[-1].values["train_loss"] == 30.0
    assert logger.log_epoch(train_loss=20.0)["epoch"] == 4
    logger.log_epoch(epoch=10, train_loss=1.0)  # gaps are allowed
    assert epochs_of(tmp_path) == [1, 2, 3, 4, 10]
    assert logger.log_epoch()["epoch"] == 11


@pytest.mark.parametrize(
    ("epoch", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (2.5, TypeError), ("3", TypeError)],
)
def test_rejects_bad_epoch_numbers_without_writing(tmp_path, epoch, error):
    logger = JSONMetricLogger(tmp_path)
    logger.log_epoch(train_loss=1.0)
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(error):
        logger.log_epoch(epoch=epoch, train_loss=2.0)
    assert (tmp_path / "metrics.json").read_bytes() == before


def test_epoch_zero_is_refused_with_the_fix_in_the_message(tmp_path):
    # for epoch in range(epochs): log_epoch(epoch=epoch) would leave a finished run
    # looking one epoch short, since "epochs done" is read from the last epoch number.
    logger = JSONMetricLogger(tmp_path, total_epochs=3)
    with pytest.raises(ValueError, match="numbered from 1") as info:
        logger.log_epoch(epoch=0, train_loss=1.0)
    assert "epoch=epoch + 1" in str(info.value)
    assert "omit epoch" in str(info.value)
    assert logger.last_epoch == 0
    assert epochs_of(tmp_path) == []
    for epoch in range(3):
        logger.log_epoch(epoch=epoch + 1, train_loss=1.0)
    assert epochs_of(tmp_path) == [1, 2, 3]


def test_accepts_integer_like_epochs(tmp_path):
    logger = JSONMetricLogger(tmp_path)
    assert logger.log_epoch(epoch=np.int64(2))["epoch"] == 2
    assert logger.log_epoch(epoch=torch.tensor(3))["epoch"] == 3
    assert logger.log_epoch(epoch=4.0)["epoch"] == 4


# --- values ----------------------------------------------------------------------------------


def test_tensors_and_numpy_scalars_are_stored_as_floats(tmp_path):
    weight = torch.nn.Parameter(torch.tensor(3.0))
    loss = weight * 2  # requires grad, has a graph
    record = JSONMetricLogger(tmp_path).log_epoch(
        train_loss=loss,
        val_loss=torch.tensor(0.25, dtype=torch.float64),
        val_accuracy=torch.tensor([0.5]),  # one element, not 0-d
        half=torch.tensor(1.5, dtype=torch.float16),
        count=torch.tensor(7),
        np32=np.float32(0.125),
        np64=np.float64(0.75),
        npint=np.int64(3),
        plain_int=4,
        flag=True,
    )
    expected = {
        "train_loss": 6.0,
        "val_loss": 0.25,
        "val_accuracy": 0.5,
        "half": 1.5,
        "count": 7.0,
        "np32": 0.125,
        "np64": 0.75,
        "npint": 3.0,
        "plain_int": 4.0,
        "flag": 1.0,
    }
    for key, value in expected.items():
        assert type(record[key]) is float, key
        assert record[key] == value, key
    on_disk = json.loads((tmp_path / "metrics.json").read_text())["epochs"][0]
    assert all(type(on_disk[key]) is float for key in expected)
    assert loss.grad_fn is not None  # the caller's tensor is left alone


def test_none_values_are_left_out(tmp_path):
    record = JSONMetricLogger(tmp_path).log_epoch(train_loss=1.0, val_loss=None)
    assert "val_loss" not in record
    assert "val_loss" not in records(read_back(tmp_path))[0].values


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (torch.ones(3), ValueError, "shape (3,)"),
        ("fast", TypeError, "str"),
        ([1.0], TypeError, "list"),
    ],
)
def test_a_bad_value_names_the_metric_and_writes_nothing(tmp_path, value, error, message):
    logger = JSONMetricLogger(tmp_path)
    logger.log_epoch(train_loss=1.0)
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(error, match="'val_loss'") as info:
        logger.log_epoch(train_loss=0.5, val_loss=value)
    assert message in str(info.value)
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert logger.last_epoch == 1


def test_integers_beyond_float_range_are_stored_as_inf(tmp_path):
    record = JSONMetricLogger(tmp_path).log_epoch(
        steps=10**400, debt=-(10**400), ratio=Fraction(10**400, 3), fine=10**300
    )
    assert record["steps"] == math.inf
    assert record["debt"] == -math.inf
    assert record["ratio"] == math.inf
    assert record["fine"] == 1e300
    values = records(read_back(tmp_path))[0].values
    assert (values["steps"], values["debt"]) == (math.inf, -math.inf)


def test_nan_and_inf_are_written_as_json_tokens_the_reader_accepts(tmp_path):
    JSONMetricLogger(tmp_path).log_epoch(
        train_loss=float("nan"),
        grad_norm=torch.tensor(float("inf")),
        grad_max=np.float32("-inf"),
        val_loss=1.0,
    )
    text = (tmp_path / "metrics.json").read_text()
    assert '"train_loss": NaN' in text
    assert '"grad_norm": Infinity' in text
    assert '"grad_max": -Infinity' in text
    assert json.loads(text)["epochs"][0]["grad_norm"] == math.inf
    values = records(read_back(tmp_path))[0].values
    assert math.isnan(values["train_loss"])
    assert values["grad_norm"] == math.inf
    assert values["grad_max"] == -math.inf


# --- duration --------------------------------------------------------------------------------


def test_duration_is_measured_between_calls_and_can_be_overridden(tmp_path, monkeypatch):
    clock = FakeTime(100.0)
    monkeypatch.setattr(logger_module, "time", clock)
    logger = JSONMetricLogger(tmp_path)
    clock.now = 102.5
    assert logger.log_epoch(train_loss=1.0)["duration_s"] == 2.5  # since creation
    clock.now = 110.0
    assert logger.log_epoch(train_loss=1.0)["duration_s"] == 7.5  # since the last call
    clock.now = 111.0
    assert logger.log_epoch(train_loss=1.0, duration_s=42)["duration_s"] == 42.0
    clock.now = 115.0
    assert logger.log_epoch(train_loss=1.0)["duration_s"] == 4.0  # clock restarted at 111
    assert [r.values["duration_s"] for r in records(read_back(tmp_path))] == [2.5, 7.5, 42.0, 4.0]


def test_duration_none_means_measure(tmp_path, monkeypatch):
    clock = FakeTime(0.0)
    monkeypatch.setattr(logger_module, "time", clock)
    logger = JSONMetricLogger(tmp_path)
    clock.now = 1.25
    assert logger.log_epoch(duration_s=None)["duration_s"] == 1.25


# --- resume ----------------------------------------------------------------------------------


def test_resume_continues_the_existing_file(tmp_path, monkeypatch):
    with JSONMetricLogger(tmp_path, total_epochs=10, task="classification") as first:
        for loss in (3.0, 2.0, 1.0):
            first.log_epoch(train_loss=loss)
    original_start = json.loads((tmp_path / "metrics.json").read_text())["meta"]["started_at"]

    with JSONMetricLogger(tmp_path, total_epochs=20, resume=True) as second:
        assert second.last_epoch == 3
        assert [r["train_loss"] for r in second.records] == [3.0, 2.0, 1.0]
        assert second.log_epoch(train_loss=0.5)["epoch"] == 4
    result = read_back(tmp_path)
    assert [r.epoch for r in records(result)] == [1, 2, 3, 4]
    assert [r.values["train_loss"] for r in records(result)] == [3.0, 2.0, 1.0, 0.5]
    assert result.meta["total_epochs"] == 20  # given now: updated
    assert result.meta["task"] == "classification"  # not given now: kept
    assert result.meta["started_at"] == original_start
    assert "resumed_at" in result.meta


def test_resume_from_a_checkpoint_replaces_epochs_after_it(tmp_path):
    with JSONMetricLogger(tmp_path) as first:
        for loss in (5.0, 4.0, 3.0, 2.0):
            first.log_epoch(train_loss=loss)
    # The run crashed; the last checkpoint was after epoch 2.
    with JSONMetricLogger(tmp_path, resume=True) as second:
        second.log_epoch(epoch=3, train_loss=2.5)
    assert epochs_of(tmp_path) == [1, 2, 3]
    assert records(read_back(tmp_path))[-1].values["train_loss"] == 2.5


def test_resume_without_a_file_starts_at_epoch_one(tmp_path):
    logger = JSONMetricLogger(tmp_path / "fresh", resume=True)
    assert logger.log_epoch(train_loss=1.0)["epoch"] == 1
    assert "resumed_at" not in read_back(tmp_path / "fresh").meta


def test_resume_false_starts_afresh_and_keeps_a_backup(tmp_path):
    with JSONMetricLogger(tmp_path) as first:
        first.log_epoch(train_loss=1.0)
        first.log_epoch(train_loss=0.5)
    old_bytes = (tmp_path / "metrics.json").read_bytes()

    second = JSONMetricLogger(tmp_path)  # resume=False is the default
    assert second.backup_path == tmp_path / "metrics.json.bak"
    assert (tmp_path / "metrics.json.bak").read_bytes() == old_bytes
    assert epochs_of(tmp_path) == []  # the fresh file is there at once, empty
    assert second.log_epoch(train_loss=9.0)["epoch"] == 1
    assert [r.values["train_loss"] for r in records(read_back(tmp_path))] == [9.0]


def test_resume_false_never_overwrites_an_earlier_backup(tmp_path):
    contents = []
    for run in range(4):
        with JSONMetricLogger(tmp_path, resume=False, config={"run": run}) as logger:
            logger.log_epoch(train_loss=float(run))
        contents.append((tmp_path / "metrics.json").read_bytes())
        expected = [None, "metrics.json.bak", "metrics.json.bak.1", "metrics.json.bak.2"][run]
        assert logger.backup_path == (expected and tmp_path / expected)
    # Every earlier run survives, oldest in .bak; the current one is metrics.json.
    assert (tmp_path / "metrics.json.bak").read_bytes() == contents[0]
    assert (tmp_path / "metrics.json.bak.1").read_bytes() == contents[1]
    assert (tmp_path / "metrics.json.bak.2").read_bytes() == contents[2]
    assert read_back(tmp_path).meta["config"] == {"run": 3}


def test_backup_numbering_takes_the_first_free_name(tmp_path):
    (tmp_path / "metrics.json.bak").write_text("oldest")
    (tmp_path / "metrics.json.bak.2").write_text("kept by hand")
    with JSONMetricLogger(tmp_path) as first:
        first.log_epoch(train_loss=1.0)
    logger = JSONMetricLogger(tmp_path, resume=False)
    assert logger.backup_path == tmp_path / "metrics.json.bak.1"
    assert (tmp_path / "metrics.json.bak").read_text() == "oldest"
    assert (tmp_path / "metrics.json.bak.2").read_text() == "kept by hand"
    assert records(parse_metrics_json(logger.backup_path.read_bytes()))[0].epoch == 1


def test_resume_false_without_a_file_makes_no_backup(tmp_path):
    logger = JSONMetricLogger(tmp_path, resume=False)
    logger.log_epoch(train_loss=1.0)
    assert logger.backup_path is None
    assert not (tmp_path / "metrics.json.bak").exists()
    assert epochs_of(tmp_path) == [1]


def test_resuming_a_damaged_file_keeps_a_copy_and_continues_from_what_it_holds(tmp_path):
    with JSONMetricLogger(tmp_path) as first:
        for loss in (3.0, 2.0, 1.0):
            first.log_epoch(train_loss=loss)
    text = (tmp_path / "metrics.json").read_text()
    truncated = text[: text.index('"epoch": 3') + 5]  # as a non-atomic writer's crash leaves it
    (tmp_path / "metrics.json").write_text(truncated)

    with pytest.warns(UserWarning, match="ends mid-document.*2 epochs.*metrics.json.bak"):
        logger = JSONMetricLogger(tmp_path, resume=True)
    assert logger.backup_path == tmp_path / "metrics.json.bak"
    assert (tmp_path / "metrics.json.bak").read_text() == truncated
    assert logger.log_epoch(train_loss=1.5)["epoch"] == 3
    assert [r.values["train_loss"] for r in records(read_back(tmp_path))] == [3.0, 2.0, 1.5]


def test_resuming_a_damaged_file_does_not_overwrite_an_earlier_backup(tmp_path):
    (tmp_path / "metrics.json.bak").write_text("the first run's data")
    (tmp_path / "metrics.json").write_text('{"meta": {}, "epochs": [{"epoch": 1, "train_')
    with pytest.warns(UserWarning, match=r"kept as metrics\.json\.bak\.1$"):
        logger = JSONMetricLogger(tmp_path, resume=True)
    assert logger.backup_path == tmp_path / "metrics.json.bak.1"
    assert (tmp_path / "metrics.json.bak").read_text() == "the first run's data"
    assert logger.backup_path.read_text().endswith('"train_')


def test_resuming_a_foreign_file_does_not_destroy_it(tmp_path):
    foreign = '{"iteration": 20, "loss": 0.5}\n{"iteration": 40, "loss": 0.4}\n'
    (tmp_path / "metrics.json").write_text(foreign)
    with pytest.warns(UserWarning, match="not a metricwatch file"):
        logger = JSONMetricLogger(tmp_path, resume=True)
    assert (tmp_path / "metrics.json.bak").read_text() == foreign
    assert logger.log_epoch(train_loss=1.0)["epoch"] == 1


def test_resuming_a_healthy_file_makes_no_copy(tmp_path, recwarn):
    with JSONMetricLogger(tmp_path) as first:
        first.log_epoch(train_loss=1.0)
    resumed = JSONMetricLogger(tmp_path, resume=True)
    resumed.log_epoch(train_loss=0.5)
    assert resumed.backup_path is None
    assert not (tmp_path / "metrics.json.bak").exists()
    assert [w for w in recwarn if issubclass(w.category, UserWarning)] == []


# --- meta ------------------------------------------------------------------------------------


def test_meta_holds_the_run_description_and_a_utc_start_time(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    JSONMetricLogger(
        tmp_path, total_epochs=30, task="classification", config={"lr": 0.1, "model": "mlp"}
    )
    meta = read_back(tmp_path).meta
    assert set(meta) == {"total_epochs", "task", "config", "started_at"}
    assert meta["total_epochs"] == 30
    assert meta["task"] == "classification"
    assert meta["config"] == {"lr": 0.1, "model": "mlp"}
    started = datetime.fromisoformat(meta["started_at"])
    assert started.utcoffset() == timedelta(0)
    assert before <= started <= datetime.now(timezone.utc)


def test_meta_has_only_what_was_given(tmp_path):
    JSONMetricLogger(tmp_path)
    assert set(read_back(tmp_path).meta) == {"started_at"}


@dataclasses.dataclass
class Config:
    lr: float
    epochs: int


@pytest.mark.parametrize(
    "config",
    [
        argparse.Namespace(lr=0.1, epochs=3),
        Config(lr=0.1, epochs=3),
        {"lr": 0.1, "epochs": 3},
    ],
)
def test_config_may_be_a_namespace_a_dataclass_or_a_mapping(tmp_path, config):
    JSONMetricLogger(tmp_path, config=config)
    assert read_back(tmp_path).meta["config"] == {"lr": 0.1, "epochs": 3}


def test_unserialisable_config_values_are_written_as_text(tmp_path):
    JSONMetricLogger(tmp_path, config={"runs_dir": tmp_path})
    assert read_back(tmp_path).meta["config"] == {"runs_dir": str(tmp_path)}


def test_a_config_with_non_string_keys_is_written_and_later_writes_still_work(tmp_path):
    logger = JSONMetricLogger(tmp_path, config={"sizes": {(1, 2): 3}})
    logger.log_epoch(train_loss=1.0)
    logger.log_epoch(train_loss=0.5)
    result = read_back(tmp_path)
    assert result.meta["config"] == {"sizes": {"(1, 2)": 3}}
    assert [r.epoch for r in records(result)] == [1, 2]


class Optimizer(enum.Enum):
    SGD = "sgd"
    ADAM = "adam"


@dataclasses.dataclass
class Schedule:
    warmup: int
    milestones: tuple = (30, 60)


@dataclasses.dataclass
class NestedConfig:
    schedule: Schedule
    optimizer: Optimizer
    data: Path


def test_nested_configs_of_every_kind_become_json_safe(tmp_path):
    config = {
        "nested": NestedConfig(Schedule(warmup=5), Optimizer.ADAM, Path("/data/cifar")),
        "args": argparse.Namespace(lr=np.float32(0.5), seed=np.int64(7), tags={"b", "a"}),
        "layers": (64, [128, (256,)]),
        "by_epoch": {10: 0.1, 2.5: 0.01, None: 0.0, True: "yes", Optimizer.SGD: "slow"},
        "limits": {"clip": math.inf, "floor": -math.inf, "unset": math.nan},
        "dtype": torch.float16,
        "scale": torch.tensor(2.0),
        "frozen": frozenset({3, 1, 2}),
    }
    logger = JSONMetricLogger(tmp_path, config=config)
    logger.log_epoch(train_loss=1.0)
    written = read_back(tmp_path).meta["config"]
    limits = written.pop("limits")
    assert limits["clip"] == math.inf and limits["floor"] == -math.inf
    assert math.isnan(limits["unset"])
    assert written == {
        "nested": {
            "schedule": {"warmup": 5, "milestones": [30, 60]},
            "optimizer": "adam",
            "data": "/data/cifar",
        },
        "args": {"lr": 0.5, "seed": 7, "tags": ["a", "b"]},
        "layers": [64, [128, [256]]],
        "by_epoch": {"10": 0.1, "2.5": 0.01, "null": 0.0, "true": "yes", "sgd": "slow"},
        "dtype": "torch.float16",
        "scale": 2.0,
        "frozen": [1, 2, 3],
    }
    assert type(written["args"]["seed"]) is int


def test_a_self_referencing_config_does_not_recurse_forever(tmp_path):
    config: dict = {"lr": 0.1}
    config["self"] = config
    JSONMetricLogger(tmp_path, config=config)
    assert read_back(tmp_path).meta["config"] == {"lr": 0.1, "self": "<recursive>"}


# --- failed writes ---------------------------------------------------------------------------


class FailingWrites:
    """Makes metricwatch.writer.atomic_write_text raise the queued errors, then work again."""

    def __init__(self, monkeypatch):
        self.errors: list[OSError] = []
        self.original = writer_module.atomic_write_text
        monkeypatch.setattr(writer_module, "atomic_write_text", self)

    def __call__(self, path, text):
        if self.errors:
            raise self.errors.pop(0)
        self.original(path, text)


def disk_full(path):
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_failed_write_warns_keeps_the_epoch_and_catches_up_later(tmp_path, monkeypatch):
    failing = FailingWrites(monkeypatch)
    logger = JSONMetricLogger(tmp_path, total_epochs=4)
    logger.log_epoch(train_loss=4.0, duration_s=1.0)

    failing.errors = [disk_full(tmp_path / ".metrics.json.abc.tmp")]
    with pytest.warns(RuntimeWarning, match="No space left on device") as caught:
        record = logger.log_epoch(train_loss=3.0, duration_s=1.0)
    message = str(caught[0].message)
    assert str(logger.path) in message and "next log_epoch" in message
    assert caught[0].filename == __file__  # points at the training loop's call
    assert record == {"epoch": 2, "train_loss": 3.0, "duration_s": 1.0}  # as usual
    assert isinstance(logger.write_error, OSError)
    assert logger.write_error.errno == errno.ENOSPC
    assert epochs_of(tmp_path) == [1]  # the old file is intact and valid

    logger.log_epoch(train_loss=2.0, duration_s=1.0)  # the disk has room again
    assert logger.write_error is None
    assert epochs_of(tmp_path) == [1, 2, 3]  # caught up, epoch 2 included
    logger.log_epoch(train_loss=1.0, duration_s=1.0)
    result = read_back(tmp_path)
    assert [r.values["train_loss"] for r in records(result)] == [4.0, 3.0, 2.0, 1.0]
    assert result.meta["total_epochs"] == 4


def test_a_repeated_write_error_warns_once_and_a_new_one_warns_again(tmp_path, monkeypatch):
    failing = FailingWrites(monkeypatch)
    logger = JSONMetricLogger(tmp_path)
    failing.errors = [
        disk_full(tmp_path / ".metrics.json.a.tmp"),  # the temp name differs every time
        disk_full(tmp_path / ".metrics.json.b.tmp"),
        disk_full(tmp_path / ".metrics.json.c.tmp"),
        PermissionError(errno.EACCES, "Permission denied", str(tmp_path)),
        disk_full(tmp_path / ".metrics.json.d.tmp"),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(1, 6):
            assert logger.log_epoch(train_loss=1.0 / epoch)["epoch"] == epoch
            assert logger.write_error is not None
    assert [type(w.message) for w in caught] == [RuntimeWarning, RuntimeWarning]
    assert "No space left" in str(caught[0].message)
    assert "Permission denied" in str(caught[1].message)
    assert epochs_of(tmp_path) == []  # only the start-up write reached the disk

    logger.log_epoch(train_loss=0.1)
    assert logger.write_error is None
    assert epochs_of(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_removed_run_directory_is_recreated_at_the_next_epoch(tmp_path):
    run_dir = tmp_path / "run"
    logger = JSONMetricLogger(run_dir)
    logger.log_epoch(train_loss=1.0)
    for path in run_dir.iterdir():
        path.unlink()
    run_dir.rmdir()
    logger.log_epoch(train_loss=0.5)
    assert logger.write_error is None
    assert epochs_of(run_dir) == [1, 2]


def test_close_retries_a_failed_write_and_warns_if_the_file_stays_behind(tmp_path, monkeypatch):
    failing = FailingWrites(monkeypatch)
    with JSONMetricLogger(tmp_path) as logger:
        failing.errors = [disk_full(tmp_path)]
        with pytest.warns(RuntimeWarning):
            logger.log_epoch(train_loss=1.0)
    assert logger.write_error is None  # close() wrote it
    assert epochs_of(tmp_path) == [1]

    logger = JSONMetricLogger(tmp_path, resume=True)
    failing.errors = [disk_full(tmp_path), disk_full(tmp_path)]
    with pytest.warns(RuntimeWarning, match="No space"):
        logger.log_epoch(train_loss=0.5)
    with pytest.warns(RuntimeWarning, match="still behind.*epochs up to 2"):
        logger.close()
    assert epochs_of(tmp_path) == [1]
    assert [r["epoch"] for r in logger.records] == [1, 2]


def test_errors_that_are_not_os_errors_still_raise(tmp_path, monkeypatch):
    logger = JSONMetricLogger(tmp_path)

    def broken(path, text):
        raise RuntimeError("a bug, not the disk")

    monkeypatch.setattr(writer_module, "atomic_write_text", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        logger.log_epoch(train_loss=1.0)


# --- lifecycle -------------------------------------------------------------------------------


def test_context_manager_closes_and_close_is_idempotent(tmp_path):
    with JSONMetricLogger(tmp_path) as logger:
        logger.log_epoch(train_loss=1.0)
        assert not logger.closed
    assert logger.closed
    logger.close()
    logger.close()
    with pytest.raises(RuntimeError, match="closed"):
        logger.log_epoch(train_loss=0.5)
    assert epochs_of(tmp_path) == [1]


def test_context_manager_closes_on_error_and_keeps_what_was_logged(tmp_path):
    with pytest.raises(KeyError), JSONMetricLogger(tmp_path) as logger:
        logger.log_epoch(train_loss=1.0)
        raise KeyError("boom")
    assert logger.closed
    assert epochs_of(tmp_path) == [1]


def test_accepts_the_metrics_json_path_itself(tmp_path):
    logger = JSONMetricLogger(tmp_path / "metrics.json")
    logger.log_epoch(train_loss=1.0)
    assert logger.path == tmp_path / "metrics.json"
    assert epochs_of(tmp_path) == [1]


# --- ranks -----------------------------------------------------------------------------------


def test_other_ranks_touch_nothing_but_return_the_same_records(tmp_path, monkeypatch):
    rank0_dir = tmp_path / "rank0"
    with JSONMetricLogger(rank0_dir, total_epochs=3) as rank0:
        expected = [
            rank0.log_epoch(train_loss=torch.tensor(0.5), duration_s=1.0),
            rank0.log_epoch(train_loss=0.25, val_acc=np.float32(0.5), duration_s=1.0),
            rank0.log_epoch(epoch=2, train_loss=0.3, duration_s=1.0),
        ]

    monkeypatch.setattr(mw_distributed, "get_rank", lambda: 1)
    rank1_dir = tmp_path / "rank1"
    with JSONMetricLogger(rank1_dir, total_epochs=3) as rank1:
        got = [
            rank1.log_epoch(train_loss=torch.tensor(0.5), duration_s=1.0),
            rank1.log_epoch(train_loss=0.25, val_acc=np.float32(0.5), duration_s=1.0),
            rank1.log_epoch(epoch=2, train_loss=0.3, duration_s=1.0),
        ]
    assert got == expected
    assert not rank1_dir.exists()


def test_other_ranks_read_a_resumed_run_but_never_change_it(tmp_path, monkeypatch):
    with JSONMetricLogger(tmp_path) as rank0:
        for loss in (3.0, 2.0, 1.0):
            rank0.log_epoch(train_loss=loss)
    before = (tmp_path / "metrics.json").read_bytes()
    monkeypatch.setattr(mw_distributed, "get_rank", lambda: 1)

    resumed = JSONMetricLogger(tmp_path, total_epochs=99, resume=True)
    assert resumed.log_epoch(train_loss=0.5)["epoch"] == 4  # numbered as rank 0 numbers it
    fresh = JSONMetricLogger(tmp_path, resume=False)
    assert fresh.log_epoch(train_loss=0.5)["epoch"] == 1
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no .bak, no temp


def test_torchrun_rank_is_honoured_before_the_process_group_exists(tmp_path, monkeypatch):
    assert not mw_distributed.is_distributed()
    monkeypatch.setenv("RANK", "3")
    JSONMetricLogger(tmp_path / "run").log_epoch(train_loss=1.0)
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("RANK", "0")
    JSONMetricLogger(tmp_path / "run").log_epoch(train_loss=1.0)
    assert epochs_of(tmp_path / "run") == [1]


def test_a_rank_decided_after_creation_still_stops_the_writes(tmp_path, monkeypatch):
    # Created while still believed to be rank 0 (process group set up later).
    logger = JSONMetricLogger(tmp_path)
    logger.log_epoch(train_loss=1.0)
    before = (tmp_path / "metrics.json").read_bytes()
    monkeypatch.setattr(mw_distributed, "get_rank", lambda: 1)
    assert logger.log_epoch(train_loss=0.5)["epoch"] == 2
    assert (tmp_path / "metrics.json").read_bytes() == before

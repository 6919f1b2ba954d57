"""examples/train_classifier.py trains for real and writes a file metricwatch reads cleanly."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import records  # noqa: E402

from metricwatch.model import STEP  # noqa: E402
from metricwatch.readers import parse_metrics_json  # noqa: E402
from metricwatch.sources.loader import RunLoader  # noqa: E402

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "train_classifier.py"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
SMALL = ["--train-size", "256", "--val-size", "200", "--hidden", "16", "--batch-size", "32"]
KEYS = {
    "step",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_f1",
    "lr",
    "grad_norm",
    "grad_max",
    "duration_s",
}


def train(tmp_path, *flags):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs-dir", str(tmp_path), "--name", "run", *flags],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result = parse_metrics_json((tmp_path / "run" / "metrics.json").read_bytes())
    assert result.problems == []
    return completed.stdout, result


def test_trains_and_logs_every_metric(tmp_path):
    stdout, result = train(tmp_path, "--epochs", "4", "--log-every", "3", *SMALL)
    assert [line.split()[:2] for line in stdout.splitlines() if line.startswith("epoch")] == [
        ["epoch", f"{e}/4"] for e in range(1, 5)
    ]
    assert [record.epoch for record in records(result)] == [1, 2, 3, 4]
    for record in records(result):
        assert set(record.values) == KEYS
        assert all(math.isfinite(value) for value in record.values.values())
        for key in ("train_accuracy", "val_accuracy", "val_f1"):
            assert 0.0 <= record.values[key] <= 1.0
    first, last = records(result)[0].values, records(result)[-1].values
    assert last["train_loss"] < first["train_loss"]  # it did learn
    lrs = [record.values["lr"] for record in records(result)]
    assert len(set(lrs)) == 4  # the scheduler moved the LR every epoch
    assert result.meta["total_epochs"] == 4
    assert result.meta["task"] == "classification"
    assert result.meta["config"]["epochs"] == 4
    assert result.meta["config"]["log_every"] == 3
    # 256 samples in batches of 32: 8 steps an epoch; the epochs end at steps 8, 16, 24, 32.
    assert [record.values["step"] for record in records(result)] == [8.0, 16.0, 24.0, 32.0]
    lines = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [line["step"] for line in lines] == list(range(3, 33, 3))
    assert [line["epoch"] for line in lines] == [step / 8 for step in range(3, 33, 3)]
    assert all(set(line) == {"step", "epoch", "time", "train_loss"} for line in lines)
    # The monitor's view: the batch loss by step, moving within each epoch.
    run = RunLoader().load("run", tmp_path / "run" / "metrics.json")
    assert run.problems == []
    assert run.x == STEP
    batch_loss = run.series("train_loss_step")
    assert batch_loss.steps.tolist() == list(range(3, 33, 3))
    assert batch_loss.values.tolist() == [line["train_loss"] for line in lines]
    assert len(set(batch_loss.values.tolist())) == len(lines)
    assert run.series("val_loss").steps.tolist() == [8, 16, 24, 32]


def test_ddp_on_two_processes_writes_one_clean_file(tmp_path):
    stdout, result = train(tmp_path, "--epochs", "2", "--ddp", "2", "--log-every", "2", *SMALL)
    assert [record.epoch for record in records(result)] == [1, 2]
    assert all(set(record.values) == KEYS for record in records(result))
    assert len([line for line in stdout.splitlines() if line.startswith("epoch")]) == 2  # rank 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.json", "metrics.jsonl"]
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [2, 4, 6, 8]  # 128 samples a rank in batches of 32: 4 steps an epoch


def test_diverge_logs_exploding_gradients(tmp_path):
    _, result = train(tmp_path, "--epochs", "6", "--diverge", "--train-size", "1000")
    grad_norms = [record.values["grad_norm"] for record in records(result)]
    assert not all(math.isfinite(value) for value in grad_norms)  # NaN/Inf made it to the file
    assert math.isfinite(grad_norms[0])  # ... after a sane start


def test_macro_f1_of_a_known_confusion_matrix():
    spec = importlib.util.spec_from_file_location("train_classifier", SCRIPT)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    confusion = torch.zeros(5, 5, dtype=torch.long)
    confusion[:4, :4] = torch.tensor([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    # class 0: 2*5/(2*5+2+1); class 1: 2*3/(2*3+2+3); class 2: predicted once, never right;
    # class 3: occurs once, never predicted; class 4: absent altogether, so left out.
    expected = (10 / 13 + 6 / 11 + 0.0 + 0.0) / 4
    assert example.macro_f1(confusion) == pytest.approx(expected)
    assert example.macro_f1(torch.eye(3, dtype=torch.long) * 4) == 1.0

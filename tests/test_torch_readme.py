"""The README's training-loop snippet, run as a newcomer runs it: twice, then resumed."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from helpers import records

from metricwatch.readers import parse_metrics_json
from metricwatch.sources.loader import RunLoader

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

#: What the snippet leaves to the reader's own script: 3 epochs of 4 batches.
SETUP = """
import torch
from torch import nn

torch.manual_seed(0)
epochs = 3
data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
train_loader = torch.utils.data.DataLoader(data, batch_size=16)
model = nn.Linear(4, 2)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def evaluate(model):
    with torch.no_grad():
        features, labels = data.tensors
        logits = model(features)
        return loss_fn(logits, labels), (logits.argmax(1) == labels).float().mean()
"""


def snippet():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Logging from a PyTorch training loop") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_script(cwd, code):
    script = cwd / "train.py"
    script.write_text(SETUP + code)
    completed = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr


def epochs_and_steps(run_dir):
    result = parse_metrics_json((run_dir / "metrics.json").read_bytes())
    assert result.problems == []
    epochs = [(r.epoch, r.values["step"]) for r in records(result)]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return epochs, [json.loads(line)["step"] for line in lines]


def test_the_readme_snippet_run_twice_gives_two_runs_and_resumed_continues(tmp_path):
    code = snippet()
    run_dir = tmp_path / "runs" / "exp1"

    run_script(tmp_path, code)
    first = {name: (run_dir / name).read_bytes() for name in ("metrics.json", "metrics.jsonl")}
    assert epochs_and_steps(run_dir) == ([(1, 4.0), (2, 8.0), (3, 12.0)], list(range(1, 13)))

    # Run again as it is: a second run, not a merge; the first is kept whole.
    run_script(tmp_path, code)
    assert epochs_and_steps(run_dir) == ([(1, 4.0), (2, 8.0), (3, 12.0)], list(range(1, 13)))
    assert (run_dir / "metrics.json.bak").read_bytes() == first["metrics.json"]
    assert (run_dir / "metrics.jsonl.bak").read_bytes() == first["metrics.jsonl"]
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "metrics.json",
        "metrics.json.bak",
        "metrics.jsonl",
        "metrics.jsonl.bak",
    ]
    run = RunLoader().load("exp1", run_dir / "metrics.json")
    assert (run.last_step, run.series("val_loss").steps.tolist()) == (12, [4, 8, 12])
    # The pace of epoch 1 (4 steps) gives the fractional epochs from epoch 2 on.
    assert run.series("train_loss_step").epochs.tolist()[7::4] == [2.0, 3.0]

    # With resume=True the third run continues the second.
    resumed = re.sub(r'JSONMetricLogger\(("[^"]+"),', r"JSONMetricLogger(\1, resume=True,", code)
    assert resumed != code
    run_script(tmp_path, resumed)
    epochs, steps = epochs_and_steps(run_dir)
    assert epochs == [(epoch, 4.0 * epoch) for epoch in range(1, 7)]
    assert steps == list(range(1, 25))
    assert (run_dir / "metrics.json.bak").read_bytes() == first["metrics.json"]
    assert not (run_dir / "metrics.json.bak.1").exists()
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines[12:]] == [3 + s / 4 for s in range(1, 13)]

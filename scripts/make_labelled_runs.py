"""Regenerate tests/corpus/labelled/: tiny real PyTorch trainings for the diagnostics' labelled set.

    .venv/bin/python scripts/make_labelled_runs.py      # needs the torch extra

Each run is a real training on the CPU (seeded, a few seconds each) that shows one
curve the diagnostics must judge right and that the real logs in tests/corpus/ do
not cover well: a far-too-high learning rate, a loss that diverges after a good
start, a loss spike from one corrupted batch, a best validation loss long before
the end, per-step logging (noisy, converged near zero, sparse evaluation points),
and a policy-gradient loss that goes negative. Epoch runs are written with
JSONMetricLogger (the native format), step runs as a Lightning CSVLogger
metrics.csv (epoch,step,train_loss,val_loss rows, as Lightning writes them).

What each run must and may raise is in tests/corpus/labelled/LABELS.json (what
the curves show, written by hand) and checked by tests/test_diagnostics_labelled.py.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from metricwatch.torch import JSONMetricLogger

ROOT = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "labelled"


def blobs(
    n: int, n_val: int, *, classes: int = 4, dim: int = 16, spread: float = 1.6, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian blobs, a training and a validation set drawn around the same centres."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * 1.2

    def sample(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (count,), generator=gen)
        return centres[y] + spread * torch.randn(count, dim, generator=gen), y

    return (*sample(n), *sample(n_val))


def mlp(dim: int, width: int, depth: int, out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(dim if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width if depth else dim, out))
    return nn.Sequential(*layers)


def batches(n: int, batch: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, batch):
        yield order[i : i + batch]


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        loss = float(nn.functional.cross_entropy(model(x), y))
    model.train()
    return loss


# --- epoch runs (native metrics.json) ---------------------------------------------------------


def epoch_run(
    run_dir: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    epochs: int,
    batch: int,
    seed: int,
    corrupt: Callable[[int, int, torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """One training logged per epoch: mean train loss over the epoch, val loss at its end."""
    x, y, xv, yv = data
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with JSONMetricLogger(run_dir, total_epochs=epochs, resume=False) as logger:
        for epoch in range(epochs):
            total, count = 0.0, 0
            for i, index in enumerate(batches(len(x), batch, gen)):
                xb = x[index] if corrupt is None else corrupt(epoch, i, x[index])
                loss = nn.functional.cross_entropy(model(xb), y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
                count += len(index)
            logger.log_epoch(
                train_loss=total / count,
                val_loss=evaluate(model, xv, yv),
                lr=optimizer.param_groups[0]["lr"],
            )


def lr_far_too_high(root: Path) -> None:
    """Plain SGD at LR 25 on a linear classifier: one drop, then noise around a high level."""
    data = blobs(1024, 256, seed=11)
    model = mlp(16, 0, 0, 4)
    opt = torch.optim.SGD(model.parameters(), lr=25.0)
    epoch_run(
        root / "lr_far_too_high",
        model=model,
        optimizer=opt,
        data=data,
        epochs=30,
        batch=64,
        seed=11,
    )


def early_best(root: Path) -> None:
    """A wide MLP on little noisy data: val loss is best at epoch 3 of 40, then climbs."""
    data = blobs(160, 400, spread=2.4, seed=13)
    model = mlp(16, 256, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    epoch_run(
        root / "early_best_overfit",
        model=model,
        optimizer=opt,
        data=data,
        epochs=40,
        batch=16,
        seed=13,
    )


def epoch_spike(root: Path) -> None:
    """A healthy run where one batch of epoch 24 is corrupted (inputs x40): one spike, recovery."""
    data = blobs(1024, 256, seed=15)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)

    def corrupt(epoch: int, i: int, xb: torch.Tensor) -> torch.Tensor:
        return xb * 40.0 if epoch == 24 and i < 4 else xb

    epoch_run(
        root / "epoch_spike",
        model=model,
        optimizer=opt,
        data=data,
        epochs=50,
        batch=64,
        seed=15,
        corrupt=corrupt,
    )


# --- step runs (Lightning metrics.csv) --------------------------------------------------------


def step_run(
    run_dir: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    steps: int,
    batch: int,
    seed: int,
    log_every: int = 10,
    val_every: int = 100,
    lr_at: Callable[[int], float] | None = None,
    corrupt: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Train for `steps` optimiser steps, logging one batch's loss every log_every steps."""
    x, y, xv, yv = data
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    per_epoch = math.ceil(len(x) / batch)
    rows: list[dict[str, object]] = []
    step = 0
    epoch = 0
    while step < steps:
        for index in batches(len(x), batch, gen):
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
            xb = x[index] if corrupt is None else corrupt(step, x[index])
            loss = nn.functional.cross_entropy(model(xb), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (step + 1) % log_every == 0:
                rows.append({"epoch": epoch, "step": step, "train_loss": float(loss.detach())})
            if (step + 1) % val_every == 0:
                rows.append({"epoch": epoch, "step": step, "val_loss": evaluate(model, xv, yv)})
            step += 1
            if step >= steps:
                break
        epoch = step // per_epoch
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "step", "train_loss", "val_loss"])
        writer.writeheader()
        writer.writerows(rows)


def step_noisy_small_batch(root: Path) -> None:
    """Batch 8, Adam at a sane LR, one batch's loss logged every 5 steps: noisy, healthy."""
    data = blobs(8192, 512, spread=2.0, seed=21)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_run(
        root / "step_noisy_small_batch",
        model=model,
        optimizer=opt,
        data=data,
        steps=3000,
        batch=8,
        seed=21,
        log_every=5,
        val_every=250,
    )


def step_converged(root: Path) -> None:
    """Separable blobs: the loss falls to ~1e-3 and jitters there, every step logged."""
    data = blobs(1024, 256, spread=0.3, seed=23)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    step_run(
        root / "step_converged_near_zero",
        model=model,
        optimizer=opt,
        data=data,
        steps=2000,
        batch=32,
        seed=23,
        log_every=1,
        val_every=200,
    )


def step_diverging(root: Path) -> None:
    """Constant LR raised tenfold at step 800 (a schedule bug): good start, then up for good."""
    data = blobs(2048, 512, seed=25)
    model = mlp(16, 64, 3, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_run(
        root / "step_diverging",
        model=model,
        optimizer=opt,
        data=data,
        steps=2500,
        batch=32,
        seed=25,
        log_every=10,
        val_every=250,
        lr_at=lambda s: 1e-3 if s < 800 else 0.2,
    )


def step_spike(root: Path) -> None:
    """A healthy step run with three corrupted batches at steps 1500-1502: one spike."""
    data = blobs(2048, 512, seed=27)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)

    def corrupt(step: int, xb: torch.Tensor) -> torch.Tensor:
        return xb * 30.0 if 1500 <= step <= 1502 else xb

    step_run(
        root / "step_spike",
        model=model,
        optimizer=opt,
        data=data,
        steps=3000,
        batch=32,
        seed=27,
        log_every=1,
        val_every=300,
        corrupt=corrupt,
    )


def step_lr_too_high(root: Path) -> None:
    """SGD at LR 40 on a linear classifier, logged every 10 steps: noise around a high level."""
    data = blobs(2048, 512, seed=29)
    model = mlp(16, 0, 0, 4)
    opt = torch.optim.SGD(model.parameters(), lr=40.0)
    step_run(
        root / "step_lr_far_too_high",
        model=model,
        optimizer=opt,
        data=data,
        steps=2000,
        batch=32,
        seed=29,
        log_every=10,
        val_every=200,
    )


def step_sparse_val_early_best(root: Path) -> None:
    """Little data, a wide MLP, val every 200 steps: val loss best at step 399, then rising."""
    data = blobs(192, 512, spread=2.4, seed=31)
    model = mlp(16, 256, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_run(
        root / "step_sparse_val_early_best",
        model=model,
        optimizer=opt,
        data=data,
        steps=4000,
        batch=16,
        seed=31,
        log_every=20,
        val_every=200,
    )


def policy_gradient(root: Path) -> None:
    """REINFORCE on a 4-armed bandit: its loss (-log p x advantage) hovers around 0, negative."""
    torch.manual_seed(33)
    logits = torch.zeros(4, requires_grad=True)
    means = torch.tensor([0.1, 0.5, 0.2, 0.9])
    opt = torch.optim.Adam([logits], lr=0.05)
    rows: list[dict[str, object]] = []
    baseline = 0.0
    for step in range(1500):
        probs = torch.softmax(logits, 0)
        actions = torch.multinomial(probs, 16, replacement=True)
        rewards = means[actions] + 0.5 * torch.randn(16)
        advantage = rewards - baseline
        baseline = 0.9 * baseline + 0.1 * float(rewards.mean())
        loss = -(torch.log(probs[actions]) * advantage).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 10 == 0:
            rows.append(
                {
                    "epoch": 0,
                    "step": step,
                    "train_loss": float(loss.detach()),
                    "train_reward": float(rewards.mean()),
                }
            )
    run_dir = root / "policy_gradient_negative_loss"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "step", "train_loss", "train_reward"])
        writer.writeheader()
        writer.writerows(rows)


def epoch_diverging(root: Path) -> None:
    """Adam at LR 0.05 on a deep MLP, constant: a good start, then the loss climbs and stays up."""
    data = blobs(1024, 256, seed=35)
    model = mlp(16, 128, 4, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    epoch_run(
        root / "epoch_diverging",
        model=model,
        optimizer=opt,
        data=data,
        epochs=40,
        batch=32,
        seed=35,
    )


def long_run_one_bad_epoch(root: Path) -> None:
    """1,500 epochs of a tiny model on a small set, one epoch's inputs corrupted (epoch 900)."""
    data = blobs(128, 64, spread=1.0, seed=37)
    model = mlp(16, 16, 1, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def corrupt(epoch: int, i: int, xb: torch.Tensor) -> torch.Tensor:
        return -5.0 * xb if epoch == 899 else xb  # mirrored inputs: confidently wrong

    epoch_run(
        root / "long_run_one_bad_epoch",
        model=model,
        optimizer=opt,
        data=data,
        epochs=1500,
        batch=64,
        seed=37,
        corrupt=corrupt,
    )


def step_partial_spike(root: Path) -> None:
    """A noisy step run (batch 16, loss every 10 steps) whose inputs are scaled 8x for 30 steps.

    The loss jumps to a few times its level over three logged points, then comes back
    only part of the way at first: a spike spread over several points, not one batch.
    """
    data = blobs(4096, 512, spread=2.0, seed=39)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def corrupt(step: int, xb: torch.Tensor) -> torch.Tensor:
        return xb * 8.0 if 1800 <= step < 1830 else xb

    step_run(
        root / "step_partial_spike",
        model=model,
        optimizer=opt,
        data=data,
        steps=3000,
        batch=16,
        seed=39,
        log_every=10,
        val_every=250,
        corrupt=corrupt,
    )


MAKERS = (
    lr_far_too_high,
    early_best,
    epoch_spike,
    step_noisy_small_batch,
    step_converged,
    step_diverging,
    step_spike,
    step_lr_too_high,
    step_sparse_val_early_best,
    policy_gradient,
    epoch_diverging,
    long_run_one_bad_epoch,
    step_partial_spike,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="make one run (a function name above)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    for make in MAKERS:
        if args.only and make.__name__ != args.only:
            continue
        make(ROOT)
        print("made", make.__name__)


if __name__ == "__main__":
    main()

"""Regenerate sample_runs/: real tiny PyTorch trainings plus simulated task runs.

    python scripts/make_sample_runs.py            # needs the torch extra

sample_runs/diagnostics/<pattern>/  one real training per diagnostic pattern
sample_runs/healthy/<name>/         real healthy trainings (clean, noisy, plateau)
sample_runs/tasks/<task>/           one run per task in the seed's table; the
                                    classification and regression ones are real
                                    trainings, the others simulated curves

Everything is seeded and runs on the CPU in well under a minute. The
diagnostic thresholds in metricwatch/analysis/thresholds.py are tuned on these runs,
and tests/test_sample_runs.py checks each pattern fires where it should and
nowhere else.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from metricwatch.metrics import Task
from metricwatch.simulate import write_simulated_run
from metricwatch.torch import AverageMeter, JSONMetricLogger, current_lr, gradient_stats

ROOT = Path(__file__).resolve().parent.parent / "sample_runs"


@dataclass
class Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def blobs(
    n_train: int,
    n_val: int,
    *,
    classes: int = 4,
    dim: int = 16,
    spread: float = 1.6,
    label_noise: float = 0.0,
    seed: int = 0,
) -> Data:
    """Gaussian blobs: a classification problem a small MLP can learn in seconds."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * 1.2

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (n,), generator=gen)
        x = centres[y] + spread * torch.randn(n, dim, generator=gen)
        if label_noise:
            flip = torch.rand(n, generator=gen) < label_noise
            y = torch.where(flip, torch.randint(0, classes, (n,), generator=gen), y)
        return x, y

    return Data(*sample(n_train), *sample(n_val))


def regression_data(n_train: int, n_val: int, *, dim: int = 8, seed: int = 0) -> Data:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, 1, generator=gen)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, dim, generator=gen)
        y = torch.sin(x @ w) + 0.1 * (x[:, :1] ** 2) + 0.1 * torch.randn(n, 1, generator=gen)
        return x, y

    return Data(*sample(n_train), *sample(n_val))


def mlp(
    dim: int, width: int, depth: int, out: int, act: type[nn.Module] = nn.ReLU
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(dim if i == 0 else width, width), act()]
    layers.append(nn.Linear(width if depth else dim, out))
    return nn.Sequential(*layers)


def macro_prf(pred: torch.Tensor, target: torch.Tensor, classes: int) -> tuple[float, float, float]:
    precisions, recalls, f1s = [], [], []
    for c in range(classes):
        tp = ((pred == c) & (target == c)).sum().item()
        fp = ((pred == c) & (target != c)).sum().item()
        fn = ((pred != c) & (target == c)).sum().item()
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precisions.append(p)
        recalls.append(r)
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return (sum(precisions) / classes, sum(recalls) / classes, sum(f1s) / classes)


@dataclass
class EpochStats:
    loss: float
    grad_norm: float
    grad_max: float
    outputs: torch.Tensor  # the model's outputs on the training set, in batch order
    targets: torch.Tensor


def train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: Data, batch: int, loss_fn: nn.Module
) -> EpochStats:
    """One pass over the training set, with the helpers a real script would use."""
    model.train()
    loss_meter, grad_meter = AverageMeter(), AverageMeter()
    grad_max = 0.0
    outputs, targets = [], []
    order = torch.randperm(len(data.x_train))
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        x, y = data.x_train[idx], data.y_train[idx]
        output = model(x)
        loss = loss_fn(output, y)
        optimizer.zero_grad()
        loss.backward()
        stats = gradient_stats(model)
        grad_meter.update(stats["grad_norm"])
        # A non-finite gradient must survive the max (max() drops NaN).
        grad_max = (
            stats["grad_max"]
            if not math.isfinite(stats["grad_max"])
            else (max(grad_max, stats["grad_max"]) if math.isfinite(grad_max) else grad_max)
        )
        optimizer.step()
        loss_meter.update(loss.detach(), len(idx))
        outputs.append(output.detach())
        targets.append(y)
    return EpochStats(
        loss_meter.avg, grad_meter.avg, grad_max, torch.cat(outputs), torch.cat(targets)
    )


Evaluate = Callable[[nn.Module, Data, EpochStats], dict[str, float]]


def train(
    run_dir: Path,
    data: Data,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    task: Task,
    loss_fn: nn.Module,
    evaluate: Evaluate,
    epochs: int,
    batch: int,
    scheduler: LRScheduler | None = None,
    seed: int = 0,
) -> None:
    """The loop a real script would have, logging through JSONMetricLogger."""
    torch.manual_seed(seed)
    with JSONMetricLogger(run_dir, total_epochs=epochs, task=task.value, resume=False) as logger:
        for _ in range(epochs):
            stats = train_epoch(model, optimizer, data, batch, loss_fn)
            lr = current_lr(optimizer)
            if scheduler is not None:
                scheduler.step()
            model.eval()
            with torch.no_grad():
                metrics = evaluate(model, data, stats)
            logger.log_epoch(
                train_loss=stats.loss,
                **metrics,
                lr=lr,
                grad_norm=stats.grad_norm,
                grad_max=stats.grad_max,
            )


def classification_metrics(classes: int) -> Evaluate:
    def evaluate(model: nn.Module, data: Data, stats: EpochStats) -> dict[str, float]:
        logits = model(data.x_val)
        pred = logits.argmax(1)
        precision, recall, f1 = macro_prf(pred, data.y_val, classes)
        return {
            "val_loss": nn.functional.cross_entropy(logits, data.y_val).item(),
            "train_accuracy": (stats.outputs.argmax(1) == stats.targets).float().mean().item(),
            "val_accuracy": (pred == data.y_val).float().mean().item(),
            "val_f1": f1,
            "val_precision": precision,
            "val_recall": recall,
        }

    return evaluate


def regression_metrics(model: nn.Module, data: Data, stats: EpochStats) -> dict[str, float]:
    err = model(data.x_val) - data.y_val
    mse = (err**2).mean().item()
    var = ((data.y_val - data.y_val.mean()) ** 2).mean().item()
    return {
        "val_loss": mse,
        "val_mae": err.abs().mean().item(),
        "val_mse": mse,
        "val_rmse": math.sqrt(mse),
        "val_r2": 1 - mse / var,
    }


def train_classifier(
    run_dir: Path,
    data: Data,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    classes: int = 4,
    **kwargs: Any,
) -> None:
    train(
        run_dir,
        data,
        model,
        optimizer,
        task=Task.CLASSIFICATION,
        loss_fn=nn.CrossEntropyLoss(),
        evaluate=classification_metrics(classes),
        **kwargs,
    )


def train_regressor(
    run_dir: Path, data: Data, model: nn.Module, optimizer: torch.optim.Optimizer, **kwargs: Any
) -> None:
    train(
        run_dir,
        data,
        model,
        optimizer,
        task=Task.REGRESSION,
        loss_fn=nn.MSELoss(),
        evaluate=regression_metrics,
        **kwargs,
    )


# --- the runs --------------------------------------------------------------------------------


def healthy_clean(root: Path) -> None:
    torch.manual_seed(1)
    data = blobs(4000, 1000, seed=1)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30, eta_min=5e-6)
    train_classifier(
        root / "healthy" / "clean", data, model, opt, epochs=30, batch=64, scheduler=sched, seed=1
    )


def healthy_noisy(root: Path) -> None:
    torch.manual_seed(2)
    data = blobs(4000, 1000, spread=2.2, label_noise=0.1, seed=2)
    model = mlp(16, 16, 1, 4)
    opt = torch.optim.SGD(model.parameters(), lr=5e-3, momentum=0.9)
    train_classifier(
        root / "healthy" / "noisy_small_batch", data, model, opt, epochs=25, batch=8, seed=2
    )


def healthy_plateau(root: Path) -> None:
    torch.manual_seed(3)
    data = blobs(1500, 500, spread=2.8, seed=3)
    model = mlp(16, 32, 1, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=12, gamma=0.1)
    train_classifier(
        root / "healthy" / "plateau", data, model, opt, epochs=40, batch=64, scheduler=sched, seed=3
    )


def overfitting(root: Path) -> None:
    torch.manual_seed(4)
    data = blobs(80, 600, spread=2.4, label_noise=0.2, seed=4)
    model = mlp(16, 512, 3, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_classifier(
        root / "diagnostics" / "overfitting", data, model, opt, epochs=40, batch=16, seed=4
    )


def not_decreasing(root: Path) -> None:
    torch.manual_seed(5)
    data = blobs(1000, 300, seed=5)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)
    train_classifier(
        root / "diagnostics" / "loss_not_decreasing", data, model, opt, epochs=20, batch=64, seed=5
    )


def oscillating(root: Path) -> None:
    torch.manual_seed(6)
    data = blobs(1000, 300, seed=6)
    model = mlp(16, 64, 2, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)  # ~30x a sane Adam LR
    train_classifier(
        root / "diagnostics" / "loss_oscillating", data, model, opt, epochs=25, batch=32, seed=6
    )


def exploding(root: Path) -> None:
    torch.manual_seed(7)
    data = regression_data(512, 256, seed=7)
    model = nn.Sequential(nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    # An LR warm-up that never stops: past 2/λmax every step amplifies the error.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.12**e)
    train_regressor(
        root / "diagnostics" / "exploding_gradients",
        data,
        model,
        opt,
        epochs=14,
        batch=64,
        scheduler=sched,
        seed=7,
    )


def vanishing(root: Path) -> None:
    torch.manual_seed(8)
    data = blobs(1000, 300, seed=8)
    layers: list[nn.Module] = []
    for i in range(6):
        layers += [nn.Linear(16 if i == 0 else 64, 64, bias=False), nn.Tanh()]
    layers.append(nn.Linear(64, 4, bias=False))
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(0.05)  # a far too small init: the signal dies on the way through
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train_classifier(
        root / "diagnostics" / "vanishing_gradients", data, model, opt, epochs=20, batch=64, seed=8
    )


def non_finite(root: Path) -> None:
    torch.manual_seed(9)
    data = blobs(1000, 300, seed=9)
    model = mlp(16, 64, 3, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 3.0**e)
    train_classifier(
        root / "diagnostics" / "non_finite",
        data,
        model,
        opt,
        epochs=15,
        batch=64,
        scheduler=sched,
        seed=9,
    )


def task_runs(root: Path) -> None:
    torch.manual_seed(10)
    data = blobs(2000, 500, classes=5, spread=2.0, seed=10)
    model = mlp(16, 64, 2, 5)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=25)
    train_classifier(
        root / "tasks" / "classification",
        data,
        model,
        opt,
        epochs=25,
        batch=64,
        scheduler=sched,
        classes=5,
        seed=10,
    )
    torch.manual_seed(11)
    reg = regression_data(2000, 500, seed=11)
    model = mlp(8, 64, 2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    train_regressor(
        root / "tasks" / "regression",
        reg,
        model,
        opt,
        epochs=30,
        batch=64,
        scheduler=sched,
        seed=11,
    )
    simulated = {
        Task.ANOMALY_DETECTION: 30,
        Task.OBJECT_DETECTION: 50,
        Task.ORIENTED_OD: 36,
        Task.SEGMENTATION: 40,
        Task.INSTANCE_SEGMENTATION: 48,
    }
    for seed, (task, epochs) in enumerate(simulated.items(), start=20):
        write_simulated_run(root / "tasks" / task.value, task, epochs, seed=seed)
    # One unfinished run, so the monitor shows `epoch N / T` and an ETA.
    write_simulated_run(
        root / "tasks" / "object_detection_resumed",
        Task.OBJECT_DETECTION,
        22,
        seed=30,
        total_epochs=60,
        with_gradients=True,
    )


RUNS = (
    healthy_clean,
    healthy_noisy,
    healthy_plateau,
    overfitting,
    not_decreasing,
    oscillating,
    exploding,
    vanishing,
    non_finite,
    task_runs,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help=f"default {ROOT}")
    parser.add_argument("--only", nargs="*", help="names of the run functions to rerun")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.only and args.out.exists():
        shutil.rmtree(args.out)
    for make in RUNS:
        if args.only and make.__name__ not in args.only:
            continue
        make(args.out)
        print(f"wrote {make.__name__}")


if __name__ == "__main__":
    main()

"""Simulated training curves, for the demo and for the per-task sample runs.

The shapes follow what real runs look like (an exponential-ish loss decay
with per-epoch noise, a warm-up plus cosine LR schedule, metrics that
saturate, val loss a little above train loss), so a newcomer can watch the
monitor react without any training code. The diagnostic sample runs do not
come from here: they come from real trainings (scripts/make_sample_runs.py).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from metricwatch.metrics import REGISTRY, Kind, Task
from metricwatch.writer import MetricsDocument

#: Typical final values per task metric (what a decent model reaches).
_TARGETS: dict[str, float] = {
    "val_accuracy": 0.94,
    "val_f1": 0.93,
    "val_precision": 0.94,
    "val_recall": 0.92,
    "val_auroc": 0.97,
    "val_mAP": 0.52,
    "val_mAP_50": 0.74,
    "val_mAP_75": 0.55,
    "val_mIoU": 0.71,
    "val_pixel_acc": 0.93,
    "val_dice": 0.80,
    "val_mAP_mask": 0.38,
    "val_mAP_box": 0.42,
    "val_mae": 0.31,
    "val_mse": 0.17,
    "val_rmse": 0.41,
    "val_r2": 0.88,
}

#: Typical starting losses per task (cross-entropy over ~10 classes starts near 2.3).
_START_LOSS: dict[Task, float] = {
    Task.CLASSIFICATION: 2.3,
    Task.ANOMALY_DETECTION: 0.69,
    Task.OBJECT_DETECTION: 4.1,
    Task.ORIENTED_OD: 4.6,
    Task.SEGMENTATION: 1.6,
    Task.INSTANCE_SEGMENTATION: 3.2,
    Task.REGRESSION: 1.9,
}


def task_keys(task: Task) -> list[str]:
    return [key for key, spec in REGISTRY.items() if task in spec.tasks]


def simulate_epochs(
    task: Task = Task.CLASSIFICATION,
    epochs: int = 50,
    *,
    seed: int = 0,
    base_lr: float = 1e-3,
    epoch_seconds: float = 45.0,
    with_gradients: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield one plausible epoch record after another for a healthy run of `task`."""
    rng = random.Random(seed)
    start = _START_LOSS[task]
    floor = start * 0.04
    rate = 4.0 / max(epochs, 1)
    warmup = max(1, epochs // 20)
    for epoch in range(1, epochs + 1):
        progress = 1 - math.exp(-rate * epoch)
        train = floor + (start - floor) * math.exp(-rate * epoch) * (1 + rng.gauss(0, 0.02))
        val = train * (1.12 + 0.1 * progress) * (1 + rng.gauss(0, 0.02))
        if epoch <= warmup:
            lr = base_lr * epoch / warmup
        else:
            lr = 0.5 * base_lr * (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup + 1)))
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": round(train, 5),
            "val_loss": round(val, 5),
        }
        for key in task_keys(task):
            target = _TARGETS[key]
            spec = REGISTRY[key]
            noise = rng.gauss(0, 0.006)
            if spec.kind is Kind.ERROR:
                value = target * (1 + 3 * (1 - progress)) * (1 + noise)
            elif spec.kind is Kind.SCORE:
                value = target * progress + noise
            else:
                value = min(0.999, target * progress * (1 + noise))
            record[key] = round(value, 5)
        record["lr"] = float(f"{lr:.6g}")
        record["duration_s"] = round(epoch_seconds * (1 + rng.gauss(0, 0.01)), 2)
        if with_gradients:
            record["grad_norm"] = round(2.0 * (1 - 0.5 * progress) * (1 + rng.gauss(0, 0.05)), 4)
            record["grad_max"] = round(record["grad_norm"] * 0.4, 4)
        yield record


def write_simulated_run(
    run_dir: Path,
    task: Task,
    epochs: int,
    *,
    seed: int = 0,
    total_epochs: int | None = None,
    with_gradients: bool = False,
) -> Path:
    """Write a finished (or, with total_epochs > epochs, an unfinished) simulated run."""
    document = MetricsDocument(
        run_dir, {"task": task.value, "total_epochs": total_epochs or epochs}
    )
    for record in simulate_epochs(task, epochs, seed=seed, with_gradients=with_gradients):
        document.put(record)
    document.write()
    return document.path


def run_demo_writer(
    run_dir: Path, *, epochs: int = 60, interval: float = 0.5, seed: int = 1, stop: Any = None
) -> None:
    """Write a simulated run live: one epoch every `interval` seconds, atomically.

    `stop` is anything with is_set() (a threading.Event); the writer checks it
    between epochs so the demo ends cleanly when the monitor quits.
    """
    document = MetricsDocument(
        run_dir, {"task": Task.CLASSIFICATION.value, "total_epochs": epochs, "demo": True}
    )
    for record in simulate_epochs(
        Task.CLASSIFICATION, epochs, seed=seed, epoch_seconds=interval, with_gradients=True
    ):
        if stop is not None and stop.is_set():
            return
        document.put(record)
        document.write()
        if stop is not None:
            if stop.wait(interval):
                return
        else:
            time.sleep(interval)

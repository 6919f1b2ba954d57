"""Simulated training curves, for the demo and for the per-task sample runs.

The shapes follow what real runs look like (an exponential-ish loss decay
with per-epoch noise, a warm-up plus cosine LR schedule, metrics that
saturate, val loss a little above train loss), so a newcomer can watch the
monitor react without any training code. `overfit_from` bends a run the
classic wrong way partway through: train loss keeps falling while val loss
climbs back and the val metrics sag. The demo writes one healthy run and one
that starts overfitting a third of the way in, so its finding appears live.
The diagnostic sample runs do not come from here: they come from real
trainings (scripts/make_sample_runs.py).
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


#: Past the overfitting onset: val loss grows this fraction of its onset level per epoch
#: (the overfitting rule speaks once its 3-epoch mean is 10% above its best, 3 epochs on).
OVERFIT_VAL_GROWTH = 0.04
#: ...and each val metric loses this fraction per epoch (errors grow by as much).
OVERFIT_METRIC_DECAY = 0.004

#: The demo's runs: (directory name, seed, where it starts overfitting as a fraction of
#: the epochs, or None for a healthy run).
DEMO_RUNS: tuple[tuple[str, int, float | None], ...] = (
    ("classifier-healthy", 1, None),
    ("classifier-overfits", 2, 1 / 3),
)


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
    overfit_from: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one plausible epoch record after another for a run of `task`.

    Healthy, unless `overfit_from` is an epoch: after it, val loss rises by
    OVERFIT_VAL_GROWTH of its level per epoch and the val metrics lose
    OVERFIT_METRIC_DECAY per epoch, while train loss keeps falling.
    """
    rng = random.Random(seed)
    start = _START_LOSS[task]
    floor = start * 0.04
    rate = 4.0 / max(epochs, 1)
    warmup = max(1, epochs // 20)
    for epoch in range(1, epochs + 1):
        progress = 1 - math.exp(-rate * epoch)
        train = floor + (start - floor) * math.exp(-rate * epoch) * (1 + rng.gauss(0, 0.02))
        val = train * (1.12 + 0.1 * progress) * (1 + rng.gauss(0, 0.02))
        past = max(0, epoch - overfit_from) if overfit_from is not None else 0
        if past:
            # The val loss leaves the train curve at its level at the onset and climbs.
            onset = floor + (start - floor) * math.exp(-rate * overfit_from)
            val = onset * (1.12 + 0.1 * progress) * (1 + OVERFIT_VAL_GROWTH * past)
            val *= 1 + rng.gauss(0, 0.02)
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
            if past:
                sag = (1 - OVERFIT_METRIC_DECAY) ** past
                value = value * sag if spec.kind is not Kind.ERROR else value / sag
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


def demo_run_dirs(root: Path) -> list[Path]:
    """Where the demo writes its runs below `root`, healthy first."""
    return [root / name for name, _, _ in DEMO_RUNS]


def run_demo_writer(
    root: Path, *, epochs: int = 60, interval: float = 0.5, stop: Any = None
) -> list[Path]:
    """Write the demo's runs live below `root`: each gets an epoch every `interval` seconds.

    One run is healthy; the other starts overfitting a third of the way in
    (from epoch 3 at least), so with enough epochs its `overfitting`
    finding appears while the monitor watches. Every write is atomic.
    `stop` is anything with is_set() (a threading.Event); the writer checks
    it between epochs so the demo ends cleanly when the monitor quits.
    Returns the metrics.json paths.
    """
    documents = []
    streams = []
    for run_dir, (_, seed, onset) in zip(demo_run_dirs(root), DEMO_RUNS):
        documents.append(
            MetricsDocument(
                run_dir,
                {"task": Task.CLASSIFICATION.value, "total_epochs": epochs, "demo": True},
            )
        )
        overfit_from = None if onset is None else max(3, round(epochs * onset))
        streams.append(
            simulate_epochs(
                Task.CLASSIFICATION,
                epochs,
                seed=seed,
                epoch_seconds=interval,
                with_gradients=True,
                overfit_from=overfit_from,
            )
        )
    for records in zip(*streams):
        if stop is not None and stop.is_set():
            break
        for document, record in zip(documents, records):
            document.put(record)
            document.write()
        if stop is not None:
            if stop.wait(interval):
                break
        else:
            time.sleep(interval)
    return [document.path for document in documents]

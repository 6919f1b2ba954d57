"""Regenerate the fixed sample runs used by the TUI snapshot tests (deterministic, no RNG).

    python tests/tui_fixtures/make_fixtures.py

- sample/resnet-healthy: a classification run, 30 of 50 epochs, cosine LR with warmup.
- sample/vit-overfit: a finished 40-epoch run that overfits after epoch 14, with grad norms.
"""

from __future__ import annotations

import math
from pathlib import Path

from metricwatch.writer import MetricsDocument

HERE = Path(__file__).parent / "sample"


def wobble(epoch: int, scale: float) -> float:
    """A fixed, irregular-looking perturbation (sin of a prime multiple), so curves look real."""
    return scale * math.sin(epoch * 2.7183) * math.cos(epoch * 1.3)


def healthy() -> None:
    doc = MetricsDocument(
        HERE / "resnet-healthy", {"task": "classification", "total_epochs": 50, "model": "resnet18"}
    )
    for epoch in range(1, 31):
        warm = min(1.0, epoch / 5)
        lr = 1e-3 * warm * 0.5 * (1 + math.cos(math.pi * epoch / 50)) + 1e-6
        train = 2.3 * math.exp(-epoch / 7) + 0.12 + wobble(epoch, 0.02)
        val = 2.1 * math.exp(-epoch / 8) + 0.2 + wobble(epoch + 3, 0.025)
        acc = 0.95 - 0.6 * math.exp(-epoch / 6) + wobble(epoch, 0.008)
        doc.put(
            {
                "epoch": epoch,
                "train_loss": round(train, 4),
                "val_loss": round(val, 4),
                "val_accuracy": round(acc, 4),
                "val_f1": round(acc - 0.03, 4),
                "lr": round(lr, 8),
                "duration_s": round(45 + wobble(epoch, 1.5), 1),
            }
        )
    doc.write()


def overfit() -> None:
    doc = MetricsDocument(
        HERE / "vit-overfit", {"task": "classification", "total_epochs": 40, "model": "vit-s"}
    )
    for epoch in range(1, 41):
        lr = 1e-2 if epoch <= 15 else (1e-3 if epoch <= 30 else 1e-4)
        train = 2.0 * math.exp(-epoch / 6) + 0.05 + wobble(epoch, 0.003)
        val = 1.6 * math.exp(-epoch / 6) + 0.45 + max(0, epoch - 14) * 0.035 + wobble(epoch, 0.02)
        acc = 0.88 - 0.5 * math.exp(-epoch / 5) - max(0, epoch - 14) * 0.002
        doc.put(
            {
                "epoch": epoch,
                "train_loss": round(train, 4),
                "val_loss": round(val, 4),
                "val_accuracy": round(acc, 4),
                "val_f1": round(acc - 0.05, 4),
                "lr": lr,
                "grad_norm": round(4.0 * math.exp(-epoch / 12) + 0.3 + wobble(epoch, 0.1), 4),
                "grad_max": round(9.0 * math.exp(-epoch / 12) + 0.9 + wobble(epoch, 0.3), 4),
                "duration_s": round(62 + wobble(epoch, 2), 1),
            }
        )
    doc.write()


if __name__ == "__main__":
    healthy()
    overfit()

"""Helpers shared by the TUI tests: writing runs, waiting for the app, fixed-clock apps."""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from metricwatch.tui.app import MetricwatchApp
from metricwatch.watch import WatchMode
from metricwatch.writer import MetricsDocument

FIXTURES = Path(__file__).parent / "sample"  # not "runs/": .gitignore drops those
#: The fixed "now" of snapshot tests: 2023-11-14 22:13:20 UTC.
NOW = 1_700_000_000.0


def epoch_record(epoch: int, *, nan_from: int | None = None) -> dict[str, float]:
    """A plausible classification epoch; val_loss is NaN from `nan_from` on."""
    val = 1.8 * math.exp(-epoch / 8) + 0.3
    if nan_from is not None and epoch >= nan_from:
        val = math.nan
    return {
        "epoch": epoch,
        "train_loss": 2.0 * math.exp(-epoch / 7) + 0.1,
        "val_loss": val,
        "val_accuracy": 0.9 - 0.5 * math.exp(-epoch / 6),
        "lr": 1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / 60)) + 1e-6,
        "duration_s": 30.0,
    }


def write_run(
    directory: Path,
    epochs: int,
    *,
    total: int | None = 50,
    mtime: float | None = None,
    nan_from: int | None = None,
) -> MetricsDocument:
    meta = {"total_epochs": total} if total else {}
    doc = MetricsDocument(directory, meta)
    for epoch in range(1, epochs + 1):
        doc.put(epoch_record(epoch, nan_from=nan_from))
    doc.write()
    if mtime is not None:
        os.utime(doc.path, (mtime, mtime))
    return doc


def copy_fixtures(target: Path) -> Path:
    """The sample runs in a temp dir, with fixed mtimes (git does not keep them)."""
    root = target / "runs"
    shutil.copytree(FIXTURES, root)
    os.utime(root / "resnet-healthy" / "metrics.json", (NOW - 4, NOW - 4))
    os.utime(root / "vit-overfit" / "metrics.json", (NOW - 3 * 3600, NOW - 3 * 3600))
    return root


def fixed_app(root: Path, *, now: float = NOW) -> MetricwatchApp:
    """No watcher, a fixed clock, events label: what a snapshot needs to be deterministic."""
    return MetricwatchApp(root, mode=WatchMode(False), clock=lambda: now, watch=False)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until condition() holds; fail with the condition's name on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {condition.__doc__ or condition}")


async def wait_loaded(pilot, count: int, timeout: float = 5.0) -> None:
    app = pilot.app
    await wait_for(
        pilot, lambda: app.scan_done.is_set() and len(app.states) >= count, timeout=timeout
    )


def chart_keys(app: MetricwatchApp) -> list[tuple[str, ...]]:
    """The keys drawn on each chart on screen, in order: what the user sees, as data."""
    return [tuple(line.key for line in spec.lines) for spec in app.view.shown_charts]

"""UI responsiveness while a 50 MB metrics.json is re-read, and with 1,000 runs.

The app runs headless with real watching. A 20 ms interval timer in the
app records the largest gap between its ticks (how long the UI thread was
blocked) while: (a) a ~50 MB metrics.json (300,000 epochs) is rewritten
twice, (b) one of 1,000 runs changes 20 times. Also prints how long the
big file took from write to screen.

    python benchmarks/bench_tui_bigfile.py
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from metricwatch.tui.app import MetricwatchApp
from metricwatch.watch import choose_mode
from metricwatch.writer import MetricsDocument


class GapApp(MetricwatchApp):
    """Measures the UI thread's longest stall with a fast timer (benchmark only)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.set_interval(0.02, self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now


def record(epoch: int) -> dict[str, float]:
    return {
        "epoch": epoch,
        "train_loss": 1 / epoch + 0.01 * math.sin(epoch),
        "val_loss": 1.1 / epoch + 0.02,
        "val_accuracy": 0.5 + 0.4 * (1 - 1 / epoch),
        "lr": 1e-3 * (1 + math.cos(epoch / 300_000 * math.pi)) / 2 + 1e-7,
        "duration_s": 1.2,
    }


async def wait(pilot, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await pilot.pause(0.02)


async def big_file(root: Path) -> None:
    doc = MetricsDocument(root / "big", {"total_epochs": 400_000})
    for epoch in range(1, 300_001):
        doc.put(record(epoch))
    doc.write()
    size = doc.path.stat().st_size / 2**20
    app = GapApp(root, mode=choose_mode(root, None))
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.monotonic()
        await wait(pilot, lambda: "big" in app.states, 60)
        first = time.monotonic() - started
        await pilot.pause(0.5)
        app.gaps.clear()
        latencies = []
        for epoch in (300_001, 300_002):
            # Another process writes (as a training script would), so its own work (joining
            # and writing 50 MB) does not count as a stall of this app.
            writer = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--append", str(doc.path.parent), str(epoch)
            )
            await writer.wait()
            written = time.monotonic()
            await wait(pilot, lambda e=epoch: app.states["big"].epochs_done == e, 60)
            latencies.append(time.monotonic() - written)
        gaps = sorted(app.gaps)
    print(
        f"50 MB file [{size:.0f} MiB, 300,000 epochs]: first screen {first:.1f} s; "
        f"written to screen {statistics.median(latencies):.1f} s; "
        f"UI longest stall {gaps[-1] * 1000:.0f} ms, p99 tick gap "
        f"{gaps[int(0.99 * (len(gaps) - 1))] * 1000:.0f} ms (timer period 20 ms)"
    )


async def many_runs(root: Path) -> None:
    docs = []
    for index in range(1000):
        doc = MetricsDocument(root / f"sweep-{index:04d}", {"total_epochs": 100})
        for epoch in range(1, 31):
            doc.put(record(epoch))
        doc.write()
        docs.append(doc)
    app = GapApp(root, mode=choose_mode(root, None))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait(pilot, lambda: app.scan_done.is_set() and len(app.states) == 1000, 60)
        await pilot.pause(0.5)
        app.gaps.clear()
        target = docs[500]
        for epoch in range(31, 51):
            target.put(record(epoch))
            target.write()
            await wait(pilot, lambda e=epoch: app.states["sweep-0500"].epochs_done == e, 10)
        gaps = sorted(app.gaps)
    print(
        f"1,000 runs, one changing 20 times: UI longest stall {gaps[-1] * 1000:.0f} ms, "
        f"p99 tick gap {gaps[int(0.99 * (len(gaps) - 1))] * 1000:.0f} ms (timer period 20 ms)"
    )


def append(run_dir: Path, epoch: int) -> None:
    doc = MetricsDocument(run_dir)
    doc.load_existing()
    doc.put(record(epoch))
    doc.write()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--append":
        append(Path(sys.argv[2]), int(sys.argv[3]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(big_file(Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(many_runs(Path(tmp)))


if __name__ == "__main__":
    main()

"""Write-to-screen latency: an epoch written by another process until the app has drawn it.

The app runs headless (App.run_test, 120x40) in this process with real file
watching; a writer subprocess appends an epoch every INTERVAL seconds with
metricwatch's atomic writer and stamps each write (time.time(), shared by
both processes). The app stamps the moment the screen refresh that shows
the new epoch in the header has happened, and the one after which the loss
chart draws it (live redraws are paced to a share of a core: charts may
follow a burst of writes later than the header). Prints p50/p95/max per mode.

    python benchmarks/bench_tui_latency.py [--epochs 40] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metricwatch.tui.app import MetricwatchApp
from metricwatch.watch import choose_mode
from metricwatch.writer import MetricsDocument


def record(epoch: int) -> dict[str, float]:
    return {
        "epoch": epoch,
        "train_loss": 2.0 * math.exp(-epoch / 50) + 0.1,
        "val_loss": 1.9 * math.exp(-epoch / 60) + 0.2,
        "val_accuracy": 0.9 - 0.5 * math.exp(-epoch / 40),
        "lr": 1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / 2000)),
        "duration_s": 30.0,
    }


def writer(run_dir: Path, start: int, epochs: int, interval: float) -> None:
    """Subprocess side: load the existing file, append epochs, print when each write finished."""
    doc = MetricsDocument(run_dir)
    doc.load_existing()
    for epoch in range(start, start + epochs):
        time.sleep(interval)
        doc.put(record(epoch))
        doc.write()
        print(json.dumps({"epoch": epoch, "written": time.time()}), flush=True)


class TimedApp(MetricwatchApp):
    """Stamps the refresh after which the header shows each new epoch, and the one after
    which the loss chart draws it (live charts are paced: see metricwatch.pacing)."""

    drawn: dict[int, float]
    charted: dict[int, float]

    def on_mount(self) -> None:
        super().on_mount()
        update = self.view._update_charts

        def stamped(state, key, **options) -> None:
            update(state, key, **options)
            charts = self.view.shown_charts
            if charts and charts[0].lines and len(charts[0].lines[0].x):
                last = int(charts[0].lines[0].x[-1])
                self.call_after_refresh(lambda: self.charted.setdefault(last, time.time()))

        self.view._update_charts = stamped  # type: ignore[method-assign]

    def on_runs_loaded(self, message) -> None:  # type: ignore[override]
        super().on_runs_loaded(message)
        state = self.states.get(self.selected or "")
        if state is not None and state.epochs_done not in self.drawn:
            epoch = state.epochs_done
            self.call_after_refresh(lambda: self.drawn.setdefault(epoch, time.time()))


async def measure(root: Path, run_dir: Path, poll: float | None, epochs: int, interval: float):
    app = TimedApp(root, mode=choose_mode(root, poll))
    app.drawn, app.charted = {}, {}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.scan_done.is_set() or not app.states:
            await pilot.pause(0.02)
        start = app.states[app.selected].epochs_done + 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--writer", str(run_dir), str(start), str(epochs),
            str(interval), stdout=subprocess.PIPE,
        )  # fmt: skip
        written: dict[int, float] = {}
        assert proc.stdout is not None
        async for line in proc.stdout:
            item = json.loads(line)
            written[item["epoch"]] = item["written"]
        await proc.wait()
        deadline = time.monotonic() + 10
        last = max(written, default=0)
        while len([e for e in written if e in app.drawn]) < len(written) or not any(
            e >= last for e in app.charted
        ):
            if time.monotonic() > deadline:
                break
            await pilot.pause(0.02)
    latencies = [(app.drawn[e] - t) * 1000 for e, t in written.items() if e in app.drawn]
    missed = len(written) - len(latencies)
    # An epoch is on the chart once a chart drawn after its write shows it or a later one.
    charted = []
    for epoch, at in written.items():
        shown = [t for e, t in app.charted.items() if e >= epoch and t >= at]
        if shown:
            charted.append((min(shown) - at) * 1000)
    return latencies, missed, charted


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    for label, poll, history in (
        ("events, 100-epoch run", None, 100),
        ("events, 1,000-epoch run", None, 1000),
        ("polling 2s (network fs mode)", 2.0, 100),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            doc = MetricsDocument(root / "run", {"total_epochs": 100_000})
            for epoch in range(1, history + 1):
                doc.put(record(epoch))
            doc.write()
            epochs = args.epochs if poll is None else 8
            interval = args.interval if poll is None else 1.1
            latencies, missed, charted = asyncio.run(
                measure(root, doc.path.parent, poll, epochs, interval)
            )
        print(
            f"write-to-screen latency [{label}]: n={len(latencies)} missed={missed} "
            f"p50={statistics.median(latencies):.1f} ms  p95={percentile(latencies, 0.95):.1f} ms  "
            f"max={max(latencies):.1f} ms"
        )
        if charted:
            print(
                f"  write-to-chart: n={len(charted)} p50={statistics.median(charted):.0f} ms  "
                f"p95={percentile(charted, 0.95):.0f} ms  max={max(charted):.0f} ms"
            )


if __name__ == "__main__":
    main()

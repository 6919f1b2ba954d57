"""Cold start to the first complete screen, in a fresh interpreter each time.

A child process is started (interpreter start, imports, discovery, parse,
summary, diagnostics, layout, all charts drawn) and prints the moment its
first complete screen was rendered: the selected run's header, summary,
findings and every visible chart drawn. Headless (App.run_test at
120x40), so no terminal is needed. Median of N runs for:
- one 1,000-epoch run;
- 1,000 runs of 50 epochs under one directory (first screen, and all rows loaded).

    python benchmarks/bench_tui_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metricwatch.writer import MetricsDocument

CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
from metricwatch.allocator import keep_freed_memory
from metricwatch.cli import _import_monitor

keep_freed_memory()  # as the command does at start
_import_monitor()  # as the command imports the TUI
from metricwatch.tui.app import create_app

async def main(root):
    app = create_app(Path(root))
    first = None
    async with app.run_test(size=(120, 40)) as pilot:
        while first is None:
            # Not pilot.pause: it makes every widget process a message and forces a
            # screen update each time, which took the CPU the app needs to load.
            await asyncio.sleep(0.005)
            view = app.view
            slots = [s for s in view.slots if s.display and s.spec is not None]
            if app.selected and slots and all(s._drawn is not None for s in slots):
                first = time.time()
        while not app.scan_done.is_set():
            await asyncio.sleep(0.01)  # not pilot.pause: see above
        await pilot.pause(0.05)
        loaded = time.time()
        count = len(app.run_list.names)
    print(json.dumps({"first": first, "all": loaded, "runs": count}))

asyncio.run(main(sys.argv[1]))
"""


def record(epoch: int) -> dict[str, float]:
    return {
        "epoch": epoch,
        "train_loss": 2.0 * math.exp(-epoch / 200) + 0.1,
        "val_loss": 1.9 * math.exp(-epoch / 250) + 0.2,
        "val_accuracy": 0.9 - 0.5 * math.exp(-epoch / 150),
        "val_f1": 0.85 - 0.5 * math.exp(-epoch / 150),
        "lr": 1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / 1000)) + 1e-7,
        "grad_norm": 2.0 * math.exp(-epoch / 300) + 0.1,
        "duration_s": 30.0,
    }


def make_run(directory: Path, epochs: int) -> None:
    doc = MetricsDocument(directory, {"total_epochs": epochs * 2})
    for epoch in range(1, epochs + 1):
        doc.put(record(epoch))
    doc.write()


def cold_start(root: Path) -> tuple[float, float, int]:
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return (result["first"] - started) * 1000, (result["all"] - started) * 1000, result["runs"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        make_run(one / "big-run", 1000)
        many = Path(tmp) / "many"
        for index in range(1000):
            make_run(many / f"sweep-{index:04d}", 50)
        # The bytecode written first, as an installed package has it (Python writes none
        # where PYTHONDONTWRITEBYTECODE is set: every start would compile every module).
        compileall.compile_dir(Path(__file__).resolve().parent.parent / "metricwatch", quiet=1)
        cold_start(one)  # warm the OS file cache
        for label, root in (("1 run x 1,000 epochs", one), ("1,000 runs x 50 epochs", many)):
            firsts, alls, runs = [], [], 0
            for _ in range(args.repeat):
                first, loaded, runs = cold_start(root)
                firsts.append(first)
                alls.append(loaded)
            first = statistics.median(firsts)
            print(
                f"cold start [{label}]: first complete screen median {first:.0f} ms "
                f"(min {min(firsts):.0f}, max {max(firsts):.0f}); all {runs} runs listed "
                f"median {statistics.median(alls):.0f} ms"
            )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import metricwatch.tui.app"], check=True)
    print(f"(of which interpreter start + imports: {(time.perf_counter() - t0) * 1000:.0f} ms)")


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    main()

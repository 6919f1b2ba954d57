"""Where the monitor's memory goes up to its first screen: RSS at each stage of it.

bench_formats.py gives the monitor's peak RSS at its first screen; this says what makes
it. The app is started headless (120x40) in a fresh interpreter on --run (a run folder,
e.g. one bench_formats.py made), as bench_formats' first screen starts it, and its RSS
(VmRSS) is read when each of these starts and ends: the run's read (a tail's read, the
TensorBoard or MLflow reader), its summary and diagnosis, the charts' float copies of the
steps (RunState.drawn_column) and their smoothing (RunState.smoothed), then at the first
complete screen and at the end of the discovery scan; a thread samples RSS every 2 ms
for the peak. With --base (a tiny run of the same format), the same is measured on it
and the differences per point of --run are printed, as bench_formats divides the peak.

    python benchmarks/bench_monitor_memory.py --run DIR [--base DIR]

Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import asyncio, json, sys, threading, time
from pathlib import Path
from metricwatch.allocator import keep_freed_memory
keep_freed_memory()  # as the command does at start
from metricwatch.tui.app import create_app
import metricwatch.tui.state as state
import metricwatch.readers.tfevents as tfevents
import metricwatch.readers.mlflow_files as mlflow_files

def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))

marks, samples, stop = [], [0], []
def sample():
    while not stop:
        samples[0] = max(samples[0], rss())
        time.sleep(0.002)
threading.Thread(target=sample, daemon=True).start()

def marked(owner, name, label):
    call = getattr(owner, name)
    def wrapper(*args, **kwargs):
        marks.append((label + " starts", rss()))
        try:
            return call(*args, **kwargs)
        finally:
            marks.append((label + " ends", rss()))
    setattr(owner, name, wrapper)

marked(tfevents.EventDirTail, "read", "read")
marked(mlflow_files.FileStoreRunTail, "read", "read")
marked(state, "summarize", "summary")
marked(state, "diagnose", "diagnosis")
marked(state.RunState, "drawn_column", "charts' steps")
marked(state.RunState, "smoothed", "smoothing")

async def main(root):
    app = create_app(Path(root))
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            slots = [s for s in app.view.slots if s.display and s.spec is not None]
            if app.selected and slots and all(s._drawn is not None for s in slots):
                break
        marks.append(("first screen", rss()))
        while not app.scan_done.is_set() and time.monotonic() < deadline:
            await pilot.pause(0.01)
        await pilot.pause(0.1)
        marks.append(("scan done", rss()))
        points = 0
        if app.selected and app.selected in app.states:
            run = app.states[app.selected]._run
            points = sum(len(run.series(k)) for k in run.keys) if run is not None else 0

    stop.append(True)
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"marks": marks, "peak": max(samples[0], hwm), "points": points}))

asyncio.run(main(sys.argv[1]))
"""


def measure(run: Path) -> dict:
    """The stages' RSS (kB) of a first screen of `run`, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"the app failed: {done.stderr[-2000:]}") from None


def stages(result: dict) -> list[tuple[str, int]]:
    """Each stage's first start and last end (a stage called per key is one line)."""
    first: dict[str, int] = {}
    for label, kb in result["marks"]:
        if label.endswith(" starts"):
            first.setdefault(label, kb)
        else:
            first[label] = kb  # the last end
    return list(first.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder")
    parser.add_argument("--base", type=Path, help="a tiny run of the same format")
    args = parser.parse_args()
    big = measure(args.run)
    base = measure(args.base) if args.base else None
    points = max(1, big["points"])
    print(f"{args.run}: {big['points']:,} points held, peak {big['peak'] / 1024:.1f} MiB")
    previous = None
    for label, kb in stages(big):
        step = "" if previous is None else f"{(kb - previous) / 1024:+6.1f}"
        print(f"  {label:24s} {kb / 1024:7.1f} MiB {step}")
        previous = kb
    if base is not None:
        extra = (big["peak"] - base["peak"]) * 1024 / points
        print(f"base {args.base}: peak {base['peak'] / 1024:.1f} MiB; {extra:.0f} B/point over it")


if __name__ == "__main__":
    main()

"""Idle cost: CPU and memory of the real command with nothing changing.

Starts `python -m metricwatch PATH` in a detached tmux session (120x40, a
real terminal), lets it settle, then reads /proc/PID/stat (utime+stime)
and /proc/PID/status (VmRSS) across a quiet window. Runs twice: events
mode and polling mode (--poll 2).

    python benchmarks/bench_tui_idle.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metricwatch.writer import MetricsDocument

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def make_runs(root: Path, runs: int, epochs: int) -> None:
    for index in range(runs):
        doc = MetricsDocument(root / f"run-{index:02d}", {"total_epochs": epochs * 2})
        for epoch in range(1, epochs + 1):
            doc.put(
                {
                    "epoch": epoch,
                    "train_loss": 2.0 * math.exp(-epoch / 200) + 0.1,
                    "val_loss": 1.9 * math.exp(-epoch / 250) + 0.2,
                    "val_accuracy": 0.9 - 0.5 * math.exp(-epoch / 150),
                    "lr": 1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / epochs)) + 1e-7,
                    "duration_s": 30.0,
                }
            )
        doc.write()
        # Last written 10 minutes ago: past the first minute, where "Ns ago" ticks each second.
        old = time.time() - 600
        os.utime(doc.path, (old, old))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(root: Path, extra: str, seconds: float) -> tuple[float, float]:
    socket = f"metricwatch-bench-{os.getpid()}-{len(extra)}"
    command = (
        f"cd {shlex.quote(str(REPO))} && exec env -u COLUMNS -u LINES "
        f"{shlex.quote(sys.executable)} -m metricwatch {extra} {shlex.quote(str(root))}"
    )
    tmux = ["tmux", "-L", socket]
    subprocess.run([*tmux, "new-session", "-d", "-s", "b", "-x", "120", "-y", "40", command])
    try:
        time.sleep(5)  # start, load, first draw
        pid = int(
            subprocess.run(
                [*tmux, "display", "-p", "-t", "b", "#{pane_pid}"], capture_output=True, text=True
            ).stdout.strip()
        )
        start_cpu, start = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(pid) - start_cpu
        elapsed = time.monotonic() - start
        return used / elapsed * 100, rss_mib(pid)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_runs(root, runs=10, epochs=1000)
        for label, extra in (("events", ""), ("polling 2s", "--poll 2")):
            cpu, rss = measure(root, extra, args.seconds)
            print(
                f"idle [{label}, 10 runs x 1,000 epochs, {args.seconds:.0f} s quiet]: "
                f"CPU {cpu:.2f}% of one core, RSS {rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()

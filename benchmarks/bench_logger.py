"""What JSONMetricLogger costs: log_epoch once a run is long, log_step per call.

log_epoch with 100 and 10,000 epochs on disk: each call re-renders the whole
metrics.json (per-epoch JSON is cached, so it is a join), writes it to a temp
file, fsyncs it, renames it over the old one and fsyncs the directory. The
figures include the fsyncs; a second column shows the same call with
os.fsync stubbed out, to separate disk from CPU.

log_step with 5 metrics, as floats and as 0-d tensors (CPU): the mean cost
of a call over many calls, flushes (every second, the default) included.
Then a 1,000,000-step log written with the default flushes: it must stay
append-only (same file, only growing) and a flush must not get dearer as the
file grows.

    python benchmarks/bench_logger.py [--repeats 50] [--steps 1000000] [--dir /path/to/disk]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from metricwatch.torch import JSONMetricLogger
from metricwatch.torch import step_log as step_log_module
from metricwatch.writer import MetricsDocument

SIZES = (100, 10_000)


def record(epoch: int) -> dict[str, float]:
    """A typical classification epoch: 9 values."""
    return {
        "train_loss": 1.0 / epoch,
        "val_loss": 1.1 / epoch,
        "val_accuracy": 1 - 0.5 / epoch,
        "val_f1": 1 - 0.6 / epoch,
        "train_accuracy": 1 - 0.4 / epoch,
        "lr": 1e-3 * 0.999**epoch,
        "grad_norm": 2.0 / epoch**0.5,
        "grad_max": 0.7 / epoch**0.5,
        "duration_s": 45.2,
    }


def median_ms(logger: JSONMetricLogger, epoch: int, repeats: int) -> float:
    times = []
    values = record(epoch)
    for _ in range(repeats):
        start = time.perf_counter()
        logger.log_epoch(epoch=epoch, **values)  # same epoch each time: the file keeps its size
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step_cost_us(run_dir: Path, calls: int, tensors: bool) -> tuple[float, float]:
    """Mean µs per log_step call with 5 metrics, flushes and close included: (wall, CPU).

    The tensors are made beforehand: making them is the training loop's work, not
    log_step's.
    """
    base = (0.5, 0.25, 1e-3, 2.0, 0.75)
    if tensors:
        rows: list[list[Any]] = [[torch.tensor(v * (i + 1)) for v in base] for i in range(calls)]
    else:
        rows = [[v * (i + 1) for v in base] for i in range(calls)]
    with JSONMetricLogger(run_dir) as logger:
        wall, cpu = time.perf_counter(), time.process_time()
        for loss, acc, lr, grad, other in rows:
            logger.log_step(train_loss=loss, train_accuracy=acc, lr=lr, grad_norm=grad, x=other)
        logger.close()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / calls * 1e6, cpu / calls * 1e6


def million_steps(run_dir: Path, steps: int) -> None:
    """Write a long step log with the default flushes; check it only ever grew in place."""
    flushes: list[tuple[int, float]] = []  # (file size before, µs a line) per flush
    original = step_log_module.StepLog.flush

    def timed(self: step_log_module.StepLog, sync: bool = False) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        lines = self.pending
        began = time.process_time()
        original(self, sync)
        if lines:
            flushes.append((size, (time.process_time() - began) / lines * 1e6))

    inodes = set()
    sizes = []
    with mock.patch.object(step_log_module.StepLog, "flush", timed):
        logger = JSONMetricLogger(run_dir)
        start = time.perf_counter()
        for step in range(1, steps + 1):
            logger.log_step(train_loss=1.0 / step, lr=1e-3, grad_norm=0.5)
            if step % 10_000 == 0 and logger.steps_path.exists():
                stat = logger.steps_path.stat()
                inodes.add(stat.st_ino)
                sizes.append(stat.st_size)
        logger.close()
        elapsed = time.perf_counter() - start
    stat = logger.steps_path.stat()
    inodes.add(stat.st_ino)
    sizes.append(stat.st_size)
    assert len(inodes) == 1 and sizes == sorted(sizes), "the step log was rewritten"
    with open(logger.steps_path, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    assert lines == steps
    tenth = max(1, len(flushes) // 10)
    early = [s for size, s in flushes[1 : tenth + 1]]  # the first one creates the file
    late = [s for _, s in flushes[-tenth:]]
    print(
        f"{steps:,} steps: {elapsed / steps * 1e6:.1f} µs a call, {len(flushes)} flushes, "
        f"file {stat.st_size / 2**20:.0f} MiB, one inode, never shrank; a flush costs "
        f"{statistics.median(early):.1f} µs CPU a line in the first tenth of the file, "
        f"{statistics.median(late):.1f} µs in the last"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1_000_000, help="the long step log")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp directory)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        print("log_step, 5 metrics, mean per call over 100,000 calls, flushes every second")
        print("included (best of 3; CPU is this process's CPU time, wall includes waiting for it):")
        for label, tensors in (("floats", False), ("0-d tensors", True)):
            runs = [step_cost_us(Path(scratch) / f"{label}{i}", 100_000, tensors) for i in range(3)]
            wall, cpu = min(runs)[0], min(cpu for _, cpu in runs)
            print(f"  {label:<12} {wall:6.1f} µs wall  {cpu:6.1f} µs CPU")
        million_steps(Path(scratch) / "million", args.steps)
        print(f"log_epoch, median of {args.repeats} calls, writing in {scratch}")
        print(f"{'epochs on disk':>15} {'file size':>10} {'with fsync':>12} {'fsync stubbed':>14}")
        for size in SIZES:
            run_dir = Path(scratch) / f"run{size}"
            document = MetricsDocument(run_dir)
            for epoch in range(1, size + 1):
                document.put({"epoch": epoch, **record(epoch)})
            document.write()
            logger = JSONMetricLogger(run_dir, total_epochs=size + 1, resume=True)
            median_ms(logger, size + 1, 3)  # warm up
            with_fsync = median_ms(logger, size + 1, args.repeats)
            with mock.patch("os.fsync"):
                without_fsync = median_ms(logger, size + 1, args.repeats)
            kib = os.path.getsize(logger.path) / 1024
            print(f"{size:>15,} {kib:>8.0f} KiB {with_fsync:>9.2f} ms {without_fsync:>11.2f} ms")
    print("'with fsync' is what log_epoch costs: file + directory fsync included.")


if __name__ == "__main__":
    main()

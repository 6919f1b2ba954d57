"""Reading a live MLflow file-store run: the first read and the CPU of one write's read.

Writes a run of about --points logged values in MLflow's file-store shape
(benchmarks/format_logs.py's MLflowStore: train/loss, train/grad_norm, train/lr
and epoch at every step, val/* every 1,000th; 1,000,000 values make a run of
750,000 table points), then times:
- the first read: FileStoreRunTail(run).read() of the whole run (wall clock and
  this thread's CPU, the medians of 3);
- one write's read: the writer appends one step (a line to each key's file, not
  timed), then the read the loader makes (loader_io._tail_read: tail.read() and the
  run's "last written") is timed with time.thread_time (this thread's CPU), over
  --writes writes; the mean and the median are printed in milliseconds.

The run's folders and files are made an hour old before it is read, as those of a run
the monitor follows are (it started before it): the tail keeps the listings and the
meta.yaml of settled folders and files (readers/listings.py), which a folder made a
moment ago is not.

    python benchmarks/bench_mlflow_tail.py [--points 1000000] [--writes 100]

Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import format_logs as fl  # noqa: E402

from metricwatch.readers.mlflow import FileStoreRunTail  # noqa: E402
from metricwatch.sources.loader_io import _tail_read  # noqa: E402

FIRST_READS = 3


def make_old(root: Path, seconds: float = 3600.0) -> None:
    """Every folder and file under root dated `seconds` ago."""
    then = time.time() - seconds
    for folder, _, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            os.utime(path, (then, then))


def measure(root: Path, points: int, writes: int) -> dict[str, float]:
    """The run written under root, read once whole, then read after each of `writes` writes."""
    writer = fl.make("mlflow", root)
    writer.generate(points)
    make_old(root)
    firsts, first_cpus = [], []
    for _ in range(FIRST_READS):  # the last tail read is the one that follows the writes
        started, cpu = time.perf_counter(), time.thread_time()
        tail = FileStoreRunTail(writer.run_dir)
        first = tail.read()
        firsts.append(time.perf_counter() - started)
        first_cpus.append(time.thread_time() - cpu)
    costs = []
    for _ in range(writes):
        writer.step()
        cpu = time.thread_time()
        _tail_read(writer.run_dir / "meta.yaml", tail)
        costs.append(time.thread_time() - cpu)
    return {
        "table_points": float(sum(len(s.steps) for s in first.table.series.values())),
        "first_read_s": statistics.median(firsts),
        "first_read_cpu_s": statistics.median(first_cpus),
        "write_mean_ms": 1000 * statistics.fmean(costs),
        "write_median_ms": 1000 * statistics.median(costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(Path(folder), args.points, args.writes)
    first_ms = figures["first_read_s"] * 1000
    first_cpu_ms = figures["first_read_cpu_s"] * 1000
    print(f"table points      {figures['table_points']:,.0f}")
    print(f"first read        {first_ms:.0f} ms wall, {first_cpu_ms:.0f} ms CPU (medians of 3)")
    print(
        f"one write's read  {figures['write_mean_ms']:.3f} ms CPU mean, "
        f"{figures['write_median_ms']:.3f} ms median ({args.writes} writes)"
    )


if __name__ == "__main__":
    main()

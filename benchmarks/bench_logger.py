"""What JSONMetricLogger.log_epoch costs once a run is long: 100 and 10,000 epochs on disk.

Each call re-renders the whole metrics.json (per-epoch JSON is cached, so it
is a join), writes it to a temp file, fsyncs it, renames it over the old one
and fsyncs the directory. The figures include the fsyncs; a second column
shows the same call with os.fsync stubbed out, to separate disk from CPU.

    python benchmarks/bench_logger.py [--repeats 50] [--dir /path/on/the/disk/you/train/on]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from metricwatch.torch import JSONMetricLogger
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
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

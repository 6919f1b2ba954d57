"""Reading a live TensorBoard run: the CPU of one write's read, and of the first read.

Writes a run of about --points logged scalars in the shape of a Hugging Face Trainer's
event file (benchmarks/format_logs.py's TensorBoard: train/loss, train/grad_norm,
train/learning_rate and train/epoch at every step, eval/* and train/epoch again every
500th; 1,000,000 scalars are about 250,000 points per tag), or copies the one --run
names (a folder made by `bench_formats.py --generate tfevents DIR N STATE`, with its
STATE as --state), then times:
- the first read: EventDirTail(run).read() of the whole run (wall clock and this
  thread's CPU, the medians of 3);
- one write's read: the writer appends one step (4 records, flushed; not timed), then
  the read the loader makes (loader_io._tail_read: tail.read() and the run's "last
  written") is timed with time.thread_time (this thread's CPU), over --writes writes;
  the mean and the median are printed in milliseconds. With --apart, each record of a
  step is flushed and read on its own (a writer flushing between a step's records: a
  read then sees series ahead of the epoch axis, whose epochs are copied when it
  catches up, as arrays handed out before must not change).

The run's folder and files are made an hour old before it is read, as those of a run
the monitor follows are (it started before it): the tail keeps the listings of settled
folders (readers/listings.py), which a folder made a moment ago is not.

    python benchmarks/bench_tfevents_tail.py [--points 1000000] [--writes 100] [--apart]

At 10 steps a second, one write's read of M ms is M % of a core. Runs against the
metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import format_logs as fl  # noqa: E402
from bench_mlflow_tail import make_old  # noqa: E402

from metricwatch.readers.tfevents import FORMAT, EventDirTail  # noqa: E402
from metricwatch.sources.loader_io import _tail_read  # noqa: E402

FIRST_READS = 3


def writer_for(root: Path, points: int, run: Path | None, state: Path | None) -> fl.LogFormat:
    """A TensorBoard writer ready to append to its run under root (generated, or copied)."""
    if run is not None and state is not None:
        shutil.copytree(run, root)
        make_old(root)
        return fl.load_state("tfevents", root, state)
    writer = fl.make("tfevents", root)
    writer.generate(points)
    make_old(root)
    writer.open()
    return writer


def write_step(writer: fl.LogFormat, apart: bool) -> list[bytes]:
    """One step's records: written and flushed together (the default), or returned to be
    written one by one (apart)."""
    if not apart:
        writer.step()
        return []
    records = fl._tb_events(writer.next, writer.total)
    writer.next += 1
    return [fl.frame_records([record]) for record in records]


def measure(writer: fl.LogFormat, writes: int, apart: bool = False) -> dict[str, float]:
    """The writer's run read once whole (3 times), then read after each of `writes` writes."""
    firsts, first_cpus = [], []
    for _ in range(FIRST_READS):  # the last tail read is the one that follows the writes
        started, cpu = time.perf_counter(), time.thread_time()
        tail = EventDirTail(writer.root)
        first = tail.read()
        firsts.append(time.perf_counter() - started)
        first_cpus.append(time.thread_time() - cpu)
    costs = []
    for _ in range(writes):
        for record in write_step(writer, apart) or [b""]:
            if record:
                writer.handle.write(record)  # type: ignore[attr-defined]
                writer.handle.flush()  # type: ignore[attr-defined]
            cpu = time.thread_time()
            _tail_read(writer.path, tail, FORMAT)  # type: ignore[attr-defined]
            costs.append(time.thread_time() - cpu)
    writer.close()
    return {
        "series_points": float(sum(len(s.steps) for s in first.table.series.values())),
        "first_read_s": statistics.median(firsts),
        "first_read_cpu_s": statistics.median(first_cpus),
        "write_mean_ms": 1000 * statistics.fmean(costs),
        "write_median_ms": 1000 * statistics.median(costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--run", type=Path, help="a generated run folder to copy")
    parser.add_argument("--state", type=Path, help="its writer state (with --run)")
    parser.add_argument("--apart", action="store_true", help="a step's records read apart")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        writer = writer_for(Path(folder) / "run", args.points, args.run, args.state)
        figures = measure(writer, args.writes, args.apart)
    first_ms = figures["first_read_s"] * 1000
    first_cpu_ms = figures["first_read_cpu_s"] * 1000
    print(f"series points     {figures['series_points']:,.0f}")
    print(f"first read        {first_ms:.0f} ms wall, {first_cpu_ms:.0f} ms CPU (medians of 3)")
    print(
        f"one write's read  {figures['write_mean_ms']:.3f} ms CPU mean, "
        f"{figures['write_median_ms']:.3f} ms median ({args.writes} writes"
        + (", each record read apart)" if args.apart else ")")
    )


if __name__ == "__main__":
    main()

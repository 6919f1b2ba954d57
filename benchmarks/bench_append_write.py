"""Reading one write of a big appended log: the CPU of AppendedLog.update per write.

For each appended format (Lightning CSV, Keras CSV, Ultralytics results.csv, detectron2
JSON lines, metricwatch's step log metrics.jsonl) a run of about --points logged values
is written in the framework's shape (benchmarks/format_logs.py), or copied from --from
DIR (DIR/<format>/run0 with DIR/<format>/state0.json, as bench_formats.py leaves them),
then read as the loader reads a big appended log (readers/appended.read_in_chunks, a
chunk at a time, giving the AppendedLog to follow it with). Then, --writes times, the
writer logs one step the way the framework writes (format_logs.py's `step()`: a few
Lightning rows, one CSV row, one JSON line; not timed), and the file's bytes from the
log's offset are given to `AppendedLog.update`, which is timed with time.thread_time
(this thread's CPU) and time.perf_counter. The loader's own check before an update (the
file still begins with the header and ends with the context read: `log.checked`,
`log.header + log.context`) is timed apart, as "check".

At 10 writes a second, an update of M ms is M % of a core. Prints figures, asserts none.

    python benchmarks/bench_append_write.py [--points 1000000] [--writes 300]
        [--formats lightning_csv,detectron2] [--from /tmp/gen] [--profile]

--profile prints cProfile's top functions (by own time) of the timed updates, per format.
Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import format_logs as fl  # noqa: E402

from metricwatch.readers import HEAD_BYTES, claim  # noqa: E402
from metricwatch.readers.appended import CHUNK_BYTES, AppendedLog, read_in_chunks  # noqa: E402

FORMATS = ("lightning_csv", "keras_csv", "ultralytics", "detectron2", "metricwatch_steps")


def writer_for(name: str, root: Path, points: int, source: Path | None) -> fl.LogFormat:
    """A writer ready to append to its run under root: generated, or copied from source."""
    if source is not None and (source / name / "state0.json").exists():
        shutil.copytree(source / name / "run0", root)
        return fl.load_state(name, root, source / name / "state0.json")
    writer = fl.make(name, root)
    writer.generate(points)
    writer.open()
    return writer


def log_path(writer: fl.LogFormat) -> Path:
    """The one log file of the writer's run."""
    return writer.path  # type: ignore[attr-defined,no-any-return]


def first_read(path: Path) -> AppendedLog:
    """The whole log read as the loader reads a big appended one (a chunk at a time)."""
    with path.open("rb") as handle:
        fmt = claim(path.name, handle.read(HEAD_BYTES))
    assert fmt is not None and fmt.appends is not None, path

    def read(offset: int, size: int) -> bytes:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    chunked = read_in_chunks(fmt, read, CHUNK_BYTES)
    assert chunked is not None, "the log could not be followed"
    return chunked[1]


def new_bytes(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read()


def measure(name: str, writer: fl.LogFormat, writes: int, profile: bool) -> dict[str, object]:
    """The run read once whole, then `writes` writes each followed by a timed update."""
    path = log_path(writer)
    started = time.perf_counter()
    log = first_read(path)
    first = time.perf_counter() - started
    cpus, walls, checks = [], [], []
    profiler = cProfile.Profile() if profile else None
    result = None
    for _ in range(writes):
        writer.step()
        new = new_bytes(path, log.offset)
        cpu = time.thread_time()
        checked = log.checked
        head = log.header + log.context
        checks.append(time.thread_time() - cpu)
        assert sum(checked) == len(head)
        if profiler is not None:
            profiler.enable()
        cpu, wall = time.thread_time(), time.perf_counter()
        result = log.update(new)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
        if profiler is not None:
            profiler.disable()
        if result is None:
            raise SystemExit(f"{name}: an update answered None (read whole): not a fair figure")
    points = sum(len(s) for s in result.table.series.values()) if result is not None else 0
    report: dict[str, object] = {
        "format": name,
        "points": points,
        "first_s": first,
        "cpu_mean_ms": 1e3 * statistics.fmean(cpus),
        "cpu_median_ms": 1e3 * statistics.median(cpus),
        "wall_median_ms": 1e3 * statistics.median(walls),
        "check_median_ms": 1e3 * statistics.median(checks),
    }
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        report["profile"] = out.getvalue()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--from", dest="source", type=Path, default=None)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(
        f"{'format':<18} {'points':>9} {'first s':>8} {'cpu mean':>9} {'cpu p50':>8} "
        f"{'wall p50':>9} {'check p50':>10}   (ms per write, {args.writes} writes)",
        flush=True,
    )
    for name in args.formats.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-append-") as work:
            writer = writer_for(name, Path(work) / "run", args.points, args.source)
            try:
                report = measure(name, writer, args.writes, args.profile)
            finally:
                writer.close()
        print(
            f"{name:<18} {report['points']:>9} {report['first_s']:>8.2f} "
            f"{report['cpu_mean_ms']:>9.3f} {report['cpu_median_ms']:>8.3f} "
            f"{report['wall_median_ms']:>9.3f} {report['check_median_ms']:>10.4f}",
            flush=True,
        )
        if args.profile:
            print(report["profile"], flush=True)


if __name__ == "__main__":
    main()

"""Reading TensorBoard event files: a 300,000-scalar run, whole and incrementally.

Writes the file with a tiny pure-Python event writer (the same bytes as
PyTorch's SummaryWriter.add_scalar: wall_time, step, one simple_value), so
it runs in the project's venv without torch or tensorboard, then times:
- read_event_dir: the whole run, first read (what the first screen costs);
- EventDirTail.read after 10 more records were appended (one live update).
Medians over repeats are printed. For comparison, tensorboard 2.21's
EventAccumulator took 6.1 s on a 300k-scalar file written by torch 2.13 on
this kind of machine (2 cores); read_event_dir took 0.4-0.6 s on it when every
record went through a Python loop, 0.15-0.25 s since records are framed, checked
and decoded in bulk.

With --run DIR it times an existing run instead (bench_formats.py's
`--generate tfevents DIR 1000000 STATE.json` writes a 1,000,000-value one) and
prints the peak memory of a fresh `metricwatch summary --json DIR`, in MiB and in
bytes a point above a fresh `summary --json` of a 1,000-value run (the base).

    python benchmarks/bench_tfevents.py [--scalars 300000] [--repeats 5] [--run DIR]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metricwatch.readers.tfevents import EventDirTail, masked_crc32c, read_event_dir


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def scalar_event(tag: str, step: int, wall_time: float, value: float) -> bytes:
    """Event{wall_time, step, summary{value{tag, simple_value}}} as SummaryWriter writes it."""
    value_msg = _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
    event = b"\x09" + struct.pack("<d", wall_time)
    if step:
        event += b"\x10" + _varint(step)
    return event + _field(5, _field(1, value_msg))


def record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def write_run(path: Path, scalars: int, start: int = 0) -> int:
    """train/loss every step, lr and eval/loss every 10th: `scalars` scalars in all."""
    chunks = []
    step, count = start, 0
    while count < scalars:
        chunks.append(record(scalar_event("train/loss", step, 1.7e9 + step, 1 / (step + 1))))
        count += 1
        if step % 10 == 0:
            for tag in ("train/learning_rate", "eval/loss"):
                if count < scalars:
                    chunks.append(record(scalar_event(tag, step, 1.7e9 + step, 0.001)))
                    count += 1
        step += 1
    with path.open("ab") as handle:
        handle.write(b"".join(chunks))
    return step


PEAK = r"""
import sys
from metricwatch.cli import main
main(["summary", "--json", sys.argv[1]])
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec.
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(peak, file=sys.stderr)
"""


def summary_peak_mib(run: Path) -> float:
    """The peak resident memory of a fresh `metricwatch summary --json run`."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def bench_run(run: Path, repeats: int) -> None:
    """Time read_event_dir on an existing run and measure summary's peak memory."""
    whole = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = read_event_dir(run)
        whole.append(time.perf_counter() - started)
    points = sum(len(s) for s in result.table.series.values())
    print(f"read_event_dir: median {statistics.median(whole):.3f} s ({points:,} points)")
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder)
        write_run(small / "events.out.tfevents.1700000000.host.1.0", 1000)
        base = summary_peak_mib(small)
    peak = summary_peak_mib(run)
    per_point = (peak - base) * 2**20 / points
    print(f"summary --json peak: {peak:.1f} MiB (base {base:.1f}), {per_point:.0f} B a point")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scalars", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", type=Path, help="an existing run directory to measure")
    args = parser.parse_args()
    if args.run is not None:
        bench_run(args.run, args.repeats)
        return
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        path = run / "events.out.tfevents.1700000000.host.1.0"
        started = time.perf_counter()
        next_step = write_run(path, args.scalars)
        print(
            f"wrote {args.scalars:,} scalars ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        whole = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = read_event_dir(run)
            whole.append(time.perf_counter() - started)
        points = sum(len(s) for s in result.table.series.values())
        print(f"read_event_dir: median {statistics.median(whole):.3f} s ({points:,} points)")
        tail = EventDirTail(run)
        tail.read()
        updates = []
        for _ in range(args.repeats):
            next_step = write_run(path, 10, next_step)
            started = time.perf_counter()
            tail.read()
            updates.append(time.perf_counter() - started)
        update_ms = statistics.median(updates) * 1e3
        print(f"EventDirTail.read after 10 new records: median {update_ms:.1f} ms")


if __name__ == "__main__":
    main()

"""The live monitor's CPU per thread while a long run is written, for builds side by side.

On a shared VM the CPU a build uses moves with the host by a third or more from
one hour to the next; builds measured one after the other, alternately, are the
comparison that holds. For each round and each build (a folder holding a
metricwatch checkout: this repository by default, an older one from
`git worktree add /tmp/old REV`), this:

1. copies a run of about --points values in one format (written once by
   format_logs.py into a cache folder, then copied for each measurement, since
   the writer appends to it);
2. starts the real command `python -m metricwatch RUN` of that build in a
   detached tmux session (120x40) and waits until it has loaded the run;
3. starts the writer (bench_formats.py --writer: --rate steps a second, as the
   framework writes) and, after 3 s, takes the CPU (utime + stime) of every
   thread of the monitor over --seconds from /proc/PID/task/*/stat;
4. prints the process's CPU as a percentage of one core, then each thread's:
   `main` is the UI thread, the others are the watch thread, the I/O pool,
   and Textual's input and output threads, largest first.

    python benchmarks/bench_live_threads.py --format lightning_csv [--builds . /tmp/old]
                                            [--rounds 3] [--seconds 20] [--points 1000000]

Needs tmux. Run it on a machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

import bench_formats as bf  # noqa: E402
import format_logs as fl  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _cached_run(name: str, points: int, cache: Path) -> tuple[Path, Path]:
    """The run and its writer state, written once per format and size."""
    folder = cache / f"{name}-{points}"
    run, state = folder / "run", folder / "state.json"
    if not state.exists():
        shutil.rmtree(folder, ignore_errors=True)
        fmt = fl.make(name, run)
        fmt.generate(points)
        fl.save_state(fmt, state)
    return run, state


def _thread_ticks(pid: int) -> dict[int, int]:
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks


def measure(build: Path, name: str, run: Path, state: Path, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="mw-threads-") as folder:
        copy, copy_state = Path(folder) / "run", Path(folder) / "state.json"
        shutil.copytree(run, copy, symlinks=True)
        shutil.copy(state, copy_state)
        socket = f"mw-threads-{os.getpid()}"
        writer = None
        try:
            pid = bf.start_monitor(build, copy, socket)
            bf._settle(pid, 4.0)
            writer = subprocess.Popen(
                bf._writer_args(name, copy, copy_state, args.seconds + 10, args.rate),
                stdout=subprocess.PIPE,
                text=True,
            )
            assert writer.stdout is not None
            json.loads(writer.stdout.readline())  # ready
            time.sleep(3.0)
            before, started = _thread_ticks(pid), time.monotonic()
            time.sleep(args.seconds)
            after, elapsed = _thread_ticks(pid), time.monotonic() - started
        finally:
            if writer is not None:
                writer.kill()
                writer.wait()
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    share = {
        tid: (ticks - before.get(tid, 0)) / TICKS / elapsed * 100 for tid, ticks in after.items()
    }
    others = sorted((value for tid, value in share.items() if tid != pid), reverse=True)
    parts = [f"main {share.get(pid, 0.0):.2f}"] + [f"{value:.2f}" for value in others if value]
    return f"{sum(share.values()):5.2f} %  ({', '.join(parts)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="lightning_csv", help="a name in format_logs.py")
    parser.add_argument("--builds", nargs="+", type=Path, default=[HERE.parent])
    parser.add_argument("--rounds", type=int, default=1, help="each build measured this often")
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU taken over this long")
    parser.add_argument("--rate", type=float, default=10.0, help="steps written a second")
    parser.add_argument("--points", type=int, default=1_000_000, help="values in the run")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mw-bench-runs")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("bench_live_threads: needs tmux")
    run, state = _cached_run(args.format, args.points, args.cache)
    for round_ in range(1, args.rounds + 1):
        for build in args.builds:
            figures = measure(build.resolve(), args.format, run, state, args)
            print(f"round {round_}  {build}  {args.format}: {figures}", flush=True)


if __name__ == "__main__":
    main()

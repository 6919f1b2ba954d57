"""The watcher's own CPU per live write, outside the log's parse: events, classify, loader.

The monitor's watch thread, per write of a live run, reads the file events (inotify),
turns them into run updates (RunTree.classify) and reads the run (RunLoader.load: the
new bytes, the side files, the parse of the new lines). The parse has benchmarks of its
own (bench_append_write.py); this one measures the rest, without the UI:

- a run of about --points values in a framework's shape (benchmarks/format_logs.py;
  Lightning's metrics.csv, whose hparams.yaml is rewritten at every flush, by default),
  generated, or copied from --run (a folder made by `bench_formats.py --generate`, with
  its state file as --state);
- a RunWatcher (events) and a RunLoader on it, in a thread of their own, as the monitor
  runs them: every batch of updates is loaded;
- a writer in this process logging --rate steps a second for --seconds.

The watch thread's CPU (its clock, from the first write to the last read) is split into
the parse (AppendedLog.update: a log read by its new lines; a format read whole or by a
tail counts in the loader), classify, the loader without the parse, and the rest
(reading events, the watch loop); each is printed per write, the median of --repeat
rounds.
With --profile, the watch thread's functions outside the parse are listed (cProfile).

    python benchmarks/bench_watch_write.py [--format lightning_csv] [--points 1000000]
        [--seconds 10] [--rate 10] [--repeat 3] [--run DIR --state FILE] [--profile]

Runs against the metricwatch of the repository it sits in (its parent folder). It
prints figures and asserts nothing: the machine's load moves them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import format_logs as fl  # noqa: E402

from metricwatch.readers.appended import AppendedLog  # noqa: E402
from metricwatch.sources.loader import RunLoader  # noqa: E402
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode  # noqa: E402

PARTS = ("parse", "classify", "loader (no parse)", "rest (events, loop)")


class Meter:
    """CPU of the calling thread spent in wrapped functions, by label (the parse is
    subtracted from the calls that hold it)."""

    def __init__(self) -> None:
        self.spent: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.armed = False

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.armed:
                return original(*args, **kwargs)
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[label] += time.thread_time() - started
                self.calls[label] += 1

        setattr(owner, name, timed)


def prepare(args: argparse.Namespace, root: Path, state: Path) -> None:
    """The run under root and the writer's state: copied from --run, or generated."""
    if args.run is not None:
        shutil.copytree(args.run, root)
        shutil.copy(args.state, state)
        return
    writer = fl.make(args.format, root)
    writer.generate(args.points)
    fl.save_state(writer, state)


def watch(watcher: RunWatcher, loader: RunLoader, stop: threading.Event) -> None:
    """The monitor's watch loop without the UI: load what each batch names."""
    for updates in watcher.batches(stop):
        for update in updates:
            if update.kind is not UpdateKind.GONE:
                loader.load(update.name, update.metrics_path)


def thread_cpu(thread: threading.Thread) -> float:
    """The CPU seconds a running thread has used so far."""
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def one_round(args: argparse.Namespace, work: Path, meter: Meter) -> dict[str, float]:
    """One watched run written for --seconds: the watch thread's CPU per write, by part."""
    root, state = work / "run", work / "state.json"
    prepare(args, root, state)
    watcher = RunWatcher(root, WatchMode(False))
    loader = RunLoader()
    for update in watcher.initial():
        loader.load(update.name, update.metrics_path)  # the first read: not measured
    stop = threading.Event()
    profile = cProfile.Profile() if args.profile else None

    def run() -> None:
        if profile is not None:
            profile.enable()
        watch(watcher, loader, stop)
        if profile is not None:
            profile.disable()

    thread = threading.Thread(target=run, name="metricwatch-watch", daemon=True)
    meter.spent.clear()
    meter.calls.clear()
    thread.start()
    time.sleep(1.0)  # the watch is in place, its first look at the run done
    writer = fl.load_state(args.format, root, state)
    started = thread_cpu(thread)
    meter.armed = True
    writes = write(writer, args.seconds, args.rate)
    time.sleep(0.5)  # the last write read
    meter.armed = False
    total = thread_cpu(thread) - started
    stop.set()
    thread.join(10)
    loader.close()
    parse = meter.spent["parse"]
    result = {
        "writes": writes,
        "loads": meter.calls["load"],
        "total": total / writes,
        "parse": parse / writes,
        "classify": meter.spent["classify"] / writes,
        "loader (no parse)": (meter.spent["load"] - parse) / writes,
    }
    result["rest (events, loop)"] = (total - meter.spent["load"] - meter.spent["classify"]) / writes
    if profile is not None:
        report_profile(profile)
    shutil.rmtree(work / "run")
    return result


def write(writer: fl.LogFormat, seconds: float, rate: float) -> int:
    """Steps logged at rate a second for seconds; how many."""
    start = time.monotonic()
    steps = 0
    try:
        while steps < seconds * rate:
            delay = start + steps / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            writer.step()
            steps += 1
    finally:
        writer.close()
    return steps


def report_profile(profile: cProfile.Profile) -> None:
    """The watch thread's calls by their own time, the waits and the parse left out."""
    stats = pstats.Stats(profile)
    stats.dump_stats(str(Path(tempfile.gettempdir()) / "bench_watch_write.prof"))
    stats.sort_stats("cumulative").print_stats(
        r"metricwatch/(?!readers/(appended|csv|lightning))", 50
    )


def run_rounds(args: argparse.Namespace, meter: Meter) -> list[dict[str, float]]:
    rounds = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="mw-watch-") as tmp:
            rounds.append(one_round(args, Path(tmp), meter))
        print(f"  round {index + 1}: " + describe(rounds[-1]), file=sys.stderr, flush=True)
    return rounds


def describe(result: dict[str, float]) -> str:
    parts = ", ".join(f"{part} {1000 * result[part]:.3f}" for part in PARTS)
    outside = 1000 * (result["total"] - result["parse"])
    return f"{outside:.3f} ms a write outside the parse ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="lightning_csv", choices=sorted(fl.FORMATS))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run", type=Path, help="a generated run to copy (with --state)")
    parser.add_argument("--state", type=Path, help="the writer state of --run")
    parser.add_argument("--profile", action="store_true", help="list the watch thread's calls")
    args = parser.parse_args()
    if (args.run is None) != (args.state is None):
        parser.error("--run and --state go together")
    meter = Meter()
    meter.wrap(AppendedLog, "update", "parse")  # the parse of an appended log's new lines
    meter.wrap(RunWatcher, "classify", "classify")
    meter.wrap(RunLoader, "load", "load")
    rounds = run_rounds(args, meter)
    print(
        f"{args.format}, {args.rate:g} writes a second, {args.seconds:g} s, medians of "
        f"{len(rounds)} (ms of the watch thread's CPU per write):"
    )
    for part in ("total", *PARTS):
        print(f"  {part:22s} {1000 * statistics.median(r[part] for r in rounds):7.3f}")
    outside = statistics.median(r["total"] - r["parse"] for r in rounds)
    print(f"  {'outside the parse':22s} {1000 * outside:7.3f}")
    loads = statistics.median(r["loads"] / r["writes"] for r in rounds)
    print(f"  {'loads per write':22s} {loads:7.2f}")


if __name__ == "__main__":
    main()

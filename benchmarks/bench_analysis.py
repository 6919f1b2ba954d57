"""What one analysis of a long run costs: the summary and the rules, per format.

The monitor analyses a live run at most every 5 s and within a quarter of a
percent of a core (metricwatch.tui.ingest.ANALYSIS_SHARE): what an analysis
costs decides how often. For each format, a run of about --points logged
values is written in that framework's shape (benchmarks/format_logs.py), read
once, then summarize() and diagnose() are timed with this thread's CPU clock,
the median of --repeat.

    python benchmarks/bench_analysis.py [--points 1000000] [--repeat 7]
                                        [--formats metricwatch_steps,tfevents]

Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import format_logs as fl  # noqa: E402

from metricwatch.analysis.diagnostics import diagnose  # noqa: E402
from metricwatch.analysis.summary import summarize  # noqa: E402
from metricwatch.model import Run  # noqa: E402
from metricwatch.run_parts import expand  # noqa: E402
from metricwatch.sources.discovery import scan  # noqa: E402
from metricwatch.sources.loader import RunLoader  # noqa: E402


def _read(root: Path) -> Run:
    location = scan(root).runs[0]
    return expand(RunLoader().load(location.name, location.metrics_path))[0]


def _cpu_ms(work: Callable[[Run], object], run: Run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        work(run)
        times.append(time.thread_time() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="values logged per run")
    parser.add_argument("--repeat", type=int, default=7, help="analyses timed per format")
    parser.add_argument(
        "--formats",
        default="lightning_csv,detectron2,metricwatch_steps,keras_csv,ultralytics,tfevents,mlflow",
        help="comma-separated names from benchmarks/format_logs.py",
    )
    args = parser.parse_args()
    print(f"{'format':20} {'points':>9} {'summarize ms':>13} {'diagnose ms':>12}  findings")
    for name in args.formats.split(","):
        with tempfile.TemporaryDirectory() as folder:
            fmt = fl.make(name, Path(folder) / "run")
            fmt.generate(args.points)
            run = _read(fmt.root)
            points = sum(len(run.series(key)) for key in run.keys)
            diagnose(run)  # warm: imports, caches of a first call
            summary_ms = _cpu_ms(summarize, run, args.repeat)
            diagnose_ms = _cpu_ms(diagnose, run, args.repeat)
            found = ", ".join(finding.id for finding in diagnose(run)) or "none"
            print(f"{name:20} {points:>9,} {summary_ms:>13.1f} {diagnose_ms:>12.1f}  {found}")


if __name__ == "__main__":
    main()

"""Command line: `metricwatch PATH`, `metricwatch summary PATH`, `metricwatch demo`.

Exit codes: 0 fine; 2 the path (or the arguments) cannot be used; 3 a
finding at or above --fail-on exists; 130 interrupted. Errors are one line
on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metricwatch import __version__
from metricwatch.diagnostics import Finding, Severity, diagnose
from metricwatch.discovery import DiscoveryError, discover_runs, resolve_root
from metricwatch.loader import RunLoader
from metricwatch.model import Run
from metricwatch.readers import DAMAGE_KINDS
from metricwatch.safetext import printable
from metricwatch.summary import RunSummary, summarize

EXIT_OK = 0
EXIT_UNUSABLE = 2
EXIT_FINDINGS = 3
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "summary":
            return _summary_command(_summary_parser().parse_args(args[1:]))
        if args and args[0] == "demo":
            return _demo_command(_demo_parser().parse_args(args[1:]))
        return _monitor_command(_monitor_parser().parse_args(args))
    except (CliError, DiscoveryError) as error:
        print(f"metricwatch: {printable(error)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# --- parsers ---------------------------------------------------------------------------------


def _monitor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metricwatch",
        description="Watch ML training runs live: loss curves, metrics, LR schedule and "
        "diagnostics. Other commands: `metricwatch summary PATH` (headless), "
        "`metricwatch demo [DIR]` (a simulated live run).",
    )
    _add_path_argument(parser)
    parser.add_argument(
        "--poll",
        nargs="?",
        type=_positive_seconds,
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="poll the files every SECONDS (default 2) instead of reacting to "
        "file-system events; chosen automatically on network filesystems",
    )
    parser.add_argument("--version", action="version", version=f"metricwatch {__version__}")
    return parser


def _add_path_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a metrics.json, a run directory, or a directory of runs",
    )


def _summary_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metricwatch summary",
        description="Print each run's summary table and diagnostic findings, without the TUI.",
    )
    _add_path_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity],
        default=None,
        help="exit with code 3 when any finding at or above this severity exists",
    )
    return parser


def _demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metricwatch demo",
        description="Write a simulated training run live and open the monitor on it.",
    )
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=None,
        metavar="DIR",
        help="where to write the run (default: a new temporary directory)",
    )
    parser.add_argument(
        "--interval",
        type=_positive_seconds,
        default=0.5,
        help="seconds between simulated epochs (default 0.5)",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=60, help="epochs to simulate (default 60)"
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


# --- commands --------------------------------------------------------------------------------


def _monitor_command(args: argparse.Namespace) -> int:
    resolve_root(args.path)
    from metricwatch.tui.app import run_monitor  # textual loads only when the TUI is wanted

    return run_monitor(args.path, poll_interval=args.poll)


def _demo_command(args: argparse.Namespace) -> int:
    from metricwatch.simulate import run_demo_writer
    from metricwatch.tui.app import run_monitor

    root = args.directory or Path(tempfile.mkdtemp(prefix="metricwatch-demo-"))
    run_dir = root / "demo-classifier"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"{root}: cannot create the demo run ({error.strerror})") from None
    stop = threading.Event()
    failures: list[OSError] = []

    def write_demo() -> None:
        try:
            run_demo_writer(run_dir, epochs=args.epochs, interval=args.interval, stop=stop)
        except OSError as error:  # reported after the TUI closes, not over it
            failures.append(error)

    writer = threading.Thread(target=write_demo, name="demo-writer", daemon=True)
    writer.start()
    try:
        return run_monitor(root)
    finally:
        stop.set()
        writer.join(timeout=2)
        for error in failures:
            print(f"metricwatch: the demo writer stopped: {error}", file=sys.stderr)
        print(f"metricwatch: the demo run is in {run_dir}", file=sys.stderr)


def _summary_command(args: argparse.Namespace) -> int:
    locations = discover_runs(args.path)
    if not locations:
        raise CliError(f"{args.path}: no runs found (no metrics.json at or below it)")
    loader = RunLoader()
    reports = []
    for location in locations:
        run = loader.load(location.name, location.metrics_path)
        reports.append((run, summarize(run), diagnose(run)))
    if all(not run.records and _damaged(run) for run, _, _ in reports):
        run = reports[0][0]
        reasons = printable("; ".join(p.message for p in run.problems))
        if len(reports) == 1:
            raise CliError(f"{printable(run.path)}: cannot be read: {reasons}")
        raise CliError(
            f"{printable(args.path)}: none of its {len(reports)} runs can be read "
            f"(first, {printable(run.name)}: {reasons})"
        )
    if args.json:
        payload = {
            "runs": [_run_json(run, summary, findings) for run, summary, findings in reports]
        }
        print(json.dumps(_json_safe(payload), indent=2, allow_nan=False))
    else:
        from metricwatch.report import print_reports

        print_reports(reports)
    if args.fail_on is not None:
        threshold = Severity(args.fail_on).rank
        if any(f.severity.rank >= threshold for _, _, findings in reports for f in findings):
            return EXIT_FINDINGS
    return EXIT_OK


def _damaged(run: Run) -> bool:
    return any(p.kind in DAMAGE_KINDS for p in run.problems)


def _run_json(run: Run, summary: RunSummary, findings: list[Finding]) -> dict[str, Any]:
    return {
        "name": run.name,
        "path": str(run.path),
        "epochs": summary.epochs,
        "total_epochs": summary.total_epochs,
        "task": summary.task.value if summary.task else None,
        "best_epoch": summary.best_epoch,
        "best_by": summary.best_by,
        "training_time_s": summary.training_time_s,
        "mean_epoch_s": summary.mean_epoch_s,
        "last": summary.last,
        "best": {key: {"value": b.value, "epoch": b.epoch} for key, b in summary.best.items()},
        "diagnostics": [
            {
                "id": f.id,
                "severity": f.severity.value,
                "message": f.message,
                "observation": f.observation,
                "evidence": f.evidence,
                "cause": f.cause,
                "action": f.action,
                "epoch": f.epoch,
            }
            for f in findings
        ],
        "problems": [p.message for p in run.problems],
        "problem_kinds": [p.kind.value for p in run.problems],
    }


def _json_safe(value: Any) -> Any:
    """NaN and Inf are not JSON: they come out as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value

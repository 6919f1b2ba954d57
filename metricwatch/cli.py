"""Command line: `metricwatch PATH`, `metricwatch summary PATH`, `metricwatch demo`,
`metricwatch snapshot PATH`, `metricwatch serve PATH` (metricwatch.serve.command).

Exit codes: 0 fine; 2 the path (or the arguments) cannot be used, or the
output cannot be written (a full disk: one line on stderr); 3 a finding at
or above --fail-on exists (or a run could not be diagnosed); 130
interrupted; 141 the reader of the output went away (`| head`): quietly,
as the shell reports any program stopped by SIGPIPE. Errors are one line
on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
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
from metricwatch.allocator import keep_freed_memory
from metricwatch.analysis.diagnostics import Severity
from metricwatch.json_out import json_safe
from metricwatch.model import Run
from metricwatch.readers import DAMAGE_KINDS
from metricwatch.run_parts import expand
from metricwatch.safetext import printable
from metricwatch.sources.discovery import DiscoveryError, resolve_root, scan
from metricwatch.sources.loader import RunLoader

EXIT_OK = 0
EXIT_UNUSABLE = 2
EXIT_FINDINGS = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell reports for `cat big | head -1`

MONITOR_EPILOG = """PATH may not exist yet: the monitor waits for it and shows runs as they appear.
A server (http://HOST:PORT, running `metricwatch serve`) shows its runs as HOST:PORT/RUN,
live; one that goes away keeps its runs on screen and is tried again.

exit codes:
  0    quit with q
  2    PATH cannot be used (not a directory or a log a reader claims, or
       permission denied), or bad arguments: one line on stderr"""

EXIT_CODES_EPILOG = """exit codes:
  0    fine
  2    the path does not exist, holds no runs or cannot be read; bad arguments;
       or the output cannot be written (e.g. a full disk): one line on stderr
  3    a finding at or above --fail-on (each one named on stderr); with
       --fail-on, also a run that could not be diagnosed
  130  interrupted (Ctrl+C)
  141  the output's reader went away (`| head`): nothing more is written, no
       message, as for any program stopped by SIGPIPE"""


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


class OutputError(Exception):
    """Standard output cannot be written (ENOSPC, EIO...): one line on stderr, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    try:
        try:
            code = _dispatch(args)
        except SystemExit:
            _flush_stdout()  # --help and --version print to stdout too
            raise
        _flush_stdout()
        return code
    except (CliError, DiscoveryError) as error:
        print(f"metricwatch: {printable(error)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed early: stop quietly, as `cat` would.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OutputError as error:
        _discard_stdout()
        print(f"metricwatch: cannot write the output: {error}", file=sys.stderr)
        return EXIT_UNUSABLE


def _dispatch(args: list[str]) -> int:
    if args and args[0] == "summary":
        return _summary_command(_summary_parser().parse_args(args[1:]))
    if args and args[0] == "demo":
        return _demo_command(_demo_parser().parse_args(args[1:]))
    if args and args[0] == "snapshot":
        return _snapshot_command(_snapshot_parser().parse_args(args[1:]))
    if args and args[0] == "serve":
        from metricwatch.serve.command import serve_command, serve_parser

        return serve_command(serve_parser(_Parser, _add_poll_argument).parse_args(args[1:]))
    return _monitor_command(_monitor_parser().parse_args(args))


def _flush_stdout() -> None:
    """Flush what is buffered for stdout, so a failed write is ours to report, not Python's."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(_write_reason(error)) from None


def _write_reason(error: OSError) -> str:
    if error.errno is not None:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit cannot fail again."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return  # not a real file (tests capture it): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


# --- parsers ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, except that a failed write of --help or --version to stdout is not ignored.

    argparse drops the OSError (a full disk) and exits 0 with nothing written;
    here it reaches main(), which reports it like any other output error.
    """

    def _print_message(self, message: str, file: Any = None) -> None:
        if message and file is sys.stdout:
            try:
                sys.stdout.write(message)
            except BrokenPipeError:
                raise
            except OSError as error:
                raise OutputError(_write_reason(error)) from None
            return
        super()._print_message(message, file)


def _monitor_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="metricwatch",
        description="Watch ML training runs live: loss curves, metrics, LR schedule and "
        "diagnostics. Other commands: `metricwatch summary PATH` (headless), "
        "`metricwatch demo [DIR]` (simulated live runs, one going wrong), "
        "`metricwatch serve PATH` (an HTTP API and event stream).",
        epilog=MONITOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="PATH",
        help="a metrics.json, a run directory, or a directory of runs; or a server, "
        "http://HOST:PORT (`metricwatch serve`): one PATH and any number of servers",
    )
    _add_poll_argument(parser)
    parser.add_argument(
        "--token", default=None, help="the servers' token (default: $METRICWATCH_TOKEN)"
    )
    parser.add_argument("--version", action="version", version=f"metricwatch {__version__}")
    return parser


def _add_poll_argument(parser: argparse.ArgumentParser) -> None:
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


def _add_path_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a metrics.json, a run directory, or a directory of runs",
    )


def _summary_parser() -> argparse.ArgumentParser:
    from metricwatch.report import TABLE_ABOVE

    parser = _Parser(
        prog="metricwatch summary",
        description="Print each run's summary and diagnostic findings, without the TUI: "
        f"a box per run for up to {TABLE_ABOVE} runs, one table row per run above that.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_path_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--detail",
        action="store_true",
        help="a box per run (its summary table and every finding) however many runs there are",
    )
    parser.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity if s.alarm],  # info is advice, never a failure
        default=None,
        help="exit with code 3 when any finding at or above this severity exists "
        "(each one is named on stderr)",
    )
    return parser


def _demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="metricwatch demo",
        description="Write two simulated training runs live and open the monitor on them: "
        "one healthy, one that starts overfitting a third of the way in (watch its "
        "finding appear).",
    )
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=None,
        metavar="DIR",
        help="where to write the runs (default: a new temporary directory)",
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


def _snapshot_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="metricwatch snapshot",
        description="Save the monitor's screen for PATH as an SVG file, headless (for "
        "scripts and reports): what `e` saves in the monitor.",
        epilog="exit codes:\n  0    written\n  2    PATH holds no runs, no run is named "
        "NAME, or FILE cannot be written: one line on stderr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_path_argument(parser)
    parser.add_argument("--run", metavar="NAME", help="the run to show (default: the first)")
    parser.add_argument(
        "--size", default="120x40", metavar="COLSxROWS", help="the terminal size (default 120x40)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.svg")
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
    from metricwatch.sources.remote import split_sources

    token = args.token if args.token is not None else os.environ.get("METRICWATCH_TOKEN")
    try:
        path, remotes = split_sources(args.sources, token)
    except ValueError as error:
        raise CliError(str(error)) from None
    if path is not None:
        resolve_root(path)
    run_monitor = _import_monitor()
    root = path or Path(remotes[0].label)  # servers only: the root just names the view
    return run_monitor(root, poll_interval=args.poll, remotes=remotes, local=path is not None)


def _import_monitor() -> Any:
    """The TUI's entry point (textual loads only when the TUI is wanted).

    Importing it makes about 90,000 objects that live as long as the process. The
    garbage collector walked them again and again while they were made, about 70 ms of
    a 0.6 s import, and would at each full collection after; so it is paused for the
    import, and what the import made is frozen (never walked again; a few cycles the
    import leaves stay, as import-time garbage usually does)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        from metricwatch.tui.app import run_monitor
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    return run_monitor


def _demo_command(args: argparse.Namespace) -> int:
    from metricwatch.simulate import demo_run_dirs, run_demo_writer

    run_monitor = _import_monitor()

    root = args.directory or Path(tempfile.mkdtemp(prefix="metricwatch-demo-"))
    try:
        for run_dir in demo_run_dirs(root):
            run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"{root}: cannot create the demo runs ({error.strerror})") from None
    stop = threading.Event()
    failures: list[OSError] = []

    def write_demo() -> None:
        try:
            run_demo_writer(root, epochs=args.epochs, interval=args.interval, stop=stop)
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
        print(f"metricwatch: the demo runs are in {root}", file=sys.stderr)


def _snapshot_command(args: argparse.Namespace) -> int:
    from metricwatch.tui.export import parse_size, take_snapshot

    try:
        size = parse_size(args.size)
    except ValueError as error:
        raise CliError(str(error)) from None
    root = resolve_root(args.path)
    if not root.exists():
        raise CliError(f"{printable(args.path)}: does not exist")
    output = args.output if args.output.suffix else args.output.with_suffix(".svg")
    if not output.parent.is_dir():
        where = printable(output.parent)
        raise CliError(f"cannot write {printable(output)}: no directory {where}")
    problem = take_snapshot(root, output.resolve(), run=args.run, size=size)
    if problem is not None:
        raise CliError(problem)
    return EXIT_OK


def _summary_command(args: argparse.Namespace) -> int:
    from metricwatch.report import build_report, print_reports, run_json

    found = scan(args.path)
    for error in found.errors:  # a directory we could not search: its runs are not listed
        print(f"metricwatch: not searched: {printable(error)}", file=sys.stderr)
    locations = found.runs
    if not locations:
        raise CliError(f"{args.path}: no runs found (no log a reader claims at or below it)")
    loader = RunLoader()
    # A file of several runs (an MLflow store, Keras fits appended) gives one entry each.
    runs = [
        run
        for location in locations
        for run in expand(loader.load(location.name, location.metrics_path))
    ]
    if all(run.epochs_done == 0 and _damaged(run) for run in runs):
        run = runs[0]
        reasons = printable("; ".join(p.message for p in run.problems))
        if len(runs) == 1:
            raise CliError(f"{printable(run.path)}: cannot be read: {reasons}")
        raise CliError(
            f"{printable(args.path)}: none of its {len(runs)} runs can be read "
            f"(first, {printable(run.name)}: {reasons})"
        )
    reports = [build_report(run) for run in runs]
    try:
        if args.json:
            payload = {"runs": [run_json(report) for report in reports]}
            sys.stdout.write(json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")
        else:
            print_reports(reports, _stdout_console(), detail=args.detail)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:  # only writing happens here: the runs were read above
        raise OutputError(_write_reason(error)) from None
    if args.fail_on is None:
        return EXIT_OK
    return _fail_on(reports, Severity(args.fail_on))


def _stdout_console() -> Any:
    """A rich console on stdout that lets a closed pipe surface as BrokenPipeError.

    Rich's own handling exits with code 1; main() turns it into the documented 141.
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console()


def _fail_on(reports: Sequence[Any], threshold: Severity) -> int:
    """Exit code 3, with one stderr line per finding (and undiagnosed run) that causes it."""
    lines = []
    runs = 0
    for report in reports:
        name = printable(report.run.name)
        causes = [
            f"{name}: {f.severity.value} {printable(f.id)}: {printable(f.message)}"
            for f in report.findings
            if f.severity.rank >= threshold.rank
        ]
        if not report.diagnosed:
            causes.extend(f"{name}: {error}" for error in report.errors)
        lines.extend(causes)
        runs += bool(causes)
    if not lines:
        return EXIT_OK
    for line in lines:
        print(f"metricwatch: {line}", file=sys.stderr)
    print(
        f"metricwatch: --fail-on {threshold.value}: {len(lines)} "
        f"{'cause' if len(lines) == 1 else 'causes'} in {runs} of {len(reports)} runs (exit 3)",
        file=sys.stderr,
    )
    return EXIT_FINDINGS


def _damaged(run: Run) -> bool:
    return any(p.kind in DAMAGE_KINDS for p in run.problems)

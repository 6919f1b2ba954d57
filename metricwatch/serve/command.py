"""`metricwatch serve PATH`: its arguments and checks, before any server starts.

Kept apart from metricwatch.cli (which dispatches here, handing over its parser
class and its --poll option) so cli.py stays small. aiohttp is imported only once the arguments are
good and it is known to be installed: without it, one line says how to get it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from metricwatch.safetext import printable
from metricwatch.serve.auth import TOKEN_ENV, AddressError, check_bind
from metricwatch.sources.discovery import resolve_root

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
INSTALL_HINT = "metricwatch serve needs aiohttp: pip install 'metricwatch[serve]'"

DESCRIPTION = (
    "Serve the runs under PATH as a read-only HTTP JSON API with live Server-Sent Events "
    "(needs the `serve` extra: aiohttp)."
)
EPILOG = f"""Endpoints (JSON; NaN and Inf as null):
  GET /api/runs                          every run: id, status, epochs, findings...
  GET /api/training/RUN_ID/metrics       {{"epochs": [...]}} or {{"steps": [...]}}; ?since=N
  GET /api/training/RUN_ID/summary       what `summary --json` says of the run
  GET /api/training/RUN_ID/events        Server-Sent Events of the run
  GET /api/events                        Server-Sent Events of every run

Any --host other than a loopback address needs a token (--token or {TOKEN_ENV}),
sent as `Authorization: Bearer TOKEN` (or `?token=TOKEN` on the event streams);
prefer {TOKEN_ENV} to --token, which `ps` shows to every user.

exit codes:
  0    stopped by SIGTERM
  2    bad arguments, PATH unusable, the address or port cannot be used, no
       token for a non-loopback host, or aiohttp missing: one line on stderr
  130  stopped with Ctrl+C"""


def serve_parser(
    parser_class: type[argparse.ArgumentParser],
    add_poll: Callable[[argparse.ArgumentParser], None],
) -> argparse.ArgumentParser:
    """The parser, of the CLI's parser class (its --help write errors are reported), with
    the CLI's --poll option (the monitor's)."""
    parser = parser_class(
        prog="metricwatch serve",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    add_poll(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=Path, metavar="PATH", help="a run directory, a log, or a directory of runs"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"require this token on every request (default: ${TOKEN_ENV}); "
        "needed for any host but loopback",
    )
    parser.add_argument(
        "--cors",
        default=None,
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. http://localhost:3000) read the API; off by default",
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535: {text!r}")
    return value


def serve_command(args: argparse.Namespace) -> int:
    """Check everything that can be checked without a server, then serve. A problem the
    user can fix raises CliError (one line, exit 2)."""
    from metricwatch.cli import CliError

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    if token is not None:
        # A request's token is read without the spaces around it: so is this one, or a
        # token pasted with a newline could never match.
        token = token.strip()
        if not token:
            raise CliError(f"the token is empty (--token or ${TOKEN_ENV})")
    try:
        check_bind(args.host, token)
    except AddressError as error:
        raise CliError(str(error)) from None
    root = resolve_root(args.path)
    try:
        import aiohttp  # noqa: F401 - only to say how to install it when it is missing
    except ImportError:
        raise CliError(INSTALL_HINT) from None
    from metricwatch.serve.server import ServeError, ServeOptions, run_server
    from metricwatch.watch import choose_mode

    options = ServeOptions(
        root=root,
        host=args.host,
        port=args.port,
        mode=choose_mode(root, args.poll),
        token=token,
        cors=args.cors,
    )
    try:
        return run_server(options)
    except ServeError as error:
        raise CliError(printable(str(error))) from None

"""Running the server: bind, follow the runs, serve until Ctrl+C or SIGTERM.

The socket is bound first, so a port in use or an address this machine does
not have is said at once (one line, exit 2); then the runs are found and
loaded, and one line says where they are served. Ctrl+C stops it (exit 130,
as for every metricwatch command), SIGTERM too (exit 0).
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from metricwatch.safetext import printable
from metricwatch.serve.app import make_app
from metricwatch.serve.feed import ServeFeed
from metricwatch.serve.registry import RunRegistry
from metricwatch.watch import WatchMode

EXIT_OK = 0
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130


class ServeError(Exception):
    """The server cannot start or stopped on an error: one line for the user."""


@dataclass(frozen=True)
class ServeOptions:
    root: Path
    host: str
    port: int
    mode: WatchMode
    token: str | None = None
    cors: str | None = None


def say(message: str) -> None:
    print(f"metricwatch: {printable(message)}", file=sys.stderr, flush=True)


def run_server(options: ServeOptions) -> int:
    """Serve until stopped; the exit code. Raises ServeError for a server that cannot start."""
    return asyncio.run(_serve(options))


async def _serve(options: ServeOptions) -> int:
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    def fatal(message: str) -> None:
        say(message)
        loop.call_soon_threadsafe(stop, EXIT_UNUSABLE)

    registry = RunRegistry()
    app = make_app(registry, root=options.root, token=options.token, cors=options.cors)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    ready = asyncio.Event()
    feed = ServeFeed(
        options.root,
        registry,
        options.mode,
        say=say,
        on_fatal=fatal,
        on_ready=lambda: loop.call_soon_threadsafe(ready.set),
    )
    try:
        port = await _listen(runner, options.host, options.port)
        for signum, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_OK)):
            loop.add_signal_handler(signum, stop, code)
        feed.start()
        loaded = asyncio.ensure_future(ready.wait())
        await asyncio.wait([loaded, stopped], return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        if stopped.done():
            return stopped.result()
        views, _ = registry.views()
        say(
            f"serving {len(views)} {'run' if len(views) == 1 else 'runs'} of {options.root} "
            f"at {_url(options.host, port)}/api/runs (Ctrl+C stops)"
        )
        return await stopped
    finally:
        feed.stop()
        await runner.cleanup()


async def _listen(runner: web.AppRunner, host: str, port: int) -> int:
    """Bind and listen; the port (the one given, or the one chosen for port 0)."""
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        raise ServeError(f"cannot listen on {_url(host, port)}: {_reason(error)}") from None
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return port


def _reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror or error})"
    if error.errno == errno.EADDRINUSE:
        return "the port is in use (another server? pick one with --port)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address"
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno).lower()
    return str(error) or type(error).__name__


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"

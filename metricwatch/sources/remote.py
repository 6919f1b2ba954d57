"""Runs served by `metricwatch serve` on another machine, as Runs: the client side.

`metricwatch http://gpu1:8765` shows a server's runs as the monitor shows local
ones: the API's records become the same Run model (named `gpu1:8765/<run>`), so
the charts, summaries and findings are computed here by the same functions.

One RemoteClient per server, in one thread: it fetches the runs
(`GET /api/runs`, then each run's metrics), then follows `GET /api/events`,
appending each new record to its run. A record at or before the run's last x
is one it has (the event stream resumes from the listing's `last_event`, and a
run's metrics may already hold a few records the stream then brings again), so
nothing shows twice. A run that appears, or a run's `reset` (its file rewritten,
or too many records at once), fetches that run's records (from the reset's
`from` x on when it says one: a value added at an x already held); a `reset` of
the stream (it cannot resume) fetches every run again. When the server cannot be reached
(refused, timed out, an error status), every run of it keeps its last data and
carries a notice that the server is unreachable, and the client tries again
after 1 s, 2 s, 4 s... up to BACKOFF_MAX_S; once back, it fetches what it
missed (`?since=` the last x it has; all of a run whose last x went back) and
follows the stream again from the last event it saw before the outage, so that
the resets it missed are replayed.

The standard library only (http.client): the monitor never imports the
server's HTTP library.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Run
from metricwatch.sources.remote_runs import RemoteRun, boot, listed_last, run_of_listing
from metricwatch.sources.sse import MAX_LINE, Frame, FrameReader, StreamEnded

#: Retry delays after a failure: doubling from the first to the last, in seconds.
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
#: A stream silent this long is dead (the server sends a heartbeat every 15 s).
STREAM_TIMEOUT_S = 40.0
#: How often the client looks at its stop and resync flags while the stream is quiet.
WAKE_S = 0.25
#: A request (the runs, one run's metrics) that takes longer has failed.
REQUEST_TIMEOUT_S = 30.0
#: The biggest response body taken (a million-point run is about 100 MB of JSON): a server
#: that sends more is not the API, and must not fill the monitor's memory.
MAX_BODY = 2**30
DEFAULT_PORT = 8765
UNREACHABLE = "unreachable: "


class RemoteError(Exception):
    """The server answered, but not as the API says (an error status, not JSON...)."""


#: What makes a server unreachable for now (tried again after a while).
FAILURES = (OSError, http.client.HTTPException, RemoteError, StreamEnded, ValueError)


@dataclass(frozen=True)
class RemoteSpec:
    """A server to watch: where (`http://host:port`), its short name, and the token."""

    url: str
    label: str
    token: str | None = None

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")


def is_remote(text: str) -> bool:
    """Whether a monitor argument names a server rather than a path."""
    return text.startswith(("http://", "https://"))


def parse_remote(text: str, token: str | None = None) -> RemoteSpec:
    """`http://gpu1:8765[/]` as a RemoteSpec (port 8765 when none is given). Raises
    ValueError for anything else (a path, a query, no host)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text}: not a server address (http://HOST:PORT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{text}: give the server's address only (http://HOST:PORT)")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"{text}: not a valid port") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return RemoteSpec(f"{parts.scheme}://{host}:{port}", f"{host}:{port}", token)


def split_sources(texts: list[str], token: str | None) -> tuple[Path | None, list[RemoteSpec]]:
    """The monitor's arguments: its one local PATH (or None) and its servers, each once
    (`http://gpu1` and `http://gpu1:8765/` are one server: two clients would show its
    runs twice under one name). Raises ValueError for a second PATH or a server address
    that is not one."""
    paths = [Path(text) for text in texts if not is_remote(text)]
    if len(paths) > 1:
        raise ValueError("one PATH at a time (it may hold many runs); servers as many as needed")
    servers = {spec.url: spec for spec in (parse_remote(t, token) for t in texts if is_remote(t))}
    return (paths[0] if paths else None), list(servers.values())


# --- what the client tells its owner ----------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """These runs are new or changed (their latest data)."""

    runs: list[Run]


@dataclass(frozen=True)
class Gone:
    """The run's file is gone on the server (it keeps its data, marked gone)."""

    name: str


@dataclass(frozen=True)
class Removed:
    """The server no longer has these runs (a part its file no longer holds)."""

    names: list[str]


@dataclass(frozen=True)
class Unreachable:
    """The server cannot be reached; `retry_s` until the next try."""

    message: str
    retry_s: float


RemoteEvent = Loaded | Gone | Removed | Unreachable
Sink = Callable[[RemoteEvent], None]


class RemoteClient:
    """Follows one server's runs into a sink, until stop (see the module docstring)."""

    def __init__(self, spec: RemoteSpec, sink: Sink) -> None:
        self.spec = spec
        self.sink = sink
        self._runs: dict[str, RemoteRun] = {}  # by the server's run id
        self._resync = threading.Event()
        self._last_event: str | None = None
        self._down = False  # the server could not be reached at the last try

    def request_resync(self) -> None:
        """Fetch every run again (the monitor's `r`)."""
        self._resync.set()

    def run(self, stop: threading.Event) -> None:
        delay = BACKOFF_MIN_S
        while not stop.is_set():
            try:
                self._sync()
                delay = BACKOFF_MIN_S
                self._down = False
                self._follow(stop)
            except FAILURES as error:
                if stop.is_set():
                    return
                self._unreachable(_describe(error), delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            except Exception as error:  # noqa: BLE001 - a bug here: said on the runs, tried again
                self._unreachable(f"internal error: {type(error).__name__}: {error}", delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    # --- fetching ----------------------------------------------------------------------------

    def _sync(self) -> None:
        """The runs list, then each run's records: all of them for a run not held (or all
        again after a reset), those after its last x otherwise."""
        full = self._resync.is_set()
        self._resync.clear()
        body = self._get("/api/runs")
        if boot(body.get("last_event")) != boot(self._last_event):
            full = True  # another server (restarted): what it holds may have been rewritten
        if full or self._last_event is None:
            self._last_event = body.get("last_event")
        # Else the stream resumes from the last event seen before the outage: the server
        # replays what was missed (a run's reset among it), or says it cannot (a reset of
        # the stream: every run again).
        entries = _listing(body)
        listed: dict[str, RemoteRun] = {}
        changed = []
        for entry in entries:
            rid = str(entry["id"])
            held = None if full else self._runs.get(rid)
            run = run_of_listing(entry)
            last = listed_last(entry)
            if held is not None and held.last is not None and last is not None and last < held.last:
                held = None  # it went back while away (rewritten): all of it again
            if held is not None and held.x == run.x:
                run.take_records(held)  # held is dropped
            self._fetch_records(run)
            listed[rid] = run
            changed.append(run)
        removed = [self._name(run) for rid, run in self._runs.items() if rid not in listed]
        self._runs = listed
        if removed:
            self.sink(Removed(removed))
        self.sink(Loaded([self._as_run(run) for run in changed]))
        for entry in entries:
            if entry.get("status") == "gone":
                listed[str(entry["id"])].gone = True
                self.sink(Gone(self._name(listed[str(entry["id"])])))

    def _fetch_records(self, run: RemoteRun) -> None:
        path = f"/api/training/{urllib.parse.quote(run.id, safe='')}/metrics"
        if run.last is not None:
            path += f"?since={run.last}"
        body = self._get(path)
        records = body.get("steps" if run.x == STEP else "epochs", [])
        run.add([r for r in records if isinstance(r, dict)])

    def _get(self, path: str) -> dict[str, Any]:
        connection = self._connect(REQUEST_TIMEOUT_S)
        try:
            connection.request("GET", path, headers=self._headers())
            response = connection.getresponse()
            data = response.read(MAX_BODY + 1)
            if len(data) > MAX_BODY:
                raise RemoteError(f"{path}: more than {MAX_BODY} bytes")
            if response.status != 200:
                raise RemoteError(f"{path}: HTTP {response.status} {_error_text(data)}")
            body = json.loads(data)
            if not isinstance(body, dict):
                raise RemoteError(f"{path}: not the API's JSON")
            return body
        finally:
            connection.close()

    # --- following ---------------------------------------------------------------------------

    def _follow(self, stop: threading.Event) -> None:
        connection = self._connect(STREAM_TIMEOUT_S)
        sock: socket.socket | None = None
        try:
            headers = self._headers()
            if self._last_event:
                headers["Last-Event-ID"] = self._last_event
            connection.request("GET", "/api/events", headers=headers)
            sock = connection.sock
            response = connection.getresponse()
            if response.status != 200:
                raise RemoteError(f"/api/events: HTTP {response.status}")
            reader = FrameReader(functools.partial(response.readline, MAX_LINE + 1))
            while not stop.is_set() and not self._resync.is_set():
                self._take(reader.batch(WAKE_S))
        finally:
            # The reader's thread waits in readline, holding the response's lock, until the
            # next heartbeat: shut the socket first, so that close() does not wait for it.
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed by the server
                    sock.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _take(self, batch: list[Frame]) -> None:
        """A batch of frames: records gathered into one update per run, sent before any
        other event (a run's records, then it is gone) and at the end."""
        grown: dict[str, RemoteRun] = {}

        def flush() -> None:
            if grown:
                self.sink(Loaded([self._as_run(run) for run in grown.values()]))
                grown.clear()

        for kind, event_id, data in batch:
            if event_id:
                self._last_event = event_id
            rid = str(data.get("run", ""))
            inner = data.get("data")
            run = self._runs.get(rid)
            if kind in (EPOCH, STEP):
                if run is not None and isinstance(inner, dict) and run.add([inner]):
                    run.updated = time.time()  # when it arrived: the server's clock may differ
                    grown[rid] = run
                continue
            flush()
            if kind == "reset" and "run" not in data:
                self._resync.set()  # the stream cannot resume: every run again
                return
            if isinstance(inner, dict):
                self._handle(kind, rid, inner)
        flush()

    def _handle(self, kind: str, rid: str, inner: dict[str, Any]) -> None:
        """One event other than a record, taken in."""
        run = self._runs.get(rid)
        if kind == "reset" and run is not None:  # its records changed: fetched again
            start = inner.get("from")
            if isinstance(start, int) and not isinstance(start, bool):
                run.truncate(start)  # from that x on (a value added at an x held)
            else:
                run.clear()
            self._fetch_records(run)
            self.sink(Loaded([self._as_run(run)]))
        elif kind == "run" and inner.get("change") == "appeared":
            listing = inner.get("run")
            if isinstance(listing, dict) and "id" in listing and "name" in listing:  # new, or back
                run = self._runs[rid] = run_of_listing(listing)
                self._fetch_records(run)
                self.sink(Loaded([self._as_run(run)]))
        elif kind == "run" and run is not None and inner.get("change") == "gone":
            run.gone = True
            self.sink(Gone(self._name(run)))
        elif kind == "run" and run is not None and inner.get("change") == "removed":
            del self._runs[rid]
            self.sink(Removed([self._name(run)]))

    # --- helpers -----------------------------------------------------------------------------

    def _unreachable(self, message: str, retry_s: float) -> None:
        """Said once per outage: each run (not gone) keeps its data with a notice."""
        if self._down:
            return
        self._down = True
        problem = Problem(
            ProblemKind.UNREADABLE,
            f"{self.spec.label} {UNREACHABLE}{message}; the last data stays, retrying",
        )
        shown = [self._as_run(run, problem) for run in self._runs.values() if not run.gone]
        if shown:
            self.sink(Loaded(shown))
        self.sink(Unreachable(f"{self.spec.label} {UNREACHABLE}{message}", retry_s))

    def _name(self, run: RemoteRun) -> str:
        return f"{self.spec.label}/{run.name}"

    def _as_run(self, run: RemoteRun, problem: Problem | None = None) -> Run:
        return Run(
            name=self._name(run),
            path=Path(self.spec.label) / run.name,
            table=run.table(),
            meta={} if run.total is None else {"total_epochs": run.total},
            problems=[] if problem is None else [problem],
            mtime=run.updated,
            format=run.format,
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.spec.token is not None:
            headers["Authorization"] = f"Bearer {self.spec.token}"
        return headers

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        netloc = urllib.parse.urlsplit(self.spec.url)
        host, port = netloc.hostname or "", netloc.port or DEFAULT_PORT
        if self.spec.https:
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return http.client.HTTPConnection(host, port, timeout=timeout)


def _listing(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of `GET /api/runs`. Raises RemoteError when they are not the API's."""
    runs = body.get("runs")
    if not isinstance(runs, list) or not all(
        isinstance(entry, dict) and "id" in entry and "name" in entry for entry in runs
    ):
        raise RemoteError("/api/runs: not the API's list of runs")
    return runs


def _error_text(data: bytes) -> str:
    try:
        return str(json.loads(data).get("error", ""))
    except (ValueError, AttributeError):
        return ""


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__

"""The HTTP API: aiohttp routes over the registry and the event hub. Read-only: GET only.

    GET /api/runs                          every run (gone ones too)
    GET /api/training/{run_id}/metrics     the seed's {"epochs": [...]} (or "steps"); ?since=N
    GET /api/training/{run_id}/summary     the run's `summary --json` entry, with its rows
    GET /api/training/{run_id}/events      SSE: epoch/step, finding, status, reset
    GET /api/events                        SSE: the same for every run, plus `run`

Responses that give state carry `last_event`: the id of the last event that state
includes, to resume the event stream from with Last-Event-ID (nothing lost, nothing
repeated). A run id is only looked up in the registry, never turned into a path.
Errors are JSON (`{"error": "..."}`) with the usual status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from metricwatch.serve.auth import token_matches, token_of
from metricwatch.serve.events import EventHub
from metricwatch.serve.registry import RunRegistry, RunView
from metricwatch.serve.shapes import dumps, records_after, records_key, summary_json

#: Seconds between two heartbeat comments on a quiet event stream (proxies drop idle ones).
HEARTBEAT_S = 15.0
#: What an EventSource waits before reconnecting, in milliseconds (sent once per stream).
RETRY_MS = 2000
#: The kernel's send buffer of an event stream, in bytes. Left to autotuning it grows to
#: megabytes, so a client that stopped reading would take minutes to fill it (and its
#: queue, then be dropped) and hold that much kernel memory meanwhile.
SEND_BUFFER = 128 * 1024

REGISTRY = web.AppKey("registry", RunRegistry)
HUB = web.AppKey("hub", EventHub)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    registry: RunRegistry,
    *,
    root: Path | None = None,
    token: str | None = None,
    cors: str | None = None,
    heartbeat_s: float = HEARTBEAT_S,
) -> web.Application:
    """The application; the hub is made and connected to the registry on startup, in the
    loop that serves (the registry's thread hands events over with call_soon_threadsafe)."""
    app = web.Application(middlewares=[_errors_as_json, _auth(token)])
    app[REGISTRY] = registry
    app[HUB] = EventHub(registry.boot)
    routes = Routes(registry, app[HUB], heartbeat_s, root)
    app.router.add_get("/api/runs", routes.runs)
    app.router.add_get("/api/training/{run_id}/metrics", routes.metrics)
    app.router.add_get("/api/training/{run_id}/summary", routes.summary)
    app.router.add_get("/api/training/{run_id}/events", routes.events)
    app.router.add_get("/api/events", routes.events)
    if cors is not None:
        app.router.add_route("OPTIONS", "/{tail:.*}", _preflight)
        app.on_response_prepare.append(_cors_headers(cors))
    app.on_startup.append(_connect)
    app.on_shutdown.append(_close_streams)
    return app


class Routes:
    """The handlers (see the module docstring)."""

    def __init__(
        self, registry: RunRegistry, hub: EventHub, heartbeat_s: float, root: Path | None = None
    ) -> None:
        self.registry = registry
        self.hub = hub
        self.heartbeat_s = heartbeat_s
        self.root = root

    async def runs(self, request: web.Request) -> web.Response:
        views, last = self.registry.views()
        body = {"runs": [view.listing() for view in views], "last_event": self._id(last)}
        return _json(body)

    async def metrics(self, request: web.Request) -> web.Response:
        view = self._view(request)
        since = _since(request)
        run = view.report.run
        records = await _off_loop(records_after, run.table, since)
        body = {
            "id": view.id,
            "name": run.name,
            "x": run.x,
            records_key(run): records,
            "last_event": self._id(view.last_event),
        }
        return _json(await _off_loop(dumps, body), encoded=True)

    async def summary(self, request: web.Request) -> web.Response:
        view = self._view(request)
        body = summary_json(view.id, view.report, view.status.value)
        body["path"] = _shown_path(view.report.run.path, self.root)
        body["last_event"] = self._id(view.last_event)
        return _json(body)

    async def events(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info.get("run_id")
        if rid is not None:
            self._view(request)  # 404 for a run never known
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not hold events back
            }
        )
        await response.prepare(request)
        if request.method == "HEAD":
            return response  # the headers only: no stream to keep open
        transport = request.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

        def abort() -> None:
            if transport is not None:
                transport.abort()

        last = request.headers.get("Last-Event-ID", request.query.get("last_event_id"))
        client, backlog = self.hub.subscribe(rid, last, self.registry.last_event, abort)
        try:
            await response.write(b"retry: %d\n\n" % RETRY_MS + backlog)
            while not client.ended:  # (a run's own stream ends after the run is removed)
                data = await client.next(self.heartbeat_s)
                if client.dropped:
                    break
                await response.write(data or b": heartbeat\n\n")
        except ConnectionError:
            pass  # the client went away: nothing to say to it
        finally:
            self.hub.unsubscribe(client)  # (cancelled too: the server is stopping)
        return response

    def _view(self, request: web.Request) -> RunView:
        view = self.registry.view(request.match_info["run_id"])
        if view is None:
            raise web.HTTPNotFound(reason="no such run")
        return view

    def _id(self, number: int) -> str:
        return self.registry.event_id(number)


def _since(request: web.Request) -> int | None:
    text = request.query.get("since")
    if text is None:
        return None
    # ASCII digits only: int() also takes "1_0", " 5 " and other scripts' digits.
    if not _WHOLE.fullmatch(text):
        raise web.HTTPBadRequest(reason="since must be a whole number")
    return int(text)


_WHOLE = re.compile("-?[0-9]{1,18}")


def _shown_path(path: Path, root: Path | None) -> str:
    """A run's path relative to the served PATH: where the server's files live on its
    machine is none of a client's business."""
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return path.name


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """A big run's records (a million points) are built and encoded off the event loop,
    so the event streams keep flowing meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _json(body: Any, *, encoded: bool = False, status: int = 200) -> web.Response:
    return web.Response(
        body=body if encoded else dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = _json({"error": error.reason.lower()}, status=error.status)
        for name in ("WWW-Authenticate", "Allow"):
            if name in error.headers:
                response.headers[name] = error.headers[name]
        return response


def _auth(token: str | None) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = token_of(request.headers, request.query, query_allowed=_is_stream(request))
        if token is not None and request.method != "OPTIONS" and not token_matches(given, token):
            raise web.HTTPUnauthorized(
                reason="missing or wrong token", headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return check


def _is_stream(request: web.Request) -> bool:
    """Whether the request is for an event stream (the only routes a query token opens)."""
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical in EVENT_ROUTES


EVENT_ROUTES = frozenset({"/api/training/{run_id}/events", "/api/events"})


def _cors_headers(origin: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"

    return add


async def _preflight(request: web.Request) -> web.Response:
    """A browser's CORS preflight (sent without the token, so not checked for one)."""
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "GET",
            "Access-Control-Allow-Headers": "Authorization, Last-Event-ID",
            "Access-Control-Max-Age": "600",
        },
    )


async def _connect(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    hub = app[HUB]

    def emit(event: Any) -> None:
        # A closed loop (RuntimeError): the server has stopped, no client is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(hub.publish, event)

    hub.connect(app[REGISTRY].connect(emit))


async def _close_streams(app: web.Application) -> None:
    app[HUB].close_all()

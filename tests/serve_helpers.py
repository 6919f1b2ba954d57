"""Shared by the tests of `metricwatch serve`: a server on a real run tree, in this
process (aiohttp's test server on an ephemeral loopback port, the real feed and
watcher), an SSE reader, and waits on conditions (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from metricwatch.serve.app import make_app
from metricwatch.serve.feed import ServeFeed
from metricwatch.serve.registry import RunRegistry
from metricwatch.watch import choose_mode
from metricwatch.writer import MetricsDocument

#: Generous: the suite runs on a loaded 2-core machine.
TIMEOUT_S = 30.0


@dataclass
class Served:
    client: TestClient
    registry: RunRegistry
    feed: ServeFeed
    messages: list[str]

    def run_id(self, name: str) -> str:
        views, _ = self.registry.views()
        return next(view.id for view in views if view.report.run.name == name)

    async def json(self, path: str, **kwargs: Any) -> Any:
        response = await self.client.get(path, **kwargs)
        assert response.status == 200, await response.text()
        return await response.json(loads=strict_loads)


@asynccontextmanager
async def served(
    root: Path,
    *,
    token: str | None = None,
    cors: str | None = None,
    heartbeat_s: float = 15.0,
    poll_s: float | None = None,
) -> AsyncIterator[Served]:
    registry = RunRegistry()
    app = make_app(registry, root=root, token=token, cors=cors, heartbeat_s=heartbeat_s)
    messages: list[str] = []
    ready = threading.Event()
    feed = ServeFeed(
        root, registry, choose_mode(root, poll_s), say=messages.append, on_ready=ready.set
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        feed.start()
        try:
            await until(ready.is_set)
            yield Served(client, registry, feed, messages)
        finally:
            feed.stop()


async def until(condition: Callable[[], Any], timeout: float = TIMEOUT_S) -> Any:
    """Wait until condition() is true (its value), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {condition}")
        await asyncio.sleep(0.02)


async def until_async(condition: Callable[[], Any], timeout: float = TIMEOUT_S) -> None:
    """until() for a coroutine condition (one asked over HTTP)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {condition}")
        await asyncio.sleep(0.05)


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity (not JSON): the API must never send them."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@dataclass(frozen=True)
class Sse:
    id: str | None
    event: str
    data: Any


class SseReader:
    """Reads frames from an event-stream response; comments are kept apart."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []
        self.retry: int | None = None

    async def next(self, timeout: float = TIMEOUT_S) -> Sse:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Sse:
        fields: dict[str, str] = {}
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if "data" in fields:
                    data = strict_loads(fields["data"])
                    return Sse(fields.get("id"), fields.get("event", "message"), data)
                fields = {}
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value

    async def next_of(self, kinds: set[str], timeout: float = TIMEOUT_S) -> Sse:
        """The next event of one of kinds (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.1, deadline - time.monotonic()))
            if event.event in kinds:
                return event


def write_epochs(run_dir: Path, records: list[dict[str, Any]], meta: dict | None = None) -> None:
    """Write (or extend) a run's metrics.json with the package's writer, atomically."""
    document = MetricsDocument(run_dir, meta)
    document.load_existing()
    for record in records:
        document.put(record)
    document.write()

"""Server-Sent Events: the frames, and the hub that hands them to every client.

Every event gets the next number from the registry (metricwatch.serve.registry)
when it is made, and its id is `<boot>-<number>`, `boot` being drawn when the
server starts: an id from an earlier server is recognised as such, never
taken for a number of this one. The frames are encoded once, in the feed's
thread; the hub (on the event loop) only appends the same bytes to each
client's queue.

Resuming: the hub keeps the last HISTORY events. A client that sends
`Last-Event-ID` of this server gets every event after it from there, then
the live ones, with nothing repeated (a client's events are filtered by
number, so one already replayed is not sent again when it arrives live).
An id too old for the history, or from another server, gets a `reset`
event: "fetch the state again", with the id to resume from afterwards.

Backpressure: each client has a queue of at most QUEUE_LIMIT frames. A
client that does not read fills it and is dropped (its connection aborted);
publishing never waits for a client, so one slow reader slows no other.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: Events kept for clients that resume with Last-Event-ID (about 2 MB; at 100 events/s, the
#: last 40 s; at a run writing an epoch a minute, days).
HISTORY = 4_000
#: Frames waiting for one client before it is dropped as not reading (at 100 events/s, 10 s
#: once the socket's buffers are full; a burst is one reset, see registry.MAX_RECORD_EVENTS).
QUEUE_LIMIT = 1_000


@dataclass(frozen=True)
class Event:
    """One event as it goes on the wire: `one` for the run's own stream (None: only the
    stream of every run has it, a `run` event), `every` for `GET /api/events` (None: only
    the run's own stream has it)."""

    number: int
    run_id: str | None
    one: bytes | None
    every: bytes | None
    #: The run's last event (it is removed): its own streams end after it.
    final: bool = False


def frame(event_id: str, kind: str, data: bytes) -> bytes:
    """One SSE frame. `data` is compact JSON, which holds no line break."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), kind.encode(), data)


def parse_event_id(text: str | None, boot: str) -> int | None:
    """The number in a Last-Event-ID of this server; None for none, or one of another server
    (or not ours at all), which the caller answers with a reset. -1: no id was sent."""
    if text is None or not text.strip():
        return -1
    prefix, _, number = text.strip().rpartition("-")
    # ASCII digits only, and few of them: str.isdigit() takes "²" (which int() refuses)
    # and int() of thousands of digits is slow; either is an id that is not ours.
    if prefix != boot or not _NUMBER.fullmatch(number):
        return None
    return int(number)


_NUMBER = re.compile("[0-9]{1,18}")


@dataclass(eq=False)
class Client:
    """One SSE connection: the events it wants (one run, or all), the number it has seen up
    to, and the frames waiting for it."""

    run_id: str | None
    after: int
    abort: Callable[[], None]
    pending: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    ended: bool = False  # its run's last event is among the frames: end after them

    def wants(self, event: Event) -> bytes | None:
        if event.number <= self.after:
            return None  # already sent (replayed), or part of the state it was given
        if self.run_id is None:
            return event.every
        if event.run_id != self.run_id:
            return None
        self.ended = self.ended or event.final
        return event.one

    async def next(self, timeout: float) -> bytes:
        """The frames waiting (b"" after `timeout` seconds of nothing, or once dropped)."""
        if not self.pending and not self.dropped:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                return b""
        self.wake.clear()
        if self.dropped:
            return b""
        data = b"".join(self.pending)
        self.pending.clear()
        return data


class EventHub:
    """The clients of the event streams and the recent events (see the module docstring).
    Used from the event loop's thread only."""

    def __init__(self, boot: str, *, history: int = HISTORY, queue_limit: int = QUEUE_LIMIT):
        self.boot = boot
        self.queue_limit = queue_limit
        self._history: deque[Event] = deque(maxlen=history)
        self._clients: set[Client] = set()
        #: Events up to this number were made before the hub was connected: never seen here.
        self.base = 0
        self.last_published = 0
        self.dropped = 0  # clients dropped for not reading (for the benchmark and tests)

    def connect(self, base: int) -> None:
        """Events from number base + 1 on are published here (those before were not)."""
        self.base = self.last_published = base

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, event: Event) -> None:
        self._history.append(event)
        self.last_published = event.number
        for client in list(self._clients):
            data = client.wants(event)
            if data is None:
                continue
            if len(client.pending) >= self.queue_limit:
                self._drop(client)
                continue
            client.pending.append(data)
            client.after = event.number
            client.wake.set()

    def subscribe(
        self,
        run_id: str | None,
        last_event_id: str | None,
        current: int,
        abort: Callable[[], None],
    ) -> tuple[Client, bytes]:
        """A new client and what to send it first: the events it missed since
        last_event_id, or a reset frame when they are not all known any more.

        `current` is the registry's latest event number: the state the client can
        fetch includes every event up to it, so a reset resumes from there.
        """
        after = parse_event_id(last_event_id, self.boot)
        if after == -1:
            client = Client(run_id, current, abort)  # a new client: live events from now
            self._clients.add(client)
            return client, b""
        if after is None or after > current or not self._covers(after):
            client = Client(run_id, current, abort)
            self._clients.add(client)
            reason = b'{"reason":"resume"}' if after is None or after > current else None
            return client, reset_frame(f"{self.boot}-{current}", reason)
        client = Client(run_id, after, abort)
        backlog = b"".join(self._replay(client, after))
        self._clients.add(client)
        return client, backlog

    def unsubscribe(self, client: Client) -> None:
        self._clients.discard(client)

    def close_all(self) -> None:
        """Wake every client to end its stream (the server is stopping)."""
        for client in list(self._clients):
            client.dropped = True
            client.wake.set()
        self._clients.clear()

    def _covers(self, after: int) -> bool:
        """Whether every event after number `after` is still kept, or still on its way to
        the hub (made by the feed, not published yet): then it reaches the client."""
        if after < self.base:
            return False
        if after >= self.last_published:
            return True
        return bool(self._history) and self._history[0].number <= after + 1

    def _replay(self, client: Client, after: int) -> Iterable[bytes]:
        for event in self._history:
            if event.number > after:
                data = client.wants(event)
                client.after = event.number
                if data is not None:
                    yield data

    def _drop(self, client: Client) -> None:
        self.dropped += 1
        client.dropped = True
        client.pending.clear()
        client.wake.set()
        self._clients.discard(client)
        client.abort()


def reset_frame(event_id: str, reason: bytes | None = None) -> bytes:
    """`reset`: the events since the client's id are not all known; fetch the state again
    (runs, metrics), then follow from this frame's id."""
    data = reason or b'{"reason":"history"}'
    return frame(event_id, "reset", data)

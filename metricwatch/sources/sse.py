"""Reading a Server-Sent Events stream: the client side of `metricwatch serve`'s streams.

`frames` parses lines into (event, id, data) frames. `FrameReader` reads them
in a daemon thread into a queue, so the client takes whatever has arrived in
one batch (a burst of records becomes one update of the run, not one each)
and can look at its stop and resync flags between batches instead of only
when the next event comes, which may be a heartbeat 15 s away.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Frame = tuple[str, "str | None", dict[str, Any]]

#: The longest line taken from a stream (a record of thousands of keys is a few hundred
#: KB): a server that sends a longer one is not the API. Read lines with
#: `readline(MAX_LINE + 1)` so that such a line is caught without holding all of it.
MAX_LINE = 16 * 2**20


class StreamEnded(Exception):
    """The server closed the stream."""


def frames(lines: Iterable[bytes]) -> Iterator[Frame]:
    """(event, id, data) of each frame whose data is a JSON object; comments (heartbeats)
    and `retry:` lines skipped. Raises ValueError for data that is not JSON, or a line
    longer than MAX_LINE."""
    fields: dict[str, str] = {}
    for raw in lines:
        if len(raw) > MAX_LINE:
            raise ValueError(f"a line of the event stream is longer than {MAX_LINE} bytes")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if "data" in fields:
                data = json.loads(fields["data"])
                event = fields.get("event", "message")
                yield event, fields.get("id"), data if isinstance(data, dict) else {}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


class FrameReader:
    """The frames of a stream, read in a daemon thread (see the module docstring). The
    caller closes the connection to end it."""

    def __init__(self, readline: Callable[[], bytes]) -> None:
        self._queue: queue.Queue[Frame | BaseException] = queue.Queue()
        self._error: BaseException | None = None
        threading.Thread(target=self._read, args=(readline,), daemon=True).start()

    def _read(self, readline: Callable[[], bytes]) -> None:
        try:
            for frame in frames(iter(readline, b"")):
                self._queue.put(frame)
            self._queue.put(StreamEnded("the event stream ended"))
        except Exception as error:  # noqa: BLE001 - handed to the caller, which says it
            self._queue.put(error)

    def batch(self, timeout: float) -> list[Frame]:
        """The frames that arrived, waiting up to timeout for the first ([] then). Raises
        the stream's end or error once the frames before it are taken."""
        if self._error is not None:
            raise self._error
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        got: list[Frame] = []
        for item in items:
            if isinstance(item, BaseException):
                self._error = item
                break
            got.append(item)
        if not got and self._error is not None:
            raise self._error
        return got

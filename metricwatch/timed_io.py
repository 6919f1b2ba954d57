"""File I/O with a deadline: one file that blocks must hold up neither the others nor quitting.

A metrics.json on a hung NFS or FUSE mount, or a link to /proc/kmsg, passes
every check (it is a regular file) and then blocks in stat(), open() or
read() for as long as the mount or the device likes. Done in the thread
that loads every run, that froze loading for all of them, and the monitor's
exit waited for that thread: `q` left a hung, blank terminal.

So run-file I/O goes through `TimedCalls.call`: the work runs in a small
pool of daemon threads and the caller waits at most `timeout` seconds (less
once closed), then gets `Blocked` and moves on. A thread stuck in a call is
replaced, up to MAX_THREADS in all, and, being a daemon, never keeps the
process from exiting. While a call for one key (a file) is stuck, a new
call for the same key answers Blocked at once instead of stacking another
thread on the same file; when the stuck call finally returns, its outcome
goes to the next caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

#: Seconds a stat/open/read of a run file may take before its run is reported as blocked.
READ_TIMEOUT_S = 2.0
#: Seconds a search of PATH may take (a whole tree on a network file system may take
#: seconds) before the watcher goes on without it.
SEARCH_TIMEOUT_S = 10.0
#: Threads kept for I/O; enough for the loads of one watcher and a reload at once.
POOL_THREADS = 2
#: At most this many I/O threads, stuck ones included (each stuck one is one hung file).
MAX_THREADS = 16
#: The waiting caller looks at the clock and at close() this often, in seconds.
_SLICE_S = 0.05


class Blocked(Exception):
    """The call did not finish in time (or the caller is closing); it may still finish."""

    def __init__(self, timeout: float, *, closing: bool = False) -> None:
        self.timeout = timeout
        self.closing = closing
        super().__init__("closing" if closing else f"no answer in {timeout:g} s")


class _Job:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.done = threading.Event()
        self.started = self.cancelled = self.stuck = False
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _Pool:
    """Daemon threads taking jobs from one queue; a thread stuck in a job is replaced."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.threads = 0  # alive
        self.healthy = 0  # alive and not inside a job its caller gave up on

    def submit(self, job: _Job) -> None:
        self._queue.put(job)
        with self._lock:
            self._grow()

    def abandon(self, job: _Job) -> bool:
        """The caller stopped waiting. True if the job is running (its thread is stuck)."""
        with self._lock:
            if job.done.is_set():
                return False
            if not job.started:
                job.cancelled = True  # still queued: it will never run
                return False
            job.stuck = True
            self.healthy -= 1
            self._grow()
            return True

    def _grow(self) -> None:
        if self.healthy < self.size and self.threads < self.limit:
            self.threads += 1
            self.healthy += 1
            threading.Thread(target=self._work, name="metricwatch-io", daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            with self._lock:
                if job.cancelled:
                    continue
                job.started = True
            try:
                job.result = job.fn(*job.args)
            except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
                job.error = error
            with self._lock:
                job.done.set()
                if job.stuck:  # back from a long block: rejoin, or leave if replaced
                    if self.healthy >= self.size:
                        self.threads -= 1
                        return
                    self.healthy += 1


_POOL = _Pool(POOL_THREADS, MAX_THREADS)
#: The watcher's stats and searches (metricwatch.watch_tree) have threads of their own: a
#: stat queued behind a long read of the loader must not be taken for a hung mount.
WATCH_POOL = _Pool(POOL_THREADS, MAX_THREADS)


class TimedCalls:
    """Calls with a deadline, at most one in flight per key once a call is stuck."""

    def __init__(self, timeout: float | None = None, pool: _Pool | None = None) -> None:
        self.timeout = READ_TIMEOUT_S if timeout is None else timeout
        self._pool = pool or _POOL
        self._lock = threading.Lock()
        self._stuck: dict[Hashable, _Job] = {}
        self._closed = threading.Event()

    def call(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in a pool thread; its result (or exception), or Blocked after the timeout."""
        with self._lock:
            stuck = self._stuck.get(key)
            if stuck is not None:
                if not stuck.done.is_set():
                    raise Blocked(self.timeout)
                del self._stuck[key]
                if stuck.fn is fn:
                    return stuck.outcome()  # the late answer is the freshest there is
        if self._closed.is_set():
            raise Blocked(self.timeout, closing=True)
        job = _Job(fn, args)
        self._pool.submit(job)
        deadline = time.monotonic() + self.timeout
        while not job.done.wait(max(0.0, min(_SLICE_S, deadline - time.monotonic()))):
            if self._closed.is_set() or time.monotonic() >= deadline:
                if self._pool.abandon(job):
                    with self._lock:
                        self._stuck[key] = job
                elif job.done.is_set():
                    break  # finished as we gave up
                raise Blocked(self.timeout, closing=self._closed.is_set())
        return job.outcome()

    def stuck_keys(self) -> list[Hashable]:
        with self._lock:
            return [key for key, job in self._stuck.items() if not job.done.is_set()]

    def close(self) -> None:
        """Waiting callers give up now; later calls answer Blocked at once."""
        self._closed.set()

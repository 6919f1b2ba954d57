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

A call may do two things at once, the second optional (`call_in_parts`: a log's
new bytes, then its side files): when only the second is held up, the caller
gets the first thing's answer (`Partial`), and only the second one's key is
stuck, so the first thing is read again at the next call, without the second
until that answers.
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


class Partial(Blocked):
    """The first part of a call_in_parts answered in time, the rest did not: `first` is the
    first part's answer."""

    def __init__(self, timeout: float, first: Any, *, closing: bool = False) -> None:
        super().__init__(timeout, closing=closing)
        self.first = first


_UNSET: Any = object()


class _Job:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        # A bare lock held until the job is done, rather than an Event: a waiting caller
        # costs one C-level acquire, not a Condition built for every call.
        self._signal = threading.Lock()
        self._signal.acquire()
        self.finished = self.started = self.cancelled = self.stuck = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.first: Any = _UNSET  # call_in_parts: the first part's answer, once there

    def say_first(self, answer: Any) -> None:
        """The first part of the job is done (call_in_parts)."""
        self.first = answer

    def finish(self) -> None:
        self.finished = True
        self._signal.release()

    def wait(self, timeout: float) -> bool:
        """Whether the job is done, waiting at most timeout seconds for it."""
        if self.finished:
            return True
        if self._signal.acquire(timeout=timeout):
            self._signal.release()
            return True
        return False

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
            if job.finished:
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
                job.finish()
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
        return self._run(_Job(fn, args), key, None)

    def call_in_parts(
        self, key: Hashable, rest_key: Hashable, fn: Callable[..., Any], *args: Any
    ) -> Any:
        """fn(say_first, *args) as call() does, for a job of two parts: fn calls
        say_first(answer) once its first part is done. If the rest then holds it up past the
        timeout, Partial carries that answer and the job is stuck under rest_key (see
        is_stuck), not key. A finished job stuck under rest_key is forgotten here."""
        if self._stuck:
            with self._lock:
                rest = self._stuck.get(rest_key)
                if rest is not None and rest.finished:
                    del self._stuck[rest_key]
        job = _Job(fn, ())
        job.args = (job.say_first, *args)
        return self._run(job, key, rest_key)

    def _run(self, job: _Job, key: Hashable, rest_key: Hashable | None) -> Any:
        """Blocked at once while a call for key is stuck, its late answer once it is back
        (for the same function), else the job run."""
        if self._stuck:  # (read without the lock: only a quick way past it)
            with self._lock:
                stuck = self._stuck.get(key)
                if stuck is not None:
                    if not stuck.finished:
                        raise Blocked(self.timeout)
                    del self._stuck[key]
                    if stuck.fn is job.fn:
                        return stuck.outcome()  # the late answer is the freshest there is
        return self._wait(job, key, rest_key)

    def _wait(self, job: _Job, key: Hashable, rest_key: Hashable | None) -> Any:
        """The job run in the pool, waited for until the timeout (less once closed)."""
        if self._closed.is_set():
            raise Blocked(self.timeout, closing=True)
        self._pool.submit(job)
        deadline = time.monotonic() + self.timeout
        while not job.wait(max(0.0, min(_SLICE_S, deadline - time.monotonic()))):
            if self._closed.is_set() or time.monotonic() >= deadline:
                closing = self._closed.is_set()
                if self._pool.abandon(job):
                    first = job.first
                    held = key if rest_key is None or first is _UNSET else rest_key
                    with self._lock:
                        self._stuck[held] = job
                    if held is rest_key:
                        raise Partial(self.timeout, first, closing=closing)
                elif job.finished:
                    break  # finished as we gave up
                raise Blocked(self.timeout, closing=closing)
        return job.outcome()

    def is_stuck(self, key: Hashable) -> bool:
        """Whether a call for key is held up now (a new one would answer Blocked at once)."""
        if not self._stuck:
            return False
        with self._lock:
            job = self._stuck.get(key)
            return job is not None and not job.finished

    def stuck_keys(self) -> list[Hashable]:
        with self._lock:
            return [key for key, job in self._stuck.items() if not job.finished]

    def close(self) -> None:
        """Waiting callers give up now; later calls answer Blocked at once."""
        self._closed.set()

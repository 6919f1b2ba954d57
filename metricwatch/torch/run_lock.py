"""One writer per run: an advisory lock on the run directory while a logger is open.

The lock is `fcntl.flock` on `run_dir/.metricwatch.lock`, which also holds
who took it (pid, host, command, since when) so that a second logger can
say which process it collides with. The kernel releases the lock when its
holder exits, however it exits (a SIGKILL included): a stale lock file is
simply taken over. Advisory: it stops other metricwatch loggers, not other
programs. Where `fcntl` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".metricwatch.lock"
#: How long a second logger waits for the holder's details to be written (it locks first).
HOLDER_WAIT_S = 1.0


class RunLockedError(RuntimeError):
    """Another logger (another process, or this one) holds the run directory."""

    def __init__(self, directory: Path, holder: dict[str, Any]) -> None:
        self.directory = directory
        self.holder = holder
        self.pid: int | None = holder.get("pid")
        self.host: str | None = holder.get("host")
        super().__init__(_message(directory, holder))


class RunLock:
    """The lock of one run directory, held from `acquire` until `release`."""

    def __init__(self, path: Path, handle: io.FileIO | None) -> None:
        self.path = path
        self._handle = handle
        self._pid = os.getpid()

    @classmethod
    def acquire(cls, directory: Path) -> RunLock:
        """Take the directory's lock or raise RunLockedError naming its holder.

        Creates the directory if needed (an OSError there is the caller's to see).
        """
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LOCK_NAME
        if fcntl is None:  # pragma: no cover - Windows
            return cls(path, None)
        while True:
            handle = io.FileIO(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+b")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(handle)
                handle.close()
                raise RunLockedError(directory, holder) from None
            except OSError as error:  # e.g. ENOLCK: a file system without locks
                handle.close()
                warnings.warn(
                    f"cannot lock {path} ({error}): logging without the one-writer check",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return cls(path, None)
            # Its last holder removes the file when it lets go: a file locked after that
            # is no longer the directory's lock, so lock the one that is there now.
            if _same_file(handle, path):
                break
            handle.close()
        try:
            _write_holder(handle)
        except BaseException:
            handle.close()
            raise
        return cls(path, handle)

    @property
    def held(self) -> bool:
        return self._handle is not None and not self._handle.closed

    def release(self) -> None:
        """Let go of the lock and remove the lock file; idempotent."""
        handle, self._handle = self._handle, None
        if handle is None or handle.closed:
            return
        # Removed while still held, so that nobody locks a file that is about to go; not
        # by a forked child, whose parent still holds the lock through the same file.
        if self._pid == os.getpid() and _same_file(handle, self.path):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        handle.close()


def _same_file(handle: io.FileIO, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (held.st_ino, held.st_dev) == (on_disk.st_ino, on_disk.st_dev)


def _write_holder(handle: io.FileIO) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:300],
    }
    data = json.dumps(holder).encode()
    os.ftruncate(handle.fileno(), 0)
    os.pwrite(handle.fileno(), data, 0)


def _read_holder(handle: io.FileIO) -> dict[str, Any]:
    """The holder's details; it writes them just after locking, so wait a moment for them."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        data = os.pread(handle.fileno(), 4096, 0)
        try:
            holder = json.loads(data)
        except ValueError:
            holder = None
        if isinstance(holder, dict) or time.monotonic() > deadline:
            return holder if isinstance(holder, dict) else {}
        time.sleep(0.01)


def _message(directory: Path, holder: dict[str, Any]) -> str:
    pid, host = holder.get("pid"), holder.get("host")
    if pid is None:
        who = "another process (it has not said which yet)"
    elif pid == os.getpid() and host == socket.gethostname():
        who = f"another JSONMetricLogger in this process (pid {pid} on host {host})"
    else:
        who = f"another process: pid {pid} on host {host}"
    details = []
    if holder.get("command"):
        details.append(f"running {holder['command']!r}")
    if holder.get("since"):
        details.append(f"since {holder['since']}")
    if details:
        who += " (" + ", ".join(details) + ")"
    if pid == os.getpid():
        fix = (
            "close the first logger before opening another on the same run (logger.close(), "
            "or `with JSONMetricLogger(...) as logger:`)"
        )
    else:
        fix = "stop the other process, or log this one to another run directory"
    return (
        f"{directory} is already being logged to by {who}. Two loggers on one run would "
        f"interleave their records and lose some: {fix}"
    )

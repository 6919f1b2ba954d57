"""A blocking inotify watch with the interface of watchfiles' Rust backend (Linux).

watchfiles' `RustNotify.watch` sleeps `step_ms` and then takes the GIL to look
at its change set and the stop event, over and over: at the 10 ms step the
monitor needs for its latency target that is 100 wake-ups a second, about
1 % of a core with nothing happening, and a thread asking for the GIL every
10 ms while the UI thread draws. Here the thread sleeps in `select()` on the
inotify descriptor instead: it wakes when the kernel has events (then
gathers them until `step_ms` passes without one, or `debounce_ms` since the
first), and otherwise only every STOP_CHECK_S to look at the stop event.

Same constructor and `watch(debounce_ms, step_ms, timeout_ms, stop_event)` as
RustNotify, same answers: a set of (change, path) with watchfiles' change
codes, "stop" or "timeout". One non-recursive watch per directory given, as
metricwatch.watch asks for. A directory the kernel refuses (the per-user
watch limit, no permission, gone meanwhile) is skipped, as watchfiles does
with `ignore_permission_denied`: the watcher asks the kernel what it really
watches (metricwatch.inotify). A full kernel queue raises RuntimeError: the
watcher then watches afresh and searches PATH again, so nothing is lost.

`available()` says whether this system has inotify (else watchfiles is used).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import time
from typing import Any

#: watchfiles' change codes (watchfiles.Change): added, modified, deleted.
ADDED, MODIFIED, DELETED = 1, 2, 3
#: Their names, as watchfiles.Change has them (the watcher looks them up per event).
CHANGE_NAMES = {ADDED: "added", MODIFIED: "modified", DELETED: "deleted"}
#: Seconds between looks at the stop event while no change comes (a rescan or quitting
#: waits at most this long for the watch to answer).
STOP_CHECK_S = 0.1

# inotify(7) event bits.
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008  # a written file closed: not in WATCH_MASK
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
#: What a watched directory reports: its entries created, written, changed, moved or
#: deleted, and itself deleted or moved (closing a written file is not a change).
WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows
_ADDED_BITS = IN_CREATE | IN_MOVED_TO
_DELETED_BITS = IN_DELETE | IN_MOVED_FROM
_SELF_GONE_BITS = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT
_MODIFIED_BITS = IN_MODIFY | IN_ATTRIB
#: Paths of events remembered per watch (see decode_events); past this many, forgotten.
PATHS_REMEMBERED = 4096

_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c") or None
        libc = ctypes.CDLL(name, use_errno=True)
        for fn in ("inotify_init1", "inotify_add_watch"):
            getattr(libc, fn)  # AttributeError where the C library lacks inotify
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = libc
    return _libc


def available() -> bool:
    """Whether inotify can be used here (Linux with a C library that has it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        _load_libc()
    except (OSError, AttributeError):
        return False
    return True


def decode_events(
    data: bytes, dirs: dict[int, str], paths: dict[tuple[int, bytes], str] | None = None
) -> tuple[list[tuple[int, str]], bool]:
    """(change, path) of each event in a read of the descriptor, and whether the kernel's
    queue overflowed. `dirs` maps watch descriptors to their directories' paths; `paths`,
    if given, remembers the path of each (descriptor, name) met (a live run's files send
    the same events over and over)."""
    changes: list[tuple[int, str]] = []
    overflow = False
    offset = 0
    size = _EVENT.size
    while offset + size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += size
        raw_name = data[offset : offset + length].rstrip(b"\0")
        offset += length
        if mask & IN_Q_OVERFLOW:
            overflow = True
            continue
        folder = dirs.get(wd)
        if folder is None:
            continue  # a watch already removed
        if mask & _SELF_GONE_BITS:
            changes.append((DELETED, folder))
            continue
        if not raw_name:
            continue  # the directory's own attributes
        path = paths.get((wd, raw_name)) if paths is not None else None
        if path is None:
            path = os.path.join(folder, os.fsdecode(raw_name))
            if paths is not None:
                if len(paths) >= PATHS_REMEMBERED:
                    paths.clear()
                paths[(wd, raw_name)] = path
        if mask & _ADDED_BITS:
            changes.append((ADDED, path))
        elif mask & _DELETED_BITS:
            changes.append((DELETED, path))
        elif mask & _MODIFIED_BITS:
            changes.append((MODIFIED, path))
    return changes, overflow


class InotifyWatch:
    """RustNotify's interface over one inotify descriptor (see the module docstring)."""

    def __init__(
        self,
        watch_paths: list[str],
        debug: bool = False,
        force_polling: bool = False,
        poll_delay_ms: int = 0,
        recursive: bool = False,
        ignore_permission_denied: bool = True,
    ) -> None:
        libc = _load_libc()
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._fd: int | None = fd
        self._dirs: dict[int, str] = {}
        self._paths: dict[tuple[int, bytes], str] = {}  # (descriptor, name) -> its path
        for path in watch_paths:
            wd = libc.inotify_add_watch(fd, os.fsencode(path), WATCH_MASK)
            if wd >= 0:
                self._dirs[wd] = path
            # A refusal (the watch limit, no permission, gone): skipped, as watchfiles does;
            # the watcher finds out from the kernel's own list which directories those are.

    def __enter__(self) -> InotifyWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def watch(
        self, debounce_ms: int, step_ms: int, timeout_ms: int, stop_event: Any
    ) -> set[tuple[int, str]] | str:
        """Changes once `step_ms` passed without another (or `debounce_ms` since the first);
        "stop" once stop_event is set; "timeout" after `timeout_ms` (0: never) without any."""
        if self._fd is None:
            raise RuntimeError("the watch is closed")
        changes: set[tuple[int, str]] = set()
        started = time.monotonic()
        first: float | None = None
        last = started
        while True:
            if stop_event is not None and stop_event.is_set():
                return "stop"
            now = time.monotonic()
            if first is not None:
                wait = min(last + step_ms / 1000, first + debounce_ms / 1000) - now
                if wait <= 0:
                    return changes
            else:
                wait = STOP_CHECK_S
                if timeout_ms:
                    left = started + timeout_ms / 1000 - now
                    if left <= 0:
                        return "timeout"
                    wait = min(wait, left)
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                continue
            found = self._read()
            if found:
                last = time.monotonic()
                first = last if first is None else first
                # As watchfiles: a file added or deleted in the batch is not also "modified".
                for code, path in found:
                    if code != MODIFIED or (
                        (ADDED, path) not in changes and (DELETED, path) not in changes
                    ):
                        changes.add((code, path))

    def _read(self) -> list[tuple[int, str]]:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return []
        found, overflow = decode_events(data, self._dirs, self._paths)
        if overflow:
            raise RuntimeError("the kernel's queue of file events overflowed")
        return found


__all__ = [
    "ADDED",
    "CHANGE_NAMES",
    "DELETED",
    "MODIFIED",
    "InotifyWatch",
    "available",
    "decode_events",
]

"""File watching: turns file-system changes under PATH into run updates.

The only module that imports watchfiles. It knows which metrics.json files
it has seen, so every change comes out as one of three things the monitor
cares about: a run appeared, a run changed, a run is gone.

Two sources, one interface (`RunWatcher.batches`):
- events with a short debounce, because the target is an epoch on screen
  well under 100 ms after it was written: on Linux a blocking inotify wait
  (metricwatch.inotify_watch, which costs nothing between events), elsewhere
  watchfiles' Rust backend (FSEvents & co.), whose interface it shares;
- polling for network file systems, where events from other machines never
  arrive: stat the known files each interval (the loader skips unchanged
  ones anyway) and look for new run directories every few intervals.

What changes mean is metricwatch.watch_tree's business (RunTree, which
RunWatcher extends); how they are noticed is this module's.

What is watched: one non-recursive watch per directory discovery searches
(see metricwatch.sources.discovery: the directories that can hold a run's file or a
new run, links followed once), never a recursive watch on PATH, which
would cost one watch per checkpoint directory of every run. A directory
that appears is searched by the same rule and the watch set is renewed,
followed by a catch-up (stat every known file, search again), so nothing
written meanwhile is lost. The directory is watched, not the file's inode,
so a metrics.json replaced atomically (temp file + rename) is followed.

Nothing stops silently:
- the kernel is asked which directories it really watches (metricwatch.inotify);
  those it refused (the per-user watch limit reached) are polled, and the
  mode label says so ("events + polling 2s (watch limit)");
- any watcher error (OSError, or a RuntimeError from watchfiles) renews the
  watch with a catch-up; errors in a row fall back to polling, said so;
- PATH deleted, moved, or not there yet: its runs are marked gone, the
  mode is "waiting for PATH", and when a directory appears there it is
  searched and watched again (found through an event on the nearest
  existing parent, or a check every ROOT_CHECK_S);
- a file that cannot even be stat'ed (a directory of mode 000 on the way)
  is a changed run, not a gone one: the loader reads it and says why;
- a stat or a search that does not answer (a hung network mount) is given
  up after a deadline (metricwatch.timed_io) and said once: the other runs
  go on updating, and what it held up is taken in when it answers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricwatch import inotify, inotify_watch
from metricwatch.sources.discovery import dir_id, resolve_root
from metricwatch.watch_routes import MetricsFilter, Tracked
from metricwatch.watch_tree import RunTree, RunUpdate, UpdateKind, _stamp

#: Milliseconds watchfiles waits for more changes before handing a batch over.
DEBOUNCE_MS = 30
#: Milliseconds between watchfiles' checks: latency after the last change is one or two steps.
STEP_MS = 10
#: Default polling interval on network file systems (and for what events cannot cover), seconds.
NETWORK_POLL_S = 2.0
#: In polling mode, look for new run directories every this many intervals (a walk is costly).
RESCAN_EVERY = 3
#: While PATH does not exist: check for it this often besides reacting to events on its parent.
ROOT_CHECK_S = 1.0
#: An idle watch checks this often that PATH is still the directory it watches: a parent
#: renamed (`mv exp exp.old` under `exp/runs`) sends no event to PATH's own watch.
IDLE_CHECK_S = 5.0
#: With directories left unwatched (the watch limit), try to watch them again this often.
WATCH_RETRY_S = 60.0
#: Watcher errors in a row (no batch in between) before events are given up for polling.
MAX_WATCH_FAILURES = 3

#: File-system types whose changes made elsewhere produce no local events.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "lustre",
        "gpfs",
        "ceph",
        "glusterfs",
        "beegfs",
        "afs",
        "9p",
        "panfs",
        "wekafs",
        "davfs",
        "sshfs",
    }
)


@dataclass(frozen=True)
class WatchMode:
    """How changes are noticed: file-system events, or polling every `interval` seconds.

    `reason` is the sentence shown when the mode changes; `note` a few words
    for the header's label. In event mode, `unwatched` directories could not
    be watched and are polled every `interval`. `waiting_for` is set while
    PATH does not exist.
    """

    polling: bool
    interval: float | None = None
    reason: str = ""
    note: str = ""
    unwatched: int = 0
    waiting_for: str | None = None

    @property
    def label(self) -> str:
        if self.waiting_for is not None:
            return f"waiting for {self.waiting_for}"
        if self.polling:
            label = f"polling {self.interval:g}s"
        elif self.unwatched:
            label = f"events + polling {self.interval:g}s"
        else:
            label = "events"
        return f"{label} ({self.note})" if self.note else label

    @property
    def degraded(self) -> bool:
        """Something is not watched the way it should be (shown as a warning)."""
        return self.waiting_for is not None or self.unwatched > 0 or bool(self.note)


# --- choosing the mode ----------------------------------------------------------------------


def _unescape_mount(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (\\040 ...)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: Path, mounts_text: str | None = None) -> str | None:
    """The type of the file system holding path: the mount with the longest matching prefix."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fstype = _unescape_mount(fields[1]), fields[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), fstype)
    return best[1] if best else None


def is_network_filesystem(fstype: str | None) -> bool:
    if not fstype:
        return False
    fstype = fstype.lower()
    return fstype in NETWORK_FS_TYPES or fstype.startswith("fuse") or fstype.startswith("nfs")


def choose_mode(
    path: Path, poll_interval: float | None = None, mounts_text: str | None = None
) -> WatchMode:
    """Events, unless forced to poll or PATH is on a network file system (then every 2 s)."""
    if poll_interval is not None:
        if poll_interval <= 0:
            raise ValueError(f"poll interval must be positive, got {poll_interval}")
        return WatchMode(True, float(poll_interval), "requested")
    fstype = filesystem_type(path, mounts_text)
    if is_network_filesystem(fstype):
        return WatchMode(True, NETWORK_POLL_S, f"{fstype} file system")
    return WatchMode(False)


# --- the event source ---------------------------------------------------------------------


class _AnyEvent:
    """is_set() of several events: what watchfiles checks between steps."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)


def _notify_class() -> Any:
    """A blocking inotify watch on Linux (metricwatch.inotify_watch: no wake-up every step
    while nothing changes); elsewhere watchfiles' Rust backend, whose interface it has
    (documented; watchfiles.watch is a loop around it)."""
    if inotify_watch.available():
        return inotify_watch.InotifyWatch
    from watchfiles._rust_notify import RustNotify

    return RustNotify


def _change_name(code: int) -> str:
    """A change code's name ("modified"): from a dict, not an Enum call per event."""
    name = inotify_watch.CHANGE_NAMES.get(code)
    if name is None:  # a code of watchfiles' that inotify_watch does not make
        from watchfiles import Change

        name = Change(code).name
    return name


#: Opening a watch and finding its inotify descriptor must not interleave with another.
_OPEN_LOCK = threading.Lock()


# --- the watcher ----------------------------------------------------------------------------


class RunWatcher(RunTree):
    """Knows the runs under root (RunTree) and follows their changes.

    `initial()` lists the runs present now (most recently updated first);
    `batches(stop)` then yields lists of updates until stop is set. Both are
    meant to run in one background thread. `on_error(message)` hears about
    directories that could not be searched; `on_mode(mode, message)` about
    every change of watch mode.
    """

    def __init__(
        self,
        root: Path,
        mode: WatchMode,
        *,
        debounce_ms: int = DEBOUNCE_MS,
        step_ms: int = STEP_MS,
        rescan_every: int = RESCAN_EVERY,
        on_error: Callable[[str], None] | None = None,
        on_mode: Callable[[WatchMode, str], None] | None = None,
    ) -> None:
        super().__init__(root, on_error=on_error)
        self.mode = mode
        self._requested = mode
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.rescan_every = max(1, rescan_every)
        self._rescan = threading.Event()
        self.on_mode = on_mode

    def request_rescan(self) -> None:
        """Search PATH again and renew the watch, from the watcher's thread (the `r` key)."""
        self._rescan.set()

    def initial(self) -> list[RunUpdate]:
        """The runs present now, remembering each file's stamp. A missing PATH is waited for;
        an unreadable one raises (DiscoveryError): the caller shows it."""
        with self._lock:
            resolve_root(self.root)
            if dir_id(self.watch_dir) is None:
                self._set_waiting(gone=False)
                return []
            found = self._scan_root()
            self._root_seen = True
            self.dirs = Tracked(found.dirs)
            updates = []
            for location in found.runs:
                self.known[location.metrics_path] = location.name
                self._stamps[location.metrics_path] = _stamp(location.metrics_path)
                updates.append(RunUpdate(UpdateKind.APPEARED, location.name, location.metrics_path))
            for error in found.errors:
                self._report(error)
            return updates

    def batches(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        source = self._poll(stop) if self._requested.polling else self._events(stop)
        for updates in source:
            if updates:
                yield updates

    def _events(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        wake = _AnyEvent(stop, self._rescan)
        failures = 0
        while not stop.is_set():
            if dir_id(self.watch_dir) is None:
                yield from self._wait_for_root(stop, wake)
                continue
            self._rescan.clear()
            try:
                notify = self._open()
            except (OSError, RuntimeError) as error:
                yield from self._fall_back_to_polling(stop, error)
                return
            try:
                with notify:
                    # Changes made before the watch was in place have no event: look.
                    yield self.poll_once(rescan=True)
                    if self._needs_new_watch():
                        continue  # the search found directories this watch lacks
                    for updates in self._follow(notify, stop, wake):
                        failures = 0
                        yield updates
            except (OSError, RuntimeError) as error:
                failures += 1
                if failures >= MAX_WATCH_FAILURES:
                    yield from self._fall_back_to_polling(stop, error)
                    return
                self._report(f"file events failed ({_describe(error)}); watching again")

    def _open(self) -> Any:
        """A watch on every searched directory; those the kernel refused are polled."""
        with self._lock:
            paths = dict(self.dirs)
            if self._single_file:
                paths = {p: i for p, i in paths.items() if p == self.watch_dir}
        # watchfiles takes paths as UTF-8 text: a directory whose name is not (bytes that
        # are no UTF-8, kept by Python as surrogates) cannot be given to it, and would stop
        # the whole watch. Such directories are polled, as those the kernel refuses.
        odd = {p for p in paths if not _utf8(str(p))}
        cls = _notify_class()
        with _OPEN_LOCK:
            before = inotify.inotify_fds()
            notify = cls([str(p) for p in paths if p not in odd], False, False, 0, False, True)
            after = inotify.inotify_fds()
        refused: set[Path] = set(odd)
        if before is not None and after is not None and len(after - before) == 1:
            watched = inotify.watched_ids(next(iter(after - before)))
            if watched is not None:
                # Refused: still there, yet not watched. (Gone meanwhile: the catch-up sees it.)
                refused |= {
                    p for p, ident in paths.items() if ident not in watched and dir_id(p) == ident
                }
        self._watched, self._unwatched = Tracked(paths), refused
        self._set_mode(self._event_mode(refused, len(paths), odd))
        return notify

    def _event_mode(self, refused: set[Path], total: int, odd: set[Path]) -> WatchMode:
        if not refused:
            return WatchMode(False)
        readable = [p for p in refused - odd if os.access(p, os.R_OK | os.X_OK)]
        if odd and not readable:
            cause, note = "their names are not valid UTF-8", "odd names"
        elif readable:
            limit = inotify.max_user_watches()
            cause = f"the inotify watch limit ({inotify.MAX_WATCHES_SYSCTL} = {limit}) is reached"
            note = "watch limit"
        else:
            cause, note = "they cannot be read", "not watchable"
        reason = (
            f"{len(refused)} of {total} directories could not be watched ({cause}): "
            f"they are polled every {NETWORK_POLL_S:g}s"
        )
        return WatchMode(False, NETWORK_POLL_S, reason, note, unwatched=len(refused))

    def _follow(
        self, notify: Any, stop: threading.Event, wake: _AnyEvent
    ) -> Iterator[list[RunUpdate]]:
        """Batches from one watch, until PATH goes, the watch set must grow, or a rescan."""
        opened = last_poll = time.monotonic()
        ticks = 0
        root_id = self._watched.get(self.watch_dir)
        while True:
            timeout_ms = int((NETWORK_POLL_S if self._unwatched else IDLE_CHECK_S) * 1000)
            raw = notify.watch(self.debounce_ms, self.step_ms, timeout_ms, wake)
            if raw == "stop":
                return  # stopped, or a rescan asked for: the caller watches afresh
            changes = [] if isinstance(raw, str) else [(_change_name(c), p) for c, p in raw]
            updates = self.classify(changes) if changes else []
            now = time.monotonic()
            if self._unwatched and now - last_poll >= NETWORK_POLL_S:
                ticks, last_poll = ticks + 1, now
                updates += self._poll_unwatched(rescan=ticks % self.rescan_every == 0)
            yield updates
            if dir_id(self.watch_dir) != root_id or self._needs_new_watch():
                return  # PATH gone or replaced, or new directories: watch afresh
            if self._unwatched and now - opened >= WATCH_RETRY_S:
                return

    def _wait_for_root(self, stop: threading.Event, wake: _AnyEvent) -> Iterator[list[RunUpdate]]:
        """PATH does not exist: mark its runs gone, then wait for it to appear."""
        with self._lock:
            self._set_waiting(gone=self._root_seen)
            self.dirs.clear()
            gone = self._stat_files(list(self.known))
        if gone:
            yield gone
        while not stop.is_set() and dir_id(self.watch_dir) is None:
            self._rescan.clear()
            parent = _existing_ancestor(self.watch_dir)
            try:
                with _notify_class()([str(parent)], False, False, 0, False, True) as notify:
                    while (
                        not stop.is_set()
                        and dir_id(self.watch_dir) is None
                        and _existing_ancestor(self.watch_dir) == parent
                    ):
                        notify.watch(self.debounce_ms, self.step_ms, int(ROOT_CHECK_S * 1000), wake)
                        self._rescan.clear()
            except (OSError, RuntimeError) as error:
                self._report(f"cannot watch {parent} for {self.display}: {_describe(error)}")
                stop.wait(ROOT_CHECK_S)

    def _fall_back_to_polling(
        self, stop: threading.Event, error: BaseException
    ) -> Iterator[list[RunUpdate]]:
        reason = f"file events failed ({_describe(error)}); polling every {NETWORK_POLL_S:g}s"
        self._requested = WatchMode(True, NETWORK_POLL_S, reason, "events failed")
        self._set_mode(self._requested)
        yield self.poll_once(rescan=True)
        yield from self._poll(stop)

    def _set_mode(self, mode: WatchMode, message: str | None = None) -> None:
        if mode == self.mode:
            return
        back = self.mode.waiting_for is not None and mode.waiting_for is None
        self.mode = mode
        if message is None:
            message = f"{self.display} is there: watching it ({mode.label})" if back else ""
            message = message or mode.reason
        if self.on_mode is not None:
            self.on_mode(mode, message)

    def _set_waiting(self, *, gone: bool) -> None:
        if gone:
            message = f"{self.display} is gone (deleted or moved): waiting for it to appear again"
        else:
            message = f"{self.display} does not exist yet: waiting for it to appear"
        mode = WatchMode(
            self._requested.polling,
            self._requested.interval,
            message,
            self._requested.note,
            waiting_for=self.display,
        )
        # Not there at start: the screen says so (the waiting text); gone later: tell it.
        self._set_mode(mode, message if gone else "")

    def _poll(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        interval = self._requested.interval or NETWORK_POLL_S
        tick = 0
        while not stop.wait(interval):
            tick += 1
            rescan = tick % self.rescan_every == 0 or self._rescan.is_set()
            self._rescan.clear()
            yield self.poll_once(rescan=rescan)
            self._track_root()

    def _track_root(self) -> None:
        """Polling: the mode follows PATH's presence (events mode does this in _events)."""
        with self._lock:
            if dir_id(self.watch_dir) is None:
                self._set_waiting(gone=self._root_seen)
            elif self.mode.waiting_for is not None:
                self._set_mode(self._requested)


def _utf8(text: str) -> bool:
    """Whether the text can be UTF-8 (a file name of bytes that are not holds surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _existing_ancestor(path: Path) -> Path:
    for ancestor in path.parents:
        if dir_id(ancestor) is not None:
            return ancestor
    return Path(path.anchor or "/")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


__all__ = [
    "NETWORK_POLL_S",
    "MetricsFilter",
    "RunUpdate",
    "RunWatcher",
    "UpdateKind",
    "WatchMode",
    "choose_mode",
    "filesystem_type",
]

"""File watching: turns file-system changes under PATH into run updates.

The only module that imports watchfiles. It knows which metrics.json files
it has seen, so every change comes out as one of three things the monitor
cares about: a run appeared, a run changed, a run is gone.

Two sources, one interface (`RunWatcher.batches`):
- events (inotify & co. through watchfiles) with a short debounce, because
  the target is an epoch on screen well under 100 ms after it was written;
- polling for network file systems, where events from other machines never
  arrive: stat the known files each interval (the loader skips unchanged
  ones anyway) and look for new run directories every few intervals.

The directory is watched, not the file's inode, so a metrics.json replaced
atomically (temp file + rename, as metricwatch's writer does) is followed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from metricwatch.discovery import (
    METRICS_FILENAME,
    DiscoveryError,
    discover_runs,
    is_run_dir_candidate,
    run_name,
)

#: Milliseconds watchfiles waits for more changes before handing a batch over.
DEBOUNCE_MS = 30
#: Milliseconds between watchfiles' checks: latency after the last change is one or two steps.
STEP_MS = 10
#: Default polling interval on network file systems, in seconds.
NETWORK_POLL_S = 2.0
#: In polling mode, look for new run directories every this many intervals (a walk is costly).
RESCAN_EVERY = 3

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


class UpdateKind(str, Enum):
    APPEARED = "appeared"
    CHANGED = "changed"
    GONE = "gone"


@dataclass(frozen=True)
class RunUpdate:
    """Something happened to one run: its name (as discovery names it) and its file."""

    kind: UpdateKind
    name: str
    metrics_path: Path


@dataclass(frozen=True)
class WatchMode:
    """How changes are noticed: file-system events, or polling every `interval` seconds."""

    polling: bool
    interval: float | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        if not self.polling:
            return "events"
        return f"polling {self.interval:g}s"


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


# --- what the watcher looks at --------------------------------------------------------------


def _is_metrics_file(path: str) -> bool:
    return os.path.basename(path) == METRICS_FILENAME


class MetricsFilter:
    """watchfiles filter: metrics.json files, new directories, and deletions (maybe a run dir).

    The writer's temporary files (`.metrics.json.XXXX.tmp`) and everything
    under hidden or skipped directories are dropped here, in the watcher
    thread, so a busy training directory (checkpoints, logs) costs nothing
    further up.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, change: object, path: str) -> bool:
        name = os.path.basename(path)
        if name.startswith("."):
            return False
        parent = Path(path).parent
        if not is_run_dir_candidate(self.root, parent):
            return False
        if name == METRICS_FILENAME:
            return True
        kind = getattr(change, "name", str(change))
        if kind == "added":
            return os.path.isdir(path)
        return kind == "deleted"


# --- the watcher ----------------------------------------------------------------------------


class RunWatcher:
    """Knows the runs under root and turns raw changes into RunUpdates.

    `initial()` lists the runs present now (most recently updated first);
    `batches(stop)` then yields lists of updates until stop is set. Both are
    meant to run in one background thread.
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
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.mode = mode
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.rescan_every = max(1, rescan_every)
        self.known: dict[Path, str] = {}
        self._stamps: dict[Path, tuple[int, int, int] | None] = {}
        self._single_file = self.root.is_file()
        # classify (watcher thread) and catch_up (another thread) both update `known`.
        self._lock = threading.RLock()
        # Told (once per distinct message) about a directory that could not be scanned.
        self.on_error = on_error
        self._last_error: str | None = None

    @property
    def watch_dir(self) -> Path:
        return self.root.parent if self._single_file else self.root

    def initial(self) -> list[RunUpdate]:
        """The runs present now, remembering each file's stamp for catch_up."""
        updates = []
        # An unreadable root raises here: the caller shows it instead of waiting forever.
        locations = discover_runs(self.root)
        with self._lock:
            for location in locations:
                self.known[location.metrics_path] = location.name
                self._stamps[location.metrics_path] = _stamp(location.metrics_path)
                updates.append(RunUpdate(UpdateKind.APPEARED, location.name, location.metrics_path))
        return updates

    def batches(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        source = self._poll(stop) if self.mode.polling else self._events(stop)
        for updates in source:
            if updates:
                yield updates

    # events -----------------------------------------------------------------------------------

    def _events(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        import watchfiles  # only here: the poll mode and the tests of classify need none of it

        for changes in watchfiles.watch(
            self.watch_dir,
            watch_filter=MetricsFilter(self.watch_dir),
            debounce=self.debounce_ms,
            step=self.step_ms,
            stop_event=stop,
            recursive=not self._single_file,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            yield self.classify((change.name, path) for change, path in changes)

    def classify(
        self,
        changes: Iterable[tuple[str, str]],
        exists: Callable[[Path], bool] = Path.exists,
    ) -> list[RunUpdate]:
        """Raw (change name, path) pairs to run updates, deduplicated, known runs updated.

        The file's existence now decides between changed and gone, so a batch
        holding "deleted" then "added" for one file (a replace) reads as
        changed, whatever order the platform reported. Existence, not "is a
        regular file": a FIFO or directory named metrics.json is a run the
        loader reports as unreadable (shown), not a silently missing one.
        """
        with self._lock:
            return self._classify(changes, exists)

    def catch_up(self) -> list[RunUpdate]:
        """What changed since initial() by stat alone.

        File events only start once the OS watch is installed, after the
        initial scan and load; a write in between would be lost. Called once
        the watch is surely running, this finds it (a file reported twice is
        merely re-checked: the loader skips unchanged files).
        """
        return self.poll_once(rescan=True)

    def _classify(
        self, changes: Iterable[tuple[str, str]], exists: Callable[[Path], bool]
    ) -> list[RunUpdate]:
        files: set[Path] = set()
        new_dirs: set[Path] = set()
        removed: set[Path] = set()
        for kind, raw in changes:
            path = Path(raw)
            if _is_metrics_file(raw):
                files.add(path)
            elif kind == "added":
                new_dirs.add(path)
            elif kind == "deleted":
                removed.add(path)
        updates: list[RunUpdate] = []
        seen: set[Path] = set()
        for directory in sorted(new_dirs):
            for location in self._discover(directory):
                files.discard(location.metrics_path)
                seen.add(location.metrics_path)
                updates.extend(self._file_update(location.metrics_path, True))
        for path in sorted(files):
            if self._single_file and path != self.root:
                continue
            if path not in seen:
                updates.extend(self._file_update(path, exists(path)))
        for update in updates:
            # Stamp what events brought in, so catch_up does not load it a second time.
            if update.kind is not UpdateKind.GONE:
                self._stamps[update.metrics_path] = _stamp(update.metrics_path)
        for gone in sorted(removed):
            for metrics_path in [p for p in self.known if _is_under(p, gone)]:
                if not exists(metrics_path):
                    updates.extend(self._file_update(metrics_path, False))
        return updates

    def _file_update(self, metrics_path: Path, present: bool) -> list[RunUpdate]:
        name = self.known.get(metrics_path)
        if present:
            if name is None:
                name = self._name(metrics_path)
                if name is None:
                    return []
                self.known[metrics_path] = name
                return [RunUpdate(UpdateKind.APPEARED, name, metrics_path)]
            return [RunUpdate(UpdateKind.CHANGED, name, metrics_path)]
        if name is None:
            return []
        del self.known[metrics_path]
        self._stamps.pop(metrics_path, None)
        return [RunUpdate(UpdateKind.GONE, name, metrics_path)]

    def _name(self, metrics_path: Path) -> str | None:
        try:
            return run_name(self.root, metrics_path)
        except ValueError:
            return None

    def _discover(self, directory: Path) -> list:
        try:
            locations = discover_runs(directory)
        except (DiscoveryError, OSError) as error:
            # Reported, not dropped: a directory we cannot read hides its runs.
            self._report(
                str(error) if isinstance(error, DiscoveryError) else f"{directory}: {error}"
            )
            return []
        if directory == self.root:
            return locations
        # discover_runs names runs relative to `directory`; the monitor names them from root.
        renamed = []
        for location in locations:
            name = self._name(location.metrics_path)
            if name is not None:
                renamed.append(type(location)(name, location.metrics_path, location.mtime))
        return renamed

    def _report(self, message: str) -> None:
        if self.on_error is not None and message != self._last_error:
            self._last_error = message
            self.on_error(message)

    # polling ----------------------------------------------------------------------------------

    def _poll(self, stop: threading.Event) -> Iterator[list[RunUpdate]]:
        interval = self.mode.interval or NETWORK_POLL_S
        tick = 0
        while not stop.wait(interval):
            tick += 1
            yield self.poll_once(rescan=tick % self.rescan_every == 0)

    def poll_once(self, *, rescan: bool) -> list[RunUpdate]:
        """One polling round: stat every known file; with rescan, also look for new runs."""
        with self._lock:
            return self._poll_once(rescan)

    def _poll_once(self, rescan: bool) -> list[RunUpdate]:
        updates: list[RunUpdate] = []
        for metrics_path in list(self.known):
            stamp = _stamp(metrics_path)
            if stamp is None:
                updates.extend(self._file_update(metrics_path, False))
            elif stamp != self._stamps.get(metrics_path):
                found = self._file_update(metrics_path, True)
                if found:
                    self._stamps[metrics_path] = stamp
                updates.extend(found)
        if rescan or not self.known:
            for location in self._discover(self.root):
                if location.metrics_path not in self.known:
                    found = self._file_update(location.metrics_path, True)
                    if found:
                        self._stamps[location.metrics_path] = _stamp(location.metrics_path)
                    updates.extend(found)
        return updates


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _is_under(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents

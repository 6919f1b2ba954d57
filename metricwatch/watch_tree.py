"""The watcher's picture of PATH: which runs and directories it knows, and what a change means.

`RunTree` turns raw file-system changes ("added", "modified", "deleted" and
a path) and stat rounds into run updates: a run appeared, changed, or is
gone. It decides nothing about how changes are noticed (metricwatch.watch
does: events, polling, waiting for PATH); it only keeps the bookkeeping
both need, under one lock:

- `known`: every run's metrics.json and its name, with a stamp per file
  (inode, size, mtime) so a stat round reports only what moved;
- `dirs`: every directory searched by discovery's rule (what can hold a
  run's file or a new run), each with its identity: the watch set.

A run may own subdirectories (FileFormat.owned: MLflow's `metrics/` tree,
Keras' `train/` and `validation/`, the newest `checkpoint-N/`): they are in
`dirs` (watched), and a change in them, or a directory made or removed in
the run's directory, is a change of that run. A run whose format keeps its
file in a subdirectory (FileFormat.nested: Hugging Face checkpoints) picks
its file again then: when a newer checkpoint is saved (or the old one
deleted) the run follows it, a CHANGED update with the new path, under
the same name.

A directory that appears is searched by the same rule as at start-up
(links followed once, every real directory at most once, a run's own
subdirectories never), so a link loop made while watching lists nothing
twice. A searched directory deleted or replaced loses its entry (and its
watch) even if the new one got the same inode number. A file that cannot
even be stat'ed (a directory of mode 000 on the way) is present: a changed
run, which the loader reports as unreadable, never a gone one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from metricwatch.discovery import (
    DirId,
    DiscoveryError,
    Scan,
    claims_file,
    dir_id,
    distinct_name,
    is_run_dir_candidate,
    owned_dirs,
    run_dir_of,
    run_file_of,
    run_name,
    scan,
)
from metricwatch.readers import FileFormat, may_be_run_file
from metricwatch.safetext import printable

Stamp = tuple[int, int, int]


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


def _is_metrics_file(path: str) -> bool:
    """A name some reader may hold (metrics.json, ...): worth a look."""
    return may_be_run_file(os.path.basename(path))


class MetricsFilter:
    """The names worth a look: metrics.json files, new directories, and deletions.

    The writer's temporary files (`.metrics.json.XXXX.tmp`) and everything
    under hidden or skipped directories are dropped here, before any stat.
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
        if may_be_run_file(name):
            return True
        kind = getattr(change, "name", str(change))
        if kind == "added":
            return os.path.isdir(path)
        return kind == "deleted"


class RunTree:
    """The runs and searched directories under root; changes in, RunUpdates out."""

    def __init__(self, root: Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self.known: dict[Path, str] = {}
        self.dirs: dict[Path, DirId] = {}  # every directory searched: what events come from
        self._stamps: dict[Path, Stamp | None] = {}
        self._run_dirs: dict[Path, Path] = {}  # run file -> its run directory (cached)
        self._formats: dict[Path, FileFormat | None] = {}  # run file -> its format (cached)
        # Runs read whole-directory (MLflow, TensorBoard): a stamp of their other files, so
        # that a stat round (polling, a catch-up) sees a metric appended beside the run file.
        self._trees: dict[Path, int] = {}
        self._single_file = os.path.isfile(self.root) or (
            not os.path.lexists(self.root)
            and (may_be_run_file(self.root.name) or self.root.suffix == ".json")
        )
        shown = printable(str(root))
        self.display = shown if self._single_file or shown.endswith("/") else f"{shown}/"
        self._watched: dict[Path, DirId] = {}  # what the open watch was given
        self._unwatched: set[Path] = set()  # ... and the kernel refused: polled
        self._root_seen = False  # PATH existed once: if it goes, it is "gone", not "not yet"
        # The watcher thread and a caller of poll_once may both update `known`.
        self._lock = threading.RLock()
        self.on_error = on_error
        self._last_error: str | None = None

    @property
    def watch_dir(self) -> Path:
        return self.root.parent if self._single_file else self.root

    def catch_up(self) -> list[RunUpdate]:
        """What changed since the last look, by stat and a new search (after a gap in events)."""
        return self.poll_once(rescan=True)

    def poll_once(self, *, rescan: bool) -> list[RunUpdate]:
        """One polling round: stat every known file; with rescan, also look for new runs."""
        with self._lock:
            if dir_id(self.watch_dir) is None:
                self.dirs.clear()  # nothing searched is there any more
                return self._stat_files(list(self.known))  # all gone
            if not self._root_seen or self.watch_dir not in self.dirs:
                rescan = True  # PATH is there (again)
            self._root_seen = True
            updates = self._stat_files(list(self.known))
            if rescan or not self.known:
                updates.extend(self._absorb(self._search_root(), full=True))
            return updates

    def classify(
        self,
        changes: Iterable[tuple[str, str]],
        exists: Callable[[Path], bool] | None = None,
    ) -> list[RunUpdate]:
        """Raw (change name, path) pairs to run updates, deduplicated, known runs updated.

        The file's existence now decides between changed and gone, so a batch
        holding "deleted" then "added" for one file (a replace) reads as
        changed, whatever order the platform reported. Existence, not "is a
        regular file" or "readable": a FIFO, or a file behind a directory we
        may not enter, is a run the loader reports as unreadable (shown), not
        a silently missing one.
        """
        with self._lock:
            return self._classify(changes, exists or _present)

    def _classify(
        self, changes: Iterable[tuple[str, str]], exists: Callable[[Path], bool]
    ) -> list[RunUpdate]:
        keep = MetricsFilter(self.root if not self._single_file else self.watch_dir)
        files: set[Path] = set()
        new_dirs: set[Path] = set()
        removed: set[Path] = set()
        touched: dict[Path, bool] = {}  # runs to look at again -> whether they surely changed
        by_dir = {} if self._single_file else {self._run_dir(p): p for p in self.known}
        for kind, raw in changes:
            path = Path(raw)
            if path == self.watch_dir or path in self.dirs:
                if kind in ("deleted", "added"):
                    removed.add(path)  # gone, or maybe replaced: its identity decides
                if (owner := self._owner(path.parent, by_dir)) is not None:
                    touched[owner] = touched.get(owner, False)  # an owned directory came or went
                continue
            if (owner := self._owner(path.parent, by_dir)) is not None and path != owner:
                self._touch(touched, owner, path, kind)
                continue
            if not keep(_Kind(kind), raw):
                continue
            if _is_metrics_file(raw):
                if self._single_file:
                    if path == self.root:
                        files.add(path)
                elif path in self.known or (
                    not self._run_above(path.parent) and claims_file(path) is not None
                ):
                    # A new file in a directory that is no run yet, if a reader claims it
                    # (one file per run: another log beside a run's file is its own).
                    files.add(path)
            elif kind == "added" and not self._single_file and not self._run_above(path.parent):
                new_dirs.add(path)
        updates: list[RunUpdate] = []
        # Deletions first: a directory moved within PATH frees its identity for its new path.
        # A searched directory deleted (or replaced) has lost its watch, even if one made
        # again there got the same inode number: it is searched and watched anew.
        for gone in sorted(removed):
            for directory in [d for d in self.dirs if _is_under(d, gone)]:
                del self.dirs[directory]
                self._watched.pop(directory, None)
            for metrics_path in [p for p in self.known if _is_under(p, gone)]:
                if not exists(metrics_path):
                    touched.pop(metrics_path, None)
                    updates.extend(self._file_update(metrics_path, False))
            if os.path.isdir(gone):  # made again within the batch
                if gone == self.watch_dir:
                    updates.extend(self._absorb(self._search_root(), full=True))
                else:
                    new_dirs.add(gone)
        for directory in sorted(new_dirs):
            found = self._search(directory)
            files.difference_update(location.metrics_path for location in found.runs)
            updates.extend(self._absorb(found, full=False))
        for path in sorted(files):
            present = exists(path)
            found_update = self._file_update(path, present)
            if present and found_update:
                self._mark(path)  # so a catch-up does not load it again
            updates.extend(found_update)
            touched.pop(path, None)
        for metrics_path, changed in sorted(touched.items()):
            if metrics_path in self.known:
                updates.extend(self._revisit(metrics_path, changed))
        return updates

    def _owner(self, directory: Path, by_dir: dict[Path, Path]) -> Path | None:
        """The known run file whose run directory is directory, or which owns it (a watched
        subdirectory of the run: MLflow's metrics/, Keras' train/, a checkpoint)."""
        if directory in by_dir:
            return by_dir[directory]
        if directory not in self.dirs:
            return None
        for ancestor in directory.parents:
            if ancestor in by_dir:
                return by_dir[ancestor]
            if ancestor == self.watch_dir:
                return None
        return None

    def _touch(self, touched: dict[Path, bool], owner: Path, path: Path, kind: str) -> None:
        """A change at path, below the run of owner (its file is not path): is it the run's?

        In an owned directory, every file is the run's (MLflow metric files have any name).
        Beside the run's file: a directory made or removed may be a new checkpoint or the
        run's metrics/ folder; a log file is the run's when its format reads the whole
        directory (TensorBoard's next event file), or may be the run's file now (a final
        trainer_state.json); anything else beside a run is its own business."""
        if path.name.startswith("."):
            return  # a writer's temporary file
        fmt = self._format(owner)
        if fmt is None:
            return
        surely = fmt.tail is not None
        if path.parent != self._run_dir(owner):
            touched[owner] = touched.get(owner, False) or surely
        elif may_be_run_file(path.name) and fmt.may_hold(path.name):
            if surely or fmt.nested is not None:  # the next event file; a final state
                touched[owner] = touched.get(owner, False) or surely
        elif (fmt.owned is not None or fmt.nested is not None) and (
            kind == "deleted" or (kind == "added" and os.path.isdir(path))
        ):
            touched[owner] = touched.get(owner, False)  # a checkpoint, metrics/, validation/

    def _revisit(self, metrics_path: Path, changed: bool) -> list[RunUpdate]:
        """A run whose directory moved: pick its file again (nested formats) and renew the
        owned directories it is watched by; CHANGED when anything of it moved."""
        fmt = self._format(metrics_path)
        run_dir = self._run_dir(metrics_path)
        path = metrics_path
        if fmt is not None and fmt.nested is not None:
            picked = run_file_of(run_dir)
            if picked is not None and picked != metrics_path and run_dir_of(picked) == run_dir:
                path = self._move(metrics_path, picked)
                changed = True
            elif not _present(metrics_path):
                return self._file_update(metrics_path, False)
        if self._sync_owned(path, fmt) and fmt is not None and fmt.tail is not None:
            changed = True  # a new folder of the run (a nested metric key, validation/)
        if not changed:
            return []
        self._mark(path)
        return [RunUpdate(UpdateKind.CHANGED, self.known[path], path)]

    def _move(self, old: Path, new: Path) -> Path:
        """The run of old is read from new from now on (same name, same run directory)."""
        self.known[new] = self.known.pop(old)
        self._stamps.pop(old, None)
        self._run_dirs[new] = self._run_dirs.pop(old, run_dir_of(new))
        self._formats[new] = self._formats.pop(old, None) or claims_file(new)
        self._trees.pop(old, None)
        self._mark(new)
        return new

    def _mark(self, metrics_path: Path) -> None:
        """The run as just reported: its file's stamp (and its other files') are the known."""
        self._stamps[metrics_path] = _stamp(metrics_path)
        tree = self._tree_stamp(metrics_path)
        if tree is not None:
            self._trees[metrics_path] = tree

    def _tree_moved(self, metrics_path: Path) -> bool:
        """Whether a file of the run other than its run file changed since last marked."""
        tree = self._tree_stamp(metrics_path)
        if tree is None:
            return False
        before = self._trees.get(metrics_path)
        self._trees[metrics_path] = tree
        return before is not None and before != tree

    def _tree_stamp(self, metrics_path: Path) -> int | None:
        """A digest of (name, size, mtime) of the run's files read with its run file: those of
        its format beside it and everything in its owned directories. None for a run read
        from its file alone."""
        fmt = self._format(metrics_path)
        if fmt is None or fmt.tail is None or self._single_file:
            return None
        run_dir = self._run_dir(metrics_path)
        entries: list[tuple[str, int, int]] = []
        for folder in [run_dir, *owned_dirs(metrics_path, fmt)]:
            try:
                with os.scandir(folder) as listing:
                    for entry in listing:
                        if folder == run_dir and not fmt.may_hold(entry.name):
                            continue
                        if entry.is_file():
                            info = entry.stat()
                            entries.append((entry.path, info.st_size, info.st_mtime_ns))
            except OSError:
                continue
        return hash(tuple(sorted(entries)))

    def _sync_owned(self, metrics_path: Path, fmt: FileFormat | None) -> bool:
        """Make the run's owned directories the watched ones below its run directory;
        whether one was added (the watch must then be renewed)."""
        if fmt is None or fmt.owned is None:
            return False
        run_dir = self._run_dir(metrics_path)
        wanted = {d: ident for d in owned_dirs(metrics_path, fmt) if (ident := dir_id(d))}
        for directory in [d for d in self.dirs if d != run_dir and _is_under(d, run_dir)]:
            if directory not in wanted:
                del self.dirs[directory]
        added = False
        for directory, ident in wanted.items():
            if self.dirs.get(directory) != ident:
                self.dirs[directory] = ident
                added = True
        return added

    def _run_dir(self, metrics_path: Path) -> Path:
        run_dir = self._run_dirs.get(metrics_path)
        if run_dir is None:
            run_dir = run_dir_of(metrics_path)
            if not _is_under(run_dir, self.watch_dir):
                run_dir = metrics_path.parent
            self._run_dirs[metrics_path] = run_dir
        return run_dir

    def _format(self, metrics_path: Path) -> FileFormat | None:
        if metrics_path not in self._formats:
            self._formats[metrics_path] = claims_file(metrics_path)
        return self._formats[metrics_path]

    def _run_above(self, directory: Path) -> bool:
        """Whether directory is a known run's directory or below one (then what appears in
        it is the run's own: checkpoints, logs), looking no higher than PATH."""
        run_dirs = {self._run_dir(path) for path in self.known}
        for ancestor in (directory, *directory.parents):
            if not _is_under(ancestor, self.watch_dir):
                return False
            if ancestor in run_dirs:
                return True
            if ancestor == self.watch_dir:
                return False
        return False

    def _search(self, directory: Path) -> Scan:
        """A new directory, searched by discovery's rule without what is already searched."""
        if not os.path.isdir(directory):
            return Scan()
        seen = {ident for path, ident in self.dirs.items() if not _is_under(path, directory)}
        try:
            return scan(directory, name_root=self.root, seen=seen)
        except (DiscoveryError, OSError) as error:
            # Reported, not dropped: a directory we cannot read hides its runs.
            self._report(
                str(error) if isinstance(error, DiscoveryError) else f"{directory}: {error}"
            )
            return Scan()

    def _absorb(self, found: Scan, *, full: bool) -> list[RunUpdate]:
        """A search's runs as updates (new: appeared; known: changed if their stamp moved)."""
        for error in found.errors:
            self._report(error)
        self._learn(found)
        if full:
            self.dirs = dict(found.dirs)
        else:
            self.dirs.update(found.dirs)
        updates: list[RunUpdate] = []
        for location in found.runs:
            path = location.metrics_path
            stamp = _stamp(path)
            if path in self.known and stamp == self._stamps.get(path):
                continue
            update = self._file_update(path, True)
            if update:
                self._stamps[path] = stamp
            updates.extend(update)
        return updates

    def _file_update(self, metrics_path: Path, present: bool) -> list[RunUpdate]:
        name = self.known.get(metrics_path)
        if present:
            if name is None:
                same_run = self._known_run_in(self._run_dir(metrics_path))
                if same_run is not None:  # its run read from another file until now
                    self._move(same_run, metrics_path)
                    return [RunUpdate(UpdateKind.CHANGED, self.known[metrics_path], metrics_path)]
                name = self._name(metrics_path)
                if name is None:
                    return []
                self.known[metrics_path] = name
                self._sync_owned(metrics_path, self._format(metrics_path))
                return [RunUpdate(UpdateKind.APPEARED, name, metrics_path)]
            return [RunUpdate(UpdateKind.CHANGED, name, metrics_path)]
        if name is None:
            return []
        fmt = self._format(metrics_path)
        if fmt is not None and fmt.nested is not None and not self._single_file:
            # Its checkpoint was deleted (save_total_limit): the run goes on in another one.
            picked = run_file_of(self._run_dir(metrics_path))
            if (
                picked is not None
                and picked not in self.known
                and run_dir_of(picked) == self._run_dir(metrics_path)
            ):
                self._move(metrics_path, picked)
                self._sync_owned(picked, fmt)
                return [RunUpdate(UpdateKind.CHANGED, name, picked)]
        del self.known[metrics_path]
        self._stamps.pop(metrics_path, None)
        self._run_dirs.pop(metrics_path, None)
        self._formats.pop(metrics_path, None)
        self._trees.pop(metrics_path, None)
        return [RunUpdate(UpdateKind.GONE, name, metrics_path)]

    def _known_run_in(self, run_dir: Path) -> Path | None:
        """The known run file (of a format that moves its file) whose run is run_dir."""
        for path in self.known:
            fmt = self._format(path)
            if fmt is not None and fmt.nested is not None and self._run_dir(path) == run_dir:
                return path
        return None

    def _name(self, metrics_path: Path) -> str | None:
        try:
            name = run_name(self.root, metrics_path)
        except ValueError:
            return None
        return distinct_name(name, metrics_path, set(self.known.values()))

    def _scan_root(self) -> Scan:
        if self._single_file:
            found = scan(self.root) if os.path.lexists(self.root) else Scan()
            ident = dir_id(self.watch_dir)
            found.dirs = {self.watch_dir: ident} if ident is not None else {}
            return found
        found = scan(self.root)
        self._learn(found)
        return found

    def _learn(self, found: Scan) -> None:
        """Each found run's directory and format, while its file is there to tell them (a
        deleted checkpoint's file no longer says which run it was of)."""
        for location in found.runs:
            self._run_dir(location.metrics_path)
            self._format(location.metrics_path)
            if location.metrics_path not in self._trees:
                tree = self._tree_stamp(location.metrics_path)
                if tree is not None:
                    self._trees[location.metrics_path] = tree

    def _search_root(self) -> Scan:
        try:
            return self._scan_root()
        except (DiscoveryError, OSError) as error:
            self._report(str(error))
            return Scan(dirs=dict(self.dirs))  # keep what is known: nothing was searched

    def _poll_unwatched(self, *, rescan: bool) -> list[RunUpdate]:
        """Event mode: poll the directories the kernel would not watch."""
        with self._lock:
            polled = sorted(self._unwatched)
            updates = self._stat_files([p for p in self.known if p.parent in self._unwatched])
            if not rescan:
                return updates
            changes = []
            for directory in polled:
                if directory not in self.dirs:
                    continue
                if dir_id(directory) != self.dirs[directory]:
                    changes.append(("deleted", str(directory)))
                elif not any(path.parent == directory for path in self.known):
                    updates.extend(self._absorb(self._search_again(directory), full=False))
            return updates + self._classify(changes, _present)

    def _search_again(self, directory: Path) -> Scan:
        """A searched directory listed again for what is new in it."""
        seen = {ident for path, ident in self.dirs.items() if path != directory}
        try:
            return scan(directory, name_root=self.root, seen=seen)
        except (DiscoveryError, OSError) as error:
            self._report(str(error))
            return Scan()

    def _stat_files(self, paths: list[Path]) -> list[RunUpdate]:
        updates: list[RunUpdate] = []
        for metrics_path in paths:
            stamp = _stamp(metrics_path)
            if stamp is None:
                updates.extend(self._file_update(metrics_path, False))
            elif self._tree_moved(metrics_path) or stamp != self._stamps.get(metrics_path):
                found = self._file_update(metrics_path, True)
                if found:
                    self._stamps[metrics_path] = stamp
                updates.extend(found)
        return updates

    def _needs_new_watch(self) -> bool:
        with self._lock:
            return any(self._watched.get(p) != ident for p, ident in self.dirs.items())

    def _report(self, message: str) -> None:
        if self.on_error is not None and message != self._last_error:
            self._last_error = message
            self.on_error(message)


class _Kind:
    """A change name as MetricsFilter expects it (an object with .name)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _stamp(path: Path) -> Stamp | None:
    """(inode, size, mtime) of the file; None only if it is not there. A file we may not
    stat (a directory of mode 000 on the way) gets a stamp of its error: present."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        return (-1, error.errno or 0, 0)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _present(path: Path) -> bool:
    return _stamp(path) is not None


def _is_under(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents

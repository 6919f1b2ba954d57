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

A run may be more than its file (MLflow's `metrics/` tree, Keras' `train/`
and `validation/`, Hugging Face's newest checkpoint): metricwatch.watch_runs
(RunLayouts) keeps what the tree knows of each run's directory and layout.

A directory that appears is searched by the same rule as at start-up
(links followed once, every real directory at most once, a run's own
subdirectories never), so a link loop made while watching lists nothing
twice. What the watcher knows is what a search from scratch would find now,
whatever the order things were made in: when a folder becomes a run (`bert/`
gets `checkpoint-10/` while `bert/eval` is a run), the runs inside it are gone
(said once: they are the new run's own) and their folders unwatched; when it
stops being one, it is searched again and they come back. A catch-up's search
that misses a known run looks at its file again, so a move reads gone, then
appeared, as it does with events.

A searched directory deleted or replaced loses its entry (and its watch)
even if the new one got the same inode number. A file that cannot even be
stat'ed (a directory of mode 000 on the way) is present: a changed run,
which the loader reports as unreadable, never a gone one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from metricwatch import timed_io
from metricwatch.readers import FileFormat, may_be_run_file
from metricwatch.safetext import printable
from metricwatch.sources.discovery import (
    DirId,
    DiscoveryError,
    Scan,
    dir_id,
    distinct_name,
    is_store_file,
    run_dir_of,
    run_file_of,
    run_name,
    scan,
)
from metricwatch.timed_io import WATCH_POOL, Blocked, TimedCalls
from metricwatch.watch_routes import NOTHING, RunRoutes, Tracked
from metricwatch.watch_runs import (
    RunUpdate,
    Stamp,
    UpdateKind,
    _is_under,
    _present,
    _stamp,
)


class RunTree(RunRoutes):
    """The runs and searched directories under root; changes in, RunUpdates out."""

    def __init__(self, root: Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        # Tracked: what a change means is remembered until one of them changes (watch_routes).
        self.known: dict[Path, str] = Tracked()
        self.dirs: dict[Path, DirId] = Tracked()  # every directory searched: events come from
        self._stamps: dict[Path, Stamp | None] = {}
        self._run_dirs: dict[Path, Path] = Tracked()  # run file -> its run directory (cached)
        self._formats: dict[Path, FileFormat | None] = Tracked()  # run file -> its format
        # Runs read whole-directory (MLflow, TensorBoard): a stamp of their other files, so
        # that a stat round (polling, a catch-up) sees a metric appended beside the run file.
        self._trees: dict[Path, int] = {}
        self._single_file = os.path.isfile(self.root) or (
            not os.path.lexists(self.root)
            and (may_be_run_file(self.root.name) or self.root.suffix == ".json")
        )
        shown = printable(str(root))
        self.display = shown if self._single_file or shown.endswith("/") else f"{shown}/"
        self._watched: dict[Path, DirId] = Tracked()  # what the open watch was given
        self._unwatched: set[Path] = set()  # ... and the kernel refused: polled
        self._root_seen = False  # PATH existed once: if it goes, it is "gone", not "not yet"
        # The watcher thread and a caller of poll_once may both update `known`.
        self._lock = threading.RLock()
        self.on_error = on_error
        self._last_error: str | None = None
        # Stats and searches with a deadline: a hung mount holds up no other run.
        self._io = TimedCalls(pool=WATCH_POOL)
        self._searches = TimedCalls(timed_io.SEARCH_TIMEOUT_S, pool=WATCH_POOL)
        self._start_routes()

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
            if (rescan or not self.known) and (found := self._search_root()) is not None:
                updates.extend(self._absorb(found, full=True))
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
        files: set[Path] = set()
        new_dirs: set[Path] = set()
        removed: set[Path] = set()
        touched: dict[Path, bool] = {}  # runs to look at again -> whether they surely changed
        for route in self._routes(list(changes)):
            if route is NOTHING:
                continue
            removed_dir, owner, surely, file, new_dir = route
            if removed_dir is not None:
                removed.add(removed_dir)
            if owner is not None:
                touched[owner] = touched.get(owner, False) or surely
            if file is not None:
                files.add(file)
            if new_dir is not None:
                new_dirs.add(new_dir)
        by_dir = self._by_dir()  # as the batch found it
        updates: list[RunUpdate] = []
        if removed or new_dirs:
            updates = self._new_and_gone_dirs(removed, new_dirs, files, touched, exists)
        for path in sorted(files):
            if (
                path not in self.known
                and self._run_above(path.parent)
                and not (is_store_file(path) and path.parent in by_dir)  # a store beside a run
            ):
                continue  # inside a run that appeared in this batch: the run's own
            # The default test of presence stats the file: its stamp is then the one kept.
            stamp = _stamp(path) if exists is _present else None
            present = stamp is not None if exists is _present else exists(path)
            found_update = self._file_update(path, present)
            if present and found_update:
                # So a catch-up does not load it again (its other files, only written to,
                # are left to the catch-up: listing them at every write cost more).
                # A run new to the tree gets its digest whatever the batch.
                tree = not self.contents_only or path not in self._trees
                self._mark(path, stamp, tree=tree)
            updates.extend(found_update)
            touched.pop(path, None)
        for metrics_path, changed in sorted(touched.items()):
            if metrics_path in self.known:
                updates.extend(self._revisit(metrics_path, changed, self.contents_only))
        return updates

    def _new_and_gone_dirs(
        self,
        removed: set[Path],
        new_dirs: set[Path],
        files: set[Path],
        touched: dict[Path, bool],
        exists: Callable[[Path], bool],
    ) -> list[RunUpdate]:
        """A batch's searched directories removed (or replaced) and new ones searched: the
        runs gone with them, and those found (no longer among files to look at)."""
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
                if gone != self.watch_dir:
                    new_dirs.add(gone)
                elif (again := self._search_root()) is not None:
                    updates.extend(self._absorb(again, full=True))
        for directory in sorted(new_dirs):
            found = self._search(directory)
            files.difference_update(location.metrics_path for location in found.runs)
            updates.extend(self._absorb(found, full=False))
        return updates

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
        updates: list[RunUpdate] = []
        if full:
            self._forget_dead_watches(found.dirs)
            self.dirs = Tracked(found.dirs)
            updates = self._missed_by(found)
        else:
            self.dirs.update(found.dirs)
        for location in found.runs:
            path = location.metrics_path
            try:
                stamp = self._timed(self._io, path, f"{path}: stat", _stamp, path)
            except Blocked:
                continue  # behind a hung mount: taken in when it answers
            if stamp is None or (path in self.known and stamp == self._stamps.get(path)):
                continue  # gone since (a late search), or unchanged
            update = self._file_update(path, True)
            if update:
                self._stamps[path] = stamp
            updates.extend(update)
        return updates

    def _forget_dead_watches(self, searched: dict[Path, DirId]) -> None:
        """The open watch's directories that a search from PATH no longer finds are taken as
        unwatched: most are gone, and their watch with them. Kept, a directory made again
        with the same inode number (common just after a delete) would look watched while
        its events go nowhere, and a run written into it would never show. (One still
        there costs, if it is searched again, a new watch; and no stat that could hang.)"""
        for directory in [d for d in self._watched if d not in searched]:
            del self._watched[directory]

    def _file_update(self, metrics_path: Path, present: bool) -> list[RunUpdate]:
        name = self.known.get(metrics_path)
        if present:
            if name is None:
                same_run = self._known_run_in(self._run_dir(metrics_path))
                if same_run is not None:  # its run read from another file until now
                    self._move(same_run, metrics_path)
                    return [RunUpdate(UpdateKind.CHANGED, self.known[metrics_path], metrics_path)]
                outer = None if self._single_file else self._run_around(metrics_path)
                if outer is not None:  # the known run's own while its file is there
                    return [] if _present(outer) else self._file_update(outer, False)
                name = self._name(metrics_path)
                if name is None:
                    return []
                self.known[metrics_path] = name
                below = [] if self._single_file else self._runs_below(metrics_path)
                self._sync_owned(metrics_path, self._format(metrics_path))
                return [RunUpdate(UpdateKind.APPEARED, name, metrics_path), *below]
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
        run_dir = self._run_dir(metrics_path)
        self._forget(metrics_path)
        return [RunUpdate(UpdateKind.GONE, name, metrics_path), *self._search_freed(run_dir)]

    def _name(self, metrics_path: Path) -> str | None:
        try:
            name = run_name(self.root, metrics_path)
        except ValueError:
            return None
        return distinct_name(name, metrics_path, set(self.known.values()))

    def _scan_root(self, *, timed: bool = False) -> Scan:
        if self._single_file:
            found = scan(self.root) if os.path.lexists(self.root) else Scan()
            ident = dir_id(self.watch_dir)
            found.dirs = {self.watch_dir: ident} if ident is not None else {}
            return found
        if timed:  # the search itself is pure: only its answer is taken in here
            found = self._timed(self._searches, 0, f"searching {self.display}", scan, self.root)
        else:
            found = scan(self.root)
        self._learn(found)
        return found

    def _search_root(self) -> Scan | None:
        """PATH searched again with a deadline; None while the search is held up (a hung
        mount below PATH): it goes on, and its answer is taken at the next search."""
        try:
            return self._scan_root(timed=True)
        except Blocked:
            return None
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
                elif not any(self._run_dir(path) == directory for path in self.known):
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
            if metrics_path not in self.known:
                continue  # dropped meanwhile (inside a run that appeared)
            try:
                stamp = self._timed(
                    self._io, metrics_path, f"{metrics_path}: stat", _stamp, metrics_path
                )
            except Blocked:
                continue  # a hung mount: the other runs go on, this one when it answers
            if stamp is None:
                updates.extend(self._file_update(metrics_path, False))
            elif self._tree_moved(metrics_path) or stamp != self._stamps.get(metrics_path):
                found = self._file_update(metrics_path, True)
                if found:
                    self._stamps[metrics_path] = stamp
                updates.extend(found)
        return updates

    def _report(self, message: str) -> None:
        if self.on_error is not None and message != self._last_error:
            self._last_error = message
            self.on_error(message)

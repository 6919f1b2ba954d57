"""What the watcher knows of one run beyond its file: its updates, stamps and layout.

`RunUpdate` is what the watcher reports about a run. `RunLayouts` (a part of
RunTree) keeps, per known run file, its run directory and format, and follows
the layouts where a run is more than one file:

- a format's owned folders (FileFormat.owned: MLflow's `metrics/` tree,
  Keras' `train/` and `validation/`, the newest `checkpoint-N/`) are in the
  watch set with the run, and a change in them is a change of the run;
- a run whose format keeps its file in a subdirectory (FileFormat.nested:
  Hugging Face checkpoints) picks its file again when its folder changes,
  and moves to the new file under the same name (a CHANGED update);
- a run read whole-directory (a format with a tail) has a digest of its
  other files, so a stat round (polling, a catch-up) sees them change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from metricwatch.readers import FileFormat, may_be_run_file
from metricwatch.sources.discovery import (
    DirId,
    Scan,
    claims_file,
    dir_id,
    is_store_file,
    owned_dirs,
    run_dir_of,
    run_file_of,
)
from metricwatch.timed_io import Blocked, TimedCalls

Stamp = tuple[int, int, int]
T = TypeVar("T")


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


class RunLayouts:
    """Run directories, formats, owned folders and moving run files (see the module)."""

    known: dict[Path, str]
    dirs: dict[Path, DirId]
    _stamps: dict[Path, Stamp | None]
    _run_dirs: dict[Path, Path]  # run file -> its run directory (cached)
    _formats: dict[Path, FileFormat | None]  # run file -> its format (cached)
    _trees: dict[Path, int]  # whole-directory runs: a digest of their other files
    _single_file: bool
    _file_update: Callable[[Path, bool], list[RunUpdate]]
    _report: Callable[[str], None]
    _absorb: Callable[..., list[RunUpdate]]
    _search_again: Callable[[Path], Scan]

    @property
    def watch_dir(self) -> Path:
        raise NotImplementedError

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
        directory (TensorBoard's next event file) or is its format's companion (the step
        log metrics.jsonl beside metrics.json), or may be the run's file now (a final
        trainer_state.json); anything else beside a run is its own business."""
        if path.name.startswith("."):
            return  # a writer's temporary file
        fmt = self._format(owner)
        if fmt is None:
            return
        surely = fmt.tail is not None
        if path.parent != self._run_dir(owner):
            touched[owner] = touched.get(owner, False) or surely
        elif fmt.companion is not None and path.name == fmt.companion[0]:
            touched[owner] = True  # the step log beside metrics.json: the run's own
        elif may_be_run_file(path.name) and fmt.may_hold(path.name):
            if surely or fmt.nested is not None:  # the next event file; a final state
                touched[owner] = touched.get(owner, False) or surely
        elif (fmt.owned is not None or fmt.nested is not None) and (
            kind == "deleted" or (kind == "added" and os.path.isdir(path))
        ):
            touched[owner] = touched.get(owner, False)  # a checkpoint, metrics/, validation/

    def _revisit(
        self, metrics_path: Path, changed: bool, contents_only: bool = False
    ) -> list[RunUpdate]:
        """A run whose directory moved: pick its file again (nested formats) and renew the
        owned directories it is watched by; CHANGED when anything of it moved.
        `contents_only`: the batch only wrote to files (an MLflow run's metric files, ten
        times a second), so the run's folders and files are the ones it had: it is CHANGED,
        with no listing of its folders. Its files' digest is left as it was: a catch-up
        then reads the run once more, which finds what was already read."""
        fmt = self._format(metrics_path)
        if contents_only and changed and (fmt is None or fmt.nested is None):
            self._mark(metrics_path, tree=False)
            return [RunUpdate(UpdateKind.CHANGED, self.known[metrics_path], metrics_path)]
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

    def _mark(self, metrics_path: Path, stamp: Stamp | None = None, *, tree: bool = True) -> None:
        """The run as just reported: its file's stamp (and its other files') are the known.
        `stamp`: the file's, just taken (else it is stat'ed here). `tree`: False for a batch
        that only wrote to files (see _revisit): its other files' digest is left as it was."""
        self._stamps[metrics_path] = _stamp(metrics_path) if stamp is None else stamp
        if not tree:
            return
        digest = self._tree_stamp(metrics_path)
        if digest is not None:
            self._trees[metrics_path] = digest

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
        if is_store_file(metrics_path):  # its write-ahead log holds writes until a checkpoint
            return _companion_stamp(metrics_path.with_name(metrics_path.name + "-wal"))
        fmt = self._format(metrics_path)
        if fmt is not None and fmt.companion is not None:
            return _companion_stamp(self._run_dir(metrics_path) / fmt.companion[0])
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
        """Make the run's owned directories the only watched ones below its run directory
        (none for a format that owns none); whether one was added (the watch must then be
        renewed). A run's format unknown (its file unreadable) changes nothing."""
        if fmt is None:
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

    def _runs_below(self, metrics_path: Path) -> list[RunUpdate]:
        """The known runs inside the run of metrics_path, which has just appeared, are gone:
        a run directory's subdirectories are the run's own (metricwatch.sources.discovery), so a
        search from scratch would not find them either. Each is said so once."""
        run_dir = self._run_dir(metrics_path)
        below = sorted(
            path
            for path in self.known
            if path != metrics_path
            and self._run_dir(path) != run_dir
            and _is_under(self._run_dir(path), run_dir)
            and not (is_store_file(path) and path.parent == run_dir)  # a store beside it
        )
        updates = []
        for path in below:
            name = self._forget(path)
            updates.append(RunUpdate(UpdateKind.GONE, name, path))
            self._report(
                f"{name} is inside the run {self.known[metrics_path]} now (a run's folders "
                "are its own): it is no longer followed"
            )
        return updates

    def _search_freed(self, run_dir: Path) -> list[RunUpdate]:
        """A run gone while its directory stays: the directory is no run's any more, so it is
        searched again, as a search from scratch would (a run inside it shows again)."""
        if self._single_file or run_dir not in self.dirs or not os.path.isdir(run_dir):
            return []
        for directory in [d for d in self.dirs if d != run_dir and _is_under(d, run_dir)]:
            del self.dirs[directory]
        return self._absorb(self._search_again(run_dir), full=False)

    def _timed(
        self, calls: TimedCalls, key: Hashable, what: str, fn: Callable[..., T], *args: Any
    ) -> T:
        """fn(*args) with a deadline (metricwatch.timed_io), so that a file or a search held
        up by a hung mount holds up the other runs (and quitting) once, for the deadline
        only. Raises Blocked, said once per hang (later calls for the key answer Blocked at
        once until it ends)."""
        stuck = key in calls.stuck_keys()
        try:
            return calls.call(key, fn, *args)
        except Blocked as blocked:
            if not stuck and not blocked.closing:
                self._report(f"{what}: {blocked} (a hung mount?); skipped until it answers")
            raise

    def _missed_by(self, found: Scan) -> list[RunUpdate]:
        """The known runs a search from PATH did not find. Gone if their file went meanwhile
        (a move caught by a catch-up then reads gone, then appeared, as with events); else
        kept (their file rewritten or unreadable just then) with their owned folders, and
        nothing the search saw inside them watched."""
        updates: list[RunUpdate] = []
        missed = set(self.known).difference(location.metrics_path for location in found.runs)
        for path in sorted(missed):
            if path not in self.known:
                continue  # moved or dropped by an update before it
            if _present(path):
                self._sync_owned(path, self._format(path))
            else:
                updates.extend(self._file_update(path, False))
        return updates

    def _run_around(self, metrics_path: Path) -> Path | None:
        """The known run file whose run directory holds the run of metrics_path below it
        (then that run is not one: a search from scratch would not look there)."""
        run_dir = self._run_dir(metrics_path)
        beside = metrics_path.parent if is_store_file(metrics_path) else None
        for path in self.known:
            outer = self._run_dir(path)
            if outer != run_dir and outer != beside and _is_under(run_dir, outer):
                return path  # (a store beside a run's file is a run of its own, as at start)
        return None

    def _forget(self, metrics_path: Path) -> str:
        """Everything known of a run file, dropped; its run's name."""
        self._stamps.pop(metrics_path, None)
        self._run_dirs.pop(metrics_path, None)
        self._formats.pop(metrics_path, None)
        self._trees.pop(metrics_path, None)
        return self.known.pop(metrics_path)

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

    def _known_run_in(self, run_dir: Path) -> Path | None:
        """The known run file (of a format that moves its file) whose run is run_dir."""
        for path in self.known:
            fmt = self._format(path)
            if fmt is not None and fmt.nested is not None and self._run_dir(path) == run_dir:
                return path
        return None

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


def _companion_stamp(path: Path) -> int:
    """A digest of the companion file's stat (0 while it is absent)."""
    stamp = _stamp(path)
    return 0 if stamp is None else hash(stamp)


def _present(path: Path) -> bool:
    return _stamp(path) is not None


def _is_under(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents

"""What one file event means to the watcher's tree, remembered while the tree stays the same.

A live run's writer makes the same events over and over (its log and its side
files "modified", ten times a second), and what such an event means depends
only on the path and on the tree's bookkeeping (the known runs, the searched
directories, each run's directory and format): the run it touches, or nothing.
Worked out from scratch (file-name patterns of every format, path parsing,
the run directories of every known run), that was most of the watcher's CPU
per write; `RunRoutes` works it out once per path and keeps the answer
(`Route`) until the bookkeeping changes.

What is remembered, and until when:
- only routes of "modified" events: a file added or deleted is rare and may
  change what the next event means, so a batch holding one is worked out from
  scratch and forgets every route;
- not a route that depended on a file's content (a file no known run reads
  from, claimed or not by its first bytes) nor one of a searched directory
  (its attributes changed: what may be searched below it may have too);
- every route is forgotten when the known runs, the searched directories, or
  the run directories or formats known change (`Tracked` dicts count their
  changes), and none is kept while a directory is polled rather than watched
  (what changes there comes with no event).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from metricwatch.readers import may_be_run_file
from metricwatch.sources.discovery import claims_file, is_run_dir_candidate, is_store_file
from metricwatch.watch_runs import RunLayouts

_VERSIONS = itertools.count(1)


class Tracked(dict):
    """A dict with a `version` that is new after every change made through it."""

    __slots__ = ("version",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = next(_VERSIONS)

    def _changed(self) -> None:
        self.version = next(_VERSIONS)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def __ior__(self, other: Any) -> Tracked:
        super().__ior__(other)
        self._changed()
        return self

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._changed()

    def popitem(self) -> tuple[Any, Any]:
        try:
            return super().popitem()
        finally:
            self._changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        try:
            return super().setdefault(key, default)
        finally:
            self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()


#: The tree's dicts a route depends on (and whose versions say when routes are stale).
TRACKED = ("known", "dirs", "_run_dirs", "_formats")


class Route(NamedTuple):
    """What one change does to a batch: a searched directory removed (or replaced), a run
    touched (`surely`: surely changed, else only looked at again), a run file to look at,
    a new directory to search. Each part None when it does nothing."""

    removed: Path | None = None
    owner: Path | None = None
    surely: bool = False
    file: Path | None = None
    new_dir: Path | None = None


NOTHING = Route()


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


class RunRoutes(RunLayouts):
    """The routes of changes (see the module), for RunTree."""

    root: Path
    _unwatched: set[Path]
    _watched: dict[Path, Any]
    _lock: Any
    _run_above: Callable[[Path], bool]
    #: Whether the last batch routed only wrote to files (see _routes): its runs' folders
    #: and files are the ones they had, and need no new listing.
    contents_only: bool = False

    def _routes(self, changes: Sequence[tuple[str, str]]) -> list[Route]:
        """The route of each change, from what is remembered when every one of them is."""
        memo = self._route_memo()
        if memo is not None:
            hits = [memo.get(raw) if kind == "modified" else None for kind, raw in changes]
            if None not in hits:
                self.contents_only = True
                return hits  # type: ignore[return-value]
        by_dir = self._by_dir()
        keep = MetricsFilter(self.root if not self._single_file else self.watch_dir)
        routes: list[Route] = []
        learnt: dict[str, Route] = {}
        spoilt = False
        for kind, raw in changes:
            route, lasting = self._route(kind, raw, by_dir, keep)
            routes.append(route)
            if kind != "modified" or (lasting is None):
                spoilt = True  # a file added or deleted, a searched directory changed
            elif lasting:
                learnt[raw] = route
        # Files written to and nothing else: no folder or file of a run came or went.
        self.contents_only = not spoilt
        if memo is not None:
            if spoilt:
                memo.clear()
            else:
                memo.update(learnt)
            self._memo_key = self._versions()  # working routes out only fills caches
        return routes

    def _route(
        self, kind: str, raw: str, by_dir: dict[Path, Path], keep: MetricsFilter
    ) -> tuple[Route, bool | None]:
        """One change's route, and whether it may be remembered (None: a change that makes
        every remembered route suspect)."""
        path = Path(raw)
        if (store := _store_of_wal(path)) is not None and store in self.known:
            return Route(owner=store, surely=True), True  # SQLite in WAL mode writes there
        if path == self.watch_dir or path in self.dirs:
            # gone, or maybe replaced: its identity decides
            removed = path if kind in ("deleted", "added") else None
            owner = self._owner(path.parent, by_dir)  # an owned directory came or went
            return Route(removed=removed, owner=owner), None
        beside = is_store_file(path) and path.parent in by_dir  # a store beside a run
        owner = self._owner(path.parent, by_dir)
        if owner is not None and path != owner and not beside:
            touched: dict[Path, bool] = {}
            self._touch(touched, owner, path, kind)
            return (Route(owner=owner, surely=touched[owner]) if touched else NOTHING), True
        if not keep(_Kind(kind), raw):
            return NOTHING, True
        if may_be_run_file(os.path.basename(raw)):
            if self._single_file:
                return (Route(file=path) if path == self.root else NOTHING), True
            if path in self.known:
                return Route(file=path), True
            # A new file in a directory that is no run yet, if a reader claims it (one file
            # per run: another log beside a run's file is its own). Its content decides.
            if (beside or not self._run_above(path.parent)) and claims_file(path) is not None:
                return Route(file=path), False
            return NOTHING, False
        if kind == "added" and not self._single_file and not self._run_above(path.parent):
            return Route(new_dir=path), True
        return NOTHING, True

    def _route_memo(self) -> dict[str, Route] | None:
        """The routes remembered for the tree as it is now; None while some directory is
        polled (its changes come with no event: nothing may be taken as unchanged)."""
        if self._unwatched:
            return None
        versions = self._versions()
        if versions != self._memo_key:
            self._memo.clear()
            self._memo_key = versions
        return self._memo

    def _by_dir(self) -> dict[Path, Path]:
        """Each known run's directory -> its run file (the last one, as a dict built anew)."""
        if self._single_file:
            return {}
        versions = self._versions()
        if self._by_dir_memo[0] != versions:
            by_dir = {self._run_dir(p): p for p in self.known}
            self._by_dir_memo = (self._versions(), by_dir)  # after the fills of _run_dir
        return self._by_dir_memo[1]

    def _versions(self) -> tuple[int, ...]:
        """The versions of the dicts routes depend on (a plain dict put there is tracked)."""
        versions = []
        for name in TRACKED:
            value = self.__dict__[name]
            if type(value) is not Tracked:
                value = Tracked(value)
                setattr(self, name, value)
            versions.append(value.version)
        return tuple(versions)

    def _start_routes(self) -> None:
        self._memo: dict[str, Route] = {}
        self._memo_key: tuple[int, ...] = ()
        self._by_dir_memo: tuple[tuple[int, ...], dict[Path, Path]] = ((), {})
        self._watch_memo: tuple[tuple[int, ...], bool] = ((), False)

    def _needs_new_watch(self) -> bool:
        """Whether a searched directory is not in the open watch (as given to it)."""
        with self._lock:
            watched = self.__dict__["_watched"]
            if type(watched) is not Tracked:
                watched = self._watched = Tracked(watched)
            key = (*self._versions(), watched.version)
            if self._watch_memo[0] != key:
                needs = any(watched.get(p) != ident for p, ident in self.dirs.items())
                self._watch_memo = (key, needs)
            return self._watch_memo[1]


class _Kind:
    """A change name as MetricsFilter expects it (an object with .name)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _store_of_wal(path: Path) -> Path | None:
    """The store file whose write-ahead log path is (`mlflow.db-wal`), if it is one."""
    if not path.name.endswith("-wal"):
        return None
    store = path.with_name(path.name[: -len("-wal")])
    return store if is_store_file(store) else None

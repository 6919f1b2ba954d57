"""The monitor's feed: the background work that turns files into RunStates for the app.

One daemon thread discovers the runs, loads them and then follows the
watcher's updates; Textual workers re-read runs on `r`, re-check a file cut
mid-write once its grace is over, and build the selected run's chart
columns. None of this touches a widget: results reach the UI thread only as
messages (tui/messages.py), which app.py files and shows.

A file holding several runs (an MLflow store, Keras fits appended; see
metricwatch.run_parts) is one run file for the watcher and several runs on
screen: FileRuns remembers, per file, the name the watcher gives it and the
runs last shown for it. A file gone marks every one of them gone; a run the
file no longer holds (an MLflow run deleted) is removed from the list; a new
one appears.

Runs on servers (`metricwatch http://gpu1:8765`, metricwatch.sources.remote) come
from one daemon thread per server, a RemoteClient whose runs are built into
RunStates here, exactly as local ones, and posted with the same messages. With
no local PATH (`local` False) there is nothing to discover: the scan is over at
once. `r` fetches a server's runs again instead of reading files.

A mixin of MetricwatchApp: it uses the app's root, local, remotes, mode, ingest,
states, stop events, `_wants_columns` and `file_runs`, and posts messages
through the app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import replace
from itertools import count
from pathlib import Path

from textual import work
from textual.worker import Worker, get_current_worker

from metricwatch.sources.remote import (
    Gone,
    Loaded,
    RemoteClient,
    RemoteEvent,
    RemoteSpec,
    Removed,
    Unreachable,
)
from metricwatch.tui.messages import (
    ColumnsReady,
    RunFailed,
    RunGone,
    RunsLoaded,
    RunsRemoved,
    ScanFinished,
    WatchError,
    WatchModeChanged,
)
from metricwatch.tui.state import RunState, build_state
from metricwatch.watch import RunUpdate, RunWatcher, UpdateKind

#: Initial load: post loaded runs in batches of this size (the first run alone, at once).
BATCH = 64


def describe_error(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {error}"


class FileRuns:
    """Per run file: the name the watcher gives it, and the names of the runs last shown for
    it (one, or one per part). Used from the watch thread and the workers alike."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[str, list[str]]] = {}

    def shown(self, metrics_path: Path, name: str, names: list[str]) -> list[str]:
        """The file's runs are now `names`: the ones it showed before and holds no more."""
        with self._lock:
            before = self._files.get(metrics_path, (name, []))[1]
            self._files[metrics_path] = (name, list(names))
        keep = set(names)
        return [old for old in before if old not in keep]

    def gone(self, metrics_path: Path, name: str) -> list[str]:
        """The file is gone: the names of every run it showed (forgotten here)."""
        with self._lock:
            found = self._files.pop(metrics_path, None)
        return found[1] if found and found[1] else [name]

    def names(self, metrics_path: Path, name: str) -> list[str]:
        """The runs shown for the file (its parts), or [name] before any was."""
        with self._lock:
            found = self._files.get(metrics_path)
        return list(found[1]) if found is not None and found[1] else [name]

    def file_name(self, metrics_path: Path, name: str) -> str:
        """The watcher's name for the file (a run shown may be one of its parts)."""
        with self._lock:
            found = self._files.get(metrics_path)
        return found[0] if found is not None else name


class RunFeed:
    """The worker side of MetricwatchApp (see the module docstring)."""

    file_runs: FileRuns
    local: bool
    remotes: list[RemoteSpec]
    _remote_clients: list[RemoteClient]
    _remote_names: set[str]

    @work(thread=True, exit_on_error=False, name="watch", group="watch")
    def _watch_runs(self) -> None:
        """Discover and load every run, then follow changes until the app stops.

        The work runs in a daemon thread and this worker only waits for it: a stat that
        hangs (a dead network mount) must not keep the process alive after `q`. Python
        waits for worker threads at exit, never for daemon threads.
        """
        worker = get_current_worker()
        over = self._watch_over
        errors: list[BaseException] = []
        if not self.local:  # servers only: no PATH to search
            self.post_message(ScanFinished())
            return

        def run() -> None:
            try:
                self._watch(worker)
            except BaseException as error:  # noqa: BLE001 - raised below, in the worker
                errors.append(error)
            finally:
                over.set()

        threading.Thread(target=run, name="metricwatch-watch", daemon=True).start()
        over.wait()  # the thread ended, or the app is stopping (on_unmount sets it)
        if errors:
            raise errors[0]

    def _watch(self, worker: Worker) -> None:
        watcher = RunWatcher(
            self.root,
            self.mode,
            on_error=lambda error: self.post_message(WatchError(error)),
            on_mode=lambda mode, reason: self.post_message(WatchModeChanged(mode, reason)),
        )
        self._watcher = watcher
        # A missing PATH is waited for; an unreadable one raises: the worker error is shown.
        initial = watcher.initial()
        batch: list[RunState] = []
        for index, update in enumerate(initial):
            if worker.is_cancelled or self._stop.is_set():
                return
            # The first run is selected on arrival: build its columns here, not on the UI.
            loaded, removed = self._load(update, first=index == 0)
            batch.extend(loaded)
            if index == 0 or len(batch) >= BATCH:
                self.post_message(RunsLoaded(batch))
                batch = []
            if removed:  # a watch started again (r after an error): runs the file lost
                self.post_message(RunsRemoved(removed))
        if batch:
            self.post_message(RunsLoaded(batch))
        self.post_message(ScanFinished())  # the app sets scan_done as it handles it
        if not self.watching:
            return
        # The watcher recovers from its own errors (renewed watch, polling what it cannot
        # watch, waiting for a vanished PATH) and says so through on_mode.
        for updates in watcher.batches(self._stop):
            if worker.is_cancelled:
                return
            self._apply(updates)

    def _apply(self, updates: Iterable[RunUpdate], *, reveal: bool = False) -> None:
        states = []
        removed: list[str] = []
        for update in updates:
            if update.kind is UpdateKind.GONE:
                for name in self.file_runs.gone(update.metrics_path, update.name):
                    self.post_message(RunGone(name))  # every run of the file
                with suppress(Exception):  # only a cache: never fatal
                    self.ingest.drop(update.metrics_path)  # the RunState keeps what is shown
                continue
            loaded, lost = self._load(update, reveal=reveal)
            states.extend(loaded)
            removed.extend(lost)
        if states:
            self.post_message(RunsLoaded(states))
        if removed:  # after the new ones: a file that became parts never shows no run
            self.post_message(RunsRemoved(removed))

    def _load(
        self, update: RunUpdate, *, first: bool = False, reveal: bool = False
    ) -> tuple[list[RunState], list[str]]:
        """The runs of one file (one, or one per part), the selected one with its columns; and
        the runs shown for the file before that it no longer holds."""
        try:
            states = self.ingest.load_all(update.name, update.metrics_path, reveal=reveal)
        except Exception as error:  # noqa: BLE001 - one bad run is shown on that run, never fatal
            # Shown on each run of the file (every part of a store), not on a new entry.
            for name in self.file_runs.names(update.metrics_path, update.name):
                self.post_message(RunFailed(name, update.metrics_path, describe_error(error)))
            return [], []
        for index, state in enumerate(states):
            if (first and index == 0) or self._wants_columns(state.name):
                state.with_columns()
        names = [state.name for state in states]
        return states, self.file_runs.shown(update.metrics_path, update.name, names)

    def _watch_remotes(self) -> None:
        """One daemon thread per server, for the app's life (quitting does not wait for a
        request to a server that does not answer)."""
        self._remote_clients = []
        self._remote_names = set()
        versions = count(1)
        for spec in self.remotes:
            client = RemoteClient(spec, lambda event: self._remote_event(event, versions))
            self._remote_clients.append(client)
            name = f"metricwatch-remote-{spec.label}"
            threading.Thread(target=client.run, args=(self._stop,), name=name, daemon=True).start()

    def _remote_event(self, event: RemoteEvent, versions: Iterator[int]) -> None:
        """What a server's client says, as the messages local runs make (its thread)."""
        if isinstance(event, Loaded):
            states = []
            for run in event.runs:
                state = build_state(run, version=next(versions))
                self._remote_names.add(state.name)
                states.append(state.with_columns() if self._wants_columns(state.name) else state)
            if states:
                self.post_message(RunsLoaded(states))
        elif isinstance(event, Gone):
            self.post_message(RunGone(event.name))
        elif isinstance(event, Removed):
            self._remote_names.difference_update(event.names)
            self.post_message(RunsRemoved(event.names))
        elif isinstance(event, Unreachable):
            self.post_message(WatchError(f"{event.message}; retrying"))

    @work(thread=True, exit_on_error=False, exclusive=True, name="reload", group="reload")
    def _reload_runs(self, targets: list[tuple[str, Path]]) -> None:
        for client in getattr(self, "_remote_clients", []):
            client.request_resync()  # a server's runs are fetched again, not read from files
        remote = getattr(self, "_remote_names", set())
        targets = [(name, path) for name, path in targets if name not in remote]
        worker = get_current_worker()
        files = {path: self.file_runs.file_name(path, name) for name, path in targets}
        for metrics_path, name in files.items():  # a file of several runs is read once
            if worker.is_cancelled or self._stop.is_set():
                return  # a newer reload replaced this one
            self.ingest.forget(metrics_path)
            self._apply([RunUpdate(UpdateKind.CHANGED, name, metrics_path)], reveal=True)

    @work(thread=True, exit_on_error=False, name="recheck", group="recheck")
    def _recheck_run(self, name: str, metrics_path: Path) -> None:
        """A file that was cut when last read, read again once its grace is over."""
        if not self.ingest.recheck_wanted(metrics_path):
            return  # a write since it was asked for was read, analysed or reported
        state = self.states.get(name)
        if state is not None and not state.gone and not self._stop.is_set():
            file_name = self.file_runs.file_name(metrics_path, name)  # name may be a part's
            self._apply([RunUpdate(UpdateKind.CHANGED, file_name, metrics_path)])

    @work(thread=True, exit_on_error=False, exclusive=True, name="columns", group="columns")
    def _build_columns(self, state: RunState) -> None:
        """The selected run's chart data, off the UI thread (a big run takes 100s of ms)."""
        built = replace(state, _columns=None).with_columns()
        if not get_current_worker().is_cancelled:
            self.post_message(ColumnsReady(built))

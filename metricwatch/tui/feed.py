"""The monitor's feed: the background work that turns files into RunStates for the app.

One daemon thread discovers the runs, loads them and then follows the
watcher's updates; Textual workers re-read runs on `r`, re-check a file cut
mid-write once its grace is over, and build the selected run's chart
columns. None of this touches a widget: results reach the UI thread only as
messages (tui/messages.py), which app.py files and shows.

A mixin of MetricwatchApp: it uses the app's root, mode, ingest, states,
stop events and `_wants_columns`, and posts messages through the app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from textual import work
from textual.worker import Worker, get_current_worker

from metricwatch.tui.messages import (
    ColumnsReady,
    RunFailed,
    RunGone,
    RunsLoaded,
    ScanFinished,
    WatchError,
    WatchModeChanged,
)
from metricwatch.tui.state import RunState
from metricwatch.watch import RunUpdate, RunWatcher, UpdateKind

#: Initial load: post loaded runs in batches of this size (the first run alone, at once).
BATCH = 64


def describe_error(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {error}"


class RunFeed:
    """The worker side of MetricwatchApp (see the module docstring)."""

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
            columns = self._wants_columns(update.name) if index else True
            state = self._load(update, columns=columns)
            if state is not None:
                batch.append(state)
            if index == 0 or len(batch) >= BATCH:
                self.post_message(RunsLoaded(batch))
                batch = []
        if batch:
            self.post_message(RunsLoaded(batch))
        self.post_message(ScanFinished())
        self.scan_done.set()
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
        for update in updates:
            if update.kind is UpdateKind.GONE:
                self.post_message(RunGone(update.name))
                with suppress(Exception):  # only a cache: never fatal
                    self.ingest.drop(update.metrics_path)  # the RunState keeps what is shown
                continue
            state = self._load(update, columns=self._wants_columns(update.name), reveal=reveal)
            if state is not None:
                states.append(state)
        if states:
            self.post_message(RunsLoaded(states))

    def _load(self, update: RunUpdate, *, columns: bool, reveal: bool = False) -> RunState | None:
        try:
            return self.ingest.load(
                update.name, update.metrics_path, columns=columns, reveal=reveal
            )
        except Exception as error:  # noqa: BLE001 - one bad run is shown on that run, never fatal
            self.post_message(RunFailed(update.name, update.metrics_path, describe_error(error)))
            return None

    @work(thread=True, exit_on_error=False, exclusive=True, name="reload", group="reload")
    def _reload_runs(self, targets: list[tuple[str, Path]]) -> None:
        worker = get_current_worker()
        for name, metrics_path in targets:
            if worker.is_cancelled or self._stop.is_set():
                return  # a newer reload replaced this one
            self.ingest.forget(metrics_path)
            self._apply([RunUpdate(UpdateKind.CHANGED, name, metrics_path)], reveal=True)

    @work(thread=True, exit_on_error=False, name="recheck", group="recheck")
    def _recheck_run(self, name: str, metrics_path: Path) -> None:
        """A file that was cut when last read, read again once its grace is over."""
        state = self.states.get(name)
        if state is not None and not state.gone and not self._stop.is_set():
            self._apply([RunUpdate(UpdateKind.CHANGED, name, metrics_path)])

    @work(thread=True, exit_on_error=False, exclusive=True, name="columns", group="columns")
    def _build_columns(self, state: RunState) -> None:
        """The selected run's chart data, off the UI thread (a big run takes 100s of ms)."""
        built = replace(state, _columns=None).with_columns()
        if not get_current_worker().is_cancelled:
            self.post_message(ColumnsReady(built))

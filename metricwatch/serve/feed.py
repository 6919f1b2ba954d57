"""The server's feed: files in, registry changes out, in two daemon threads.

The same work as the monitor's feed (metricwatch.tui.feed), without a UI:
RunWatcher finds the runs and follows them, RunLoader reads a file only when
it changed (appended logs from where they ended), keep_last_good keeps the
last good data of a file caught mid-write, run_parts.expand gives one run
per part of a file of several runs, and build_report summarises and
diagnoses each run exactly as `metricwatch summary` does, paced (see
metricwatch.serve.analyses: a run written many times a second is analysed a
few times a second at most, its records still sent at every write, and read
again when its analysis is due, from a timer thread). A second thread
asks for the statuses again every STATUS_EVERY_S seconds (a run turns
stalled or idle with no write): it wakes a few times a minute, so the idle
server costs nothing.

Daemon threads: a stat that hangs on a dead mount must not keep the process
alive after Ctrl+C.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from metricwatch.model import Run
from metricwatch.report import RunReport, describe_error, status_of
from metricwatch.run_parts import expand
from metricwatch.serve.analyses import Analyses
from metricwatch.serve.registry import RunRegistry
from metricwatch.sources.loader import RunLoader, keep_last_good
from metricwatch.watch import RunUpdate, RunWatcher, UpdateKind, WatchMode

#: Seconds between two rounds of statuses without any write.
STATUS_EVERY_S = 5.0

Say = Callable[[str], None]


class ServeFeed:
    """Follows the runs under root into a registry, until stop() (see the module)."""

    def __init__(
        self,
        root: Path,
        registry: RunRegistry,
        mode: WatchMode,
        *,
        say: Say,
        on_fatal: Callable[[str], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        status_every_s: float = STATUS_EVERY_S,
    ) -> None:
        self.root = root
        self.registry = registry
        self.mode = mode
        self.say = say
        self.on_fatal = on_fatal
        self.on_ready = on_ready
        self.status_every_s = status_every_s
        self._stop = threading.Event()
        self._loader = RunLoader()
        self._previous: dict[Path, Run] = {}  # each file's last good read (not a merge)
        # (file, run) -> (its table, what else its report depends on, the report, whether
        # the report is an analysis of that read rather than an earlier one grown to it)
        self._reports: dict[tuple[Path, str], tuple[Any, tuple[Any, ...], RunReport, bool]] = {}
        self._analyses = Analyses()
        self._due: dict[Path, str] = {}  # files to read again when their analysis is due
        self._lock = threading.Lock()  # one update at a time: the watch's, or a due one

    def start(self) -> None:
        threading.Thread(target=self._watch, name="serve-watch", daemon=True).start()
        threading.Thread(target=self._tick, name="serve-status", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        try:
            watcher = RunWatcher(
                self.root,
                self.mode,
                on_error=self.say,
                on_mode=lambda mode, reason: self.say(reason or f"watching: {mode.label}"),
            )
            for update in watcher.initial():
                if self._stop.is_set():
                    return
                self.apply(update)
            self._ready()
            for updates in watcher.batches(self._stop):
                for update in updates:
                    self.apply(update)
        except Exception as error:  # noqa: BLE001 - the server says so and stops
            # Fatal first: the server, told it is ready, must already know it is stopping
            # (not say "serving N runs" after a first search that failed).
            if self.on_fatal is not None:
                self.on_fatal(f"the watch stopped: {describe_error(error)}")
            self._ready()

    def _ready(self) -> None:
        """The first search's runs are all in (or the watch failed before)."""
        if self.on_ready is not None:
            self.on_ready()

    def _tick(self) -> None:
        """Statuses again every status_every_s; a failure is said and the ticks go on (a
        thread that ended here would leave every run live for ever, silently)."""
        while not self._stop.wait(self.status_every_s):
            try:
                self.registry.tick(time.time())
            except Exception as error:  # noqa: BLE001 - said, and tried at the next tick
                self.say(f"statuses: {describe_error(error)}")

    def apply(self, update: RunUpdate, *, analyse: bool = False) -> None:
        """One watcher update into the registry. A run that cannot be read is said, once
        per update, and the others go on. `analyse`: the paced analysis that was due."""
        with self._lock:
            self._apply(update, analyse)

    def _apply(self, update: RunUpdate, analyse: bool) -> None:
        path = update.metrics_path
        if update.kind is UpdateKind.GONE:
            self._due.pop(path, None)
            self._previous.pop(path, None)
            self._loader.forget(path)
            self._keep_reports(path, set())
            self.registry.file_gone(path, update.name)
            return
        try:
            current = self._loader.load(update.name, path)
            previous = self._previous.get(path)
            run = keep_last_good(previous, current)
            # The last good read, not the merge (which carries the damaged read's problems).
            if run is current or previous is None:
                self._previous[path] = current
            parts = expand(run)
            reports = [self._report(path, part, update.name, analyse) for part in parts]
            self._keep_reports(path, {part.name for part in parts})
            self.registry.file_loaded(path, reports)
        except Exception as error:  # noqa: BLE001 - one bad run is said, never fatal
            self.say(f"{update.name}: cannot be read: {describe_error(error)}")

    def _report(self, path: Path, run: Run, name: str, analyse: bool) -> RunReport:
        """The run's report: the last one if this read did not change (a store's other
        parts), else a paced analysis (see analyses), with a re-read asked for when it is
        due."""
        key = (path, run.name)
        stamp = (run.mtime, run.format, tuple(run.problems), run.meta)
        found = self._reports.get(key)
        if (
            found is not None
            and found[0] is run.table
            and found[1] == stamp
            and (found[3] or not analyse)
        ):
            return replace(found[2], status=status_of(found[2].run, time.time()))
        report, wait = self._analyses.report(key, run, force=analyse)
        self._reports[key] = (run.table, stamp, report, wait == 0)
        if wait > 0 and path not in self._due:
            self._due[path] = name
            timer = threading.Timer(wait, self._analyse_due, args=(path,))
            timer.daemon = True
            timer.start()
        return report

    def _analyse_due(self, path: Path) -> None:
        """A file's analysis is due: read it again (unchanged: the read is cached) and
        analyse what was only grown."""
        with self._lock:
            name = self._due.pop(path, None)
        if name is None or self._stop.is_set():
            return
        self.apply(RunUpdate(UpdateKind.CHANGED, name, path), analyse=True)

    def _keep_reports(self, path: Path, names: set[str]) -> None:
        """Forget the reports of the file's runs that are not among names."""
        gone = [k for k in self._reports if k[0] == path and k[1] not in names]
        for key in gone:
            del self._reports[key]
        self._analyses.forget(gone)

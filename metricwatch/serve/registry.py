"""The runs the server knows, by id, and the events their changes make.

The feed (metricwatch.serve.feed) hands over each file's runs as reports (one per run,
one per part of a file of several runs) and says when a file is gone; a ticker asks
for the statuses again now and then (a run turns stalled or idle with no write).
Here every change becomes the state the API answers from and the events that say
what changed, under one lock, numbered in order: a metrics response and the event
ids agree (`last_event` is the number of the last event its state includes).

- `epoch` / `step`: a record whose x is above the last one sent (the record's JSON);
- `finding`: a finding appeared, changed severity or cleared;
- `status`: the run's status changed;
- `reset` (of one run): its records went back (the file rewritten from scratch:
  `{"reason": "rewritten"}`), records already sent changed (`"from": x`: a value
  added at an x already sent, as metrics.json placing the epoch's validation at the
  epoch's last step, or a file rewritten with more records than before: fetch them
  from x on), or more than MAX_RECORD_EVENTS came at once (a log copied in, a
  writer's buffer flushed late): fetch its metrics again, rather than every client's
  queue filled with thousands of records at once. On the run's own stream only: the
  run is back from gone (`rewritten`), or removed (`removed`: nothing more will come);
- `run` (stream of every run only): a run appeared, is gone (its file deleted: kept,
  status gone) or removed (a part its file no longer holds).

A run that appears (after the start, or back from gone) is announced by its `run`
event only, not record by record: a client fetches its metrics (whose
`last_event` says which events the data already includes).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricwatch.analysis.status import Status
from metricwatch.report import RunReport, status_of
from metricwatch.serve.events import Event, frame
from metricwatch.serve.ids import run_id
from metricwatch.serve.shapes import (
    count_after,
    dumps,
    findings_by_id,
    first_changed,
    record_kind,
    records_after,
    run_listing,
)

Emit = Callable[[Event], None]

#: More new records than this in one read of a run: one `reset` instead of an event each.
MAX_RECORD_EVENTS = 200


@dataclass(frozen=True)
class RunView:
    """One run as the API shows it at one moment (the report is never changed, only
    replaced), and the number of the last event that moment includes."""

    id: str
    report: RunReport
    status: Status
    last_event: int

    def listing(self) -> dict[str, Any]:
        return run_listing(self.id, self.report, self.status.value)


@dataclass
class _Entry:
    id: str
    report: RunReport
    status: Status
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: int | None = None  # the x of the last record the events have given
    gone: bool = False


class RunRegistry:
    """Thread-safe: the feed's thread writes, the server's handlers read."""

    def __init__(self, boot: str | None = None) -> None:
        self.boot = boot or secrets.token_hex(4)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._files: dict[Path, list[str]] = {}  # run file -> the ids of its runs shown
        self._file_of: dict[str, Path] = {}  # run id -> the file it was last read from
        self._number = 0
        self._emit: Emit = _nowhere

    def connect(self, emit: Emit) -> int:
        """Send every event from now on to emit; the number of the last event made before."""
        with self._lock:
            self._emit = emit
            return self._number

    def event_id(self, number: int) -> str:
        return f"{self.boot}-{number}"

    @property
    def last_event(self) -> int:
        with self._lock:
            return self._number

    # --- reading (handlers) -----------------------------------------------------------------

    def views(self) -> tuple[list[RunView], int]:
        """Every run known (gone ones too), in the order first seen; the last event number."""
        with self._lock:
            views = [self._view(entry) for entry in self._entries.values()]
            return views, self._number

    def view(self, rid: str) -> RunView | None:
        with self._lock:
            entry = self._entries.get(rid)
            return None if entry is None else self._view(entry)

    def _view(self, entry: _Entry) -> RunView:
        return RunView(entry.id, entry.report, entry.status, self._number)

    # --- changes (the feed) -----------------------------------------------------------------

    def file_loaded(self, metrics_path: Path, reports: list[RunReport]) -> None:
        """The runs of one file as just read (one report per run of the file)."""
        with self._lock:
            ids = []
            for report in reports:
                rid = run_id(report.run.name)
                ids.append(rid)
                moved_from = self._file_of.get(rid, metrics_path)
                if moved_from != metrics_path:  # the run's file moved (a newer checkpoint)
                    others = self._files.get(moved_from, [])
                    self._files[moved_from] = [other for other in others if other != rid]
                self._file_of[rid] = metrics_path
                entry = self._entries.get(rid)
                if entry is None or entry.gone:
                    self._appeared(rid, report, entry)
                else:
                    self._changed(entry, report)
            for rid in self._files.get(metrics_path, []):
                if rid not in ids and rid in self._entries:
                    entry = self._entries.pop(rid)
                    data = {"reason": "removed"}
                    self._publish(entry, "reset", data, every=False, final=True)
                    self._run_event(entry, "removed")
            self._files[metrics_path] = ids

    def file_gone(self, metrics_path: Path, name: str) -> None:
        """The file is gone (deleted, moved away): its runs stay, with status gone."""
        with self._lock:
            for rid in self._files.pop(metrics_path, [run_id(name)]):
                entry = self._entries.get(rid)
                if entry is None or entry.gone:
                    continue
                entry.gone = True
                self._set_status(entry, Status.GONE)
                self._run_event(entry, "gone")

    def tick(self, now: float) -> None:
        """Statuses again at `now`: a run turns stalled or idle without any write."""
        with self._lock:
            for entry in self._entries.values():
                if not entry.gone:
                    self._set_status(entry, status_of(entry.report.run, now))

    # --- inside the lock ----------------------------------------------------------------

    def _appeared(self, rid: str, report: RunReport, was: _Entry | None) -> None:
        status = report.status or Status.EMPTY
        entry = _Entry(rid, report, status, findings_by_id(report), report.run.last_step)
        self._entries[rid] = entry  # (a run back from gone keeps its place in the order)
        if was is not None:
            if was.status is not status:
                data = {"status": status.value, "was": was.status.value}
                self._publish(entry, "status", data)
            # Back from gone, maybe rewritten: its own stream is told to fetch it again.
            self._publish(entry, "reset", {"reason": "rewritten"}, every=False)
        self._run_event(entry, "appeared")

    def _changed(self, entry: _Entry, report: RunReport) -> None:
        run = report.run
        old, entry.report = entry.report.run.table, report
        last = run.last_step
        changed = first_changed(old, run.table, entry.sent)
        if entry.sent is not None and (last is None or last < entry.sent):
            self._publish(entry, "reset", {"reason": "rewritten"})
        elif changed is not None:  # records already sent changed: from that x, again
            self._publish(entry, "reset", {"reason": "rewritten", "from": changed})
        else:
            new = count_after(run.table, entry.sent)
            if new > MAX_RECORD_EVENTS:
                self._publish(entry, "reset", {"reason": "many", "records": new})
            elif new:
                kind = record_kind(run)
                for record in records_after(run.table, entry.sent):
                    self._publish(entry, kind, record)
        entry.sent = last
        findings = findings_by_id(report)
        for fid, finding in findings.items():
            before = entry.findings.get(fid)
            if before is None or before["severity"] != finding["severity"]:
                change = "appeared" if before is None else "changed"
                self._publish(entry, "finding", {"change": change, "finding": finding})
        for fid, finding in entry.findings.items():
            if fid not in findings:
                self._publish(entry, "finding", {"change": "cleared", "finding": finding})
        entry.findings = findings
        if report.status is not None:
            self._set_status(entry, report.status)

    def _set_status(self, entry: _Entry, status: Status) -> None:
        if status is entry.status:
            return
        was, entry.status = entry.status, status
        self._publish(entry, "status", {"status": status.value, "was": was.value})

    def _run_event(self, entry: _Entry, change: str) -> None:
        self._number += 1
        data = {"run": entry.id, "data": {"change": change, "run": self._view(entry).listing()}}
        event_id = self.event_id(self._number)
        self._emit(Event(self._number, entry.id, None, frame(event_id, "run", dumps(data))))

    def _publish(
        self,
        entry: _Entry,
        kind: str,
        data: dict[str, Any],
        *,
        every: bool = True,
        final: bool = False,
    ) -> None:
        """An event of one run, on its own stream and (unless not `every`: what the `run`
        events already say there) on the stream of every run."""
        self._number += 1
        event_id = self.event_id(self._number)
        one = dumps(data)
        both = b'{"run":%s,"data":%s}' % (dumps(entry.id), one) if every else None
        self._emit(
            Event(
                self._number,
                entry.id,
                frame(event_id, kind, one),
                None if both is None else frame(event_id, kind, both),
                final,
            )
        )


def _nowhere(event: Event) -> None:
    """Events made before a server is connected have no client to go to."""
    del event

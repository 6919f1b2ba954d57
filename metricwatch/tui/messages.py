"""Every message the monitor's workers and widgets send, in one place.

Workers run in threads; Textual's post_message is thread-safe, so a worker
hands results to the UI only through these.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from metricwatch.tui.state import RunState
from metricwatch.watch import WatchMode


class RunsLoaded(Message):
    """Fresh states for one or more runs (new or changed)."""

    def __init__(self, states: list[RunState]) -> None:
        super().__init__()
        self.states = states


class RunGone(Message):
    """A run's metrics.json was deleted or moved away: keep its data, mark it gone."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class RunsRemoved(Message):
    """Runs a file no longer holds (an MLflow run deleted from its store, or a file of one
    run that now holds several under other names): taken off the list."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names


class RunFailed(Message):
    """Loading one run raised: shown on that run, never fatal to the app."""

    def __init__(self, name: str, metrics_path: Path, error: str) -> None:
        super().__init__()
        self.name = name
        self.metrics_path = metrics_path
        self.error = error


class ScanFinished(Message):
    """The initial discovery and load is done (the 'waiting for runs' text may show)."""


class WatchModeChanged(Message):
    """The watcher's mode changed (events, polling, partly polled, waiting for PATH);
    `reason` is the sentence to tell the user, empty for none."""

    def __init__(self, mode: WatchMode, reason: str = "") -> None:
        super().__init__()
        self.mode = mode
        self.reason = reason


class ColumnsReady(Message):
    """A worker built the chart columns of the selected run's state."""

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.state = state


class RecheckDue(Message):
    """Read a run again in `delay` seconds: its file was cut and the damage grace runs."""

    def __init__(self, name: str, metrics_path: Path, delay: float) -> None:
        super().__init__()
        self.name = name
        self.metrics_path = metrics_path
        self.delay = delay


class WatchError(Message):
    """The watcher could not read part of the tree (reported, watching goes on)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error

"""A run's status (live, stalled, finished...) and how statuses and severities look.

One function decides the status from a few numbers, so the monitor's run
list and header and `metricwatch summary` never disagree; one table says
how each status and severity is shown (marks, words, colours) everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from metricwatch.analysis.diagnostics import Severity, stall_check, stall_limit_s
from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import DAMAGE_KINDS


class Status(str, Enum):
    """The run list's status mark."""

    LIVE = "live"  # written recently
    STALLED = "stalled"  # no epoch for far longer than usual, and not finished
    FINISHED = "finished"  # reached its declared total
    IDLE = "idle"  # quiet, no declared total: finished or paused, we cannot tell
    GONE = "gone"  # its log file was deleted or moved away
    EMPTY = "empty"  # the file exists but holds no epoch yet
    UNREADABLE = "unreadable"  # no epoch could be read: damaged, foreign or not readable


@dataclass(frozen=True)
class StatusLook:
    """How one status is shown: its mark, the mark's style, its word and help line.

    `word_style` is the style of the word in the header; None: the header leaves it out.
    """

    mark: str
    style: str
    word: str
    help: str
    word_style: str | None = None


#: The one table of status marks: run list, header and help screen all read it.
STATUS_LOOKS: dict[Status, StatusLook] = {
    Status.LIVE: StatusLook("●", "bold green", "live", "written recently"),
    Status.STALLED: StatusLook(
        "◌", "bold yellow", "stalled", "no epoch for far longer than usual", "bold yellow"
    ),
    Status.FINISHED: StatusLook("✓", "dim", "finished", "reached its total epochs", "green"),
    Status.IDLE: StatusLook("○", "dim", "idle", "quiet, no total declared"),
    Status.GONE: StatusLook("✗", "red", "gone", "its log file was deleted or moved", "bold red"),
    Status.EMPTY: StatusLook("·", "dim", "empty", "no epoch written yet"),
    Status.UNREADABLE: StatusLook(
        "!", "bold red", "unreadable", "nothing could be read (see its notice)", "bold red"
    ),
}

#: The one table of severity marks and colours (findings panel, run list counts, help).
SEVERITY_LOOKS: dict[Severity, tuple[str, str]] = {
    Severity.INFO: ("●", "cyan"),
    Severity.WARNING: ("▲", "yellow"),
    Severity.CRITICAL: ("■", "red"),
}


def run_status(
    *,
    gone: bool,
    epochs_done: int,
    total_epochs: int | None,
    points: int,
    mtime: float | None,
    mean_epoch_s: float | None,
    now: float,
    problems: Iterable[Problem] = (),
    stalled: bool | None = None,
) -> Status:
    """The status of a run from its few numbers; `stalled` when the caller already knows.

    `points`: how many records were read (epochs, or steps in a step run).

    A run with no epoch is "unreadable" when its last read failed for a reason other
    than the file being empty (a file just created is "empty": a write is coming).
    """
    if gone:
        return Status.GONE
    if points == 0:
        failed = any(p.kind in DAMAGE_KINDS and p.kind is not ProblemKind.EMPTY for p in problems)
        return Status.UNREADABLE if failed else Status.EMPTY
    if total_epochs is not None and epochs_done >= total_epochs:
        return Status.FINISHED
    if stalled is None:
        stalled = stall_check(epochs_done, total_epochs, mtime, mean_epoch_s, now) is not None
    if stalled:
        return Status.STALLED
    if mtime is not None and now - mtime <= stall_limit_s(mean_epoch_s):
        return Status.LIVE
    return Status.IDLE

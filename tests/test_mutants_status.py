"""run_status at its limits and the look tables, found by mutation testing."""

from __future__ import annotations

import pytest

from metricwatch.analysis.diagnostics import Severity
from metricwatch.analysis.status import SEVERITY_LOOKS, STATUS_LOOKS, Status, StatusLook, run_status
from metricwatch.model import Problem, ProblemKind

NOW = 1_000_000.0


def status(**kwargs) -> Status:
    base = {
        "gone": False,
        "epochs_done": 3,
        "total_epochs": 10,
        "points": 3,
        "mtime": NOW - 1.0,
        "mean_epoch_s": 10.0,
        "now": NOW,
    }
    return run_status(**{**base, **kwargs})


def test_a_gone_run_is_gone_whatever_else_it_says():
    assert status(gone=True) is Status.GONE
    assert status(gone=True, points=0) is Status.GONE
    assert status(gone=True, epochs_done=10) is Status.GONE
    assert status(gone=True, stalled=True) is Status.GONE


def test_a_run_without_points_is_empty_unless_its_read_failed():
    assert status(points=0) is Status.EMPTY
    assert status(points=0, problems=[Problem(ProblemKind.EMPTY, "empty")]) is Status.EMPTY
    for kind in (ProblemKind.TRUNCATED, ProblemKind.INVALID_JSON, ProblemKind.NOT_OURS,
                 ProblemKind.MISSING, ProblemKind.UNREADABLE):  # fmt: skip
        assert status(points=0, problems=[Problem(kind, "x")]) is Status.UNREADABLE, kind
    # not damage: a restart or a bad value is no reason to call the file unreadable
    for kind in (ProblemKind.RESTART, ProblemKind.NON_NUMERIC, ProblemKind.BAD_EPOCH,
                 ProblemKind.ENCODING):  # fmt: skip
        assert status(points=0, problems=[Problem(kind, "x")]) is Status.EMPTY, kind
    mixed = [Problem(ProblemKind.EMPTY, "e"), Problem(ProblemKind.TRUNCATED, "t")]
    assert status(points=0, problems=mixed) is Status.UNREADABLE
    # a generator of problems is read too
    assert status(points=0, problems=iter(mixed)) is Status.UNREADABLE
    # points, even one, and the damage does not matter
    assert status(points=1, problems=mixed) is Status.LIVE


def test_finished_exactly_at_the_total_and_beyond():
    assert status(epochs_done=10, total_epochs=10) is Status.FINISHED
    assert status(epochs_done=11, total_epochs=10) is Status.FINISHED
    assert status(epochs_done=9, total_epochs=10) is Status.LIVE
    # finished wins over the caller's stalled
    assert status(epochs_done=10, total_epochs=10, stalled=True) is Status.FINISHED
    assert status(epochs_done=10, total_epochs=None, mtime=NOW) is Status.LIVE


def test_stalled_from_the_numbers_at_the_limit():
    # limit: max(5 x 20 s, 60 s) = 100 s
    assert status(mean_epoch_s=20.0, mtime=NOW - 100.0) is Status.STALLED
    assert status(mean_epoch_s=20.0, mtime=NOW - 99.0) is Status.LIVE
    # the floor of 60 s
    assert status(mean_epoch_s=1.0, mtime=NOW - 60.0) is Status.STALLED
    assert status(mean_epoch_s=1.0, mtime=NOW - 59.0) is Status.LIVE


def test_the_callers_stalled_is_taken_as_it_is():
    quiet = {"mean_epoch_s": 20.0, "mtime": NOW - 1000.0}
    assert status(**quiet) is Status.STALLED
    assert status(stalled=False, **quiet) is Status.IDLE
    assert status(stalled=True) is Status.STALLED  # written a second ago, but the caller knows
    assert status(stalled=None, **quiet) is Status.STALLED


def test_live_and_idle_at_the_limit_without_a_total():
    common = {"total_epochs": None, "mean_epoch_s": 20.0}
    assert status(mtime=NOW - 100.0, **common) is Status.LIVE  # <= the limit
    assert status(mtime=NOW - 100.5, **common) is Status.IDLE
    assert status(mtime=None, **common) is Status.IDLE
    # without a mean, the floor of 60 s
    assert status(total_epochs=None, mean_epoch_s=None, mtime=NOW - 60.0) is Status.LIVE
    assert status(total_epochs=None, mean_epoch_s=None, mtime=NOW - 61.0) is Status.IDLE
    # a total and no mean: cannot be stalled, goes idle
    assert status(mean_epoch_s=None, mtime=NOW - 1000.0) is Status.IDLE


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (Status.LIVE, "live"),
        (Status.STALLED, "stalled"),
        (Status.FINISHED, "finished"),
        (Status.IDLE, "idle"),
        (Status.GONE, "gone"),
        (Status.EMPTY, "empty"),
        (Status.UNREADABLE, "unreadable"),
    ],
)
def test_status_strings_are_stable(member, value):
    # the words are written to JSON output: they are an interface
    assert member.value == value
    assert member == value


def test_the_status_look_table():
    assert {
        Status.LIVE: StatusLook("●", "bold green", "live", "written recently"),
        Status.STALLED: StatusLook(
            "◌", "bold yellow", "stalled", "no epoch for far longer than usual", "bold yellow"
        ),
        Status.FINISHED: StatusLook("✓", "dim", "finished", "reached its total epochs", "green"),
        Status.IDLE: StatusLook("○", "dim", "idle", "quiet, no total declared"),
        Status.GONE: StatusLook(
            "✗", "red", "gone", "its log file was deleted or moved", "bold red"
        ),
        Status.EMPTY: StatusLook("·", "dim", "empty", "no epoch written yet"),
        Status.UNREADABLE: StatusLook(
            "!", "bold red", "unreadable", "nothing could be read (see its notice)", "bold red"
        ),
    } == STATUS_LOOKS
    assert StatusLook("a", "b", "c", "d").word_style is None
    # every status has a look, and every look's word is its status' own word
    assert set(STATUS_LOOKS) == set(Status)
    assert all(look.word == status.value for status, look in STATUS_LOOKS.items())
    assert len({look.mark for look in STATUS_LOOKS.values()}) == len(Status)


def test_the_severity_look_table():
    assert SEVERITY_LOOKS == {
        Severity.INFO: ("●", "cyan"),
        Severity.WARNING: ("▲", "yellow"),
        Severity.CRITICAL: ("■", "red"),
    }

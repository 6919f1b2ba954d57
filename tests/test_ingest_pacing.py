"""A run written many times a second is analysed (summary and rules over the whole run)
within a share of a core: between analyses its state is the last one grown to the read
(progress, last values, time), and a re-read is asked for when the analysis is due."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from metricwatch.analysis.summary import ANALYSED_META, summarize, with_progress
from metricwatch.model import Problem, ProblemKind
from metricwatch.sources.loader import RunLoader
from metricwatch.tui.ingest import ANALYSIS_LONGEST_S, ANALYSIS_QUIET_S, ANALYSIS_SHARE, Ingest
from metricwatch.tui.state import build_state, grown_state

HEADER = "epoch,step,train_loss,val_loss,val_acc\n"


def rows(first: int, last: int, *, nan_at: int | None = None) -> str:
    out = []
    for e in range(first, last + 1):
        loss = math.nan if e == nan_at else 1 / (e + 1)
        out.append(f"{e},{e * 10},{loss:.6f},{1.5 / (e + 1):.6f},{e / (last + 10):.4f}\n")
    return "".join(out)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write(path, text: str, mode: str = "a") -> None:
    with open(path, mode) as handle:
        handle.write(text)


@contextmanager
def _ingest_of(tmp_path, **kwargs):
    """An Ingest (a fixed clock, unless given) and a 40-row Lightning log: (ingest, path)."""
    path = tmp_path / "metrics.csv"
    _write(path, HEADER + rows(0, 39), "w")
    kwargs.setdefault("clock", Clock())
    ingest = Ingest(**kwargs)
    try:
        yield ingest, path
    finally:
        ingest.close()


def test_the_defaults():
    assert (ANALYSIS_SHARE, ANALYSIS_LONGEST_S, ANALYSIS_QUIET_S) == (0.0025, 5.0, 0.5)


def test_with_progress_brings_progress_and_last_values_and_keeps_the_best(tmp_path):
    path = tmp_path / "metrics.csv"
    _write(path, HEADER + rows(0, 39), "w")
    loader = RunLoader()
    early = loader.load("run", path)
    analysed = summarize(early)
    _write(path, rows(40, 59))
    grown = loader.load("run", path)
    now = summarize(grown)
    got = with_progress(analysed, grown)
    assert (got.epochs, got.steps, got.last_step) == (now.epochs, now.steps, now.last_step)
    assert (got.total_epochs, got.total_steps) == (now.total_epochs, now.total_steps)
    assert got.last == now.last
    assert [(m.key, m.last, m.last_step) for m in got.metrics] == [
        (m.key, m.last, m.last_step) for m in now.metrics
    ]
    assert got.best == analysed.best != now.best  # as analysed: the next summarize brings it
    assert got.best_step == analysed.best_step


def test_grown_state_only_for_a_read_that_simply_grew(tmp_path):
    path = tmp_path / "metrics.csv"
    _write(path, HEADER + rows(0, 39), "w")
    loader = RunLoader()
    analysed = build_state(loader.load("run", path), version=1)
    _write(path, rows(40, 41))
    run = loader.load("run", path)
    grown = grown_state(analysed, run, version=2)
    assert grown is not None
    assert grown.version == 2 and grown.findings is analysed.findings
    assert grown.summary.last_step == 410 and grown.epochs_done == run.epochs_done
    assert not grown.has_columns  # built again for the new read, not the old one's
    np.testing.assert_array_equal(grown.column("train_loss")[0], np.arange(0, 420, 10))
    assert grown_state(analysed, replace(run, format="other"), version=2) is None
    for key in ANALYSED_META:  # what the summary and the rules read
        assert grown_state(analysed, replace(run, meta={**run.meta, key: 7}), version=2) is None
    eta = grown_state(analysed, replace(run, meta={**run.meta, "eta_seconds": 5.0}), version=2)
    assert eta is not None and eta.meta["eta_seconds"] == 5.0  # the rest is news, not analysis
    assert ANALYSED_META == ("task", "total_epochs", "total_steps", "value_scale")
    problem = Problem(ProblemKind.TRUNCATED, "cut")
    assert grown_state(analysed, replace(run, problems=[problem]), version=2) is None
    cut = replace(analysed, problems=[problem])  # damaged before and now: still analysed
    assert grown_state(cut, replace(run, problems=[problem]), version=2) is None
    path.write_text(HEADER + rows(0, 9))
    shorter = loader.load("run", path)
    assert grown_state(analysed, shorter, version=2) is None
    _write(path, HEADER.replace("val_acc", "val_f1") + rows(0, 39), "w")
    other_keys = loader.load("run", path)
    assert other_keys.keys != analysed.keys
    assert grown_state(analysed, other_keys, version=2) is None
    assert grown_state(replace(analysed, _run=None), run, version=2) is None


def test_writes_between_analyses_grow_the_state_and_the_due_analysis_is_asked_for(tmp_path):
    path = tmp_path / "metrics.csv"
    _write(path, HEADER + rows(0, 39), "w")
    clock = Clock()
    asked: list[tuple[str, str, float]] = []
    ingest = Ingest(clock=clock, on_recheck=lambda n, p, d: asked.append((n, p.name, d)))
    try:
        first = ingest.load("run", path)
        analysed, pacer = ingest._analysed[path]
        assert analysed is first and pacer.cost > 0
        assert (pacer.share, pacer.longest) == (ANALYSIS_SHARE, ANALYSIS_LONGEST_S)
        wait = min(ANALYSIS_LONGEST_S, pacer.cost / ANALYSIS_SHARE)
        _write(path, rows(40, 41))
        second = ingest.load("run", path)
        assert second.summary.last_step == 410 and second.findings is first.findings
        assert second.version > first.version
        # The re-read is asked for a little after the analysis is due: by then a run still
        # writing has been analysed at a write, and the re-read is not wanted any more.
        assert asked == [("run", "metrics.csv", wait + ANALYSIS_QUIET_S)]
        assert ingest.recheck_wanted(path)
        clock.now += wait / 2
        _write(path, rows(42, 42))
        third = ingest.load("run", path)
        assert third.summary.last_step == 420 and third.findings is first.findings
        assert len(asked) == 1  # asked once for the spell
        clock.now += wait / 2  # due: the re-read is analysed
        fourth = ingest.load("run", path)
        assert fourth.findings is not first.findings
        assert ingest._analysed[path][0] is fourth and not ingest._analysis_due
        assert not ingest.recheck_wanted(path)  # the re-read asked for is dropped
    finally:
        ingest.close()


def test_a_run_read_again_on_request_is_analysed_at_once(tmp_path):
    with _ingest_of(tmp_path, on_recheck=lambda *args: None) as (ingest, path):
        first = ingest.load("run", path)
        _write(path, rows(40, 41))
        assert ingest.load("run", path).findings is first.findings
        ingest.forget(path)  # the `r` key
        again = ingest.load("run", path)
        assert again.findings is not first.findings and ingest._analysed[path][0] is again
        ingest.drop(path)
        assert path not in ingest._analysed


def test_a_runs_first_nan_is_analysed_at_once_and_later_ones_wait(tmp_path):
    asked: list[float] = []
    with _ingest_of(tmp_path, on_recheck=lambda n, p, d: asked.append(d)) as (ingest, path):
        first = ingest.load("run", path)
        _write(path, rows(40, 41))
        assert ingest.load("run", path).findings is first.findings  # paced
        _write(path, rows(42, 43, nan_at=43))  # the last new point: NaN
        nan = ingest.load("run", path)
        assert any(f.id == "non_finite" for f in nan.findings)
        assert ingest._analysed[path][0] is nan
        _write(path, rows(44, 45, nan_at=44))  # found already: the pace holds
        assert ingest.load("run", path).findings is nan.findings


def test_a_nan_only_in_the_gradient_norm_waits_for_the_paced_analysis(tmp_path):
    path = tmp_path / "metrics.csv"
    header = "epoch,step,train_loss,grad_norm\n"
    _write(path, header + "".join(f"{e},{e},{1 / (e + 1):.4f},1.5\n" for e in range(40)), "w")
    ingest = Ingest(clock=Clock(), on_recheck=lambda *args: None)
    try:
        first = ingest.load("run", path)
        _write(path, "40,40,0.02,nan\n41,41,0.02,inf\n")  # mixed precision skipping steps
        assert ingest.load("run", path).findings is first.findings
        _write(path, "42,42,inf,1.5\n")  # the loss itself: at once
        assert ingest.load("run", path).findings is not first.findings
    finally:
        ingest.close()


def test_only_the_new_points_are_looked_at_for_a_first_nan(tmp_path):
    loader = RunLoader()
    path = tmp_path / "metrics.csv"
    _write(path, HEADER + rows(0, 39), "w")
    analysed = build_state(loader.load("run", path), version=1)
    _write(path, rows(40, 41))
    run = loader.load("run", path)
    assert grown_state(analysed, run, version=2) is not None
    values = run.series("train_loss").values
    before = len(analysed._run.series("train_loss"))
    poisoned = values.copy()
    poisoned[before - 1] = np.nan  # an analysed point: not new, not looked at
    table = replace(run.table, series={**run.table.series})
    table.series["train_loss"] = replace(run.series("train_loss"), values=poisoned)
    assert grown_state(analysed, replace(run, table=table), version=2) is not None
    poisoned = values.copy()
    poisoned[before] = np.nan  # the first new point
    table.series["train_loss"] = replace(run.series("train_loss"), values=poisoned)
    assert grown_state(analysed, replace(run, table=table), version=2) is None


def test_without_a_way_to_read_again_every_read_is_analysed(tmp_path):
    with _ingest_of(tmp_path) as (ingest, path):
        first = ingest.load("run", path)
        _write(path, rows(40, 41, nan_at=41))
        assert any(f.id == "non_finite" for f in ingest.load("run", path).findings)
        assert first.findings == []


def test_a_changed_read_is_analysed_at_once(tmp_path):
    with _ingest_of(tmp_path, on_recheck=lambda *args: None) as (ingest, path):
        ingest.load("run", path)
        path.write_text(HEADER + rows(0, 9))  # rewritten, shorter: not a run that grew
        state = ingest.load("run", path)
        assert ingest._analysed[path][0] is state
        assert state.summary.last_step == 90
        assert math.isclose(state.summary.best["train_loss"].value, 0.1)


async def test_a_re_read_asked_for_is_skipped_once_a_write_was_analysed(tmp_path):
    """The app's re-read (RecheckDue) of a run that wrote since costs no load and no update."""
    from tui_fixtures.support import fixed_app, wait_loaded

    path = tmp_path / "run" / "metrics.csv"
    path.parent.mkdir()
    _write(path, HEADER + rows(0, 39), "w")
    app = fixed_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, 1)
        applied: list[object] = []
        real_apply = app._apply
        app._apply = lambda updates, **kwargs: (applied.append(updates), real_apply(updates))
        app.ingest._analysis_due.add(path)  # asked for while writes streamed in
        app.ingest._analysed[path][1].started = -math.inf  # and due by now
        await app._recheck_run("run", path).wait()
        assert len(applied) == 1  # still due: read again (and analysed)
        assert not app.ingest.recheck_wanted(path)
        await app._recheck_run("run", path).wait()
        assert len(applied) == 1  # analysed since it was asked for: skipped

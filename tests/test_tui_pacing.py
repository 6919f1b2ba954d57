"""Live data redraws the charts within a share of a core (metricwatch.pacing): the
header follows every write, the charts once their last redraw is paid for, and anything
the user asks for is drawn at once."""

from __future__ import annotations

import math
import time
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from tui_fixtures.support import copy_fixtures, fixed_app, wait_for, wait_loaded

from metricwatch.analysis.findings import Finding, Severity
from metricwatch.pacing import CHART_SHARE, LONGEST_WAIT_S, UNSEEN_WAIT_S, VISIBLE_GROWTH, Pacer
from metricwatch.tui.messages import RunsLoaded
from metricwatch.tui.view_options import ViewOptions
from metricwatch.tui.widgets.run_view import _only_newer, extent

WIDE = (120, 40)


def test_defaults_are_five_percent_of_a_core_and_five_seconds_at_most():
    assert (CHART_SHARE, LONGEST_WAIT_S, UNSEEN_WAIT_S) == (0.05, 5.0, 15.0)
    assert Pacer().wait(0.0) == 0.0  # nothing drawn yet: draw


def test_the_wait_is_the_cost_over_the_share_since_the_redraw_began():
    pacer = Pacer(share=0.04, longest=5.0)
    pacer.begin(10.0, 0.01)  # specs: 10 ms -> 0.25 s
    assert pacer.wait(10.1) == pytest.approx(0.15)
    pacer.add(0.03)  # a chart built: 40 ms -> 1 s
    assert pacer.wait(10.1) == pytest.approx(0.9)
    assert pacer.wait(11.0) == 0.0  # exactly paid for
    assert pacer.wait(11.5) == 0.0


def test_the_wait_never_exceeds_longest():
    pacer = Pacer(share=0.03, longest=2.5)
    pacer.begin(100.0, 0.3)  # 10 s at 3 %: capped
    assert pacer.wait(100.0) == 2.5
    assert pacer.wait(101.0) == 1.5
    pacer.begin(100.0, 0.075)  # exactly 2.5 s
    assert pacer.wait(100.5) == pytest.approx(2.0)
    pacer.begin(100.0, 0.06)  # 2 s: under the cap
    assert pacer.wait(100.5) == pytest.approx(1.5)


def test_a_new_redraw_starts_a_new_count():
    pacer = Pacer(share=0.1, longest=60.0)
    pacer.begin(0.0, 1.0)
    pacer.add(1.0)
    assert pacer.wait(0.0) == 20.0
    pacer.begin(3.0, 0.2)
    assert pacer.cost == 0.2
    assert pacer.wait(3.0) == pytest.approx(2.0)


def test_data_grown_by_less_than_a_column_of_dots_waits_the_unseen_wait():
    assert VISIBLE_GROWTH == 1 / 256
    pacer = Pacer(share=0.05, longest=5.0, unseen=12.0)
    pacer.begin(40.0, 0.02)  # 20 ms at 5 %: 0.4 s
    assert pacer.wait(40.1, grown=1 / 256) == pytest.approx(0.3)  # at the limit: paid for
    assert pacer.wait(40.1, grown=0.99 / 256) == pytest.approx(11.9)  # under it: unseen
    assert pacer.wait(40.1) == pytest.approx(0.3)  # growth unknown: as grown
    assert pacer.wait(51.9, grown=0.0) == pytest.approx(0.1)  # longer than the longest
    assert pacer.wait(52.0, grown=0.0) == 0.0  # the unseen wait has passed: draw
    pacer.begin(60.0, 1.0)  # costlier than the longest allows: 5 s, however small the growth
    assert pacer.wait(60.0, grown=0.5) == pytest.approx(5.0)
    assert pacer.wait(60.0, grown=0.0) == pytest.approx(12.0)
    assert Pacer().unseen == UNSEEN_WAIT_S


def _at(state, *, epochs=None, last_step=None, x=None):
    summary = state.summary
    fields = {"epochs": summary.epochs if epochs is None else epochs}
    if last_step is not None:
        fields.update(last_step=last_step, x=x or "step")
    return replace(state, version=state.version + 1, summary=replace(summary, **fields))


async def test_a_write_that_moves_a_long_run_by_less_than_a_dot_waits_the_unseen_wait(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        current = app.states["resnet-healthy"]
        long = _at(current, last_step=512_000)
        app.post_message(RunsLoaded([long]))  # a step run now: drawn at once (other extent)
        await _all_drawn(pilot, 512_000.0)
        pacer = app.view.pacer
        pacer.share, pacer.unseen = 1.0, 30.0  # any redraw is paid for at once, but
        pacer.begin(time.monotonic(), 0.0)
        drawn = app.view.shown_charts[0]
        small = _at(long, last_step=513_999)  # 1,999 steps of 513,999: under 1/256
        app.post_message(RunsLoaded([small]))
        await _shown(pilot, small)
        assert app.view._redraw_timer is not None  # waits the unseen wait (30 s here)
        assert app.view.shown_charts[0] is drawn
        visible = _at(small, last_step=514_010)  # 2,010 of 514,010: a dot column
        app.post_message(RunsLoaded([visible]))
        await wait_for(pilot, lambda: app.view.shown_charts[0] is not drawn)
        assert app.view._drawn_extents == {"resnet-healthy": 514_010.0}


async def test_a_visible_write_brings_forward_the_unseen_wait_of_a_smaller_one(tmp_path):
    """A redraw left waiting the unseen wait is brought forward by a write that moves the
    run by a column of dots: it waits only for the last redraw to be paid for."""
    async with _monitor(tmp_path) as (app, pilot):
        long = _at(app.states["resnet-healthy"], last_step=512_000)
        app.post_message(RunsLoaded([long]))
        await _all_drawn(pilot, 512_000.0)
        pacer = app.view.pacer
        pacer.share, pacer.unseen = 1.0, 30.0
        pacer.begin(time.monotonic(), 1.5)  # the last redraw is paid for 1.5 s from now
        drawn = app.view.shown_charts[0]
        small = _at(long, last_step=513_999)
        app.post_message(RunsLoaded([small]))
        await _shown(pilot, small)
        unseen_due = app.view._redraw_at
        assert unseen_due - time.monotonic() > 29.0
        visible = _at(small, last_step=514_010)
        posted = time.monotonic()
        app.post_message(RunsLoaded([visible]))
        await _shown(pilot, visible)
        assert posted < app.view._redraw_at < posted + 1.5  # brought forward
        assert app.view.shown_charts[0] is drawn  # not drawn yet: it waits for the pace
        await wait_for(pilot, lambda: app.view.shown_charts[0] is not drawn)
        assert app.view._drawn_extents == {"resnet-healthy": 514_010.0}
        latest = _at(visible, last_step=514_011)  # a smaller write: no later than that one
        app.post_message(RunsLoaded([latest]))
        await _shown(pilot, latest)
        assert app.view._redraw_at - time.monotonic() > 29.0  # drawn since: its own wait


async def _all_drawn(pilot, extent: float) -> None:
    """The charts of a run at this extent are on screen and their cost counted (the pacer is
    left alone after this)."""
    view = pilot.app.view
    await wait_for(
        pilot,
        lambda: (
            view._drawn_extents == {"resnet-healthy": extent}
            and view._counting is None
            and not view._staging
        ),
    )


def test_a_runs_extent_is_its_last_step_or_its_epochs(tmp_path):
    from metricwatch.analysis.summary import RunSummary

    class State:
        def __init__(self, **fields):
            self.summary = replace(RunSummary(0, None, None, None, None, None, None), **fields)

    assert extent(State(epochs=37)) == 37.0
    assert extent(State(epochs=3, x="step", last_step=1_234)) == 1_234.0
    assert extent(State(epochs=3, x="step", last_step=None)) == 3.0
    assert extent(State(epochs=3, x="epoch", last_step=99)) == 3.0


def test_only_newer_data_of_the_same_runs_is_live_data():
    options = ViewOptions()
    drawn = ((("a", 3, None),), options)
    assert _only_newer(((("a", 4, None),), options), drawn)
    assert not _only_newer(((("b", 4, None),), options), drawn)  # another run
    assert not _only_newer(((("a", 4, None),), replace(options, log_y=True)), drawn)
    assert not _only_newer(((("a", None, None),), options), drawn)  # columns on their way
    assert not _only_newer(((("a", 4, None),), options), None)  # nothing drawn yet
    pair = ((("a", 3, (1, "x")), ("b", 7, (2, "o"))), options)
    assert _only_newer(((("a", 3, (1, "x")), ("b", 8, (2, "o"))), options), pair)
    assert not _only_newer(((("a", 3, (2, "x")), ("b", 8, (2, "o"))), options), pair)  # colour
    assert not _only_newer(((("a", 3, (1, "x")),), options), pair)  # a run unmarked
    assert not _only_newer(((("b", 8, (2, "o")), ("a", 3, (1, "x"))), options), pair)


def _newer(app):
    current = app.states["resnet-healthy"]
    return replace(current, version=current.version + 1)


async def _shown(pilot, state) -> None:
    """The view shows `state` (its header, summary and findings are from it)."""
    await wait_for(pilot, lambda: pilot.app.view.state is state)


@asynccontextmanager
async def _monitor(tmp_path, charts: int | None = None):
    """The monitor on the sample runs, its first charts drawn: (app, pilot)."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        if charts is None:
            await wait_for(pilot, lambda: bool(app.view.shown_charts))
        else:
            await wait_for(pilot, lambda: len(app.view.shown_charts) == charts)
        yield app, pilot


def _slow_pacer(app, *, paid_ago: float = 0.0) -> None:
    """Every redraw "costs" the longest wait (30 s), the last one began paid_ago seconds ago
    (data that did not grow waits as long)."""
    pacer = app.view.pacer
    pacer.share, pacer.longest, pacer.unseen = 1e-9, 30.0, 30.0
    pacer.begin(time.monotonic() - paid_ago, 1.0)


async def test_live_data_updates_the_header_at_once_and_the_charts_when_paid_for(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        pacer = app.view.pacer
        assert pacer.cost > 0  # the specs and the charts plotext built were counted
        assert not math.isinf(pacer.started)
        pacer.share, pacer.longest, pacer.unseen = 1e-9, 0.6, 0.6  # each "costs" the longest
        pacer.begin(time.monotonic(), 1.0)
        drawn = app.view.shown_charts
        first = _newer(app)
        app.post_message(RunsLoaded([first]))
        await _shown(pilot, first)
        assert all(a is b for a, b in zip(app.view.shown_charts, drawn))  # still the old ones
        timer = app.view._redraw_timer
        assert timer is not None
        second = replace(first, version=first.version + 1)
        app.post_message(RunsLoaded([second]))  # a second write: still one redraw waiting
        await _shown(pilot, second)
        assert app.view._redraw_timer is timer
        assert app.view.shown_charts[0] is drawn[0]
        await wait_for(pilot, lambda: app.view.shown_charts[0] is not drawn[0], timeout=3.0)
        # drawn from the latest data
        assert app.view._charts_version[0] == (("resnet-healthy", second.version, None),)


async def test_after_a_quiet_spell_live_data_is_drawn_at_once(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        _slow_pacer(app, paid_ago=31.0)  # the last redraw was paid for long ago
        drawn = app.view.shown_charts[0]
        newer = _newer(app)
        app.post_message(RunsLoaded([newer]))
        await _shown(pilot, newer)
        assert app.view.shown_charts[0] is not drawn
        assert app.view._redraw_timer is None


async def test_a_key_pressed_while_charts_wait_draws_them_at_once(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        _slow_pacer(app)
        app.post_message(RunsLoaded([_newer(app)]))
        await wait_for(pilot, lambda: app.view._redraw_timer is not None)
        await pilot.press("y")  # log scale: the user asked, whatever the last redraw cost
        await wait_for(pilot, lambda: app.view.shown_charts[0].log_y)
        assert app.view._redraw_timer is None  # the waiting redraw was done with it
        version = app.states["resnet-healthy"].version
        assert app.view._charts_version[0] == (("resnet-healthy", version, None),)


async def test_export_draws_the_waiting_charts_first(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        app.export_dir = tmp_path
        _slow_pacer(app)
        drawn = app.view.shown_charts[0]
        app.post_message(RunsLoaded([_newer(app)]))
        await wait_for(pilot, lambda: app.view._redraw_timer is not None)
        await pilot.press("e")
        await wait_for(pilot, lambda: any(tmp_path.glob("*.svg")))
        assert app.view.shown_charts[0] is not drawn
        assert app.view._redraw_timer is None


async def test_the_summary_and_findings_wait_with_the_charts(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        first = app.states["resnet-healthy"]
        note = Finding("loss_spike", Severity.INFO, "Loss spike", "at epoch 3", "c", "a", 3)
        current = replace(first, version=first.version + 1, findings=[note])
        app.post_message(RunsLoaded([current]))  # a new finding: shown at once
        await wait_for(pilot, lambda: app.view.findings.findings == [note])
        _slow_pacer(app)
        summary = replace(current.summary, last={**current.summary.last, "train_loss": 9.875})
        findings = [replace(note, evidence="moved on")]
        newer = replace(current, version=current.version + 1, summary=summary, findings=findings)
        before = app.view.summary.plain
        app.post_message(RunsLoaded([newer]))
        await _shown(pilot, newer)
        assert app.view.summary.plain == before  # the same kinds of findings: it waits
        assert "9.875" not in app.view.summary.plain
        assert app.view.findings.findings == [note]
        app.view.flush_charts()
        await pilot.pause()
        assert "9.875" in app.view.summary.plain
        assert app.view.findings.findings == findings


async def test_a_new_finding_is_drawn_at_once_with_the_rest(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        _slow_pacer(app)
        current = app.states["resnet-healthy"]
        alarm = Finding("non_finite", Severity.CRITICAL, "NaN", "val_loss = NaN", "c", "a", 31)
        newer = replace(current, version=current.version + 1, findings=[*current.findings, alarm])
        drawn = app.view.shown_charts[0]
        app.post_message(RunsLoaded([newer]))
        await _shown(pilot, newer)
        assert alarm in app.view.findings.findings
        assert app.view.shown_charts[0] is not drawn  # the charts came with it
        assert app.view._redraw_timer is None
        # the same finding at another severity is news too
        calmer = replace(alarm, severity=Severity.WARNING)
        newest = replace(newer, version=newer.version + 1, findings=[*current.findings, calmer])
        _slow_pacer(app)
        app.post_message(RunsLoaded([newest]))
        await _shown(pilot, newest)
        assert calmer in app.view.findings.findings


async def test_only_a_plot_built_again_counts_as_a_redraws_cost(tmp_path):
    async with _monitor(tmp_path) as (app, pilot):
        await pilot.pause(0.2)
        pacer = app.view.pacer
        before = pacer.cost
        for slot in app.view.slots:
            slot.refresh()  # lines drawn again from the same plot
        await pilot.pause(0.2)
        assert pacer.cost == before
        slot = app.view.slots[0]
        slot._drawn = None  # the plot must be built again
        slot.refresh()
        await wait_for(pilot, lambda: pacer.cost > before)


async def test_a_live_redraw_shows_its_charts_one_a_frame(tmp_path):
    async with _monitor(tmp_path, charts=3) as (app, pilot):
        _slow_pacer(app)
        drawn = list(app.view.shown_charts)
        newer = _newer(app)
        app.post_message(RunsLoaded([newer]))
        await _shown(pilot, newer)
        _slow_pacer(app, paid_ago=31.0)  # now due
        app.view._redraw_due()  # what the pacer's timer calls
        fresh = [a is not b for a, b in zip(app.view.shown_charts, drawn)]
        assert fresh == [True, False, False]  # the first now, the others to follow
        await wait_for(pilot, lambda: all(a is not b for a, b in zip(app.view.shown_charts, drawn)))
        app.post_message(RunsLoaded([replace(newer, version=newer.version + 1)]))
        await pilot.pause()
        drawn = list(app.view.shown_charts)
        app.view.flush_charts()  # export: every chart at once
        assert all(a is not b for a, b in zip(app.view.shown_charts, drawn))


async def test_a_redraw_costs_what_the_ui_thread_spent_until_its_last_chart_is_shown(
    tmp_path, monkeypatch
):
    async with _monitor(tmp_path, charts=3) as (app, pilot):
        _slow_pacer(app)
        drawn = list(app.view.shown_charts)
        newer = _newer(app)
        app.post_message(RunsLoaded([newer]))
        await _shown(pilot, newer)
        clock = iter([100.0])  # the CPU clock at the start, then 0.75 s of work later
        monkeypatch.setattr(time, "thread_time", lambda: next(clock, 100.75))
        _slow_pacer(app, paid_ago=31.0)  # now due
        app.view._redraw_due()  # staggered: the last chart shows frames later
        await wait_for(pilot, lambda: all(a is not b for a, b in zip(app.view.shown_charts, drawn)))
        await wait_for(pilot, lambda: app.view.pacer.cost == 0.75)
        assert app.view._counting is None  # nothing left to count


async def test_a_redraw_due_waits_more_when_the_last_one_cost_more_than_first_counted(tmp_path):
    """The wait is set when live data comes, while the last redraw's charts may still be
    building: their cost counts when the timer fires."""
    async with _monitor(tmp_path) as (app, _pilot):
        _slow_pacer(app)  # the last redraw began now and cost the longest wait (30 s)
        drawn = app.view.shown_charts[0]
        app.view._redraw_due()  # fired early (set when the cost was still small)
        timer = app.view._redraw_timer
        assert timer is not None  # set again, for the rest of the wait
        assert app.view.shown_charts[0] is drawn
        _slow_pacer(app, paid_ago=31.0)
        app.view.flush_charts()  # export draws whatever the pacer says
        assert app.view._redraw_timer is None

"""Timers that fire while the monitor is torn down (on quit) find no widgets: no error."""

from __future__ import annotations

from tui_fixtures.support import wait_loaded, write_run

from metricwatch.tui.app import create_app


async def test_timers_after_the_widgets_are_gone_do_nothing(tmp_path):
    write_run(tmp_path / "runs" / "a", 3)
    app = create_app(tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 1)
        assert app._widgets_mounted()
        app._tick()
        app._check_status()
    # The app has exited: its screens and widgets are gone, as when a timer fires late.
    assert not app._widgets_mounted()
    app._tick()
    app._check_status()

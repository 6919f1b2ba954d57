"""Snapshots of the chart-reading keys: smoothing 0.9 with the raw curve behind, log-y loss.

Deterministic: the fixed sample runs, a fixed clock, no watcher. Regenerate with
`pytest tests/test_tui_snapshots_view.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import pytest
from tui_fixtures.support import copy_fixtures, fixed_app, wait_for, wait_loaded

SIZES = [(120, 40), (80, 24)]


async def _overfit_with(pilot, *keys: str) -> None:
    await wait_loaded(pilot, 2)
    await pilot.press("j")
    app = pilot.app
    await wait_for(pilot, lambda: app.states["vit-overfit"].has_columns)
    await pilot.press(*keys)
    await wait_for(pilot, lambda: bool(app.view.shown_charts))


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_smoothing_0_9_with_raw_behind(snap_compare, tmp_path, size):
    app = fixed_app(copy_fixtures(tmp_path))
    assert snap_compare(
        app, terminal_size=size, run_before=lambda p: _overfit_with(p, "s", "s", "s")
    )


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_log_y_loss(snap_compare, tmp_path, size):
    app = fixed_app(copy_fixtures(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=lambda p: _overfit_with(p, "y"))

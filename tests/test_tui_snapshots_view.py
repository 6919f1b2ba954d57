"""Snapshots of the chart-reading keys: smoothing 0.9 with the raw curve behind, log-y loss.

Deterministic: the fixed sample runs, a fixed clock, no watcher. Regenerate with
`pytest tests/test_tui_snapshots_view.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import pytest
from tui_fixtures.support import NOW, copy_fixtures, fixed_app, wait_for, wait_loaded, write_run

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


async def _three_compared(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: len(app.states) == 3 and app.scan_done.is_set())
    for name in ("resnet-healthy", "vit-overfit", "wide-long-run"):
        app.select(name)
        await pilot.press("space")
    await wait_for(pilot, lambda: len(app.view.compared or []) == 3)


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_compare_three_runs(snap_compare, tmp_path, size):
    root = copy_fixtures(tmp_path)
    write_run(root / "wide-long-run", 45, total=60, mtime=NOW - 7200)
    app = fixed_app(root)
    assert snap_compare(app, terminal_size=size, run_before=_three_compared)


def _config_runs(tmp_path):
    import os

    from tui_fixtures.support import epoch_record

    from metricwatch.writer import MetricsDocument

    root = tmp_path / "runs"
    for name, lr, epochs in (("alpha", 0.1, 12), ("beta", 0.01, 30), ("gamma", 0.001, 20)):
        doc = MetricsDocument(root / name, {"total_epochs": 50, "config": {"lr": lr, "bs": 64}})
        for epoch in range(1, epochs + 1):
            doc.put(epoch_record(epoch))
        doc.write()
        os.utime(doc.path, (NOW - 3600, NOW - 3600))
    return root


async def _table(pilot) -> None:
    from metricwatch.tui.screens.runs_table import RunsTableScreen

    await wait_loaded(pilot, 3)
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsTableScreen))


@pytest.mark.parametrize("size", SIZES, ids=["120x40", "80x24"])
def test_runs_table(snap_compare, tmp_path, size):
    app = fixed_app(_config_runs(tmp_path))
    assert snap_compare(app, terminal_size=size, run_before=_table)

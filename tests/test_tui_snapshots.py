"""Snapshots of the main screens on the fixed sample runs (tests/tui_fixtures/sample).

Deterministic: fixed clock, fixed file mtimes, no watcher. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from tui_fixtures.support import copy_fixtures, fixed_app, wait_loaded


async def loaded(pilot) -> None:
    await wait_loaded(pilot, 2)


def test_main_screen_120x40(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


def test_overfitting_run_120x40(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))

    async def second_run(pilot) -> None:
        await loaded(pilot)
        await pilot.press("j")

    assert snap_compare(app, terminal_size=(120, 40), run_before=second_run)


def test_main_screen_80x24(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)


def test_overfitting_run_80x24(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))

    async def second_run(pilot) -> None:
        await loaded(pilot)
        await pilot.press("j")

    assert snap_compare(app, terminal_size=(80, 24), run_before=second_run)


def test_help_screen_80x24(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))

    async def help_open(pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(app, terminal_size=(80, 24), run_before=help_open)

"""Snapshots of the main screens on the fixed sample runs (tests/tui_fixtures/sample).

Deterministic: fixed clock, fixed file mtimes, no watcher. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from tui_fixtures.support import NOW, copy_fixtures, fixed_app, wait_loaded, write_run


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


# --- names and layouts (issue 7): long, sweep and CJK names; the findings beside the list ---

LONG_NAMES = [
    "runs/日本語の実験_🚀",
    "a/very/long/experiment/name/resnet50_imagenet_mixup0.2_cutmix_warmup5_cosine_ema_v2",
    "sweep/lr1e-05_bs128_seed3",
    "sweep/lr1e-05_bs128_seed2",
    "sweep/lr3e-04_bs16_seed0",
    "exp\u202egnp.exe",  # a right-to-left override: shown escaped
]


def long_named_runs(tmp_path):
    root = tmp_path / "runs"
    for index, name in enumerate(LONG_NAMES):
        write_run(root / name, 20 + index, nan_from=15 if index == 0 else None, mtime=NOW - index)
    return root


def test_long_names_list_shown_80x24(snap_compare, tmp_path):
    app = fixed_app(long_named_runs(tmp_path))

    async def list_shown(pilot) -> None:
        await wait_loaded(pilot, len(LONG_NAMES))
        await pilot.press("l")

    assert snap_compare(app, terminal_size=(80, 24), run_before=list_shown)


def test_long_names_120x40(snap_compare, tmp_path):
    app = fixed_app(long_named_runs(tmp_path))

    async def longest_selected(pilot) -> None:
        await wait_loaded(pilot, len(LONG_NAMES))
        await pilot.press("j")  # the longest name: shortened in the middle in the header too

    assert snap_compare(app, terminal_size=(120, 40), run_before=longest_selected)


def test_findings_with_list_80x24(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))

    async def overfit_with_list(pilot) -> None:
        await loaded(pilot)
        await pilot.press("j", "l")

    assert snap_compare(app, terminal_size=(80, 24), run_before=overfit_with_list)


def test_findings_with_list_120x40(snap_compare, tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))

    async def overfit(pilot) -> None:
        await loaded(pilot)
        await pilot.press("j")

    assert snap_compare(app, terminal_size=(120, 40), run_before=overfit)

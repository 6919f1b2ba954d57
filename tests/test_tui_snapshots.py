"""Snapshots of the main screens on the fixed sample runs (tests/tui_fixtures/sample).

Deterministic: fixed clock, fixed file mtimes, no watcher. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import math
import os

from tui_fixtures.support import NOW, copy_fixtures, fixed_app, wait_loaded, write_run

from metricwatch.writer import MetricsDocument


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


# --- train and val look the same on every chart (issue 7) ------------------------------------


def train_val_pairs_run(tmp_path):
    """Loss and accuracy each logged for train and val: two charts of pairs."""
    root = tmp_path / "runs" / "pairs"
    doc = MetricsDocument(root, {"total_epochs": 30})
    for epoch in range(1, 25):
        fall = math.exp(-epoch / 6)
        doc.put(
            {
                "epoch": epoch,
                "train_loss": 1.9 * fall + 0.05,
                "val_loss": 1.7 * fall + 0.25 + 0.004 * epoch,
                "train_accuracy": 0.98 - 0.6 * fall,
                "val_accuracy": 0.9 - 0.55 * fall,
                "lr": 1e-3,
                "duration_s": 20.0,
            }
        )
    doc.write()
    os.utime(doc.path, (NOW - 5, NOW - 5))
    return root


def test_train_val_colours_across_charts_120x40(snap_compare, tmp_path):
    app = fixed_app(train_val_pairs_run(tmp_path))
    assert snap_compare(app, terminal_size=(120, 40), run_before=lambda p: wait_loaded(p, 1))


def test_train_val_colours_across_charts_80x24(snap_compare, tmp_path):
    app = fixed_app(train_val_pairs_run(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda p: wait_loaded(p, 1))

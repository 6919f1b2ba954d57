"""Saving the screen as SVG: the `e` key and `metricwatch snapshot`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_fixtures.support import NOW, copy_fixtures, fixed_app, wait_for, wait_loaded

from metricwatch.cli import main
from metricwatch.tui.export import export_name, parse_size

REPO = Path(__file__).resolve().parents[1]
STAMP = time.strftime("%Y%m%d-%H%M%S", time.localtime(NOW))


def test_the_file_is_named_after_the_run_and_the_time_made_safe():
    assert export_name("vit-overfit", NOW) == f"vit-overfit-{STAMP}.svg"
    assert export_name("sweep/lr=0.1 [seed 3]", NOW) == f"sweep_lr_0.1_seed_3-{STAMP}.svg"
    assert export_name("../..", NOW) == f"run-{STAMP}.svg"
    assert export_name(None, NOW) == f"metricwatch-{STAMP}.svg"


def test_sizes_are_columns_x_rows_within_bounds():
    assert parse_size("120x40") == (120, 40)
    assert parse_size(" 80X24 ") == (80, 24)
    assert parse_size("40x12") == (40, 12)
    for bad in ("39x12", "40x11", "120", "axb", "1001x40"):
        with pytest.raises(ValueError):
            parse_size(bad)


async def test_e_saves_the_screen_and_a_toast_gives_the_path(tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))
    app.export_dir = tmp_path
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("j")
        await pilot.press("e")
        saved = tmp_path / f"vit-overfit-{STAMP}.svg"
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        assert saved.is_file()
        text = saved.read_text()
        assert text.startswith("<svg") and "vit-overfit" in text
        assert f"saved {saved}" in str(app.screen.query("Toast").last().render())


def test_snapshot_command_writes_the_svg_of_the_named_run(tmp_path):
    root = copy_fixtures(tmp_path)
    out = tmp_path / "report.svg"
    command = [sys.executable, "-m", "metricwatch", "snapshot", str(root)]
    result = subprocess.run(
        [*command, "--run", "vit-overfit", "--size", "100x30", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "vit-overfit" in text and "snapshot" in text
    assert "Loss" in text


def test_snapshot_command_errors_are_one_line_and_exit_2(tmp_path, capsys):
    root = copy_fixtures(tmp_path)
    assert main(["snapshot", str(root), "--size", "10x10", "-o", str(tmp_path / "a.svg")]) == 2
    assert "outside 40x12" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["snapshot", str(missing), "-o", str(tmp_path / "a.svg")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["snapshot", str(root), "-o", str(tmp_path / "no" / "a.svg")]) == 2
    assert "no directory" in capsys.readouterr().err
    assert main(["snapshot", str(root), "--run", "nope", "-o", str(tmp_path / "a.svg")]) == 2
    err = capsys.readouterr().err
    assert "no run named 'nope'" in err and "resnet-healthy, vit-overfit" in err
    assert not (tmp_path / "a.svg").exists()

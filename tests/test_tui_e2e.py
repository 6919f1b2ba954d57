"""End to end: the real `metricwatch` command in a real terminal (tmux), fed by a writer."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_fixtures.support import epoch_record, write_run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[1]


class Tmux:
    """One detached tmux session on a private server socket (never the user's own server)."""

    def __init__(self, command: str, width: int = 120, height: int = 40) -> None:
        self.socket = f"metricwatch-e2e-{os.getpid()}"
        self.session = "mw"
        self._tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")

    def alive(self) -> bool:
        return bool(self._tmux("list-sessions").strip())

    def close(self) -> None:
        self._tmux("kill-server")


def test_live_monitor_in_a_real_terminal(tmp_path):
    now = time.time()
    alpha = write_run(tmp_path / "alpha-run", 3, mtime=now)
    write_run(tmp_path / "beta-run", 5, mtime=now - 600)
    # COLUMNS/LINES from the test runner would override the real terminal size.
    env = f"env -u COLUMNS -u LINES PYTHONPATH={shlex.quote(str(REPO))}"
    command = f"cd {shlex.quote(str(REPO))} && {env} {shlex.quote(sys.executable)} -m metricwatch "
    tmux = Tmux(command + shlex.quote(str(tmp_path)))
    try:
        tmux.wait_for("epoch 3 / 50", timeout=15)
        # The selected run is drawn first; the rest of the list follows a moment later.
        screen = tmux.wait_for("beta-run", timeout=5)
        assert "alpha-run  epoch 3 / 50" in screen
        assert "events" in screen
        for epoch in (4, 5):
            alpha.put(epoch_record(epoch))
            alpha.write()
            tmux.wait_for(f"epoch {epoch} / 50")
        tmux.keys("j")
        screen = tmux.wait_for("beta-run  epoch 5 / 50")
        tmux.keys("q")
        deadline = time.monotonic() + 5
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tmux.alive(), "q did not quit the app"
    finally:
        tmux.close()


def test_a_long_runs_header_follows_its_writes_alone_in_a_real_terminal(tmp_path):
    """One long run: a write grows it by less than a column of dots, so its charts wait
    and only the header's line changes, written straight to the terminal (paint_now)."""
    run = write_run(tmp_path / "long-run", 600, total=None)
    env = f"env -u COLUMNS -u LINES PYTHONPATH={shlex.quote(str(REPO))}"
    command = f"cd {shlex.quote(str(REPO))} && {env} {shlex.quote(sys.executable)} -m metricwatch "
    tmux = Tmux(command + shlex.quote(str(tmp_path / "long-run")))
    try:
        first = tmux.wait_for("epoch 600", timeout=15)
        header_row = next(i for i, line in enumerate(first.splitlines()) if "epoch 600" in line)
        for epoch in (601, 602, 603):
            run.put(epoch_record(epoch))
            run.write()
            screen = tmux.wait_for(f"epoch {epoch}")
            rows = screen.splitlines()
            assert f"epoch {epoch}" in rows[header_row]  # in its place, the line whole
            assert rows[header_row].lstrip().startswith(first.splitlines()[header_row].lstrip()[:8])
        tmux.keys("q")
    finally:
        tmux.close()


def test_marking_two_runs_shows_both_in_a_legend_and_s_smooths(tmp_path):
    now = time.time()
    write_run(tmp_path / "alpha-run", 6, mtime=now)
    write_run(tmp_path / "beta-run", 8, mtime=now - 600)
    env = f"env -u COLUMNS -u LINES PYTHONPATH={shlex.quote(str(REPO))}"
    command = f"cd {shlex.quote(str(REPO))} && {env} {shlex.quote(sys.executable)} -m metricwatch "
    tmux = Tmux(command + shlex.quote(str(tmp_path)))
    try:
        tmux.wait_for("beta-run", timeout=15)
        tmux.wait_for("alpha-run  epoch 6 / 50", timeout=5)
        tmux.keys("Space")
        tmux.keys("j")
        tmux.wait_for("beta-run  epoch 8 / 50")
        tmux.keys("Space")
        screen = tmux.wait_for("comparing 2 runs")
        legend = [line for line in screen.splitlines() if "Train Loss" in line]
        assert legend and "alpha-run" in legend[0] and "beta-run" in legend[0], screen
        assert "smooth" not in screen
        tmux.keys("s")
        tmux.wait_for("smooth 0.6")
        tmux.keys("q")
    finally:
        tmux.close()

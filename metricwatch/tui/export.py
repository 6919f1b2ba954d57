"""Saving the screen as SVG: the `e` key, and `metricwatch snapshot` (headless, for scripts).

Both go through Textual's own screenshot (App.save_screenshot), so the file is
exactly what the terminal shows. The file is named after the run and the time,
with anything outside [A-Za-z0-9._-] in the run name made `_`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from metricwatch.watch import WatchMode

#: How long `snapshot` waits for the runs to load and the charts to draw.
SNAPSHOT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SnapshotMode(WatchMode):
    """The header's watch label for a headless snapshot: nothing is watched, and that is fine."""

    @property
    def label(self) -> str:
        return "snapshot"

    @property
    def degraded(self) -> bool:
        return False


def export_name(run: str | None, now: float) -> str:
    """`vit-overfit-20231114-221320.svg`: the run's name made safe for a file, and the time."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", run or "metricwatch").strip("._") or "run"
    return f"{stem[:80]}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.svg"


def parse_size(text: str) -> tuple[int, int]:
    """`120x40` -> (120, 40); ValueError for anything else or below 40x12."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (want COLUMNSxROWS, e.g. 120x40)")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 40 or height < 12 or width > 1000 or height > 500:
        raise ValueError(f"size {width}x{height} is outside 40x12 .. 1000x500")
    return width, height


def take_snapshot(
    path: Path, output: Path, *, run: str | None = None, size: tuple[int, int] = (120, 40)
) -> str | None:
    """Open the monitor on PATH headless, select `run` (default: the one it selects), save
    the screen to `output`. None when written, else why not (one line)."""
    from metricwatch.tui.app import MetricwatchApp

    app = MetricwatchApp(path, mode=SnapshotMode(False), watch=False)
    outcome: list[str | None] = []

    async def pilot_run(pilot) -> None:
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
        # Every run of the first scan is in app.states once its last message is handled.
        while not app.scan_done.is_set():
            if time.monotonic() > deadline:
                break
            await pilot.pause(0.02)
        if not app.states:
            outcome.append(f"no runs under {path}")
            app.exit(2)
            return
        if run is not None:
            if run not in app.states:
                names = ", ".join(sorted(app.states)[:10])
                outcome.append(f"no run named {run!r} under {path} (runs: {names})")
                app.exit(2)
                return
            app.select(run)
        while True:
            state = app.states.get(app.selected or "")
            if state is not None and state.has_columns and app.view.shown_charts:
                break
            if time.monotonic() > deadline:
                break  # the screen as it is: the charts say they are waiting
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        app.save_screenshot(filename=output.name, path=str(output.parent))
        outcome.append(None)
        app.exit(0)

    app.run(headless=True, size=size, auto_pilot=pilot_run)
    return outcome[0] if outcome else "the monitor stopped before the screen was saved"

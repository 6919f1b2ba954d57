"""What any Textual app pays for a live line: the host's yardstick for the monitor's CPU.

A minimal app (one widget drawing a ready-made one-line strip) gets a message
from a thread ten times a second and refreshes the widget, in a real terminal
(a detached tmux session, 120x40), as the monitor does at each write of a live
run. Its UI thread's CPU is the floor under the monitor's UI thread, whatever
metricwatch does: on a host that is slower one day, both move together, and the
monitor's live figures are best read against this one measured the same hour.

With --direct, the line is written at once through Textual's display, as the
monitor's header does (metricwatch.tui.widgets.paint_now), instead of refreshed:
the frame that the monitor no longer pays for at each write.

    python benchmarks/bench_textual_floor.py [--seconds 15] [--rounds 3] [--direct]

Needs tmux. Run it on a machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]  # this checkout's metricwatch

SIZE = (120, 40)
RATE = 10.0  # messages a second, as a run written ten steps a second


def child(seconds: float, out: Path, direct: bool) -> None:
    """The app itself: runs `seconds`, then writes its UI thread's CPU to `out`."""
    from rich.segment import Segment
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.message import Message
    from textual.strip import Strip
    from textual.widget import Widget

    from metricwatch.tui.widgets.paint_now import paint_now

    class Tick(Message):
        pass

    class Line(Widget):
        DEFAULT_CSS = "Line { height: 1; }"
        count = 0

        def render_lines(self, crop: Region) -> list[Strip]:
            # A ready-made line, as the monitor's header draws (no line cache in between).
            strip = Strip([Segment(f"step {self.count:>8}")])
            return [strip.crop_extend(crop.x, crop.right, None)] * crop.height

    class Floor(App):
        def compose(self) -> ComposeResult:
            yield Line()

        def on_mount(self) -> None:
            self.set_timer(2.0, self._start)  # the first frames are not the floor

        def _start(self) -> None:
            self.cpu, self.clock = time.thread_time(), time.monotonic()
            threading.Thread(target=self._feed, daemon=True).start()

        def _feed(self) -> None:
            for _ in range(int(seconds * RATE)):
                time.sleep(1 / RATE)
                self.post_message(Tick())
            self.call_from_thread(self._done)

        def on_tick(self, message: Tick) -> None:
            line = self.query_one(Line)
            line.count += 1
            if not (direct and paint_now(line, line.render_lines)):
                line.refresh()

        def _done(self) -> None:
            cpu, wall = time.thread_time() - self.cpu, time.monotonic() - self.clock
            out.write_text(json.dumps({"cpu_s": cpu, "wall_s": wall, "ticks": seconds * RATE}))
            self.exit()

    Floor().run()


def measure(seconds: float, direct: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mw-floor-") as folder:
        out = Path(folder) / "floor.json"
        socket = f"mw-floor-{Path(folder).name}"
        command = " ".join(
            shlex.quote(part)
            for part in [sys.executable, __file__, "--child", str(out), "--seconds", str(seconds)]
        ) + (" --direct" if direct else "")
        tmux = ["tmux", "-L", socket]
        size = ["-x", str(SIZE[0]), "-y", str(SIZE[1])]
        try:
            subprocess.run([*tmux, "new-session", "-d", "-s", "f", *size, command], check=True)
            deadline = time.monotonic() + seconds + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not out.exists():
                sys.exit("bench_textual_floor: the app gave no figures")
            time.sleep(0.2)  # written whole before the app exits
            return json.loads(out.read_text())
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--direct", action="store_true", help="write the line at once")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.seconds, args.child, args.direct)
        return
    if shutil.which("tmux") is None:
        sys.exit("bench_textual_floor: needs tmux")
    for round_ in range(1, args.rounds + 1):
        figures = measure(args.seconds, args.direct)
        share = figures["cpu_s"] / figures["wall_s"] * 100
        per_tick = figures["cpu_s"] / figures["ticks"] * 1000
        how = "written at once" if args.direct else "refreshed"
        print(
            f"round {round_}, {how}: UI thread {share:.2f} % of a core, {per_tick:.3f} ms a message"
        )


if __name__ == "__main__":
    main()

"""A chart made Text: plotext's ANSI output parsed back (`Text.from_ansi(plt.build())`,
what the chart widget did) against its cells made Text directly (tui/plot_text.py).

The same laid-out plot (two series, the reduction already done by `draw`) is
turned into Text both ways; CPU time, median of repeats, per chart size. The
two Texts are checked to be the same.

    python benchmarks/bench_chart_text.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_tui_redraw import spec_of  # noqa: E402
from rich.text import Text  # noqa: E402
from textual_plotext.plot import Plot  # noqa: E402

from metricwatch.tui.plot_text import figure_text  # noqa: E402
from metricwatch.tui.plotting import draw  # noqa: E402

SIZES = ((60, 12), (100, 20), (160, 40))


def parsed(plt: Plot) -> Text:
    text = Text.from_ansi(plt.build())
    text.right_crop(1)  # plotext ends its last row with a newline
    return text


def timed(make, plt: Plot, spec, width: int, height: int, repeats: int) -> tuple[float, Text]:
    times, text = [], Text()
    for _ in range(repeats):
        draw(plt, spec, width, height)
        plt._set_size(width, height)
        started = time.process_time()
        text = make(plt)
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    spec = spec_of(100_000)
    plt = Plot()
    for width, height in SIZES:
        old_ms, old = timed(parsed, plt, spec, width, height, args.repeats)
        new_ms, new = timed(figure_text, plt, spec, width, height, args.repeats)
        same = old.plain == new.plain and old.spans == new.spans
        print(
            f"chart {width}x{height}: ANSI built and parsed {old_ms:.1f} ms, "
            f"cells made Text {new_ms:.1f} ms (same Text: {same})"
        )


if __name__ == "__main__":
    main()

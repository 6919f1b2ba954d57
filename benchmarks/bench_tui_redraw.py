"""Chart redraw time against series length: reduce per column, plot, build (plotext).

What a redraw of the loss chart costs (two series of N points, 100x20
cells, the size of a chart at 120x40), without a terminal: the same
`draw` the widget calls, then plotext's `build`. Median of repeats.

    python benchmarks/bench_tui_redraw.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from textual_plotext.plot import Plot

from metricwatch.tui.charts import ChartSpec, Line
from metricwatch.tui.plotting import draw


def spec_of(n: int) -> ChartSpec:
    x = np.arange(1, n + 1, dtype=np.float64)
    rng = np.random.default_rng(0)
    train = 2.0 * np.exp(-x / (n / 5)) + 0.05 * rng.random(n)
    val = 1.9 * np.exp(-x / (n / 4)) + 0.2 + 0.05 * rng.random(n)
    val[n // 3] = 50.0  # one spike, kept by the per-column min/max
    return ChartSpec(
        "loss",
        "Loss",
        (Line("train_loss", "train", x, train, 33), Line("val_loss", "val", x, val, 208)),
        marker_x=float(n // 2),
        marker_label=f"best {n // 2}",
    )


def main() -> None:
    plt = Plot()
    for n in (1_000, 100_000, 1_000_000):
        spec = spec_of(n)
        totals, draws = [], []
        for _ in range(15):
            start = time.perf_counter()
            draw(plt, spec, 100, 20)
            middle = time.perf_counter()
            text = plt.build()
            totals.append(time.perf_counter() - start)
            draws.append(middle - start)
        assert "5" in text
        total = statistics.median(totals) * 1000
        print(
            f"chart redraw [{n:>9,} points x 2 series, 100x20]: median {total:.1f} ms "
            f"(reduce+plot {statistics.median(draws) * 1000:.1f} ms, plotext build "
            f"{(statistics.median(totals) - statistics.median(draws)) * 1000:.1f} ms)"
        )


if __name__ == "__main__":
    main()

"""Comparing runs: 10 runs x 100,000 steps overlaid and smoothed, at 120x40.

Prints, medians of repeats, without a terminal (the same chart specs and the
same `draw` and plotext cells made Text, `figure_text`, the widgets run):

- smoothing: every series of the 10 runs smoothed from scratch (what a first
  screen or a weight change costs), and after each run grew by 100 steps (what
  new data costs: only the new points are smoothed);
- redraw: the four overlay charts (train loss, val loss, val accuracy, LR;
  one line per run, raw lines dim behind) built and drawn at the size of a
  chart in the 120x40 grid, with the smoothing already computed (what a
  resize, a zoom or a log-y toggle costs).

    python benchmarks/bench_tui_overlay.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from textual_plotext.plot import Plot

from metricwatch.allocator import keep_freed_memory
from metricwatch.model import Run, Table
from metricwatch.tui.compare import Marks, compare_charts
from metricwatch.tui.plot_text import figure_text
from metricwatch.tui.plotting import draw
from metricwatch.tui.state import RunState, build_state
from metricwatch.tui.view_options import ViewOptions

RUNS, STEPS, EVAL_EVERY = 10, 100_000, 1_000
#: A chart's cells in the 2 x 2 grid of a 120x40 terminal with the runs list shown.
CHART_W, CHART_H = 42, 13


def make_run(index: int, steps: int) -> Run:
    rng = np.random.default_rng(index)
    s = np.arange(1, steps + 1)
    loss = 2.0 * np.exp(-s / (20_000 + 3_000 * index)) + 0.1 + 0.3 * rng.random(steps)
    lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * s / STEPS)) + 1e-6
    rows = []
    for i in range(steps):
        values = {"train_loss": float(loss[i]), "lr": float(lr[i])}
        if (i + 1) % EVAL_EVERY == 0:
            values["val_loss"] = float(loss[i] + 0.1)
            values["val_accuracy"] = float(0.5 + 0.4 * (1 - np.exp(-(i + 1) / 30_000)))
        rows.append((i + 1, values))
    table = Table.from_rows(rows, "step")
    return Run(f"sweep/run-{index:02}", Path(f"run-{index}/metrics.jsonl"), table)


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def smooth_all(states: list[RunState], weight: float) -> None:
    for state in states:
        for key in state.keys:
            state.smoothed(key, weight)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    keep_freed_memory()  # as the command does at start
    runs = [make_run(i, STEPS) for i in range(RUNS)]
    grown = [make_run(i, STEPS + 100) for i in range(RUNS)]
    marks = Marks()
    for run in runs:
        marks.toggle(run.name)
    view = ViewOptions(smoothing=0.9)

    def fresh() -> list[RunState]:
        return [build_state(run).with_columns() for run in runs]

    firsts = []
    for weight in (0.6, 0.8, 0.95, 0.99, 0.9):  # a weight not smoothed yet: from scratch
        states = fresh()
        start = time.perf_counter()
        smooth_all(states, weight)
        firsts.append((time.perf_counter() - start) * 1000)
    grown_states = [build_state(run).with_columns() for run in grown]
    start = time.perf_counter()
    smooth_all(grown_states, 0.9)  # the previous states' 0.9 smoothing carried over
    appended = (time.perf_counter() - start) * 1000

    plt = Plot()

    def redraw() -> None:
        for spec in compare_charts(states, marks, view):
            draw(plt, spec, CHART_W, CHART_H)
            plt._set_size(CHART_W, CHART_H)  # as the chart widget does: no terminal clamp
            figure_text(plt)

    redraw()  # warm
    specs = compare_charts(states, marks, view)
    lines = sum(len(spec.lines) for spec in specs)
    print(f"{RUNS} runs x {STEPS:,} steps, {len(specs)} overlay charts, {lines} lines")
    print(f"smoothing, every series from scratch: median {statistics.median(firsts):.0f} ms")
    print(f"smoothing after 100 new steps a run (carried over): {appended:.1f} ms")
    print(f"redraw of the 4 overlay charts, smoothed, raw behind: median "
          f"{median_ms(redraw, args.repeats):.1f} ms")  # fmt: skip
    build_only = compare_charts
    print(f"  of which building the chart specs: median "
          f"{median_ms(lambda: build_only(states, marks, view), args.repeats):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

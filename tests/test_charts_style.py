"""Issue 7.2: legends readable and complete, one style per split, unique titles, NO_COLOR.

Contrast is measured as WCAG 2 defines it (relative luminance of sRGB,
(L1 + 0.05) / (L2 + 0.05)) on the colours the screen actually carries: the
compositor's cells under each chart's frame, foreground against background.
"""

from __future__ import annotations

import json
import re

import pytest
from test_tui_charts import state_of
from tui_fixtures.support import fixed_app, wait_for, wait_loaded

from metricwatch.tui.charts import (
    OTHER_STYLES,
    TRAIN_STYLE,
    VAL_STYLE,
    charts_for,
)
from metricwatch.tui.plotting import layout
from metricwatch.tui.widgets.chart import ChartWidget

#: WCAG 2.x AA: body text 4.5:1; graphical objects (the legend swatches) 3:1.
TEXT_CONTRAST = 4.5
GRAPHIC_CONTRAST = 3.0
BORDER = set("╭╮╰╯─│ ")


def luminance(rgb) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_wcag_formula():
    assert contrast((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)
    assert contrast((0x45, 0x50, 0x5A), (0x12, 0x12, 0x12)) == pytest.approx(2.27, abs=0.01)


def metric_rows(epochs: int = 12) -> list[dict[str, float]]:
    return [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1.2 / e,
            "train_accuracy": 1 - 0.5 / e,
            "val_accuracy": 0.9 - 0.5 / e,
            "val_f1": 0.8 - 0.5 / e,
            "val_precision": 0.85 - 0.5 / e,
            "val_recall": 0.7 - 0.4 / e,
            "val_auroc": 0.95 - 0.3 / e,
            "lr": 1e-3 * 0.5**e,
            "grad_norm": 2.0 / e,
        }
        for e in range(1, epochs + 1)
    ]


def write(tmp_path, name: str, rows) -> None:
    (tmp_path / name).mkdir(parents=True)
    (tmp_path / name / "metrics.json").write_text(json.dumps({"epochs": rows}))


def cells(app, widget, row: int):
    """(char, fg rgb, bg rgb) of each cell of one screen row inside the widget's region."""
    strips = app.screen._compositor.render_strips()
    region = widget.region
    out, x = [], 0
    for segment in strips[region.y + row]:
        style = segment.style
        for char in segment.text:
            if region.x <= x < region.right and style is not None:
                fg = style.color.get_truecolor() if style.color else None
                bg = style.bgcolor.get_truecolor() if style.bgcolor else None
                out.append((char, fg, bg))
            x += 1
    return out


def region_text(app, widget) -> list[str]:
    strips = app.screen._compositor.render_strips()
    region = widget.region
    return [strips[y].text[region.x : region.right] for y in range(region.y, region.bottom)]


def shown(app) -> list[ChartWidget]:
    return [w for w in app.query(ChartWidget) if w.display and w.spec is not None]


@pytest.mark.parametrize(
    ("size", "theme"),
    [((120, 40), "textual-dark"), ((80, 24), "textual-dark"), ((120, 40), "textual-light")],
)
async def test_chart_titles_and_legends_are_readable(tmp_path, size, theme):
    write(tmp_path, "a", metric_rows())
    app = fixed_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        app.theme = theme  # switched while the charts are on screen
        await pilot.pause()
        text_ratios, swatch_ratios = [], []
        for widget in shown(app):
            for char, fg, bg in cells(app, widget, 0):
                if char in BORDER or fg is None or bg is None:
                    continue
                ratio = contrast(fg, bg)
                if char in "━•+o*#@%=":
                    swatch_ratios.append(ratio)
                else:
                    text_ratios.append(ratio)
                    assert ratio >= TEXT_CONTRAST, (widget.spec.id, char, fg, bg, ratio)
        assert text_ratios and swatch_ratios
        assert min(swatch_ratios) >= GRAPHIC_CONTRAST
        print(f"{theme}: text {min(text_ratios):.1f}:1, swatches {min(swatch_ratios):.1f}:1")


@pytest.mark.parametrize(
    ("size", "theme"),
    [((120, 40), "textual-dark"), ((80, 24), "textual-dark"), ((80, 24), "textual-light")],
)
async def test_notes_hint_and_best_label_are_readable(tmp_path, size, theme):
    """The notes (on the bottom edge or listed under the plot), the `m` hint, `best N (..)`."""
    rows = metric_rows()
    for row in rows[5:]:
        row["val_loss"] = float("nan")
        row["train_loss"] = float("inf")
    write(tmp_path, "a", rows)
    app = fixed_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        app.theme = theme  # switched while the charts are on screen
        await pilot.pause()
        ratios: dict[str, list[float]] = {"note": [], "edge": [], "best": []}
        for widget in shown(app):
            lines = region_text(app, widget)
            for row, line in enumerate(lines):
                inner = line.strip("│ ")
                kind = (
                    "edge"
                    if row == len(lines) - 1
                    else "note"
                    if inner.startswith("×")
                    else "best"
                    if "best " in line
                    else None
                )
                if kind is None:
                    continue
                start = line.index("best ") if kind == "best" else 0
                end = line.index(")", start) if kind == "best" else len(line)
                for column, (char, fg, bg) in enumerate(cells(app, widget, row)):
                    if start <= column < end and char.isalnum() and fg and bg:
                        ratios[kind].append(contrast(fg, bg))
        assert all(ratios.values()), {k: len(v) for k, v in ratios.items()}
        for kind, values in ratios.items():
            assert min(values) >= TEXT_CONTRAST, (kind, min(values))
        print(theme, size, {kind: f"{min(values):.1f}:1" for kind, values in ratios.items()})


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_every_curve_is_labelled_nothing_cut(tmp_path, size):
    """Six metrics: the legend wraps under the plot instead of ending in `…`."""
    write(tmp_path, "a", metric_rows())
    app = fixed_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        await pilot.pause()
        seen = 0
        while True:
            for widget in shown(app):
                lines = region_text(app, widget)
                assert "…" not in lines[0], lines[0]
                body = " ".join(lines)
                for line in widget.spec.lines:
                    if len(widget.spec.lines) > 1 or widget.spec.id.startswith("metrics"):
                        assert line.label in body, (line.label, lines)
                seen += 1
            if seen >= len(charts_for(app.states["a"])) or not app.view.cycle_charts():
                break
            await pilot.pause()


def test_train_and_val_look_the_same_on_every_chart():
    charts = charts_for(state_of(metric_rows()))
    pairs = 0
    for chart in charts:
        for line in chart.lines:
            style = (line.color, line.mark)
            if line.key.startswith("train_"):
                assert style == (TRAIN_STYLE.color, TRAIN_STYLE.mark), (chart.id, line.key)
                pairs += 1
            elif line.key in ("val_loss", "val_accuracy"):  # the val halves of a pair
                assert style == (VAL_STYLE.color, VAL_STYLE.mark), (chart.id, line.key)
            else:
                assert style in {(s.color, s.mark) for s in OTHER_STYLES}, (chart.id, line.key)
        marks = [line.mark for line in chart.lines]
        assert len(set(marks)) == len(marks), chart.id  # apart without colour too
        colours = [line.color for line in chart.lines]
        assert len(set(colours)) == len(colours), chart.id
    assert pairs == 2  # loss and accuracy


def test_a_pair_is_never_split_across_metric_charts():
    rows = metric_rows()
    for row in rows:
        row.update(val_mIoU=0.5, val_dice=0.6, val_pixel_acc=0.7)
    groups = [c for c in charts_for(state_of(rows)) if c.id.startswith("metrics")]
    together = [
        c for c in groups if {"train_accuracy", "val_accuracy"} & {ln.key for ln in c.lines}
    ]
    assert len(together) == 1


def test_chart_titles_are_unique():
    rows = [
        {**row, "val_mae": 3.0 / row["epoch"], "val_mse": 400.0 / row["epoch"], "val_r2": 0.9}
        for row in metric_rows()
    ]
    for row in rows:
        row.update(val_mIoU=0.5, val_dice=0.6)
    titles = [c.title for c in charts_for(state_of(rows))]
    assert len(titles) == len(set(titles)), titles
    assert "Metrics (%) 1/2" in titles and "Metrics (%) 2/2" in titles


def test_no_color_keeps_series_apart_by_marker():
    loss = charts_for(state_of(metric_rows()))[0]
    coloured = layout(loss, 60, 14)
    plain = layout(loss, 60, 14, no_color=True)
    assert {t.marker for t in coloured.traces} == {"braille"}
    assert [t.marker for t in plain.traces] == [TRAIN_STYLE.mark, VAL_STYLE.mark]


async def test_no_color_screen_shows_the_markers_in_plot_and_legend(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    write(tmp_path, "a", metric_rows())
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        await pilot.pause()
        assert app.no_color
        loss = next(w for w in shown(app) if w.spec.id == "loss")
        lines = region_text(app, loss)
        assert f"{TRAIN_STYLE.mark} train" in lines[0] and f"{VAL_STYLE.mark} val" in lines[0]
        plot = "\n".join(lines[1:-1])
        assert TRAIN_STYLE.mark in plot and VAL_STYLE.mark in plot
        assert not re.search("[\u2800-\u28ff]", plot)  # no braille: it cannot carry a marker


def test_every_logged_series_is_on_a_chart():
    """Extra losses (detection's box/cls losses) were drawn nowhere: neither metric nor loss."""
    rows = [
        {
            **row,
            "train_box_loss": 2 / row["epoch"],
            "val_box_loss": 2.2 / row["epoch"],
            "train_cls_loss": 50 / row["epoch"],
            "throughput": 1000.0,
            "duration_s": 30.0,
        }
        for row in metric_rows()
    ]
    state = state_of(rows)
    charts = charts_for(state)
    drawn = {line.key for chart in charts for line in chart.lines}
    assert set(state.keys) - {"duration_s"} <= drawn  # the epoch time is the summary's
    losses = [c for c in charts if c.id.startswith("losses")]
    assert [c.title for c in losses] == ["Other losses 1/2", "Other losses 2/2"]
    box = next(c for c in losses if "train_box_loss" in {line.key for line in c.lines})
    styles = {line.key: (line.color, line.mark) for line in box.lines}
    assert styles["train_box_loss"] == (TRAIN_STYLE.color, TRAIN_STYLE.mark)
    assert styles["val_box_loss"] == (VAL_STYLE.color, VAL_STYLE.mark)

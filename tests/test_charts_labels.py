"""Issue 7.3 and the NaN note: what a chart says matches the summary, and is never cut.

The best-epoch marker shows the summary's best epoch (summary.best_of's
figure for the ranking key) and its value as the summary prints it.
A note on the frame that does not fit is shortened or listed under the
plot, never cut off at the frame's edge.
"""

from __future__ import annotations

import json
import math

import pytest
from test_charts_style import region_text, shown, write
from test_tui_charts import plain, state_of
from textual_plotext.plot import Plot
from tui_fixtures.support import fixed_app, wait_for, wait_loaded

from metricwatch.metrics import format_value
from metricwatch.tui.axes import epoch_label
from metricwatch.tui.charts import charts_for
from metricwatch.tui.plotting import draw, layout

NAN = math.nan


def run(**columns: list[float]) -> list[dict[str, float]]:
    first = columns.pop("first", [1])[0]
    length = max(len(v) for v in columns.values())
    return [
        {"epoch": first + i, **{k: v[i] for k, v in columns.items() if i < len(v)}}
        for i in range(length)
    ]


CASES = {
    "val_loss": run(train_loss=[3, 2, 1, 0.5], val_loss=[2.5, 1.23456789, 1.5, 1.7]),
    "tie: the earliest": run(train_loss=[3, 2, 1], val_loss=[2.0, 1.0, 1.0]),
    "NaN skipped": run(train_loss=[3, 2, 1], val_loss=[NAN, 0.7, 0.9]),
    "0-based epochs": run(first=[0], train_loss=[3, 2, 1], val_loss=[0.9, 0.4, 0.6]),
    "huge value": run(train_loss=[1e300, 1e301], val_loss=[1.7e308, 1e308]),
    "accuracy ranks": run(train_loss=[3, 2, 1], val_accuracy=[0.5, 0.87, 0.8]),
    "percent logged": run(train_loss=[3, 2, 1], val_accuracy=[50.0, 87.04, 80.0]),
    "regression ranks": run(train_loss=[3, 2, 1], val_rmse=[2.0, 0.123456, 0.5]),
    "train loss only": run(train_loss=[3.0, 2.0, 2.5]),
}


def summary_value_text(summary) -> str:
    """The best value as the summary itself prints it (its table, or format_value for losses)."""
    key = summary.best_by
    best = summary.best[key]
    for line in summary.metrics:
        if line.key == key:
            row = dict(summary.rows())[line.label]
            shown = line.format(best.value)
            assert shown in row  # the table shows this very text
            return shown
    return format_value(key, best.value)


@pytest.mark.parametrize("name", list(CASES))
def test_best_marker_is_the_summarys_best(name):
    state = state_of(CASES[name])
    summary = state.summary
    loss = charts_for(state)[0]
    assert summary.best_epoch is not None
    assert loss.marker_x == summary.best_epoch
    assert dict(summary.rows())["Best Epoch"].startswith(f"{summary.best_epoch} / ")
    assert loss.marker_label.startswith(f"best {summary.best_epoch} (")
    assert summary_value_text(summary) in loss.marker_label
    plt = Plot()
    draw(plt, loss, 70, 14)
    assert loss.marker_label in plain(plt)


def test_the_ranking_metric_is_named_when_it_is_not_val_loss():
    state = state_of(CASES["accuracy ranks"])
    assert charts_for(state)[0].marker_label == "best 2 (Val Accuracy 87.0%)"
    assert charts_for(state_of(CASES["val_loss"]))[0].marker_label == "best 2 (1.235)"


async def test_the_screen_shows_one_best_epoch(tmp_path):
    write(tmp_path, "a", CASES["accuracy ranks"])
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        await pilot.pause()
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "Best Epoch      2 / 3" in screen
        # The label as wide as the chart allows: `best 2 (Val Accuracy 87.0%)` or `best 2 (87.0%)`.
        assert "best 2 (Val Accuracy 87.0%)" in screen or "best 2 (87.0%)" in screen
        assert "87.0%" in app.view.summary.plain


# --- notes on the frame ---------------------------------------------------------------------


def nan_rows(epochs: int = 19) -> list[dict[str, float]]:
    return [
        {
            "epoch": e,
            "train_loss": NAN if e > 5 else 1 / e,
            "val_loss": math.inf if e > 7 else 1.1 / e,
            "lr": 0.0 if e < 3 else 10.0**-e,
        }
        for e in range(1, epochs + 1)
    ]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (100, 30)])
async def test_long_notes_are_never_cut(tmp_path, size):
    write(tmp_path, "a", nan_rows())
    app = fixed_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        await pilot.pause()
        checked = 0
        for widget in shown(app):
            spec = widget.spec
            lines = region_text(app, widget)
            assert "…" not in lines[-1], lines[-1]  # the bottom edge
            text = " ".join(line.strip("│ ").strip() for line in lines)
            text = " ".join(text.split())
            for full, short in zip(spec.notes, spec.short_notes):
                assert full in text or short in text, (full, lines)
                checked += 1
        assert checked >= 3


def test_short_notes_keep_the_key_the_kind_and_the_first_epoch():
    loss, lr = (c for c in charts_for(state_of(nan_rows())) if c.id in ("loss", "lr"))
    assert loss.notes == (
        "train_loss: NaN from epoch 6 (14 epochs)",
        "val_loss: Inf from epoch 8 (12 epochs)",
    )
    assert loss.short_notes == ("train_loss: NaN from epoch 6", "val_loss: Inf from epoch 8")
    assert lr.notes == ("lr: 0 at 2 epochs, not on the log scale",)
    assert lr.short_notes == ("lr: 0 at 2 epochs, not shown",)


async def test_a_long_legend_name_is_shortened_in_the_middle_not_cut(tmp_path):
    key = "val_" + "very_long_metric_name_" * 4 + "accuracy_top5"
    rows = [{"epoch": e, "train_loss": 1 / e, key: 0.5 + e / 100} for e in range(1, 9)]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps({"epochs": rows}))
    app = fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(shown(app)))
        await pilot.pause()
        metric = next(w for w in shown(app) if w.spec.id.startswith("metrics"))
        text = "\n".join(region_text(app, metric))
        assert "…" in text and "Top5" in text  # the end of the name, where names differ


# --- epoch ticks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [999_999_990, 1_000_000, 25_000, 0],
)
def test_epoch_tick_labels_never_repeat(first):
    """Epochs 999,999,990-999 were all labelled `1000M`."""
    rows = [{"epoch": first + i, "train_loss": 1 / (i + 1)} for i in range(10)]
    loss = charts_for(state_of(rows))[0]
    for width in (40, 80, 120):
        labels = layout(loss, width, 12).x.labels
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels


def test_epoch_labels_are_short_only_when_exact():
    assert [epoch_label(v) for v in (40, 1200, 25_000, 1_500_000, 999_999_990)] == [
        "40",
        "1200",
        "25k",
        "1.5M",
        "999999990",
    ]
    assert epoch_label(3e18) == "3e18"


def test_a_single_epoch_gets_its_own_tick_only():
    loss = charts_for(state_of([{"epoch": 0, "train_loss": 0.5}]))[0]
    assert layout(loss, 60, 12).x.labels == ("0",)

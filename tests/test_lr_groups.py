"""Learning rates of several parameter groups (Ultralytics' lr/pg0..2, YOLOv5's x/lr0..2).

The reader makes the schedule group (pg1, the weights with decay) `lr` and
keeps the others as `lr_pg0`, `lr_pg2`; pg0 is the biases' group, which
warms up from warmup_bias_lr (0.1). Before, those two were unknown keys:
task metrics on the metric charts ("Lr Pg0" beside the mAPs) and rows of
the summary, on a linear axis. Now the registry knows them as learning
rates and the LR chart draws each group that differs, with a legend of the
file's names, and names under the chart the groups equal to one drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import make_run
from rich.text import Text
from tui_fixtures.support import fixed_app, wait_loaded

from metricwatch.analysis.summary import summarize
from metricwatch.metrics import Direction, Kind, format_value, spec_for, task_metric_keys
from metricwatch.sources.loader import RunLoader
from metricwatch.tui.charts import OTHER_STYLES, charts_for, lr_keys
from metricwatch.tui.state import build_state
from metricwatch.tui.widgets.chart import ChartWidget

CORPUS = Path(__file__).parent / "corpus" / "ultralytics"


def load(name: str):
    return RunLoader().load(name, CORPUS / name / "results.csv")


def lr_chart_of(run):
    charts = charts_for(build_state(run))
    return next(chart for chart in charts if chart.id == "lr"), charts


# --- the registry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("lr_pg0", "Learning Rate pg0"),
        ("lr_pg2", "Learning Rate pg2"),
        ("lr_pg10", "Learning Rate pg10"),
        ("lr/pg0", "Learning Rate lr/pg0"),  # Ultralytics' event-file tag, kept by its reader
        ("x/lr2", "Learning Rate x/lr2"),  # YOLOv5's
        ("lr-Adam_pg2", "Learning Rate lr-Adam_pg2"),  # Lightning's second group
        ("lr-SGD-1", "Learning Rate lr-SGD-1"),  # Lightning's second optimizer
        ("lr-AdamW", "Learning Rate lr-AdamW"),
    ],
)
def test_group_learning_rates_are_learning_rates(key, label):
    spec = spec_for(key)
    assert (spec.key, spec.label, spec.kind, spec.direction) == (
        key,
        label,
        Kind.LR,
        Direction.NONE,
    )
    assert not spec.is_task_metric
    assert task_metric_keys(["val_mAP", key]) == ["val_mAP"]
    assert format_value(key, 0.000782) == "7.82e-4"  # LR formatting, not 0.000782


@pytest.mark.parametrize("key", ["lr_pg", "lr_pgx", "lr_pg0_extra", "my_lr_pg0", "x/lr", "lr-"])
def test_names_that_only_look_like_groups_are_not(key):
    assert spec_for(key).kind is Kind.GENERIC


def test_lr_keys_puts_the_schedule_first():
    assert lr_keys(["train_loss", "lr_pg0", "lr", "lr_pg2", "val_mAP"]) == [
        "lr",
        "lr_pg0",
        "lr_pg2",
    ]
    assert lr_keys(["lr/pg0", "lr/pg1"]) == ["lr/pg0", "lr/pg1"]
    assert lr_keys(["train_loss"]) == []


# --- real files -------------------------------------------------------------------------------


def test_yolov5_bias_warmup_drawn_beside_the_schedule():
    """x/lr0 (biases) falls from 0.0937; x/lr1 (the schedule) and x/lr2 are equal."""
    run = load("yolov5_detect_helmet")
    chart, charts = lr_chart_of(run)
    assert [(line.key, line.label) for line in chart.lines] == [
        ("lr", "lr (lr1)"),
        ("lr_pg0", "lr0"),
    ]
    assert chart.lines[0].y.tolist() == [0.0007, 0.001005, 0.000782]
    assert chart.lines[1].y.tolist() == [0.0937, 0.086005, 0.077782]
    assert (chart.lines[0].color, chart.lines[1].color) == (
        OTHER_STYLES[0].color,
        OTHER_STYLES[1].color,
    )
    assert chart.log_y  # 7e-4 .. 9.4e-2: more than a decade
    assert chart.notes == ("lr2 = lr (lr1) throughout",)
    assert chart.short_notes == ("lr2 = lr (lr1)",)
    # The groups are on no other chart, and are no rows of the summary.
    for other in charts:
        if other.id != "lr":
            assert not {line.key for line in other.lines} & {"lr", "lr_pg0", "lr_pg2"}, other.id
    labels = [label for label, _ in summarize(run).rows()]
    assert not [label for label in labels if "Lr" in label or "Learning" in label]


def test_yolo11_three_equal_groups_are_one_line_and_a_note():
    run = load("yolo11_segment_resumed")
    np.testing.assert_array_equal(run.series("lr_pg0").values, run.series("lr").values)
    chart, _ = lr_chart_of(run)
    assert [(line.key, line.label) for line in chart.lines] == [("lr", "lr (pg1)")]
    assert chart.notes == ("pg0, pg2 = lr (pg1) throughout",)
    assert chart.short_notes == ("pg0, pg2 = lr (pg1)",)


def test_a_group_that_differs_at_one_point_is_drawn():
    rows = [
        {"epoch": 1, "lr": 0.01, "lr_pg0": 0.01, "lr_pg2": 0.01},
        {"epoch": 2, "lr": 0.005, "lr_pg0": 0.005, "lr_pg2": 0.0050001},
    ]
    chart, _ = lr_chart_of(make_run(rows))
    assert [(line.key, line.label) for line in chart.lines] == [("lr", "lr"), ("lr_pg2", "lr_pg2")]
    assert chart.notes == ("lr_pg0 = lr throughout",)
    assert not chart.log_y  # 0.005 .. 0.01: within a decade


def test_groups_without_a_schedule_still_get_the_chart():
    """Ultralytics event files keep the tags (`lr/pg0`...): every group is drawn, none hidden."""
    rows = [
        {"epoch": 1, "lr/pg0": 0.09, "lr/pg1": 0.001, "val_mAP": 0.2},
        {"epoch": 2, "lr/pg0": 0.05, "lr/pg1": 0.002, "val_mAP": 0.3},
    ]
    chart, charts = lr_chart_of(make_run(rows))
    assert [(line.key, line.label) for line in chart.lines] == [
        ("lr/pg0", "pg0"),
        ("lr/pg1", "pg1"),
    ]
    assert chart.notes == ()
    metric_keys = [line.key for c in charts if c.id.startswith("metrics") for line in c.lines]
    assert metric_keys == ["val_mAP"]


def test_a_run_with_lr_alone_is_unchanged():
    chart, _ = lr_chart_of(make_run([{"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.01}]))
    assert [(line.key, line.label) for line in chart.lines] == [("lr", "lr")]
    assert chart.notes == () and chart.title == "Learning rate"


# --- on screen --------------------------------------------------------------------------------


async def test_the_monitor_shows_both_groups_and_names_the_third(tmp_path):
    app = fixed_app(CORPUS / "yolov5_detect_helmet")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_loaded(pilot, 1)
        await pilot.press("m")  # the LR chart is the fifth: one press brings it on screen
        await pilot.pause()
        (chart,) = [w for w in app.query(ChartWidget) if w.display and w.spec.id == "lr"]
        # The frame holds markup: its plain text is what the terminal shows.
        title = Text.from_markup(chart.border_title).plain
        assert title == "Learning rate (log)  ━ lr (lr1)  ━ lr0"
        subtitle = Text.from_markup(chart.border_subtitle).plain
        assert subtitle == "× lr2 = lr (lr1) throughout  m: 1 more chart"
        assert chart.drawn_layout is not None and len(chart.drawn_layout.traces) == 2
        assert chart.drawn_layout.y.labels == ("1e-3", "1e-2", "1e-1")
        titles = [Text.from_markup(w.border_title).plain for w in app.query(ChartWidget)]
        assert not [t for t in titles if "Lr Pg" in t]

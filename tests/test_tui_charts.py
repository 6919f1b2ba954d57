"""The pure chart and state decisions behind the monitor (no terminal needed)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from textual_plotext.plot import Plot
from tui_fixtures.support import epoch_record, write_run

from metricwatch.analysis.status import Status
from metricwatch.model import Problem, ProblemKind, Run, Table
from metricwatch.tui.charts import (
    charts_for,
    linear_ticks,
    log_ticks,
    metric_groups,
    spans_decades,
    visible,
)
from metricwatch.tui.ingest import Ingest
from metricwatch.tui.plotting import draw
from metricwatch.tui.state import build_state, format_ago


def state_of(rows: list[dict[str, float]], meta: dict | None = None, mtime: float | None = None):
    table = Table.from_rows(
        (int(r["epoch"]), {k: v for k, v in r.items() if k != "epoch"}) for r in rows
    )
    return build_state(Run("r", Path("r/metrics.json"), table, meta=meta or {}, mtime=mtime))


def plain(plt) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())


# --- metric charts never mix scales ---------------------------------------------------------


def test_fractions_share_a_percent_chart_whatever_their_logged_scale():
    st = state_of(
        [{"epoch": e, "val_accuracy": 0.5 + e / 100, "val_mAP": 40.0 + e} for e in (1, 2)]
    )
    assert metric_groups(st) == [["val_accuracy", "val_mAP"]]
    (chart,) = [c for c in charts_for(st) if c.id.startswith("metrics")]
    assert chart.unit == "%"
    by_key = {line.key: line.y for line in chart.lines}
    assert by_key["val_accuracy"].tolist() == pytest.approx([51.0, 52.0])
    assert by_key["val_mAP"].tolist() == pytest.approx([41.0, 42.0])


def test_regression_errors_and_r2_get_separate_axes():
    rows = [
        {"epoch": e, "val_mae": 3.0 / e, "val_rmse": 4.0 / e, "val_mse": 400.0 / e, "val_r2": 0.9}
        for e in (1, 2, 3)
    ]
    groups = metric_groups(state_of(rows))
    assert ["val_mae", "val_rmse"] in groups
    assert ["val_mse"] in groups
    assert ["val_r2"] in groups


def test_visible_keeps_the_loss_chart_and_rotates_the_rest():
    charts = charts_for(state_of([{**epoch_record(e), "grad_norm": 1.0} for e in (1, 2)]))
    ids = [c.id for c in charts]
    assert ids == ["loss", "metrics-0", "lr", "grad"]
    assert [c.id for c in visible(charts, 4, 0)] == ids
    assert [c.id for c in visible(charts, 2, 0)] == ["loss", "metrics-0"]
    assert [c.id for c in visible(charts, 2, 1)] == ["loss", "lr"]
    assert [c.id for c in visible(charts, 2, 3)] == ["loss", "metrics-0"]


def test_loss_chart_marks_the_best_val_epoch():
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": abs(e - 4) + 0.5} for e in range(1, 9)]
    loss = charts_for(state_of(rows))[0]
    assert loss.marker_x == 4.0
    assert loss.marker_label.startswith("best 4")
    assert [line.color for line in loss.lines] == [33, 208]  # blue train, orange val
    plt = Plot()
    draw(plt, loss, 60, 14)
    assert "best 4" in plain(plt)
    assert "┆" in plain(plt)


# --- log scales -----------------------------------------------------------------------------


def test_lr_uses_log_scale_only_when_spanning_decades():
    assert spans_decades(np.array([1e-3, 5e-4, 1e-5]))
    assert not spans_decades(np.array([1e-3, 2e-4]))
    assert not spans_decades(np.array([0.0, 1e-3]))


def test_log_chart_is_labelled_in_real_values():
    rows = [{"epoch": e, "lr": 10 ** (-2 - e / 4)} for e in range(1, 17)]
    lr = next(c for c in charts_for(state_of(rows)) if c.id == "lr")
    assert lr.log_y
    plt = Plot()
    draw(plt, lr, 60, 16)
    text = plain(plt)
    assert "1e-3" in text and "1e-5" in text
    assert not re.search(r"^\s*-[0-9]┤", text, re.M)  # never the raw exponent


def test_zero_lr_on_a_log_chart_is_marked_not_crashing():
    rows = [{"epoch": e, "lr": 1e-2 / 10**e if e < 6 else 0.0} for e in range(1, 9)]
    lr = next(c for c in charts_for(state_of(rows)) if c.id == "lr")
    plt = Plot()
    draw(plt, lr, 50, 12)
    # A zero lr is not NaN: no NaN/Inf mark (drawn on the top edge), a note instead.
    assert "×" not in plain(plt)
    assert lr.notes == ("lr: 0 at 3 epochs, not on the log scale",)


def test_tick_helpers():
    assert linear_ticks(0.0, 1.0, 6)[1] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    assert linear_ticks(0.0002, 0.00105, 5)[1] == ["2e-4", "4e-4", "6e-4", "8e-4", "1e-3"]
    assert len(linear_ticks(0.1, 0.3, 2)[0]) >= 2
    assert log_ticks(-5, -2, 5)[1] == ["1e-5", "1e-4", "1e-3", "1e-2"]
    assert log_ticks(-3.5, -2.2, 4)[1] == ["5e-4", "1e-3", "2e-3", "5e-3"]
    assert log_ticks(-12, 2, 4)[1] == ["1e-10", "1e-5", "1"]  # round strides of decades


def test_nan_and_inf_points_are_drawn_and_noted():
    rows = [epoch_record(e, nan_from=5) for e in range(1, 9)]
    rows[2]["train_loss"] = math.inf
    loss = charts_for(state_of(rows))[0]
    assert loss.notes == ("train_loss: Inf from epoch 3", "val_loss: NaN from epoch 5 (4 epochs)")
    plt = Plot()
    draw(plt, loss, 60, 14)
    assert "×" in plain(plt)


def test_a_million_points_draw_only_the_reduced_series():
    n = 1_000_000
    x = np.arange(1, n + 1, dtype=float)
    st = state_of([{"epoch": 1, "train_loss": 1.0}])
    st._columns = {"train_loss": (x, np.exp(-x / n)), "val_loss": (x, np.exp(-x / n) + 0.1)}
    st.keys = ["train_loss", "val_loss"]
    loss = charts_for(st)[0]
    plt = Plot()
    draw(plt, loss, 100, 20)
    text = plain(plt)
    assert "200k" in text and "1M" in text  # short epoch labels at this scale


# --- state ----------------------------------------------------------------------------------


def test_status_eta_and_stall_from_the_clock_alone():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "duration_s": 30.0} for e in range(1, 11)]
    st = state_of(rows, meta={"total_epochs": 20}, mtime=1000.0)
    assert st.status(1010.0) is Status.LIVE
    assert st.eta_s(1010.0) == pytest.approx(10 * 30.0 - 10.0)
    assert st.status(1000.0 + 149) is Status.LIVE
    assert st.status(1000.0 + 151) is Status.STALLED  # 5 x 30 s
    assert [f.id for f in st.all_findings(1151.0)] == ["stalled"]
    done = state_of(rows, meta={"total_epochs": 10}, mtime=1000.0)
    assert done.status(99_999.0) is Status.FINISHED
    untotalled = state_of(rows, mtime=1000.0)
    assert untotalled.status(99_999.0) is Status.IDLE
    assert untotalled.eta_s(1010.0) is None


def test_format_ago():
    assert format_ago(0.2) == "just now"
    assert format_ago(12.7) == "12s ago"
    assert format_ago(185) == "3m ago"
    assert format_ago(3 * 3600 + 125) == "3h 02m ago"
    assert format_ago(3 * 86400) == "3d ago"
    assert format_ago(None) == "never written"


# --- ingest ---------------------------------------------------------------------------------


def test_big_files_are_parsed_in_a_child_process_and_keep_last_good(tmp_path):
    doc = write_run(tmp_path / "big", 30)
    ingest = Ingest(big_file_bytes=1)  # every file counts as big
    try:
        state = ingest.load("big", doc.path)
        assert state.epochs_done == 30
        assert state._run is None  # shipped as columns, not as a million Records
        x, y = state.column("train_loss")
        assert len(x) == 30 and y[0] == pytest.approx(epoch_record(1)["train_loss"])
        assert ingest.parses == 0  # the parent did not parse
        doc.path.write_text(doc.render()[:200])
        damaged = ingest.load("big", doc.path)
        assert damaged.epochs_done == 30 and damaged.damaged
    finally:
        ingest.close()


def test_small_files_load_in_the_calling_thread(tmp_path):
    doc = write_run(tmp_path / "s", 3)
    ingest = Ingest()
    state = ingest.load("s", doc.path, columns=True)
    assert ingest.parses == 1
    assert state._columns and set(state._columns) == set(state.keys)
    again = ingest.load("s", doc.path)
    assert ingest.parses == 1 and again.version > state.version


def test_unreadable_problem_is_carried(tmp_path):
    st = build_state(
        Run("x", tmp_path / "metrics.json", problems=[Problem(ProblemKind.MISSING, "gone")])
    )
    assert st.status(0.0) is Status.UNREADABLE and st.damaged

"""A format's declared value scale wins over the guess: detectron2's COCO AP is 0-100.

detectron2 logs `bbox/AP`, `bbox/AP50`, per-class `bbox/AP-person`... on a
0-100 scale and its reader says so (meta["value_scale"]). An AP that stays
below 1.5 all run (early training: 0.9 means 0.9 %) was printed as 90 %
by fraction_scale's guess (100 only when a value exceeds 1.5). The summary
rows, the metric charts, the best-epoch marker and the report's Best column
all take the summary's scale, so each is checked here, on a real file and
on small files at the guess's limit (1.5 exactly, and the next float up).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import make_run

from metricwatch.analysis.summary import summarize
from metricwatch.metrics import declared_scales, fraction_scale, value_scale
from metricwatch.report import _best_text, build_report, run_json
from metricwatch.sources.loader import RunLoader
from metricwatch.tui.charts import best_marker, charts_for
from metricwatch.tui.plotting import layout
from metricwatch.tui.state import build_state

CORPUS = Path(__file__).parent / "corpus" / "detectron2"
ABOVE = float(np.nextafter(1.5, 2.0))  # 1.5000000000000002: the guess says percent


def load_detectron2(tmp_path: Path, lines: list[dict]) -> object:
    """A detectron2 metrics.json of these lines, read as the monitor reads it."""
    path = tmp_path / "output" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    return RunLoader().load("early", path)


def early_lines(ap50_last: float) -> list[dict]:
    """An early Faster R-CNN run: AP below 1 (per cent), AP50 ending at ap50_last."""
    return [
        {"iteration": 19, "total_loss": 2.5, "lr": 0.0002, "data_time": 0.01},
        {
            "iteration": 39,
            "total_loss": 2.1,
            "lr": 0.0004,
            "bbox/AP": 0.4,
            "bbox/AP50": 1.1,
            "bbox/AP-person": 0.2,
        },
        {
            "iteration": 59,
            "total_loss": 1.9,
            "lr": 0.0006,
            "bbox/AP": 0.9,
            "bbox/AP50": ap50_last,
            "bbox/AP-person": 0.7,
        },
    ]


def row(summary, label: str) -> str:
    return dict(summary.rows())[label]


def line_scale(summary, key: str) -> float:
    return next(line.scale for line in summary.metrics if line.key == key)


# --- a real detectron2 file -----------------------------------------------------------------


def test_real_detectron2_ap_rows_use_the_declared_scale():
    """frcnn_eval_merged_nan: bbox/AP 23.9 -> 59.0 -> 75.8 at iterations 99, 199, 300; the
    per-class and per-size APs are percentages too (they printed as bare 79.74 before)."""
    run = RunLoader().load("frcnn", CORPUS / "frcnn_eval_merged_nan" / "metrics.json")
    summary = summarize(run)
    assert run.meta["value_scale"]["val_mAP"] == 100.0
    assert line_scale(summary, "val_mAP") == 100.0
    assert line_scale(summary, "bbox/AP-date") == 100.0
    rows = dict(summary.rows())
    assert rows["Val mAP"] == "75.8%"
    assert rows["Val mAP@50"] == "100.0%"
    assert rows["Val mAP@75"] == "91.7%"
    assert rows["Bbox/AP-date"] == "79.7%"
    assert rows["Bbox/AP-fig"] == "64.3%"
    assert rows["Bbox/AP-hazelnut"] == "83.3%"
    assert rows["Bbox/APl"] == "72.0%"
    assert rows["Bbox/APm"] == "83.3%"
    assert rows["Bbox/APs"] == "NaN"
    assert (summary.best_by, summary.best_step) == ("val_mAP", 300)


def test_real_detectron2_ap_charts_in_percent_and_step_notes():
    run = RunLoader().load("frcnn", CORPUS / "frcnn_eval_merged_nan" / "metrics.json")
    charts = {c.id: c for c in charts_for(build_state(run))}
    first = charts["metrics-0"]
    assert first.title == "Metrics (%) by step 1/3" and first.unit == "%"
    assert [line.key for line in first.lines] == [
        "val_mAP",
        "bbox/AP-date",
        "bbox/AP-fig",
        "bbox/AP-hazelnut",
    ]
    val_map = first.lines[0]
    assert val_map.x.tolist() == [99, 199, 300]
    np.testing.assert_allclose(val_map.y, run.series("val_mAP").values)  # 0-100 kept as is
    # bbox/APs is NaN at every evaluation: the note counts steps (a step run), not epochs.
    assert charts["metrics-2"].notes == ("bbox/APs: NaN from step 99 (3 steps)",)
    assert charts["metrics-2"].short_notes == ("bbox/APs: NaN from step 99",)


# --- AP below 1.5 all run: the declared scale, not the guess --------------------------------


def test_early_ap_below_one_prints_as_its_own_percent(tmp_path):
    run = load_detectron2(tmp_path, early_lines(1.2))
    assert run.meta["value_scale"] == {
        "val_mAP": 100.0,
        "val_mAP_50": 100.0,
        "bbox/AP-person": 100.0,
    }
    assert fraction_scale(run.series("val_mAP").values) == 1.0  # what the guess would say
    summary = summarize(run)
    assert row(summary, "Val mAP") == "0.9%"  # was 90.0%
    assert row(summary, "Val mAP@50") == "1.2%"
    assert row(summary, "Bbox/AP-person") == "0.7%"


@pytest.mark.parametrize(
    ("last", "declared", "guessed"),
    [
        (1.5, "1.5%", "150.0%"),  # at the limit: the guess says 0-1
        (ABOVE, "1.5%", "1.5%"),  # just above it: the guess says 0-100, as declared
    ],
)
def test_at_the_guess_limit(tmp_path, last, declared, guessed):
    run = load_detectron2(tmp_path, early_lines(last))
    assert row(summarize(run), "Val mAP@50") == declared
    assert line_scale(summarize(run), "val_mAP_50") == 100.0
    # The same values from a format that declares nothing: the guess decides.
    native = make_run([{"epoch": 1, "val_mAP_50": 1.1}, {"epoch": 2, "val_mAP_50": last}])
    assert "value_scale" not in native.meta
    assert row(summarize(native), "Val mAP@50") == guessed
    assert line_scale(summarize(native), "val_mAP_50") == (100.0 if last > 1.5 else 1.0)


def test_early_ap_chart_marker_and_report_use_the_declared_scale(tmp_path):
    run = load_detectron2(tmp_path, early_lines(1.5))
    state = build_state(run)
    summary = state.summary
    (chart,) = [c for c in charts_for(state) if c.id.startswith("metrics")]
    assert chart.unit == "%"
    ys = {line.key: line.y.tolist() for line in chart.lines}
    assert ys == {"val_mAP": [0.4, 0.9], "val_mAP_50": [1.1, 1.5], "bbox/AP-person": [0.2, 0.7]}
    drawn = layout(chart, 60, 20)
    assert drawn.y.labels and all(label.endswith("%") for label in drawn.y.labels)
    assert max(float(label.rstrip("%")) for label in drawn.y.labels) <= 2.0  # not 150%
    # No val_loss: the best step is val_mAP's (the detection task's main metric).
    assert (summary.best_by, summary.best_step) == ("val_mAP", 59)
    assert best_marker(summary) == (59.0, "best 59 (Val mAP 0.9%)")
    assert _best_text(summary, "val_mAP").plain == "0.9% @ 59"
    report = build_report(run, now=0.0)
    assert run_json(report)["best"]["val_mAP"]["value"] == 0.9  # JSON keeps the file's number


# --- the declaration itself ------------------------------------------------------------------


def test_declared_scales_keeps_only_well_formed_entries():
    meta = {
        "value_scale": {
            "val_mAP": 100.0,
            "val_mIoU": 100,
            "flag": True,
            "negative": -100.0,
            "zero": 0.0,
            "nan": math.nan,
            "inf": math.inf,
            "text": "100",
            7: 100.0,
        }
    }
    assert declared_scales(meta) == {"val_mAP": 100.0, "val_mIoU": 100.0}
    assert declared_scales({}) == {}
    assert declared_scales({"value_scale": [["val_mAP", 100.0]]}) == {}
    assert declared_scales({"value_scale": None}) == {}


def test_value_scale_prefers_the_declaration_per_key():
    declared = {"val_mAP": 100.0}
    assert value_scale("val_mAP", [0.9], declared) == 100.0
    assert value_scale("val_mAP", [45.0], {}) == 100.0
    assert value_scale("val_mAP", [0.9], {}) == 1.0
    assert value_scale("val_accuracy", [0.9], declared) == 1.0  # not declared: the guess
    assert value_scale("val_accuracy", [90.0], declared) == 100.0


def test_a_native_run_can_declare_its_scale():
    """The native format keeps its meta block: a declared scale there counts the same."""
    run = make_run([{"epoch": 1, "val_accuracy": 0.8}], meta={"value_scale": {"val_accuracy": 100}})
    assert row(summarize(run), "Val Accuracy") == "0.8%"
    unsure = make_run([{"epoch": 1, "val_accuracy": 0.8}], meta={"value_scale": "percent"})
    assert row(summarize(unsure), "Val Accuracy") == "80.0%"

"""The header line's fitting rules, on data (no app)."""

from __future__ import annotations

from pathlib import Path

from metricwatch.model import Run, Table
from metricwatch.tui.state import build_state
from metricwatch.tui.widgets.header import header_text


def _state(name: str):
    table = Table.from_rows((e, {"train_loss": 1.0 / e, "duration_s": 10.0}) for e in range(1, 4))
    return build_state(Run(name, Path(name) / "metrics.json", table, meta={"total_epochs": 9}))


def test_a_working_watch_mode_is_the_first_thing_left_out():
    state = _state("sweep/lr1e-05_bs128_seed3")
    full = header_text(state, 0.0, "events", None).plain
    assert full.endswith("· events")
    narrow = header_text(state, 0.0, "events", None, width=50).plain
    assert "events" not in narrow and "sweep/lr1e-05_bs128_seed3" in narrow


def test_a_degraded_watch_mode_stays_at_any_width_and_stands_out():
    state = _state("sweep/lr1e-05_bs128_seed3")
    label = "events + polling 2s (watch limit)"
    for width in (60, 80, 120):
        text = header_text(state, 0.0, label, (2, 7), width=width, mode_alert=True)
        assert label in text.plain, width
        assert text.cell_len <= width
    text = header_text(state, 0.0, label, None, width=120, mode_alert=True)
    start = text.plain.index(label)
    assert any(span.start == start and span.style == "bold yellow" for span in text.spans), (
        text.spans
    )


def test_a_foreign_format_is_named_and_left_out_early():
    from dataclasses import replace

    state = replace(_state("bert"), format="hf_trainer_state")  # one run: no position
    assert header_text(state, 0.0, "events", None).plain.endswith("· events · hf_trainer_state")
    full = header_text(state, 0.0, "events", None).cell_len
    narrow = header_text(state, 0.0, "events", None, width=full - 1).plain
    assert "hf_trainer_state" not in narrow and "events" in narrow  # the first to go
    assert "metricwatch" not in header_text(_state("native"), 0.0, "events", None).plain

"""The rules for real curves: step runs, smoothing windows sized by points, divergence,
spikes, early-stopping advice, noise floors, which losses are judged, supersession.

Each threshold is tested at its limit: the figure a rule computes is taken from the
same function the rule calls, the limit set to it (fires) and nudged past it (quiet).
"""

import math
from dataclasses import replace

import numpy as np
import pytest
from helpers import columns, make_run

from metricwatch.analysis.diagnostics import (
    SUPERSEDED_BY,
    THRESHOLDS,
    Severity,
    diagnose,
    worst_severity,
)
from metricwatch.analysis.findings import judged_loss, span
from metricwatch.analysis.levels import (
    block_medians,
    reduced,
    row_medians,
    smoothed,
    weight_for,
    window_for,
)
from metricwatch.analysis.rules_loss import (
    loss_diverging,
    loss_not_decreasing,
    loss_oscillating,
    loss_spike,
    overfitting,
    spike_window,
    spikes,
)
from metricwatch.analysis.rules_stopping import early_stop_index, no_improvement, patience_for
from metricwatch.model import STEP, Run, Series, Table


def step_run(series: dict[str, tuple[list[int], list[float]]], per_epoch: int = 100) -> Run:
    """A step run: {key: (steps, values)}, each point's epoch = step / per_epoch."""
    table_series = {
        key: Series(key, np.asarray(s), np.asarray(v), np.asarray(s) / per_epoch)
        for key, (s, v) in series.items()
    }
    steps = sorted({int(x) for s, _ in series.values() for x in s})
    return Run("r", None, Table(np.asarray(steps), table_series, STEP))  # type: ignore[arg-type]


def found(run, limits=THRESHOLDS):
    return [f.id for f in diagnose(run, limits)]


# --- windows and levels ----------------------------------------------------------------------


def test_windows_are_a_tenth_of_the_points_odd_and_bounded():
    assert [window_for(n) for n in (1, 20, 30, 31, 60, 600, 1009, 1010, 100_000)] == [
        3,
        3,
        3,
        5,
        7,
        61,
        101,
        101,
        101,
    ]


def test_the_ema_weight_is_the_charts_nearest_the_window():
    # (1 + w) / (1 - w) points: 0.6 -> 4, 0.8 -> 9, 0.9 -> 19, 0.95 -> 39, 0.99 -> 199.
    # The window stops at 101 points, so 0.99 (199 points) is never nearest.
    assert [weight_for(n) for n in (30, 70, 150, 250, 600, 2000)] == [
        0.6,
        0.8,
        0.9,
        0.9,
        0.95,
        0.95,
    ]


def test_block_medians_keep_a_half_block_at_the_end_only():
    medians, ends = block_medians(np.arange(10.0), 4)
    assert medians.tolist() == [1.5, 5.5, 8.5] and ends.tolist() == [3, 7, 9]
    medians, ends = block_medians(np.arange(9.0), 4)
    assert medians.tolist() == [1.5, 5.5] and ends.tolist() == [3, 7]
    medians, ends = block_medians(np.arange(3.0), 1)
    assert medians.tolist() == [0.0, 1.0, 2.0] and ends.tolist() == [0, 1, 2]


def test_long_curves_are_reduced_to_max_trend_points():
    limits = replace(THRESHOLDS, max_trend_points=10)
    medians, ends = reduced(np.arange(100.0), limits)
    assert len(medians) == 10 and ends[-1] == 99
    assert len(reduced(np.arange(10.0), limits)[0]) == 10


def test_span_names_both_ends():
    run = make_run(columns(train_loss=[1.0] * 3))
    series = run.series("train_loss")
    assert span(run, series, 0, 2) == "epochs 1-3"
    assert span(run, series, 1, 1) == "epoch 2"
    steps = step_run({"train_loss": ([1500, 2500], [1.0, 1.0])})
    assert span(steps, steps.series("train_loss"), 0, 1) == "steps 1,500-2,500"


# --- which losses are judged -----------------------------------------------------------------


def test_only_non_negative_lower_is_better_losses_are_judged():
    run = make_run(columns(train_loss=[1.0, 0.0, 0.5], val_loss=[1.0, -0.001, 0.5]))
    assert judged_loss(run, "train_loss") is not None
    assert judged_loss(run, "val_loss") is None
    assert judged_loss(make_run(columns(val_accuracy=[0.5, 0.6, 0.7])), "val_accuracy") is None
    assert judged_loss(run, "absent") is None


# --- loss_diverging --------------------------------------------------------------------------

DIVERGING = [4.0, 2.0, 1.0, 0.6, 0.5, 0.45, 0.4, 0.9, 1.6, 1.8, 1.9, 1.9, 1.95, 2.0]


def test_diverging_names_the_last_good_point_and_where_to_restart():
    (finding,) = diagnose(make_run(columns(train_loss=DIVERGING)))
    assert finding.id == "loss_diverging" and finding.severity is Severity.CRITICAL
    # The EMA lags the raw curve: it is lowest at epoch 7 and doubles by epoch 10.
    assert (finding.step, finding.epoch) == (10, 10)
    assert finding.evidence == (
        "train_loss (smoothed: EMA 0.6) fell to 0.5973 at epoch 7, then rose to 2× that or "
        "more from epoch 10 and stayed there for 5 epochs: now 1.883 smoothed, 2 raw"
    )
    # The restart point is the lowest raw point before the rise (epoch 7, 0.4).
    assert finding.action.endswith(
        "restart from the last good checkpoint, at or before epoch 7, where train_loss was 0.4"
    )


def test_diverging_rise_at_its_limit():
    run = make_run(columns(train_loss=DIVERGING))
    curve = smoothed(np.asarray(DIVERGING), len(DIVERGING))
    lowest = np.minimum.accumulate(curve)
    hold = THRESHOLDS.diverge_min_hold  # 5 points: more than a window (3) or 10% of 14
    ratio = float(np.min(curve[-hold:] / lowest[-hold:]))
    assert loss_diverging(run, replace(THRESHOLDS, diverge_rise=ratio)) is not None
    assert loss_diverging(run, replace(THRESHOLDS, diverge_rise=np.nextafter(ratio, 9))) is None


def test_diverging_must_rise_a_share_of_the_early_level():
    # A loss that converged to 1e-4 and went to 3e-4 tripled, but by nothing that matters.
    train = [1.0, 0.5, 0.1, 0.01, 0.001] + [1e-4] * 100 + [3e-4] * 100
    run = make_run(columns(train_loss=train))
    assert loss_diverging(run, THRESHOLDS) is None
    assert loss_diverging(run, replace(THRESHOLDS, diverge_of_start=1e-5)) is not None


def test_diverging_must_hold_to_the_end():
    back_down = [*DIVERGING, 0.45, 0.4, 0.38]  # came back: a spike's shape, not divergence
    assert loss_diverging(make_run(columns(train_loss=back_down)), THRESHOLDS) is None


def test_diverging_hold_at_its_limit():
    train = [1.0 / (1 + i) for i in range(300)] + [0.5] * 100
    run = make_run(columns(train_loss=train))
    curve = smoothed(np.asarray(train), len(train))
    lowest = np.minimum.accumulate(curve)
    above = (curve >= 2 * lowest) & (curve - lowest >= 0.1 * train[0])
    held = len(above) - 1 - int(np.flatnonzero(~above)[-1])  # points above at the end
    assert held > window_for(len(train))  # so the share of points decides
    at_limit = replace(THRESHOLDS, diverge_hold=held / len(train))
    past_it = replace(THRESHOLDS, diverge_hold=(held + 1) / len(train))
    assert loss_diverging(run, at_limit) is not None
    assert loss_diverging(run, past_it) is None


def test_diverging_needs_a_few_points_up_on_a_short_run():
    # The high half of a zigzag at the end of a short run is not "stayed there".
    train = [1.0] * 8 + [3.0] * 4 + [1.0] * 4 + [3.0] * 4  # 20 points: a window of 3
    run = make_run(columns(train_loss=train))
    curve = smoothed(np.asarray(train), len(train))
    above = curve >= 2 * np.minimum.accumulate(curve)
    held = len(above) - 1 - int(np.flatnonzero(~above)[-1])
    assert 0 < held < THRESHOLDS.diverge_min_hold
    assert loss_diverging(run, THRESHOLDS) is None
    assert loss_diverging(run, replace(THRESHOLDS, diverge_min_hold=held)) is not None


def test_a_loss_blowing_up_with_its_gradients_is_exploding_gradients_only():
    grads = [1.0, 1.0, 1.0, 2.0, 10.0, 100.0, 1000.0, 5000.0, 9000.0, 9000.0]
    train = [1.0, 0.8, 0.6, 0.5, 0.8, 3.0, 10.0, 50.0, 90.0, 95.0]
    assert found(make_run(columns(train_loss=train, grad_norm=grads))) == ["exploding_gradients"]
    assert SUPERSEDED_BY["loss_diverging"] == {"exploding_gradients"}
    assert found(make_run(columns(train_loss=train))) == ["loss_diverging"]


def test_diverging_on_a_step_run_carries_step_and_epoch():
    steps = list(range(150, 150 + 50 * 40, 50))
    train = [2.0 - 0.05 * i for i in range(25)] + [3.0] * 15
    (finding,) = diagnose(step_run({"train_loss": (steps, train)}))
    assert finding.id == "loss_diverging"
    assert (finding.step, finding.epoch) == (1450, 14.5)
    assert "from step 1,450 (epoch 14.5)" in finding.evidence
    assert finding.action.endswith("at or before step 1,350 (epoch 13.5), where train_loss was 0.8")


# --- loss_spike ------------------------------------------------------------------------------


def spike_curve(peak: float, after: float = 1.125, base=(1.0, 1.25)) -> list[float]:
    """30 points alternating between base values, a peak at index 15, then `after` once."""
    values = [base[i % 2] for i in range(30)]
    values[15] = peak
    values[16] = after
    return values


def test_a_spike_names_its_step_its_size_and_its_recovery():
    # (A flat loss is also "not decreasing": only the spike is looked at here.)
    finding = loss_spike(make_run(columns(train_loss=spike_curve(9.0))), THRESHOLDS)
    assert finding is not None
    assert finding.id == "loss_spike" and finding.severity is Severity.WARNING
    assert (finding.step, finding.epoch) == (16, 16)
    assert finding.evidence == (
        "train_loss jumped to 9 at epoch 16 (8.0× the median of the previous 10 epochs, "
        "1.125), back to 1.125 by epoch 17"
    )


def test_spike_noise_limit():
    # The window before the spike alternates 1 and 1.25: median 1.125, median change 0.25;
    # 20 changes above the median is 6.125. At it: noise. Above it: a spike.
    at_limit = make_run(columns(train_loss=spike_curve(6.125))).series("train_loss")
    above = make_run(columns(train_loss=spike_curve(6.126))).series("train_loss")
    assert spikes(at_limit, THRESHOLDS) == []
    assert spikes(above, THRESHOLDS) == [(15, 16, 1.125, 10)]


def test_spike_factor_limit():
    # A flat loss has no noise: only the factor decides. 2x the median is not a spike.
    flat = [1.0] * 30
    at_limit, above = list(flat), list(flat)
    at_limit[15], above[15] = 2.0, 2.001
    assert loss_spike(make_run(columns(train_loss=at_limit)), THRESHOLDS) is None
    assert loss_spike(make_run(columns(train_loss=above)), THRESHOLDS) is not None


def test_spike_recovery_limit():
    # Peak 9 over a 1.125 level: giving back half the jump means reaching 5.0625.
    assert loss_spike(make_run(columns(train_loss=spike_curve(9.0, after=5.0625))), THRESHOLDS)
    stays = spike_curve(9.0, after=5.07)
    for i in range(17, 30):
        stays[i] = 5.07  # never back: a level shift, not a spike
    assert loss_spike(make_run(columns(train_loss=stays)), THRESHOLDS) is None


def test_a_spike_at_the_last_point_waits_for_the_next():
    values = [1.0] * 30 + [9.0]
    assert loss_spike(make_run(columns(train_loss=values)), THRESHOLDS) is None


def test_aftershocks_within_a_window_are_one_spike_and_later_ones_count():
    values = [1.0] * 60
    values[20], values[24] = 9.0, 6.0  # 4 points apart: one episode
    values[45] = 7.0  # 25 points later: another
    finding = loss_spike(make_run(columns(train_loss=values)), THRESHOLDS)
    assert finding is not None and finding.evidence == (
        "train_loss jumped to 9 at epoch 21 (9.0× the median of the previous 10 epochs, 1), "
        "back to 1 by epoch 22; to 7 at epoch 46 (7.0× the median of the previous 10 epochs, "
        "1), back to 1 by epoch 47"
    )


def test_more_than_five_spikes_are_counted_and_five_shown():
    values = [1.0] * 200
    for i in range(20, 200, 25):
        values[i] = 5.0
    finding = loss_spike(make_run(columns(train_loss=values)), THRESHOLDS)
    assert finding is not None
    assert finding.evidence.endswith("(8 spikes, the first 5 shown)")
    assert finding.evidence.count("jumped to") + finding.evidence.count("; to ") == 5


def test_the_spike_window_is_a_share_of_the_points_within_bounds():
    assert [spike_window(n, THRESHOLDS) for n in (30, 200, 201, 1000, 2000, 2001, 10**6)] == [
        10,
        10,
        11,
        50,
        100,
        100,
        100,
    ]


# --- loss_oscillating on epoch and step runs -------------------------------------------------


def test_oscillation_swing_is_judged_against_the_recent_level():
    # A loss that has fallen 10x and swings 12% around its new level oscillates: the old
    # floor (1% of the first loss) and the new one (the recent level) agree here...
    train = [10.0, 5.0, 2.0] + [1.0 if i % 2 else 1.12 for i in range(12)]
    assert loss_oscillating(make_run(columns(train_loss=train)), THRESHOLDS) is not None


def test_oscillation_swing_limit():
    train = [10.0, 5.0, 2.0] + [1.0 if i % 2 else 1.12 for i in range(12)]
    run = make_run(columns(train_loss=train))
    window = np.asarray(train[-10:])
    swing = float(np.median(np.abs(np.diff(window)))) / float(np.median(window))
    assert loss_oscillating(run, replace(THRESHOLDS, oscillation_swing=swing)) is not None
    nudged = replace(THRESHOLDS, oscillation_swing=np.nextafter(swing, 1))
    assert loss_oscillating(run, nudged) is None


def test_jitter_on_a_converged_loss_is_not_oscillation_at_the_limit():
    # Early level (median of the first 3 points) 1.0; recent level 0.05 is converged at 5%.
    train = [1.0, 1.0, 1.0] + [0.05 * (1.5 if i % 2 else 0.5) for i in range(12)]
    run = make_run(columns(train_loss=train))
    assert loss_oscillating(run, THRESHOLDS) is not None  # at 5%: not below it
    assert loss_oscillating(run, replace(THRESHOLDS, converged_fraction=0.0501)) is None


def test_oscillation_trend_limit():
    # Swinging 1 <-> 2 while the level drifts up: the halves' means 1.4 and 1.72.
    train = [5.0, 4.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.2, 1.0, 2.2, 1.2, 2.2]
    run = make_run(columns(train_loss=train))
    window = np.asarray(train[-10:])
    moved = abs(float(np.mean(window[5:]) - np.mean(window[:5])))
    typical = float(np.median(np.abs(np.diff(window))))
    trend = moved / typical
    assert loss_oscillating(run, replace(THRESHOLDS, oscillation_trend=trend)) is None
    assert loss_oscillating(run, replace(THRESHOLDS, oscillation_trend=np.nextafter(trend, 9)))


def test_per_step_noise_is_not_oscillation_but_swinging_block_medians_are():
    rng = np.random.default_rng(7)
    steps = list(range(10, 10 + 10 * 400, 10))
    # Noise of +-40% per logged batch around a falling level: normal per-step noise.
    noisy = (np.linspace(1.0, 0.5, 400) * rng.uniform(0.6, 1.4, 400)).tolist()
    assert found(step_run({"train_loss": (steps, noisy)})) == []
    # The level itself swinging between 2 and 6 every 10 points: oscillation.
    swinging = [2.0 if (i // 10) % 2 else 6.0 for i in range(400)]
    (finding,) = diagnose(step_run({"train_loss": (steps, swinging)}))
    assert finding.id == "loss_oscillating"
    assert "(medians of blocks of 10 points)" in finding.evidence
    assert "per block (median change)" in finding.evidence


def test_a_short_step_run_is_not_judged_on_oscillation():
    steps = list(range(0, 280, 10))  # 28 points: 9 blocks of 3 (and 1 point), under 10
    swinging = [1.0 if i % 6 < 3 else 3.0 for i in range(28)]
    assert loss_oscillating(step_run({"train_loss": (steps, swinging)}), THRESHOLDS) is None
    steps = list(range(0, 300, 10))
    swinging = [1.0 if i % 6 < 3 else 3.0 for i in range(30)]
    assert loss_oscillating(step_run({"train_loss": (steps, swinging)}), THRESHOLDS)


def test_oscillation_does_not_hide_overfitting():
    train = [2.0, 1.0, 0.5, 0.3] + [0.2 if i % 2 else 0.3 for i in range(16)]
    val = [1.0, 0.8, 0.7, 0.7] + [0.7 + 0.1 * i for i in range(16)]
    ids = found(make_run(columns(train_loss=train, val_loss=val)))
    assert ids == ["overfitting", "loss_oscillating", "no_improvement"]
    assert "overfitting" not in SUPERSEDED_BY


# --- loss_not_decreasing ---------------------------------------------------------------------


def test_not_decreasing_limit_on_the_smoothed_curve():
    train = [2.0, 1.98, 1.96, 1.94, 1.92, 1.9, 1.9, 1.9]
    run = make_run(columns(train_loss=train))
    curve = smoothed(np.asarray(train), len(train))
    improvement = (2.0 - float(np.min(curve))) / 2.0
    assert loss_not_decreasing(run, replace(THRESHOLDS, min_improvement=improvement)) is None
    nudged = replace(THRESHOLDS, min_improvement=np.nextafter(improvement, 1))
    assert loss_not_decreasing(run, nudged) is not None


def test_a_rising_loss_is_diverging_not_not_decreasing():
    train = [1.0, 1.0, 1.0, 1.0, 1.5, 2.5] + [3.0] * 8
    ids = found(make_run(columns(train_loss=train)))
    assert ids == ["loss_diverging"]
    assert "loss_diverging" in SUPERSEDED_BY["loss_not_decreasing"]


# --- overfitting -----------------------------------------------------------------------------


def test_train_must_fall_by_more_than_its_own_noise():
    # Train jumps around 5 +-1 (an LR far too high) and ends low; val rises 30%.
    train = [13.0, 5.0, 6.0, 4.0, 6.0, 4.0, 6.0, 4.0, 6.0, 4.0, 6.0, 3.9, 4.0, 3.9]
    val = [5.0, 4.0, 4.0, 4.0, 4.5, 5.0, 5.0, 5.2, 5.2, 5.2, 5.2, 5.2, 5.2, 5.2]
    assert overfitting(make_run(columns(train_loss=train, val_loss=val)), THRESHOLDS) is None
    smooth_train = [13.0, 5.0, 4.9, 4.8, 4.7, 4.6, 4.5, 4.4, 4.3, 4.2, 4.1, 4.0, 3.9, 3.8]
    run = make_run(columns(train_loss=smooth_train, val_loss=val))
    assert overfitting(run, THRESHOLDS) is not None


def test_overfitting_on_sparse_evaluations_of_a_step_run():
    steps = list(range(50, 5050, 50))
    train = [2.0 * math.exp(-i / 20) + 0.05 for i in range(100)]
    val_steps = list(range(500, 5500, 500))
    val = [1.0, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    run = step_run({"train_loss": (steps, train), "val_loss": (val_steps, val)})
    finding = overfitting(run, THRESHOLDS)
    assert finding is not None and (finding.step, finding.epoch) == (1000, 10.0)
    assert finding.evidence.startswith("val_loss was best at step 1,000 (epoch 10) (0.8)")


# --- no_improvement --------------------------------------------------------------------------


def test_early_stopping_is_simulated_with_patience_and_min_delta():
    values = np.array([1.0, 0.9, 0.895, 0.892, 0.9, 0.95])
    # 0.895 and 0.892 are within 1% of 0.9: not new bests; patience 3 stops at index 4.
    assert early_stop_index(values, False, 3, 0.01) == 4
    assert early_stop_index(values, False, 3, 0.0) == 5  # 0.895, 0.892 reset the count
    assert early_stop_index(np.array([0.1, 0.2, 0.3, 0.4]), True, 2, 0.0) == 3
    assert early_stop_index(np.array([0.4, 0.3, 0.3, 0.3]), True, 2, 0.0) == 2
    assert [patience_for(n, THRESHOLDS) for n in (5, 34, 35, 40, 102)] == [3, 3, 4, 4, 10]


def test_no_improvement_is_info_with_the_savings_in_epochs_and_time():
    val = [1.0, 0.7, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78]
    train = [1.0 - 0.05 * i for i in range(12)]
    rows = columns(train_loss=train, val_loss=val, duration_s=[60.0] * 12)
    findings = diagnose(make_run(rows))
    (finding,) = [f for f in findings if f.id == "no_improvement"]
    assert finding.severity is Severity.INFO and not finding.severity.alarm
    assert (finding.step, finding.epoch) == (3, 3)
    assert finding.evidence == (
        "val_loss was best at epoch 3 (0.6) and is 0.78 at epoch 12 (30.0% higher). Early "
        "stopping with patience 3 (evaluations without a 1% better value) would have "
        "stopped at epoch 6 and saved 6 epochs (55% of the run, about 6m 00s)"
    )
    assert finding.action == (
        "Use early stopping (patience 3) or keep the best checkpoint (epoch 3); "
        "shorten the schedule"
    )


def test_no_improvement_saved_share_at_its_limit():
    # Epochs 1-11 (a span of 10): stopping at epoch 5 saves 6 of 10, i.e. 60%.
    val = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    run = make_run(columns(val_loss=val))
    assert no_improvement(run, replace(THRESHOLDS, stop_min_saved=0.6)) is not None
    assert no_improvement(run, replace(THRESHOLDS, stop_min_saved=0.6001)) is None


def test_no_improvement_times_from_logged_times_on_a_step_run():
    steps = list(range(200, 2200, 200))
    val = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    series = Series(
        "val_loss", np.asarray(steps), np.asarray(val), None, 1000.0 + np.asarray(steps)
    )
    run = Run("r", None, Table(np.asarray(steps), {"val_loss": series}, STEP))  # type: ignore[arg-type]
    finding = no_improvement(run, THRESHOLDS)
    assert finding is not None
    assert finding.evidence.endswith(
        "would have stopped at step 1,000 and saved 1,000 steps (56% of the run, about 16m 40s)"
    )


def test_no_advice_when_the_best_comes_after_the_stop_or_at_the_end():
    late = [1.0, 0.99, 0.995, 0.99, 0.995, 0.99, 0.5]
    assert no_improvement(make_run(columns(val_loss=late)), THRESHOLDS) is None
    improving = [1.0 - 0.05 * i for i in range(12)]
    assert no_improvement(make_run(columns(val_loss=improving)), THRESHOLDS) is None


def test_no_improvement_reads_the_main_metric_and_not_a_training_side_one():
    acc = [0.5, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    finding = no_improvement(make_run(columns(val_accuracy=acc)), THRESHOLDS)
    assert finding is not None and "(12.5% lower)" in finding.evidence
    detectron = make_run(columns(**{"fast_rcnn/cls_accuracy": acc}))
    assert no_improvement(detectron, THRESHOLDS) is None


def test_info_never_makes_a_run_fail():
    val = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    findings = diagnose(make_run(columns(val_loss=val)))
    assert [f.id for f in findings] == ["no_improvement"]
    assert worst_severity(findings) is Severity.INFO
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank


@pytest.mark.parametrize("severity", list(Severity))
def test_severity_ranks_order_findings(severity):
    assert severity.alarm == (severity is not Severity.INFO)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_row_medians_are_each_rows_median_with_nan_inf_and_huge_values():
    from numpy.lib.stride_tricks import sliding_window_view

    rng = np.random.default_rng(7)
    specials = [np.nan, np.inf, -np.inf, 1e308, -1e308]
    for _ in range(500):
        n, window = int(rng.integers(1, 40)), int(rng.integers(1, 12))
        values = rng.normal(size=n + window)
        where = rng.integers(0, len(values), size=int(rng.integers(0, 4)))
        values[where] = rng.choice(specials, size=len(where))
        rows = sliding_window_view(values, window)
        which = rng.integers(0, len(rows), size=int(rng.integers(0, 8)))
        expected = [np.median(rows[i]) for i in which]
        assert np.array_equal(row_medians(rows, which), expected, equal_nan=True)
    huge = sliding_window_view(np.array([1e308, 1e308, 1.0]), 2)
    assert row_medians(huge, np.array([0, 1])).tolist() == [math.inf, 5e307]


def test_row_medians_over_more_rows_than_one_chunk():
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(np.random.default_rng(11).normal(size=70_000), 5)
    which = np.arange(len(rows))[::-1]  # three chunks of 26,214 rows, in any order
    np.testing.assert_array_equal(row_medians(rows, which), np.median(rows, axis=1)[which])

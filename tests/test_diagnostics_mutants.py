"""Tests from mutation testing of metricwatch/analysis/: each pins a behaviour a surviving
mutant changed (a limit's side, a slice bound, a threshold passed through, a wording)."""

from dataclasses import replace

import numpy as np
from helpers import columns, make_run

from metricwatch.analysis.diagnostics import THRESHOLDS, Severity
from metricwatch.analysis.rules_gradients import exploding_gradients, vanishing_gradients
from metricwatch.analysis.rules_loss import (
    loss_diverging,
    loss_not_decreasing,
    loss_oscillating,
    loss_spike,
    overfitting,
    spikes,
)
from metricwatch.analysis.rules_stopping import early_stop_index, no_improvement
from metricwatch.model import STEP, Run, Series, Table


def step_series_run(key, steps, values, times=None):
    series = Series(key, np.asarray(steps), np.asarray(values), None, times)
    return Run("r", None, Table(np.asarray(steps), {key: series}, STEP))  # type: ignore[arg-type]


# --- no_improvement --------------------------------------------------------------------------


def test_early_stopping_comparisons_are_strict_both_ways():
    flat = np.array([0.5, 0.5, 0.5, 0.5])
    assert early_stop_index(flat, True, 2, 0.0) == 2  # equal is not better
    assert early_stop_index(flat, False, 2, 0.0) == 2
    # Higher is better with a 10% min_delta: 0.95 after 1.0 is worse, not "within delta".
    assert early_stop_index(np.array([1.0, 0.95, 0.95, 0.95]), True, 2, 0.1) == 2
    assert early_stop_index(np.array([1.0, 1.2, 1.2, 1.2]), True, 2, 0.1) == 3


def test_the_declared_task_picks_the_metric_judged():
    # Classification accuracy peaks early, detection mAP at the end: the task decides.
    acc = [0.5, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    mAP = [0.1 * (i + 1) for i in range(10)]
    rows = columns(val_accuracy=acc, val_mAP=mAP)
    assert no_improvement(make_run(rows, meta={"task": "object_detection"}), THRESHOLDS) is None
    finding = no_improvement(make_run(rows, meta={"task": "classification"}), THRESHOLDS)
    assert finding is not None and finding.evidence.startswith("val_accuracy was best")


def test_five_evaluations_are_enough_and_a_zero_loss_is_judged():
    finding = no_improvement(make_run(columns(val_loss=[0.5, 0.6, 0.6, 0.6, 0.6])), THRESHOLDS)
    assert finding is not None and "saved 1 epochs (25% of the run" in finding.evidence
    zero = no_improvement(make_run(columns(val_loss=[0.0, 0.1, 0.1, 0.1, 0.1, 0.1])), THRESHOLDS)
    assert zero is not None and "(Inf% higher)" in zero.evidence


def test_a_higher_is_better_metric_stops_where_its_own_best_stops():
    acc = [0.5, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    finding = no_improvement(make_run(columns(val_accuracy=acc)), THRESHOLDS)
    assert finding is not None
    assert finding.evidence == (
        "val_accuracy was best at epoch 2 (0.8) and is 0.7 at epoch 11 (12.5% lower). Early "
        "stopping with patience 3 (evaluations without a 1% better value) would have "
        "stopped at epoch 5 and saved 6 epochs (60% of the run)"
    )


def test_a_raw_best_at_the_stopping_point_still_gets_advice():
    # 0.499 is not 1% better than 0.5: the count reaches 3 there, and it is the raw best.
    val = [1.0, 0.5, 0.6, 0.6, 0.499, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    finding = no_improvement(make_run(columns(val_loss=val)), THRESHOLDS)
    assert finding is not None and finding.step == 5
    assert "would have stopped at epoch 5" in finding.evidence


def test_no_advice_when_early_stopping_never_stops_even_with_no_minimum_saving():
    improving = [1.0 - 0.05 * i for i in range(12)]
    limits = replace(THRESHOLDS, stop_min_saved=0.0)
    assert no_improvement(make_run(columns(val_loss=improving)), limits) is None


def test_drift_reads_as_a_percentage_from_100_percent_on():
    at_100 = no_improvement(make_run(columns(val_loss=[0.5] + [1.0] * 9)), THRESHOLDS)
    assert at_100 is not None and "(100% higher)" in at_100.evidence
    at_150 = no_improvement(make_run(columns(val_loss=[0.4] + [1.0] * 9)), THRESHOLDS)
    assert at_150 is not None and "(150% higher)" in at_150.evidence
    below = no_improvement(make_run(columns(val_loss=[0.5] + [0.99] * 9)), THRESHOLDS)
    assert below is not None and "(98.0% higher)" in below.evidence


def test_time_saved_only_from_sane_logged_times():
    steps = list(range(200, 2200, 200))
    val = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    untimed = no_improvement(step_series_run("val_loss", steps, val), THRESHOLDS)
    assert untimed is not None and untimed.evidence.endswith("(56% of the run)")
    same = no_improvement(step_series_run("val_loss", steps, val, np.full(10, 50.0)), THRESHOLDS)
    assert same is not None and same.evidence.endswith("(56% of the run, about 0ms)")
    backwards = np.linspace(2000.0, 0.0, 10)
    back = no_improvement(step_series_run("val_loss", steps, val, backwards), THRESHOLDS)
    assert back is not None and back.evidence.endswith("(56% of the run)")


# --- gradients -------------------------------------------------------------------------------


def test_exploding_limits_growth_peak_and_critical():
    def grads(peak):
        return make_run(columns(grad_norm=[1.0, 1.0, 1.0, peak]))

    at_growth = exploding_gradients(grads(100.0), THRESHOLDS)  # four points are enough
    assert at_growth is not None and at_growth.severity is Severity.WARNING
    assert (
        at_growth.evidence == "grad_norm grew 100× from 1 (median of epochs 1-3) to 100 at epoch 4"
    )
    assert (at_growth.step, at_growth.epoch) == (4, 4)
    assert exploding_gradients(grads(99.99), THRESHOLDS) is None
    critical = exploding_gradients(grads(10_000.0), THRESHOLDS)
    assert critical is not None and critical.severity is Severity.CRITICAL
    assert exploding_gradients(grads(9_999.0), THRESHOLDS).severity is Severity.WARNING
    tiny = make_run(columns(grad_norm=[0.01, 0.01, 0.01, 1.0]))
    assert exploding_gradients(tiny, THRESHOLDS) is not None  # peak exactly 1.0 counts
    assert exploding_gradients(tiny, replace(THRESHOLDS, explode_min_peak=1.001)) is None


def test_exploding_looks_at_grad_max_when_grad_norm_says_nothing():
    for grad_norm in ([0.0, 0.0, 0.0, 5.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 2.0]):
        rows = columns(grad_norm=grad_norm, grad_max=[1.0, 1.0, 1.0, 500.0])
        finding = exploding_gradients(make_run(rows), THRESHOLDS)
        assert finding is not None and finding.evidence.startswith("grad_max grew 500×")


def test_exploding_non_finite_names_the_value_and_point():
    finding = exploding_gradients(make_run(columns(grad_norm=[1.0, float("nan")])), THRESHOLDS)
    assert finding is not None and finding.evidence == "grad_norm = NaN at epoch 2"
    assert (finding.step, finding.epoch) == (2, 2)


def test_vanishing_limits_and_evidence():
    def run(grad, loss):
        return make_run(columns(grad_norm=grad, train_loss=loss))

    stuck = [0.75, 0.75, 0.75, 0.75, 0.75]
    finding = vanishing_gradients(run([1.0, 1e-6, 1e-6, 1e-6], stuck), THRESHOLDS)
    assert finding is not None
    assert finding.evidence == (
        "grad_norm is 1.000e-06 (median of the last 3 epochs) while train_loss improved "
        "only 0.00% over the last 5 epochs (now 0.75)"
    )
    assert (finding.step, finding.epoch) == (4, 4)
    assert vanishing_gradients(run([1e-6, 1e-6, 1e-6], stuck), THRESHOLDS) is not None
    assert vanishing_gradients(run([1e-4, 1e-4, 1e-4], stuck), THRESHOLDS) is None
    assert vanishing_gradients(run([1e-6] * 3, [0.75] * 4), THRESHOLDS) is None
    # Improvement over the last 5 points exactly 1% is "improving"; just under is stuck.
    improving = [0.8, 1.0, 1.0, 1.0, 1.0, 0.99]
    assert vanishing_gradients(run([1e-6] * 3, improving), THRESHOLDS) is None
    assert vanishing_gradients(run([1e-6] * 3, [0.8, 1.0, 1.0, 1.0, 1.0, 0.991]), THRESHOLDS)
    # Converged: the last loss below 5% of the first. At 5% it is not below.
    at_five = [1.0, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert vanishing_gradients(run([1e-6] * 3, at_five), THRESHOLDS) is not None
    assert vanishing_gradients(run([1e-6] * 3, [*at_five[:-1], 0.0499]), THRESHOLDS) is None


def test_vanishing_converged_test_uses_the_first_and_last_points():
    # First 2.0, then 1.0s: 0.09 at the end is under 5% of 2.0 but not of 1.0.
    loss = [2.0, 1.0, 0.09, 0.09, 0.09, 0.09, 0.09]
    rows = columns(grad_norm=[1e-6] * 7, train_loss=loss)
    assert vanishing_gradients(make_run(rows), THRESHOLDS) is None
    loss[-1] = 0.11  # the last point decides, not the one before
    rows = columns(grad_norm=[1e-6] * 7, train_loss=loss)
    assert vanishing_gradients(make_run(rows), THRESHOLDS) is not None


# --- limits reach every rule -----------------------------------------------------------------


def test_the_window_limits_reach_the_smoothing_of_every_trend_rule():
    wide = replace(THRESHOLDS, window_min=19)  # EMA 0.9 whatever the length
    flat = make_run(columns(train_loss=[2.0, 1.99, 1.98, 1.97, 1.96, 1.95, 1.95, 1.95]))
    assert "(smoothed: EMA 0.6)" in loss_not_decreasing(flat, THRESHOLDS).evidence
    assert "(smoothed: EMA 0.9)" in loss_not_decreasing(flat, wide).evidence
    rising = make_run(columns(train_loss=[1.0, 0.5, 0.4] + [3.0] * 30))
    assert "(smoothed: EMA 0.6)" in loss_diverging(rising, THRESHOLDS).evidence
    assert "(smoothed: EMA 0.9)" in loss_diverging(rising, wide).evidence


def test_long_curves_are_read_as_block_medians_and_say_so():
    few = replace(THRESHOLDS, max_trend_points=10)
    flat = make_run(columns(train_loss=[1.0] * 95))
    finding = loss_not_decreasing(flat, few)
    assert finding is not None
    assert "(smoothed: EMA 0.6 of medians of 10 points)" in finding.evidence
    assert "of medians" not in loss_not_decreasing(flat, THRESHOLDS).evidence


def test_trend_rules_need_five_points_and_not_more():
    five = [1.0, 1.0, 1.0, 1.0, 1.0]
    assert loss_not_decreasing(make_run(columns(train_loss=five)), THRESHOLDS) is not None
    assert loss_not_decreasing(make_run(columns(train_loss=five[:4])), THRESHOLDS) is None
    assert loss_not_decreasing(make_run(columns(train_loss=[0.0] * 5)), THRESHOLDS) is None


# --- spikes ----------------------------------------------------------------------------------


def test_recovery_exactly_at_the_target_counts_and_only_within_a_window():
    values = [1.0] * 40
    values[15] = 9.0
    values[16:26] = [5.0] * 10  # half the jump given back exactly at point 26 (index 26)
    values[26] = 5.0
    at_window = list(values)
    at_window[26:] = [1.0] * 14  # back on the 11th point after the peak: too late
    assert spikes(make_run(columns(train_loss=values)).series("train_loss"), THRESHOLDS) == [
        (15, 16, 1.0, 10)
    ]
    late = [1.0] * 40
    late[15] = 9.0
    late[16:26] = [5.5] * 10
    late[26:] = [1.0] * 14
    assert spikes(make_run(columns(train_loss=late)).series("train_loss"), THRESHOLDS) == []
    in_time = [1.0] * 40
    in_time[15] = 9.0
    in_time[16:25] = [5.5] * 9
    in_time[25:] = [1.0] * 15  # the 10th point after the peak: within the window
    assert spikes(make_run(columns(train_loss=in_time)).series("train_loss"), THRESHOLDS) == [
        (15, 25, 1.0, 10)
    ]


def test_a_second_spike_exactly_a_window_later_is_an_aftershock():
    values = [1.0] * 60
    values[20], values[30], values[41] = 9.0, 9.0, 9.0
    found = spikes(make_run(columns(train_loss=values)).series("train_loss"), THRESHOLDS)
    assert [peak for peak, *_ in found] == [20, 41]


def test_a_spike_needs_a_full_window_and_two_points_more():
    values = [1.0] * 11 + [9.0]
    assert spikes(make_run(columns(train_loss=values)).series("train_loss"), THRESHOLDS) == []
    values = [1.0] * 10 + [9.0, 1.0]
    assert spikes(make_run(columns(train_loss=values)).series("train_loss"), THRESHOLDS) == [
        (10, 11, 1.0, 10)
    ]


def test_five_spikes_are_all_shown_six_are_counted():
    def with_spikes(count):
        values = [1.0] * (20 + 25 * count)
        for k in range(count):
            values[20 + 25 * k] = 5.0
        return loss_spike(make_run(columns(train_loss=values)), THRESHOLDS)

    assert not with_spikes(5).evidence.endswith("shown)")
    assert with_spikes(6).evidence.endswith("(6 spikes, the first 5 shown)")


def test_a_spike_over_a_zero_level_is_infinitely_many_times_it():
    values = [0.0] * 20 + [1.0] + [0.0] * 5
    finding = loss_spike(make_run(columns(train_loss=values)), THRESHOLDS)
    assert finding is not None and "(inf× the median" in finding.evidence


# --- oscillation, divergence, overfitting limits ---------------------------------------------


def test_oscillation_turns_count_only_reversals():
    # Up, flat, up, flat...: no reversal at all, however large the moves.
    stairs = [10.0, 5.0, 2.0] + [
        1.0 + (i // 2) * 0.0 + (0.5 if i % 4 == 1 else 0.0) for i in range(12)
    ]
    assert loss_oscillating(make_run(columns(train_loss=stairs)), THRESHOLDS) is None


def test_diverging_restart_point_is_the_low_before_the_rise():
    train = [1.0, 0.5, 0.3, 0.2, 0.25, 0.3] + [2.0] * 10
    finding = loss_diverging(make_run(columns(train_loss=train)), THRESHOLDS)
    assert finding is not None
    assert finding.action.endswith("at or before epoch 4, where train_loss was 0.2")
    assert finding.evidence.endswith("now 1.99 smoothed, 2 raw")


def test_overfitting_limits_patience_rise_and_the_first_point():
    train = [2.0 / (i + 1) for i in range(10)]
    # The smoothed best at the 7th of 10 evaluations: 3 after it, exactly the patience.
    val = [2.0, 1.5, 1.2, 1.0, 0.9, 0.85, 0.8, 1.2, 1.3, 1.4]
    assert overfitting(make_run(columns(train_loss=train, val_loss=val)), THRESHOLDS)
    assert (
        overfitting(
            make_run(columns(train_loss=train, val_loss=val)),
            replace(THRESHOLDS, overfit_patience=4),
        )
        is None
    )
    # A val loss best at the very first evaluation, train logged from the same epoch on.
    val_first = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]
    finding = overfitting(make_run(columns(train_loss=train, val_loss=val_first)), THRESHOLDS)
    assert finding is not None and "(epochs 1-2)" not in finding.evidence
    assert "from 0.5 (epoch 1)" in finding.evidence


def test_overfitting_rise_at_its_limit():
    train = [2.0 / (i + 1) for i in range(10)]
    val = [1.0, 1.0, 1.0, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1]
    run = make_run(columns(train_loss=train, val_loss=val))
    rise = (1.1 - 1.0) / 1.0
    assert overfitting(run, replace(THRESHOLDS, overfit_rise=rise)) is not None
    assert overfitting(run, replace(THRESHOLDS, overfit_rise=np.nextafter(rise, 1))) is None


# --- formatting, levels and the entry point --------------------------------------------------


def test_values_and_ratios_print_for_every_extreme():
    from metricwatch.analysis.findings import fmt, fmt_ratio

    assert [fmt(float("nan")), fmt(float("inf")), fmt(float("-inf")), fmt(0.5)] == [
        "NaN",
        "Inf",
        "-Inf",
        "0.5",
    ]
    assert fmt_ratio(float("inf")) == "more than 1e308"
    assert fmt_ratio(999_999_999.0) == "999,999,999"
    assert fmt_ratio(1e9) == "1.0e+09"


def test_the_worst_severity_of_mixed_findings():
    from metricwatch.analysis.findings import make_finding, worst_severity

    info = make_finding("no_improvement", Severity.INFO, "e")
    warning = make_finding("loss_spike", Severity.WARNING, "e")
    critical = make_finding("loss_diverging", Severity.CRITICAL, "e")
    assert worst_severity([info, critical, warning]) is Severity.CRITICAL
    assert worst_severity([info, warning]) is Severity.WARNING
    assert worst_severity([info]) is Severity.INFO
    assert worst_severity([]) is None
    assert (warning.observation, warning.message) == ("Train loss spike", "Train loss spike: e")


def test_a_step_runs_unknown_epoch_is_none():
    from metricwatch.analysis.findings import epoch_of

    series = Series("k", np.array([5, 10]), np.array([1.0, 2.0]), np.array([np.nan, 0.5]))
    run = Run("r", None, Table(np.array([5, 10]), {"k": series}, STEP))  # type: ignore[arg-type]
    assert epoch_of(run, series, 0) is None
    assert epoch_of(run, series, 1) == 0.5


def test_non_finite_orders_keys_by_step_and_names_four():
    nan = float("nan")
    rows = [
        {"epoch": 1, "a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": nan},
        {"epoch": 2, "a": 1.0, "b": nan, "c": nan, "d": nan},
        {"epoch": 3, "a": nan},
    ]
    from metricwatch.analysis.rules_values import non_finite

    finding = non_finite(make_run(rows), THRESHOLDS)
    assert finding is not None
    assert finding.evidence == (
        "first at epoch 1: e = NaN at epoch 1, b = NaN at epoch 2, c = NaN at epoch 2, "
        "d = NaN at epoch 2"
    )


def test_non_finite_sees_an_infinity_however_placed_and_not_huge_finite_values():
    from metricwatch.analysis.rules_values import non_finite

    huge = [{"epoch": e, "a": v} for e, v in enumerate([1.7e308, -1.7e308, 0.0], start=1)]
    assert non_finite(make_run(huge), THRESHOLDS) is None
    rows = [{"epoch": 1, "a": 0.5, "b": -1e308}, {"epoch": 2, "a": 0.4, "b": -float("inf")}]
    finding = non_finite(make_run(rows), THRESHOLDS)
    assert finding is not None
    assert finding.evidence == "first at epoch 2: b = -Inf at epoch 2"


def test_a_stall_at_exactly_its_limit_is_a_stall():
    from metricwatch.analysis.rules_values import stall_check

    finding = stall_check(3, 10, 1000.0, 30.0, 1000.0 + 150.0)
    assert finding is not None and finding.severity is Severity.WARNING
    assert (finding.epoch, finding.step) == (3, None)
    assert stall_check(3, 10, 1000.0, 30.0, 1000.0 + 149.99) is None
    longer = replace(THRESHOLDS, stall_factor=6.0)
    assert stall_check(3, 10, 1000.0, 30.0, 1000.0 + 150.0, longer) is None


def test_block_medians_and_their_ends():
    from metricwatch.analysis.levels import block_medians

    medians, ends = block_medians(np.array([1, 3, 5, 7]), 2)
    assert medians.tolist() == [2.0, 6.0] and ends.tolist() == [1, 3]
    assert medians.dtype == np.float64 and ends.dtype == np.int64


def test_diagnose_never_warns_on_overflowing_values():
    import warnings

    from metricwatch.analysis.diagnostics import diagnose

    huge = [1.7e308, -1.7e308, 1.7e308, 5e-324, 1.7e308, 0.0, 1.7e308, 1.7e308]
    rows = columns(train_loss=[abs(v) for v in huge], val_loss=huge, grad_norm=huge)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnose(make_run(rows))

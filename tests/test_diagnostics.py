"""Each diagnostic rule on hand-made curves: it fires on its pattern, with numbers, and
stays quiet on healthy shapes. The real-training samples are in test_sample_runs.py, the
labelled set of real curves in test_diagnostics_labelled.py, the rules added for real
curves (divergence, spikes, early stopping, step runs) in test_diagnostics_rules.py."""

import math
import random

from helpers import columns, make_run

from metricwatch.analysis.diagnostics import (
    FINDING_IDS,
    THRESHOLDS,
    Severity,
    diagnose,
    stall_check,
    stall_limit_s,
    stalled,
    worst_severity,
)
from metricwatch.analysis.summary import mean_epoch_s


def ids(rows, **kwargs):
    """The ids of the alarms (warning, critical) a run raises; info is advice."""
    return [f.id for f in diagnose(make_run(rows, **kwargs)) if f.severity.alarm]


def decaying(n, start=2.0, floor=0.1, rate=0.2, noise=0.0, seed=0):
    rng = random.Random(seed)
    return [
        floor + (start - floor) * math.exp(-rate * i) * (1 + rng.gauss(0, noise)) for i in range(n)
    ]


def test_every_finding_has_the_seed_cause_and_action():
    rows = columns(train_loss=[1.0] * 10)
    (finding,) = diagnose(make_run(rows))
    assert finding.id == "loss_not_decreasing"
    assert finding.cause == "LR too low, bug in loop"
    assert finding.action == "Increase LR, check code"
    assert set(FINDING_IDS) >= {
        "loss_not_decreasing",
        "loss_oscillating",
        "overfitting",
        "exploding_gradients",
        "vanishing_gradients",
        "non_finite",
        "stalled",
        "loss_diverging",
        "loss_spike",
        "no_improvement",
    }


def test_healthy_curves_raise_nothing():
    train = decaying(40, noise=0.03)
    val = [v * 1.15 for v in decaying(40, noise=0.03, seed=1)]
    grads = [1.5 + 0.1 * math.sin(i) for i in range(40)]
    assert ids(columns(train_loss=train, val_loss=val, grad_norm=grads)) == []


def test_plateau_after_learning_raises_nothing_above_info():
    train = decaying(15, rate=0.5) + [0.1 * (1 + 0.01 * (-1) ** i) for i in range(30)]
    assert ids(columns(train_loss=train, val_loss=[t * 1.2 for t in train])) == []


def test_short_runs_are_not_judged_on_trends():
    assert ids(columns(train_loss=[1, 1, 1, 1], val_loss=[1, 2, 3, 4])) == []


def test_loss_not_decreasing_reports_the_improvement():
    (finding,) = diagnose(make_run(columns(train_loss=[2.30, 2.31, 2.29, 2.30, 2.30, 2.295])))
    assert finding.id == "loss_not_decreasing"
    assert finding.severity is Severity.WARNING
    # The lowest point of the smoothed curve (debiased EMA 0.6: 2.2975 at epoch 6), not
    # the raw minimum 2.29 at epoch 3, which per-step noise would make meaningless.
    assert finding.evidence == (
        "train_loss started at 2.3 at epoch 1 and its lowest (smoothed: EMA 0.6) is only "
        "0.1% below that, 2.298 at epoch 6, over 6 epochs (now 2.295)"
    )
    assert (finding.step, finding.epoch) == (6, 6)


def test_loss_oscillating():
    train = [1.0, 1.6, 0.9, 1.5, 1.0, 1.7, 0.95, 1.55, 1.0, 1.6]
    found = diagnose(make_run(columns(train_loss=train)))
    assert [f.id for f in found] == ["loss_oscillating"]  # not also "not decreasing"
    assert found[0].evidence == (
        "over epochs 1-10 train_loss moved 48% of its recent level (1.25) per epoch (median "
        "change), reversing direction 100% of the time, between 0.9 and 1.7 with no net trend"
    )


def test_a_noisy_but_falling_loss_is_not_oscillating():
    train = [2.0, 1.7, 1.8, 1.4, 1.5, 1.1, 1.2, 0.9, 1.0, 0.7]
    assert "loss_oscillating" not in ids(columns(train_loss=train))


def test_overfitting_evidence_names_the_best_epoch():
    train = decaying(12, rate=0.4)
    val = [2.0, 1.2, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.05, 1.1]
    finding, advice = diagnose(make_run(columns(train_loss=train, val_loss=val)))
    assert (finding.id, advice.id) == ("overfitting", "no_improvement")
    # The best the summary and the chart show (0.55 at epoch 5) leads; the smoothed
    # figures say they are smoothed.
    assert (finding.step, finding.epoch) == (5, 5)
    assert finding.evidence == (
        "val_loss was best at epoch 5 (0.55); smoothed (mean of 3 evaluations) it rose 80% "
        "from 0.5833 (epochs 4-6) to 1.05 (the last 3) while train_loss kept falling "
        "(0.3571 → 0.1519, medians of 5 epochs)"
    )


def test_one_noisy_val_epoch_is_not_overfitting():
    train = decaying(12, rate=0.3)
    val = [2.0, 1.5, 1.2, 1.0, 0.9, 0.85, 0.8, 0.95, 0.8, 0.78, 0.9, 0.8]
    assert ids(columns(train_loss=train, val_loss=val)) == []


def test_val_loss_rising_with_train_loss_rising_is_not_overfitting():
    train = [2.0, 1.5, 1.2, 1.0, 0.9, 1.0, 1.2, 1.4, 1.6, 1.8]
    val = [2.1, 1.6, 1.3, 1.1, 1.0, 1.1, 1.3, 1.5, 1.7, 1.9]
    assert "overfitting" not in ids(columns(train_loss=train, val_loss=val))


def test_exploding_gradients_by_growth():
    grads = [1.0, 1.2, 0.9, 3.0, 20.0, 150.0, 900.0]
    (finding,) = diagnose(make_run(columns(grad_norm=grads)))
    assert finding.id == "exploding_gradients"
    assert finding.severity is Severity.WARNING
    assert finding.evidence == "grad_norm grew 900× from 1 (median of epochs 1-3) to 900 at epoch 7"
    grads[-1] = 50_000.0
    assert diagnose(make_run(columns(grad_norm=grads)))[0].severity is Severity.CRITICAL


def test_exploding_gradients_when_non_finite():
    (finding,) = diagnose(make_run(columns(grad_max=[1.0, 2.0, math.inf])))
    assert (finding.id, finding.severity, finding.epoch) == (
        "exploding_gradients",
        Severity.CRITICAL,
        3,
    )


def test_gradients_that_grow_tenfold_are_normal():
    assert ids(columns(grad_norm=[0.2, 0.3, 0.25, 1.0, 2.0, 2.5, 2.2])) == []


def test_vanishing_gradients_need_a_stuck_loss():
    stuck = columns(train_loss=[0.75] * 8, grad_norm=[1e-6] * 8)
    assert ids(stuck) == ["vanishing_gradients"]
    converged = columns(
        train_loss=decaying(8, start=1.0, floor=0.001, rate=1.5),
        grad_norm=[1.0, 0.1, 1e-3, 1e-5, 1e-6, 1e-6, 1e-6, 1e-6],
    )
    assert ids(converged) == []
    learning = columns(train_loss=decaying(8, start=1.0, floor=0.5), grad_norm=[1e-6] * 8)
    assert "vanishing_gradients" not in ids(learning)


def test_non_finite_names_the_first_epoch_and_keys():
    rows = columns(train_loss=[1.0, 0.9, math.nan, math.nan], val_loss=[1.1, math.inf, 1, 1])
    found = diagnose(make_run(rows))
    assert found[0].id == "non_finite"
    assert found[0].severity is Severity.CRITICAL
    assert found[0].epoch == 2
    assert found[0].evidence == (
        "first at epoch 2: val_loss = Inf at epoch 2, train_loss = NaN at epoch 3"
    )
    assert worst_severity(found) is Severity.CRITICAL


def test_stalled_only_for_an_unfinished_run_quiet_for_long():
    rows = columns(train_loss=[1, 0.9, 0.8], duration_s=[30, 30, 30])
    run = make_run(rows, meta={"total_epochs": 10})
    run.mtime = 1000.0
    assert stalled(run, now=1000.0 + 5 * 30 - 1) is None
    finding = stalled(run, now=1000.0 + 5 * 30 + 1)
    assert finding is not None and finding.id == "stalled"
    assert (
        finding.evidence == "no new epoch for 2m 31s, against a mean epoch of 30.0s (epoch 3 / 10)"
    )
    finished = make_run(columns(train_loss=[1, 0.9], duration_s=[30, 30]), meta={"total_epochs": 2})
    finished.mtime = 0.0
    assert stalled(finished, now=10_000) is None
    unknown_total = make_run(rows)
    unknown_total.mtime = 0.0
    assert stalled(unknown_total, now=10_000) is None


def test_stall_has_a_floor_for_very_fast_epochs():
    run = make_run(columns(train_loss=[1, 0.9], duration_s=[0.5, 0.5]), meta={"total_epochs": 9})
    run.mtime = 0.0
    assert stalled(run, now=THRESHOLDS.stall_min_s - 1) is None
    assert stalled(run, now=THRESHOLDS.stall_min_s + 1) is not None


def test_stall_helpers_are_the_rule_stalled_uses():
    rows = columns(train_loss=[1, 0.9, 0.8, 0.7], duration_s=[10, 30, float("nan"), 50])
    run = make_run(rows, meta={"total_epochs": 10})
    run.mtime = 1000.0
    assert mean_epoch_s(run) == 30
    assert mean_epoch_s(make_run(columns(train_loss=[1, 0.9]))) is None
    assert stall_limit_s(30) == 150
    assert stall_limit_s(0.5) == THRESHOLDS.stall_min_s
    assert stall_limit_s(None) == THRESHOLDS.stall_min_s
    for now in (1000.0 + 149, 1000.0 + 151, 10_000.0):
        assert stall_check(4, 10, 1000.0, 30, now) == stalled(run, now)


def test_summary_command_never_reports_stalled():
    assert "stalled" not in {
        rule.__name__
        for rule in __import__("metricwatch.analysis.diagnostics", fromlist=["RULES"]).RULES
    }


# --- losses that are negative or zero, gaps, and other shapes real runs have -----------------


def test_negative_losses_are_not_judged_as_losses():
    # GAN, policy-gradient and GRPO losses hover around or below zero; a log-likelihood
    # running to -1e8 is an objective running away. None is "lower is better" progress.
    for train in (
        [-100.0, -100.1, -99.9, -100.0, -100.05, -100.0],
        [-200.0, -180.0, -160.0, -140.0, -120.0, -100.0],
        [0.02, -0.01, 0.03, -0.02, 0.01, -0.03, 0.02, -0.01, 0.03, -0.02],
        [0.5, 0.4, 0.3, 0.2, 0.1, -0.1, 0.3, 5.0, 8.0, 9.0, 9.5, 9.0],
    ):
        assert diagnose(make_run(columns(train_loss=train))) == []


def test_a_negative_val_loss_is_not_judged_either():
    train = [1.0, 0.5, 0.2, 0.1, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04]
    val = [1.0, 0.0, -1.0, -1.8, -1.8, -1.8, -1.0, 0.0, 0.8, 1.2]
    assert diagnose(make_run(columns(train_loss=train, val_loss=val))) == []


def test_overfitting_with_train_logged_at_other_epochs():
    val_rows = columns(val_loss=[2.0, 1.2, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.05, 1.1])
    train_rows = [{"epoch": e, "train_loss": 2.0 / e} for e in range(1, 13, 2)]  # odd epochs
    rows = [
        {**v, **next((t for t in train_rows if t["epoch"] == v["epoch"]), {})} for v in val_rows
    ]
    assert ids(rows) == ["overfitting"]


def test_jitter_on_a_converged_loss_is_not_oscillation():
    train = [1.0, 0.1, 0.01, 0.001] + [1e-6 * (1.5 if i % 2 else 0.5) for i in range(10)]
    assert "loss_oscillating" not in ids(columns(train_loss=train))


def test_tiny_gradients_growing_is_not_exploding():
    grads = [1e-6, 1e-6, 1e-6, 1e-5, 1e-4, 1e-3]
    assert ids(columns(grad_norm=grads)) == []


def test_zero_based_epochs_count_as_done():
    run = make_run(
        [{"epoch": e, "train_loss": 1.0 / (e + 1), "duration_s": 1.0} for e in range(10)],
        meta={"total_epochs": 10},
    )
    assert run.epochs_done == 10
    run.mtime = 0.0
    assert stalled(run, now=100_000.0) is None  # finished, not stalled

"""Every number the diagnostic rules use, in one place, each with its reason and its data.

"Checked on" names the runs the value was tried against: sample_runs/ (made by
scripts/make_sample_runs.py), the real logs in tests/corpus/<format>/ and the
labelled trainings in tests/corpus/labelled/ (scripts/make_labelled_runs.py).
benchmarks/diagnostics_eval.py prints every rule's precision and recall on that
set; tests/test_diagnostics_labelled.py fails when a rule starts missing or
over-firing on it. Moving a threshold means re-running both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """The rules' limits. Fractions are of the level named; counts are points of the curve.

    Trend rules and their windows
    -----------------------------
    min_epochs_for_trends: fewer finite points than this and no trend rule speaks:
        the first points of any run are too few to judge. (Checked on: the 3- and
        4-point generated Keras and MLflow logs stay silent.)
    window_fraction, window_min, window_max: the smoothing window is this fraction
        of the curve's points, at least window_min and at most window_max (odd):
        3 points on a 30-epoch run, 61 on a 600-point per-step log. A fixed epoch
        count cannot fit both a 20-epoch run and 3,000 logged steps. (Checked on:
        the labelled step runs, whose per-step noise the median removes.)
    max_trend_points: longer curves are reduced to block medians of at most this
        many points (5,000) before the trend and spike rules read them: a
        25-million-point log then costs what a 5,000-point one does (all rules on
        1M points: about 0.3 s), and a block median keeps its level. The price: a
        spike of a single logged step in such a log is lost in its block's median.

    Train loss
    ----------
    min_improvement: the smoothed train loss must have fallen at least this
        fraction (5%) below where it started, else it is "not decreasing".
        (Checked on: sample loss_not_decreasing (0.0%), testtube_flat_loss (0.1%)
        fire; every other run has fallen 12% or more.)
    converged_fraction: a loss whose recent level is below this fraction (5%) of
        its early level has converged: jitter there is not oscillation, tiny
        gradients there are not vanishing. (Checked on: sample overfitting, whose
        train loss sits at ~1e-4 after 1.33; step_converged_near_zero.)
    oscillation_step_block: a step run's curve is read as medians of at least this
        many logged points (3): one logged batch's loss is a sample, and per-step
        noise is normal. Fewer than oscillation_min_blocks blocks and the rule does
        not speak. (Checked on: fashion_test_rows, 15 single-batch losses, and the
        generated Lightning TensorBoard run, 12, which fired before.)
    oscillation_blocks: a step run is read as about this many blocks (40).
    oscillation_min_blocks: see oscillation_step_block (10).
    oscillation_recent: the fraction (1/3) of the (block) curve the rule reads,
        at least oscillation_min_recent (10) points.
    oscillation_swing: median point-to-point change, as a fraction of the recent
        median level (not of the first loss: a converged loss's noise is larger
        than 1% of where it started), above which the loss "swings wildly".
        Healthy epoch means move under 3%; the sample oscillating run 34%, the
        far-too-high-LR runs 21% (epochs) and over 50% (steps). The step runs'
        block medians of healthy noisy training move 13-16%: the step limit is
        oscillation_step_swing (25%).
    oscillation_turns: the fraction of consecutive changes that reverse sign (0.5).
    oscillation_trend: how far the level moved between the window's two halves
        (their medians), in median swings, below which there is "no trend": 1. A
        noisy descent moves 2-3 swings per half window; the sample oscillating run
        0.33, the far-too-high-LR epoch run 0.45. (The ratio of net change to total
        variation used before hung on the window's two end points: one high point
        at the start read as a trend.)

    Divergence and spikes
    ---------------------
    diverge_rise: the smoothed train loss must end at least this multiple (2x)
        of its smoothed running minimum. (The CTC run in the issue: 2,114 -> ~8,500,
        4x; step_diverging: 0.023 -> 1.39, 60x; no healthy run ends above 1.3x.)
    diverge_of_start: and the rise must be at least this fraction (10%) of the
        first value: a loss going from 1e-4 to 3e-4 after converging has not
        diverged in any sense that matters.
    diverge_hold, diverge_min_hold: the smoothed loss must have stayed above the
        limit for at least this fraction (10%) of the curve's points, at least one
        window and at least diverge_min_hold (5) points: "and stays there", not a
        spike on its way back down, nor the high half of a zigzag on a short run.
    spike_window_fraction, spike_window_min, spike_window_max: the recent level a
        point is compared to is the median of the previous window (5% of the
        points, 10 to 100; llm-foundry's loss-spike callback uses 100 steps).
    spike_factor: a point above this multiple (2x, llm-foundry's) of that median
        is an outlier...
    spike_noise: ...if it is also this many (20) times the window's median
        point-to-point change above the median: per-batch losses are heavy-tailed,
        and near convergence a loss of 0.15 after a stretch at 0.015 is noise. Noise
        reached 8-13 such units on the healthy and converged step logs (the Flemish
        Whisper fine-tune in hf_trainer/, 13.4: a false alarm at 12, found on real
        logs labelled before the rules were run on them); the spikes of the labelled
        set are 700 and more, the unstable epoch_diverging run's jump 24. The price:
        a stretch of bad batches at 4x the level inside batch-16 noise
        (step_partial_spike, 6.6 units) is not told from the noise.
    spike_recovery: the fraction of the jump (50%) the loss must give back within
        one window after its peak: a jump that stays up is a divergence, not a
        spike. (Checked on: epoch_spike, step_spike recover; step_diverging and the
        sample exploding run never come back.)

    Validation loss
    ---------------
    overfit_recent: the window (evaluation points) of the trailing means the
        overfitting rule compares, so one noisy evaluation decides nothing.
    overfit_rise: how far the recent val loss (trailing mean) must sit above its
        best trailing mean to count (10%).
    overfit_patience: evaluation points that must have passed since that best.
    overfit_train_drop: the train loss must have fallen at least this fraction
        (2%) since then ("kept falling"), and by more than its own noise (median
        point-to-point change since then): a loss swinging 20% per epoch (an LR far
        too high) that happens to end low has not fallen. (Checked on: the labelled
        lr_far_too_high run, whose val loss drifts 12% up, no longer "overfits".)
    overfit_train_level: train's level at the val best and at the end is the median
        of a window of its points (a tenth of them), at least this many (5): the
        median of 3 points of a zigzag is one of its sides.

    Early stopping (no_improvement, advice only)
    --------------------------------------------
    stop_patience_fraction, stop_patience_min: the patience of the early stopping
        the finding simulates: 10% of the evaluation points, at least 3
        (4 on a 40-epoch run, 10 on 102 epochs).
    stop_min_delta: an evaluation is a new best only when it beats the best so far
        by this fraction (1%) of it, as EarlyStopping's min_delta does.
    stop_min_saved: the finding speaks when stopping would have saved at least
        this fraction (25%) of the run's steps. (Checked on: whisper_wer_early_stop,
        val best at step 250 of 1,500; car_overfitting, best epoch 42 of 100.)

    Gradients and stalls
    --------------------
    explode_growth: gradient norm this many times its early median is "growing by
        orders of magnitude" (two orders).
    explode_min_peak: the grown norm must also reach this (1.0): a norm going from
        1e-6 to 1e-3 (a frozen backbone thawing) is not exploding.
    explode_critical_growth: growth at or above which it is critical.
    vanish_norm: gradient norm (median of the last 3 points) below which gradients
        are "near zero".
    vanish_stuck: recent relative train-loss improvement below which the loss is
        "not improving".
    stall_factor, stall_min_s: a live run is stalled when nothing was written for
        stall_factor times its mean epoch duration (the summary's figure), and at
        least stall_min_s seconds.
    """

    min_epochs_for_trends: int = 5
    window_fraction: float = 0.1
    window_min: int = 3
    window_max: int = 101
    max_trend_points: int = 5_000
    min_improvement: float = 0.05
    converged_fraction: float = 0.05
    oscillation_step_block: int = 3
    oscillation_blocks: int = 40
    oscillation_min_blocks: int = 10
    oscillation_recent: float = 1 / 3
    oscillation_min_recent: int = 10
    oscillation_swing: float = 0.10
    oscillation_step_swing: float = 0.25
    oscillation_turns: float = 0.5
    oscillation_trend: float = 1.0
    diverge_rise: float = 2.0
    diverge_of_start: float = 0.10
    diverge_hold: float = 0.10
    diverge_min_hold: int = 5
    spike_window_fraction: float = 0.05
    spike_window_min: int = 10
    spike_window_max: int = 100
    spike_factor: float = 2.0
    spike_noise: float = 20.0
    spike_recovery: float = 0.5
    overfit_rise: float = 0.10
    overfit_recent: int = 3
    overfit_patience: int = 3
    overfit_train_drop: float = 0.02
    overfit_train_level: int = 5
    stop_patience_fraction: float = 0.10
    stop_patience_min: int = 3
    stop_min_delta: float = 0.01
    stop_min_saved: float = 0.25
    explode_growth: float = 100.0
    explode_min_peak: float = 1.0
    explode_critical_growth: float = 10_000.0
    vanish_norm: float = 1e-4
    vanish_stuck: float = 0.01
    stall_factor: float = 5.0
    stall_min_s: float = 60.0


THRESHOLDS = Thresholds()

"""spikes() takes the window medians only where a point is above spike_factor times the
window's lowest value: its spikes are the ones the medians of every window give."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.analysis.diagnostics import THRESHOLDS
from metricwatch.analysis.levels import reduced, row_medians
from metricwatch.analysis.rules_loss import _outliers, spike_window, spikes
from metricwatch.model import Series


def _every_window(values: np.ndarray, window: int, limits) -> tuple[np.ndarray, np.ndarray]:
    """The baselines and outliers from the medians of every window, one by one: point i's
    baseline is the median of the window before it, its spread the median of the changes
    inside that window (the former spikes(), through trailing medians of the whole curve)."""
    n = len(values)
    changes = np.abs(np.diff(values))
    base, outlier = np.full(n, np.nan), np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):  # 1e308s: inf, as the rule has them
        for i in range(window, n):
            base[i] = np.median(values[i - window : i])
            spread = np.median(changes[i - window : i - 1])
            outlier[i] = values[i] > limits.spike_factor * base[i] and (
                values[i] - base[i] > limits.spike_noise * spread
            )
    return base, outlier


def _same(values: np.ndarray, limits=THRESHOLDS) -> None:
    window = spike_window(len(values), limits)
    if len(values) <= window + 1:
        return
    base, outlier = _outliers(values, window, limits)
    expected_base, expected = _every_window(values, window, limits)
    assert np.array_equal(outlier, expected)
    taken = ~np.isnan(base)
    assert taken[outlier].all()  # every outlier's baseline is there for its finding
    assert np.array_equal(base[taken], expected_base[taken])  # bit for bit


curves = st.lists(
    st.one_of(
        st.floats(0, 10, allow_nan=False),
        st.sampled_from([0.0, 1.0, 1e-300, 5e307, 1e308]),
    ),
    min_size=12,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(curves)
def test_outliers_are_those_of_every_windows_median(values):
    _same(np.array(values))


@settings(max_examples=60, deadline=None)
@given(curves, st.sampled_from([0.0, -1.0, 0.5, 1.0, 3.0]))
def test_any_spike_factor_gives_the_every_window_outliers(values, factor):
    """At a factor of 0 or below the lowest value bounds nothing: every point is taken."""
    _same(np.array(values), replace(THRESHOLDS, spike_factor=factor))


def test_a_long_noisy_curve_with_spikes_gives_the_same_findings():
    rng = np.random.default_rng(7)
    values = np.exp(-np.linspace(0, 3, 400_000)) + rng.random(400_000) * 0.05
    values[rng.integers(0, 400_000, 40)] *= 60  # single points: gone in block medians
    values[150_000:151_500] += 4.0  # a burst as long as a few blocks: a spike
    reduced_values, _ = reduced(values, THRESHOLDS)
    _same(reduced_values)
    found = spikes(Series("train_loss", np.arange(400_000), values), THRESHOLDS)
    assert [(peak // 1000, back // 1000) for peak, back, _, _ in found] == [(150, 151)]


def test_row_medians_are_np_medians_of_those_rows():
    rows = np.lib.stride_tricks.sliding_window_view(np.arange(40.0) % 7, 6)
    which = np.array([0, 3, 3, 34])
    assert np.array_equal(row_medians(rows, which), np.median(rows[which], axis=1))
    assert row_medians(rows, np.array([], dtype=int)).shape == (0,)

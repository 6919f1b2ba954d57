"""early_stop_index found from one new best to the next equals the rule applied evaluation
by evaluation (Keras' and Lightning's EarlyStopping), on any values."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.analysis.rules_stopping import early_stop_index


def reference(values, higher: bool, patience: int, min_delta: float) -> int:
    best = float(values[0])
    wait = 0
    for i in range(1, len(values)):
        value = float(values[i])
        margin = min_delta * abs(best)
        better = value > best + margin if higher else value < best - margin
        if better:
            best, wait = value, 0
            continue
        wait += 1
        if wait >= patience:
            return i
    return len(values) - 1


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -0.0, 1.0, 0.99, 1.01, 5e-324])),
        min_size=1,
        max_size=300,
    ),
    st.booleans(),
    st.integers(0, 80),
    st.sampled_from([0.0, 0.01, 0.5, 1e-12]),
)
def test_equals_the_rule_applied_one_evaluation_at_a_time(values, higher, patience, delta):
    array = np.array(values, dtype=np.float64)
    assert early_stop_index(array, higher, patience, delta) == reference(
        array, higher, patience, delta
    )


def test_long_runs_with_bests_near_and_far_apart():
    rng = np.random.default_rng(11)
    falling = 2.0 * np.exp(-np.arange(20_000) / 3_000) + 0.05 * rng.random(20_000)
    plateau = np.concatenate([falling, np.full(5_000, falling.min() + 0.1)])
    steps = np.repeat(np.array([5.0, 4.0, 3.0, 2.9, 2.0]), [70, 130, 10, 200, 3])
    for values in (falling, plateau, steps, -falling, falling[::-1]):
        for higher in (False, True):
            for patience in (1, 3, 64, 65, 129, 2_000):
                expected = reference(values, higher, patience, 0.01)
                assert early_stop_index(values, higher, patience, 0.01) == expected

"""The debiased EMA against TensorBoard's loop, at block edges, extremes and non-finite points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricwatch.analysis.smoothing import WEIGHTS, debiased_ema, extend_ema


def tensorboard_loop(values, weight):
    """TensorBoard's smoothing as its dashboard computes it, one point at a time."""
    out, last, count = [], 0.0, 0
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        count += 1
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**count))
    return np.array(out)


@pytest.mark.parametrize("weight", [w for w in WEIGHTS if w] + [0.999])
def test_it_is_tensorboards_smoothing_across_blocks(weight):
    rng = np.random.default_rng(7)
    values = rng.normal(3.0, 0.5, size=5000)  # longer than a block for every weight
    values[[0, 1127, 1128, 2254]] = [40.0, -3.0, 1e6, 0.25]
    mine, theirs = debiased_ema(values, weight), tensorboard_loop(values, weight)
    assert np.max(np.abs(mine - theirs) / np.abs(theirs)) < 1e-12


def test_the_first_point_is_itself_and_a_constant_stays_constant():
    assert debiased_ema(np.array([7.5, 1.0]), 0.9)[0] == pytest.approx(7.5, rel=1e-15)
    assert np.allclose(debiased_ema(np.full(3000, 0.125), 0.99), 0.125, rtol=1e-14, atol=0)


def test_nan_and_inf_pass_through_and_do_not_enter_the_average():
    values = np.array([1.0, math.nan, 3.0, math.inf, -math.inf, 5.0])
    out = debiased_ema(values, 0.5)
    assert math.isnan(out[1]) and out[3] == math.inf and out[4] == -math.inf
    # 1, then 3: (0.5*0.5*1 + 0.5*3) / (1 - 0.25) = 7/3; then 5.
    assert out[2] == pytest.approx(7 / 3, rel=1e-15)
    assert out[5] == pytest.approx(((0.25 + 1.5) * 0.5 + 2.5) / (1 - 0.125), rel=1e-15)
    assert np.array_equal(
        debiased_ema(np.array([math.nan, math.nan]), 0.9), [math.nan] * 2, equal_nan=True
    )


def test_weight_zero_is_the_raw_curve_and_a_weight_outside_is_refused():
    values = np.array([3.0, 1.0, 2.0])
    out = debiased_ema(values, 0.0)
    assert out.tolist() == [3.0, 1.0, 2.0] and out is not values
    for weight in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="not in \\[0, 1\\)"):
            debiased_ema(values, weight)


def test_extreme_values_stay_finite_and_right():
    values = np.array([1e300, 1.7e308, -1.7e308, 5e-324, 1e-300])
    with np.errstate(all="raise"):
        out = debiased_ema(values, 0.9)
    with np.errstate(all="ignore"):
        expected = tensorboard_loop(values, 0.9)
    assert np.all(np.isfinite(out))
    assert np.allclose(out, expected, rtol=1e-13, atol=0)
    assert debiased_ema(np.array([]), 0.9).tolist() == []


def test_integers_are_smoothed_as_floats():
    out = debiased_ema(np.array([1, 2, 4]), 0.5)
    assert out.dtype == np.float64
    assert out.tolist() == pytest.approx([1.0, 5 / 3, 3.0], rel=1e-15)


def test_a_weight_so_small_it_is_almost_the_raw_curve():
    out = debiased_ema(np.array([1.0, 2.0, 3.0]), 1e-300)
    assert out.tolist() == pytest.approx([1.0, 2.0, 3.0], rel=1e-15)


def test_a_long_run_of_the_largest_floats_stays_finite():
    values = np.tile([1.7e308, -1.7e308, 1.7e308], 700)  # longer than one block of 0.9
    with np.errstate(all="raise"):
        out = debiased_ema(values, 0.9)
    assert np.all(np.isfinite(out))
    with np.errstate(all="ignore"):
        expected = tensorboard_loop(values / 1e10, 0.9) * 1e10  # the loop overflows at 1e308
    assert np.allclose(out, expected, rtol=1e-9, atol=0)


def test_a_series_grown_in_pieces_is_smoothed_as_a_whole_computing_only_the_new_points():
    from metricwatch.analysis.smoothing import extend_ema

    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 0.2, size=5000)
    values[[10, 2600]] = [math.nan, math.inf]
    whole = debiased_ema(values, 0.95)
    smoothed = None
    for end in (1, 7, 11, 2600, 2601, 4999, 5000, 5000):
        smoothed = extend_ema(smoothed, values[:end], 0.95)
        assert np.array_equal(smoothed.out, whole[:end], equal_nan=True) or np.allclose(
            smoothed.out, whole[:end], rtol=1e-13, atol=0, equal_nan=True
        )
    assert smoothed.count == 4998  # the finite points
    # Only the new points go through the average.
    import metricwatch.analysis.smoothing as smoothing

    seen = []
    real = smoothing._ema
    try:
        smoothing._ema = lambda x, w, carry=0.0, **kw: (
            seen.append(len(x)) or real(x, w, carry, **kw)
        )
        grown = extend_ema(extend_ema(None, values[:4000], 0.95), values, 0.95)
    finally:
        smoothing._ema = real
    assert seen == [3998, 1000]  # the finite points: a NaN and an Inf are before 4000
    assert np.allclose(grown.out, whole, rtol=1e-13, atol=0, equal_nan=True)


def test_a_changed_prefix_another_weight_or_a_shorter_series_is_smoothed_afresh():
    from metricwatch.analysis.smoothing import extend_ema

    values = np.array([4.0, 2.0, 1.0, 0.5])
    first = extend_ema(None, values[:3], 0.5)
    resumed = np.array([4.0, 3.0, 1.0, 0.5])  # a point before the end replaced
    for previous, new, weight in (
        (first, resumed, 0.5),
        (first, values, 0.6),
        (first, values[:2], 0.5),
    ):
        out = extend_ema(previous, new, weight).out
        assert out.tolist() == pytest.approx(tensorboard_loop(new, weight).tolist(), rel=1e-14)


def test_a_million_points_underflow_nothing():
    values = np.linspace(1.0, 0.0, 1_000_000)
    with np.errstate(all="raise"):
        out = debiased_ema(values, 0.9)
    assert out[-1] == pytest.approx(9 * 1e-6 * (1 - 0.9) / 0.1 + 0.0, abs=1e-5)


def _reference(previous, values, weight):
    """extend_ema as it was written before it smoothed in place and debiased in blocks: the
    same arithmetic on whole arrays (the numbers must not move by a bit)."""
    from metricwatch.analysis import smoothing

    start, average, count, head = 0, 0.0, 0, None
    if previous is not None:
        start, average, count, head = (
            len(previous.values),
            previous.average,
            previous.count,
            previous.out,
        )
    tail = np.asarray(values, dtype=np.float64)[start:].copy()
    finite = np.isfinite(tail)
    if weight > 0.0 and finite.any():
        x = tail[finite]
        ema = smoothing._ema(x, weight, average)
        n = count + np.arange(1, len(x) + 1)
        with np.errstate(under="ignore"):
            tail[finite] = ema / (1.0 - weight**n)
        average, count = float(ema[-1]), count + len(x)
    out = tail if head is None else np.concatenate([head, tail])
    return out, average, count


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99])
@pytest.mark.parametrize("cut", [None, 1, 65_535, 65_536, 70_000])
@pytest.mark.parametrize("all_finite", [False, True])
def test_in_place_blocked_smoothing_is_bit_for_bit_the_whole_array_formula(weight, cut, all_finite):
    from metricwatch.analysis import smoothing
    from metricwatch.analysis.smoothing import extend_ema

    assert smoothing._DEBIAS_BLOCK == 65_536
    rng = np.random.default_rng(7)
    values = rng.normal(3.0, 2.0, 140_001)  # over two debias blocks past any cut
    if not all_finite:  # else smoothed where it is, without gathering the finite values
        values[[5, 65_536, 65_540, 100_000]] = [np.nan, np.inf, -np.inf, np.nan]
    previous = None if cut is None else extend_ema(None, values[:cut], weight)
    got = extend_ema(previous, values, weight)
    out, average, count = _reference(previous, values, weight)
    assert got.out.tobytes() == out.tobytes()
    assert (got.average, got.count) == (average, count)
    assert got.values is values or np.array_equal(got.values, values, equal_nan=True)


@pytest.mark.parametrize("weight", [0.9, 0.999])
def test_the_debiasing_ends_where_it_divides_by_exactly_one(weight):
    """Past the point where 1 - w^n is 1.0 (w = 0.999: 36,000-odd points, within the first
    block of the debiasing; beyond it, whole blocks are skipped), and for points appended
    after it (their count starts there), the curve is still TensorBoard's."""
    values = np.random.default_rng(3).normal(1.0, 0.2, size=140_000)
    values[[5, 70_000]] = [np.nan, np.inf]
    theirs = tensorboard_loop(values, weight)
    whole = debiased_ema(values, weight)
    assert np.allclose(whole, theirs, rtol=1e-12, atol=0, equal_nan=True)
    start = extend_ema(None, values[:100_000], weight)
    grown = extend_ema(start, values, weight).out
    assert np.allclose(grown, theirs, rtol=1e-12, atol=0, equal_nan=True)
    first_one = next(n for n in range(1, 10**6) if 1.0 - weight**n == 1.0)
    assert whole[first_one + 10] != values[first_one + 10]  # smoothed there, not raw

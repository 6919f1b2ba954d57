"""downsample.reduce_minmax: fewer points, same extremes, NaN/Inf kept apart."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metricwatch.analysis.downsample import reduce_minmax


def test_one_epoch_spike_in_a_million_points_survives():
    n = 1_000_000
    x = np.arange(1, n + 1, dtype=float)
    y = np.sin(x / 5000.0)
    y[654_321] = 40.0  # one epoch
    y[123_456] = -40.0
    reduced = reduce_minmax(x, y, 120)
    assert len(reduced) <= 240
    assert reduced.y.max() == 40.0 and reduced.y.min() == -40.0
    assert 654_322.0 in reduced.x and 123_457.0 in reduced.x  # at its own epoch


def test_every_column_keeps_its_min_and_max():
    rng = np.random.default_rng(7)
    x = np.arange(10_000, dtype=float)
    y = rng.normal(size=10_000)
    columns = 50
    reduced = reduce_minmax(x, y, columns)
    for column in range(columns):
        lo, hi = column * 200, (column + 1) * 200
        inside = (reduced.x >= lo) & (reduced.x < hi)
        assert reduced.y[inside].max() == y[lo:hi].max()
        assert reduced.y[inside].min() == y[lo:hi].min()


def test_points_stay_in_time_order():
    x = np.arange(5_000, dtype=float)
    y = np.cos(x / 50)
    reduced = reduce_minmax(x, y, 40)
    assert np.all(np.diff(reduced.x) >= 0)


@pytest.mark.parametrize("n", [0, 1, 2, 10, 240])
def test_short_series_are_returned_unchanged(n):
    x = np.arange(n, dtype=float)
    y = x * 2
    reduced = reduce_minmax(x, y, 120)
    assert np.array_equal(reduced.x, x) and np.array_equal(reduced.y, y)


def test_constant_columns_give_one_point_each():
    x = np.arange(1_000, dtype=float)
    reduced = reduce_minmax(x, np.ones(1_000), 10)
    assert len(reduced) == 10


def test_nan_and_inf_are_returned_apart_never_dropped_silently():
    x = np.arange(1, 101, dtype=float)
    y = np.linspace(1, 0, 100)
    y[[11, 12, 50]] = [np.nan, np.inf, -np.inf]
    reduced = reduce_minmax(x, y, 200)
    assert np.all(np.isfinite(reduced.y))
    assert list(reduced.nonfinite_x) == [12.0, 13.0, 51.0]
    assert len(reduced) == 97


def test_many_nan_points_give_one_marker_per_column():
    x = np.arange(100_000, dtype=float)
    y = np.full(100_000, np.nan)
    reduced = reduce_minmax(x, y, 80)
    assert len(reduced) == 0
    assert 1 <= len(reduced.nonfinite_x) <= 80


def test_gaps_in_epochs_stay_gaps():
    x = np.r_[np.arange(0, 500), np.arange(9_500, 10_000)].astype(float)
    y = np.ones_like(x)
    reduced = reduce_minmax(x, y, 100)
    assert not np.any((reduced.x > 600) & (reduced.x < 9_400))


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        reduce_minmax([1, 2, 3], [1, 2], 10)


@pytest.mark.parametrize(
    "x",
    [
        np.linspace(-1.0, 1.0, 10_000) * 1.7e308,  # the x span overflows
        np.arange(10_000) * 5e-324,  # the x span is denormal: columns / span overflows
        np.arange(10_000) + 1e15,  # far from zero
    ],
    ids=["span-overflows", "denormal-span", "offset"],
)
def test_columns_stay_columns_at_the_float_limits(x):
    rng = np.random.default_rng(3)
    y = rng.normal(size=len(x))
    columns = 50
    with np.errstate(all="raise"):
        reduced = reduce_minmax(x, y, columns)
    assert 50 <= len(reduced) <= 100  # a min and a max per column, not one bin for everything
    for column in range(columns):
        lo, hi = column * 200, (column + 1) * 200
        inside = (reduced.x >= x[lo]) & (reduced.x <= x[hi - 1])
        assert reduced.y[inside].max() == y[lo:hi].max()
        assert reduced.y[inside].min() == y[lo:hi].min()


def test_extreme_values_are_reduced_like_any_other():
    x = np.arange(10_000, dtype=float)
    y = np.where(x % 2 == 0, 1.7e308, -1.7e308)
    y[5] = 5e-324
    reduced = reduce_minmax(x, y, 20)
    assert reduced.y.max() == 1.7e308 and reduced.y.min() == -1.7e308
    assert len(reduced) <= 40


def test_points_out_of_order_or_without_a_place_are_handled():
    x = np.array([3.0, 1.0, np.nan, 2.0, np.inf])
    y = np.array([30.0, 10.0, 99.0, 20.0, 99.0])
    reduced = reduce_minmax(x, y, 10)
    assert reduced.x.tolist() == [1.0, 2.0, 3.0]  # sorted; NaN/Inf epochs have no column
    assert reduced.y.tolist() == [10.0, 20.0, 30.0]


def _starts_by_definition(x: np.ndarray, columns: int) -> np.ndarray:
    """Every point's column computed, then where it changes: what the search must find."""
    from metricwatch.analysis.downsample import _bins

    bins = _bins(x, float(x[0]), float(x[-1]), columns)
    return np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))


@pytest.mark.parametrize(
    "x",
    [
        np.arange(3, 100_003, dtype=float),  # one point a step: an edge on a point
        np.repeat(np.arange(0.0, 500.0, 0.25), 50),  # long runs of equal x across edges
        np.sort(np.random.default_rng(3).normal(size=20_000)) * 1e-300,  # tiny span
        np.concatenate([np.zeros(5_000), np.linspace(1.0, 2.0, 5_000)]),  # empty columns
        np.sort(np.random.default_rng(4).uniform(0, 1e308, 5_000) * np.tile([-1, 1], 2_500)),
        np.nextafter(1.0, 2.0) * np.arange(1, 4_001) / 3,  # edges within rounding
    ],
    ids=["steps", "runs", "tiny", "gap", "huge", "rounding"],
)
@pytest.mark.parametrize("columns", [2, 7, 34, 120])
def test_column_starts_found_by_search_equal_the_definition(x, columns):
    from metricwatch.analysis.downsample import _column_starts

    np.testing.assert_array_equal(_column_starts(x, columns), _starts_by_definition(x, columns))


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=40, max_size=3_000),
    st.integers(2, 60),
)
def test_column_starts_equal_the_definition_on_any_sorted_series(values, columns):
    from metricwatch.analysis.downsample import _column_starts

    x = np.sort(np.array(values))
    np.testing.assert_array_equal(_column_starts(x, columns), _starts_by_definition(x, columns))


def test_fraction_of_maps_nan_and_out_of_range_to_the_edges():
    from metricwatch.analysis.downsample import fraction_of

    x = np.array([np.nan, -np.inf, -5.0, 2.0, 3.5, 7.0, 9.0, np.inf])
    np.testing.assert_array_equal(
        fraction_of(x, 2.0, 7.0), [0.0, 0.0, 0.0, 0.0, 0.3, 1.0, 1.0, 1.0]
    )


@pytest.mark.parametrize(
    ("lo", "hi", "columns", "k"),
    [
        (-966.9447289429418, -153.67430301290858, 130, 118),  # the point below the edge: in k
        (714.8085531751387, 748.3950948950278, 153, 111),  # the point at the edge: in k - 1
        (-400.5762189252305, 22.111579585206755, 81, 3),
    ],
)
def test_a_point_within_rounding_of_a_columns_edge_is_where_the_definition_puts_it(
    lo, hi, columns, k
):
    """The searched edge (lo + span * k / columns) and a point's column (floor of its
    scaled offset) round differently an ulp away from the edge: the search is checked
    against the definition on both sides of the edge, and falls back to it."""
    from metricwatch.analysis.downsample import _bins, _column_starts

    edge = lo + (hi - lo) * (k / columns)
    near = [np.nextafter(edge, -np.inf), edge, np.nextafter(edge, np.inf)]
    x = np.sort(np.concatenate([np.linspace(lo, hi, 40 * columns), near]))
    assert _bins(np.array(near), lo, hi, columns).tolist() != [k - 1, k, k]  # rounding bites
    np.testing.assert_array_equal(_column_starts(x, columns), _starts_by_definition(x, columns))

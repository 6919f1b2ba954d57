"""Medians taken a chunk of rows at a time (bounded temporaries) are the medians of all rows."""

from __future__ import annotations

import numpy as np
import pytest

from metricwatch.analysis import levels


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 17])
@pytest.mark.parametrize("window", [1, 2, 5, 50])
def test_row_medians_are_the_same_in_any_chunks(monkeypatch, chunk, window):
    rng = np.random.default_rng(window)
    values = rng.normal(size=1_000) * 10.0 ** rng.integers(-3, 3, size=1_000)
    values[[10, 500]] = [np.nan, np.inf]
    rows = np.lib.stride_tricks.sliding_window_view(values, window)
    which = rng.integers(0, len(rows), size=300)
    whole = levels.row_medians(rows, which)
    monkeypatch.setattr(levels, "_CHUNK_VALUES", chunk)
    assert np.array_equal(levels.row_medians(rows, which), whole, equal_nan=True)
    expected = [np.median(values[i : i + window]) for i in which]
    assert np.array_equal(whole, expected, equal_nan=True)


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 17])
@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_block_medians_are_the_same_in_any_chunks(monkeypatch, chunk, size):
    values = np.sin(np.arange(2_345.0)) * np.arange(2_345.0)
    values[77] = np.nan
    medians, ends = levels.block_medians(values, size)
    monkeypatch.setattr(levels, "_CHUNK_VALUES", chunk)
    again, again_ends = levels.block_medians(values, size)
    assert np.array_equal(again, medians, equal_nan=True) and np.array_equal(again_ends, ends)
    whole = len(values) // size
    expected = np.median(values[: whole * size].reshape(whole, size), axis=1)
    assert np.array_equal(medians[:whole], expected, equal_nan=True)

"""Block medians are taken once per read-only curve and size within an analysis (the rules
ask for them four times at two sizes), and again for anything that could have changed."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from metricwatch.analysis import levels
from metricwatch.analysis.levels import block_medians


@pytest.fixture()
def taken(monkeypatch) -> list[int]:
    """The sizes block medians were worked out for (not handed back from the memo)."""
    sizes: list[int] = []
    original = levels._block_medians

    def counting(values, size):
        sizes.append(size)
        return original(values, size)

    monkeypatch.setattr(levels, "_block_medians", counting)
    monkeypatch.setattr(levels, "_LAST_BLOCKS", levels._LastBlocks())
    return sizes


def _frozen(values) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


def test_the_same_read_only_curve_and_size_is_worked_out_once(taken):
    curve = _frozen(np.arange(100.0) % 13)
    first = block_medians(curve, 10)
    assert block_medians(curve, 10) is first
    other = block_medians(curve, 7)
    assert block_medians(curve, 10) is first and block_medians(curve, 7) is other
    assert taken == [10, 7]
    medians, ends = first
    assert np.array_equal(medians, np.median(np.arange(100.0).reshape(10, 10) % 13, axis=1))
    assert np.array_equal(ends, np.arange(9, 100, 10))
    with pytest.raises(ValueError):
        medians[0] = 1.0  # shared by the rules that ask: read-only


def test_a_writable_curve_or_an_equal_copy_is_worked_out_again(taken):
    curve = np.arange(40.0)
    before = block_medians(curve, 4)[0].copy()
    curve[:4] = 100.0
    after = block_medians(curve, 4)[0]
    assert after[0] == 100.0 and before[0] == 1.5
    frozen = _frozen(np.arange(40.0))
    block_medians(frozen, 4)
    block_medians(_frozen(np.arange(40.0)), 4)  # equal values, another array
    assert taken == [4, 4, 4, 4]


def test_four_are_kept_the_oldest_goes_first(taken):
    curves = [_frozen(np.arange(30.0) + k) for k in range(5)]
    for curve in curves:
        block_medians(curve, 3)
    for curve in curves[1:]:
        block_medians(curve, 3)
    assert len(taken) == 5
    block_medians(curves[0], 3)
    assert len(taken) == 6


def test_a_curve_gone_is_not_taken_for_a_new_one(taken):
    curve = _frozen(np.arange(30.0))
    block_medians(curve, 3)
    del curve
    gc.collect()
    assert levels._LAST_BLOCKS.get(_frozen(np.arange(30.0)), 3) is None
    assert all(held() is None for held, _, _ in levels._LAST_BLOCKS.kept)


def test_another_thread_works_its_own_out(taken):
    curve = _frozen(np.arange(30.0))
    block_medians(curve, 3)
    thread = threading.Thread(target=block_medians, args=(curve, 3))
    thread.start()
    thread.join()
    assert taken == [3, 3]


def test_a_block_of_one_point_is_the_curve_itself(taken):
    curve = _frozen([3.0, 1.0, 2.0])
    medians, ends = block_medians(curve, 1)
    assert np.array_equal(medians, curve) and np.array_equal(ends, [0, 1, 2])
    assert taken == []

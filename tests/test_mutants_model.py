"""The plain data types at their edges, found by mutation testing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from metricwatch.model import (
    _NO_STEPS,
    _NO_VALUES,
    EPOCH,
    STEP,
    Problem,
    ProblemKind,
    Run,
    Series,
    Table,
    _frozen,
)


def run_of(table: Table, meta=None) -> Run:
    return Run("r", Path("r"), table, meta=meta or {})


def test_problem_kinds_are_stable_strings():
    assert {kind.name: kind.value for kind in ProblemKind} == {
        "EMPTY": "empty",
        "TRUNCATED": "truncated",
        "INVALID_JSON": "invalid_json",
        "NOT_OURS": "not_ours",
        "ENCODING": "encoding",
        "NON_NUMERIC": "non_numeric",
        "BAD_EPOCH": "bad_epoch",
        "RESTART": "restart",
        "UNREADABLE": "unreadable",
        "MISSING": "missing",
        "INTERNAL_ERROR": "internal_error",
    }
    assert str(Problem(ProblemKind.RESTART, "the run restarted at epoch 3")) == (
        "the run restarted at epoch 3"
    )
    assert (EPOCH, STEP) == ("epoch", "step")


def test_the_shared_empty_arrays_are_read_only():
    assert _NO_STEPS.dtype == np.int64 and _NO_VALUES.dtype == np.float64
    assert not _NO_STEPS.flags.writeable and not _NO_VALUES.flags.writeable
    with pytest.raises(ValueError):
        _NO_VALUES.resize(3)


def test_frozen_converts_and_makes_read_only_without_copying_a_frozen_array():
    frozen = _frozen([1, 2], np.float64)
    assert frozen.dtype == np.float64 and not frozen.flags.writeable
    assert _frozen(frozen, np.float64) is frozen


def test_series_arrays_are_converted_and_read_only():
    s = Series("k", [1, 2], [3, 4], [0.5, 1.0], [10, 20])
    assert s.steps.dtype == np.int64 and s.values.dtype == np.float64
    assert s.epochs.dtype == np.float64 and s.times.dtype == np.float64
    for array in (s.steps, s.values, s.epochs, s.times):
        assert not array.flags.writeable
    assert s.epochs.tolist() == [0.5, 1.0] and s.times.tolist() == [10.0, 20.0]


def test_series_shapes_must_agree():
    with pytest.raises(ValueError, match=r"^series 'k': steps and values differ in shape$"):
        Series("k", np.array([1, 2]), np.array([1.0]))
    with pytest.raises(ValueError, match="steps and values"):
        Series("k", np.array([[1, 2]]), np.array([[1.0, 2.0]]))  # same shape, but 2-D
    with pytest.raises(ValueError, match=r"^series 'k': times and values differ in shape$"):
        Series("k", np.array([1, 2]), np.array([1.0, 2.0]), None, np.array([1.0]))
    with pytest.raises(ValueError, match="epochs and values"):
        Series("k", np.array([1, 2]), np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert len(Series("k", np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))) == 3
    assert len(Series("k")) == 0


def test_take_and_finite():
    s = Series("k", [1, 2, 3], [1.0, math.inf, 3.0], None, [7.0, 8.0, 9.0])
    taken = s.take(np.array([2, 0]))
    assert taken.key == "k" and taken.steps.tolist() == [3, 1]
    assert taken.values.tolist() == [3.0, 1.0]
    assert taken.epochs is None and taken.times.tolist() == [9.0, 7.0]
    finite = s.finite()
    assert finite.steps.tolist() == [1, 3] and finite.times.tolist() == [7.0, 9.0]
    assert finite.epochs is None
    whole = Series("k", [1, 2], [1.0, 2.0])
    assert whole.finite() is whole
    assert len(Series("k", [1], [math.nan]).finite()) == 0


def test_last_last_step_and_epoch_at():
    s = Series("k", [4, 9], [1.5, 2.5], [0.25, 0.75])
    assert (s.last, s.last_step) == (2.5, 9)
    assert (s.epoch_at(0), s.epoch_at(1), s.epoch_at(-1)) == (0.25, 0.75, 0.75)
    assert Series("k", [4], [1.5]).epoch_at(0) is None
    empty = Series("k")
    assert (empty.last, empty.last_step) == (None, None)
    assert isinstance(s.last, float) and isinstance(s.last_step, int)


def test_table_from_rows_and_back():
    table = Table.from_rows([(2, {"a": 1.0}), (3, {"a": 2.0, "b": 5.0}), (5, {})], x=STEP)
    assert table.x == STEP and len(table) == 3
    assert table.steps.tolist() == [2, 3, 5] and not table.steps.flags.writeable
    assert table.steps.dtype == np.int64
    assert list(table.series) == ["a", "b"]
    assert table.series["a"].steps.tolist() == [2, 3]
    assert table.series["a"].values.tolist() == [1.0, 2.0]
    assert table.series["b"].steps.tolist() == [3] and table.series["b"].values.tolist() == [5.0]
    assert table.rows() == [
        {"step": 2, "a": 1.0},
        {"step": 3, "a": 2.0, "b": 5.0},
        {"step": 5},
    ]
    assert Table.from_rows([(1, {"a": 1.0})]).x == EPOCH
    assert len(Table()) == 0 and Table().rows() == [] and Table().x == EPOCH


def test_a_table_converts_its_steps():
    table = Table([1, 2, 3])
    assert isinstance(table.steps, np.ndarray) and table.steps.dtype == np.int64
    assert len(table) == 3 and not table.steps.flags.writeable
    assert Table(np.array([4, 5], dtype=np.int32)).steps.dtype == np.int64


def test_table_rows_are_sorted_and_include_series_steps_the_table_lacks():
    table = Table(
        np.array([1, 3]),
        {"a": Series("a", np.array([3, 2, 1]), np.array([30.0, 20.0, 10.0]))},
    )
    assert table.rows() == [
        {"epoch": 1, "a": 10.0},
        {"epoch": 2, "a": 20.0},
        {"epoch": 3, "a": 30.0},
    ]


def test_epochs_done_of_an_epoch_run():
    assert run_of(Table.from_rows([(0, {}), (1, {}), (2, {})])).epochs_done == 3
    assert run_of(Table.from_rows([(1, {}), (2, {})])).epochs_done == 2
    assert run_of(Table.from_rows([(5, {}), (7, {})])).epochs_done == 7
    assert run_of(Table.from_rows([(0, {})])).epochs_done == 1
    assert run_of(Table()).epochs_done == 0


def test_epochs_done_of_a_step_run_is_the_latest_whole_epoch():
    steps = np.array([100, 200])
    a = Series("a", steps, np.array([1.0, 2.0]), np.array([0.5, 2.75]))
    b = Series("b", steps, np.array([1.0, 2.0]), np.array([0.5, 1.5]))
    c = Series("c", steps, np.array([1.0, 2.0]))
    assert run_of(Table(steps, {"a": a, "b": b, "c": c}, STEP)).epochs_done == 2
    assert run_of(Table(steps, {"b": b, "c": c}, STEP)).epochs_done == 1
    assert run_of(Table(steps, {"c": c}, STEP)).epochs_done == 0
    # the epoch of each series' last point, not of another point
    three = np.array([100, 200, 300])
    d = Series("d", three, np.array([1.0, 2.0, 3.0]), np.array([0.5, 4.5, 3.25]))
    assert run_of(Table(three, {"d": d}, STEP)).epochs_done == 3
    nan = Series("n", steps, np.array([1.0, 2.0]), np.array([5.0, math.nan]))
    assert run_of(Table(steps, {"n": nan, "b": b}, STEP)).epochs_done == 1
    assert run_of(Table(steps, {"n": nan}, STEP)).epochs_done == 0
    # the x offset does not count in a step run
    zero = Series("z", np.array([0, 1]), np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    assert run_of(Table(np.array([0, 1]), {"z": zero}, STEP)).epochs_done == 0


def test_run_counts_and_axes():
    run = run_of(Table.from_rows([(3, {"b": 1.0}), (4, {"a": 2.0})], x=STEP))
    assert run.record_count == 2 and run.x == STEP and run.last_step == 4
    assert run.keys == ["b", "a"]
    assert run.has("a") and not run.has("zzz")
    assert run.series("a").values.tolist() == [2.0]
    missing = run.series("zzz")
    assert missing.key == "zzz" and len(missing) == 0
    assert run_of(Table()).last_step is None and run_of(Table()).record_count == 0
    assert isinstance(run.last_step, int)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, 10),
        (1, 1),
        (7.9, 7),
        (0.5, None),  # less than one epoch planned: no total (it would read "finished")
        (1, 1),
        (0.999, None),  # positive, but not a whole epoch: int() of it
        (0, None),
        (-3, None),
        (True, None),
        (False, None),
        (math.inf, None),
        (math.nan, None),
        (10**400, None),
        ("10", None),
        (None, None),
    ],
)
def test_total_epochs(value, expected):
    run = run_of(Table(), meta={"total_epochs": value})
    assert run.total_epochs == expected


def test_run_defaults():
    run = Run("r", Path("r"))
    assert run.meta == {} and run.extra == {} and run.problems == []
    assert run.mtime is None and run.format == "" and run.total_epochs is None
    assert len(run.table) == 0

"""A growing column's read-only view, and the Series a growing log hands out: the same
objects while nothing changed (a key a write left alone), new ones as soon as a column
grows, moves to a new buffer, is cut back or is written in place."""

from __future__ import annotations

import numpy as np
import pytest

from metricwatch.model import Series
from metricwatch.readers.appended_series import GrowingSeries
from metricwatch.readers.columns import MAPPED_BYTES, GrowingColumn


def test_the_shown_view_is_read_only_and_kept_while_the_column_is_unchanged():
    column = GrowingColumn(np.arange(5, dtype=np.int64), np.int64)
    shown = column.shown()
    assert shown.tolist() == [0, 1, 2, 3, 4] and shown.dtype == np.int64
    assert not shown.flags.writeable
    with pytest.raises(ValueError):
        shown[0] = 9
    assert column.shown() is shown
    assert column.view().flags.writeable  # the reader's own view still writes in place
    column.view()[-1] = 40  # (an epoch filled in later): the shown view sees it
    assert shown[-1] == 40 and column.shown() is shown


def test_a_grown_column_shows_a_new_view_and_the_old_one_keeps_its_points():
    column = GrowingColumn(np.arange(3, dtype=np.float64), np.float64)
    before = column.shown()
    column.extend(np.array([7.0]))
    after = column.shown()
    assert after is not before
    assert before.tolist() == [0.0, 1.0, 2.0] and after.tolist() == [0.0, 1.0, 2.0, 7.0]
    assert column.shown() is after


def test_a_column_moved_to_a_bigger_buffer_shows_a_view_of_the_new_one():
    column = GrowingColumn(np.zeros(64), np.float64)
    shown = column.shown()
    buffer = column.buffer
    column.extend(np.ones(MAPPED_BYTES // 8))  # past its capacity: a new buffer
    assert column.buffer is not buffer
    moved = column.shown()
    assert moved is not shown and moved.base is column.buffer
    assert len(moved) == 64 + MAPPED_BYTES // 8 and len(shown) == 64


def test_points_cut_back_and_written_again_are_never_the_old_view():
    """Same length after a cut and a refill: the view made before is not handed out."""
    column = GrowingColumn(np.arange(4, dtype=np.int64), np.int64)
    shown = column.shown()
    column.truncate(2)
    column.extend(np.array([8, 9], dtype=np.int64))
    again = column.shown()
    assert again is not shown and again.tolist() == [0, 1, 8, 9]


def test_series_of_columns_is_a_series_as_its_constructor_makes_it():
    steps = GrowingColumn(np.array([3, 5], dtype=np.int64), np.int64).shown()
    values = GrowingColumn(np.array([0.5, np.nan]), np.float64).shown()
    epochs = GrowingColumn(np.array([0.25, 0.5]), np.float64).shown()
    made = Series.of_columns("val_loss", steps, values, epochs, None)
    built = Series("val_loss", steps, values, epochs, None)
    for name in ("key", "steps", "values", "epochs", "times"):
        assert getattr(made, name) is getattr(built, name)  # nothing converted or copied
    assert len(made) == 2 and made.last_step == 5 and made.epoch_at(1) == 0.5
    with pytest.raises(AttributeError):
        made.key = "other"  # frozen, as any Series


@pytest.mark.parametrize("short", ["steps", "epochs", "times"])
def test_series_of_columns_of_different_lengths_is_refused(short):
    arrays = {name: np.zeros(3) for name in ("epochs", "times")}
    arrays["steps"] = np.zeros(3, dtype=np.int64)
    arrays[short] = arrays[short][:2]
    with pytest.raises(ValueError, match="differ in length"):
        Series.of_columns("loss", arrays["steps"], np.zeros(3), arrays["epochs"], arrays["times"])


def test_a_growing_series_hands_out_the_same_series_until_a_column_changes():
    grown = GrowingSeries.of(Series("loss", [1, 2], [0.9, 0.8], [0.1, 0.2], None))
    first = grown.series()
    assert grown.series() is first
    grown.values.extend(np.array([0.7]))
    grown.axes.extend_lists([3], [0.3], None)
    second = grown.series()
    assert second is not first
    assert second.steps.tolist() == [1, 2, 3] and second.values.tolist() == [0.9, 0.8, 0.7]
    assert second.epochs.tolist() == [0.1, 0.2, 0.3] and second.times is None
    assert first.values.tolist() == [0.9, 0.8]  # a state shown before keeps its points
    grown.forget()  # its epochs written in place: a new Series of the same columns
    third = grown.series()
    assert third is not second and third.values is second.values


def test_keys_on_the_same_lines_share_one_view_of_their_axes():
    axes_of = GrowingSeries.of(Series("loss", [1, 2], [0.9, 0.8]))
    other = GrowingSeries("lr", axes_of.axes, GrowingColumn(np.array([1e-3, 2e-3]), np.float64))
    assert axes_of.series().steps is other.series().steps

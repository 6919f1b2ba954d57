"""readers.grown (what the TensorBoard reader's live builds date and merge with) gives what
base.with_epochs and base.union_steps give for the same arrays, build after build.

Series and an epoch axis grow at random (often at the same steps, so that a series'
steps are the axis' now and then; an epoch logged before, at or after the steps it
dates), start again under a new version, appear and go; every build's epochs and table
steps are compared with with_epochs and union_steps of that build's arrays, to the bit,
and every array handed out is checked not to have changed since.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricwatch.model import Series
from metricwatch.readers.base import union_steps, with_epochs
from metricwatch.readers.grown import GrownEpochs, GrownUnion, new_version


class Growing:
    """A strictly ascending series (steps, values) that grows, or starts again."""

    def __init__(self) -> None:
        self.version = new_version()
        self.steps: list[int] = []
        self.values: list[float] = []

    def grow(self, data: st.DataObject, shared: list[int]) -> None:
        last = self.steps[-1] if self.steps else -1
        if data.draw(st.integers(0, 9)) == 0:  # starts again
            self.version = new_version()
            self.steps, self.values, last = [], [], -1
        steps = sorted({s for s in shared if s > last})
        steps += data.draw(st.lists(st.integers(last + 1, last + 12), max_size=4))
        for step in sorted(set(steps)):
            self.steps.append(step)
            self.values.append(data.draw(st.sampled_from([0.0, -0.0, 1.5, float("nan"), 2.0])))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        # fresh arrays each build, as a reader's views of a grown column are
        return np.asarray(self.steps, dtype=np.int64), np.asarray(self.values)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_growing_series_are_dated_and_merged_as_from_scratch(data):
    epochs, union = GrownEpochs(), GrownUnion()
    axis = Growing()
    series = {key: Growing() for key in ("a", "b", "c")}
    handed: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(data.draw(st.integers(1, 25))):
        shared = data.draw(st.lists(st.integers(0, 200), max_size=3))
        if data.draw(st.booleans()):
            axis.grow(data, shared)
        for key in list(series):
            move = data.draw(st.integers(0, 19))
            if move == 0:
                del series[key]  # gone
            elif move < 15:
                series[key].grow(data, shared)
        if data.draw(st.integers(0, 9)) == 0:
            series[f"new{len(handed)}"] = Growing()
        epoch_steps, epoch_values = axis.arrays()
        named = []
        for key, grown in series.items():
            steps, values = grown.arrays()
            dated, _ = epochs.epochs(
                (key, grown.version), steps, ("axis", axis.version), epoch_steps, epoch_values
            )
            expected = with_epochs(Series(key, steps, values), epoch_steps, epoch_values).epochs
            assert same_bits(dated, expected)
            handed.append((dated, dated.copy()))
            named.append(((key, grown.version), steps))
        epochs.done()
        table = union.steps(named)
        assert same_bits(table, union_steps([steps for _, steps in named]))
        handed.append((table, table.copy()))
    for array, copy in handed:
        assert same_bits(array, copy)


def test_a_series_at_the_axis_steps_shares_its_epochs():
    epochs = GrownEpochs()
    steps = np.arange(5, dtype=np.int64)
    values = np.linspace(0, 1, 5)
    dated, changed = epochs.epochs(("a", 1), steps, ("axis", 2), steps, values)
    assert dated is values and changed
    epochs.done()
    dated, changed = epochs.epochs(("a", 1), steps, ("axis", 2), steps, values)
    assert dated is values and not changed


def test_steps_that_differed_once_are_never_the_axis_steps_again():
    epochs = GrownEpochs()
    axis_values = np.asarray([10.0, 40.0, 50.0])
    builds = [([1, 3], [1, 4]), ([1, 3, 5], [1, 4, 5])]
    for steps, epoch_steps in builds:
        steps, epoch_steps = np.asarray(steps), np.asarray(epoch_steps)
        values = axis_values[: len(epoch_steps)]
        dated, _ = epochs.epochs(("a", 1), steps, ("axis", 2), epoch_steps, values)
        epochs.done()
        expected = with_epochs(Series("a", steps, steps * 1.0), epoch_steps, values).epochs
        assert same_bits(dated, expected)
    assert dated.tolist() == [10.0, 10.0, 50.0]

"""base.with_epochs and base.union_steps of series that grow: worked out for new points only.

A live run's table is built again at every write, and each build dated every point of
every series against the epoch axis and merged every series' steps into the table's:
passes over the whole run to add a few points. But a live run's series only grow: the
last build's points are still there, in the same order, with new ones after them, so
what it worked out for them stays true. A point's epoch changes only when an epoch is
logged since at a step at or before it; the table steps change only by the new steps.

The caller names each series (any hashable `key`) and gives it a `version`: the same one
for as long as its steps are the last build's followed by new ones, strictly ascending,
and a new one (new_version()) whenever they are not (a step went back and the later
points replaced earlier ones, a file was replaced). A series whose version changed is
worked out again from scratch, as the epoch axis whose version changed dates every
series again. The results hold the same numbers as with_epochs and union_steps of the
same arrays; arrays handed out by an earlier build never change (a column is copied
before any point it already dated is dated again).

A live run's write adds a step or two to a series: a few new steps are compared, looked
for and added in Python (columns.FEW_STEPS), where numpy's fixed costs are most of the work.

The TensorBoard reader builds with these (tfevents_tags); mlflow_run's BuildMemo takes
its table steps from GrownUnion too, and dates epochs with its own code, which could move
onto GrownEpochs.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import numpy as np

from metricwatch.readers.base import union_steps
from metricwatch.readers.columns import FEW_STEPS, GrowingColumn, Steps

_VERSIONS = itertools.count(1)


def new_version() -> int:
    """A version no series had before (see the module)."""
    return next(_VERSIONS)


#: A series or an epoch axis as the memos know it: (key, version).
Name = tuple[Hashable, int]


def epochs_at(steps: np.ndarray, epoch_steps: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """The epoch logged at or last before each step (NaN before the first, or with none):
    with_epochs' dating of steps not logged at exactly the axis' steps."""
    if not len(epoch_steps):
        return np.full(len(steps), np.nan)
    where = np.searchsorted(epoch_steps, steps, side="right") - 1
    return np.where(where >= 0, epochs[np.maximum(where, 0)], np.nan)


def _view(column: np.ndarray | GrowingColumn) -> np.ndarray:
    return column if isinstance(column, np.ndarray) else column.view()


def _equal_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading elements of two arrays of one length are equal."""
    if len(a) <= FEW_STEPS:
        pairs = zip(a.tolist(), b.tolist())
        return next((i for i, (x, y) in enumerate(pairs) if x != y), len(a))
    differ = np.flatnonzero(a != b)
    return int(differ[0]) if len(differ) else len(a)


def _holds(ascending: np.ndarray, steps: np.ndarray) -> bool:
    """Whether every one of steps is in `ascending` (strictly ascending): a search each,
    or for a few steps at its end (a live run's write), a look at its last steps."""
    if not len(steps):
        return True
    if not len(ascending):
        return False
    if len(steps) <= FEW_STEPS:
        values, last = steps.tolist(), ascending[-FEW_STEPS:].tolist()
        if min(values) >= last[0]:
            return set(values) <= set(last)
    at = np.minimum(np.searchsorted(ascending, steps), len(ascending) - 1)
    return bool(np.array_equal(ascending[at], steps))


class _Dating:
    """One series' epochs as the last build dated them: its points and the axis' then, how
    many leading steps of the two are equal, and its own epochs: None when its steps were
    the axis' (its epochs are then the axis' epochs, shared as with_epochs shares them), a
    plain array until they grow (a first read's, or one just come apart from the axis),
    then a growing column.

    A series comes apart from the axis for a read or two when a read ends between a step's
    records (a loss logged before the epoch of its step): its epochs are then a copy of the
    axis' and the new points' (the arrays handed out before must not change), a plain one:
    most likely the next read puts it back on the axis, and a growing column's buffer (a
    memory mapping of its own) costs five times as much to make. It becomes a growing
    column when it grows apart from the axis again."""

    __slots__ = ("axis", "axis_length", "changed", "equal", "length", "own", "version")

    def __init__(self, version: int, axis: Name, steps: np.ndarray, epoch_steps: np.ndarray):
        self.version, self.axis = version, axis
        self.length, self.axis_length = len(steps), len(epoch_steps)
        both = min(self.length, self.axis_length)
        self.equal = _equal_prefix(steps[:both], epoch_steps[:both])
        self.own: np.ndarray | GrowingColumn | None = None
        self.changed = True  # whether the last build changed its epochs

    def same(self) -> bool:
        """with_epochs' case of a series logged at exactly the axis' steps."""
        return self.equal == self.length == self.axis_length

    def follows(self, version: int, axis: Name, length: int, axis_length: int) -> bool:
        return (
            version == self.version
            and axis == self.axis
            and length >= self.length
            and axis_length >= self.axis_length
        )

    def dated(self, epochs: np.ndarray) -> np.ndarray:
        """The epochs of the series' points (epochs: the axis')."""
        return epochs if self.own is None else _view(self.own)

    def grow(self, steps: np.ndarray, epoch_steps: np.ndarray, epochs: np.ndarray) -> None:
        """Date the points added since (and those an epoch logged since dates again)."""
        self.changed = False
        length, axis_length = len(steps), len(epoch_steps)
        if length == self.length and axis_length == self.axis_length:
            return  # nothing new
        both = min(self.length, self.axis_length)
        if self.equal == both:  # equal so far: compare the new steps only
            upto = min(length, axis_length)
            self.equal = both + _equal_prefix(steps[both:upto], epoch_steps[both:upto])
        before, axis_before = self.length, self.axis_length
        self.length, self.axis_length = length, axis_length
        if self.same():
            self.own, self.changed = None, True
            return
        if self.own is None:
            # The last build's steps were the axis' (their epochs the axis' own), and the
            # axis' new steps all come after them: no point of theirs is dated again.
            more = epochs_at(steps[before:], epoch_steps, epochs)
            self.own, self.changed = np.concatenate((epochs[:before], more)), True
            return
        start = before
        first_new = int(epoch_steps[axis_before]) if axis_before < axis_length else None
        if first_new is not None and before and int(steps[before - 1]) >= first_new:
            # an epoch logged at or before points already dated: from there they are dated
            # again, in a copy (the arrays handed out before must not change)
            start = int(np.searchsorted(steps[:before], first_new, side="left"))
        if start == length:
            return
        if isinstance(self.own, np.ndarray) or start < before:
            self.own = GrowingColumn(self.dated(epochs)[:start], np.float64)
        self.own.extend(epochs_at(steps[start:], epoch_steps, epochs))
        self.changed = True

    def start(self, steps: np.ndarray, epoch_steps: np.ndarray, epochs: np.ndarray) -> None:
        """Date every point (a series or an axis new to the memo, or changed)."""
        if not self.same():  # plain until it grows, as GrownUnion's
            self.own = epochs_at(steps, epoch_steps, epochs)


class GrownEpochs:
    """Each growing series' epochs against a growing epoch axis, as with_epochs dates them;
    what a build worked out is kept for the next one (see the module)."""

    def __init__(self) -> None:
        self._dated: dict[Hashable, _Dating] = {}
        self._next: dict[Hashable, _Dating] = {}

    def epochs(
        self,
        series: Name,
        steps: np.ndarray,
        axis: Name,
        epoch_steps: np.ndarray,
        epochs: np.ndarray,
    ) -> tuple[np.ndarray, bool]:
        """with_epochs(Series(.., steps, ..), epoch_steps, epochs).epochs, for a series and
        an axis whose steps are strictly ascending; and whether they changed since the
        last build (else they are the same numbers as then)."""
        key, version = series
        known = self._dated.get(key)
        if known is not None and known.follows(version, axis, len(steps), len(epoch_steps)):
            known.grow(steps, epoch_steps, epochs)
        else:
            known = _Dating(version, axis, steps, epoch_steps)
            known.start(steps, epoch_steps, epochs)
        self._next[key] = known
        return known.dated(epochs), known.changed

    def done(self) -> None:
        """A build is over: forget the series it did not date (gone, or no axis now)."""
        self._dated, self._next = self._next, {}


def _later(union: np.ndarray, steps: np.ndarray, several: bool) -> Steps | None:
    """The steps past the union's last, once each, ascending (`several`: the steps of
    several series, one after the other); None when one before it is not in the union.
    A few (a live run's write) in Python."""
    if len(steps) <= FEW_STEPS:
        top = int(union[-1]) if len(union) else None
        values = steps.tolist()
        older = [step for step in values if top is not None and step <= top]
        if older and not _holds(union, np.asarray(older, dtype=np.int64)):
            return None
        later = [step for step in values if top is None or step > top] if older else values
        return sorted(set(later)) if several else later
    if len(union):
        past = steps > union[-1]
        if not past.all():
            if not _holds(union, steps[~past]):
                return None
            steps = steps[past]
    if several and len(steps):
        steps = np.sort(steps, kind="stable")
        steps = steps[np.append(True, steps[1:] != steps[:-1])]
    return steps


class GrownUnion:
    """The table steps (every step of every series, once, ascending) of growing series, as
    union_steps finds them: the last build's, with the new steps (see the module).

    Either one series holds every step (`key`: its steps are the union, shared as
    union_steps shares them), or the union is a column of its own."""

    def __init__(self) -> None:
        self._lengths: dict[Hashable, tuple[int, int]] = {}  # key -> (version, length)
        self._key: Hashable | None = None
        self._column: np.ndarray | GrowingColumn | None = None  # plain until it grows

    def steps(self, series: list[tuple[Name, np.ndarray]]) -> np.ndarray:
        """union_steps of the series' steps (each strictly ascending)."""
        new = self._new_steps(series)
        union = None if new is None else self._grown(series, new)
        if union is None:
            union = self._start(series)
        self._lengths = {key: (version, len(steps)) for (key, version), steps in series}
        return union

    def _new_steps(
        self, series: list[tuple[Name, np.ndarray]]
    ) -> dict[Hashable, np.ndarray] | None:
        """The series' steps new since the last build, of those that have some; None when
        one is gone or changed."""
        if self._key is None and self._column is None:
            return None
        new: dict[Hashable, np.ndarray] = {}
        for (key, version), steps in series:
            known = self._lengths.get(key, (version, 0))
            if known[0] != version or known[1] > len(steps):
                return None
            if known[1] < len(steps):
                new[key] = steps[known[1] :]
        names = {key for (key, _), _ in series}
        if len(names) != len(series) or not self._lengths.keys() <= names:
            return None  # a series gone (or named twice)
        return new

    def _grown(
        self, series: list[tuple[Name, np.ndarray]], new: dict[Hashable, np.ndarray]
    ) -> np.ndarray | None:
        if self._key is not None:
            held = next(steps for (key, _), steps in series if key == self._key)
            fits = all(key == self._key or _holds(held, part) for key, part in new.items())
            return held if fits else None
        assert self._column is not None
        union = _view(self._column)
        parts = list(new.values())
        if not parts:
            return union
        steps = parts[0] if len(parts) == 1 else np.concatenate(parts)
        later = _later(union, steps, len(parts) > 1)
        if later is None:
            return None  # a new step among the old ones: merged again
        if isinstance(self._column, np.ndarray):
            self._column = GrowingColumn(self._column, np.int64)
        self._column.extend(later)
        return self._column.view()

    def _start(self, series: list[tuple[Name, np.ndarray]]) -> np.ndarray:
        arrays = [steps for _, steps in series]
        union = union_steps(arrays)
        self._key = next((key for (key, _), steps in series if steps is union), None)
        if self._key is not None:
            self._column = None
            return union
        self._column = union  # (a read of the whole run needs no room to grow, nor a copy)
        return union

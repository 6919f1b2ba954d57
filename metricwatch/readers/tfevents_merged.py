"""A tag's points across a run's files, each step once, kept from one build to the next.

A tag's points are its columns' (tfevents_columns._Column, one per file that logged it)
one after the other, less the points a later one replaces: a step that goes back (a
resumed run) or repeats wins over the points at or after it (`latest`). Working that out
from every point at every read cost a pass over the whole run per tag per write. But a
column only grows (a failed read puts it back to the size it had, which is never less
than the last build saw; a replaced file gets new columns), so `_Merged` keeps what the
last build found and takes in only the points added since:
- the kept points before are still kept, except those at or after the smallest new step
  (a prefix stays: they ascend strictly);
- of the new points, those no later new point replaces are added.
A live run's write adds a few points after the kept ones, ascending: they are taken in
by Python (_Merged._grew_after), the general way's numpy calls costing more than them.
A tag read from one file whose steps only ever rose is its column as it is (views, no
copy), as a fresh read gives it; otherwise the kept points are columns of their own. Its
`version` (grown.new_version) changes whenever the kept points are not the last build's
followed by new ones, which tells the epoch and table-step memos (grown) to start again.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from metricwatch.readers.columns import FEW_STEPS, GrowingColumn
from metricwatch.readers.grown import new_version
from metricwatch.readers.shared_steps import SharedSteps, StepPool, kept_columns
from metricwatch.readers.tfevents_columns import _Column

_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, times, values


def latest(steps: np.ndarray) -> np.ndarray:
    """Points no later point replaces: a step that goes back (or repeats) wins over earlier
    points at or after it, as a resumed run's log does."""
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return np.ones(len(steps), dtype=bool)
    later_min = np.minimum.accumulate(steps[::-1])[::-1]
    keep = np.ones(len(steps), dtype=bool)
    keep[:-1] = steps[:-1] < later_min[1:]
    return keep


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of a column's parts: the part itself when there is one."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two float arrays hold the same bits (-0.0 is not 0.0; a NaN is itself)."""
    return len(a) == len(b) and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def _logged_again(kept: _Arrays, new: _Arrays, cut: int) -> bool:
    """Whether the first new points are the kept ones from `cut` on, steps and values."""
    again = len(kept[0]) - cut
    return (
        len(new[0]) >= again
        and bool(np.array_equal(kept[0][cut:], new[0][:again]))
        and _bits_equal(kept[2][cut:], new[2][:again])
    )


_NAN = np.full(1, np.nan)
_NAN.flags.writeable = False


class _NoTimes:
    """The epochs axis' times, which no series has: NaN, in no memory (as GrowingColumn)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def extend(self, values: np.ndarray) -> None:
        self.size += len(values)

    def reserve(self, capacity: int) -> None:
        pass  # nothing is kept

    def view(self) -> np.ndarray:
        # np.broadcast_to's array, without its checks (~10 us at every build)
        return np.ndarray((self.size,), np.float64, _NAN, strides=(0,))


class _Merged:
    """One (role, tag)'s kept points as of the last build (see the module).

    parts, sizes: the columns it was built from and their sizes then.
    back: how many times its steps went back, over all points read (not only kept ones).
    own: the kept steps, times and values, when they are not the one column's views. The
    steps are shared_steps.SharedSteps: most often they are the steps of other tags (Hugging
    Face's `train/epoch` is logged again at each evaluation's step, and its kept steps are
    then the loss's), shared with them, not copied. Times and values are growing columns
    (shared_steps.kept_columns), written a block at a time from the parts: the first read
    makes no whole copy besides them, nor the first live read after it.
    timed: False for the epochs axis' tag, whose times no series has: its own times are
    then _NoTimes (NaN, no memory)."""

    def __init__(
        self, parts: list[_Column], pool: StepPool | None = None, timed: bool = True
    ) -> None:
        self.version = new_version()
        self.pool, self.timed = pool, timed
        views = [part.views() for part in parts]
        steps = _joined([view[0] for view in views])
        keep = latest(steps)
        self.back = int(np.count_nonzero(steps[1:] < steps[:-1])) if not keep.all() else 0
        self.last = int(steps[-1]) if len(steps) else None  # the last step read
        self.own: list[Any] | None = None  # [SharedSteps, times, values]
        if len(parts) > 1 or not keep.all():
            self.own = kept_columns(views, keep, pool, None if timed else _NoTimes(0))
        self._remember(parts)
        self._minus_one = (self.version, 0, True)
        self.changed = True  # whether the last build changed its points
        self._arrays: _Arrays | None = None  # arrays(), until the points change

    def _remember(self, parts: list[_Column]) -> None:
        self.parts, self.sizes = list(parts), [part.size for part in parts]

    def arrays(self) -> _Arrays:
        """The kept steps, times and values (the arrays of a build's Series): the last
        build's while no point came (most tags at most reads)."""
        if self._arrays is None:
            if self.own is None:
                self._arrays = self.parts[0].views()
            else:
                steps, times, values = (column.view() for column in self.own)
                self._arrays = steps, times, values
        return self._arrays

    def grow(self, parts: list[_Column]) -> bool:
        """Take in the points added to the same columns since; False when the columns are
        not the last build's grown (then the tag is merged again from scratch)."""
        if len(parts) == len(self.parts) and self._unchanged(parts):
            self.changed = False
            return True  # nothing new (most tags at most reads)
        self.changed = True
        if self._grew_after(parts):
            self._remember(parts)
            self._arrays = None
            return True
        new = self._new_points(parts)
        if new is None:
            return False
        steps, times, values = new
        if len(steps):
            self._add(steps, times, values, single=len(parts) == 1)
        self._remember(parts)
        self._arrays = None
        return True

    def _unchanged(self, parts: list[_Column]) -> bool:
        """Whether the columns given are the first of the last build's, of the same sizes
        (the caller compares how many there are)."""
        for part, was, size in zip(parts, self.parts, self.sizes):
            if part is not was or part.size != size:
                return False
        return True

    def _grew_after(self, parts: list[_Column]) -> bool:
        """Take in a live run's write, in Python: the same columns, the last one grown by a
        few points that come after the kept ones, ascending, to points that stay where
        they are (the one column's, or columns of their own, extended). False (nothing
        done) for any other case, which _add works out."""
        last, start = parts[-1], self.sizes[-1]
        if len(parts) != len(self.parts) or last is not self.parts[-1]:
            return False
        if not 0 < last.size - start <= FEW_STEPS or not self._unchanged(parts[:-1]):
            return False
        steps = last.steps.view()
        few = steps[start:].tolist()
        if self.own is None:
            top = int(steps[start - 1]) if start else None
        else:
            top = int(self.own[0].view()[-1]) if self.own[0].size else None
        if (top is not None and few[0] <= top) or any(a >= b for a, b in pairwise(few)):
            return False
        self.back += int(self.last is not None and few[0] < self.last)
        self.last = few[-1]
        if self.own is not None:
            times, values = (kept[start : last.size] for kept in last.arrays)
            for column, more in zip(self.own, (few, times, values)):
                column.extend(more)
        return True

    def _new_points(self, parts: list[_Column]) -> _Arrays | None:
        known = len(self.parts)
        if not known or len(parts) < known:
            return None
        for i, (part, was, size) in enumerate(zip(parts, self.parts, self.sizes)):
            if part is not was or part.size < size or (i < known - 1 and part.size != size):
                return None  # a file replaced, or one before the last grew
        start = self.sizes[-1]
        steps, times, values = parts[known - 1].views()
        if len(parts) == known:  # the last column grew (a live run's write)
            return steps[start:], times[start:], values[start:]
        pieces = [(steps[start:], times[start:], values[start:])]
        pieces += [part.views() for part in parts[known:]]
        steps, times, values = (_joined(list(a)) for a in zip(*pieces))
        return steps, times, values

    def _add(self, steps: np.ndarray, times: np.ndarray, values: np.ndarray, single: bool) -> None:
        self.back += int(np.count_nonzero(steps[1:] < steps[:-1]))
        self.back += int(self.last is not None and int(steps[0]) < self.last)
        self.last = int(steps[-1])
        kept = self._kept()
        size = cut = len(kept[0])
        lowest = int(steps.min())
        if cut and lowest <= int(kept[0][-1]):
            cut = int(np.searchsorted(kept[0], lowest, side="left"))
        keep = latest(steps)
        every = bool(keep.all())
        if self.own is None and single and cut == size and every:
            return  # still the one column, ascending: its views hold the new points
        new = (steps, times, values) if every else (steps[keep], times[keep], values[keep])
        if cut < size and _logged_again(kept, new, cut):
            self._again(kept, new, cut)
            return
        if self.own is None or cut < size:
            # columns of their own, from the points still kept (a copy: the arrays
            # handed out before must not change; shared steps are never written over)
            own_steps = self._own_steps(kept[0])
            own_steps.truncate(cut)
            self.own = [
                own_steps,
                self._times(kept[1][:cut]),
                GrowingColumn(kept[2][:cut], np.float64),
            ]
            if cut < size:
                self.version = new_version()
        for column, more in zip(self.own, new):
            column.extend(more)  # type: ignore[union-attr]

    def _again(self, kept: _Arrays, new: _Arrays, cut: int) -> None:
        """Kept points from `cut` on logged again with the same steps and values (Hugging
        Face and Lightning log the epoch again at an evaluation's step): steps and values
        stay as they are, and their times are copied only if they changed."""
        again = len(kept[0]) - cut
        own: list[Any] = [self._own_steps(kept[0]), None, None]
        if self.own is not None:
            own[1:] = self.own[1:]
        if self.timed and not _bits_equal(kept[1][cut:], new[1][:again]):
            own[1] = GrowingColumn(kept[1][:cut], np.float64)  # a copy, as above
            own[1].extend(new[1][:again])
        if own[1] is None:
            own[1] = self._times(kept[1])
        if own[2] is None:
            own[2] = GrowingColumn(kept[2], np.float64)
        columns = own
        for column, more in zip(columns, new):
            column.extend(more[again:])
        self.own = columns

    def _times(self, kept: np.ndarray) -> GrowingColumn | _NoTimes:
        """The kept times as a column of their own (a copy), or none for the axis' tag."""
        return GrowingColumn(kept, np.float64) if self.timed else _NoTimes(len(kept))

    def _own_steps(self, kept: np.ndarray) -> SharedSteps:
        """The kept steps as steps of their own: the ones already so, else the column's
        (shared with its store, not copied)."""
        if self.own is not None:
            return self.own[0]
        return SharedSteps(self.pool, kept)

    def _kept(self) -> _Arrays:
        """The kept points of the last build."""
        if self.own is None:
            steps, times, values = (a[: self.sizes[0]] for a in self.parts[0].views())
            return steps, times, values
        return self.arrays()

    def all_minus_one(self) -> bool:
        """Whether every kept value is -1 (Lightning's `hp_metric` placeholder), looked at
        in the values added since the last look only."""
        values = self.arrays()[2]
        version, seen, every = self._minus_one
        if version != self.version:
            seen, every = 0, True
        if every and seen < len(values):
            every = bool(np.all(values[seen:] == -1))
        self._minus_one = (self.version, len(values), every)
        return every


class MergedTags:
    """Every (role, tag) of a run as merged at the last build (see the module)."""

    def __init__(self, pool: StepPool | None = None) -> None:
        self.tags: dict[tuple[str, str], _Merged] = {}
        self.pool = pool  # the run's steps (shared_steps), which kept steps share

    def merge(
        self,
        parts: dict[tuple[str, str], list[_Column]],
        axis: tuple[str, str] | None = None,
    ) -> dict[tuple[str, str], _Merged]:
        """Each (role, tag)'s kept points, from its columns in file order (`axis`: the tag
        taken as the epochs axis, whose own times are not kept)."""
        merged = {}
        for name, columns in parts.items():
            known, timed = self.tags.get(name), name != axis
            if known is not None and known.timed == timed and known.grow(columns):
                merged[name] = known
            else:
                merged[name] = _Merged(columns, self.pool, timed)
        self.tags = merged
        return merged

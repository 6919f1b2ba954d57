"""Steps that several columns of a run share for as long as they are the same.

A run's keys are mostly logged at the same steps: TensorBoard's loss, gradient norm and
learning rate at every step, MLflow's metric files one line a step each. Each key kept its
own copy of the same steps, and the charts made a float copy of each of those copies (they
convert an array once, wherever several keys hold the very same one): 16 bytes a point of
a million-point run went to steps that were already there.

Here a key's steps are the first `size` steps of a store (`StepStore`, one growing column)
that other keys' steps may be the first steps of too. A key adding steps compares those the
store already holds past its own end with them, and writes only the ones past the store's
end; a key whose steps differ from the store's from some point on (it was not logged at a
step) takes a copy of its own steps so far and goes on alone. The store is never written
below its end, so a view handed out before never changes.

A shared store's steps only ever rise: a key whose steps go back or repeat (Hugging Face
logs `train/epoch` again at each evaluation's step; a resumed run) does not write them
there, where the keys that follow it would then part from the store one by one, each with
a copy; it goes on in a store of its own, which no other key looks at (as it kept its steps
before).

A live run's write adds a step or two to a key: they may come as a list, and are compared
in Python (columns.FEW_STEPS).

A `StepPool` is a run's shared stores: a key's first steps look for one there that starts
with them (the first key logged makes one, the keys logged with it then share it).
"""

from __future__ import annotations

import weakref
from itertools import pairwise
from typing import Any

import numpy as np

from metricwatch.readers.columns import FEW_STEPS, GrowingColumn, Steps

_NO_STEPS = np.empty(0, dtype=np.int64)


class StepStore:
    """Steps written once, in order, that keys' steps are the first steps of; `shared`: in
    a pool, strictly ascending (else one key's own)."""

    __slots__ = ("__weakref__", "column", "shared")

    def __init__(self, initial: np.ndarray, shared: bool, capacity: int = 0) -> None:
        self.shared = shared
        self.column = GrowingColumn(initial, np.int64)
        if capacity:
            self.column.reserve(capacity)

    @property
    def size(self) -> int:
        return self.column.size


#: How many of a pool's stores a key's first steps are compared with, the ones last made or
#: found first: a run of hundreds of tags each logged at steps of its own would otherwise
#: compare each new tag's with every store (a run has a few sets of steps; past this many,
#: a key that finds none keeps its steps in a store of its own, as before stores were shared).
SEARCHED = 32


class StepPool:
    """A run's step stores, for a key's first steps to find one they begin (weakly held: a
    store no key uses any more is gone)."""

    def __init__(self) -> None:
        self._stores: list[weakref.ref[StepStore]] = []  # the last made or found first

    def stores(self) -> list[StepStore]:
        """The live stores, the last made or found first."""
        found = [store for store in (ref() for ref in self._stores) if store is not None]
        if len(found) < len(self._stores):
            self._stores = [weakref.ref(store) for store in found]
        return found

    def add(self, store: StepStore) -> None:
        """A store made, or found by a key: first in the search from now on."""
        live = [s for s in self.stores() if s is not store]
        self._stores = [weakref.ref(s) for s in (store, *live)]


class SharedSteps:
    """One key's steps: the first `size` of a store (see the module). Used as a
    GrowingColumn of steps is: extend, view, size, reserve, truncate."""

    __slots__ = ("_hint", "pool", "size", "store")

    def __init__(self, pool: StepPool | None = None, initial: np.ndarray = _NO_STEPS) -> None:
        self.pool = pool
        self.store: StepStore | None = None
        self.size = 0
        self._hint = 0  # capacity asked for before the store was known
        if len(initial):
            self.extend(initial)

    def view(self) -> np.ndarray:
        if self.store is None:
            return _NO_STEPS
        return self.store.column.buffer[: self.size]

    def reserve(self, capacity: int) -> None:
        """Room for capacity steps in all, where this key is the one writing them (at the
        store's end); before its first steps, for the store it may make."""
        if self.store is None:
            self._hint = max(self._hint, capacity)
        elif self.size == self.store.size:
            self.store.column.reserve(capacity)

    def truncate(self, size: int) -> None:
        """Drop the steps from size on (a read taken back): the store keeps them, and the
        key's next steps are compared with them as with any other key's."""
        self.size = min(self.size, size)

    def extend(self, steps: Steps) -> None:
        if not len(steps):
            return
        if self.store is None:
            self.store = self._found(steps)
            if self.store is not None:
                return
        elif self._follow(self.store, steps):
            return
        # on its own from here: a store of its own steps so far, shared while they rise
        so_far = self.view()
        shared = (self.store is None or self.store.shared) and _rising(so_far, steps)
        self.store = self._new_store(so_far, shared)
        self._follow(self.store, steps)

    def _follow(self, store: StepStore, steps: Steps) -> bool:
        """Add steps along the store: compare those it holds past our end, write the rest
        past its end (a shared store's only if they rise past it); False (nothing
        changed) when they cannot be."""
        column = store.column
        overlap = min(column.size - self.size, len(steps))
        if overlap > 0 and not _same(column.buffer[self.size : self.size + overlap], steps):
            return False
        if overlap < len(steps):
            rest = steps[overlap:] if overlap > 0 else steps
            if store.shared and not _rising(column.buffer[: column.size], rest):
                return False
            column.extend(rest)
        self.size += len(steps)
        return True

    def _found(self, steps: Steps) -> StepStore | None:
        """The pool's first store that begins with these steps (or that they begin with:
        then they are written past its end), now followed."""
        if self.pool is None:
            return None
        for store in self.pool.stores()[:SEARCHED]:
            if store.size and self._follow(store, steps):
                self.pool.add(store)
                return store
        return None

    def _new_store(self, initial: np.ndarray, shared: bool) -> StepStore:
        store = StepStore(initial, shared, self._hint)
        self._hint = 0
        if shared and self.pool is not None:
            self.pool.add(store)
        return store


def _same(held: np.ndarray, steps: Steps) -> bool:
    """Whether steps begin with `held`: their ends first (a run of many tags logged at
    other steps looks through every store for a new tag's: most differ there at once)."""
    if len(held) <= FEW_STEPS:
        return held.tolist() == list(steps[: len(held)])
    if held[0] != steps[0] or held[-1] != steps[len(held) - 1]:
        return False
    return bool(np.array_equal(held, steps[: len(held)]))


def _rising(before: np.ndarray, steps: Steps) -> bool:
    """Whether steps, after `before` (strictly ascending), keep rising strictly."""
    if len(before) and len(steps) and int(steps[0]) <= int(before[-1]):
        return False
    if len(steps) <= FEW_STEPS:
        few = list(steps)
        return all(a < b for a, b in pairwise(few))
    array = np.asarray(steps)
    return bool(np.all(array[1:] > array[:-1]))


#: Points copied at a time by kept_columns.
_BLOCK = 1 << 16


def kept_columns(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    keep: np.ndarray,
    pool: StepPool | None,
    times: Any = None,
) -> list[Any]:
    """The kept points (`keep`: a mask over the parts' points one after the other) of
    (steps, times, values) parts as growing columns, the steps shared where a store holds
    them. Written a block at a time: besides the columns, no whole copy of the points is
    made (TensorBoard's epoch tag, logged again at each evaluation's step, was copied whole
    into plain arrays, then copied again into growing columns at the next live read).
    `times`: the column the times go to, if not a new growing column (one keeping none)."""
    empty = np.empty(0)
    columns: list[Any] = [
        SharedSteps(pool),
        times if times is not None else GrowingColumn(empty, np.float64),
        GrowingColumn(empty, np.float64),
    ]
    total = int(np.count_nonzero(keep))
    for column in columns:
        column.reserve(total)
    at = 0
    for part in parts:
        size = len(part[0])
        for start in range(0, size, _BLOCK):
            end = min(start + _BLOCK, size)
            mask = keep[at + start : at + end]
            for column, array in zip(columns, part):
                column.extend(array[start:end][mask])
        at += size
    return columns

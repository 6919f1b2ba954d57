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
step, or logged one twice) takes a copy of its own steps so far and goes on alone. The
store is never written below its end, so a view handed out before never changes.

A `StepPool` is a run's stores: a key's first steps look for a store there that starts
with them (the first key logged makes one, the keys logged with it then share it).
"""

from __future__ import annotations

import weakref

import numpy as np

from metricwatch.readers.columns import GrowingColumn

_NO_STEPS = np.empty(0, dtype=np.int64)


class StepStore:
    """Steps written once, in order, that keys' steps are the first steps of."""

    __slots__ = ("__weakref__", "column")

    def __init__(self, initial: np.ndarray = _NO_STEPS, capacity: int = 0) -> None:
        self.column = GrowingColumn(initial, np.int64)
        if capacity:
            self.column.reserve(capacity)

    @property
    def size(self) -> int:
        return self.column.size


class StepPool:
    """A run's step stores, for a key's first steps to find one they begin (weakly held: a
    store no key uses any more is gone)."""

    def __init__(self) -> None:
        self._stores: list[weakref.ref[StepStore]] = []

    def stores(self) -> list[StepStore]:
        """The live stores, oldest first."""
        found = [store for store in (ref() for ref in self._stores) if store is not None]
        if len(found) < len(self._stores):
            self._stores = [weakref.ref(store) for store in found]
        return found

    def add(self, store: StepStore) -> None:
        self.stores()  # (drops the dead ones)
        self._stores.append(weakref.ref(store))


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

    def extend(self, steps: np.ndarray) -> None:
        if not len(steps):
            return
        if self.store is None:
            self.store = self._found(steps)
            if self.store is not None:
                return
            self.store = self._new_store(_NO_STEPS)
        if not self._follow(self.store, steps):
            self.store = self._new_store(self.view())
            self._follow(self.store, steps)

    def _follow(self, store: StepStore, steps: np.ndarray) -> bool:
        """Add steps along the store: compare those it holds past our end, write the rest
        past its end; False (nothing changed) when they differ."""
        column = store.column
        overlap = min(column.size - self.size, len(steps))
        if overlap > 0 and not np.array_equal(
            column.buffer[self.size : self.size + overlap], steps[:overlap]
        ):
            return False
        if overlap < len(steps):
            column.extend(steps[overlap:] if overlap > 0 else steps)
        self.size += len(steps)
        return True

    def _found(self, steps: np.ndarray) -> StepStore | None:
        """The pool's first store that begins with these steps (or that they begin with:
        then they are written past its end), now followed."""
        if self.pool is None:
            return None
        for store in self.pool.stores():
            if store.size and self._follow(store, steps):
                return store
        return None

    def _new_store(self, initial: np.ndarray) -> StepStore:
        store = StepStore(initial, self._hint)
        self._hint = 0
        if self.pool is not None:
            self.pool.add(store)
        return store

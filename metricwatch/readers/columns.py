"""A column that grows in place: what appended logs and live stores keep their points in.

A live run gains a few points a write; building its arrays again (a concatenation of the
whole run) made every write cost the run. A column keeps capacity ahead and writes only
past its end, so appending costs the points appended, and a view handed out before (a
state the screen shows) sees no change: a full buffer is replaced, not resized.

Where a big column's memory comes from decides the peak of a first read, which grows
every column of a million-point log from one chunk's points to all of them:
- From the heap (what numpy asks malloc for), a freed buffer stays with the process
  (metricwatch.allocator raises glibc's thresholds so that temporaries are reused), and
  the next, bigger buffer of the column does not fit in it: a 1M-point Lightning log's
  first read left 35 MiB of such holes beside the 34 MiB of its columns.
- A buffer of MAPPED_BYTES or more is therefore an anonymous memory mapping of its own:
  it goes back to the system as soon as its last view is gone, and the pages of its spare
  capacity are not memory until points are written there. Its capacity can then grow by
  doubling (fewer copies) at no cost in memory.
- The views of a previous read keep a replaced buffer alive until that read is dropped,
  so a growth costs the column's size for a while. The columns of one log grow at the same
  pace: were their capacities the same, all of them would be replaced in the same update,
  doubling the whole log's memory for a moment. Each column's capacities are instead on a
  ladder of its own (doublings from its own offset), so they are replaced one at a time.
"""

from __future__ import annotations

import math
import mmap
from itertools import count

import numpy as np

#: Capacity of a heap buffer grows by this factor: a 1.25x slack keeps its overhead (pages
#: written by earlier uses of the heap) under 25 %.
GROWTH = 1.25
_MIN_CAPACITY = 64
#: Buffers of at least this many bytes are memory mappings of their own (see the module).
MAPPED_BYTES = 2**18
#: Where each new column starts on the doubling ladder: the fractional parts of multiples
#: of the golden ratio spread any number of columns evenly over an octave.
_PHASES = count()
_GOLDEN = 0.6180339887498949
#: Up to this many steps (what a live run's write adds to a column) are compared and added
#: in Python by the readers that grow columns: numpy's fixed cost a call is more than that.
FEW_STEPS = 16
#: Steps added to a column: an array, or a few as a list (a live run's write).
Steps = np.ndarray | list[int]


class GrowingColumn:
    """One array grown in place (see the module). Appended logs write one more place: an
    epoch unknown (NaN) at the last few points becomes known when the next line dates them
    (Lightning's `lr-*` rows), which a view already shown may then show too."""

    __slots__ = ("_shown", "buffer", "phase", "size")

    def __init__(self, initial: np.ndarray, dtype: type) -> None:
        self.phase = (next(_PHASES) * _GOLDEN) % 1.0
        size = len(initial)
        self.buffer = _allocate(self._capacity(size, int(size * GROWTH), dtype), dtype)
        self.buffer[:size] = initial
        self.size = size
        self._shown: np.ndarray | None = None  # the last read-only view (shown())

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.buffer):
            self._grow(end, int(len(self.buffer) * GROWTH))
        self.buffer[self.size : end] = values
        self.size = end

    def reserve(self, capacity: int) -> None:
        """Room for capacity points in all (a reader that knows how many are coming)."""
        if capacity > len(self.buffer):
            self._grow(capacity, capacity)

    def truncate(self, size: int) -> None:
        """Drop the points from size on: only ones no view handed out holds (a reader taking
        back what it added in its current read)."""
        self.size = min(self.size, size)
        self._shown = None  # points written again after a cut are not the view's

    def view(self) -> np.ndarray:
        return self.buffer[: self.size]

    def shown(self) -> np.ndarray:
        """A read-only view of the column, the same object while neither its buffer nor its
        size changed: what a Series holds (model.Series.of_columns). Most of a live log's
        keys gain nothing at a write, and the keys written on the same lines share their
        axes: one view serves them all, and an unchanged view says the key is unchanged."""
        shown = self._shown
        if shown is not None and shown.base is self.buffer and shown.shape[0] == self.size:
            return shown
        shown = self.buffer[: self.size]
        shown.flags.writeable = False
        self._shown = shown
        return shown

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)

    def _grow(self, needed: int, grown: int) -> None:
        """A bigger buffer in place of the full one (which views handed out keep)."""
        dtype = self.buffer.dtype
        bigger = _allocate(self._capacity(needed, grown, dtype), dtype)
        bigger[: self.size] = self.buffer[: self.size]
        self.buffer = bigger

    def _capacity(self, needed: int, grown: int, dtype: type) -> int:
        """The capacity for `needed` points: a heap buffer's `grown` (or needed), a mapped
        one's first rung of the column's ladder that holds them."""
        capacity = max(_MIN_CAPACITY, needed, grown)
        itemsize = np.dtype(dtype).itemsize
        if capacity * itemsize < MAPPED_BYTES:
            return capacity
        rung = 2.0 ** (math.ceil(math.log2(needed) - self.phase) + self.phase)
        return max(needed, int(rung))


def _allocate(capacity: int, dtype: type) -> np.ndarray:
    """An empty array of capacity items: a mapping of its own from MAPPED_BYTES on."""
    dtype = np.dtype(dtype)
    nbytes = capacity * dtype.itemsize
    if nbytes >= MAPPED_BYTES:
        try:
            return np.frombuffer(_anonymous(nbytes), dtype=dtype)
        except (OSError, ValueError):  # no memory mappings here: the heap will do
            pass
    return np.empty(capacity, dtype=dtype)


def _anonymous(nbytes: int) -> mmap.mmap:
    """Private anonymous memory (zero pages until written), unmapped when unreferenced."""
    flags = getattr(mmap, "MAP_PRIVATE", None)
    anonymous = getattr(mmap, "MAP_ANONYMOUS", None)
    if flags is None or anonymous is None:  # Windows: anonymous memory is the only kind
        return mmap.mmap(-1, nbytes)
    return mmap.mmap(-1, nbytes, flags=flags | anonymous)

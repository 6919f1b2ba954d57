"""A column that grows in place: what appended logs and live stores keep their points in.

A live run gains a few points a write; building its arrays again (a concatenation of the
whole run) made every write cost the run. A column keeps capacity ahead and writes only
past its end, so appending costs the points appended, and a view handed out before (a
state the screen shows) sees no change: a full buffer is replaced, not resized.
"""

from __future__ import annotations

import numpy as np

#: Capacity grows by this factor: a 1.25x slack keeps a column's overhead under 25 %.
GROWTH = 1.25
_MIN_CAPACITY = 64


class GrowingColumn:
    """One array grown in place (see the module). Appended logs write one more place: an
    epoch unknown (NaN) at the last few points becomes known when the next line dates them
    (Lightning's `lr-*` rows), which a view already shown may then show too."""

    __slots__ = ("buffer", "size")

    def __init__(self, initial: np.ndarray, dtype: type) -> None:
        capacity = max(_MIN_CAPACITY, int(len(initial) * GROWTH))
        self.buffer = np.empty(capacity, dtype=dtype)
        self.buffer[: len(initial)] = initial
        self.size = len(initial)

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.buffer):
            bigger = np.empty(max(end, int(len(self.buffer) * GROWTH)), dtype=self.buffer.dtype)
            bigger[: self.size] = self.buffer[: self.size]
            self.buffer = bigger
        self.buffer[self.size : end] = values
        self.size = end

    def view(self) -> np.ndarray:
        return self.buffer[: self.size]

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)

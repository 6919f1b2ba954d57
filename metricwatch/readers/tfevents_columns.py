"""A TensorBoard run's per-tag columns, grown in place as its files' pieces are read.

Each file of a run keeps, per tag, its steps, times and values (`_Column`), sized for
the whole read from how far into the file the first pieces are (the steps shared with the
run's other tags logged at the same steps: shared_steps); `_Sink` takes a file's
pieces as its tail (tfevents_records.EventFileTail) decodes them and puts the columns
back as they were when a read fails half way. A live run's write, a few scalars, is
grouped by tag and appended as Python lists (_few_groups): numpy's sort and gathers cost
more than the points. Not metricwatch.readers.columns'
GrowingColumn: that one grows by a fixed factor and never shrinks, where these size
themselves from the bytes still to read (one allocation for a big file's first read),
give back what that estimate left over, and roll back a failed read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metricwatch.readers.shared_steps import SharedSteps, StepPool
from metricwatch.readers.tfevents_bulk import narrow
from metricwatch.readers.tfevents_records import EventFileTail
from metricwatch.readers.tfevents_scanner import Chunk


class _Column:
    """A tag's steps, times and values, grown in place: one array each, sized for the
    whole read from how far into it the first pieces are (not one small array per piece
    kept to the end, whose holes a process's heap keeps). The run's series are views of
    them; a later read writes only past their ends.

    The steps are shared (shared_steps.SharedSteps) with the other tags of the run logged
    at the same steps so far: a step every tag is logged at is kept once, not per tag."""

    def __init__(self, pool: StepPool | None = None) -> None:
        self.size = 0
        self.steps = SharedSteps(pool)
        self.arrays = [np.empty(0), np.empty(0)]  # times, values

    def append(self, parts: tuple[Sequence[Any], ...], scale: float) -> None:
        """Points after the last (arrays, or a few as lists); `scale`: room for the rest
        of the read, as a factor of the points so far."""
        need = self.size + len(parts[0])
        if need > len(self.arrays[0]):
            capacity = max(int(need * scale), need + need // 16 + 64)
            self._resize(capacity)
            self.steps.reserve(capacity)
        self.steps.extend(parts[0])
        for kept, part in zip(self.arrays, parts[1:]):
            if len(part) == 1:  # a live run's write: a point a tag (a slice costs more)
                kept[self.size] = part[0]
            else:
                kept[self.size : need] = part
        self.size = need

    def rollback(self, size: int) -> None:
        """Back to `size` points (a read that failed half way: its points come again)."""
        self.size = size
        self.steps.truncate(size)

    def trim(self) -> None:
        """Give back room a read's estimate left over (a little is kept for the next)."""
        if len(self.arrays[0]) - self.size > self.size // 8 + 1024:
            self._resize(self.size + self.size // 16 + 64)

    def _resize(self, capacity: int) -> None:
        for i, kept in enumerate(self.arrays):
            grown = np.empty(capacity, dtype=kept.dtype)
            grown[: self.size] = kept[: self.size]
            self.arrays[i] = grown

    def views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times, values = (a[: self.size] for a in self.arrays)
        return self.steps.view(), times, values


class _Sink:
    """Where a file's pieces go as its tail reads them: its columns, emptied first when
    the file was replaced, and put back as they were if the read fails half way."""

    def __init__(
        self,
        columns: dict[Path, dict[str, _Column]],
        path: Path,
        tail: EventFileTail,
        pool: StepPool | None = None,
    ) -> None:
        self.all, self.path, self.tail, self.pool = columns, path, tail, pool
        self.columns: dict[str, _Column] | None = None
        self.sizes: dict[str, int] = {}

    def __call__(self, piece: Chunk) -> None:
        columns = self.columns if self.columns is not None else self._start()
        _add(columns, piece, self.tail.expected, self.pool)

    def _start(self) -> dict[str, _Column]:
        if self.tail.reset or self.path not in self.all:
            self.all[self.path] = {}
        self.columns = self.all[self.path]
        self.sizes = {tag: column.size for tag, column in self.columns.items()}
        return self.columns

    def finish(self) -> None:
        columns = self.columns if self.columns is not None else self._start()
        if self.tail.failed:  # the offset did not move: what came will come again
            for tag in [t for t in columns if t not in self.sizes]:
                del columns[tag]
            for tag, size in self.sizes.items():
                columns[tag].rollback(size)
        for tag, column in columns.items():
            if self.sizes.get(tag) != column.size or self.tail.failed:
                column.trim()  # (the others were trimmed by the read that last grew them)


def _add(
    columns: dict[str, _Column], chunk: Chunk, expected: int, pool: StepPool | None = None
) -> None:
    """Append a chunk's scalars to per-tag columns, grouped in one pass (chunk.end: the
    bytes read so far of the `expected`; pool: the run's steps, which new columns share).
    Each tag's points go in the order they came, the tags in the order of their ids."""
    if not len(chunk.tag_ids):
        return
    scale = 1.02 * expected / max(chunk.end, 1) if expected > chunk.end else 1.0
    grouped = _few_groups(chunk) if len(chunk.tag_ids) <= FEW_POINTS else _groups(chunk)
    for tag, points in grouped:
        column = columns.get(tag)
        if column is None:
            column = columns[tag] = _Column(pool)
        column.append(points, scale)


#: A chunk of at most this many scalars (a live run's write) is grouped by tag in Python,
#: where numpy's sort and gathers cost ~15 us a tag for a point or two.
FEW_POINTS = 64

_Points = tuple[Sequence[Any], Sequence[Any], Sequence[Any]]  # steps, times, values


def _groups(chunk: Chunk) -> list[tuple[str, _Points]]:
    """Each tag's (steps, times, values), tags in id order, gathered by numpy."""
    steps, times, values, ids = chunk.steps, chunk.times, chunk.values, chunk.tag_ids
    if len(chunk.names) == 1:
        return [(chunk.names[0], (steps, times, values))]
    order = np.argsort(narrow(ids), kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(len(chunk.names) + 1)).tolist()
    grouped = []
    for i, tag in enumerate(chunk.names):
        index = order[bounds[i] : bounds[i + 1]]
        if len(index):  # else a tag whose every scalar was dropped
            grouped.append((tag, (steps[index], times[index], values[index])))
    return grouped


def _few_groups(chunk: Chunk) -> list[tuple[str, _Points]]:
    """_groups of a few scalars, as lists (the same numbers: floats keep their bits)."""
    grouped: dict[int, tuple[list[int], list[float], list[float]]] = {}
    rows = zip(chunk.tag_ids.tolist(), chunk.steps.tolist(), chunk.times.tolist())
    for (tag, step, time), value in zip(rows, chunk.values.tolist()):
        lists = grouped.get(tag)
        if lists is None:
            lists = grouped[tag] = ([], [], [])
        lists[0].append(step)
        lists[1].append(time)
        lists[2].append(value)
    return [(chunk.names[tag], grouped[tag]) for tag in sorted(grouped)]

"""Reading a growing log by parsing only its new lines.

A training run appends a line every few steps to a log that may already
hold a million points; parsing the whole file on each change would make the
cost of one update grow with the run. Formats whose writers only append
lines (CSV loggers, JSON lines) declare `FileFormat.appends`; for them the
loader keeps an AppendedLog per file.

Each update parses a small chunk: the file's header lines, the last few
complete lines already read (the context), and the new complete lines (plus
a last line still being written, which the format reports as cut short).
The new points are what that parse has beyond the context's own parse, which
is remembered from the write before while the context grows (up to 16 lines:
one parse a write). A format whose parse reads a row with the other rows at
its step (Lightning's) keeps every row of the last step in the context
(appended_context). The new points are appended to growing columns, so
earlier points are neither parsed nor copied again.

This is exact by construction or not done at all: the context's parse must
end the log as read (its steps the last ones, key by key: a parse of the last
lines alone may read them otherwise than the whole file's, as detectron2's
late lines and restarts), the chunk's parse must
begin with the context's parse point for point (new lines changed nothing
before them: no back-filled epoch, no resume), report no problem but a cut
last line, hold no other runs, and put every new point after the last one
of its series. Anything else (a resume, a new training appended, a bad
line, a rewritten file) answers None, and the loader reads the whole file
again, which is what it did for every change before.

A format may read a write's plain new lines faster than its parse, in Python alone
(appended_rows: a few rows of numbers, each after the last, as a logger writes them at
each step); whatever its reader does not read so exactly goes the way above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from metricwatch.model import Problem, ProblemKind, Series, Table
from metricwatch.readers.appended_checks import (
    ends_with,
    known_meta,
    merge_meta,
    same_points,
    starts_with,
    without_cut,
)
from metricwatch.readers.appended_context import Context
from metricwatch.readers.appended_rows import append_points, meta_merge, row_reader, unfollowed
from metricwatch.readers.appended_series import Axes, GrowingSeries, same_axes
from metricwatch.readers.base import Appends, FileFormat, ParseResult
from metricwatch.readers.columns import GrowingColumn

#: A log bigger than this is parsed in pieces of about this size, each appended to the
#: columns: the Python objects of a parse (a string per CSV cell, a dict per JSON line)
#: then never exist for the whole file at once. 1 MiB rather than 4: a 1M-point Lightning,
#: Keras or Ultralytics log's first read peaks about 30 bytes a point lower and is no
#: slower (bench_formats.py).
CHUNK_BYTES = 2**20
#: New lines up to this many bytes may be read by the format's fast path (appended_rows):
#: its Python costs a few microseconds a row, the parse's numpy a millisecond a call and
#: little a row, so a big write (a chunk of a first read) is the parse's.
ROWS_BYTES = 2**13


class AppendedLog:
    """A log file read so far: the parse of its complete lines, grown by new lines."""

    def __init__(self, fmt: FileFormat, data: bytes, result: ParseResult) -> None:
        self.format = fmt
        appends = fmt.appends or Appends()
        #: how far the file has been read: the end of its last complete line
        self.offset = data.rfind(b"\n") + 1
        #: the bytes the file must still begin with (a rewrite changes them)
        self.header = data[: _after_lines(data, 0, appends.header_lines)]
        #: the last lines read, and their parse when known (appended_context)
        self._context = Context.of(appends, self.header, data, len(self.header), self.offset)
        #: whether a write was read by the general path since the whole read: the context
        #: then parses cleanly (see _read_rows)
        self._clean = False
        self._base = replace(without_cut(result), table=Table())  # the columns hold it
        self._series: dict[str, GrowingSeries] = {}
        shared: list[tuple[Series, Axes]] = []  # each distinct axes, and a series with them
        for key, series in result.table.series.items():
            axes = next((axes for other, axes in shared if same_axes(series, other)), None)
            if axes is None:
                axes = Axes.of(series)
                shared.append((series, axes))
            self._series[key] = GrowingSeries.of(series, axes)
        self._steps = GrowingColumn(result.table.steps, np.int64)
        self._x = result.table.x

    @classmethod
    def start(cls, fmt: FileFormat, data: bytes, result: ParseResult) -> AppendedLog | None:
        """Follow a file whose whole parse is result, or None when it cannot be followed
        (not an appended format, no header yet, several runs in it, nothing usable)."""
        if fmt.appends is None or result.parts:
            return None
        if data.count(b"\n") < fmt.appends.header_lines:
            return None  # the header is still being written
        if any(p.kind in (ProblemKind.EMPTY, ProblemKind.NOT_OURS) for p in result.problems):
            return None
        header = data[: _after_lines(data, 0, fmt.appends.header_lines)]
        if unfollowed(fmt.appends, header, data[len(header) :]):
            return None
        return cls(fmt, data, result)

    def result(self, cut: list[Problem] | None = None) -> ParseResult:
        """The file as read so far (plus the note of a last line being written)."""
        table = Table(
            self._steps.view(),
            {key: grown.series() for key, grown in self._series.items()},
            self._x,
        )
        base = self._base
        return ParseResult(
            table,
            dict(base.meta),
            dict(base.extra),
            [*base.problems, *cut] if cut else list(base.problems),
            base.format,
            base.parts,
        )

    def update(self, new: bytes) -> ParseResult | None:
        """The file with `new` (its bytes from `offset` on) added; None: read it whole."""
        if not new:
            return self.result()
        end = new.rfind(b"\n") + 1
        complete, partial = new[:end], new[end:]
        small = complete and not partial and len(complete) <= ROWS_BYTES
        if small and self._read_rows(complete):
            return self.result()
        if unfollowed(self.format.appends, self.header, complete):
            return None
        if complete and self._context.reaches_last_step(complete):
            return None  # rows at that step may lie before the context: read it whole
        head = self.header + self.context
        grown = self.format.parse(head + complete + partial)
        if grown.parts or any(p.kind is not ProblemKind.TRUNCATED for p in grown.problems):
            return None
        cut = [p for p in grown.problems if p.kind is ProblemKind.TRUNCATED]
        if partial and not cut:
            return None  # the format took a line without its end as whole: so must we
        if complete:
            before = self._context.parse
            if not self._take(self.format.parse(head) if before is None else before, grown):
                return None
            self.offset += len(complete)
            self._context.grow(complete, None if partial else grown)
            self._clean = True
            self._merge_meta(grown.meta)
        return self.result(cut)

    def _read_rows(self, complete: bytes) -> bool:
        """Whether the format's fast path read the new lines (appended_rows): their points
        are then in the columns; else nothing changed, and the general path reads them.
        Not the first write after a whole read: the context may hold what that parse found
        wrong (a step going back, a new run), which the general path's parse of it tells
        again and reads whole, as it always did; once it has read a write, the context
        parses cleanly."""
        rows = row_reader(self.format.appends, self.format.parse)
        if rows is None or not self._clean:
            return False
        points = rows(self.header, self._context.lines, complete)
        if points is None or (points.meta and not known_meta(self._base.meta, points.meta)):
            return False
        if not append_points(self._steps, self._series, points):
            return False
        self.offset += len(complete)
        self._context.grow(complete, None)
        if points.meta:
            self._merge_meta(points.meta)
        return True

    def _merge_meta(self, meta: dict) -> None:
        """What a write's lines say about the run joins what was known, as the format
        merges it (RowAppends.merge_meta), else as appended_checks.merge_meta does."""
        (meta_merge(self.format.appends) or merge_meta)(self._base.meta, meta)

    @property
    def context(self) -> bytes:
        """The last complete lines read (a rewrite in place changes them)."""
        return self._context.text

    @property
    def checked(self) -> tuple[int, int]:
        """How many bytes of the file's start, and of its end as read, must be the same
        for the file to be this log grown: the header, and the context lines."""
        return len(self.header), len(self.context)

    @property
    def nbytes(self) -> int:
        """The memory the columns hold (capacity included), for benchmarks."""
        axes = {id(grown.axes): grown.axes for grown in self._series.values()}
        total = self._steps.nbytes + sum(g.values.nbytes for g in self._series.values())
        return total + sum(c.nbytes for a in axes.values() for c in a.columns)

    def _take(self, before: ParseResult, after: ParseResult) -> bool:
        """Append what `after` (context + new lines) has beyond `before` (the context)."""
        old, new = before.table, after.table
        if new.x != self._x or not starts_with(new.steps, old.steps):
            return False
        if not self._ends_with(old):
            return False
        if any(key not in new.series for key in old.series):
            return False
        added: dict[str, Series] = {}
        filled: dict[str, np.ndarray] = {}
        for key, series in new.series.items():
            known = old.series.get(key)
            start = 0 if known is None else len(known)
            if known is not None:
                match = same_points(series, known)
                if match is None:
                    return False  # a new line changed a point before it
                if match is not True:
                    filled[key] = match
            if start < len(series):
                added[key] = series.take(np.arange(start, len(series)))
        new_steps = new.steps[len(old.steps) :]
        last = int(self._steps.view()[-1]) if self._steps.size else None
        if last is not None and len(new_steps) and int(new_steps[0]) <= last:
            return False
        for key, series in added.items():
            grown = self._series.get(key)
            if grown is not None and not grown.accepts(series):
                return False
        if not all(self._can_fill(key, old.series[key]) for key in filled):
            return False
        for key, epochs in filled.items():
            grown = self._own_axes_unless_shared_alike(key, filled)
            assert grown.epochs is not None
            told = ~np.isnan(epochs)
            grown.epochs.view()[-len(epochs) :][told] = epochs[told]
        for grown in self._series.values() if filled else ():
            grown.forget()  # epochs written in place: each series a new Series
        self._extend(added)
        self._steps.extend(new_steps)
        return True

    def _ends_with(self, context: Table) -> bool:
        """Whether the table read so far, and each of its series, ends with the steps of
        the context's parse. That parse may read its lines otherwise than the whole parse,
        which saw the lines before them (detectron2 tells a line back to an earlier
        iteration for a late line of the same write, or for a restart, by the keys of every
        record before it): its points are then not the log's last ones, and what a chunk's
        parse has beyond them (points, a value_scale) is not what the new lines add."""
        if not ends_with(self._steps.view(), context.steps):
            return False
        for key, series in context.series.items():
            grown = self._series.get(key)
            if grown is None or not ends_with(grown.steps.view(), series.steps):
                return False
        return True

    def _sharers(self, axes: Axes) -> list[str]:
        return [key for key, grown in self._series.items() if grown.axes is axes]

    def _own_axes_unless_shared_alike(
        self, key: str, filled: dict[str, np.ndarray]
    ) -> GrowingSeries:
        """The series, with axes of its own if it shares them with a series whose epochs
        the new lines do not fill the same way."""
        grown = self._series[key]
        alike = [
            other in filled and np.array_equal(filled[other], filled[key], equal_nan=True)
            for other in self._sharers(grown.axes)
        ]
        if not all(alike):
            grown.axes = grown.axes.copy()
        return grown

    def _extend(self, added: dict[str, Series]) -> None:
        """Each series' new points appended. Series sharing axes whose new points do not all
        have the same axes (a line without one of the keys) part first: those with the
        same new axes (or none) stay together, the first of them on the shared columns, each
        other group on a copy of its own."""
        groups: dict[int, list[str]] = {}
        for key, grown in self._series.items():
            groups.setdefault(id(grown.axes), []).append(key)
        for keys in groups.values():
            alike: list[tuple[Series | None, list[str]]] = []
            for key in keys:
                new = added.get(key)
                for first, members in alike:
                    both = first is not None and new is not None
                    if first is new or (both and same_axes(first, new)):
                        members.append(key)
                        break
                else:
                    alike.append((new, [key]))
            for _, members in alike[1:]:
                axes = self._series[members[0]].axes.copy()
                for key in members:
                    self._series[key].axes = axes
        extended: set[int] = set()
        for key, series in added.items():
            grown = self._series.get(key)
            if grown is None:
                self._series[key] = GrowingSeries.of(series)
                continue
            if id(grown.axes) not in extended:
                grown.axes.extend(series)
                extended.add(id(grown.axes))
            grown.values.extend(series.values)

    def _can_fill(self, key: str, known: Series) -> bool:
        """Whether the series ends with the context's points, so that epochs the new lines
        tell (Lightning dates an `lr-*` row by the row after it) can be written there."""
        grown = self._series.get(key)
        if grown is None or grown.epochs is None or grown.steps.size < len(known):
            return False
        n = len(known)
        return bool(
            np.array_equal(grown.steps.view()[-n:], known.steps)
            and np.array_equal(grown.values.view()[-n:], known.values, equal_nan=True)
        )


def read_in_chunks(
    fmt: FileFormat, read: Callable[[int, int], bytes | None], chunk_bytes: int = CHUNK_BYTES
) -> tuple[ParseResult, AppendedLog] | None:
    """A whole appended log read as its writer would have grown it, chunk_bytes at a time
    (`read(offset, size)` gives the file's bytes there, or None when it cannot), and the
    AppendedLog to follow it with. Only one chunk of the file is in memory at a time.
    None when the file cannot be read so (a chunk cannot simply follow the ones before: a
    resume, a bad line; a line longer than a chunk; the file gone): then read it whole."""
    first = read(0, chunk_bytes)
    if first is None:
        return None
    whole = len(first) < chunk_bytes
    end = len(first) if whole else first.rfind(b"\n") + 1
    if end == 0:
        return None
    head = first[:end]
    result = fmt.parse(head)
    log = AppendedLog.start(fmt, head, result)
    if log is None:
        return None
    while not whole:
        piece = read(log.offset, chunk_bytes)
        if piece is None:
            return None
        whole = len(piece) < chunk_bytes
        if not whole:
            cut = piece.rfind(b"\n") + 1
            if cut == 0:
                return None
            piece = piece[:cut]
        if piece:
            grown = log.update(piece)
            if grown is None:
                return None
            result = grown
    return result, log


def _after_lines(data: bytes, start: int, count: int) -> int:
    """Where the count lines from start end (at most the last complete line's end)."""
    end = start
    for _ in range(count):
        found = data.find(b"\n", end)
        if found < 0:
            break
        end = found + 1
    return end

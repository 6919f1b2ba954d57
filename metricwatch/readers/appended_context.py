"""The context of an appended log (readers/appended.AppendedLog): the last complete lines
read, which each write's general path parses again, before the new lines, to tell what
those lines add.

The context holds the format's `context_lines`, and more while it grows: up to
CONTEXT_REUSE_LINES lines, new lines join it, and the parse of context and new lines at
one write is the context's parse at the next. A format whose parse reads a row with rows
before it tells how many of the last lines hold every line the last row, and a new row at
its step, is read with (RowAppends.last_step_lines): Lightning dates a row without an
epoch by the rows at its step, and Ultralytics' duration is the time since the last row
with one, which may lie rows back. The context holds them all, so that a new row is read
with every row the whole parse reads it with. When they are more than STEP_LINES, or
the lines cannot tell (a resume before them: rows at that step may lie before a later
step), the context says so (`whole_step` False), and AppendedLog reads a write that
begins at that step whole (reaches_last_step; a results.csv's every write, as its
lines never tell that a new row needs no line before it); once a write's rows are past
it, the context holds the new last step's rows again.
"""

from __future__ import annotations

from dataclasses import dataclass

from metricwatch.readers.appended_rows import StepLines, last_step_lines
from metricwatch.readers.base import Appends, ParseResult

#: The context may grow to this many lines, new lines joining it, before it is cut back to
#: the format's `context_lines`: while it grows, the parse of context and new lines at one
#: update is the parse of the context at the next, so a write costs one parse, not two.
CONTEXT_REUSE_LINES = 16
#: The context holds at most this many lines for the rows of the last step (a Lightning
#: step logs a few: an lr row, a training row, at an epoch's end a validation and an epoch
#: row): a step of more is read whole when a write adds to it.
STEP_LINES = 64


@dataclass
class Context:
    """The last lines read (see the module), their parse when known, and whether they hold
    every row at the last step read (always, for a format whose rows are read alone)."""

    keep: int
    header: bytes
    step_lines: StepLines | None
    lines: list[bytes]
    parse: ParseResult | None = None
    whole_step: bool = True

    @classmethod
    def of(cls, appends: Appends, header: bytes, data: bytes, start: int, end: int) -> Context:
        """The context of a log whose lines from start to end (a line's end) were read."""
        context = cls(appends.context_lines, header, last_step_lines(appends), [])
        lines = last_lines(data, start, end, context._wanted(end))
        context._cut(lines, sum(map(len, lines)) == end - start)
        return context

    @property
    def text(self) -> bytes:
        return b"".join(self.lines)

    def grow(self, complete: bytes, parsed: ParseResult | None) -> None:
        """The context after `complete` was taken: all of it joins the context while that
        stays within CONTEXT_REUSE_LINES, and then `parsed` (the parse of header, context
        and `complete`, when nothing followed them) is the new context's parse; else the
        context is cut back to the format's lines (and those of the last step) and parsed
        when next needed."""
        count = complete.count(b"\n")
        if self.keep and len(self.lines) + count <= CONTEXT_REUSE_LINES:
            self.lines += last_lines(complete, 0, len(complete), count)
            self.parse = parsed
            if not self.whole_step:  # lines that held the last step's rows still do
                self.whole_step = self._scan(self.lines, False)[1]
            return
        tail = last_lines(complete, 0, len(complete), self._wanted(count))
        if len(tail) == count:  # every new line: the context before them joins
            self._cut(self.lines + tail, self.whole_step)
        else:
            self._cut(tail, False)
        self.parse = None

    def reaches_last_step(self, complete: bytes) -> bool:
        """Whether new lines may add a row at the last step read when the context may not
        hold every row there (not `whole_step`): their first line is not a row after the
        context's last one."""
        if self.whole_step or self.step_lines is None:
            return False
        if not self.lines:
            return True
        first = complete[: complete.find(b"\n") + 1]
        return self.step_lines(self.header, [self.lines[-1], first]) != 1

    def _wanted(self, count: int) -> int:
        """How many of `count` new lines to look at: the format's, or enough to find the
        last step's rows."""
        return min(count, STEP_LINES + 1 if self.step_lines else self.keep)

    def _cut(self, lines: list[bytes], before_whole: bool) -> None:
        """Keep the last lines of `lines` the context needs (see _scan)."""
        count, self.whole_step = self._scan(lines, before_whole)
        self.lines = lines[-count:] if count else []

    def _scan(self, lines: list[bytes], before_whole: bool) -> tuple[int, bool]:
        """How many of the last lines the context needs (the format's, and those of the
        last step, up to STEP_LINES), and whether they hold every row at the last step;
        before_whole: whether they do when that step's rows reach the first of `lines`
        (the lines before those held every row at their last step)."""
        if self.step_lines is None:
            return min(self.keep, len(lines)), True
        found = self.step_lines(self.header, lines)
        if found is None:
            return min(self.keep, len(lines)), False
        whole = (found < len(lines) or before_whole) and found <= STEP_LINES
        return min(max(self.keep, min(found, STEP_LINES)), len(lines)), whole


def last_lines(data: bytes, start: int, end: int, count: int) -> list[bytes]:
    """The last count complete lines of data[start:end] (which ends at a line end)."""
    lines: list[bytes] = []
    while len(lines) < count and end > start:
        begin = max(data.rfind(b"\n", start, end - 1) + 1, start)
        lines.insert(0, data[begin:end])
        end = begin
    return lines

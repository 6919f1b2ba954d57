"""Chart lines rasterised into terminal cells with numpy, as plotext would draw them.

plotext draws a line point by point in Python: every segment is
interpolated with a list comprehension, every dot grouped into its braille
cell through dictionaries, every cell inserted one call at a time. Ten
compared runs put 70 lines on four charts, and that took 90 ms a redraw.
Here the same arithmetic runs on arrays: each trace's points are mapped to
dots with plotext's own rounding, its segments are interpolated as plotext
interpolates them, its dots are gathered into cells (2 x 4 dots a braille
character), and a later trace covers an earlier one cell by cell, as
plotext's later signals do. What plotext is then given is one point per
cell, its character and colour: the picture is the same, cell for cell
(tests/test_charts_braille.py draws both ways and compares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: The marker that asks for braille dots: 2 x 4 of them in a cell.
BRAILLE = "braille"
#: Bit of each dot in a braille character, by (column in the cell, row from the bottom).
_DOT_BITS = np.array([[0x40, 0x04, 0x02, 0x01], [0x80, 0x20, 0x10, 0x08]], dtype=np.int64)
_BRAILLE_BASE = 0x2800


class TraceLike(Protocol):
    """A line to draw: plot units in [0, 1], a colour and a marker."""

    x: Sequence[float]
    y: Sequence[float]
    color: int
    marker: str


@dataclass(frozen=True)
class Cells:
    """The cells lines cover, one entry a cell: column, row (from the bottom), text, colour."""

    columns: np.ndarray
    rows: np.ndarray
    chars: list[str]
    colors: list[int]

    def __len__(self) -> int:
        return len(self.chars)


def rasterize(traces: Sequence[TraceLike], colors: Sequence[int], width: int, height: int) -> Cells:
    """The cells of a `width` x `height` canvas the traces' lines cover, the last trace on top.

    `colors` is each trace's colour as drawn (themed or dimmed by the caller).
    """
    keys: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for index, trace in enumerate(traces):
        braille = trace.marker == BRAILLE
        fx, fy = (2, 4) if braille else (1, 1)
        dx, dy = _line_dots(trace.x, trace.y, width * fx, height * fy)
        inside = (dx >= 0) & (dx < width * fx) & (dy >= 0) & (dy < height * fy)
        dx, dy = dx[inside], dy[inside]
        if not len(dx):
            continue
        cell = (dx // fx) * height + dy // fy
        if braille:
            bits = _DOT_BITS[dx % fx, dy % fy]
            order = np.argsort(cell, kind="stable")
            cell, bits = cell[order], bits[order]
            starts = np.flatnonzero(np.concatenate(([True], cell[1:] != cell[:-1])))
            cell, code = cell[starts], np.bitwise_or.reduceat(bits, starts)
        else:
            cell = np.unique(cell)
            code = np.full(len(cell), -1, dtype=np.int64)  # -1: the trace's own marker
        keys.append(cell)
        codes.append(code)
        owners.append(np.full(len(cell), index, dtype=np.int64))
    if not keys:
        empty = np.empty(0, dtype=np.int64)
        return Cells(empty, empty, [], [])
    cell, code, owner = np.concatenate(keys), np.concatenate(codes), np.concatenate(owners)
    # The last trace to cover a cell keeps it: the last occurrence of each cell.
    reverse_first = np.unique(cell[::-1], return_index=True)[1]
    last = len(cell) - 1 - reverse_first
    cell, code, owner = cell[last], code[last], owner[last]
    chars = [
        chr(_BRAILLE_BASE + c) if c >= 0 else traces[o].marker
        for c, o in zip(code.tolist(), owner.tolist())
    ]
    return Cells(cell // height, cell % height, chars, [colors[o] for o in owner.tolist()])


def _line_dots(
    x: Sequence[float], y: Sequence[float], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The dots of the line through the points, interpolated between them as plotext does."""
    px = _dot(np.asarray(x, dtype=np.float64), width)
    py = _dot(np.asarray(y, dtype=np.float64), height)
    if len(px) < 2:
        return px, py
    x0, y0 = px[:-1], py[:-1]
    sx, sy = px[1:] - x0, py[1:] - y0
    steps = np.maximum(np.abs(sx), np.abs(sy))  # a segment's dots but its last (the next's first)
    segment = np.repeat(np.arange(len(steps)), steps)
    offsets = np.cumsum(steps) - steps
    i = (np.arange(len(segment)) - offsets[segment]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_x = np.where(steps > 0, sx / np.maximum(steps, 1), 0.0)
        slope_y = np.where(steps > 0, sy / np.maximum(steps, 1), 0.0)
    lx = (x0[segment] + i * slope_x[segment]).astype(np.int64)
    ly = (y0[segment] + i * slope_y[segment]).astype(np.int64)
    return np.append(lx, px[-1]), np.append(ly, py[-1])


def _dot(values: np.ndarray, bins: int) -> np.ndarray:
    """plotext's place of a value in [0, 1] among `bins` dots: floor(0.5 + (bins - 1) * v),
    rounded to 8 decimals first, halves up (its own `round`)."""
    n = (0.5 + (bins - 1) * values) * 10**8
    f = np.floor(n)
    rounded = np.where(n - f < 0.5, f, np.ceil(n)) * 10 ** (-8)
    return np.floor(rounded).astype(np.int64)

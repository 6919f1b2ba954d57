"""Text from files made safe to show, and fitted to a width: the one place for both.

Run names come from directory names and metric names from JSON keys; either
can hold an escape sequence (ESC[2J clears the screen), a lone surrogate from
a non-UTF-8 file name that makes printing raise, or invisible characters that
reorder or hide what is shown (a right-to-left override shows `exp\\u202egnp.exe` as
`expexe.png`; a zero-width space makes two names that look the same differ).
Rich markup is a separate matter: callers pass this text as rich Text, never
as markup.

Widths are terminal cells, not characters: 日本語 takes six cells, an emoji
two, a combining accent none.
"""

from __future__ import annotations

import math
import re

from rich.cells import cell_len

#: Shown like control characters: C0/C1 controls and DEL; bidi embeddings, overrides and
#: isolates (U+202A-202E, U+2066-2069) and the Arabic letter mark; zero-width and
#: direction marks (U+200B-200F, U+2060-2064, U+FEFF); the line and paragraph
#: separators (U+2028/2029), which some renderers break lines at.
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)

ELLIPSIS = "…"
#: The share of a shortened name's room kept for its end: sweep names differ at the end.
TAIL_SHARE = 0.6
#: A cut one character after a separator moves to it: `…_seed3`, not `…d_seed3`.
_SNAP_CELLS = 1
_SEPARATORS = "/_-.: "


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """The text with control, bidi and zero-width characters and undecodable bytes escaped."""
    value = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _HIDDEN.sub(_escape, value)


#: One escape made by printable(): never cut in two by a shortening.
_ESCAPED = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})|.", re.DOTALL)


def _clusters(text: str) -> list[str]:
    """The text cut where a cut is safe: a zero-width character (a combining accent, a
    variation selector) stays with the character before it; an escape stays whole."""
    clusters: list[str] = []
    for match in _ESCAPED.finditer(text):
        piece = match.group()
        if clusters and cell_len(piece) == 0:
            clusters[-1] += piece
        else:
            clusters.append(piece)
    return clusters


def shorten_middle(text: str, width: int, *, ellipsis: str = ELLIPSIS) -> str:
    """`text` in at most `width` terminal cells, shortened in the middle when too long.

    The end gets the larger share (`sweep/lr1…_bs128_seed3`): in a list of similar names
    the part that differs is usually the last. Measured in cells, never splitting a wide
    character, so the result may be a cell narrower than `width` (pad with `pad_cells`).
    Pass text that is already printable(). Pure; used wherever a name is shortened.
    """
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    room = width - cell_len(ellipsis)
    if room <= 0:
        return ellipsis if width >= cell_len(ellipsis) else ""
    clusters = _clusters(text)
    tail_room = math.ceil(room * TAIL_SHARE)
    tail: list[str] = []
    used = 0
    for cluster in reversed(clusters):
        size = cell_len(cluster)
        if used + size > tail_room:
            break
        tail.append(cluster)
        used += size
    tail.reverse()
    # Start the end part at a separator when one is just inside it: `…_seed3`, not `…d_seed3`.
    if tail and tail[0] not in _SEPARATORS:
        for index, cluster in enumerate(tail[1 : _SNAP_CELLS + 1], start=1):
            if cluster in _SEPARATORS and len(tail) - index >= 2:
                used -= sum(cell_len(c) for c in tail[:index])
                tail = tail[index:]
                break
    head: list[str] = []
    head_room = room - used
    for cluster in clusters[: len(clusters) - len(tail)]:
        size = cell_len(cluster)
        if size > head_room:
            break
        head.append(cluster)
        head_room -= size
    return "".join(head) + ellipsis + "".join(tail)


def pad_cells(text: str, width: int) -> str:
    """`text` padded with spaces on the right to `width` cells (never cut)."""
    return text + " " * max(0, width - cell_len(text))


def fit_cells(text: str, width: int) -> str:
    """`text` shortened in the middle and padded: exactly `width` cells (for columns)."""
    return pad_cells(shorten_middle(text, width), width)

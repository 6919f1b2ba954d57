"""One line of Rich text made into a Textual strip without Textual's text pipeline.

The header changes at every write of a live run (its step count), ten times a
second. Given as a Static's content, each change converted the Text into
Textual's Content, then wrapped, styled and cut it into a strip: 0.9 ms of
the UI thread for one line, more than the rest of the frame it is drawn in.
The line's look is made of a handful of styles that do not change between
writes (bold name, dim separators, the status word's colour), so the strip is
made here from Rich's own segments, with each Rich style mapped to the style
Textual gave it when it last drew that style itself (learned from its strip).
A style not seen yet, another theme or a selection in the widget: Textual
draws the line, and teaches the styles in it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


@lru_cache(maxsize=1024)
def _offset(x: int) -> Style:
    return Style.from_meta({"offset": (x, 0)})


class LineStyles:
    """Rich style -> the Rich style Textual renders it as (meta aside), for one look.

    `key` names the look (the widget's own style, the theme): styles learned under
    another key are forgotten, never used."""

    def __init__(self) -> None:
        self._key: Hashable = None
        self._styles: dict[Style | None, Style] = {}
        #: (style, offset) -> the learned style with that offset: a line's parts move by
        #: a cell or two as its numbers grow, so these are few (styles x offsets).
        self._placed: dict[tuple[Style | None, int], Style] = {}

    def strip(self, key: Hashable, segments: Sequence[Segment]) -> Strip | None:
        """The strip Textual would draw for these segments (of one line of Rich text), or
        None when a style in them is not known under `key`. Each segment carries the
        offset of its first character, as Textual's do (text selection reads them)."""
        if key != self._key:
            return None
        styles, placed = self._styles, self._placed
        out = []
        x = cells = 0
        for text, style, _ in segments:
            drawn = placed.get((style, x))
            if drawn is None:
                learned = styles.get(style)
                if learned is None:
                    return None
                drawn = placed[(style, x)] = learned + _offset(x)
            out.append(Segment(text, drawn))
            x += len(text)
            cells += cell_len(text)
        return Strip(out, cells)

    def learn(self, key: Hashable, segments: Sequence[Segment], drawn: Strip) -> bool:
        """Learn from Textual's strip for the same line: kept only when it is drawn segment
        for segment as Rich split it (same texts, an offset and nothing else as meta), so
        that a strip made later is the one Textual would have drawn. True if learned."""
        if key != self._key:
            self._key, self._styles, self._placed = key, {}, {}
        drawn_segments = list(drawn)
        if len(drawn_segments) != len(segments):
            return False
        found: dict[Style | None, Style] = {}
        x = 0
        for (text, style, _), (drawn_text, drawn_style, control) in zip(segments, drawn_segments):
            if control or drawn_text != text or drawn_style is None:
                return False
            if drawn_style.meta != {"offset": (x, 0)}:
                return False
            plain = drawn_style.clear_meta_and_links()
            if found.setdefault(style, plain) != plain:
                return False
            x += len(text)
        self._styles.update(found)
        self._placed.clear()  # made from the styles learned before
        return True


class LineFrame:
    """A one-line widget's whole line around its content strip: padding in the background's
    style, then the app's line filters, as Textual's line cache makes it (0.2 ms a frame for
    the header, more than the rest of the frame). Made here only for a frame `key` (the
    widget's look, gutter, size, crop and the filters) under which the line made here was
    the line Textual drew (`learn`): another look, a border, a tint, a filter that works
    otherwise, and Textual draws the line until it teaches the frame again."""

    def __init__(self) -> None:
        self._key: Hashable = None
        self._frame: tuple[Style, int, int, int, Any, tuple[Any, ...], Region] | None = None

    def lines(self, key: Hashable, content: Strip) -> list[Strip] | None:
        """The widget's lines around `content`, or None when the frame is not known."""
        if self._frame is None or key != self._key:
            return None
        return [_framed(content, *self._frame)]

    def learn(
        self, key: Hashable, widget: Widget, crop: Region, content: Strip, drawn: list[Strip]
    ) -> bool:
        """Learn the frame from Textual's lines `drawn` for `content`, if they are the line
        made here for it (segment for segment); else forget any frame. True if learned."""
        self._key, self._frame = None, None
        size = widget.region.size  # all of it: Widget.size is its content's
        if size.height != 1 or crop.height != 1 or crop.y != 0 or len(drawn) != 1:
            return False
        base_background, background = widget.background_colors
        gutter = widget.styles.gutter
        frame = (
            Style(bgcolor=(base_background + background).rich_color),
            gutter.left,
            gutter.right,
            size.width,
            background,
            tuple(widget.get_line_filters()),
            crop,
        )
        mine = _framed(content, *frame)
        if list(mine) != list(drawn[0]) or mine.cell_length != drawn[0].cell_length:
            return False
        self._key, self._frame = key, frame
        return True


def _framed(
    content: Strip,
    inner: Style,
    left: int,
    right: int,
    width: int,
    background: Any,
    filters: tuple[Any, ...],
    crop: Region,
) -> Strip:
    line = list(content.adjust_cell_length(width - left - right, inner))
    if left:
        line.insert(0, Segment(" " * left, inner))
    if right:
        line.append(Segment(" " * right, inner))
    strip = Strip(line, width)
    for line_filter in filters:
        strip = strip.apply_filter(line_filter, background)
    if crop.column_span != (0, width):
        strip = strip.crop(*crop.column_span)
    return strip

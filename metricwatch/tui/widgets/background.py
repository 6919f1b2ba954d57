"""Containers that draw nothing but their background, drawn without Textual's line cache.

Textual's compositor asks every widget whose parent overlaps a changed row for
all of its lines, not only the changed ones. When the header's one line
changes (every write of a live run), that is the screen, the body, the run
view, the charts grid, the bottom panel and the footer: about 0.1 ms each,
half of the frame, for lines of blank background that never change. These
containers have no border, padding, content or title: their lines are the
background, one blank strip repeated, which is made here once per look and
handed back as long as the look (the widget's visual style, the app's line
filters: NO_COLOR, the ANSI theme) and the size are the same. A container
given a border, padding, outline, tint, hatch, keyline or opacity by CSS, or a
border title, is drawn by Textual, and its lines are kept (KeptLines).

A container Textual draws (the runs list's sidebar, with its border) is asked for
its lines as often. Textual keeps the lines it rendered and hands them back, but
filters and crops each one again every time: 0.17 ms a frame for the sidebar's
40 lines, at every write. KeptLines hands back the same lines while Textual's
own line cache holds the same strips for the same look, filters and crop.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.containers import Container, Grid, Horizontal, Vertical
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer


def _plain(widget: Widget) -> bool:
    """Whether Textual would draw the widget's lines as its background alone."""
    styles = widget.styles
    return (
        widget.is_container
        and not any(styles.border.spacing)
        and not any(styles.padding)
        and not any(edge for edge, _ in styles.outline)
        and not styles.tint.a
        and not (styles.has_rule("hatch") and styles.hatch != "none")
        and (not styles.layout or styles.keyline[0] == "none")
        and styles.opacity == 1.0
        and styles.text_opacity == 1.0
        # A translucent screen shows the screen below through it.
        and (styles.background.a == 1.0 or not isinstance(widget, Screen))
    )


class KeptLines:
    """Mixin, before a container class: Textual's lines of the container, kept while
    Textual's line cache (its styles cache) still holds the strips they were made from,
    for the same look, filters and crop. Any change Textual redraws the container for (a
    style, a title, a resize, a refresh) replaces or clears those strips. A Textual
    without that cache, or a container under the mouse's link, is drawn as usual."""

    #: (look, filters, crop), the cached strips the lines were made from, and the lines.
    _kept_lines: tuple[tuple[Any, ...], list[Strip], list[Strip]] | None = None

    def render_lines(self: Any, crop: Region) -> list[Strip]:
        cache = getattr(self, "_styles_cache", None)
        made = getattr(cache, "_cache", None)
        dirty = getattr(cache, "_dirty_lines", None)
        if not isinstance(made, dict) or not isinstance(dirty, set) or self.hover_style.link_id:
            return super().render_lines(crop)
        key = (self.visual_style, tuple(self.get_line_filters()), crop)
        kept = self._kept_lines
        if kept is not None and not dirty and _same_key(kept[0], key):
            sources = kept[1]
            if all(made.get(y) is strip for y, strip in zip(crop.line_range, sources)):
                return kept[2]
        lines = super().render_lines(crop)
        sources = [made.get(y) for y in crop.line_range]
        if None not in sources:
            self._kept_lines = (key, sources, lines)
        return lines


def _same_key(kept: tuple[Any, ...], key: tuple[Any, ...]) -> bool:
    # The visual style is a new object whenever the styles (or the ancestors') change.
    return kept[0] is key[0] and kept[1] == key[1] and kept[2] == key[2]


class BackgroundOnly(KeptLines):
    """Mixin, before a container class, for a container of other widgets with no look of
    its own but its background: its lines are one blank strip in the background's style,
    filtered as Textual filters every line. Not a Widget itself: Textual takes a widget's
    CSS type names (`Footer`, `Grid`) along its first base that is one."""

    #: The look, filters and crop the lines were made for, and the lines (None: Textual's).
    _background_lines: tuple[tuple[Any, ...], list[Strip] | None] | None = None

    def render_lines(self: Any, crop: Region) -> list[Strip]:
        look = self.visual_style  # a new object whenever the styles (or the ancestors') change
        filters = tuple(self.get_line_filters())
        titled = self._border_title is not None or self._border_subtitle is not None
        memo = self._background_lines
        if memo is not None and not titled:
            (drawn_look, drawn_filters, drawn_crop), lines = memo
            if drawn_look is look and drawn_filters == filters and drawn_crop == crop:
                return lines if lines is not None else super().render_lines(crop)
        lines = self._blank_lines(crop, filters) if not titled and _plain(self) else None
        self._background_lines = ((look, filters, crop), lines)
        return lines if lines is not None else super().render_lines(crop)

    def _blank_lines(self: Any, crop: Region, filters: tuple[Any, ...]) -> list[Strip]:
        base_background, background = self.background_colors
        strip = Strip.blank(crop.width, Style(bgcolor=(base_background + background).rich_color))
        for line_filter in filters:
            strip = strip.apply_filter(line_filter, background)
        return [strip] * crop.height


class BackgroundScreen(BackgroundOnly, Screen):
    """The app's first screen: always the bottom one, so never drawn over another."""


class BackgroundHorizontal(BackgroundOnly, Horizontal):
    pass


class BackgroundVertical(BackgroundOnly, Vertical):
    pass


class BackgroundGrid(BackgroundOnly, Grid):
    pass


class BackgroundContainer(BackgroundOnly, Container):
    pass


class BackgroundFooter(BackgroundOnly, Footer):
    """Footer's own line (its keys are widgets of their own, drawn by Textual)."""

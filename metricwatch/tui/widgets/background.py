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
border title, is drawn by Textual as usual.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.containers import Container, Grid, Horizontal
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


class BackgroundOnly:
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


class BackgroundGrid(BackgroundOnly, Grid):
    pass


class BackgroundContainer(BackgroundOnly, Container):
    pass


class BackgroundFooter(BackgroundOnly, Footer):
    """Footer's own line (its keys are widgets of their own, drawn by Textual)."""

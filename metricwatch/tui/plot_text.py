"""A plotext figure as Rich Text, built from its cells rather than from its ANSI output.

plotext's `build()` turns its matrix of cells (character, colour, style,
background) into one ANSI string, a run of escape codes per change of colour,
and the chart widget turned that string back into Text (`Text.from_ansi`): at
a chart's size, two thirds of a redraw after the plot is laid out went into
writing and parsing escape codes. Here each row's runs of cells of the same
colours are appended to the Text directly, with the style `Text.from_ansi`
gives plotext's codes for those colours (worked out once per colours and
kept), so the Text is the same, span for span.
"""

from __future__ import annotations

from typing import Any

from plotext import _utility as plotext_utility
from rich.style import Style
from rich.text import Text

#: The style Text.from_ansi gives the codes plotext writes for a cell's colours.
_STYLES: dict[tuple[Any, Any, Any], Style | None] = {}


def _style(colors: tuple[Any, Any, Any]) -> Style | None:
    style = _STYLES.get(colors, _STYLES)
    if style is _STYLES:
        sample = Text.from_ansi(plotext_utility.colors_to_ansi(*colors) + "x")
        style = sample.spans[0].style if sample.spans else None
        if len(_STYLES) < 4096:  # a few per theme; never grows without bound
            _STYLES[colors] = style
    return style  # type: ignore[return-value]


def figure_text(figure: Any) -> Text:
    """The figure built (as plotext's `build()` lays it out), as Text: rows top to bottom
    joined by newlines, each row's runs of same-coloured cells one span."""
    figure._set_sizes()
    figure._build_matrix()
    matrix = figure.monitor.matrix
    lines = []
    for row in matrix.Rows[::-1]:
        markers = matrix.marker[row]
        colors = list(zip(matrix.fullground[row], matrix.style[row], matrix.background[row]))
        line = Text(end="")
        start = 0
        for col in range(1, len(colors) + 1):
            if col == len(colors) or colors[col] != colors[start]:
                line.append("".join(markers[start:col]), _style(colors[start]))
                start = col
        lines.append(line)
    return Text("\n").join(lines)

"""Charts turned into Text from plotext's cells (tui/plot_text.py) are the Text that
plotext's ANSI output parsed by `Text.from_ansi` was: the same characters, the same
spans, the same styles, for every theme, colour mode and layout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from test_charts_braille import spec_of
from textual_plotext.plot import Plot

from metricwatch.tui import plot_text, plotting
from metricwatch.tui.charts import ChartSpec
from metricwatch.tui.plot_text import figure_text


def both_ways(spec: ChartSpec, width: int, height: int, **options) -> tuple[Text, Text]:
    plt = Plot()
    plotting.draw(plt, spec, width, height, **options)
    plt._set_size(width, height)
    parsed = Text.from_ansi(plt.build())
    parsed.right_crop(1)  # plotext ends its last row with a newline
    plotting.draw(plt, spec, width, height, **options)
    plt._set_size(width, height)
    return parsed, figure_text(plt)


def same(parsed: Text, built: Text) -> None:
    assert built.plain == parsed.plain
    assert built.spans == parsed.spans
    assert (built.end, built.justify, built.no_wrap, built.style) == (
        parsed.end,
        parsed.justify,
        parsed.no_wrap,
        parsed.style,
    )


FALLING = (np.arange(3, 503), 2.0 * np.exp(-np.arange(500) / 90) + 0.1)
NOISY = (np.arange(17, 20_017), np.random.default_rng(5).normal(size=20_000).cumsum())
STEEP = (np.array([4.0, 5.0, 6.0, 7.0]), np.array([0.0, 100.0, -50.0, 3.0]))


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "nord", "monokai"])
@pytest.mark.parametrize("size", [(42, 13), (120, 30), (17, 6)], ids=str)
def test_a_chart_is_the_text_its_ansi_output_parses_to(theme, size):
    spec = spec_of(FALLING, NOISY, STEEP, raw=True, log_y=False)
    dark = theme != "textual-light"
    same(*both_ways(spec, *size, theme=theme, dark=dark))


@pytest.mark.parametrize(
    "fields", [{}, {"log_y": True}, {"clip_outliers": True}, {"zoom": 0.5}], ids=str
)
def test_log_scale_outliers_zoom_and_no_colour_match(fields):
    spec = spec_of(FALLING, (FALLING[0], FALLING[1][::-1] * 3), **fields)
    same(*both_ways(spec, 80, 24))
    same(*both_ways(spec, 60, 16, no_color=True))


def test_an_empty_chart_and_a_single_point_match():
    same(*both_ways(spec_of(), 40, 10))
    same(*both_ways(spec_of((np.array([12.0]), np.array([0.4]))), 40, 10))


@settings(max_examples=40, deadline=None)
@given(
    ys=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
    ),
    width=st.integers(12, 90),
    height=st.integers(5, 30),
    dark=st.booleans(),
)
def test_any_chart_matches(ys, width, height, dark):
    spec = spec_of((np.arange(len(ys)) * 7 + 3, np.array(ys)))
    same(*both_ways(spec, width, height, dark=dark))


def test_the_style_of_a_cells_colours_is_worked_out_once(monkeypatch):
    plot_text._STYLES.clear()
    parsed: list[str] = []
    real = Text.from_ansi

    def counting(text: str, *args, **kwargs) -> Text:
        parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(plot_text.Text, "from_ansi", counting)
    spec = spec_of(FALLING, NOISY)
    plt = Plot()
    plotting.draw(plt, spec, 60, 16)
    plt._set_size(60, 16)
    figure_text(plt)
    first = len(parsed)
    assert 0 < first == len(plot_text._STYLES)
    plotting.draw(plt, spec, 60, 16)
    plt._set_size(60, 16)
    figure_text(plt)
    assert len(parsed) == first  # the second chart asks for no style again

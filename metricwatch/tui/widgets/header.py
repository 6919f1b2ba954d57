"""The selected run's one-line header: name, epoch, last write, ETA, watch mode.

The only widget that changes on a timer (the "ago" label), and it repaints
only when its text actually changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static

from metricwatch.analysis.status import STATUS_LOOKS, Status
from metricwatch.metrics import format_duration
from metricwatch.safetext import printable, shorten_middle
from metricwatch.tui.state import RunState, format_ago
from metricwatch.tui.widgets.line_styles import LineFrame, LineStyles
from metricwatch.tui.widgets.paint_now import paint_or_refresh

#: Cells of the run name kept, shortened in the middle, before the ETA, the last write
#: and the status word are left out to make room (run position and watch mode go first).
NAME_KEEP = 24
#: The parts after the epoch in the order they are left out when the line is too long.
DROP_ORDER = ("follow", "position", "format", "mode", "eta", "ago", "word")
#: Levels from the fullest header to the barest: (filler words dropped, parts left out).
#: `following` goes before the filler words: it is the least needed part.
_LEVELS = ((False, 0), (False, 1), *((True, count) for count in range(1, len(DROP_ORDER) + 1)))
#: From this level on the name may be shortened (following, position and mode are out).
_SHORTEN_FROM = _LEVELS.index((True, 4))
_NULL = Style.null()


def _parts(
    state: RunState,
    now: float,
    mode_label: str,
    position: tuple[int, int] | None,
    compact: bool,
    mode_alert: bool = False,
    view_words: tuple[str, ...] = (),
    status: Status | None = None,
) -> list[tuple[str, str, str]]:
    """(kind, text, style) of each part after the epoch, in display order (`status`: the
    run's status now, when the caller has it)."""
    status = state.status(now) if status is None else status
    look = STATUS_LOOKS[status]
    parts: list[tuple[str, str, str]] = []
    following = "following" in view_words  # the `f` state: the first part left out
    view_words = tuple(w for w in view_words if w != "following")
    if view_words:  # how the charts are read (`smooth 0.9 · log y`): never left out
        parts.append(("view", " · ".join(view_words), "bold cyan"))
    if look.word_style is not None:
        parts.append(("word", look.word, look.word_style))
    if state.mtime is not None:
        ago = format_ago(now - state.mtime)
        parts.append(("ago", ago if compact else f"written {ago}", ""))
    eta = state.eta_s(now)
    if eta is not None and status not in (Status.STALLED, Status.GONE):
        parts.append(("eta", f"ETA {format_duration(eta)}", ""))
    # A watch that is not working as it should ("waiting for runs/", "watch limit") is
    # news: it is never left out to make room, and it is not dim.
    parts.append(
        ("alert", mode_label, "bold yellow") if mode_alert else ("mode", mode_label, "dim")
    )
    if state.format and state.format != "metricwatch":  # where the data came from
        parts.append(("format", state.format, "dim"))
    if position is not None and position[1] > 1:
        run = f"{position[0]}/{position[1]}"
        parts.append(("position", run if compact else f"run {run}", "dim"))
    if following:
        parts.append(("follow", "following", "cyan"))
    return parts


#: One piece of the header line: its text and its Rich style ("" for none).
Piece = tuple[str, str]


def header_text(
    state: RunState,
    now: float,
    mode_label: str,
    position: tuple[int, int] | None,
    *,
    width: int | None = None,
    mode_alert: bool = False,
    view_words: tuple[str, ...] = (),
) -> Text:
    """The header line: `● name  epoch N / T · finished · written 4s ago · ETA · mode · run`.

    With `width` (cells) it is one line that fits: first the filler words go, then the run
    position and the watch mode, so the full name shows; then the name is shortened in the
    middle down to NAME_KEEP cells; only then the ETA, the last write and the status word
    are left out, and the name takes what is left.
    """
    pieces = header_pieces(
        state, now, mode_label, position, width=width, mode_alert=mode_alert, view_words=view_words
    )
    text = pieces_text(pieces)
    if width is not None and text.cell_len > width:
        text.truncate(width, overflow="ellipsis")  # narrower than the epoch label itself
    return text


def header_pieces(
    state: RunState,
    now: float,
    mode_label: str,
    position: tuple[int, int] | None,
    *,
    width: int | None = None,
    mode_alert: bool = False,
    view_words: tuple[str, ...] = (),
) -> tuple[Piece, ...]:
    """header_text's line as (text, style) pieces, before any cut to `width`: what the
    header compares at every write and tick (most ticks change nothing) and draws its
    line from, with no Rich Text made."""
    status = state.status(now)
    look = STATUS_LOOKS[status]
    name = printable(state.name)
    epoch = state.epoch_label()
    shown = name
    if width is None:
        parts = _parts(state, now, mode_label, position, False, mode_alert, view_words, status)
    else:
        name_cells = cell_len(name)
        fixed_cells = cell_len(f"{look.mark} ") + cell_len(f"  {epoch}")
        for level, (compact, count) in enumerate(_LEVELS):
            left_out = DROP_ORDER[:count]
            parts = [
                p
                for p in _parts(
                    state, now, mode_label, position, compact, mode_alert, view_words, status
                )
                if p[0] not in left_out
            ]
            room = width - fixed_cells - sum(3 + cell_len(text) for _, text, _ in parts)
            if name_cells <= room:
                break
            last = level == len(_LEVELS) - 1
            if level >= _SHORTEN_FROM and (room >= NAME_KEEP or last):
                shown = shorten_middle(name, max(room, 1))
                break
    pieces: list[Piece] = [
        (f"{look.mark} ", look.style),
        (shown, "bold"),
        ("  ", ""),
        (epoch, "bold"),
    ]
    for _, part, part_style in parts:
        pieces.append((" · ", "dim"))
        pieces.append((part, part_style))
    return tuple(pieces)


def pieces_text(pieces: Sequence[Piece]) -> Text:
    """The pieces as one line of Rich Text (what the header gives Static to draw)."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for piece, style in pieces:
        text.append(piece, style=style)
    return text


def pieces_segments(pieces: Sequence[Piece], console: Console) -> list[Segment]:
    """line_segments(pieces_text(pieces)), made from the pieces: Rich's text gives a styled
    piece a segment of its own (an empty one none) and joins unstyled pieces that follow
    one another into one; a line with no style is one segment."""
    get_style = console.get_style
    segments: list[Segment] = []
    plain = ""  # unstyled text not yet given its segment
    for piece, style in pieces:
        if not piece:
            continue
        if not style:
            plain += piece
            continue
        if plain:
            segments.append(Segment(plain, _NULL))
            plain = ""
        segments.append(Segment(piece, get_style(style, default=_NULL)))
    if not segments:  # no style at all: Rich's one segment, of no style (even if empty)
        return [Segment(plain)]
    if plain:
        segments.append(Segment(plain, _NULL))
    return segments


def line_segments(text: Text, console: Console) -> list[Segment]:
    """Text.render's segments of a line whose spans follow one another (header_text's),
    made in one pass: Text.render's general walk of span boundaries cost more than the
    rest of the line's making. Text with a style of its own or spans that overlap, are
    empty or out of order: Text.render."""
    if text.style or not text.spans:
        return list(text.render(console, end=""))
    plain, get_style = text.plain, console.get_style
    segments: list[Segment] = []
    at = 0
    for start, end, style in text.spans:
        if start < at or end <= start or end > len(plain):
            return list(text.render(console, end=""))
        if start > at:
            segments.append(Segment(plain[at:start], _NULL))
        segments.append(Segment(plain[start:end], get_style(style, default=_NULL)))
        at = end
    if at < len(plain):
        segments.append(Segment(plain[at:], _NULL))
    return segments


class RunHeader(Static):
    """One line, always (CSS height 1, text fitted to the width): the full name when it
    fits, shortened in the middle when not; the full name is the tooltip.
    Unchanged text is not repainted."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._state: RunState | None = None
        self._mode = ""
        self._mode_alert = False
        self._position: tuple[int, int] | None = None
        #: The line's pieces and the width they were fitted to (None: nothing shown yet),
        #: and the line as Rich Text, made from them when asked for (_line_text).
        self._pieces: tuple[tuple[Piece, ...], int] | None = None
        self._text: Text | None = None
        self._now = 0.0
        #: How the charts are read (ViewOptions.labels), shown after the epoch.
        self.view_words: tuple[str, ...] = ()
        self._styles = LineStyles()
        #: The line made by LineStyles, and the look it was made for (None: Static draws).
        self._fast: tuple[tuple[object, ...], Strip] | None = None
        #: Its padding, background and filters around it, as Textual last drew them.
        self._frame = LineFrame()

    def show(
        self,
        state: RunState,
        now: float,
        mode_label: str,
        position: tuple[int, int] | None,
        mode_alert: bool = False,
    ) -> None:
        if self._state is None or self._state.name != state.name:
            self.tooltip = Text(printable(state.name))
        self._state, self._mode, self._position = state, mode_label, position
        self._mode_alert = mode_alert
        self.tick(now)

    def tick(self, now: float) -> None:
        self._now = now
        if self._state is None:
            return
        room = self.content_region.width
        pieces = header_pieces(
            self._state,
            now,
            self._mode,
            self._position,
            width=room or None,
            mode_alert=self._mode_alert,
            view_words=tuple(self.view_words),
        )
        if (pieces, room) == self._pieces:
            return  # (most ticks: the same line)
        self._pieces, self._text = (pieces, room), None
        self._fast = self._fast_strip()
        if self._fast is not None:
            # Drawn from the styles learned, and written at once (paint_now) when Textual
            # would draw just that; else in Textual's next frame.
            paint_or_refresh(self, self._frame_lines)
        else:
            self.update(self._line_text(), layout=False)  # one line whatever it says

    def _line_text(self) -> Text:
        """The line as header_text makes it (cut to the width it was fitted to)."""
        if self._text is None:
            pieces, room = self._pieces or ((), 0)
            text = pieces_text(pieces)
            if room and text.cell_len > room:
                text.truncate(room, overflow="ellipsis")  # narrower than the epoch label
            self._text = text
        return self._text

    def render_lines(self, crop: Region) -> list[Strip]:
        """The fast line in the frame LineFrame learned for this look, size and crop; else
        Textual's lines (which render_line below is asked for), and the frame learned."""
        lines = self._frame_lines(crop)
        if lines is not None:
            return lines
        lines = super().render_lines(crop)
        strip = self._fast_line()
        if strip is not None:
            self._frame.learn(self._frame_key(crop), self, crop, strip, lines)
        return lines

    def _frame_lines(self, crop: Region) -> list[Strip] | None:
        """The fast line in its learned frame, if both are there for this look and crop."""
        strip = self._fast_line()
        return None if strip is None else self._frame.lines(self._frame_key(crop), strip)

    def _fast_line(self) -> Strip | None:
        """The line made by LineStyles, if it is for the look the header has now."""
        if self._fast is None or self.text_selection is not None:
            return None
        look, strip = self._fast
        return strip if look == self._look() else None

    def _frame_key(self, crop: Region) -> tuple[object, ...]:
        # The visual style is a new object whenever the header's styles change: compared by
        # its id, and held in the key so that the id is not another object's meanwhile.
        look = self.visual_style
        return (
            id(look),
            look,
            self.styles.gutter,
            self.region.size,
            crop,
            *self.get_line_filters(),
        )

    def render_line(self, y: int) -> Strip:
        """The line LineStyles made when it knew its styles (see its module), if the look
        is still the one it was made for; else Static's, which it learns the styles from."""
        if y == 0 and self._fast is not None:
            look, strip = self._fast
            if look == self._look() and self.text_selection is None:
                return strip
            self._fast = None
            self.update(self._line_text(), layout=False)
        strip = super().render_line(y)
        if y == 0 and self._pieces is not None and self._fits():
            self._styles.learn(self._look(), self._segments(), strip)
        return strip

    def _fast_strip(self) -> tuple[tuple[object, ...], Strip] | None:
        if not self._fits():
            return None
        look = self._look()
        strip = self._styles.strip(look, self._segments())
        return None if strip is None else (look, strip)

    def _fits(self) -> bool:
        """A line Static would draw as it is: one line within the width, nothing selected."""
        if self.text_selection is not None or self._pieces is None:
            return False
        pieces, room = self._pieces
        if any("\n" in piece for piece, _ in pieces):
            return False
        cells = sum(cell_len(piece) for piece, _ in pieces)
        return 0 < min(cells, room or cells) <= self.content_region.width

    def _look(self) -> tuple[object, ...]:
        """What the styles Textual draws depend on besides the text's own."""
        return (self.visual_style, self.app.theme, self.app.ansi_color)

    def _segments(self) -> list[Segment]:
        """The line's Rich segments: made from its pieces, unless it was cut to its width."""
        pieces, room = self._pieces or ((), 0)
        if room and sum(cell_len(piece) for piece, _ in pieces) > room:
            return line_segments(self._line_text(), self.app.console)
        return pieces_segments(pieces, self.app.console)

    def on_resize(self) -> None:
        # The fit depends on the width, which is only known once laid out.
        self.tick(self._now)

    @property
    def plain(self) -> str:
        return self._line_text().plain if self._pieces is not None else ""

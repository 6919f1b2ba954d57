"""The selected run's one-line header: name, epoch, last write, ETA, watch mode.

The only widget that changes on a timer (the "ago" label), and it repaints
only when its text actually changed.
"""

from __future__ import annotations

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
) -> list[tuple[str, str, str]]:
    """(kind, text, style) of each part after the epoch, in display order."""
    status = state.status(now)
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
    look = STATUS_LOOKS[state.status(now)]
    name = printable(state.name)
    epoch = state.epoch_label()
    shown = name
    if width is None:
        parts = _parts(state, now, mode_label, position, False, mode_alert, view_words)
    else:
        name_cells = cell_len(name)
        for level, (compact, count) in enumerate(_LEVELS):
            left_out = DROP_ORDER[:count]
            parts = [
                p
                for p in _parts(state, now, mode_label, position, compact, mode_alert, view_words)
                if p[0] not in left_out
            ]
            fixed = cell_len(f"{look.mark} ") + cell_len(f"  {epoch}")
            fixed += sum(3 + cell_len(text) for _, text, _ in parts)
            room = width - fixed
            if name_cells <= room:
                break
            last = level == len(_LEVELS) - 1
            if level >= _SHORTEN_FROM and (room >= NAME_KEEP or last):
                shown = shorten_middle(name, max(room, 1))
                break
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{look.mark} ", style=look.style)
    text.append(shown, style="bold")
    text.append("  ")
    text.append(epoch, style="bold")
    for _, part, part_style in parts:
        text.append(" · ", style="dim")
        text.append(part, style=part_style)
    if width is not None and text.cell_len > width:
        text.truncate(width, overflow="ellipsis")  # narrower than the epoch label itself
    return text


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
        text = header_text(
            self._state,
            now,
            self._mode,
            self._position,
            width=room or None,
            mode_alert=self._mode_alert,
            view_words=tuple(self.view_words),
        )
        if text != self._text:
            self._text = text
            self._fast = self._fast_strip(text)
            if self._fast is not None:
                self.refresh()  # drawn by render_line from the styles learned
            else:
                self.update(text, layout=False)  # one line whatever the text: no relayout

    def render_lines(self, crop: Region) -> list[Strip]:
        """The fast line in the frame LineFrame learned for this look, size and crop; else
        Textual's lines (which render_line below is asked for), and the frame learned."""
        strip = self._fast_line()
        if strip is not None:
            lines = self._frame.lines(self._frame_key(crop), strip)
            if lines is not None:
                return lines
        lines = super().render_lines(crop)
        strip = self._fast_line()
        if strip is not None:
            self._frame.learn(self._frame_key(crop), self, crop, strip, lines)
        return lines

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
            self.update(self._text or "", layout=False)
        strip = super().render_line(y)
        if y == 0 and self._text is not None and self._fits(self._text):
            self._styles.learn(self._look(), self._segments(self._text), strip)
        return strip

    def _fast_strip(self, text: Text) -> tuple[tuple[object, ...], Strip] | None:
        if not self._fits(text):
            return None
        look = self._look()
        strip = self._styles.strip(look, self._segments(text))
        return None if strip is None else (look, strip)

    def _fits(self, text: Text) -> bool:
        """A line Static would draw as it is: one line within the width, nothing selected."""
        return (
            self.text_selection is None
            and "\n" not in text.plain
            and 0 < text.cell_len <= self.content_region.width
        )

    def _look(self) -> tuple[object, ...]:
        """What the styles Textual draws depend on besides the text's own."""
        return (self.visual_style, self.app.theme, self.app.ansi_color)

    def _segments(self, text: Text) -> list[Segment]:
        return line_segments(text, self.app.console)

    def on_resize(self) -> None:
        # The fit depends on the width, which is only known once laid out.
        self.tick(self._now)

    @property
    def plain(self) -> str:
        return self._text.plain if self._text is not None else ""

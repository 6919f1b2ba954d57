"""The selected run's one-line header: name, epoch, last write, ETA, watch mode.

The only widget that changes on a timer (the "ago" label), and it repaints
only when its text actually changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from metricwatch.metrics import format_duration
from metricwatch.safetext import printable
from metricwatch.tui.state import STATUS_LOOKS, RunState, Status, format_ago


def header_text(
    state: RunState,
    now: float,
    mode_label: str,
    position: tuple[int, int] | None,
    *,
    compact: bool = False,
    drop: int = 0,
) -> Text:
    """The header line; `compact` drops the filler words so it fits one narrow line,
    and `drop` leaves out that many of the least important trailing parts."""
    status = state.status(now)
    look = STATUS_LOOKS[status]
    text = Text(no_wrap=False)
    text.append(f"{look.mark} ", style=look.style)
    text.append(printable(state.name), style="bold")
    text.append("  ")
    text.append(state.epoch_label(), style="bold")
    parts: list[tuple[str, str]] = []
    if look.word_style is not None:
        parts.append((look.word, look.word_style))
    if state.mtime is not None:
        ago = format_ago(now - state.mtime)
        parts.append((ago if compact else f"written {ago}", ""))
    eta = state.eta_s(now)
    if eta is not None and status not in (Status.STALLED, Status.GONE):
        parts.append((f"ETA {format_duration(eta)}", ""))
    parts.append((mode_label, "dim"))
    if position is not None and position[1] > 1:
        run = f"{position[0]}/{position[1]}"
        parts.append((run if compact else f"run {run}", "dim"))
    for part, part_style in parts[: len(parts) - drop] if drop else parts:
        text.append(" · ", style="dim")
        text.append(part, style=part_style)
    return text


def _lines(text: Text, width: int) -> int:
    return -(-text.cell_len // width) if width else 1


class RunHeader(Static):
    """Static whose content is rebuilt from (state, now); unchanged text is not repainted."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._state: RunState | None = None
        self._mode = ""
        self._position: tuple[int, int] | None = None
        self._text: Text | None = None
        self._now = 0.0

    def show(
        self, state: RunState, now: float, mode_label: str, position: tuple[int, int] | None
    ) -> None:
        self._state, self._mode, self._position = state, mode_label, position
        self.tick(now)

    def tick(self, now: float) -> None:
        self._now = now
        if self._state is None:
            return
        text = header_text(self._state, now, self._mode, self._position)
        room = self.content_region.width
        # Too wide: shorten the words, then leave out run position and watch mode, so the
        # header stays one line; only an overlong run name still wraps.
        for drop in range(3):
            if not room or text.cell_len <= room:
                break
            text = header_text(
                self._state, now, self._mode, self._position, compact=True, drop=drop
            )
        if text != self._text:
            # Relayout only when the line count may change (the header wraps when too long).
            relayout = self._text is None or _lines(text, room) != _lines(self._text, room)
            self._text = text
            self.update(text, layout=relayout)

    def on_resize(self) -> None:
        # The fit depends on the width, which is only known once laid out.
        self.tick(self._now)

    @property
    def plain(self) -> str:
        return self._text.plain if self._text is not None else ""

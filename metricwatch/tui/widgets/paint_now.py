"""A widget's new lines written to the terminal at once, instead of in Textual's next frame.

A live run changes one line at each write: the header's step. Refreshed the
usual way, that line costs a whole frame: Textual's idle pass, the screen's
update timer, the compositor cutting every widget over the changed row into
chops, and the frame written. A minimal Textual app that gets a message and
refreshes a one-line widget ten times a second uses about 2.1 % of a core
for its UI thread (benchmarks/bench_textual_floor.py); with the line written
at once instead, as Textual's compositor would have drawn it, 1.0 %. In the
monitor that frame was about a third of the UI thread's time at each write.

It is written through Textual's own path (`App._display`: the same writer
thread and synchronised update, the cursor put back where Textual keeps it),
only when that draws exactly what a frame would: the widget on the active
screen (no modal screen over it), whole on screen, nothing drawn over it (a
tooltip, a toast), no batched update under way, a real terminal that is not
inline, and the caller's lines ready without Textual's line cache. A change
made inside a batched update (the app shows each write in one) is written as
soon as the handler that batched it returns. Otherwise, or with a Textual
that lacks what is used here, the widget is refreshed as usual.
Textual's line cache of the widget is marked stale, so that any later frame
draws the lines as they are now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

try:  # Textual's update of a screen region, as its compositor renders it
    from textual._compositor import LayoutUpdate
except ImportError:  # pragma: no cover - another Textual: refreshed as usual
    LayoutUpdate = None  # type: ignore[assignment,misc]

#: Lines of the widget for a crop, or None when only Textual's own drawing would do.
LinesFor = Callable[[Region], "list[Strip] | None"]


def layout_update(widget: Widget, lines_for: LinesFor) -> Any | None:
    """The update of the widget's region a frame would write, or None when a frame must
    draw it (see the module)."""
    if LayoutUpdate is None or not widget.is_attached:
        return None
    app = widget.app
    screen = widget.screen
    if app.screen is not screen or getattr(screen, "_layout_required", True):
        return None  # another screen over it, or its layout is about to change
    visible = getattr(getattr(screen, "_compositor", None), "visible_widgets", None)
    if not isinstance(visible, dict):
        return None
    placed = visible.get(widget)
    if placed is None:
        return None
    region, clip = placed
    if not region or not clip.contains_region(region):
        return None  # cut by its container: the frame crops it
    for other, (other_region, other_clip) in visible.items():  # top first
        if other is widget:
            break
        if other_region.intersection(other_clip).overlaps(region):
            return None  # drawn over it (a tooltip, a toast)
    lines = lines_for(Region(0, 0, region.width, region.height))
    if lines is None or len(lines) != region.height:
        return None
    return LayoutUpdate([[line] for line in lines], region)


def can_write(widget: Widget) -> bool:
    """Whether an update written now reaches the terminal as a frame's would."""
    app = widget.app
    driver = getattr(app, "_driver", None)
    return (
        driver is not None
        and not app.is_headless
        and not getattr(driver, "is_inline", True)
        and getattr(app, "_batch_count", 1) == 0
        and getattr(app, "_running", False)
        and not getattr(app, "_closed", True)
        and callable(getattr(app, "_display", None))
        and callable(getattr(widget, "_set_dirty", None))
    )


def paint_or_refresh(widget: Widget, lines_for: LinesFor) -> None:
    """The widget's lines written now, or right after the batched update under way (the
    app shows a write's changes in one), else refreshed as usual."""
    app = widget.app
    if getattr(app, "_batch_count", 0) and not app.is_headless:
        # Once the handler is done: a plain callback of the event loop (Textual's call_next
        # works out the callback's signature again at every call, which cost more here).
        asyncio.get_running_loop().call_soon(_paint_or_refresh, widget, lines_for)
    else:
        _paint_or_refresh(widget, lines_for)


def _paint_or_refresh(widget: Widget, lines_for: LinesFor) -> None:
    if not paint_now(widget, lines_for):
        widget.refresh()


def paint_now(widget: Widget, lines_for: LinesFor) -> bool:
    """Write the widget's lines to the terminal now; False when the caller must refresh."""
    if not can_write(widget):
        return False
    update = layout_update(widget, lines_for)
    if update is None:
        return False
    widget._set_dirty()  # Textual's cached lines of it are stale: a later frame redraws
    widget.app._display(widget.screen, update)
    return True

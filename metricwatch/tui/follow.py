"""`f` follow, and the view remembered per PATH across restarts: a mixin of the app.

Following (on by default, off once the user moves the selection): when a run
appears or another becomes the most recently written, it is selected. The
selection, marks, view options, filter and following are saved (state_file.py)
when they change and when the monitor quits, and restored at start: the saved
selection and marks as their runs appear.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.markup import escape
from textual.binding import Binding
from textual.widgets import Input

from metricwatch.safetext import printable
from metricwatch.tui.state_file import SavedView, load_view, save_view

FOLLOW_BINDING = Binding(
    "f", "follow", "Follow", show=False, tooltip="Follow the run written last (on until you move)"
)


class FollowAndRemember:
    """Needs the app's `states`, `selected`, `select`, `view`, `run_list`, `root`."""

    following: bool = True
    #: The state file (None: nothing remembered, as in the tests' apps).
    remember_in: Path | None = None
    _pending: SavedView | None = None
    _save_failed = False

    # --- follow -------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.following = not self.following
        self.notify("following the latest run" if self.following else "not following", timeout=2)  # type: ignore[attr-defined]
        self.follow_latest()
        self._show_selected()  # type: ignore[attr-defined]
        self.remember()

    def stop_following(self) -> None:
        """The user moved the selection: the monitor stops moving it."""
        if self.following:
            self.following = False
            self.remember()

    def follow_latest(self) -> None:
        """Select the most recently written run, when following and it is another one."""
        if not self.following:
            return
        states = [s for s in self.states.values() if not s.gone]  # type: ignore[attr-defined]
        if len(states) < 2:
            return
        latest = max(states, key=lambda s: s.mtime if s.mtime is not None else -math.inf)
        if latest.name != self.selected:  # type: ignore[attr-defined]
            self.select(latest.name)  # type: ignore[attr-defined]
        elif self.view.status_words != self.follow_words():  # type: ignore[attr-defined]
            self._show_selected()  # type: ignore[attr-defined]  # the header says `following`

    def follow_words(self) -> list[str]:
        return ["following"] if self.following and len(self.states) > 1 else []  # type: ignore[attr-defined]

    # --- remembered view ----------------------------------------------------------------------

    def restore_view(self) -> None:
        if self.remember_in is None:
            return
        saved = load_view(self.root, self.remember_in)  # type: ignore[attr-defined]
        self.following = saved.following
        self.view.options = saved.options  # type: ignore[attr-defined]
        self._pending = saved
        if saved.filter:
            box = self.query_one("#filter", Input)  # type: ignore[attr-defined]
            self.action_filter()  # type: ignore[attr-defined]
            box.value = saved.filter
            self.set_focus(None)  # type: ignore[attr-defined]

    def apply_pending(self) -> None:
        """The saved selection and marks, for the runs that have appeared."""
        saved = self._pending
        if saved is None:
            return
        states = self.states  # type: ignore[attr-defined]
        for name in [n for n in saved.marks if n in states]:
            saved.marks.remove(name)
            if name not in self.view.marks.names:  # type: ignore[attr-defined]
                self.mark_run(name)  # type: ignore[attr-defined]
        if saved.selected is not None and saved.selected in states and not self.following:
            self.select(saved.selected)  # type: ignore[attr-defined]
            saved.selected = None
        if not saved.marks and saved.selected is None:
            self._pending = None

    def remember(self) -> None:
        """Save the view for PATH; a state directory that cannot be written is said once."""
        if self.remember_in is None or not self.states:  # type: ignore[attr-defined]
            return  # nothing shown yet: the saved view stays as it is
        box = self.query_one("#filter", Input)  # type: ignore[attr-defined]
        view = SavedView(
            selected=self.selected,  # type: ignore[attr-defined]
            marks=list(self.view.marks.names),  # type: ignore[attr-defined]
            options=self.view.options,  # type: ignore[attr-defined]
            filter=box.value if box.has_class("-active") else "",
            following=self.following,
        )
        if self._pending is not None:  # runs not seen yet keep their saved marks
            view.marks += [m for m in self._pending.marks if m not in view.marks]
        try:
            save_view(self.root, view, self.remember_in)  # type: ignore[attr-defined]
        except OSError as error:
            if not self._save_failed:
                self._save_failed = True
                message = f"cannot remember the view: {error.strerror or error}"
                self.notify(escape(printable(message)), severity="warning", timeout=10)  # type: ignore[attr-defined]

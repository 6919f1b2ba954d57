"""The monitor: a Textual app fed by one background watcher thread.

Data flow: RunWatcher (metricwatch.watch) turns file changes into run
updates; the feed's thread (tui/feed.py) loads each changed run through
Ingest (parse, keep last good, summarise, diagnose) and posts RunState
messages; this module wires the widgets, keys and messages: the UI thread
only files the states and refreshes what changed. Only the selected
run's charts exist, and a run list row is re-rendered only when its text
changes, so 1,000 runs cost no more per event than one.

Entry points: `run_monitor(path)` for the CLI, `create_app(path, ...)` for
it and for the tests (which pass a fixed clock and may turn watching off).
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.worker import Worker, WorkerState

from metricwatch.model import Problem, ProblemKind, Run
from metricwatch.readers import FORMATS
from metricwatch.safetext import printable
from metricwatch.sources.discovery import is_single_run
from metricwatch.sources.remote import RemoteSpec
from metricwatch.tui.feed import FileRuns, RunFeed, describe_error
from metricwatch.tui.follow import FOLLOW_BINDING, FollowAndRemember
from metricwatch.tui.ingest import DAMAGE_GRACE_S, Ingest
from metricwatch.tui.messages import (
    ColumnsReady,
    RecheckDue,
    RunFailed,
    RunGone,
    RunsLoaded,
    RunsRemoved,
    ScanFinished,
    WatchError,
    WatchModeChanged,
)
from metricwatch.tui.screens.help import HelpScreen
from metricwatch.tui.state import RunState, build_state
from metricwatch.tui.state_file import state_file
from metricwatch.tui.view_keys import VIEW_BINDINGS, ViewKeys
from metricwatch.tui.widgets.background import (
    BackgroundFooter,
    BackgroundHorizontal,
    BackgroundScreen,
    BackgroundVertical,
)
from metricwatch.tui.widgets.run_list import RunList
from metricwatch.tui.widgets.run_view import RunView
from metricwatch.watch import (
    RunWatcher,
    WatchMode,
    choose_mode,
)

Clock = Callable[[], float]

#: Below this width the runs list starts hidden (`l` shows it) and is narrower when shown.
NARROW_WIDTH = 100
#: From this width the runs list is wider, so long run names show whole more often.
WIDE_WIDTH = 160
#: The "x s ago" label ticks this often; the stall check runs every STATUS_EVERY seconds.
TICK_S = 1.0
STATUS_EVERY = 5.0
#: The start of the problem shown on a run whose load raised.
LOAD_FAILED = "could not load this run: "


_M = TypeVar("_M")


def _while_running(
    handler: Callable[[MetricwatchApp, _M], None],
) -> Callable[[MetricwatchApp, _M], None]:
    """A message of the watch's that arrives while quitting takes the screen apart (a write
    read just before `q`) is dropped: its handler would look for widgets already gone."""

    @functools.wraps(handler)
    def guarded(app: MetricwatchApp, message: _M) -> None:
        if app.is_running:  # quitting sets it False before it removes any widget
            handler(app, message)

    return guarded


class MetricwatchApp(FollowAndRemember, ViewKeys, RunFeed, App[int]):
    """Watches the runs under one path."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "metricwatch"
    AUTO_FOCUS = "Screen.-list #runs"  # a hidden list is not focused (focus stays free)

    BINDINGS: ClassVar[list[Binding]] = [
        # description: the footer's word; tooltip: the help screen's line.
        Binding("j,down", "next_run", "Runs", key_display="j/k", tooltip="Next run"),
        Binding("k,up", "previous_run", "Prev run", show=False, tooltip="Previous run"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter runs by name"),
        Binding("m", "more_charts", "Charts", tooltip="Show the charts that do not fit"),
        Binding("l", "toggle_list", "List", tooltip="Show or hide the runs list"),
        Binding("r", "reload", "Reload", tooltip="Re-read every run and search PATH again"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="This help"),
        Binding("q", "quit", "Quit", tooltip="Quit"),
        Binding(
            "escape", "escape", "Clear", show=False, tooltip="Clear the filter, else the marks"
        ),
        *VIEW_BINDINGS,
        FOLLOW_BINDING,
    ]

    def __init__(
        self,
        root: Path,
        *,
        mode: WatchMode,
        clock: Clock = time.time,
        watch: bool = True,
        ingest: Ingest | None = None,
        remember: Path | None = None,
        remotes: Sequence[RemoteSpec] = (),
        local: bool = True,
    ) -> None:
        super().__init__()
        self.remember_in = remember  # the state file of remembered views (None: none)
        self.root = root
        self.local = local  # False: servers only, root only names the view (tui/feed.py)
        self.remotes = list(remotes)
        self.mode = mode
        self.clock = clock
        self.watching = watch
        self.ingest = ingest or Ingest(
            damage_grace_s=DAMAGE_GRACE_S,
            on_recheck=lambda name, path, delay: self.post_message(RecheckDue(name, path, delay)),
        )
        self.states: dict[str, RunState] = {}
        self.file_runs = FileRuns()  # the runs shown for each file (several: its parts)
        self.selected: str | None = None
        # The selected name as the worker threads see it (they never read `selected`).
        self._selected_lock = threading.Lock()
        self._wanted: str | None = None
        self._columns_pending: tuple[str, int] | None = None  # (name, version) being built
        #: The first scan's runs are all in `states` (its last message handled on the UI),
        #: or the watch failed (there will be no more).
        self.scan_done = threading.Event()
        self.single_run = is_single_run(root)
        self._stop = threading.Event()
        self._watch_over = threading.Event()  # the watch thread ended, or the app stops
        # The user's `l` choice; None: the default for the width (shown from NARROW_WIDTH).
        self._show_list: bool | None = None
        self._watcher: RunWatcher | None = None
        #: What _update_placeholder last showed: (the run view, the waiting text).
        self._placeholder: tuple[bool, bool] | None = None

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept: timers and every write look them up, and a DOM query walks every widget.
        self._run_list, self._view = RunList(id="runs"), RunView(id="view")
        with BackgroundHorizontal(id="body"):
            with BackgroundVertical(id="sidebar"):
                yield Input(placeholder="filter runs…", id="filter", disabled=True)
                yield self._run_list
            yield self._view
            yield Static(self._waiting_text(), id="waiting")
        yield BackgroundFooter(compact=True)

    def get_default_screen(self) -> Screen:
        return BackgroundScreen(id="_default")

    @property
    def run_list(self) -> RunList:
        return self._run_list

    @property
    def view(self) -> RunView:
        return self._view

    def _waiting_text(self, error: str | None = None) -> Text:
        if error is not None:
            text = Text("cannot watch: ", style="bold red")
            text.append(printable(error))
            return text
        if self.mode.waiting_for is not None:
            text = Text(f"waiting for {self.mode.waiting_for} to appear", style="bold")
            text.append("\n\nit does not exist (yet, or any more); its runs show once it does.")
            return text
        if not self.local:  # servers only (tui/feed.py)
            text = Text("waiting for runs from ", style="bold")
            text.append(", ".join(printable(spec.label) for spec in self.remotes))
            text.append("\n\nthey show once a server answers; one that does not is tried again.")
            return text
        text = Text("waiting for runs: ", style="bold")
        text.append(f"no run files under {printable(self.root)} yet")
        names = ", ".join(pattern for fmt in FORMATS for pattern in fmt.patterns)
        text.append(f"\n({names})", style="dim")
        text.append(f"\n\nwatching ({self.mode.label}); a run appears as soon as it writes.")
        return text

    def _wants_columns(self, name: str) -> bool:
        with self._selected_lock:
            return self._wanted == name

    def on_mount(self) -> None:
        self.screen.set_class(self.single_run, "-single")
        self._apply_size(self.size.width, self.size.height)
        self.view.display = False
        self.query_one("#waiting").display = False
        self.set_interval(TICK_S, self._tick)
        self.set_interval(STATUS_EVERY, self._check_status)
        self.restore_view()
        self._watch_runs()
        self._watch_remotes()

    def on_resize(self, event: Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        """Screen classes from the terminal size; the run view fits itself to what it gets."""
        screen = self.screen
        screen.set_class(width < NARROW_WIDTH, "-narrow")
        screen.set_class(width >= WIDE_WIDTH, "-wide")
        shown = self._list_wanted(width)
        screen.set_class(shown, "-list")
        if not shown and self.run_list.has_focus:
            self.set_focus(None)  # not a hidden widget; j/k and the arrows still switch runs

    def _list_wanted(self, width: int) -> bool:
        """The user's `l` choice, else the default: shown from NARROW_WIDTH columns
        (a one-run PATH starts without it)."""
        if self._show_list is not None:
            return self._show_list
        return not self.single_run and width >= NARROW_WIDTH

    # --- the background thread ----------------------------------------------------------------

    @_while_running
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            if event.worker.group == "watch":
                self.scan_done.set()
                # Nothing is watched any more: the header says so (in yellow), not "events".
                self.mode = replace(self.mode, note="stopped: r to restart")
                self.query_one("#waiting", Static).update(self._waiting_text(describe_error(error)))
                self._update_placeholder()
                self._show_selected()
            self.notify(
                f"{event.worker.name} stopped: {escape(printable(describe_error(error)))}",
                severity="error",
                timeout=30,
            )

    def on_unmount(self) -> None:
        self._stop.set()
        self._watch_over.set()  # the watch worker returns even if its thread is stuck
        self.ingest.close()  # a load waiting on a blocked read gives up: quitting is prompt

    # --- messages from the worker ------------------------------------------------------------

    @_while_running
    def on_runs_loaded(self, message: RunsLoaded) -> None:
        now = self.clock()
        fresh = []
        for state in message.states:
            stored = self.states.get(state.name)
            if stored is not None and state.version < stored.version:
                continue  # an older read finished after a newer one: keep the newer
            if stored is not None and stored.gone and _missing(state):
                continue  # a read racing the deletion: the run stays gone, with its last data
            self.states[state.name] = state
            fresh.append(state)
        if self.single_run and len(self.states) > 1:
            # The one file named holds several runs (Keras fits appended): list them.
            self.single_run = False
            self.screen.set_class(False, "-single")
            self._apply_size(self.size.width, self.size.height)
        with self.batch_update():
            self.run_list.upsert(fresh, now)
            if self.selected is None and self.states:
                self.select(next(iter(self.states)))
            elif self.selected in {s.name for s in fresh}:
                self._show_selected()
            self.apply_pending()
            self.follow_latest()
            self._update_placeholder()

    @_while_running
    def on_columns_ready(self, message: ColumnsReady) -> None:
        built = message.state
        if self._columns_pending == (built.name, built.version):
            self._columns_pending = None
        stored = self.states.get(built.name)
        if stored is None or stored.version != built.version or stored.has_columns:
            return
        self.states[built.name] = replace(
            stored, _columns=built.columns_built, _axes=built._axes or stored._axes
        )
        if built.name == self.selected:
            self._show_selected()

    def on_recheck_due(self, message: RecheckDue) -> None:
        # A little after the grace, so the re-read finds it over.
        self.set_timer(
            message.delay + 0.05, lambda: self._recheck_run(message.name, message.metrics_path)
        )

    @_while_running
    def on_watch_error(self, message: WatchError) -> None:
        self.notify(escape(printable(message.error)), severity="warning", timeout=10)

    @_while_running
    def on_run_gone(self, message: RunGone) -> None:
        state = self.states.get(message.name)
        if state is None:
            return
        self.states[message.name] = replace(state, gone=True)
        self.run_list.upsert([self.states[message.name]], self.clock())
        if message.name == self.selected:
            self._show_selected()

    @_while_running
    def on_runs_removed(self, message: RunsRemoved) -> None:
        """Runs their file no longer holds leave the list; the selection moves on."""
        names = [name for name in message.names if name in self.states]
        if not names:
            return
        for name in names:
            del self.states[name]
        with self.batch_update():
            self.run_list.remove(names)
            if self.selected in names:
                self.selected = None
                if self.run_list.names:
                    self.select(self.run_list.names[0])
                elif self.states:
                    self.select(next(iter(self.states)))
            self._update_placeholder()

    @_while_running
    def on_run_failed(self, message: RunFailed) -> None:
        problem = Problem(ProblemKind.UNREADABLE, f"{LOAD_FAILED}{message.error}")
        state = self.states.get(message.name)
        if state is None:
            state = build_state(Run(message.name, message.metrics_path, problems=[problem]))
        else:
            earlier = [p for p in state.problems if not _is_load_failure(p)]
            state = replace(state, problems=[problem, *earlier])
        self.on_runs_loaded(RunsLoaded([state]))

    @_while_running
    def on_scan_finished(self, message: ScanFinished) -> None:
        # Every RunsLoaded of the scan came before this message. Set here, not by the watch
        # thread after posting: this handler could run first and find the scan not done,
        # and the empty folder's "waiting" never showed.
        self.scan_done.set()
        self._update_placeholder()
        # Everything built so far (widgets, the runs read) lives as long as the app: moving
        # it out of the collector's sight keeps full collections short during live updates.
        gc.freeze()

    @_while_running
    def on_watch_mode_changed(self, message: WatchModeChanged) -> None:
        """The header's label and the waiting text follow; the reason is told once."""
        self.mode = message.mode
        self.query_one("#waiting", Static).update(self._waiting_text())
        if message.reason:
            severity = "warning" if message.mode.degraded else "information"
            self.notify(escape(printable(message.reason)), severity=severity, timeout=10)
        self._show_selected()

    # --- selection ----------------------------------------------------------------------------

    def select(self, name: str) -> None:
        """Switch the whole screen to another run at once."""
        if name not in self.states:
            return
        changed = name != self.selected
        self.selected = name
        with self._selected_lock:
            self._wanted = name
        self.run_list.highlight_name(name)
        if changed:
            self.view.chart_offset = 0
        self._show_selected()
        if changed:
            self.remember()

    def _show_selected(self) -> None:
        state = self.states.get(self.selected or "")
        if state is None:
            return
        names = self.run_list.names
        position = (names.index(state.name) + 1, len(names)) if state.name in names else None
        if not state.has_columns and self._columns_pending != (state.name, state.version):
            self._columns_pending = (state.name, state.version)
            self._build_columns(state)  # charts follow in ColumnsReady; the rest shows now
        self.view.compared = self.compared_states()
        self.view.status_words = self.follow_words()
        with self.batch_update():
            self.view.show(state, self.clock(), self.mode.label, position, self.mode.degraded)

    def _update_placeholder(self) -> None:
        has_runs = bool(self.states)
        waiting = not has_runs and self.scan_done.is_set()
        if (has_runs, waiting) == self._placeholder:
            return  # (every write of a live run: no DOM query, no style set)
        self._placeholder = (has_runs, waiting)
        self.view.display = has_runs
        self.query_one("#waiting").display = waiting

    @on(RunList.WidthChanged)
    def _on_run_list_width_changed(self) -> None:
        self.run_list.rebuild(self.states, self.clock())
        if self.selected is not None:
            self.run_list.highlight_name(self.selected)

    @on(OptionList.OptionHighlighted, "#runs")
    def _on_run_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # A stale event (a later highlight already superseded it, e.g. j pressed twice
        # quickly) must not re-select its run: that would set the highlight back, post
        # another event, and the two runs would select each other forever.
        if not self._widgets_mounted():
            return  # handled after quit took the list away
        if event.option_index != self.run_list.highlighted:
            return
        if event.option.id is not None and event.option.id != self.selected:
            self.stop_following()
            self.select(event.option.id)

    # --- timers -------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.selected is not None and self._widgets_mounted():
            self.view.tick(self.clock())

    def _widgets_mounted(self) -> bool:
        """Whether the main screen's widgets are there: a timer may fire while the app is
        being torn down (on quit), when they are already gone."""
        return bool(self.screen_stack) and self._view.is_attached and self._run_list.is_attached

    def _check_status(self) -> None:
        """Live marks age into idle or stalled with time alone: re-check, no re-parse."""
        if not self._widgets_mounted():
            return
        now = self.clock()
        self.run_list.upsert(self.states.values(), now)
        if self.selected is not None:
            self.view.refresh_findings(now)

    # --- actions ------------------------------------------------------------------------------

    def _step(self, delta: int) -> None:
        self.stop_following()
        names = self.run_list.names
        if not names:
            return
        if self.selected in names:
            index = max(0, min(len(names) - 1, names.index(self.selected) + delta))
        else:
            index = 0
        self.select(names[index])

    def action_next_run(self) -> None:
        self._step(1)

    def action_previous_run(self) -> None:
        self._step(-1)

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.disabled = False
        filter_input.add_class("-active")
        self.screen.add_class("-filtering")
        filter_input.focus()

    @on(Input.Changed, "#filter")
    def _on_filter_changed(self, event: Input.Changed) -> None:
        self.run_list.set_filter(event.value, self.states, self.clock())
        names = self.run_list.names
        if names and self.selected not in names:
            self.select(names[0])
        elif self.selected in names:
            self._show_selected()

    @on(Input.Submitted, "#filter")
    def _on_filter_submitted(self, event: Input.Submitted) -> None:
        self.remember()
        if not event.value:
            self.action_clear_filter()
        else:
            self.run_list.focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if not filter_input.has_class("-active"):
            return
        filter_input.value = ""
        filter_input.remove_class("-active")
        filter_input.disabled = True
        self.screen.remove_class("-filtering")
        self.run_list.set_filter("", self.states, self.clock())
        self.remember()
        if self.selected is not None:
            self.run_list.highlight_name(self.selected)
            self._show_selected()
        if self.screen.has_class("-list"):
            self.run_list.focus()
        else:
            self.set_focus(None)  # the list hides again with the filter: do not focus it

    def action_more_charts(self) -> None:
        if not self.view.cycle_charts():
            self.notify("all charts are shown", timeout=2)

    def action_toggle_list(self) -> None:
        """Show or hide the runs list, at any width; the choice then holds across resizes."""
        self._show_list = not self.screen.has_class("-list")
        self.screen.set_class(self._show_list, "-list")
        if self._show_list:
            self.run_list.focus()
        elif self.run_list.has_focus:
            self.set_focus(None)  # not a hidden widget; j/k and the arrows still switch runs

    def action_reload(self) -> None:
        targets = [(s.name, s.metrics_path) for s in self.states.values() if not s.gone]
        self._reload_runs(targets)
        if self._watch_over.is_set() and not self._stop.is_set():
            # The watch thread died (its error is on screen): start it again.
            self._watch_over = threading.Event()
            self.mode = replace(self.mode, note="")
            self._watch_runs()
        elif self._watcher is not None:
            self._watcher.request_rescan()  # search PATH again and renew the watch
        self.notify(f"reloading {len(targets)} run{'s' if len(targets) != 1 else ''}", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(list(self.BINDINGS)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Keys" panel docks beside the view, squeezing it, and Esc (our clear
        # filter) does not close it: `?` is the keys help here, a screen that Esc closes.
        for command in super().get_system_commands(screen):
            if command.title != "Keys":
                yield command
        yield SystemCommand("Keys and help", "Every key and the status marks (?)", self.action_help)
        yield SystemCommand("Next run", "Show the next run", self.action_next_run)
        yield SystemCommand("Previous run", "Show the previous run", self.action_previous_run)
        yield SystemCommand("Filter runs", "Filter the runs list by name", self.action_filter)
        yield SystemCommand("More charts", "Show charts that do not fit", self.action_more_charts)
        yield SystemCommand("Reload", "Re-read every run and search PATH again", self.action_reload)
        yield SystemCommand("Runs list", "Show or hide the runs list", self.action_toggle_list)
        yield from self.view_commands()
        yield SystemCommand("Follow", "Follow the run written last (f)", self.action_follow)


def _is_load_failure(problem: Problem) -> bool:
    return problem.kind is ProblemKind.UNREADABLE and problem.message.startswith(LOAD_FAILED)


def _missing(state: RunState) -> bool:
    """The read found no file: what a run that is gone reads like."""
    return any(p.kind is ProblemKind.MISSING for p in state.problems)


def create_app(
    path: Path,
    *,
    poll_interval: float | None = None,
    clock: Clock = time.time,
    watch: bool = True,
    remember: Path | None = None,
    remotes: Sequence[RemoteSpec] = (),
    local: bool = True,
) -> MetricwatchApp:
    """The app for PATH: watch mode chosen here (events, or polling on network file systems);
    `remotes`: servers whose runs are shown too (`local` False: only theirs)."""
    mode = choose_mode(path, poll_interval)
    return MetricwatchApp(
        path, mode=mode, clock=clock, watch=watch, remember=remember, remotes=remotes, local=local
    )


def run_monitor(
    path: Path,
    *,
    poll_interval: float | None = None,
    remotes: Sequence[RemoteSpec] = (),
    local: bool = True,
) -> int:
    """Run the monitor until the user quits; the exit code for the CLI."""
    app = create_app(
        path, poll_interval=poll_interval, remember=state_file(), remotes=remotes, local=local
    )
    app.run()
    return app.return_code or 0

"""Loading runs into RunStates, off the UI thread.

Small files are parsed in the calling (worker) thread. A big metrics.json
is parsed in a child process instead: `json.loads` of 50 MB holds the GIL
for about a second, which would freeze the UI however the thread is
scheduled. The child keeps its own loader and last good runs (it lives as
long as the app) and ships back a RunState whose series are numpy arrays,
cheap to unpickle, instead of a million Record objects. Appended logs (CSV,
JSON lines) and tails (TensorBoard event files) stay here however big: their
reads hold the GIL for a chunk at most, and after the first read an update
parses only the new lines or records, where the child would ship the whole
run back (27 MB for a million points) at every write.

A cut file seen for a moment is a normal rewrite (a writer that truncates
and rewrites metrics.json in place is cut on every epoch), not news: with a
damage grace, the monitor's Ingest keeps showing the last good data without
the damage notice until the file has stayed damaged for that long, then
asks for one re-check (`on_recheck`), which reports it; `r` (reveal) shows
it at once. This is the only place that decides when damage is reported.
Reads that cannot be made (unreadable, blocked, gone) are reported at once.

A file holding several runs (an MLflow store, Keras fits appended) loads as
one RunState per part (`load_all`, see metricwatch.run_parts), all of one
read and one version; the last good data is kept part by part. A part whose
read did not change (the same table: an MLflow store reads only new rows)
keeps its RunState: one run logging into a store of hundreds costs one
summary, and the child ships back only the parts that changed.
"""

from __future__ import annotations

import contextlib
import pickle
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import count
from pathlib import Path
from typing import IO, Any

from metricwatch.allocator import keep_freed_memory
from metricwatch.model import ProblemKind, Run
from metricwatch.pacing import Pacer
from metricwatch.readers import DAMAGE_KINDS, tail_format
from metricwatch.run_parts import expand
from metricwatch.sources.discovery import claims_file
from metricwatch.sources.loader import RunLoader, keep_last_good
from metricwatch.tui.state import RunState, build_state, grown_state

#: Files at least this big are parsed in the child process.
BIG_FILE_BYTES = 8 * 2**20
#: Seconds a file may stay cut (empty, truncated, invalid) before the monitor says so: a
#: non-atomic rewrite of a few hundred KB is over in milliseconds; 2 s is a broken file.
DAMAGE_GRACE_S = 2.0
#: Damage a rewrite in progress shows (what the grace applies to).
REWRITE_KINDS = DAMAGE_KINDS - {ProblemKind.UNREADABLE, ProblemKind.MISSING}

#: The share of a core the summaries and rules of a run written many times a second may
#: take, and the longest its findings and best values may lag its progress: 5 s. A quarter
#: of a percent: a million-point Lightning run (2.5 ms an analysis) is analysed once a
#: second, a TensorBoard one (about 10 ms) every 4 s; at 1 % the first took 1 % of a core
#: again in analyses four times a second, for findings that do not move in a quarter second.
#: A run's first NaN is analysed at once whatever the pace (state.grown_state), and its
#: progress and last values are shown at every write.
ANALYSIS_SHARE = 0.0025
ANALYSIS_LONGEST_S = 5.0
#: The re-read for a due analysis comes this long after it is due: a run still writing has
#: been analysed by then at its next write (recheck_wanted says so, and the re-read, its
#: load and the screen update it would cost, are skipped); it is for a run that stopped.
ANALYSIS_QUIET_S = 0.5

#: on_recheck(name, metrics_path, delay_s): read this run again in delay_s seconds (name: the
#: run shown, a part's name for a file of several runs).
Recheck = Callable[[str, Path, float], None]


class Ingest:
    """Turns (name, metrics path) into a RunState, keeping the last good data of each run."""

    def __init__(
        self,
        big_file_bytes: int = BIG_FILE_BYTES,
        *,
        damage_grace_s: float = 0.0,
        on_recheck: Recheck | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.big_file_bytes = big_file_bytes
        self.damage_grace_s = damage_grace_s
        self.on_recheck = on_recheck
        self._clock = clock
        self._damaged_since: dict[tuple[Path, str], float] = {}  # (file, run shown)
        self._loader = RunLoader()
        self._previous: dict[Path, Run] = {}
        self._in_child: set[Path] = set()  # files whose last good read the child holds
        # (file, part shown) -> (its table, its read's stamp, its state): parts unchanged
        self._parts: dict[tuple[Path, str], tuple[Any, tuple, RunState]] = {}
        self._child_parts: dict[tuple[Path, str], RunState] = {}  # ... as the child sent them
        # file -> its last analysed state and the pacing of its analyses (see _state)
        self._analysed: dict[Path, tuple[RunState, Pacer]] = {}
        self._analysis_due: set[Path] = set()  # files with a re-read asked for, to analyse
        self._pieces: set[Path] = set()  # runs known to be read in pieces here (no size asked)
        self._lock = threading.Lock()
        self._path_locks: dict[Path, threading.Lock] = {}
        self._child: _Child | None = None
        self._versions = count(1)
        self._closed = False

    @property
    def parses(self) -> int:
        return self._loader.parses

    def load(
        self, name: str, metrics_path: Path, *, columns: bool = False, reveal: bool = False
    ) -> RunState:
        """Read (if changed), merge with the last good read, summarise and diagnose; damage
        within the grace is not reported yet (see the module docstring), unless `reveal`.
        For a file of several runs, its first part (load_all gives them all)."""
        return self.load_all(name, metrics_path, columns=columns, reveal=reveal)[0]

    def load_all(
        self, name: str, metrics_path: Path, *, columns: bool = False, reveal: bool = False
    ) -> list[RunState]:
        """load, for every run the file holds: one state per part, or the one run."""
        states = self._load(name, metrics_path, columns)
        return [self._grace(metrics_path, state, reveal) for state in states]

    def _grace(self, metrics_path: Path, state: RunState, reveal: bool) -> RunState:
        key = (metrics_path, state.name)
        if not any(p.kind in REWRITE_KINDS for p in state.problems):
            with self._lock:
                self._damaged_since.pop(key, None)
            return state
        if reveal or self.damage_grace_s <= 0:
            return state
        now = self._clock()
        with self._lock:
            first = key not in self._damaged_since
            since = self._damaged_since.setdefault(key, now)
        if now - since >= self.damage_grace_s:
            return state
        if first and self.on_recheck is not None:
            # One re-check per spell of damage, when the grace is over: a file that stays
            # cut gets no further event, and must not stay unreported.
            self.on_recheck(state.name, metrics_path, self.damage_grace_s)
        return replace(state, problems=[p for p in state.problems if p.kind not in REWRITE_KINDS])

    def _load(self, name: str, metrics_path: Path, columns: bool) -> list[RunState]:
        """The last good read of a file lives where it was parsed: here, or in the child for a
        big file. A damaged small read after a big good one (the 50 MB file truncated to
        nothing mid-write) is therefore merged by the child, which holds that data.
        """
        with self._lock:
            in_pieces = metrics_path in self._pieces  # known: no stat to ask its size
        if not in_pieces and tail_format(metrics_path.name) is not None:
            # a run read by its tail (TensorBoard's event files, an MLflow run): read here by
            # its new bytes whatever its size, as the loader decides from the name alone
            with self._lock:
                self._pieces.add(metrics_path)
            in_pieces = True
        if (
            not in_pieces
            and self._loader.size(metrics_path) >= self.big_file_bytes
            and not self._in_pieces(metrics_path)
        ):
            state = self._load_in_child(name, metrics_path)
            with self._lock:
                self._previous.pop(metrics_path, None)
                self._in_child.add(metrics_path)
            return state
        # One read of a file at a time, in order (its version is taken after it); reads of
        # other files go on meanwhile: a read that blocks holds up only its own run.
        with self._path_lock(metrics_path):
            current = self._loader.load(name, metrics_path)
            with self._lock:
                run, version, from_child, damaged = self._settle(metrics_path, current)
        if from_child:
            if damaged:
                return self._load_in_child(name, metrics_path)
            self._drop_in_child(metrics_path)
        if run.parts:
            states = self._part_states(metrics_path, expand(run), version)
        else:
            states = [self._state(name, metrics_path, run, version)]
        return [state.with_columns() for state in states] if columns else states

    def _state(self, name: str, metrics_path: Path, run: Run, version: int) -> RunState:
        """The run's state: analysed (summary and rules over the whole run) when the last
        analysis is paid for (ANALYSIS_SHARE of a core), else the last analysis grown to
        this read (grown_state), with a re-read asked for when the analysis is due: a
        million-point run written ten times a second is not analysed ten times a second,
        and its last write is always analysed."""
        now = self._clock()
        with self._lock:
            analysed, pacer = self._analysed.get(metrics_path, (None, None))
        if analysed is not None and pacer is not None and self.on_recheck is not None:
            wait = pacer.wait(now)
            grown = grown_state(analysed, run, version=version) if wait > 0 else None
            if grown is not None:
                with self._lock:
                    ask = metrics_path not in self._analysis_due
                    self._analysis_due.add(metrics_path)
                if ask:
                    self.on_recheck(name, metrics_path, wait + ANALYSIS_QUIET_S)
                return grown
        started = time.perf_counter()
        state = build_state(run, version=version)
        pacer = pacer or Pacer(share=ANALYSIS_SHARE, longest=ANALYSIS_LONGEST_S)
        pacer.begin(now, time.perf_counter() - started)
        with self._lock:
            self._analysed[metrics_path] = (state, pacer)
            self._analysis_due.discard(metrics_path)
        return state

    def recheck_wanted(self, metrics_path: Path) -> bool:
        """Whether a re-read asked for (on_recheck) is still needed: the file's analysis is
        still due, or a read of it is still damaged. A run that wrote meanwhile was read,
        analysed or reported then."""
        with self._lock:
            if metrics_path in self._analysis_due:
                return True
            return any(key[0] == metrics_path for key in self._damaged_since)

    def _in_pieces(self, metrics_path: Path) -> bool:
        """_read_in_pieces, which reads the file's head to tell its format: once for a big
        appended log, not again at every write (a whole-file read costs far more than the
        sniff: those are asked again, so a file that becomes an appended log is seen)."""
        with self._lock:
            if metrics_path in self._pieces:
                return True
        known = _read_in_pieces(metrics_path)
        if known:
            with self._lock:
                self._pieces.add(metrics_path)
        return known

    def _part_states(self, metrics_path: Path, parts: list[Run], version: int) -> list[RunState]:
        """The parts' states, each built again only when its read changed."""
        states = []
        with self._lock:
            known = {k: v for k, v in self._parts.items() if k[0] == metrics_path}
        fresh = {}
        for part in parts:
            key = (metrics_path, part.name)
            stamp = (part.mtime, part.format, tuple(part.problems), part.meta)
            found = known.get(key)
            if found is not None and found[0] is part.table and found[1] == stamp:
                state = found[2]
            else:
                state = build_state(part, version=version)
            fresh[key] = (part.table, stamp, state)
            states.append(state)
        with self._lock:
            for key in known:
                self._parts.pop(key, None)
            self._parts.update(fresh)
        return states

    def _path_lock(self, metrics_path: Path) -> threading.Lock:
        with self._lock:
            return self._path_locks.setdefault(metrics_path, threading.Lock())

    def _settle(self, metrics_path: Path, current: Run) -> tuple[Run, int, bool, bool]:
        """Merge a read with the last good one (caller holds the lock); (run, version,
        whether the last good read is in the child, whether this read is damaged)."""
        run, version = current, 0
        damaged = any(p.kind in DAMAGE_KINDS for p in current.problems)
        from_child = metrics_path in self._in_child
        if not from_child:
            previous = self._previous.get(metrics_path)
            run = keep_last_good(previous, current)
            # Remember the last good read, not the merge: a merge carries the damaged
            # read's problems, which would then stick to every later damaged read.
            self._previous[metrics_path] = current if run is current else previous
            version = next(self._versions)
        elif not damaged:
            self._in_child.discard(metrics_path)
            self._previous[metrics_path] = run = current
            version = next(self._versions)
        return run, version, from_child, damaged

    def forget(self, metrics_path: Path) -> None:
        """Drop the cached parse, so the next load reads the file again (the `r` key)."""
        with self._lock:
            self._loader.forget(metrics_path)
            self._analysed.pop(metrics_path, None)  # and analysed again, at once
            self._pieces.discard(metrics_path)
            child = self._child if metrics_path in self._in_child else None
        if child is not None and child.alive:
            child.forget(metrics_path)

    def drop(self, metrics_path: Path) -> None:
        """Forget the file's cached parse and its last good read (in the child too)."""
        with self._lock:
            self._loader.forget(metrics_path)
            self._previous.pop(metrics_path, None)
            self._analysed.pop(metrics_path, None)
            self._analysis_due.discard(metrics_path)
            self._pieces.discard(metrics_path)
            self._path_locks.pop(metrics_path, None)
            self._in_child.discard(metrics_path)
            for key in [k for k in self._damaged_since if k[0] == metrics_path]:
                del self._damaged_since[key]
            for cache in (self._parts, self._child_parts):
                for key in [k for k in cache if k[0] == metrics_path]:
                    del cache[key]
        self._drop_in_child(metrics_path)

    def _drop_in_child(self, metrics_path: Path) -> None:
        with self._lock:
            child = self._child
        if child is not None and child.alive:
            child.drop(metrics_path)

    def close(self) -> None:
        self._loader.close()  # first: a load waiting on a blocked read (holding _lock) ends
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.close()

    def _next_version(self) -> int:
        with self._lock:
            return next(self._versions)

    def _load_in_child(self, name: str, metrics_path: Path) -> list[RunState]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the monitor is closing")
            if self._child is None or not self._child.alive:
                self._child = _Child()
            child = self._child
        # The version is taken once the read is done, inside the child's request lock:
        # reads and versions then come in the same order, so a newer read never loses.
        replies = child.request(name, metrics_path, self._next_version)
        # A part the child did not send again is unchanged: the state it sent before.
        states = []
        with self._lock:
            for reply in replies:
                if isinstance(reply, str):
                    state = self._child_parts.get((metrics_path, reply))
                    if state is None:
                        raise RuntimeError(f"parser process: no earlier state of {reply!r}")
                else:
                    state = reply
                    self._child_parts[(metrics_path, state.name)] = state
                states.append(state)
            names = {state.name for state in states}
            for key in [k for k in self._child_parts if k[0] == metrics_path]:
                if key[1] not in names:
                    del self._child_parts[key]
        return states


# --- the child process ----------------------------------------------------------------------
# A plain subprocess speaking length-prefixed pickles over its stdin/stdout. Not
# multiprocessing: its "spawn" re-imports the parent's __main__, which for
# `python -m metricwatch` would start a second monitor in the child.

_HEADER = struct.Struct("!Q")


def _send(stream: IO[bytes], payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the parser process closed its pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the parser process closed its pipe mid-reply")
    return pickle.loads(data)


class _Child:
    """One long-lived parser process; requests are serialised by the caller's lock."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from metricwatch.tui.ingest import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # never write over the TUI; errors come back as replies
        )
        self._lock = threading.Lock()
        self._closed = False

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def request(
        self, name: str, metrics_path: Path, version: Callable[[], int] | None = None
    ) -> list[RunState]:
        ok, payload = self._ask("load", name, metrics_path, version)
        if not ok:
            raise RuntimeError(f"parser process: {payload}")
        return payload

    def forget(self, metrics_path: Path) -> None:
        self._ask("forget", "", metrics_path)

    def drop(self, metrics_path: Path) -> None:
        self._ask("drop", "", metrics_path)

    def _ask(
        self,
        op: str,
        name: str,
        metrics_path: Path,
        version: Callable[[], int] | None = None,
    ) -> tuple[bool, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            if self._closed:
                raise RuntimeError("the parser process is closed")
            _send(self._process.stdin, (op, name, str(metrics_path)))
            ok, payload = _receive(self._process.stdout)
            if ok and version is not None:
                number = version()  # one read: one version for each run it changed
                for state in payload:
                    if not isinstance(state, str):
                        state.version = number
            return ok, payload

    def close(self) -> None:
        """Stop the child and reap it; a request in flight gets EOFError, never a hang."""
        if not self._lock.acquire(timeout=2):
            self._process.kill()  # a request stuck on a hung child: its read ends, it lets go
            self._lock.acquire()
        try:
            self._closed = True
            if self._process.stdin is not None:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
        finally:
            self._lock.release()


def serve() -> None:
    """The child's loop: (op, name, path) in, (True, detached RunStates) or (False, error) out.

    op is "load", or "forget" / "drop" (answered with (True, None)).
    """
    keep_freed_memory()
    ingest = Ingest(big_file_bytes=2**62)  # never delegates further
    sent: dict[tuple[str, str], RunState] = {}  # (file, run): the state last sent (parts)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            op, name, path = _receive(stdin)
        except EOFError:
            return
        try:
            if op in ("forget", "drop"):
                getattr(ingest, op)(Path(path))
                for key in [k for k in sent if k[0] == path]:
                    del sent[key]  # the parent gets every state again
                reply: tuple[bool, Any] = (True, None)
            else:
                reply = (True, _changed(path, ingest.load_all(name, Path(path)), sent))
        except Exception as error:  # noqa: BLE001 - sent back and shown on that run
            reply = (False, f"{type(error).__name__}: {error}")
        _send(stdout, reply)


def _changed(
    path: str, states: list[RunState], sent: dict[tuple[str, str], RunState]
) -> list[RunState | str]:
    """The states to ship: a part unchanged since it was last sent goes as its name only.
    (`sent` is updated; the parts the file no longer holds are forgotten.)"""
    out: list[RunState | str] = []
    keep = {}
    for state in states:
        key = (path, state.name)
        out.append(state.name if sent.get(key) is state else state.detached())
        keep[key] = state
    for key in [k for k in sent if k[0] == path]:
        del sent[key]
    if len(states) > 1:  # only a file of several runs: one run changes at every read
        sent.update(keep)
    return out


def _read_in_pieces(metrics_path: Path) -> bool:
    """Whether the file is read in pieces: an appended log (1 MiB of lines at a time, then
    by its new lines) or a tail's (TensorBoard records, MLflow rows: by its new bytes).
    Such reads never hold the GIL for long (the first read of a 54 MB event file, 3 s of
    parsing, left the UI thread waiting 0.1 s at worst), so they stay here, and an update
    does not ship the whole run back from the child at every write."""
    fmt = claims_file(metrics_path)
    return fmt is not None and (fmt.appends is not None or fmt.tail is not None)

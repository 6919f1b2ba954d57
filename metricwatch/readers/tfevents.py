"""TensorBoard event files (`events.out.tfevents.*`): scalars, without tensorboard.

The reader's entry point: the FileFormat, and a run directory turned into one run.
The layers below it, one module each:
    tfevents_crc       CRC32C, vectorised with numpy
    tfevents_framing   finding a buffer's records, checking their length and data CRCs
    tfevents_proto     the protobuf fields that carry scalars, one record at a time
    tfevents_bulk      PyTorch's scalar records, decoded in bulk
    tfevents_scanner   a piece's records decoded into scalar columns (a Chunk)
    tfevents_records   a file read in pieces (scan) and one growing file's tail
    tfevents_columns   a run's per-tag columns, grown as the pieces come
    tfevents_merged    a tag's points across files, each step once, grown build to build
    tfevents_tags      what the tags mean, and the run's Table
    tfevents_args      the run's arguments, written as text

A directory of event files is one run: its files are read in the order of
the timestamp in their names, and Keras' `train/` and `validation/`
subdirectories are one run too. Tags map onto the registry's keys in
tfevents_tags; the original tag is kept in meta["source_keys"].

The run's arguments, when a file starts with them as text (Hugging Face's
TrainingArguments, see tfevents_args), are its config: meta["config"], from the
newest file that holds them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import FileFormat, ParseResult, quote_key
from metricwatch.readers.listings import Entry, FolderListings, list_folder
from metricwatch.readers.shared_steps import StepPool
from metricwatch.readers.tfevents_args import ARGS_WINDOW, args_in_file, args_in_head
from metricwatch.readers.tfevents_columns import _add, _Column, _Sink
from metricwatch.readers.tfevents_crc import masked_crc32c
from metricwatch.readers.tfevents_framing import sniff
from metricwatch.readers.tfevents_records import (
    EventFileTail,
    _chunk_problems,
    parse_events,
    scan,
    scan_pieces,
)
from metricwatch.readers.tfevents_tags import BuildMemo, _build, canonical_tag

PATTERN = "events.out.tfevents.*"

# --- a directory of event files: one run -----------------------------------------------------

_STAMP = re.compile(r"events\.out\.tfevents\.(\d+)")
_EVENTS = "events.out.tfevents."


_ROLES = ("", "train", "validation")


def event_files(directory: Path, listings: FolderListings | None = None) -> list[tuple[str, Path]]:
    """(role, path) of the event files of a run directory, in reading order.

    Role is "" for files in the directory itself, "train"/"validation" for
    Keras' subdirectories. Order: by the timestamp in the name, then the name.
    listings: the folders' kept listings (a live run's tail: it looks at every write);
    without, the folders are listed now.
    """
    return _event_files_of(directory, _role_listings(directory, listings))


def _role_listings(directory: Path, listings: FolderListings | None) -> list[list[Entry] | None]:
    """The entries of the run directory and of its train/ and validation/ (None: absent;
    a subfolder its directory's listing does not hold is not looked for)."""
    listed = listings.entries if listings is not None else list_folder
    top = listed(os.fspath(directory))
    folders = {entry.name for entry in top or () if entry.is_dir}
    return [top] + [
        listed(os.path.join(directory, role)) if role in folders else None for role in _ROLES[1:]
    ]


def _event_files_of(directory: Path, listed: list[list[Entry] | None]) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for role, entries in zip(_ROLES, listed):
        if entries is None:
            continue
        names = [e.name for e in entries if e.is_file and e.name.startswith(_EVENTS)]
        names.sort(key=file_order)
        folder = directory / role if role else directory
        found.extend((role, folder / name) for name in names)
    return found


def file_order(name: str) -> tuple[int, str]:
    """An event file's place among a run's: the timestamp in its name, then the name."""
    match = _STAMP.match(name)
    return (int(match.group(1)) if match else 0, name)


class EventDirTail:
    """A run directory's event files, each tailed; read() re-reads only new bytes, and its
    folders are listed again only when they changed (readers/listings.py).

    mtime: after a read, the newest mtime of the event files it read (the loader's "last
    written")."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.listings = FolderListings()
        self._listed: list[list[Entry] | None] = []  # the listings _files last worked from
        self._event_files: list[tuple[str, Path]] = []
        self.mtime: float | None = None
        self.tails: dict[Path, tuple[str, EventFileTail]] = {}
        #: per file, per tag: its steps, times, values (in file order)
        self.columns: dict[Path, dict[str, _Column]] = {}
        #: per file: (its identity, its arguments, whether that is final, the tail's offset
        #: when searched)
        self.args: dict[Path, tuple[tuple[int, int] | None, dict[str, Any] | None, bool, int]] = {}
        #: what the last build worked out, extended by the next (tfevents_tags.BuildMemo)
        #: the run's steps, shared by the tags logged at the same ones (shared_steps)
        self.pool = StepPool()
        self.memo = BuildMemo(self.pool)

    def read(self) -> ParseResult:
        files = self._files()
        problems: list[Problem] = []
        for role, path in files:
            if path not in self.tails:
                self.tails[path] = (role, EventFileTail(path))
            tail = self.tails[path][1]
            sink = _Sink(self.columns, path, tail, self.pool)
            tail.read_chunk(sink=sink)
            sink.finish()
            problems.extend(tail.problems)
        present = {path for _, path in files}
        for path in [p for p in self.tails if p not in present]:
            del self.tails[path]
            self.columns.pop(path, None)
            self.args.pop(path, None)
        self.mtime = max(
            (tail.mtime for _, tail in self.tails.values() if tail.mtime is not None), default=None
        )
        result = _build([(role, self.columns[path]) for role, path in files], problems, self.memo)
        config = self._config([path for _, path in files])
        if config is not None:
            result.meta.setdefault("config", config)
        if not files:
            result.problems.append(
                Problem(
                    ProblemKind.MISSING, f"no {PATTERN} files in {quote_key(str(self.directory))}"
                )
            )
        elif not any(tail.offset for _, tail in self.tails.values()) and not result.problems:
            result.problems.append(Problem(ProblemKind.EMPTY, "the event files are empty"))
        result.format = "tfevents"
        return result

    def _files(self) -> list[tuple[str, Path]]:
        """event_files, from the kept listings: worked out again only when one of them was
        listed again (the listings of the last call are held, so `is` tells them apart)."""
        listed = _role_listings(self.directory, self.listings)
        if len(listed) != len(self._listed) or any(
            a is not b for a, b in zip(listed, self._listed)
        ):
            self._listed, self._event_files = listed, _event_files_of(self.directory, listed)
        return self._event_files

    def _config(self, paths: list[Path]) -> dict[str, Any] | None:
        """The arguments of the newest file that starts with them (a resumed run's files
        hold the same ones; a run started again in the same folder, its new ones)."""
        found = None
        for path in paths:
            args = self._args_of(path, self.tails[path][1])
            found = args if args is not None else found
        return found

    def _args_of(self, path: Path, tail: EventFileTail) -> dict[str, Any] | None:
        """A file's arguments, searched for again only when more whole records came while
        its first ones were still being written (they come first: once found, or past
        them, the answer is final)."""
        known = self.args.get(path)
        if (
            known is not None
            and known[0] == tail.identity
            and (known[2] or known[3] == tail.offset)
        ):
            return known[1]
        if not tail.offset:
            return None  # nothing whole in it yet
        args, final = args_in_file(path)
        self.args[path] = (tail.identity, args, final, tail.offset)
        return args


def read_event_dir(directory: Path) -> ParseResult:
    """Every event file of a run directory (and Keras' train/, validation/) as one run."""
    return EventDirTail(directory).read()


__all__ = [
    "PATTERN",
    "EventDirTail",
    "EventFileTail",
    "canonical_tag",
    "event_files",
    "masked_crc32c",
    "parse_events",
    "read_event_dir",
    "scan",
    "sniff",
]


def parse_event_file(data: bytes) -> ParseResult:
    """One event file's bytes as a run (a file named on its own; a run directory is read
    whole, and incrementally, by EventDirTail)."""
    chunk, pieces = scan_pieces(data)
    columns: dict[str, _Column] = {}
    pool = StepPool()
    for piece in pieces:
        _add(columns, piece, len(data), pool)
    problems = _chunk_problems(chunk, "the event file")
    if not data:
        problems.append(Problem(ProblemKind.EMPTY, "the event file is empty"))
    result = _build([("", columns)], problems, BuildMemo(pool))
    config = args_in_head(data[:ARGS_WINDOW])
    if config is not None:
        result.meta["config"] = config
    result.format = "tfevents"
    return result


def _keras_events(directory: Path, subdirs: list[str]) -> Path | None:
    """Keras' layout: a run directory holding only `train/` and `validation/`, each with
    TF2 event files (`...v2`; PyTorch's writer, which Ultralytics runs use, writes none)."""
    for role in ("train", "validation"):
        if role in subdirs:
            keras = [
                path
                for kind, path in event_files(directory)
                if kind == role and path.name.endswith(".v2")
            ]
            if keras:
                return keras[0]
    return None


def _keras_dirs(run_dir: Path) -> list[Path]:
    """Keras' train/ and validation/ of a run: their event files are the run's."""
    return [run_dir / role for role in ("train", "validation") if (run_dir / role).is_dir()]


def _run_dir(path: Path) -> Path:
    """The run directory of an event file: its folder, or the parent of Keras' train/."""
    if path.parent.name in ("train", "validation") and path.name.endswith(".v2"):
        return path.parent.parent
    return path.parent


FORMAT = FileFormat(
    name="tfevents",
    label="TensorBoard event files",
    patterns=(PATTERN,),
    sniff=sniff,
    parse=parse_event_file,
    tail=lambda path: EventDirTail(_run_dir(path)),
    nested=_keras_events,
    owned=_keras_dirs,
)

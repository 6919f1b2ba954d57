"""What every reader returns and how a format declares itself.

A reader is a pure function from a file's bytes to a ParseResult: a
columnar table and typed problems, never an exception on content. A
FileFormat says which file names a format may hold, how to recognise its
content from the first bytes (names alone are ambiguous: detectron2 and
metricwatch both write `metrics.json`, and a `results.csv` may be anyone's),
and which function reads it. The registry in readers/__init__.py asks them
in order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricwatch.model import Problem, ProblemKind, Table

#: How much of a file the sniffers see.
HEAD_BYTES = 4096

#: Problems that mean "this read may have lost data a previous read had".
DAMAGE_KINDS = frozenset(
    {
        ProblemKind.EMPTY,
        ProblemKind.TRUNCATED,
        ProblemKind.INVALID_JSON,
        ProblemKind.NOT_OURS,
        ProblemKind.MISSING,
        ProblemKind.UNREADABLE,
    }
)


@dataclass
class ParseResult:
    """A reader's output. `format` is the FileFormat name that read it ("" before)."""

    table: Table = field(default_factory=Table)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    format: str = ""

    @property
    def damaged(self) -> bool:
        """True when the file could not be read whole (as opposed to odd values in it)."""
        return any(p.kind in DAMAGE_KINDS for p in self.problems)


@dataclass(frozen=True)
class FileFormat:
    """One log format: its id, its name for people, its file names, sniffer and parser.

    name: the stable id in JSON output ("metricwatch", "hf_trainer_state", ...).
    label: what a person calls it ("Hugging Face Trainer trainer_state.json").
    patterns: fnmatch patterns of the file names it may hold (matched on the base name).
    sniff: given the first HEAD_BYTES of a file with such a name, is it this format?
        It must not raise, and must say yes to a file cut short (a write in progress).
    parse: the whole file's bytes to a ParseResult; never raises on content.
    tail: for a format whose run is its log's whole directory (TensorBoard writes several
        event files, appended to): given the claimed file's path, an object whose
        `read() -> ParseResult` reads the run, parsing only bytes new since its last
        call. The loader keeps one per run and uses it instead of `parse`.
    sidecars: files beside the log that describe the run (Lightning's hparams.yaml,
        Ultralytics' args.yaml): (file name, bytes -> meta entries); the loader reads the
        ones present and adds their entries to the run's meta, never raising.
    """

    name: str
    label: str
    patterns: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    parse: Callable[[bytes], ParseResult]
    sidecars: tuple[tuple[str, Callable[[bytes], dict[str, Any]]], ...] = ()
    tail: Callable[[Path], Any] | None = None

    def may_hold(self, filename: str) -> bool:
        return any(fnmatch.fnmatchcase(filename, pattern) for pattern in self.patterns)

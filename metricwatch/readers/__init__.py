"""The formats metricwatch reads, one module each, and the registry that picks one.

Above this package there is one run model and no `if format == ...`: a
format's quirks live in its module. FORMATS is asked in order, so a
specific format (detectron2's JSON-lines `metrics.json`) comes before a
general one sharing its file name (the native `metrics.json`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers import (
    detectron2,
    hf_trainer,
    keras_csv,
    lightning_csv,
    metrics_json,
    mlflow,
    mlflow_sqlite,
    step_log,
    tfevents,
    ultralytics,
)
from metricwatch.readers.base import DAMAGE_KINDS, HEAD_BYTES, FileFormat, ParseResult
from metricwatch.readers.metrics_json import parse_metrics_json

FORMATS: tuple[FileFormat, ...] = (
    detectron2.FORMAT,  # before the native reader: both are called metrics.json
    metrics_json.FORMAT,
    step_log.FORMAT,  # metrics.jsonl: after metrics.json, the run's file when both exist
    hf_trainer.FORMAT,
    metrics_json.HISTORY_FORMAT,
    lightning_csv.FORMAT,
    ultralytics.FORMAT,
    keras_csv.FORMAT,
    tfevents.FORMAT,
    mlflow.FORMAT,  # a file-store run, claimed through its meta.yaml
    mlflow_sqlite.FORMAT,  # mlflow.db: a store of many runs (FileFormat.store)
)


T = TypeVar("T")

#: Names remembered per registry question; past this many, they are forgotten and learnt
#: again (an MLflow run's metric files may have any names).
NAMES_REMEMBERED = 4096


class ByName:
    """The answers of a question about a file name and a registry of formats, remembered per
    name: a live run's events ask about the same few names again and again. Forgotten when
    the registry is another tuple (a test adding a format)."""

    def __init__(self, question: Callable[[tuple[FileFormat, ...], str], T]) -> None:
        self._question = question
        # One attribute, read and replaced at once: threads may ask together.
        self._memo: tuple[tuple[FileFormat, ...] | None, dict[str, Any]] = (None, {})

    def __call__(self, formats: tuple[FileFormat, ...], name: str) -> Any:
        known, answers = self._memo
        if known is not formats or len(answers) >= NAMES_REMEMBERED:
            answers = {}
            self._memo = (formats, answers)
        try:
            return answers[name]
        except KeyError:
            answer = answers[name] = self._question(formats, name)
            return answer


_may_be_run_file = ByName(lambda formats, name: any(fmt.may_hold(name) for fmt in formats))
_tail_format = ByName(
    lambda formats, name: next((f for f in formats if f.tail and f.may_hold(name)), None)
)
_format_named = ByName(lambda formats, name: next((f for f in formats if f.name == name), None))


def may_be_run_file(filename: str) -> bool:
    """Whether a file of this name may be a run's log (a cheap test before any read)."""
    return _may_be_run_file(FORMATS, filename)


def claim(filename: str, head: bytes) -> FileFormat | None:
    """The format of a file, from its name and first bytes; None when no reader claims it."""
    head = head[:HEAD_BYTES]
    for fmt in FORMATS:
        if fmt.may_hold(filename) and _sniffs(fmt, head):
            return fmt
    return None


def parse(filename: str, data: bytes) -> ParseResult:
    """Read a run file with the format that claims it; a file none claims is NOT_OURS."""
    fmt = claim(filename, data)
    if fmt is None and filename.endswith(".json"):
        fmt = metrics_json.FORMAT  # a JSON file named on the command line: read as ours
    if fmt is None:
        return ParseResult(problems=[Problem(ProblemKind.NOT_OURS, not_supported(filename))])
    result = fmt.parse(data)
    result.format = fmt.name
    return result


def sidecars(format_name: str) -> tuple[tuple[str, Callable[[bytes], dict[str, Any]]], ...]:
    """The files beside a log of this format that describe its run (see FileFormat)."""
    fmt = _format_named(FORMATS, format_name)
    return () if fmt is None else fmt.sidecars


def format_named(name: str) -> FileFormat | None:
    """The format whose id is name (a ParseResult's `format`)."""
    return _format_named(FORMATS, name)


def tail_format(filename: str) -> FileFormat | None:
    """The format whose run is its log's directory, read by a tail (see FileFormat)."""
    return _tail_format(FORMATS, filename)


def not_supported(filename: str) -> str:
    """The message for a file no reader takes: it names what is supported."""
    return f"{filename} is in no format metricwatch reads; supported: " + "; ".join(
        f"{fmt.label} ({', '.join(fmt.patterns)})" for fmt in FORMATS
    )


def _sniffs(fmt: FileFormat, head: bytes) -> bool:
    try:
        return bool(fmt.sniff(head))
    except Exception:  # noqa: BLE001 - a sniffer that fails on odd bytes means "not mine"
        return False


__all__ = [
    "DAMAGE_KINDS",
    "FORMATS",
    "HEAD_BYTES",
    "ByName",
    "FileFormat",
    "ParseResult",
    "claim",
    "format_named",
    "may_be_run_file",
    "not_supported",
    "parse",
    "parse_metrics_json",
    "sidecars",
    "tail_format",
]

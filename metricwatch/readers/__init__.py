"""The formats metricwatch reads, one module each, and the registry that picks one.

Above this package there is one run model and no `if format == ...`: a
format's quirks live in its module. FORMATS is asked in order, so a
specific format (detectron2's JSON-lines `metrics.json`) comes before a
general one sharing its file name (the native `metrics.json`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def may_be_run_file(filename: str) -> bool:
    """Whether a file of this name may be a run's log (a cheap test before any read)."""
    return any(fmt.may_hold(filename) for fmt in FORMATS)


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
    return next((fmt.sidecars for fmt in FORMATS if fmt.name == format_name), ())


def format_named(name: str) -> FileFormat | None:
    """The format whose id is name (a ParseResult's `format`)."""
    return next((fmt for fmt in FORMATS if fmt.name == name), None)


def tail_format(filename: str) -> FileFormat | None:
    """The format whose run is its log's directory, read by a tail (see FileFormat)."""
    return next((f for f in FORMATS if f.tail is not None and f.may_hold(filename)), None)


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

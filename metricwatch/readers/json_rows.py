"""A JSON-lines log's new lines decoded alone: the fast path of its appended log.

A write adds a line or a few to a step log or a detectron2 metrics.json; their parse
reads the context lines again with the new ones and builds a table of arrays for them,
whose cost per call is most of what a line costs. The readers' fast paths (step_log,
detectron2: see readers/appended_rows.py) take the lines' objects from here, decoded by
the json decoder their parse uses, and make the new points of them.
"""

from __future__ import annotations

from typing import Any

from metricwatch.readers.json_text import DECODER


def json_objects(complete: bytes) -> list[dict[str, Any]] | None:
    """The objects of whole new lines, decoded as the parse decodes a line; None unless
    every line is one JSON object in UTF-8 (a blank line, a line that is no JSON or no
    object, a NUL byte of UTF-16: the parse reads those, with what it tells of them)."""
    if b"\x00" in complete:
        return None
    try:
        text = complete.decode("utf-8")
    except UnicodeDecodeError:
        return None
    rows = []
    for line in text.split("\n")[:-1]:
        if not line.strip():
            return None
        try:
            row = DECODER.decode(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(row, dict):
            return None
        rows.append(row)
    return rows

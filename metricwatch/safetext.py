"""Text from files made safe to show: the one place that neutralises it.

Run names come from directory names and metric names from JSON keys; either
can hold an escape sequence (ESC[2J clears the screen) or, from a non-UTF-8
file name, a lone surrogate that makes printing raise. Rich markup is a
separate matter: callers pass this text as rich Text, never as markup.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """The text with control characters and undecodable bytes shown as escapes."""
    value = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)

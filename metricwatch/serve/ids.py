"""Run ids: how a run is named in a URL.

An id is the run's name made URL-safe, then a short digest of its file and
name: `exp/lr-0.1` -> `exp-lr-0.1-1f3a9c2e`. It depends only on what the run
is (the same file, the same run name), so it is stable for the life of the
server and across restarts, and two runs whose names slug alike still differ.
Ids are only ever looked up in the registry: a request's id never becomes a
path, so `..` or an encoded slash finds nothing (404).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

#: The characters an id is made of: unreserved in a URL (RFC 3986), never `/` or `%`.
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]+")
#: A slug is cut to this many characters (the digest keeps ids apart).
MAX_SLUG = 60


def run_id(name: str, metrics_path: Path) -> str:
    """The URL-safe, stable id of the run `name` read from metrics_path."""
    slug = _UNSAFE.sub("-", name).strip("-.~")[:MAX_SLUG].rstrip("-.~") or "run"
    digest = hashlib.sha1(f"{metrics_path}\0{name}".encode("utf-8", "surrogateescape"))
    return f"{slug}-{digest.hexdigest()[:8]}"

"""Run ids: how a run is named in a URL.

An id is the run's name made URL-safe, then a short digest of the name:
`exp/lr 0.1` -> `exp-lr-0.1-1f3a9c2e`. Discovery gives every run under PATH
its own name (a part of a file of several runs is `file/part`), so the name
alone tells runs apart, and the digest keeps apart names that slug alike.
It does not depend on the file: a run whose file moves (a Hugging Face run's
newest checkpoint) keeps its id, for the life of the server and across
restarts. Ids are only ever looked up in the registry: a request's id never
becomes a path, so `..` or an encoded slash finds nothing (404).
"""

from __future__ import annotations

import hashlib
import re

#: The characters an id is made of: unreserved in a URL (RFC 3986), never `/` or `%`.
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]+")
#: A slug is cut to this many characters (the digest keeps ids apart).
MAX_SLUG = 60


def run_id(name: str) -> str:
    """The URL-safe, stable id of the run named `name`."""
    slug = _UNSAFE.sub("-", name).strip("-.~")[:MAX_SLUG].rstrip("-.~") or "run"
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape"), usedforsecurity=False)
    return f"{slug}-{digest.hexdigest()[:8]}"

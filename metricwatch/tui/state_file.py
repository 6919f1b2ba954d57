"""What the monitor remembers per PATH across restarts: selection, marks, view, filter.

One small JSON file under the user's state directory (XDG: $XDG_STATE_HOME, else
~/.local/state), `metricwatch/views.json`, keyed by the resolved PATH. A file
that cannot be read or is not what this module wrote is ignored (the defaults
are used) and replaced on the next save; writes go through a temporary file and
a rename, so a crash never leaves half a file. No textual import: plain data.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricwatch.analysis.smoothing import WEIGHTS
from metricwatch.tui.view_options import AXIS_NAMES, MAX_ZOOM, ViewOptions

#: At most this many PATHs are remembered; the least recently saved go first.
MAX_PATHS = 200


@dataclass
class SavedView:
    selected: str | None = None
    marks: list[str] = field(default_factory=list)
    options: ViewOptions = field(default_factory=ViewOptions)
    filter: str = ""
    following: bool = True


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "metricwatch" / "views.json"


def _key(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:
        return str(path.absolute())


def _read_all(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_view(path: Path, file: Path | None = None) -> SavedView:
    """The view saved for PATH, or the defaults (nothing saved, or a broken file)."""
    entry = _read_all(file or state_file()).get(_key(path))
    return parse_view(entry) if isinstance(entry, dict) else SavedView()


def parse_view(entry: dict[str, Any]) -> SavedView:
    """Each field checked on its own: a wrong one is left at its default, never raised."""
    view = SavedView()
    if isinstance(entry.get("selected"), str):
        view.selected = entry["selected"]
    marks = entry.get("marks")
    if isinstance(marks, list):
        view.marks = [m for m in marks if isinstance(m, str)][:10]
    if isinstance(entry.get("filter"), str):
        view.filter = entry["filter"][:200]
    if isinstance(entry.get("following"), bool):
        view.following = entry["following"]
    smoothing = entry.get("smoothing")
    zoom = entry.get("zoom")
    axis = entry.get("x_axis")
    view.options = ViewOptions(
        smoothing=float(smoothing) if smoothing in WEIGHTS else None,
        log_y=entry.get("log_y") is True,
        outliers=entry.get("outliers") if isinstance(entry.get("outliers"), bool) else None,
        zoom=zoom if isinstance(zoom, int) and 0 <= zoom <= MAX_ZOOM else 0,
        x_axis=axis if axis in AXIS_NAMES else None,
    )
    return view


def save_view(path: Path, view: SavedView, file: Path | None = None) -> None:
    """Remember the view for PATH; OSError when the state directory cannot be written."""
    file = file or state_file()
    data = _read_all(file)
    data.pop(_key(path), None)
    options = view.options
    data[_key(path)] = {
        "selected": view.selected,
        "marks": list(view.marks),
        "filter": view.filter,
        "following": view.following,
        "smoothing": options.smoothing,
        "log_y": options.log_y,
        "outliers": options.outliers,
        "zoom": options.zoom,
        "x_axis": options.x_axis,
    }
    while len(data) > MAX_PATHS:
        data.pop(next(iter(data)))
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=file.parent, prefix=".views-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

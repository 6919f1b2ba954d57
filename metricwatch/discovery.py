"""Which directories under a path are runs.

A run is a directory holding a metrics.json. PATH may be the file itself, a
run directory, or any parent; hidden directories, virtualenvs and
node_modules are never descended into (they are large and never runs).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

METRICS_FILENAME = "metrics.json"
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})


class DiscoveryError(Exception):
    """PATH cannot be used at all; the message is one line for the user."""


@dataclass(frozen=True)
class RunLocation:
    name: str
    metrics_path: Path
    mtime: float


def resolve_root(path: Path) -> Path:
    """Check PATH up front, so the user gets one clear line instead of a traceback."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DiscoveryError(f"{path}: no such file or directory") from None
    except PermissionError:
        raise DiscoveryError(f"{path}: permission denied") from None
    except OSError as error:
        raise DiscoveryError(f"{path}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise DiscoveryError(f"{path}: permission denied")
    elif not stat.S_ISREG(mode) or (path.name != METRICS_FILENAME and path.suffix != ".json"):
        raise DiscoveryError(f"{path}: not a metrics.json file or a directory")
    return path


def discover_runs(path: Path) -> list[RunLocation]:
    """Every run at or below path, most recently updated first."""
    path = resolve_root(path)
    if path.is_file():
        return [_location(_dir_name(path.parent), path)]
    own = path / METRICS_FILENAME
    if _is_file(own):
        return [_location(_dir_name(path), own)]
    found: list[RunLocation] = []
    for directory, subdirs, files in os.walk(path, onerror=None):
        subdirs[:] = sorted(d for d in subdirs if not _skip_dir(Path(directory), d))
        if METRICS_FILENAME in files:
            metrics = Path(directory) / METRICS_FILENAME
            name = Path(directory).relative_to(path).as_posix()
            found.append(_location(name, metrics))
    found.sort(key=lambda run: (-run.mtime, run.name))
    return found


def is_run_dir_candidate(root: Path, directory: Path) -> bool:
    """Whether a directory below root would be searched (used by the watcher's filter)."""
    try:
        parts = directory.relative_to(root).parts
    except ValueError:
        return False
    parent = root
    for part in parts:
        if _skip_dir(parent, part):
            return False
        parent = parent / part
    return True


def run_name(root: Path, metrics_path: Path) -> str:
    """The name discover_runs gives the run whose file is metrics_path."""
    if root.is_file() or root == metrics_path.parent:
        return _dir_name(metrics_path.parent)
    return metrics_path.parent.relative_to(root).as_posix()


def _dir_name(directory: Path) -> str:
    """A run directory's own name, also for `.` and `..`."""
    return directory.resolve().name or str(directory.resolve())


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a directory we may list but not enter
        return False


def _skip_dir(parent: Path, name: str) -> bool:
    if name.startswith(".") or name in SKIPPED_DIRS:
        return True
    try:
        return (parent / name / "pyvenv.cfg").exists()
    except OSError:  # cannot look inside: os.walk will not enter it either
        return False


def _location(name: str, metrics: Path) -> RunLocation:
    try:
        mtime = metrics.stat().st_mtime
    except OSError:
        mtime = 0.0
    return RunLocation(name, metrics, mtime)

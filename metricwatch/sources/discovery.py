"""Which directories under a path are runs.

A run is a directory holding a file some reader claims (metricwatch/readers:
`metrics.json`, and whatever other formats are registered), recognised by
its name and its first bytes. PATH may be the file itself, a run directory,
or any parent. One rule decides where runs are looked for,
for the start-up scan, for the directories the watcher sees appear later
and for `metricwatch summary` alike:

- hidden directories, virtualenvs and node_modules are never searched
  (they are large and never runs);
- a run directory's subdirectories are the run's own (checkpoints, logs),
  not more runs: they are not searched, so the watcher needs no watch on
  them (20,000 checkpoint directories cost nothing), except the few a
  format says hold changes of the run (FileFormat.owned: MLflow's
  `metrics/`, Keras' `train/` and `validation/`, the newest `checkpoint-N/`).
  A run the watcher found inside a directory before the directory became a
  run is gone from then on, as it would be at start-up (watch_tree);
- a store file, a file that holds many runs (FileFormat.store: MLflow's
  `mlflow.db`, claimed by its name, SQLite's magic and MLflow's tables,
  never by its name alone), is a run of its own, named by its path with its
  file name (`mlflow.db`, `proj/mlflow.db`; its runs then read
  `mlflow.db/<experiment>/<run>`), but it makes no run directory: its
  directory usually is the user's project, so its subdirectories are still
  searched, and another run file beside it (a `metrics.json`) is still that
  directory's run;
- a directory with no run file of its own is still a run when a format
  finds its file in a subdirectory (FileFormat.nested: Hugging Face's
  newest `checkpoint-N/trainer_state.json` while training, Keras'
  `train/` and `validation/` event files): one run, named after the
  directory;
- a link to a directory is followed, but every real directory is searched
  once (known by device and inode): a link loop (`ln -s . loop`) or a
  second link to a directory already searched adds nothing, and the
  directory's real path below PATH wins over any link to it. A run reached
  only through a link (`ext -> /data/exp`) is named by the link path
  (`ext/...`) and watched through it, so it updates live like the others.

A path that does not exist yet is no error for the monitor (it waits for
it); `discover_runs`, for the one-shot commands, refuses it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from metricwatch.readers import (
    FORMATS,
    HEAD_BYTES,
    ByName,
    FileFormat,
    claim,
    may_be_run_file,
    not_supported,
)

METRICS_FILENAME = "metrics.json"
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})

#: A directory's identity: (st_dev, st_ino) of what the path resolves to.
DirId = tuple[int, int]


class DiscoveryError(Exception):
    """PATH cannot be used at all; the message is one line for the user."""


@dataclass(frozen=True)
class RunLocation:
    name: str
    metrics_path: Path
    mtime: float


@dataclass
class Scan:
    """What one search found: the runs, every directory searched, what could not be read.

    `dirs` maps each searched directory (as reached, links included) to its
    identity: these are the directories that can hold run files or new
    runs, the ones the watcher watches. `errors` are one line each.
    """

    runs: list[RunLocation] = field(default_factory=list)
    dirs: dict[Path, DirId] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def resolve_root(path: Path) -> Path:
    """Check PATH up front, so the user gets one clear line instead of a traceback.

    A PATH that does not exist is accepted (the monitor waits for it to
    appear); one that exists must be a directory we may list, a file a reader
    claims, or a JSON file (read as metricwatch's format, as named).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except PermissionError:
        raise DiscoveryError(f"{path}: permission denied") from None
    except OSError as error:
        raise DiscoveryError(f"{path}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise DiscoveryError(f"{path}: permission denied")
    elif not stat.S_ISREG(mode):
        raise DiscoveryError(f"{path}: not a regular file or a directory")
    elif path.suffix != ".json" and claims_file(path) is None:
        raise DiscoveryError(f"{path}: {not_supported(path.name)}")
    return path


def discover_runs(path: Path) -> list[RunLocation]:
    """Every run at or below path, most recently updated first; a missing path is an error."""
    return scan(path).runs


def scan(path: Path, *, name_root: Path | None = None, seen: Collection[DirId] = ()) -> Scan:
    """Search path by the module's rule; runs are named from name_root (default: path).

    Directories whose identity is in `seen` (searched before, e.g. by the
    watcher) are skipped, with everything below them.
    """
    path = resolve_root(path)
    if not os.path.lexists(path):
        raise DiscoveryError(f"{path}: no such file or directory")
    name_root = path if name_root is None else name_root
    if os.path.isfile(path):
        name = path.name if is_store_file(path) else _dir_name(path.parent)
        return Scan(runs=[_location(name, path)])
    found = Scan()
    searched = set(seen)
    stack: list[Path] = [path]  # real subdirectories, depth first
    links: list[Path] = []  # followed once the real tree is done: a real path wins
    while stack or links:
        directory = stack.pop() if stack else links.pop(0)
        identity = dir_id(directory)
        if identity is None or identity in searched:
            continue
        searched.add(identity)
        found.dirs[directory] = identity
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError as error:
            found.errors.append(f"{directory}: {_reason(error)}")
            continue
        subdirs, sublinks, candidates = [], [], []
        for entry in listed:
            if _entry_is_dir(entry):
                if not _skip_dir(directory, entry.name):
                    (sublinks if entry.is_symlink() else subdirs).append(Path(entry.path))
            elif may_be_run_file(entry.name):
                candidates.append(entry.name)
        run_file = pick_run_file(directory, candidates) or nested_run_file(
            directory, [p.name for p in subdirs + sublinks]
        )
        for store in store_files(directory, candidates):  # beside a run, or above runs
            found.runs.append(_location(run_name(name_root, store), store))
        if run_file is not None:
            found.runs.append(_location(run_name(name_root, run_file), run_file))
            for owned in owned_dirs(run_file):
                if (ident := dir_id(owned)) is not None and ident not in searched:
                    found.dirs[owned] = ident
            continue  # what a run keeps below it is its own
        stack.extend(sorted(subdirs, reverse=True))
        links.extend(sorted(sublinks))
    found.runs = _distinct_names(found.runs)
    found.runs.sort(key=lambda run: (-run.mtime, run.name))
    return found


def dir_id(path: Path) -> DirId | None:
    """The identity of the directory path resolves to; None if it is none (any more)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    return (info.st_dev, info.st_ino)


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


def claims_file(path: Path) -> FileFormat | None:
    """The format that claims the file at path, from its name and first bytes.

    The read is bounded and non-blocking (a FIFO never stalls the search). A
    file that cannot be read is claimed by its name alone, so that its run
    shows, with the reason, instead of vanishing.
    """
    if not may_be_run_file(path.name):
        return None
    fmt = _claims_head(path)
    if fmt is not None and fmt.store is not None and not _is_store(fmt, path):
        return None  # an SQLite file, but not MLflow's (its tables are past the head)
    return fmt


def _is_store(fmt: FileFormat, path: Path) -> bool:
    """The format's look past the head (FileFormat.store): an MLflow store's tables."""
    try:
        return fmt.store is not None and bool(fmt.store(path))
    except Exception:  # noqa: BLE001 - a check failing on an odd file means "not a store"
        return False


def _claims_head(path: Path) -> FileFormat | None:
    """claims_file by the file's first bytes only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return next((fmt for fmt in FORMATS if fmt.may_hold(path.name)), None)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device: shown, never read
            return next((fmt for fmt in FORMATS if fmt.may_hold(path.name)), None)
        head = os.read(fd, HEAD_BYTES)
    except OSError:
        return next((fmt for fmt in FORMATS if fmt.may_hold(path.name)), None)
    finally:
        os.close(fd)
    return claim(path.name, head)


def pick_run_file(directory: Path, names: Collection[str]) -> Path | None:
    """The run file of a directory: among the names any reader may hold, the first
    (in the registry's order of formats) whose content a reader claims."""

    def rank(name: str) -> tuple[int, str]:
        return next(i for i, fmt in enumerate(FORMATS) if fmt.may_hold(name)), name

    for name in sorted((n for n in names if may_be_run_file(n) and not _store_named(n)), key=rank):
        if claims_file(directory / name) is not None:
            return directory / name
    return None


def store_files(directory: Path, names: Collection[str]) -> list[Path]:
    """The store files of a directory (FileFormat.store: mlflow.db) that a reader claims."""
    return [
        directory / name
        for name in sorted(names)
        if _store_named(name) and claims_file(directory / name) is not None
    ]


def is_store_file(path: Path) -> bool:
    """Whether path is named as a store file (a file of many runs, FileFormat.store)."""
    return _store_named(path.name)


def _store_named(name: str) -> bool:
    return _STORE_NAMED(FORMATS, name)


#: Asked for every event and every mark of a run by the watcher: remembered per name.
_STORE_NAMED = ByName(lambda formats, name: any(f.store and f.may_hold(name) for f in formats))


def nested_run_file(directory: Path, subdirs: Collection[str]) -> Path | None:
    """The file a directory with no run file of its own is read from, when a format keeps
    its run's log in a subdirectory (FileFormat.nested) and claims that file."""
    for fmt in FORMATS:
        if fmt.nested is None:
            continue
        try:
            path = fmt.nested(directory, sorted(subdirs))
        except OSError:
            continue
        if path is not None and claims_file(path) is fmt:
            return path
    return None


def run_file_of(directory: Path) -> Path | None:
    """A directory's run file, picked again (the newest checkpoint may have moved on)."""
    try:
        with os.scandir(directory) as entries:
            listed = list(entries)
    except OSError:
        return None
    names = [e.name for e in listed if not _entry_is_dir(e) and may_be_run_file(e.name)]
    subdirs = [e.name for e in listed if _entry_is_dir(e) and not _skip_dir(directory, e.name)]
    return pick_run_file(directory, names) or nested_run_file(directory, subdirs)


def run_dir_of(metrics_path: Path) -> Path:
    """The run directory of a run file: its folder, or the folder above it when a format
    keeps the run's file in a subdirectory (checkpoint-N/, Keras' train/). A store file
    (mlflow.db) is its own "run directory": nothing around it is its run's."""
    if is_store_file(metrics_path):
        return metrics_path
    parent = metrics_path.parent
    for fmt in FORMATS:
        if fmt.nested is None or not fmt.may_hold(metrics_path.name):
            continue
        try:
            found = fmt.nested(parent.parent, [parent.name])
        except OSError:
            continue
        if found is not None and found.parent == parent:
            return parent.parent
    return parent


def owned_dirs(metrics_path: Path, fmt: FileFormat | None = None) -> list[Path]:
    """The run's subdirectories whose changes are the run's (FileFormat.owned)."""
    fmt = fmt or claims_file(metrics_path)
    if fmt is None or fmt.owned is None:
        return []
    try:
        return list(fmt.owned(run_dir_of(metrics_path)))
    except OSError:
        return []


def is_single_run(root: Path) -> bool:
    """Whether PATH names one run (its file or its directory), even before it exists.

    os.path.isfile never raises: PATH inside a directory we may not enter is
    "not a single run" instead of an exception at start-up.
    """
    if is_store_file(root):
        return False  # one file, but many runs: they are listed
    if may_be_run_file(root.name) or os.path.isfile(root):
        return True
    try:
        names = os.listdir(root)
    except OSError:
        return False
    if pick_run_file(root, names) is not None:
        return True
    subdirs = [n for n in names if not _skip_dir(root, n) and os.path.isdir(root / n)]
    return nested_run_file(root, subdirs) is not None


def run_name(root: Path, metrics_path: Path) -> str:
    """The name discover_runs gives the run whose file is metrics_path: its directory's
    path below root, whose last parts a format may name (FileFormat.names: MLflow's
    `experiment name/run name` for `<experiment_id>/<run_id>`). A store file is named by
    its path below root, its file name included (`mlflow.db`, `proj/mlflow.db`)."""
    if is_store_file(metrics_path):
        if metrics_path != root and _is_below(metrics_path, root) and not os.path.isfile(root):
            return "/".join(metrics_path.relative_to(root).parts)
        return metrics_path.name
    run_dir = run_dir_of(metrics_path)
    if not _is_below(run_dir, root):
        run_dir = metrics_path.parent  # root is inside the run (a checkpoint-N named)
    if os.path.isfile(root) or root == metrics_path.parent or may_be_run_file(root.name):
        parts = [_dir_name(metrics_path.parent)]
    elif root == run_dir:
        parts = [_dir_name(run_dir)]
    else:
        parts = list(run_dir.relative_to(root).parts)
    names = _format_names(metrics_path)
    if names:
        parts = parts[: max(0, len(parts) - len(names))] + list(names)
    return "/".join(parts)


def distinct_name(name: str, metrics_path: Path, taken: Collection[str]) -> str:
    """name, or name with the run directory's own name when another run has it (two
    MLflow runs of one experiment may share a run name)."""
    if name not in taken:
        return name
    return f"{name} ({run_dir_of(metrics_path).name})"


def _distinct_names(runs: list[RunLocation]) -> list[RunLocation]:
    taken: set[str] = set()
    result = []
    for run in runs:
        name = distinct_name(run.name, run.metrics_path, taken)
        taken.add(name)
        result.append(run if name == run.name else RunLocation(name, run.metrics_path, run.mtime))
    return result


def _format_names(metrics_path: Path) -> tuple[str, ...] | None:
    fmt = next((f for f in FORMATS if f.names is not None and f.may_hold(metrics_path.name)), None)
    if fmt is None or fmt.names is None or claims_file(metrics_path) is not fmt:
        return None
    try:
        names = fmt.names(metrics_path)
    except (OSError, ValueError):
        return None
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        return None
    return tuple(n.strip() for n in names)


def _is_below(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents


def _dir_name(directory: Path) -> str:
    """A run directory's own name, also for `.` and `..`."""
    return directory.resolve().name or str(directory.resolve())


def _entry_is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _skip_dir(parent: Path, name: str) -> bool:
    if name.startswith(".") or name in SKIPPED_DIRS:
        return True
    try:
        return (parent / name / "pyvenv.cfg").exists()
    except OSError:  # cannot look inside: the search will report it
        return False


def _reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


def _location(name: str, metrics: Path) -> RunLocation:
    try:
        mtime = metrics.stat().st_mtime
    except OSError:
        mtime = 0.0
    return RunLocation(name, metrics, mtime)

"""Folder listings and small files kept from one read of a live run to the next.

A live run is read at every write (ten times a second), and most of its folders and side
files (MLflow's metrics/ and meta.yaml, a TensorBoard run's folder) do not change between
two writes: listing and reading them again was most of a write's read. What was listed or
read is kept with the stat it was taken at, and used again while that stat is the same:

- a folder: adding, removing or renaming an entry changes its st_mtime_ns (writing to a
  file inside does not); a folder replaced by another has another inode;
- a small file: rewriting it changes its size or its st_mtime_ns; replacing it, its inode.

A timestamp has a granularity (one or two seconds on some file systems, a clock tick on
others): a change made in the same tick as the listing or the read leaves the same stamp.
So what was listed or read less than SETTLED_NS after the folder's or file's own mtime is
not kept (it is taken again at the next read): a change after a kept listing comes at least
SETTLED_NS after the mtime it was kept with, in a later tick, and changes the stamp. A
listing holding a symbolic link is not kept either: what the link points to may become a
folder or a file without its folder changing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

#: How long after a folder's or file's last change a listing or a read of it must have been
#: taken to be kept: longer than any file system's timestamp granularity (FAT's 2 s), and than
#: a small clock skew between a network file system's server and this machine.
SETTLED_NS = 2_500_000_000

#: What identifies a folder's or file's state: (device, inode, size, mtime in ns).
Stamp = tuple[int, int, int, int]


class Entry(NamedTuple):
    """A folder's entry: its name, whether it is a folder or a regular file (links
    followed), and whether it is a link."""

    name: str
    is_dir: bool
    is_file: bool
    is_link: bool


def stamp_of(stat: os.stat_result) -> Stamp:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def settled(taken_ns: int, stamp: Stamp) -> bool:
    """Whether what was taken at taken_ns (time.time_ns() before it) of something with this
    stamp can be kept: taken long enough after its last change (see the module's rule)."""
    return taken_ns - stamp[3] >= SETTLED_NS


class FolderListings:
    """Folders' entries, listed again only when a folder's stamp changed or its last
    listing was not settled. A listing is a list shared between calls: not to be changed."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Stamp, list[Entry]]] = {}
        #: Per folder walked: the listings the walk used, and what it found (walked()).
        self._walks: dict[str, tuple[list[tuple[str, list[Entry] | None]], Any]] = {}

    def walked(self, folder: str, walk: Callable[[Callable[[str], list[Entry] | None]], T]) -> T:
        """walk(entries) for a tree below folder (entries: this object's, for the folders
        it lists), made again only when a listing it used is not the one it used then (a
        folder changed, or its listing was not kept): a live run's metrics tree walked at
        every write finds the same files, and then costs only their folders' stats. What
        it found is shared between calls: not to be changed."""
        memo = self._walks.get(folder)
        if memo is not None and all(self.entries(path) is listed for path, listed in memo[0]):
            return memo[1]
        used: list[tuple[str, list[Entry] | None]] = []

        def entries(path: str) -> list[Entry] | None:
            listed = self.entries(path)
            used.append((path, listed))
            return listed

        found = walk(entries)
        self._walks[folder] = (used, found)
        return found

    def entries(self, folder: str) -> list[Entry] | None:
        """The folder's entries sorted by name; None when it cannot be listed (absent, no
        folder, no permission)."""
        try:
            stamp = stamp_of(os.stat(folder))
        except OSError:
            self._kept.pop(folder, None)
            return None
        kept = self._kept.get(folder)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        taken = time.time_ns()
        listed = list_folder(folder)
        if listed is not None and settled(taken, stamp) and not any(e.is_link for e in listed):
            self._kept[folder] = (stamp, listed)
        else:
            self._kept.pop(folder, None)
        return listed


def list_folder(folder: str) -> list[Entry] | None:
    """The folder's entries sorted by name, listed now; None when it cannot be listed."""
    try:
        with os.scandir(folder) as found:
            listed = [_entry(item) for item in found]
    except OSError:
        return None
    listed.sort()
    return listed


def _entry(item: os.DirEntry) -> Entry:
    try:
        is_dir, is_file = item.is_dir(), item.is_file()
    except OSError:
        is_dir = is_file = False
    return Entry(item.name, is_dir, is_file, item.is_symlink())


class SettledTexts:
    """Small text files (MLflow's meta.yaml, params, tags), read again only when a file's
    stamp changed or its last read was not settled."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Stamp, str]] = {}

    def text(self, path: str) -> str:
        """The file's text (UTF-8, bad bytes replaced, newlines as Python reads them); ""
        when it cannot be read."""
        kept = self._kept.get(path)
        if kept is not None:
            try:
                if stamp_of(os.stat(path)) == kept[0]:
                    return kept[1]
            except OSError:
                pass
        taken = time.time_ns()
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                stamp = stamp_of(os.fstat(handle.fileno()))
                text = handle.read()
        except OSError:
            self._kept.pop(path, None)
            return ""
        if settled(taken, stamp):
            self._kept[path] = (stamp, text)
        else:
            self._kept.pop(path, None)
        return text

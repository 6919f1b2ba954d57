"""What the kernel really watches: the watch list of an inotify instance, read from /proc.

The notify library under watchfiles drops a watch it could not add (the
per-user limit fs.inotify.max_user_watches reached, a directory gone or
unreadable) without telling anyone when asked to ignore errors, and stops
at the first failure when not. So the watcher asks the kernel instead:
/proc/self/fdinfo/<fd> of an inotify descriptor lists one line per watch,

    inotify wd:2 ino:20c868 sdev:fe00000 mask:fee ...

with the inode (hex) and the device in the kernel's encoding (major << 20 |
minor). Linux only; elsewhere every function answers None ("cannot tell").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Where the per-user limit lives, for the message shown when it is reached.
MAX_WATCHES_SYSCTL = "/proc/sys/fs/inotify/max_user_watches"

_WATCH_LINE = re.compile(r"^inotify wd:[0-9a-f]+ ino:([0-9a-f]+) sdev:([0-9a-f]+)", re.M)
_FD_DIR = Path("/proc/self/fd")


def inotify_fds() -> set[int] | None:
    """This process's open inotify descriptors; None where /proc cannot tell."""
    try:
        names = os.listdir(_FD_DIR)
    except OSError:
        return None
    found = set()
    for name in names:
        try:
            if os.readlink(_FD_DIR / name) == "anon_inode:inotify":
                found.add(int(name))
        except (OSError, ValueError):
            continue  # closed meanwhile, or not a number
    return found


def watched_ids(fd: int) -> set[tuple[int, int]] | None:
    """(st_dev, st_ino) of every inode the inotify descriptor fd watches; None if unknown."""
    try:
        text = Path(f"/proc/self/fdinfo/{fd}").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    ids = set()
    for ino, sdev in _WATCH_LINE.findall(text):
        kernel_dev = int(sdev, 16)
        ids.add((os.makedev(kernel_dev >> 20, kernel_dev & 0xFFFFF), int(ino, 16)))
    return ids


def max_user_watches() -> int | None:
    try:
        return int(Path(MAX_WATCHES_SYSCTL).read_text().strip())
    except (OSError, ValueError):
        return None

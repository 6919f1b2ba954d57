"""Keep freed memory in the process instead of handing it back to the kernel.

Every numpy operation on a long series makes temporaries of the series'
size (a 100,000-point float64 array is 800 KB). glibc's malloc serves such
blocks with a fresh mmap, or trims the top of its heap once they are freed,
so the next temporary of the same size faults its pages in again: on a
virtual machine that is a few microseconds a page, and it made a
float-to-int conversion and clip of 1,000,000 values cost 3.3 ms where the
arithmetic takes 1.3 (`python benchmarks/bench_allocator.py`). Raising the two thresholds
once, at start, lets those blocks be reused. The peak is about the same; what
the process holds after a peak is more (blocks freed inside the heap stay
with it: a 1M-point Lightning log's first read leaves 102 MiB where it left
79 MiB).

All threads share one arena (M_ARENA_MAX 1). glibc gives each thread that
allocates its own arena, and blocks freed in one are not reused by another:
the monitor's watch thread reads a run and the UI thread draws it, and each
kept its own peak's freed blocks. With one arena the charts reuse what the
read freed: the monitor's peak on a 1M-point run fell by 7-12 MiB (Lightning
127 -> 117 MiB, TensorBoard 108 -> 101, MLflow 109 -> 97). Python threads
allocate holding the GIL, so the arena's lock is rarely waited for.

Only glibc has `mallopt`; elsewhere (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc's `mallopt` parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
#: Blocks up to this size come from the heap, where freed ones are reused (glibc's
#: largest allowed mmap threshold on 64-bit systems).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap is handed back only past this much: room for the
#: temporaries of a pass over a million-point series (8 MB each), not more.
TRIM_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds and keep one arena (call it before any thread
    starts: threads that allocated already keep theirs); True when all were taken."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    taken = [
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        mallopt(M_ARENA_MAX, 1),
    ]
    return taken == [1, 1, 1]

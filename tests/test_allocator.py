"""keep_freed_memory: glibc's thresholds raised once at start, by the command and its parser."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from metricwatch import allocator, cli


def test_taken_on_glibc_and_nowhere_else():
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert allocator.keep_freed_memory() is expected


def test_not_linux_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_no_mallopt_does_nothing(monkeypatch):
    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False


def test_the_command_keeps_freed_memory_before_anything_else(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert calls == [True]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_freed_block_is_reused_not_mapped_again():
    # With the thresholds raised, a 1 MB block freed and asked for again comes from the heap
    # at the same address; glibc's default maps it afresh (mmap) each time past 128 KiB.
    code = (
        "import numpy as np\n"
        "from metricwatch.allocator import keep_freed_memory\n"
        "keep_freed_memory()\n"
        "a = np.empty(131_072); first = a.ctypes.data; del a\n"
        "b = np.empty(131_072); print(b.ctypes.data == first)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
@pytest.mark.parametrize("keep", [True, False])
def test_a_block_freed_by_one_thread_is_reused_by_another(keep):
    # One arena for all threads: what the watch thread's read freed, the UI thread's charts
    # reuse. glibc's default gives the thread an arena of its own, whose blocks stay there.
    code = (
        "import threading, numpy as np\n"
        "from metricwatch.allocator import keep_freed_memory\n"
        f"if {keep}: keep_freed_memory()\n"
        "where = []\n"
        "def read():\n"
        "    a = np.empty(131_072); where.append(a.ctypes.data); del a\n"
        "t = threading.Thread(target=read); t.start(); t.join()\n"
        "b = np.empty(131_072); print(b.ctypes.data == where[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(keep)

"""The blocking inotify watch: watchfiles' answers (changes, "stop", "timeout") without
waking every step, checked against the kernel's real events and hand-made ones."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from metricwatch import inotify, inotify_watch, watch
from metricwatch.inotify_watch import (
    ADDED,
    DELETED,
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_ISDIR,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    MODIFIED,
    InotifyWatch,
    decode_events,
)

pytestmark = pytest.mark.skipif(not inotify_watch.available(), reason="inotify is Linux's")


def event(wd: int, mask: int, name: bytes = b"", pad: int = 16) -> bytes:
    padded = name + b"\0" * (pad - len(name)) if name else b""
    return struct.pack("iIII", wd, mask, 0, len(padded)) + padded


# --- events decoded ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "change"),
    [
        (IN_CREATE, ADDED),
        (IN_CREATE | IN_ISDIR, ADDED),
        (IN_MOVED_TO, ADDED),
        (IN_DELETE, DELETED),
        (IN_MOVED_FROM | IN_ISDIR, DELETED),
        (IN_MODIFY, MODIFIED),
        (IN_ATTRIB, MODIFIED),
    ],
)
def test_each_kind_of_event_is_watchfiles_change(mask, change):
    changes, overflow = decode_events(event(3, mask, b"metrics.csv"), {3: "/runs/a"})
    assert (changes, overflow) == ([(change, "/runs/a/metrics.csv")], False)


@pytest.mark.parametrize("mask", [IN_DELETE_SELF, IN_MOVE_SELF])
def test_a_watched_directory_deleted_or_moved_is_its_own_deletion(mask):
    assert decode_events(event(7, mask), {7: "/runs/a"}) == ([(DELETED, "/runs/a")], False)


def test_a_read_of_several_events_keeps_their_order_and_skips_what_is_no_change():
    data = b"".join(
        [
            event(1, IN_CREATE, b"x.json"),
            event(-1, IN_Q_OVERFLOW),  # told, and the events after it still read
            event(3, IN_DELETE_SELF),  # a watched directory gone, among other events
            event(1, IN_ATTRIB),  # the directory's own attributes
            event(9, IN_MODIFY, b"gone.csv"),  # a watch already removed
            event(2, IN_CLOSE_WRITE, b"y.csv"),  # not asked for: no change
            event(2, IN_MODIFY, b"y.csv", pad=32),
            event(1, IN_DELETE, b"x.json"),
        ]
    )
    changes, overflow = decode_events(data, {1: "/r/a", 2: "/r/b", 3: "/r/c"})
    assert overflow is True
    assert changes == [
        (ADDED, "/r/a/x.json"),
        (DELETED, "/r/c"),
        (MODIFIED, "/r/b/y.csv"),
        (DELETED, "/r/a/x.json"),
    ]


def test_a_name_is_its_bytes_up_to_the_kernels_padding():
    data = event(1, IN_CREATE, b"run-X", pad=16) + event(1, IN_CREATE, b"\0\0x", pad=8)
    changes, _ = decode_events(data, {1: "/r"})
    assert changes[0] == (ADDED, "/r/run-X")


def test_a_name_that_is_not_utf8_is_kept_as_the_os_gives_it():
    changes, _ = decode_events(event(1, IN_CREATE, b"odd\xff name"), {1: "/r"})
    assert changes == [(ADDED, "/r/" + os.fsdecode(b"odd\xff name"))]


def test_an_overflowed_queue_is_told_with_the_events_around_it():
    data = event(1, IN_MODIFY, b"a.csv") + event(-1, IN_Q_OVERFLOW)
    assert decode_events(data, {1: "/r"}) == ([(MODIFIED, "/r/a.csv")], True)


def test_a_read_cut_inside_an_event_header_stops_there():
    data = event(1, IN_CREATE, b"a.csv") + b"\x01\x00"
    assert decode_events(data, {1: "/r"}) == ([(ADDED, "/r/a.csv")], False)


# --- the kernel's events, through watch() ---------------------------------------------------


class Flag:
    def __init__(self) -> None:
        self.set_ = False
        self.asked = 0

    def is_set(self) -> bool:
        self.asked += 1
        return self.set_


def test_a_file_created_then_written_is_one_added_change(tmp_path):
    with InotifyWatch([str(tmp_path)], False, False, 0, False, True) as notify:
        path = tmp_path / "metrics.csv"
        path.write_text("epoch,loss\n")
        with open(path, "a") as handle:
            handle.write("1,0.5\n")
        assert notify.watch(30, 10, 5000, None) == {(ADDED, str(path))}
        with open(path, "a") as handle:
            handle.write("2,0.4\n")
        assert notify.watch(30, 10, 5000, None) == {(MODIFIED, str(path))}
        path.unlink()
        assert notify.watch(30, 10, 5000, None) == {(DELETED, str(path))}


def test_a_change_is_answered_once_a_step_passes_without_another(tmp_path):
    with InotifyWatch([str(tmp_path)]) as notify:
        (tmp_path / "a").write_text("x")
        started = time.monotonic()
        assert notify.watch(10_000, 20, 30_000, None) == {(ADDED, str(tmp_path / "a"))}
        assert time.monotonic() - started < 5.0  # the quiet step, not the 10 s debounce


def test_changes_a_step_apart_or_less_are_one_batch(tmp_path):
    with InotifyWatch([str(tmp_path)]) as notify:
        timers = [
            threading.Timer(delay, (tmp_path / name).write_text, ("x",))
            for delay, name in ((0.0, "a"), (0.1, "b"), (0.2, "c"))
        ]
        for timer in timers:
            timer.start()
        found = notify.watch(5_000, 400, 30_000, None)  # a 400 ms step: one batch
        for timer in timers:
            timer.join()
    assert found == {(ADDED, str(tmp_path / name)) for name in "abc"}


def test_a_timeout_longer_than_a_second_is_waited_for_in_full(tmp_path):
    timer = threading.Timer(1.2, (tmp_path / "late").write_text, ("x",))
    with InotifyWatch([str(tmp_path)]) as notify:
        timer.start()
        found = notify.watch(30, 10, 3_000, None)
        timer.join()
    assert found == {(ADDED, str(tmp_path / "late"))}


def test_the_descriptor_neither_blocks_nor_outlives_an_exec(tmp_path):
    import fcntl

    with InotifyWatch([str(tmp_path)]) as notify:
        assert notify._fd is not None
        assert fcntl.fcntl(notify._fd, fcntl.F_GETFL) & os.O_NONBLOCK
        assert fcntl.fcntl(notify._fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_no_inotify_instance_left_is_an_os_error_with_its_cause(monkeypatch):
    import ctypes
    import errno

    class Exhausted:
        def inotify_init1(self, flags):
            ctypes.set_errno(errno.EMFILE)
            return -1

    monkeypatch.setattr(inotify_watch, "_load_libc", Exhausted)
    with pytest.raises(OSError) as raised:
        InotifyWatch(["/"])
    assert raised.value.errno == errno.EMFILE
    assert raised.value.strerror == "inotify_init1: Too many open files"


def test_changes_that_never_stop_are_answered_after_the_debounce(tmp_path):
    stop = threading.Event()

    def write() -> None:
        with open(tmp_path / "busy.log", "a") as handle:
            while not stop.is_set():
                handle.write("x\n")
                handle.flush()
                time.sleep(0.002)

    writer = threading.Thread(target=write)
    with InotifyWatch([str(tmp_path)]) as notify:
        writer.start()
        try:
            started = time.monotonic()
            found = notify.watch(200, 100, 30_000, None)
            took = time.monotonic() - started
        finally:
            stop.set()
            writer.join()
    assert (ADDED, str(tmp_path / "busy.log")) in found
    assert took >= 0.2  # not before the debounce: the changes never paused for a step


def test_nothing_changing_times_out_and_a_set_event_stops(tmp_path):
    with InotifyWatch([str(tmp_path)]) as notify:
        flag = Flag()
        assert notify.watch(30, 10, 50, flag) == "timeout"
        assert flag.asked >= 1
        flag.set_ = True
        assert notify.watch(30, 10, 0, flag) == "stop"


def test_a_set_event_is_seen_while_waiting_without_a_timeout(tmp_path):
    flag = Flag()
    timer = threading.Timer(0.3, lambda: setattr(flag, "set_", True))
    with InotifyWatch([str(tmp_path)]) as notify:
        timer.start()
        assert notify.watch(30, 10, 0, flag) == "stop"
    # Asked about every STOP_CHECK_S while waiting, not at every 10 ms step.
    assert flag.asked <= 0.3 / inotify_watch.STOP_CHECK_S + 3


def test_a_directory_the_kernel_refuses_is_skipped_and_not_watched(tmp_path):
    missing = tmp_path / "not-there"
    (tmp_path / "here").mkdir()
    before = inotify.inotify_fds()
    with InotifyWatch([str(missing), str(tmp_path / "here")]) as notify:
        (fd,) = inotify.inotify_fds() - before
        watched = inotify.watched_ids(fd)
        assert watched == {watch.dir_id(tmp_path / "here")}
        (tmp_path / "here" / "f").write_text("1")
        assert notify.watch(30, 10, 5000, None) == {(ADDED, str(tmp_path / "here" / "f"))}


def test_a_closed_watch_says_so_and_closes_once(tmp_path):
    notify = InotifyWatch([str(tmp_path)])
    notify.close()
    notify.close()
    with pytest.raises(RuntimeError, match="closed"):
        notify.watch(30, 10, 50, None)


def test_an_overflowed_queue_raises_for_the_watcher_to_watch_afresh(tmp_path, monkeypatch):
    with InotifyWatch([str(tmp_path)]) as notify:
        monkeypatch.setattr(inotify_watch.os, "read", lambda fd, n: event(-1, IN_Q_OVERFLOW))
        monkeypatch.setattr(inotify_watch.select, "select", lambda r, w, x, t: (r, [], []))
        with pytest.raises(RuntimeError, match="overflowed"):
            notify.watch(30, 10, 5000, None)


def test_the_watcher_uses_inotify_here_and_watchfiles_elsewhere(monkeypatch):
    assert watch._notify_class() is InotifyWatch
    monkeypatch.setattr(inotify_watch, "available", lambda: False)
    from watchfiles._rust_notify import RustNotify

    assert watch._notify_class() is RustNotify


def test_no_inotify_off_linux_or_without_it_in_the_c_library(monkeypatch):
    monkeypatch.setattr(inotify_watch.sys, "platform", "darwin")
    assert inotify_watch.available() is False
    monkeypatch.setattr(inotify_watch.sys, "platform", "linux")
    monkeypatch.setattr(inotify_watch, "_libc", None)

    def no_library(*args, **kwargs):
        raise OSError("no C library")

    monkeypatch.setattr(inotify_watch.ctypes, "CDLL", no_library)
    assert inotify_watch.available() is False
    monkeypatch.setattr(inotify_watch.ctypes, "CDLL", lambda *args, **kwargs: object())
    assert inotify_watch.available() is False  # a C library without inotify


def test_the_c_library_is_loaded_once_with_its_errno_and_argument_types(monkeypatch):
    import ctypes
    import errno

    monkeypatch.setattr(inotify_watch, "_libc", None)
    assert inotify_watch.available() is True
    libc = inotify_watch._libc
    assert libc is not None and inotify_watch._load_libc() is libc  # kept, not loaded again
    assert libc.inotify_add_watch.argtypes == [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    assert libc.inotify_add_watch(-1, b"/", inotify_watch.WATCH_MASK) == -1
    assert ctypes.get_errno() == errno.EBADF  # the call's own errno, kept for the message

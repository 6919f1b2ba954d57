"""The monitor on a remote source: the client that turns a `metricwatch serve` into Runs
(reconnecting with backoff), and the monitor itself in a pilot test against a real
server on loopback: a run written on the server side appears and updates."""

from __future__ import annotations

import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from serve_helpers import TIMEOUT_S, write_epochs
from tui_fixtures.support import wait_for

from metricwatch.model import ProblemKind
from metricwatch.sources import remote as remote_module
from metricwatch.sources.remote import (
    Gone,
    Loaded,
    RemoteClient,
    Unreachable,
    parse_remote,
    split_sources,
)
from metricwatch.tui.app import create_app
from metricwatch.writer import MetricsDocument


def epochs(first: int, last: int) -> list[dict]:
    return [
        {"epoch": n, "train_loss": 1.0 / n, "val_loss": 2.0 / n} for n in range(first, last + 1)
    ]


class Server:
    """The real `metricwatch serve` in a subprocess, on an ephemeral (or given) port."""

    def __init__(self, root: Path, *args: str, port: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metricwatch", "serve", str(root), "--port", str(port), *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.process.stderr], [], [], TIMEOUT_S)
        assert ready, "the server said nothing"
        line = self.process.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:(\d+))/api/runs", line)
        assert found, line
        self.url, self.port = found.group(1), int(found.group(2))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(TIMEOUT_S)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_epochs(root / "a", epochs(1, 2), {"total_epochs": 20})
    return root


def test_server_addresses():
    assert parse_remote("http://gpu1:9000/").url == "http://gpu1:9000"
    assert parse_remote("http://gpu1").label == "gpu1:8765"
    assert parse_remote("https://[::1]:80", "t") == remote_module.RemoteSpec(
        "https://[::1]:80", "[::1]:80", "t"
    )
    for bad in ("http://", "http://gpu1:8765/api/runs", "http://gpu1:x", "http://h?q=1"):
        with pytest.raises(ValueError):
            parse_remote(bad)
    path, remotes = split_sources(["runs/", "http://a:1", "http://b:2"], "t")
    assert path == Path("runs/") and [r.label for r in remotes] == ["a:1", "b:2"]
    assert split_sources(["http://a:1"], None)[0] is None
    with pytest.raises(ValueError, match="one PATH at a time"):
        split_sources(["runs/", "more/"], None)


def test_the_monitors_arguments_are_checked_before_it_starts(tmp_path, capsys):
    from metricwatch.cli import main

    assert main([str(tmp_path), str(tmp_path / "other")]) == 2
    assert capsys.readouterr().err == (
        "metricwatch: one PATH at a time (it may hold many runs); servers as many as needed\n"
    )
    assert main(["http://gpu1:x"]) == 2
    assert capsys.readouterr().err == "metricwatch: http://gpu1:x: not a valid port\n"


class Collect:
    """A sink that keeps every event, and the latest Run of each name."""

    def __init__(self) -> None:
        self.events: list = []
        self.runs: dict = {}
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        with self.lock:
            self.events.append(event)
            if isinstance(event, Loaded):
                for run in event.runs:
                    self.runs[run.name] = run

    def wait(self, condition, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not condition():
            assert time.monotonic() < deadline, f"not within {TIMEOUT_S} s: {what}"
            time.sleep(0.02)


def test_the_client_follows_records_runs_and_a_server_that_goes_away(root, monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.1)
    server = Server(root, "--token", "tk")
    sink = Collect()
    stop = threading.Event()
    label = f"127.0.0.1:{server.port}"
    client = RemoteClient(parse_remote(server.url, "tk"), sink)
    thread = threading.Thread(target=client.run, args=(stop,), daemon=True)
    thread.start()
    try:
        name = f"{label}/a"
        sink.wait(lambda: name in sink.runs, "the run listed")
        run = sink.runs[name]
        assert run.epochs_done == 2 and run.total_epochs == 20 and run.format == "metricwatch"
        assert list(run.series("train_loss").values) == [1.0, 0.5]
        write_epochs(root / "a", epochs(3, 3))
        sink.wait(lambda: sink.runs[name].epochs_done == 3, "epoch 3")
        write_epochs(root / "b", epochs(1, 1))
        sink.wait(lambda: f"{label}/b" in sink.runs, "a new run")
        (root / "b" / "metrics.json").unlink()
        sink.wait(lambda: Gone(f"{label}/b") in sink.events, "the run gone")
        server.stop()
        sink.wait(lambda: any(isinstance(e, Unreachable) for e in sink.events), "unreachable")
        kept = sink.runs[name]
        assert kept.epochs_done == 3  # the last data stays
        assert [p.kind for p in kept.problems] == [ProblemKind.UNREADABLE]
        assert "unreachable" in kept.problems[0].message
        write_epochs(root / "a", epochs(4, 5))  # written while the server is down
        server = Server(root, "--token", "tk", port=server.port)
        sink.wait(lambda: sink.runs[name].epochs_done == 5, "the records missed")
        assert sink.runs[name].problems == []
        assert list(sink.runs[name].table.steps) == [1, 2, 3, 4, 5]  # none twice
        write_epochs(root / "a", epochs(6, 6))
        sink.wait(lambda: sink.runs[name].epochs_done == 6, "live again")
        assert list(sink.runs[name].table.steps) == [1, 2, 3, 4, 5, 6]
        fresh = MetricsDocument(root / "a")  # the run started again from scratch, in place
        fresh.put({"epoch": 1, "train_loss": 9.0})
        fresh.write()
        sink.wait(lambda: sink.runs[name].epochs_done == 1, "the rewritten run")
        assert list(sink.runs[name].series("train_loss").values) == [9.0]
    finally:
        stop.set()
        server.stop()


def test_a_wrong_token_is_an_unreachable_server_said_once(root, monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.05)
    server = Server(root, "--token", "right")
    sink = Collect()
    stop = threading.Event()
    client = RemoteClient(parse_remote(server.url, "wrong"), sink)
    tries: list[str] = []
    real_get = client._get

    def get(path: str):
        tries.append(path)
        return real_get(path)

    client._get = get
    threading.Thread(target=client.run, args=(stop,), daemon=True).start()
    try:
        sink.wait(lambda: len(tries) >= 4, "several tries")  # still said once
        assert [type(e) for e in sink.events] == [Unreachable]
        assert "HTTP 401 missing or wrong token" in sink.events[0].message
    finally:
        stop.set()
        server.stop()


async def test_the_monitor_shows_a_servers_runs_live_beside_local_ones(root, tmp_path, monkeypatch):
    synced: list[float] = []
    real_sync = RemoteClient._sync

    def sync(client: RemoteClient) -> None:
        synced.append(time.monotonic())
        real_sync(client)

    monkeypatch.setattr(RemoteClient, "_sync", sync)
    server = Server(root)
    local = tmp_path / "local"
    write_epochs(local / "mine", epochs(1, 4))
    label = f"127.0.0.1:{server.port}"
    app = create_app(local, remotes=[parse_remote(server.url)])
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            name = f"{label}/a"
            await wait_for(pilot, lambda: name in app.states and "mine" in app.states, TIMEOUT_S)
            assert app.states[name].epochs_done == 2
            write_epochs(root / "a", epochs(3, 3))
            await wait_for(pilot, lambda: app.states[name].epochs_done == 3, TIMEOUT_S)
            app.select(name)
            await wait_for(pilot, lambda: "3 / 20" in app.view.header.plain, TIMEOUT_S)
            syncs = len(synced)
            await pilot.press("r")  # fetched again from the server, not read as a file
            await wait_for(pilot, lambda: len(synced) > syncs, TIMEOUT_S)
            write_epochs(root / "a", epochs(4, 4))  # and followed again
            await wait_for(pilot, lambda: app.states[name].epochs_done == 4, TIMEOUT_S)
            assert not app.states[name].problems
    finally:
        server.stop()


async def test_the_monitor_on_a_server_alone(root):
    server = Server(root)
    spec = parse_remote(server.url)
    app = create_app(Path(spec.label), remotes=[spec], local=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            name = f"127.0.0.1:{server.port}/a"
            await wait_for(pilot, lambda: name in app.states, TIMEOUT_S)
            assert app.scan_done.is_set() and list(app.states) == [name]
            write_epochs(root / "c", epochs(1, 1))
            await wait_for(pilot, lambda: f"127.0.0.1:{server.port}/c" in app.states, TIMEOUT_S)
    finally:
        server.stop()


def test_frames_of_a_stream():
    from metricwatch.sources.sse import frames

    lines = [
        b"retry: 2000\n",
        b"\n",
        b": heartbeat\n",
        b"\n",
        b"id: b-1\n",
        b"event: epoch\n",
        b'data: {"epoch":1}\n',
        b"\n",
        b'data:{"x":2}\r\n',
        b"\r\n",
        b"event: odd\n",
        b"data: [1]\n",
        b"\n",
    ]
    assert list(frames(lines)) == [
        ("epoch", "b-1", {"epoch": 1}),
        ("message", None, {"x": 2}),
        ("odd", None, {}),
    ]


def test_a_reader_gives_the_frames_in_order_then_the_end():
    from metricwatch.sources.sse import FrameReader, StreamEnded

    lines = iter([b"event: a\n", b"data: {}\n", b"\n", b"event: b\n", b"data: {}\n", b"\n"])
    arrived = threading.Event()

    def readline() -> bytes:
        line = next(lines, b"")
        if not line:
            arrived.wait(TIMEOUT_S)  # the end only once both frames are taken
        return line

    reader = FrameReader(readline)
    deadline = time.monotonic() + TIMEOUT_S
    got: list = []
    while len(got) < 2 and time.monotonic() < deadline:
        got.extend(reader.batch(0.05))
    assert [kind for kind, _, _ in got] == ["a", "b"]
    assert reader.batch(0.05) == []
    arrived.set()
    with pytest.raises(StreamEnded):
        while time.monotonic() < deadline:
            reader.batch(0.05)


async def test_a_server_not_there_yet_is_waited_for_and_said(root, monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.1)
    with socket.socket() as probe:  # a port nothing listens on (until the server takes it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = parse_remote(f"http://127.0.0.1:{port}")
    app = create_app(Path(spec.label), remotes=[spec], local=False)
    async with app.run_test(size=(120, 40)) as pilot:
        waiting = app.query_one("#waiting")
        await wait_for(pilot, lambda: waiting.display, TIMEOUT_S)
        assert str(waiting.render()).startswith(f"waiting for runs from 127.0.0.1:{port}")
        await wait_for(pilot, lambda: _said(app, "connection refused; retrying"), TIMEOUT_S)
        server = Server(root, port=port)
        try:
            await wait_for(pilot, lambda: f"127.0.0.1:{port}/a" in app.states, TIMEOUT_S)
            assert app.view.display and not waiting.display
        finally:
            server.stop()


def _said(app, text: str) -> bool:
    """Whether a notification of the app holds text."""
    return any(text in str(note.message) for note in app._notifications)


def test_a_bug_in_the_client_is_said_and_it_tries_again(root, monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.05)
    server = Server(root)
    sink = Collect()
    stop = threading.Event()
    client = RemoteClient(parse_remote(server.url), sink)
    real_sync = client._sync
    calls: list[int] = []

    def sync_failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TypeError("a bug")
        real_sync()

    client._sync = sync_failing_once
    threading.Thread(target=client.run, args=(stop,), daemon=True).start()
    try:
        sink.wait(lambda: sink.runs, "the runs after the retry")
        assert isinstance(sink.events[0], Unreachable)
        assert sink.events[0].message.endswith("unreachable: internal error: TypeError: a bug")
    finally:
        stop.set()
        server.stop()

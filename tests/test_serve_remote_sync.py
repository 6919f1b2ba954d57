"""The monitor's client of a server keeps what the server holds: a value added at an x it
already has, a run rewritten while the network was down, `r` at once, and a server that
sends what the API never does. Against the real server in a subprocess; every wait is on
a condition."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from serve_helpers import TIMEOUT_S, write_epochs
from test_serve_remote import Collect, Server, epochs

from metricwatch.sources import remote as remote_module
from metricwatch.sources.remote import RemoteClient, Unreachable, parse_remote
from metricwatch.sources.remote_runs import RemoteRun
from metricwatch.sources.sse import MAX_LINE, frames


class Proxy:
    """A TCP relay to a port that can be cut (a network blip: its connections closed, new
    ones closed at once) and restored, while the server behind it goes on."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [conn, upstream]
            threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def _follow(url: str, sink: Collect) -> tuple[RemoteClient, threading.Event]:
    stop = threading.Event()
    client = RemoteClient(parse_remote(url), sink)
    threading.Thread(target=client.run, args=(stop,), daemon=True).start()
    return client, stop


def _append_steps(run_dir: Path, first: int, last: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "a") as out:
        for step in range(first, last + 1):
            out.write(json.dumps({"step": step, "epoch": step / 20, "train_loss": 1 / step}) + "\n")


def _values(run, key: str) -> dict[int, float]:
    if key not in run.table.series:
        return {}
    series = run.series(key)
    return dict(zip(series.steps.tolist(), series.values.tolist()))


def test_a_remote_step_run_gets_the_validation_placed_at_a_step_it_has(tmp_path):
    root = tmp_path / "runs"
    _append_steps(root / "s", 1, 20)
    server = Server(root)
    sink = Collect()
    _, stop = _follow(server.url, sink)
    name = f"127.0.0.1:{server.port}/s"
    try:
        sink.wait(lambda: name in sink.runs, "the run listed")
        _append_steps(root / "s", 21, 40)
        sink.wait(lambda: sink.runs[name].table.steps[-1] == 40, "step 40")
        (root / "s" / "metrics.json").write_text(
            json.dumps({"epochs": [{"epoch": 2, "step": 40, "val_loss": 0.3}]})
        )
        sink.wait(lambda: _values(sink.runs[name], "val_loss") == {40: 0.3}, "val_loss at 40")
        run = sink.runs[name]
        assert list(run.table.steps) == list(range(1, 41))
        assert _values(run, "train_loss")[40] == pytest.approx(1 / 40)
    finally:
        stop.set()
        server.stop()


def _server_epochs(url: str) -> int:
    with urllib.request.urlopen(f"{url}/api/runs", timeout=TIMEOUT_S) as response:
        return json.load(response)["runs"][0]["epochs"]


def test_a_run_rewritten_during_a_network_blip_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.1)
    root = tmp_path / "runs"
    write_epochs(root / "a", epochs(1, 2), {"total_epochs": 20})
    server = Server(root)
    proxy = Proxy(server.port)
    sink = Collect()
    _, stop = _follow(f"http://127.0.0.1:{proxy.port}", sink)
    name = f"127.0.0.1:{proxy.port}/a"
    try:
        sink.wait(lambda: name in sink.runs, "the run listed")
        write_epochs(root / "a", epochs(3, 3))
        sink.wait(lambda: sink.runs[name].epochs_done == 3, "epoch 3 from the stream")
        proxy.cut()
        sink.wait(lambda: any(isinstance(e, Unreachable) for e in sink.events), "unreachable")
        rewritten = [dict(record, train_loss=9.0) for record in epochs(1, 5)]
        (root / "a" / "metrics.json").write_text(json.dumps({"epochs": rewritten}))
        deadline = time.monotonic() + TIMEOUT_S
        while _server_epochs(server.url) != 5:  # the server has read it (the same server)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proxy.up.set()
        sink.wait(
            lambda: _values(sink.runs[name], "train_loss") == dict.fromkeys(range(1, 6), 9.0),
            "the rewritten run whole",
        )
    finally:
        stop.set()
        proxy.close()
        server.stop()


def test_r_fetches_the_runs_again_at_once_not_at_the_next_heartbeat(tmp_path):
    root = tmp_path / "runs"
    write_epochs(root / "a", epochs(1, 2))
    server = Server(root)
    sink = Collect()
    client, stop = _follow(server.url, sink)
    asked: list[float] = []
    real_get = client._get

    def get(path: str):
        if path == "/api/runs":
            asked.append(time.monotonic())
        return real_get(path)

    client._get = get
    name = f"127.0.0.1:{server.port}/a"
    try:
        sink.wait(lambda: name in sink.runs, "the run listed")
        write_epochs(root / "a", epochs(3, 3))
        sink.wait(lambda: sink.runs[name].epochs_done == 3, "following the stream")
        before = len(asked)
        pressed = time.monotonic()
        client.request_resync()
        sink.wait(lambda: len(asked) > before, "the runs asked for again")
        assert asked[before] - pressed < 5.0  # the heartbeat, which it waited for, is 15 s
    finally:
        stop.set()
        server.stop()


def test_a_record_whose_x_a_table_cannot_hold_is_refused():
    run = RemoteRun("id", "run", "step", "", None, None)
    assert not run.add([{"step": 10**30, "loss": 1.0}, {"step": -(10**30), "loss": 1.0}])
    assert run.add([{"step": 5, "loss": 1.0}])
    assert list(run.table().steps) == [5]


def test_a_stream_line_longer_than_any_record_is_refused():
    with pytest.raises(ValueError, match="longer than"):
        list(frames([b"data: " + b"x" * MAX_LINE + b"\n"]))


def test_forgetting_the_records_from_an_x_on():
    run = RemoteRun("id", "run", "step", "", None, None)
    run.add([{"step": 1, "a": 1.0}, {"step": 2, "a": 2.0, "b": 5.0}, {"step": 3, "a": 3.0}])
    before = run.table()
    run.truncate(2)
    table = run.table()
    assert list(table.steps) == [1] and list(table.series) == ["a"]
    assert list(table.series["a"].values) == [1.0]
    run.add([{"step": 2, "a": 9.0}])
    assert list(before.series["a"].values) == [1.0, 2.0, 3.0]  # a table given out is kept
    assert list(run.table().series["a"].values) == [1.0, 9.0]


def test_a_table_given_out_is_not_changed_by_records_added_after():
    run = RemoteRun("id", "run", "step", "", None, None)
    run.add([{"step": n, "a": float(n)} for n in range(1, 40)])
    before = run.table()
    run.add([{"step": n, "a": float(n)} for n in range(40, 100)])
    assert list(before.steps) == list(range(1, 40))
    assert list(run.table().series["a"].values) == [float(n) for n in range(1, 100)]


def test_a_token_given_with_spaces_around_it_is_the_token_without_them(tmp_path):
    root = tmp_path / "runs"
    write_epochs(root / "a", epochs(1, 1))
    server = Server(root, "--token", " tk\n")
    try:
        request = urllib.request.Request(
            f"{server.url}/api/runs", headers={"Authorization": "Bearer tk"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            assert response.status == 200
    finally:
        server.stop()


def test_a_server_given_twice_is_followed_once():
    from metricwatch.sources.remote import split_sources

    _, servers = split_sources(["http://gpu1", "http://gpu1:8765/", "http://gpu2:1"], None)
    assert [spec.label for spec in servers] == ["gpu1:8765", "gpu2:1"]


class Hostile:
    """An HTTP server that answers as the API does, until told to answer garbage."""

    def __init__(self) -> None:
        import http.server

        self.runs: bytes = json.dumps(
            {
                "runs": [{"id": "r1", "name": "run", "x": "epoch", "status": "live"}],
                "last_event": "b-1",
            }
        ).encode()
        self.metrics = json.dumps({"epochs": [{"epoch": 1, "loss": 1.0}]}).encode()
        self.stream: list[bytes] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/api/events":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for line in owner.stream:
                        self.wfile.write(line)
                    self.wfile.flush()
                    return
                body = owner.runs if self.path == "/api/runs" else owner.metrics
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_server_that_answers_garbage_is_said_and_tried_again_never_a_crash(monkeypatch):
    monkeypatch.setattr(remote_module, "BACKOFF_MIN_S", 0.05)
    monkeypatch.setattr(remote_module, "BACKOFF_MAX_S", 0.05)
    hostile = Hostile()
    hostile.stream = [
        b'event: epoch\ndata: {"run":"r1","data":{"epoch":2,"loss":0.5}}\n\n',
        b'event: epoch\ndata: {"run":"r1","data":{"epoch":' + b"9" * 30 + b',"loss":0}}\n\n',
        b'event: epoch\ndata: {"run":"r1","data":{"epoch":3,"loss":"x","other":[1]}}\n\n',
        b'event: run\ndata: {"run":"r9","data":{"change":"appeared","run":[]}}\n\n',
        b"event: epoch\ndata: {not json\n\n",
    ]
    sink = Collect()
    _, stop = _follow(hostile.url, sink)
    label = hostile.url.removeprefix("http://")
    name = f"{label}/run"
    try:
        sink.wait(lambda: name in sink.runs and len(sink.runs[name].table) == 3, "the records")
        assert list(sink.runs[name].table.steps) == [1, 2, 3]  # the huge x refused
        sink.wait(lambda: any(isinstance(e, Unreachable) for e in sink.events), "said")
        said = [e.message for e in sink.events if isinstance(e, Unreachable)]
        assert "internal error" not in said[0]
        stop.set()
        hostile.runs = b'{"runs": "everything", "last_event": "b-2"}'
        other = Collect()
        _, stop = _follow(hostile.url, other)
        other.wait(lambda: _said(other), "said")
        assert _said(other) == [f"{label} unreachable: /api/runs: not the API's list of runs"]
    finally:
        stop.set()
        hostile.close()


def _said(sink: Collect) -> list[str]:
    with sink.lock:
        return [e.message for e in sink.events if isinstance(e, Unreachable)]


async def test_the_monitor_shows_a_remote_step_runs_validation_once_its_epoch_ends(tmp_path):
    from tui_fixtures.support import wait_for

    from metricwatch.tui.app import create_app

    root = tmp_path / "runs"
    _append_steps(root / "s", 1, 20)
    server = Server(root)
    spec = parse_remote(server.url)
    app = create_app(Path(spec.label), remotes=[spec], local=False)
    name = f"{spec.label}/s"
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: name in app.states, TIMEOUT_S)
            _append_steps(root / "s", 21, 40)
            await wait_for(pilot, lambda: _last_step(app.states[name]) == 40, TIMEOUT_S)
            (root / "s" / "metrics.json").write_text(
                json.dumps({"epochs": [{"epoch": 2, "step": 40, "val_loss": 0.3}]})
            )
            await wait_for(pilot, lambda: "val_loss" in app.states[name].keys, TIMEOUT_S)
            # the server gives each step's epoch: the `x` key offers it, as for a local run
            state = app.states[name]
            assert state.axes()[:2] == ["step", "epoch"]
            epochs = state.x_values("train_loss", "epoch")
            assert epochs is not None and epochs[:3].tolist() == [0.05, 0.1, 0.15]
            await pilot.press("x")
            await wait_for(pilot, lambda: "x: epoch" in app.view.header.plain, TIMEOUT_S)
    finally:
        server.stop()


def _last_step(state) -> int:
    steps, _ = state.column("train_loss")
    return int(steps[-1])

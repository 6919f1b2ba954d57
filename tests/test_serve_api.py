"""The HTTP API's contract: every endpoint on real runs (the sample runs, runs written by
the package's writer), `since`, NaN/Inf as null, unknown ids, traversal, tokens, CORS."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from serve_helpers import TIMEOUT_S, SseReader, served, strict_loads, write_epochs

from metricwatch.cli import main
from metricwatch.report import build_report
from metricwatch.run_parts import expand
from metricwatch.serve.feed import ServeFeed
from metricwatch.serve.registry import RunRegistry
from metricwatch.serve.shapes import dumps, findings_count
from metricwatch.sources.discovery import scan
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import choose_mode

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(SAMPLES, root)
    return root


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """One epoch run of four epochs, NaN and Inf in it, its total declared."""
    root = tmp_path / "small"
    write_epochs(
        root / "exp1",
        [
            {"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "lr": 0.1},
            {"epoch": 2, "train_loss": 1.0, "val_loss": float("nan"), "lr": 0.1},
            {"epoch": 3, "train_loss": float("inf"), "val_loss": 0.9, "lr": 0.01},
            {"epoch": 4, "train_loss": 0.5, "lr": 0.01},
        ],
        {"total_epochs": 4},
    )
    return root


async def test_runs_lists_every_discovered_run_with_its_numbers(samples):
    loader = RunLoader()
    expected = {
        run.name: run
        for location in scan(samples).runs
        for run in expand(loader.load(location.name, location.metrics_path))
    }
    async with served(samples) as server:
        body = await server.json("/api/runs")
    listed = {entry["name"]: entry for entry in body["runs"]}
    assert set(listed) == set(expected)
    assert len({entry["id"] for entry in body["runs"]}) == len(expected)
    for name, entry in listed.items():
        run = expected[name]
        report = build_report(run)
        assert URL_SAFE.match(entry["id"]), entry["id"]
        assert entry["format"] == run.format
        assert entry["x"] == "epoch"
        assert entry["epochs"] == run.epochs_done
        assert entry["steps"] is None
        assert entry["total"] == run.total_epochs
        assert entry["updated"] == run.mtime
        assert entry["status"] == report.status.value
        assert entry["findings"] == findings_count(report)
    assert re.fullmatch(r"[0-9a-f]+-\d+", body["last_event"])


async def test_ids_stay_the_same_for_a_run_across_servers(small):
    async with served(small) as first:
        ids = [entry["id"] for entry in (await first.json("/api/runs"))["runs"]]
    async with served(small) as second:
        again = [entry["id"] for entry in (await second.json("/api/runs"))["runs"]]
    assert ids == again and len(ids) == 1


async def test_metrics_are_the_seeds_shape_with_nan_and_inf_as_null(small):
    async with served(small) as server:
        rid = server.run_id("exp1")
        response = await server.client.get(f"/api/training/{rid}/metrics")
        text = await response.text()
    assert response.status == 200
    assert response.content_type == "application/json" and response.charset == "utf-8"
    assert "NaN" not in text and "Infinity" not in text
    body = strict_loads(text)
    assert body["epochs"] == [
        {"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "lr": 0.1},
        {"epoch": 2, "train_loss": 1.0, "val_loss": None, "lr": 0.1},
        {"epoch": 3, "train_loss": None, "val_loss": 0.9, "lr": 0.01},
        {"epoch": 4, "train_loss": 0.5, "lr": 0.01},
    ]
    assert body["id"] == rid and body["name"] == "exp1" and body["x"] == "epoch"
    assert "steps" not in body


@pytest.mark.parametrize(
    ("since", "epochs"),
    [("0", [1, 2, 3, 4]), ("2", [3, 4]), ("3", [4]), ("4", []), ("99", []), ("-5", [1, 2, 3, 4])],
)
async def test_since_returns_only_the_records_after_it(small, since, epochs):
    async with served(small) as server:
        rid = server.run_id("exp1")
        body = await server.json(f"/api/training/{rid}/metrics", params={"since": since})
    assert [record["epoch"] for record in body["epochs"]] == epochs


@pytest.mark.parametrize(
    "since",
    ["2.5", "1_0", " 5 ", "\u0665", "5" * 5000],
    ids=["fraction", "underscore", "spaces", "arabic-indic", "long"],
)
async def test_since_that_is_not_a_whole_number_is_a_400(small, since):
    async with served(small) as server:
        rid = server.run_id("exp1")
        response = await server.client.get(f"/api/training/{rid}/metrics", params={"since": since})
        assert response.status == 400
        assert await response.json() == {"error": "since must be a whole number"}


async def test_a_step_run_gives_steps(tmp_path):
    root = tmp_path / "steps"
    (root / "run").mkdir(parents=True)
    lines = [{"step": step, "epoch": step / 100, "train_loss": 1 / step} for step in (10, 20, 30)]
    (root / "run" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    async with served(root) as server:
        listing = (await server.json("/api/runs"))["runs"][0]
        body = await server.json(f"/api/training/{listing['id']}/metrics", params={"since": "10"})
    assert listing["x"] == "step" and listing["steps"] == 30
    assert "epochs" not in body
    assert [record["step"] for record in body["steps"]] == [20, 30]
    assert body["steps"][0]["train_loss"] == pytest.approx(1 / 20)


async def test_summary_is_what_summary_json_says_of_the_run(samples):
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["summary", str(samples / "diagnostics"), "--json"]) == 0
    expected = {entry["name"]: entry for entry in json.loads(out.getvalue())["runs"]}
    async with served(samples / "diagnostics") as server:
        for name, entry in expected.items():
            rid = server.run_id(name)
            body = await server.json(f"/api/training/{rid}/summary")
            assert body.pop("id") == rid
            assert body.pop("last_event")
            rows = body.pop("rows")
            assert rows and rows[0][0] == "Train Loss"
            # The run's path relative to the served PATH, never where it is on the server.
            full = Path(entry.pop("path"))
            assert body.pop("path") == str(full.relative_to(samples / "diagnostics"))
            assert body == entry
    assert any(entry["diagnostics"] for entry in expected.values())


@pytest.mark.parametrize("endpoint", ["metrics", "summary", "events"])
async def test_an_unknown_run_id_is_a_404(small, endpoint):
    async with served(small) as server:
        response = await server.client.get(f"/api/training/no-such-run/{endpoint}")
        assert response.status == 404
        assert await response.json() == {"error": "no such run"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/training/..%2F..%2F..%2Fetc%2Fpasswd/metrics",
        "/api/training/%2e%2e/metrics",
        "/api/training/../../../etc/passwd",
        "/api/training/exp1/metrics",  # a run's name, or its directory, is not its id
        "/api/training/exp1%2Fmetrics.json/summary",
        "/api/training//etc/passwd/metrics",
        "/api/../sample_runs",
    ],
)
async def test_traversal_attempts_are_404(small, path):
    from yarl import URL

    async with served(small) as server:
        url = server.client.make_url("/").with_path(path, encoded=True)
        response = await server.client.session.get(URL(str(url), encoded=True))
        assert response.status == 404
        assert "root:" not in await response.text()


async def test_no_endpoint_changes_anything(small):
    async with served(small) as server:
        rid = server.run_id("exp1")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            for path in ("/api/runs", f"/api/training/{rid}/metrics"):
                response = await server.client.request(method, path)
                assert response.status == 405, (method, path)
                assert response.headers["Allow"] == "GET,HEAD"


async def test_a_token_is_needed_on_every_request(small):
    async with served(small, token="s3cret") as server:
        rid = server.run_id("exp1")
        paths = [
            "/api/runs",
            f"/api/training/{rid}/metrics",
            f"/api/training/{rid}/summary",
            f"/api/training/{rid}/events",
            "/api/events",
            "/api/training/no-such-run/metrics",  # the token first: nothing is said of ids
        ]
        for path in paths:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                response = await server.client.get(path, headers=headers)
                assert response.status == 401, (path, headers)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert await response.json() == {"error": "missing or wrong token"}
            response = await server.client.get(path, params={"token": "s3cre"})
            assert response.status == 401
        ok = await server.client.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        for path in ("/api/runs", f"/api/training/{rid}/metrics", f"/api/training/{rid}/summary"):
            refused = await server.client.get(path, params={"token": "s3cret"})
            assert refused.status == 401, path  # a token in the URL: event streams only
        for path in ("/api/events", f"/api/training/{rid}/events"):
            stream = await server.client.get(path, params={"token": "s3cret"})
            assert stream.status == 200
            assert stream.content_type == "text/event-stream"
            stream.close()


async def test_no_cors_headers_unless_asked(small):
    async with served(small) as server:
        response = await server.client.get("/api/runs", headers={"Origin": "http://evil.test"})
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        preflight = await server.client.options("/api/runs")
        assert preflight.status == 405


async def test_cors_allows_the_one_origin_given(small):
    origin = "http://localhost:3000"
    async with served(small, token="t", cors=origin) as server:
        rid = server.run_id("exp1")
        response = await server.client.get(
            f"/api/training/{rid}/metrics", headers={"Authorization": "Bearer t", "Origin": origin}
        )
        assert response.headers["Access-Control-Allow-Origin"] == origin
        stream = await server.client.get("/api/events", params={"token": "t"})
        assert stream.headers["Access-Control-Allow-Origin"] == origin
        stream.close()
        denied = await server.client.get("/api/runs")
        assert denied.status == 401  # the header goes on errors too, so a page can read them
        assert denied.headers["Access-Control-Allow-Origin"] == origin
        preflight = await server.client.options(
            "/api/runs",
            headers={"Origin": origin, "Access-Control-Request-Headers": "authorization"},
        )
        assert preflight.status == 204  # a preflight carries no token
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
        assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Last-Event-ID"


async def test_a_run_named_with_bytes_that_are_not_utf8_is_served_not_fatal(tmp_path):
    root = tmp_path / "runs"
    odd = os.fsdecode(b"run-\xff")  # a directory name that is not UTF-8
    write_epochs(root / odd, [{"epoch": 1, "train_loss": 1.0}])
    # Polled: watchfiles stops at a path that is not UTF-8 (a limit of the watcher).
    async with served(root, poll_s=0.1) as server:
        listing = (await server.json("/api/runs"))["runs"]
        assert [run["name"] for run in listing] == ["run-\ufffd"]
        rid = listing[0]["id"]
        summary = await server.json(f"/api/training/{rid}/summary")
        assert summary["name"] == "run-\ufffd"
        body = await server.json(f"/api/training/{rid}/metrics")
        assert body["name"] == "run-\ufffd" and body["epochs"] == [{"epoch": 1, "train_loss": 1.0}]
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        write_epochs(root / odd, [{"epoch": 2, "train_loss": 0.5}])
        event = await reader.next_of({"epoch"})
        assert event.data == {"run": rid, "data": {"epoch": 2, "train_loss": 0.5}}
        write_epochs(root / "later", [{"epoch": 1, "train_loss": 1.0}])  # the watch goes on
        event = await reader.next_of({"run"})
        assert event.data["data"]["run"]["name"] == "later"
        response.close()


def test_event_payloads_show_a_lone_surrogate_as_a_replacement_character():
    assert dumps({"run": "run-\udcff", "k\udcfe": 1}) == '{"run":"run-\ufffd","k\ufffd":1}'.encode()


def test_a_failing_status_tick_is_said_and_the_ticks_go_on(tmp_path):
    registry = RunRegistry()
    messages: list[str] = []
    feed = ServeFeed(
        tmp_path, registry, choose_mode(tmp_path), say=messages.append, status_every_s=0.01
    )
    ticks: list[float] = []

    def tick(now: float) -> None:
        ticks.append(now)
        if len(ticks) == 1:
            raise RuntimeError("a bug")

    registry.tick = tick
    thread = threading.Thread(target=feed._tick, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while len(ticks) < 3:
        assert time.monotonic() < deadline, "the ticks stopped"
        time.sleep(0.01)
    feed.stop()
    assert messages[0].startswith("statuses: RuntimeError: a bug")


def test_a_first_search_that_fails_is_fatal_before_the_server_is_ready(tmp_path, monkeypatch):
    from metricwatch.serve import feed as feed_module

    def broken(*args, **kwargs):
        raise OSError("no such mount")

    monkeypatch.setattr(feed_module, "RunWatcher", broken)
    said: list[str] = []
    feed = ServeFeed(
        tmp_path,
        RunRegistry(),
        choose_mode(tmp_path),
        say=said.append,
        on_fatal=lambda message: said.append("fatal"),
        on_ready=lambda: said.append("ready"),
    )
    feed._watch()
    assert said == ["fatal", "ready"]

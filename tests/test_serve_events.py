"""The event streams on real files: a record written to disk reaches a client; resuming
with Last-Event-ID loses and repeats nothing; runs appearing and going, findings,
statuses and heartbeats. Every wait is on a condition, with a generous timeout."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from serve_helpers import SseReader, served, until_async, write_epochs

from metricwatch.serve.app import HUB


def epochs(first: int, last: int) -> list[dict]:
    return [
        {"epoch": n, "train_loss": 1.0 / n, "val_loss": 2.0 / n} for n in range(first, last + 1)
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_epochs(root / "a", epochs(1, 2), {"total_epochs": 50})
    write_epochs(root / "b", epochs(1, 1), {"total_epochs": 50})
    return root


async def test_an_epoch_written_to_disk_reaches_the_runs_stream(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        reader = SseReader(response)
        write_epochs(root / "a", [{"epoch": 3, "train_loss": 0.25, "val_loss": float("nan")}])
        event = await reader.next_of({"epoch"})
        assert event.data == {"epoch": 3, "train_loss": 0.25, "val_loss": None}
        assert event.id is not None and event.id.startswith(server.registry.boot + "-")
        assert reader.retry == 2000
        write_epochs(root / "b", epochs(2, 2))  # another run's epoch is not on this stream
        write_epochs(root / "a", epochs(4, 4))
        event = await reader.next_of({"epoch"})
        assert event.data["epoch"] == 4
        response.close()


async def test_every_run_stream_names_the_run(root):
    async with served(root) as server:
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        write_epochs(root / "b", epochs(2, 3))
        first = await reader.next_of({"epoch"})
        second = await reader.next_of({"epoch"})
        assert first.data == {"run": server.run_id("b"), "data": epochs(2, 2)[0]}
        assert second.data == {"run": server.run_id("b"), "data": epochs(3, 3)[0]}
        assert int(second.id.rpartition("-")[2]) == int(first.id.rpartition("-")[2]) + 1
        response.close()


async def test_resuming_with_last_event_id_loses_and_repeats_nothing(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        write_epochs(root / "a", epochs(3, 3))
        seen = await reader.next_of({"epoch"})
        assert seen.data["epoch"] == 3
        response.close()
        # Disconnected: three epochs written (in two writes), and another run's.
        write_epochs(root / "a", epochs(4, 5))
        write_epochs(root / "b", epochs(2, 2))
        write_epochs(root / "a", epochs(6, 6))

        async def has_epoch_6() -> bool:
            body = await server.json(f"/api/training/{rid}/metrics", params={"since": "5"})
            return bool(body["epochs"])

        await until_async(has_epoch_6)
        response = await server.client.get(
            f"/api/training/{rid}/events", headers={"Last-Event-ID": seen.id}
        )
        reader = SseReader(response)
        got = [(await reader.next_of({"epoch"})).data for _ in range(3)]
        assert got == epochs(4, 6)
        write_epochs(root / "a", epochs(7, 7))
        assert (await reader.next_of({"epoch", "reset"})).data == epochs(7, 7)[0]
        response.close()


async def test_metrics_then_events_from_its_last_event_give_every_record_once(root):
    async with served(root) as server:
        rid = server.run_id("a")
        write_epochs(root / "a", epochs(3, 4))
        await until_async(lambda: _epoch_count(server, rid, 4))
        body = await server.json(f"/api/training/{rid}/metrics")
        assert [r["epoch"] for r in body["epochs"]] == [1, 2, 3, 4]
        response = await server.client.get(
            f"/api/training/{rid}/events", headers={"Last-Event-ID": body["last_event"]}
        )
        reader = SseReader(response)
        write_epochs(root / "a", epochs(5, 5))
        assert (await reader.next_of({"epoch", "reset"})).data["epoch"] == 5
        response.close()


async def test_an_id_of_another_server_gets_a_reset(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(
            f"/api/training/{rid}/events", headers={"Last-Event-ID": "0123abcd-7"}
        )
        event = await SseReader(response).next()
        assert event.event == "reset"
        assert event.data == {"reason": "resume"}
        assert event.id == server.registry.event_id(server.registry.last_event)
        response.close()


async def test_a_run_appearing_and_going_gives_run_events(root):
    async with served(root) as server:
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        write_epochs(root / "c", epochs(1, 1))
        event = await reader.next_of({"run"})
        assert event.data["data"]["change"] == "appeared"
        listing = event.data["data"]["run"]
        assert listing["name"] == "c" and listing["epochs"] == 1 and listing["status"] == "live"
        rid = event.data["run"]
        assert listing["id"] == rid
        shutil.rmtree(root / "c")
        status = await reader.next_of({"status"})
        assert status.data == {"run": rid, "data": {"status": "gone", "was": "live"}}
        gone = await reader.next_of({"run"})
        assert gone.data["data"]["change"] == "gone" and gone.data["run"] == rid
        runs = (await server.json("/api/runs"))["runs"]
        assert [r["status"] for r in runs if r["id"] == rid] == ["gone"]
        write_epochs(root / "c", epochs(1, 2))
        back = await reader.next_of({"run"})
        assert back.data["data"]["change"] == "appeared" and back.data["run"] == rid
        response.close()


async def test_a_finding_appearing_and_a_status_change_are_events(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        write_epochs(root / "a", [{"epoch": 3, "train_loss": float("nan"), "val_loss": 0.5}])
        finding = await reader.next_of({"finding"})
        assert finding.data["change"] == "appeared"
        assert finding.data["finding"]["id"] == "non_finite"
        assert finding.data["finding"]["severity"] == "critical"
        write_epochs(root / "a", epochs(4, 50))  # its total: finished
        status = await reader.next_of({"status"})
        assert status.data == {"status": "finished", "was": "live"}
        response.close()


async def test_a_rewritten_run_gets_a_reset_not_old_epochs_again(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        (root / "a" / "metrics.json").unlink()
        write_epochs(root / "a", epochs(1, 1))  # a new run in the same place, from epoch 1
        # One read of the new file, or the file gone then back: a reset either way.
        event = await reader.next_of({"reset", "epoch"})
        assert event.event == "reset" and event.data == {"reason": "rewritten"}
        response.close()


async def test_a_quiet_stream_gets_heartbeats(root):
    async with served(root, heartbeat_s=0.2) as server:
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        await until_async(lambda: _read_comment(reader))
        assert reader.comments[0] == "heartbeat"
        response.close()


async def _read_comment(reader: SseReader) -> bool:
    line = await reader.response.content.readline()
    if line.startswith(b":"):
        reader.comments.append(line[1:].decode().strip())
    return bool(reader.comments)


async def _epoch_count(server, rid: str, count: int) -> bool:
    body = await server.json(f"/api/training/{rid}/metrics")
    return len(body["epochs"]) == count


async def test_a_burst_of_records_is_one_reset_not_a_flood(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        write_epochs(root / "a", epochs(3, 300))  # 298 new records in one write
        event = await reader.next_of({"reset", "epoch"})
        assert event.event == "reset" and event.data == {"reason": "many", "records": 298}
        write_epochs(root / "a", epochs(301, 301))  # then one by one again
        assert (await reader.next_of({"reset", "epoch"})).data["epoch"] == 301
        response.close()


async def test_head_of_a_stream_gives_its_headers_and_ends(root):
    async with served(root) as server:
        response = await server.client.head("/api/events")
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert await response.read() == b""
        assert server.client.app[HUB].clients == 0


def _hf_checkpoint(out: Path, step: int) -> None:
    """A Hugging Face checkpoint as Trainer saves it: its trainer_state.json logs every 10
    steps up to `step`; written in tmp-checkpoint-N, then renamed."""
    history = [
        {"epoch": s / 100, "loss": 1.0 / s, "learning_rate": 1e-4, "step": s}
        for s in range(10, step + 1, 10)
    ]
    state = {"global_step": step, "log_history": history, "max_steps": 100}
    folder = out / f"tmp-checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps(state))
    os.rename(folder, out / f"checkpoint-{step}")


async def test_a_run_whose_file_moves_to_a_new_checkpoint_keeps_its_id(tmp_path):
    root = tmp_path / "hf"
    _hf_checkpoint(root / "bert", 20)
    async with served(root) as server:
        before = (await server.json("/api/runs"))["runs"]
        assert [(r["name"], r["x"], r["steps"]) for r in before] == [("bert", "step", 20)]
        rid = before[0]["id"]
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        _hf_checkpoint(root / "bert", 40)
        got = [(await reader.next_of({"step", "reset"})).data for _ in range(2)]
        assert [record["step"] for record in got] == [30, 40]
        after = (await server.json("/api/runs"))["runs"]
        assert [(r["id"], r["steps"], r["status"]) for r in after] == [(rid, 40, "live")]
        response.close()


async def test_an_eventsource_resumes_with_the_last_event_id_parameter(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        write_epochs(root / "a", epochs(3, 3))
        seen = await reader.next_of({"epoch"})
        response.close()
        write_epochs(root / "a", epochs(4, 4))

        async def has_epoch_4() -> bool:
            body = await server.json(f"/api/training/{rid}/metrics", params={"since": "3"})
            return bool(body["epochs"])

        await until_async(has_epoch_4)
        response = await server.client.get(f"/api/events?last_event_id={seen.id}")
        event = await SseReader(response).next_of({"epoch", "reset"})
        assert event.data == {"run": rid, "data": epochs(4, 4)[0]}
        response.close()


def _append_steps(run_dir: Path, first: int, last: int) -> None:
    with open(run_dir / "metrics.jsonl", "a") as out:
        for step in range(first, last + 1):
            out.write(json.dumps({"step": step, "epoch": step / 20, "train_loss": 1 / step}) + "\n")


async def test_a_value_added_at_a_step_already_sent_is_a_reset_from_that_step(tmp_path):
    root = tmp_path / "steps"
    (root / "run").mkdir(parents=True)
    _append_steps(root / "run", 1, 20)
    async with served(root) as server:
        rid = server.run_id("run")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        _append_steps(root / "run", 21, 40)
        while (await reader.next_of({"step", "reset"})).data.get("step") != 40:
            pass
        # The epoch ends: metrics.json places its validation at the epoch's last step.
        (root / "run" / "metrics.json").write_text(
            json.dumps({"epochs": [{"epoch": 2, "step": 40, "val_loss": 0.3}]})
        )
        event = await reader.next_of({"step", "reset"})
        assert event.event == "reset" and event.data == {"reason": "rewritten", "from": 40}
        body = await server.json(f"/api/training/{rid}/metrics", params={"since": "39"})
        assert [(r["step"], r.get("val_loss")) for r in body["steps"]] == [(40, 0.3)]
        response.close()


async def test_a_run_rewritten_with_more_records_is_a_reset_from_its_first(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        document = epochs(1, 5)
        for record in document:
            record["train_loss"] = 9.0
        (root / "a" / "metrics.json").write_text(json.dumps({"epochs": document}))
        event = await reader.next_of({"reset", "epoch"})
        assert event.event == "reset" and event.data == {"reason": "rewritten", "from": 1}
        response.close()


async def test_a_run_back_from_gone_is_a_reset_on_its_own_stream(root):
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        (root / "a" / "metrics.json").unlink()
        assert (await reader.next_of({"status"})).data["status"] == "gone"
        write_epochs(root / "a", epochs(1, 6))
        event = await reader.next_of({"reset", "epoch"})
        assert event.event == "reset" and event.data == {"reason": "rewritten"}
        body = await server.json(f"/api/training/{rid}/metrics")
        assert [record["epoch"] for record in body["epochs"]] == [1, 2, 3, 4, 5, 6]
        response.close()


@pytest.mark.parametrize(
    "number", ["\u00b2", "5" * 5000, "+1", " 1"], ids=["superscript", "long", "plus", "space"]
)
async def test_a_malformed_last_event_id_is_a_reset_not_an_error(root, number):
    async with served(root) as server:
        last = f"{server.registry.boot}-{number}"
        response = await server.client.get("/api/events", headers={"Last-Event-ID": last})
        assert response.status == 200
        event = await SseReader(response).next_of({"reset", "epoch"})
        assert event.event == "reset" and event.data == {"reason": "resume"}
        response.close()


async def test_the_stream_of_a_removed_run_is_told_and_ends():
    from aiohttp.test_utils import TestClient, TestServer

    from metricwatch.model import Run, Table
    from metricwatch.report import build_report
    from metricwatch.serve.app import make_app
    from metricwatch.serve.ids import run_id
    from metricwatch.serve.registry import RunRegistry

    def report(name: str):
        table = Table.from_rows([(1, {"train_loss": 1.0})])
        return build_report(Run(name=name, path=Path("store") / name, table=table))

    registry = RunRegistry()
    store = Path("store/meta.yaml")
    kept, removed = report("store/1"), report("store/2")
    registry.file_loaded(store, [kept, removed])
    async with TestClient(TestServer(make_app(registry), host="127.0.0.1")) as client:
        response = await client.get(f"/api/training/{run_id('store/2')}/events")
        every = await client.get("/api/events")
        reader = SseReader(response)
        registry.file_loaded(store, [kept])  # the store no longer holds store/2
        event = await reader.next_of({"reset"})
        assert event.data == {"reason": "removed"}
        with pytest.raises(EOFError):
            await reader.next()
        # The stream of every run says it with its run event, and goes on.
        event = await SseReader(every).next()
        assert event.event == "run" and event.data["data"]["change"] == "removed"
        assert not every.content.at_eof()
        every.close()


async def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_receiving(root):
    import asyncio
    import socket

    from serve_helpers import until

    from metricwatch.serve.events import Event, frame

    async with served(root) as server:
        hub = server.client.app[HUB]
        hub.queue_limit = 5
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.client.port))
        stalled.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        response = await server.client.get("/api/events")
        reader = SseReader(response)
        await until(lambda: hub.clients == 2)
        base = server.registry.last_event
        pad = "x" * 65536
        count = 40  # 2.5 MB: more than the stalled socket's buffers and its queue hold
        received: list[int] = []

        async def read_all() -> None:
            while len(received) < count:
                event = await reader.next_of({"big"})
                received.append(event.data["data"]["n"])

        reading = asyncio.ensure_future(read_all())
        for n in range(1, count + 1):
            data = b'{"run":"x","data":{"n":%d,"pad":"%s"}}' % (n, pad.encode())
            hub.publish(Event(base + n, "x", None, frame(f"{hub.boot}-{base + n}", "big", data)))
            await asyncio.sleep(0.01)
        await asyncio.wait_for(reading, 30)
        assert received == list(range(1, count + 1))
        assert hub.dropped == 1 and hub.clients == 1
        stalled.close()
        response.close()

"""The server's parts without a server: run ids, record shapes, event ids, the hub's
resume and backpressure, the bind and token rules."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re

import pytest

from metricwatch.model import STEP, Series, Table
from metricwatch.serve.auth import (
    AddressError,
    check_bind,
    is_loopback,
    token_matches,
    token_of,
)
from metricwatch.serve.events import Event, EventHub, frame, parse_event_id
from metricwatch.serve.ids import run_id
from metricwatch.serve.shapes import dumps, records_after

URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


@pytest.mark.parametrize(
    "name",
    ["exp1", "a/b c", "../../etc/passwd", "..", ".", "", "runs/%2F", "ünïcode/训练", "x" * 300],
)
def test_run_ids_are_url_safe_and_never_a_path_step(name):
    rid = run_id(name)
    assert URL_SAFE.match(rid)
    assert rid not in (".", "..") and not rid.startswith(".")
    assert len(rid) <= 60 + 9


def test_run_ids_are_stable_and_tell_apart_names_that_slug_alike():
    assert run_id("exp/a b") == run_id("exp/a b")
    assert run_id("exp/a b") != run_id("exp/a-b")
    assert run_id("exp/lr 0.1").startswith("exp-lr-0.1-")
    assert run_id("exp/lr 0.1") == "exp-lr-0.1-" + hashlib.sha1(b"exp/lr 0.1").hexdigest()[:8]


def test_records_after_keeps_sparse_keys_and_only_later_records():
    table = Table(
        steps=[1, 2, 3],
        series={
            "train_loss": Series("train_loss", [1, 2, 3], [0.5, math.nan, 0.25]),
            "val_loss": Series("val_loss", [2], [math.inf]),
        },
    )
    assert records_after(table, None) == [
        {"epoch": 1, "train_loss": 0.5},
        {"epoch": 2, "train_loss": pytest.approx(math.nan, nan_ok=True), "val_loss": math.inf},
        {"epoch": 3, "train_loss": 0.25},
    ]
    assert records_after(table, 2) == [{"epoch": 3, "train_loss": 0.25}]
    assert records_after(table, 3) == []
    assert dumps(records_after(table, 1)) == (
        b'[{"epoch":2,"train_loss":null,"val_loss":null},{"epoch":3,"train_loss":0.25}]'
    )
    steps = Table(steps=[100], series={"loss": Series("loss", [100], [1.0])}, x=STEP)
    assert records_after(steps, 0) == [{"step": 100, "loss": 1.0}]


def test_a_step_runs_records_say_their_epoch_and_time_where_known():
    nan = math.nan
    loss = Series("loss", [10, 20, 30], [1.0, 0.5, 0.25], [nan, 0.5, 0.75], [nan, nan, 1e9 + 30])
    val = Series("val_loss", [20], [0.7], [0.5], [1e9 + 20])  # the time only this key has
    steps = Table(steps=[10, 20, 30], series={"loss": loss, "val_loss": val}, x=STEP)
    assert records_after(steps, None) == [
        {"step": 10, "loss": 1.0},
        {"step": 20, "loss": 0.5, "epoch": 0.5, "val_loss": 0.7, "time": 1e9 + 20},
        {"step": 30, "loss": 0.25, "epoch": 0.75, "time": 1e9 + 30},
    ]
    assert records_after(steps, 20) == [{"step": 30, "loss": 0.25, "epoch": 0.75, "time": 1e9 + 30}]
    # a metric of that name is the metric, never overwritten by an axis
    timed = Series("time", [10], [3.5], [0.1], [1e9])
    both = Table(steps=[10], series={"loss": loss, "time": timed}, x=STEP)
    assert records_after(both, None)[0] == {"step": 10, "loss": 1.0, "time": 3.5}
    # an epoch run's records are the seed's: the epoch is their x, no time added
    epochs = Table(steps=[1], series={"loss": Series("loss", [1], [2.0], None, [1e9])})
    assert records_after(epochs, None) == [{"epoch": 1, "loss": 2.0}]


def test_a_remote_step_run_holds_the_epoch_and_time_of_its_records():
    from metricwatch.sources.remote_runs import RemoteRun

    run = RemoteRun("id", "s", STEP, "metricwatch_steps", None, None)
    run.add(
        [
            {"step": 1, "loss": 2.0},
            {"step": 2, "loss": 1.0, "epoch": 0.5, "time": 1e9 + 2, "val_loss": 3.0},
            {"step": 3, "loss": 0.5, "epoch": True, "time": "late"},  # not numbers: unknown
        ]
    )
    table = run.table()
    assert set(table.series) == {"loss", "val_loss"}  # epoch and time are not metrics
    loss = table.series["loss"]
    assert loss.epochs.tolist()[1] == 0.5 and math.isnan(loss.epochs[0])
    assert math.isnan(loss.epochs[2]) and loss.times.tolist()[1] == 1e9 + 2
    assert table.series["val_loss"].epochs.tolist() == [0.5]
    run.truncate(2)
    assert run.table().series["loss"].epochs is None  # none known below step 2
    epoch_run = RemoteRun("id", "e", "epoch", "metricwatch", None, None)
    epoch_run.add([{"epoch": 1, "loss": 1.0, "time": 12.5}])  # YOLO's `time` is a metric
    assert epoch_run.table().series["time"].values.tolist() == [12.5]


def test_event_ids_of_another_server_or_not_ours_are_not_taken():
    assert parse_event_id("abc123-17", "abc123") == 17
    assert parse_event_id(None, "abc123") == -1
    assert parse_event_id("  ", "abc123") == -1
    assert parse_event_id("ffff00-17", "abc123") is None
    assert parse_event_id("abc123-x", "abc123") is None
    assert parse_event_id("17", "abc123") is None


def _event(number: int, run: str = "r") -> Event:
    return Event(number, run, frame(f"b-{number}", "epoch", b"{}"), frame(f"b-{number}", "e", b"1"))


async def test_a_client_that_does_not_read_is_dropped_and_the_others_get_everything():
    hub = EventHub("b", queue_limit=5)
    aborted: list[str] = []
    slow, _ = hub.subscribe(None, None, 0, lambda: aborted.append("slow"))
    fast, _ = hub.subscribe(None, None, 0, lambda: aborted.append("fast"))
    received = []
    for number in range(1, 21):
        hub.publish(_event(number))
        received.append(await fast.next(1.0))
    assert aborted == ["slow"] and slow.dropped and hub.dropped == 1
    assert hub.clients == 1
    assert b"".join(received) == b"".join(_event(n).every for n in range(1, 21))
    assert await slow.next(1.0) == b""


async def test_a_resume_replays_what_was_missed_once_then_goes_on_live():
    hub = EventHub("b")
    for number in range(1, 6):
        hub.publish(_event(number))
    client, backlog = hub.subscribe("r", "b-2", 5, lambda: None)
    assert backlog == b"".join(_event(n).one for n in (3, 4, 5))
    hub.publish(_event(5))  # (an event already replayed, arriving again) is not repeated
    hub.publish(_event(6, "other"))  # another run's
    hub.publish(_event(7))
    assert await client.next(1.0) == _event(7).one


async def test_events_made_but_not_yet_published_reach_a_resumed_client():
    hub = EventHub("b")
    hub.connect(0)
    hub.publish(_event(1))
    client, backlog = hub.subscribe("r", "b-1", 3, lambda: None)  # 2 and 3 on their way
    assert backlog == b""
    hub.publish(_event(2))
    hub.publish(_event(3))
    assert await client.next(1.0) == _event(2).one + _event(3).one


async def test_an_id_older_than_the_history_gets_a_reset():
    hub = EventHub("b", history=3)
    for number in range(1, 8):
        hub.publish(_event(number))
    _, backlog = hub.subscribe(None, "b-2", 7, lambda: None)
    assert backlog == b'id: b-7\nevent: reset\ndata: {"reason":"history"}\n\n'
    _, backlog = hub.subscribe(None, "b-4", 7, lambda: None)
    assert backlog == b"".join(_event(n).every for n in (5, 6, 7))
    hub.connect(10)  # events up to 10 were never published here
    _, backlog = hub.subscribe(None, "b-9", 12, lambda: None)
    assert b"event: reset" in backlog


async def test_a_quiet_client_gets_nothing_until_the_timeout():
    hub = EventHub("b")
    client, _ = hub.subscribe(None, None, 0, lambda: None)
    start = asyncio.get_running_loop().time()
    assert await client.next(0.05) == b""
    assert asyncio.get_running_loop().time() - start >= 0.04


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
    ],
)
def test_which_hosts_are_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_non_loopback_host_needs_a_token():
    with pytest.raises(AddressError, match=r"refusing to listen on 0\.0\.0\.0 without a token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "t")
    check_bind("127.0.0.1", None)
    with pytest.raises(AddressError, match="unknown host"):
        check_bind("no-such-host.invalid", None)


def test_the_token_is_read_from_the_header_or_the_query_and_compared_whole():
    assert token_of({"Authorization": "Bearer abc"}, {}) == "abc"
    assert token_of({"Authorization": "bearer  abc "}, {"token": "q"}) == "abc"
    assert token_of({"Authorization": "Basic abc"}, {"token": "q"}, query_allowed=True) == "q"
    assert token_of({"Authorization": "Basic abc"}, {"token": "q"}) is None  # not a stream
    assert token_of({}, {}) is None
    assert token_matches("abc", "abc")
    assert not token_matches("ab", "abc")
    assert not token_matches("abcd", "abc")
    assert not token_matches(None, "abc")
    assert not token_matches("\udcff", "abc")  # a token that is not UTF-8 is no error
    assert token_matches("\udcff", "\udcff")  # nor an expected one (from the environment)

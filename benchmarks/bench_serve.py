"""`metricwatch serve` under load: 100 SSE clients while 5 runs are written live.

The real command (`python -m metricwatch serve DIR --port 0`) serves a directory
of --runs step-log runs (metrics.jsonl, appended a line per write, as a training
script logging every N steps does). A client process opens --clients streams of
`GET /api/events` on loopback, plus one client that sends its request and never
reads. Then each run is written --rate times a second for --seconds; every
record carries `sent`, the writer's clock at the write, and each client takes
(its clock on arrival - sent) for every record it receives.

Printed: p50/p95/max write-to-client latency over every (record, client);
records missing per client; clients dropped (streams that ended) and whether
the non-reading client was dropped; the server's RSS at the start and end of
the soak and its peak; its CPU under load and then idle (--idle seconds with
the clients still connected, no writes).

Targets (issue 12): p95 <= 100 ms; a client that stops reading is dropped
without slowing the others; memory flat over a 60 s soak; idle < 1 % CPU.

    python benchmarks/bench_serve.py [--seconds 60] [--clients 100] [--runs 5] [--rate 20]
                                     [--idle 20]

Needs aiohttp (the `serve` extra). Runs against the metricwatch of the repository
it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SENT = re.compile(rb'"sent":([0-9.e+-]+)')


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 2**20


# --- the client process -----------------------------------------------------------------------


async def clients_main(url: str, count: int) -> None:
    """Open count streams and a stalled one; say `ready`; read until stdin closes; print
    the latencies and counts as JSON on stdout."""
    import aiohttp

    latencies: list[float] = []
    received = [0] * count
    ended = [False] * count
    connected = 0
    all_connected = asyncio.Event()

    async def one(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal connected
        try:
            async with session.get(f"{url}/api/events") as response:
                await response.content.readline()  # retry: ...
                connected += 1
                if connected == count:
                    all_connected.set()
                async for line in response.content:
                    if line.startswith(b"data: "):
                        found = SENT.search(line)
                        if found:
                            latencies.append(time.time() - float(found.group(1)))
                            received[index] += 1
        except (aiohttp.ClientError, ConnectionError):
            pass
        ended[index] = True

    host, port = url.removeprefix("http://").rsplit(":", 1)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
    stalled.connect((host, int(port)))
    stalled.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(one(i, session)) for i in range(count)]
        await all_connected.wait()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        ended_early = sum(ended)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    stalled.setblocking(False)
    stalled_dropped = False
    try:
        while True:
            ready, _, _ = select.select([stalled], [], [], 2.0)
            if not ready:
                break  # still open, nothing more to read: not dropped
            if not stalled.recv(1 << 20):
                stalled_dropped = True
                break
    except ConnectionResetError:
        stalled_dropped = True
    print(
        json.dumps(
            {
                "latencies": latencies,
                "received": received,
                "ended": ended_early,
                "stalled_dropped": stalled_dropped,
            }
        ),
        flush=True,
    )


# --- the writers and the measure --------------------------------------------------------------


def write_runs(root: Path, runs: int, rate: float, stop: threading.Event) -> int:
    """Append a record to each run `rate` times a second until stop; how many were written."""
    with contextlib.ExitStack() as stack:
        paths = [root / f"run{i}" / "metrics.jsonl" for i in range(runs)]
        files = [stack.enter_context(open(path, "a", encoding="utf-8")) for path in paths]
        return _write(files, rate, stop)


def _write(files: list[Any], rate: float, stop: threading.Event) -> int:
    step = 1
    written = 0
    start = time.monotonic()
    while not stop.is_set():
        for index, handle in enumerate(files):
            record = {"step": step, "train_loss": 1.0 / step + index, "sent": time.time()}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            written += 1
        step += 1
        delay = start + step / rate - time.monotonic()
        if delay > 0:
            stop.wait(delay)
    return written


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20, help="writes a second, per run")
    parser.add_argument("--idle", type=float, default=20, help="seconds of idle CPU measure")
    parser.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "clients":
        asyncio.run(clients_main(args.url, args.clients))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index in range(args.runs):
            (root / f"run{index}").mkdir()
            line = {"step": 0, "train_loss": 1.0 + index, "sent": time.time()}
            (root / f"run{index}" / "metrics.jsonl").write_text(json.dumps(line) + "\n")
        bench(root, args)


def bench(root: Path, args: argparse.Namespace) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "metricwatch", "serve", str(root), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = server.stderr.readline()
        found = re.search(r"at (http://\S+)/api/runs", line)
        if not found:
            sys.exit(f"the server did not start: {line}")
        url = found.group(1)
        clients = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--role",
                "clients",
                "--url",
                url,
                "--clients",
                f"{args.clients}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        if clients.stdout.readline().strip() != "ready":
            sys.exit("the clients did not connect")
        rss_start = rss_mib(server.pid)
        peak = rss_start
        stop = threading.Event()
        count: list[int] = []
        writer = threading.Thread(
            target=lambda: count.append(write_runs(root, args.runs, args.rate, stop))
        )
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        writer.start()
        marks: list[float] = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1.0)
            rss = rss_mib(server.pid)
            peak = max(peak, rss)
            if len(marks) < int((time.monotonic() - t0) / 10):
                marks.append(rss)
        stop.set()
        writer.join()
        cpu_load = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0) * 100
        rss_end = rss_mib(server.pid)
        time.sleep(3.0)  # the last records reach the clients
        cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(args.idle)
        cpu_idle = (cpu_seconds(server.pid) - cpu1) / (time.monotonic() - t1) * 100
        out, _ = clients.communicate("", timeout=120)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    written = count[0]
    latencies = [x * 1000 for x in result["latencies"]]
    missing = [written - got for got in result["received"]]
    print(
        f"metricwatch serve: {args.clients} SSE clients (+1 that never reads), {args.runs} runs "
        f"x {args.rate:g} writes/s, {args.seconds:g} s soak ({written} records)"
    )
    if latencies:
        print(
            f"  write-to-client latency: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms "
            f"over {len(latencies)} deliveries (mean {statistics.fmean(latencies):.1f} ms)"
        )
    print(
        f"  records missing per client: max {max(missing)}, total {sum(missing)}; "
        f"clients dropped: {result['ended']}; "
        f"non-reading client dropped: {'yes' if result['stalled_dropped'] else 'no'}"
    )
    print(
        f"  server RSS: {rss_start:.1f} MiB at the start, {rss_end:.1f} MiB at the end, "
        f"peak {peak:.1f} MiB; every 10 s: {', '.join(f'{m:.1f}' for m in marks)}"
    )
    print(
        f"  server CPU: {cpu_load:.1f}% of one core under load, {cpu_idle:.2f}% idle "
        f"({args.idle:g} s, {args.clients} clients connected, no writes)"
    )


if __name__ == "__main__":
    main()

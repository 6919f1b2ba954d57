"""Every log format at 1,000,000 logged points: first screen, live CPU, latency, memory.

For each format metricwatch reads, a run of about --points logged values is
written in that framework's own shape (benchmarks/format_logs.py, modelled on
tests/corpus/<format>/), then:

1. first screen: the app cold-started in a fresh interpreter (headless
   App.run_test at 120x40, as bench_tui_startup.py) until the run's header,
   summary, findings and every visible chart are drawn; median of --repeat;
2. live CPU: the real command `python -m metricwatch PATH` in a detached tmux
   session (120x40) while a writer process logs --rate steps a second the way
   the framework writes (format_logs.py says how, per format); CPU of the
   monitor and its parser child from /proc/PID/stat over --seconds, as a
   percentage of one core (as bench_tui_idle.py);
3. write-to-screen latency: the app headless in a child process with real file
   watching, the same writer stamping each write; the app stamps the refresh
   after which the header shows that step (as bench_tui_latency.py); p50/p95;
4. memory: peak RSS of `metricwatch summary --json PATH` and of the monitor at
   its first screen (both processes: the app and the parser child it starts for
   files over 8 MiB), minus the same measured on a tiny run of the same format
   (the fixed base), divided by the points the run holds: bytes per point.

Targets (issue 8): first screen <= 2 s (aim 1 s); CPU <= 5 % of a core (aim 2 %)
at 10 steps/s; p95 <= 100 ms; <= 64 bytes a point over a fixed base.

    python benchmarks/bench_formats.py [--points 1000000] [--formats lightning_csv,tfevents]
                                       [--seconds 20] [--repeat 3] [--json results.json]

Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
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
sys.path[:0] = [str(REPO), str(HERE)]

import format_logs as fl  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
TINY_POINTS = 2_000
SIZE = (120, 40)
TARGETS = {"first_s": 2.0, "cpu": 5.0, "p95_ms": 100.0, "bytes_per_point": 64.0}

# --- cleanup: every process group and tmux server started here goes, even on Ctrl-C ----------

_GROUPS: set[int] = set()
_SOCKETS: set[str] = set()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """A child in its own process group (so the group can be killed with what it started)."""
    process = subprocess.Popen(args, cwd=REPO, env=_env(), start_new_session=True, **kwargs)
    _GROUPS.add(process.pid)
    return process


def _reap(process: subprocess.Popen, timeout: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    _GROUPS.discard(process.pid)


def _cleanup() -> None:
    for socket in list(_SOCKETS):
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        _SOCKETS.discard(socket)
    for group in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        _GROUPS.discard(group)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# --- the writer: a training run logging --rate steps a second --------------------------------


def writer_main(name: str, root: str, state: str, seconds: float, rate: float) -> None:
    """Child side: continue the run from its saved state; print {"x", "t"} per write."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fmt = fl.load_state(name, Path(root), Path(state))
    print(json.dumps({"ready": time.time()}), flush=True)
    start = time.monotonic()
    steps = 0
    try:
        while not stop.is_set():
            due = start + steps / rate
            if due - start >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            x = fmt.step()
            steps += 1
            if x is not None:
                print(json.dumps({"x": x, "t": time.time()}), flush=True)
    finally:
        fmt.close()
        fl.save_state(fmt, Path(state))
        cpu = os.times()
        print(
            json.dumps(
                {
                    "steps": steps,
                    "elapsed": time.monotonic() - start,
                    "cpu": cpu.user + cpu.system,
                }
            ),
            flush=True,
        )


def _writer_args(name: str, root: Path, state: Path, seconds: float, rate: float) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--writer",
        name,
        str(root),
        str(state),
        str(seconds),
        str(rate),
    ]


# --- 1. first screen (and the monitor's peak memory at it) ------------------------------------

FIRST_SCREEN = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from metricwatch.allocator import keep_freed_memory
from metricwatch.cli import _import_monitor

keep_freed_memory()  # as the command does at start
_import_monitor()  # as the command imports the TUI
from metricwatch.tui.app import create_app

def hwm(pid):
    # Peak RSS (VmHWM, kB): per address space, so unlike ru_maxrss not inherited on exec.
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def children():
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == me:
                yield int(entry)

async def main(root, limit):
    app = create_app(Path(root))
    out = {"first": None, "header": "", "error": None, "child_rss_kb": 0}
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + limit
            while out["first"] is None and time.monotonic() < deadline:
                # Not pilot.pause: it makes every widget process a message and forces a
                # screen update each time, which took the CPU the app needs to load.
                await asyncio.sleep(0.005)
                view = app.view
                slots = [s for s in view.slots if s.display and s.spec is not None]
                if app.selected and slots and all(s._drawn is not None for s in slots):
                    out["first"] = time.time()
            state = app.states.get(app.selected or "")
            out["header"] = state.epoch_label() if state is not None else ""
            out["problems"] = [str(p) for p in state.problems] if state is not None else []
            while not app.scan_done.is_set() and time.monotonic() < deadline:
                await pilot.pause(0.01)
            await pilot.pause(0.1)
            out["child_rss_kb"] = sum(hwm(pid) for pid in children())  # the parser process
    except Exception as error:  # the app failing on its way out: the first screen was shown
        out["error"] = f"{type(error).__name__}: {error}"[:300]
    out["rss_kb"] = hwm(os.getpid())
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def compile_package() -> None:
    """The package's bytecode written first, as an installed package has it (pip writes it
    at install, Python at the first import): a start then compiles no module. Where
    PYTHONDONTWRITEBYTECODE is set, Python writes none itself, and every cold start would
    compile the 150-odd modules again (about 0.2 s of CPU on this machine)."""
    compileall.compile_dir(REPO / "metricwatch", quiet=1)


def first_screen(root: Path, limit: float = 60.0) -> dict[str, Any]:
    started = time.time()
    child = _spawn(
        [sys.executable, "-c", FIRST_SCREEN, str(root), str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=limit + 60)
    finally:
        _reap(child)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"first-screen child failed: {err[-2000:]}") from None
    first = result["first"]
    result["seconds"] = None if first is None else first - started
    result["peak_mib"] = (result["rss_kb"] + result["child_rss_kb"]) / 1024
    return result


# --- 4. memory of `metricwatch summary --json` ------------------------------------------------

SUMMARY = r"""
import json, sys, time
from pathlib import Path
from metricwatch.cli import main
start = time.perf_counter()
status = main(["summary", "--json", sys.argv[1]])
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a big parent
# would report at least the parent's size.
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
# The points the run holds, read by its format's reader directly (no I/O deadline).
from metricwatch.sources.discovery import claims_file, discover_runs
from metricwatch.sources.loader import RunLoader
runs = discover_runs(Path(sys.argv[1]))
run = RunLoader().load(runs[0].name, runs[0].metrics_path)
path = runs[0].metrics_path
fmt = claims_file(path)
start = time.perf_counter()
parsed = fmt.tail(path).read() if fmt.tail is not None else fmt.parse(path.read_bytes())
parse_s = time.perf_counter() - start
print(json.dumps({"rss_kb": peak, "seconds": elapsed, "status": status, "parse_s": parse_s,
                  "points": sum(len(s) for s in parsed.table.series.values()),
                  "summary_points": sum(len(s) for s in run.table.series.values()),
                  "format": fmt.name, "runs": len(runs),
                  "problems": [str(p) for p in run.problems]}), file=sys.stderr)
"""


def summary_memory(root: Path) -> dict[str, Any]:
    child = _spawn(
        [sys.executable, "-c", SUMMARY, str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = child.communicate(timeout=600)
    finally:
        _reap(child)
    try:
        return json.loads(err.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"summary child failed: {err[-2000:]}") from None


# --- 2. CPU of the real command in tmux while the run is written ------------------------------


def _stat(pid: int) -> tuple[int, list[str]] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields  # ppid


def _tree(root_pid: int) -> list[int]:
    """root_pid and every live descendant."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents.setdefault(found[0], []).append(int(entry))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(parents.get(pid, []))
    return pids


def tree_cpu_seconds(root_pid: int) -> float:
    """utime+stime of the process and its live descendants, plus their reaped children."""
    total = 0
    for pid in _tree(root_pid):
        found = _stat(pid)
        if found is not None:
            fields = found[1]
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / TICKS


def tree_peak_mib(root_pid: int) -> float:
    total = 0
    for pid in _tree(root_pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


class Writer:
    """The writer subprocess, its stamped writes read by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.process = _spawn(args, stdout=subprocess.PIPE, text=True)
        self.writes: list[tuple[int, float]] = []
        self.summary: dict[str, Any] = {}
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            item = json.loads(line)
            if "ready" in item:
                self.ready.set()
            elif "x" in item:
                self.writes.append((item["x"], item["t"]))
            else:
                self.summary = item
        self.ready.set()

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        finally:
            _reap(self.process)
            self._thread.join(5)


def _settle(pid: int, at_least: float, limit: float = 90.0) -> None:
    """Wait until the monitor has loaded the run: at least `at_least` s, then until a half
    second passes with under 10 % of a core used."""
    time.sleep(at_least)
    deadline = time.monotonic() + limit
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu_seconds(pid)
        if now - before < 0.05:
            return
        before = now


def start_monitor(code: Path, root: Path, socket: str) -> int:
    """The real command `python -m metricwatch ROOT` of the metricwatch checkout at `code`,
    in a detached tmux session `b` (SIZE) on tmux server `socket`; its process id."""
    command = (
        f"cd {shlex.quote(str(code))} && exec env -u COLUMNS -u LINES "
        f"PYTHONPATH={shlex.quote(str(code))} "
        f"{shlex.quote(sys.executable)} -m metricwatch {shlex.quote(str(root))}"
    )
    tmux = ["tmux", "-L", socket]
    size = ["-x", str(SIZE[0]), "-y", str(SIZE[1])]
    subprocess.run([*tmux, "new-session", "-d", "-s", "b", *size, command], check=True)
    found = subprocess.run(
        [*tmux, "display", "-p", "-t", "b", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(found.stdout.strip())


def live_cpu(
    name: str, root: Path, state: Path, seconds: float, rate: float, settle_s: float
) -> dict[str, Any]:
    socket = f"mw-formats-{os.getpid()}-{name}"
    tmux = ["tmux", "-L", socket]
    _SOCKETS.add(socket)
    try:
        pid = start_monitor(REPO, root, socket)
        _settle(pid, settle_s)
        idle_start, idle_at = tree_cpu_seconds(pid), time.monotonic()
        time.sleep(2.0)
        idle = (tree_cpu_seconds(pid) - idle_start) / (time.monotonic() - idle_at) * 100
        writer = Writer(_writer_args(name, root, state, seconds, rate))
        writer.ready.wait(60)
        start_cpu, start = tree_cpu_seconds(pid), time.monotonic()
        writer.wait(seconds + 120)
        used = tree_cpu_seconds(pid) - start_cpu
        elapsed = time.monotonic() - start
        peak = tree_peak_mib(pid)
        time.sleep(1.0)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True, check=False
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, check=False)
        _SOCKETS.discard(socket)
    steps = writer.summary.get("steps", 0)
    last_x = writer.writes[-1][0] if writer.writes else None
    return {
        "cpu": used / elapsed * 100,
        "idle_cpu": idle,
        "steps_per_s": steps / writer.summary["elapsed"] if writer.summary else 0.0,
        "writer_cpu": 100 * writer.summary.get("cpu", 0) / max(1e-9, elapsed),
        "peak_mib": peak,
        "last_x": last_x,
        "screen_shows_last": last_x is not None and _shows(screen, last_x),
    }


def _shows(screen: str, x: int) -> bool:
    """Whether the screen names x, or the count it ends (a 0-based epoch x is x + 1 done:
    Keras' epoch 200079 is the header's `epoch 200080`)."""
    return any(f"{n:,}" in screen or f" {n}" in screen for n in (x, x + 1))


# --- 3. write-to-screen latency (child process) -----------------------------------------------


def latency_main(name: str, root: str, state: str, seconds: float, rate: float) -> None:
    """Child side: the app headless with real watching; prints latencies as JSON."""
    from metricwatch.tui.app import MetricwatchApp
    from metricwatch.watch import choose_mode

    class TimedApp(MetricwatchApp):
        """Stamps the refresh after which the header shows each newer step (or epoch)."""

        drawn: list[tuple[int, float]]
        shown = -1

        def on_runs_loaded(self, message) -> None:  # type: ignore[override]
            super().on_runs_loaded(message)
            current = self.states.get(self.selected or "")
            x = None if current is None else current.summary.last_step
            if x is not None and x > self.shown:
                self.shown = x
                self.call_after_refresh(lambda: self.drawn.append((x, time.time())))

    async def measure() -> dict[str, Any]:
        path = Path(root)
        app = TimedApp(path, mode=choose_mode(path, None))
        app.drawn = []
        writes: list[tuple[int, float]] = []
        summary: dict[str, Any] = {}
        error = None
        try:
            async with app.run_test(size=SIZE) as pilot:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not (app.scan_done.is_set() and app.drawn):
                    await pilot.pause(0.02)
                await pilot.pause(0.5)
                proc = await asyncio.create_subprocess_exec(
                    *_writer_args(name, path, Path(state), seconds, rate), stdout=subprocess.PIPE
                )
                assert proc.stdout is not None
                async for line in proc.stdout:
                    item = json.loads(line)
                    if "x" in item:
                        writes.append((item["x"], item["t"]))
                    elif "steps" in item:
                        summary = item
                await proc.wait()
                last = max((x for x, _ in writes), default=None)
                deadline = time.monotonic() + 15
                while last is not None and app.shown < last and time.monotonic() < deadline:
                    await pilot.pause(0.02)
                await pilot.pause(0.2)
        except Exception as failed:  # noqa: BLE001 - the app failing: keep what was measured
            error = f"{type(failed).__name__}: {failed}"[:300]
        drawn = list(app.drawn)
        latencies = []
        for x, written in writes:
            shown = next((t for dx, t in drawn if dx >= x and t >= written), None)
            if shown is not None:
                latencies.append((shown - written) * 1000)
        return {"latencies": latencies, "writes": len(writes), "writer": summary, "error": error}

    print(json.dumps(asyncio.run(measure())), flush=True)


def latency(name: str, root: Path, state: Path, seconds: float, rate: float) -> dict[str, Any]:
    child = _spawn(
        [
            sys.executable,
            __file__,
            "--latency",
            name,
            str(root),
            str(state),
            str(seconds),
            str(rate),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=seconds + 300)
    finally:
        _reap(child)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"latency child failed: {err[-2000:]}") from None
    values = sorted(result["latencies"])
    result["n"] = len(values)
    result["missed"] = result["writes"] - len(values)
    result["p50"] = statistics.median(values) if values else None
    result["p95"] = (
        values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else None
    )
    result["max"] = values[-1] if values else None
    del result["latencies"]
    return result


# --- generating the runs (in a child: this process stays small) ------------------------------


def generate_main(name: str, root: str, points: str, state: str) -> None:
    fmt = fl.make(name, Path(root))
    written = fmt.generate(int(points))
    fl.save_state(fmt, Path(state))
    print(json.dumps({"written": written}), flush=True)


def generate(name: str, root: Path, points: int, state: Path) -> int:
    args = [sys.executable, __file__, "--generate", name, str(root), str(points), str(state)]
    child = _spawn(args, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = child.communicate(timeout=600)
    finally:
        _reap(child)
    return json.loads(out.strip().splitlines()[-1])["written"]


# --- one format -------------------------------------------------------------------------------


def bench_format(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    folder = work / name
    folder.mkdir()
    result: dict[str, Any] = {"format": name, "live": fl.FORMATS[name].live}
    say = lambda text: print(f"  [{name}] {text}", file=sys.stderr, flush=True)  # noqa: E731

    tiny = fl.make(name, folder / "tiny" / "run")
    generate(name, tiny.root, TINY_POINTS, folder / "tiny" / "writer-state.json")
    fmt = fl.make(name, folder / "big" / "run")
    started = time.perf_counter()
    state = folder / "big" / "writer-state.json"
    result["written"] = generate(name, fmt.root, args.points, state)
    result["file_mb"] = fl.file_bytes(fmt.root) / 1e6
    say(
        f"generated {result['written']:,} values, {result['file_mb']:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )

    base = summary_memory(tiny.root)
    big = summary_memory(fmt.root)
    if big["problems"] or big["runs"] != 1:
        say(f"warning: summary read it with problems {big['problems']} ({big['runs']} runs)")
    result["points"] = big["points"]
    result["summary_points"] = big["summary_points"]
    result["summary_problems"] = big["problems"]
    result["parse_s"] = big["parse_s"]
    result["summary_s"] = big["seconds"]
    result["summary_mib"] = big["rss_kb"] / 1024
    result["summary_base_mib"] = base["rss_kb"] / 1024
    points = max(1, big["points"])
    result["summary_bpp"] = (big["rss_kb"] - base["rss_kb"]) * 1024 / points
    say(
        f"summary: {result['summary_mib']:.0f} MiB peak, base {result['summary_base_mib']:.0f} "
        f"MiB, {result['summary_bpp']:.0f} B/point, {big['seconds']:.2f} s (of which the "
        f"reader alone: {big['parse_s']:.2f} s); {big['summary_points']:,} of "
        f"{big['points']:,} points shown"
    )

    tiny_first = first_screen(tiny.root)  # also warms the file cache
    firsts = []
    for _ in range(args.repeat):
        firsts.append(first_screen(fmt.root))
        if firsts[-1]["seconds"] is None:
            break  # it never shows: once is enough
    times = [f["seconds"] for f in firsts if f["seconds"] is not None]
    result["first_s"] = statistics.median(times) if times else None
    result["first_all"] = times
    result["first_header"] = firsts[-1]["header"]
    result["first_problems"] = firsts[-1].get("problems", [])
    result["first_errors"] = sorted({f["error"] for f in firsts if f.get("error")})
    peak = max(f["peak_mib"] for f in firsts)
    result["monitor_mib"] = peak
    result["monitor_base_mib"] = tiny_first["peak_mib"]
    result["monitor_bpp"] = (peak - tiny_first["peak_mib"]) * 2**20 / points
    shown = "never" if result["first_s"] is None else f"{result['first_s'] * 1000:.0f} ms"
    say(
        f"first screen: median {shown} of {times}; monitor peak {peak:.0f} MiB "
        f"(base {tiny_first['peak_mib']:.0f}); header {result['first_header']!r}"
    )
    for text in result["first_errors"] + result["first_problems"]:
        say(f"  first screen noted: {text}")

    if not args.no_live:
        settle = (result["first_s"] or 5.0) + 1.0
        live = live_cpu(name, fmt.root, state, args.seconds, args.rate, settle)
        result.update({f"live_{k}": v for k, v in live.items()})
        say(
            f"live: CPU {live['cpu']:.1f}% (idle before {live['idle_cpu']:.1f}%), writer "
            f"{live['steps_per_s']:.1f} steps/s using {live['writer_cpu']:.0f}% CPU, monitor "
            f"peak {live['peak_mib']:.0f} MiB, screen shows last step: {live['screen_shows_last']}"
        )
        lat = latency(name, fmt.root, state, args.seconds, args.rate)
        result.update({f"lat_{k}": v for k, v in lat.items() if k != "writer"})
        if lat["p50"] is not None:
            say(
                f"latency: n={lat['n']} missed={lat['missed']} p50={lat['p50']:.0f} ms "
                f"p95={lat['p95']:.0f} ms max={lat['max']:.0f} ms"
            )
        else:
            say(f"latency: nothing drawn of {lat['writes']} writes")
        if lat.get("error"):
            say(f"  latency run noted: {lat['error']}")
    return result


# --- the table --------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| format | points held | files MB | first screen ms | live CPU % | steps/s written "
        "| latency p50 / p95 ms (n) | summary peak MiB (B/pt) | monitor peak MiB (B/pt) "
        "| missed targets |"
    )
    rows = [head, "|" + "---|" * 10]
    for r in results:
        first = None if r.get("first_s") is None else r["first_s"] * 1000
        missed = []
        if r.get("first_s") is None or r["first_s"] > TARGETS["first_s"]:
            missed.append("first screen")
        if "live_cpu" in r and r["live_cpu"] > TARGETS["cpu"]:
            missed.append("CPU")
        if "lat_p95" in r and (r["lat_p95"] is None or r["lat_p95"] > TARGETS["p95_ms"]):
            missed.append("p95")
        if max(r["summary_bpp"], r["monitor_bpp"]) > TARGETS["bytes_per_point"]:
            missed.append("memory")
        cpu = f"{r['live_cpu']:.1f}" if "live_cpu" in r else "—"
        rate = f"{r['live_steps_per_s']:.1f}" if "live_steps_per_s" in r else "—"
        lat = (
            f"{_ms(r.get('lat_p50'))} / {_ms(r.get('lat_p95'))} ({r.get('lat_n', 0)})"
            if "lat_n" in r
            else "—"
        )
        summary = f"{r['summary_mib']:.0f} ({r['summary_bpp']:.0f})"
        if r["summary_points"] < r["points"]:
            summary += f", read {r['summary_points']:,} points"
        rows.append(
            f"| {r['format']} | {r['points']:,} | {r['file_mb']:.0f} "
            f"| {'never' if first is None else _ms(first)} | {cpu} | {rate} | {lat} | {summary} "
            f"| {r['monitor_mib']:.0f} ({r['monitor_bpp']:.0f}) | {', '.join(missed) or 'none'} |"
        )
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        generate_main(*sys.argv[2:6])
        return
    if len(sys.argv) > 1 and sys.argv[1] in ("--writer", "--latency"):
        role, name, root, state, seconds, rate = sys.argv[1:7]
        run = writer_main if role == "--writer" else latency_main
        run(name, root, state, float(seconds), float(rate))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="values logged per run")
    parser.add_argument(
        "--formats", default=",".join(fl.FORMATS), help=f"comma-separated: {', '.join(fl.FORMATS)}"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="live phases, each")
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="steps logged a second (the writer logs rate x seconds steps, later if it "
        "cannot keep up: the table gives the rate it reached)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="cold starts per format")
    parser.add_argument("--no-live", action="store_true", help="skip CPU and latency")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    names = [n.strip() for n in args.formats.split(",") if n.strip()]
    unknown = [n for n in names if n not in fl.FORMATS]
    if unknown:
        parser.error(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(fl.FORMATS)}")
    if not args.no_live and shutil.which("tmux") is None:
        sys.exit("tmux is needed for the live CPU measure (or pass --no-live)")
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    compile_package()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"bench_formats: {args.points:,} points, {args.seconds:.0f} s live at {args.rate:g} "
        f"steps/s, {os.cpu_count()} cores, python {sys.version.split()[0]} "
        f"(this process {own / 1024:.0f} MiB)",
        file=sys.stderr,
    )
    results: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="mw-formats-"))
    try:
        for name in names:
            try:
                results.append(bench_format(name, work, args))
            except RuntimeError as error:
                print(f"  [{name}] failed: {error}", file=sys.stderr)
            shutil.rmtree(work / name, ignore_errors=True)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
    finally:
        _cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if results:
        print(table(results))
        print()
        for r in results:
            print(f"- {r['format']}: {r['live']}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

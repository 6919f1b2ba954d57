"""`metricwatch serve` as a user runs it: the real command in a subprocess on an
ephemeral loopback port; one-line errors (no token for a public host, port in use,
unknown host, aiohttp missing); and what each part of the package may import."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from serve_helpers import TIMEOUT_S, write_epochs

from metricwatch.cli import main
from metricwatch.serve.command import INSTALL_HINT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_epochs(root / "a", [{"epoch": 1, "train_loss": 1.0}])
    return root


def _start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "metricwatch", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _url_of(process: subprocess.Popen) -> str:
    """The URL the server says it serves at (its first line on stderr)."""
    ready, _, _ = select.select([process.stderr], [], [], TIMEOUT_S)
    assert ready, f"no line from the server within {TIMEOUT_S} s"
    line = process.stderr.readline()
    found = re.search(r"at (http://\S+)/api/runs", line)
    assert found, line
    return found.group(1)


def test_the_command_serves_until_ctrl_c(root):
    process = _start(str(root), "--port", "0")
    try:
        url = _url_of(process)
        with urllib.request.urlopen(f"{url}/api/runs", timeout=TIMEOUT_S) as response:
            body = json.load(response)
        assert [run["name"] for run in body["runs"]] == ["a"]
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT_S) == 130
        assert process.stderr.read() == ""
    finally:
        process.kill()
        process.wait()


def test_sigterm_stops_it_with_0(root):
    process = _start(str(root), "--port", "0")
    try:
        _url_of(process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT_S) == 0
    finally:
        process.kill()
        process.wait()


def test_a_port_in_use_is_one_line(root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "metricwatch", "serve", str(root), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert result.returncode == 2
    assert result.stderr == (
        f"metricwatch: cannot listen on http://127.0.0.1:{port}: the port is in use "
        "(another server? pick one with --port)\n"
    )


def test_a_public_host_without_a_token_is_refused(root, capsys, monkeypatch):
    monkeypatch.delenv("METRICWATCH_TOKEN", raising=False)
    assert main(["serve", str(root), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metricwatch: refusing to listen on 0.0.0.0 without a token")
    assert err.count("\n") == 1 and "--token" in err and "METRICWATCH_TOKEN" in err


def test_an_empty_token_is_refused(root, capsys, monkeypatch):
    monkeypatch.setenv("METRICWATCH_TOKEN", " ")
    assert main(["serve", str(root)]) == 2
    assert capsys.readouterr().err == (
        "metricwatch: the token is empty (--token or $METRICWATCH_TOKEN)\n"
    )


@pytest.mark.parametrize("token", [[], ["--token", "t"]])
def test_an_unknown_host_is_one_line(root, capsys, token):
    assert main(["serve", str(root), "--host", "no-such-host.invalid", "--port", "0", *token]) == 2
    err = capsys.readouterr().err
    assert re.match(r"metricwatch: cannot listen on \S*no-such-host.invalid\S*: unknown host", err)
    assert err.count("\n") == 1


def test_an_address_this_machine_lacks_is_one_line(root):
    args = [str(root), "--host", "192.0.2.1", "--token", "t", "--port", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "metricwatch", "serve", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "metricwatch: cannot listen on http://192.0.2.1:0: this machine has no such address\n"
    )


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_bad_port_is_an_argument_error(root, capsys, port):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", str(root), "--port", port])
    assert stopped.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_without_aiohttp_it_says_how_to_install_it(root):
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from metricwatch.cli import main\n"
        f"sys.exit(main(['serve', {str(root)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"metricwatch: {INSTALL_HINT}\n"


def _imported(module: str) -> set[str]:
    code = (
        f"import sys, {module}\n"
        "print(' '.join(m for m in ('aiohttp', 'textual', 'torch') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    return set(output.split())


def test_only_the_server_imports_aiohttp_and_it_imports_neither_textual_nor_torch():
    modules = ("metricwatch", "metricwatch.cli", "metricwatch.tui.app", "metricwatch.serve")
    for module in (*modules, "metricwatch.sources.remote"):
        assert "aiohttp" not in _imported(module), module
    assert _imported("metricwatch.serve.server") == {"aiohttp"}
    assert _imported("metricwatch.serve.command") == set()

"""The emulator process's lifecycle: it stops on SIGTERM/SIGINT whatever its stdin, and end of file on
stdin does not stop it (issue 8: it used to ignore SIGTERM while stdin was open and to exit at once
under ``&`` or ``</dev/null``). Bad options are one line and exit status 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from bleak import BleakScanner

from nmre.acquisition.bumble_backend import BumbleCentral, BumbleScannerBackend

pytestmark = pytest.mark.timeout(90)

SERVER = [sys.executable, "-m", "nmre.sim.devices.server"]


def start(stdin: int | None) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [*SERVER, "--port", "0", "--devices", "nmre"],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        pytest.fail(f"the emulator exited before it was ready: {proc.communicate()[1][-2000:]}")
    return proc, json.loads(line)


async def _scan(port: int, name: str) -> None:
    async with (
        BumbleCentral(transport=f"tcp-client:127.0.0.1:{port}") as central,
        BleakScanner(backend=BumbleScannerBackend, bumble_central=central) as scanner,
    ):
        async for device, _adv in scanner.advertisement_data():
            if device.name == name:
                return


def connect(ready: dict[str, object]) -> None:
    """Reach the served air and hear the first device advertise (so the server is alive and serving)."""
    devices = ready["devices"]
    assert isinstance(devices, list)
    asyncio.run(asyncio.wait_for(_scan(int(ready["port"]), devices[0]["name"]), 30))  # type: ignore[call-overload]


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    proc.stdin = None  # ours to close, not communicate()'s
    try:
        _out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the emulator ignored signal {sig} for 20 s")
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_while_its_stdin_is_open(sig: int) -> None:
    proc, ready = start(subprocess.PIPE)  # stdin held open by us all along
    stdin = proc.stdin
    try:
        connect(ready)
        status, err = stop(proc, sig)
    finally:
        if stdin:
            stdin.close()
    assert status == 0, err
    assert "Traceback" not in err


def test_end_of_file_on_stdin_does_not_stop_the_server_and_sigterm_does() -> None:
    proc, ready = start(subprocess.DEVNULL)  # '</dev/null', as under '&' in a script
    assert proc.poll() is None
    connect(ready)  # still serving after its stdin hit end of file
    assert proc.poll() is None
    status, err = stop(proc, signal.SIGTERM)
    assert status == 0, err
    assert "Traceback" not in err


def test_closing_stdin_mid_run_does_not_stop_the_server() -> None:
    proc, ready = start(subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.close()
    connect(ready)
    assert proc.poll() is None
    status, err = stop(proc, signal.SIGTERM)
    assert status == 0, err


def _busy_port() -> tuple[socket.socket, int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--devices", "foo"], "device kinds"),
        (["--devices", ",,"], "device kinds"),
        (["--devices", ""], "device kinds"),
        (["--port", "99999"], "TCP port"),
        (["--port", "-1"], "TCP port"),
        (["--port", "notaport"], "TCP port"),
        (["--reps", "0"], "reps"),
        (["--seed", "x"], "whole number"),
        (["--body", "dance"], "invalid choice"),
        (["--bogus"], "unrecognized"),
    ],
)
def test_bad_options_are_one_line_and_status_2(args: list[str], says: str) -> None:
    proc = subprocess.run(
        [*SERVER, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert says in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_one_line_and_status_2() -> None:
    sock, port = _busy_port()
    try:
        env = dict(os.environ)
        proc = subprocess.run(
            [*SERVER, "--port", str(port), "--devices", "nmre"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    finally:
        sock.close()
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], proc.stderr
    assert proc.stdout == ""

"""``nmre scan`` as a user runs it: emulated sensors in-process, in another process, and no radio."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def nmre(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=timeout
    )


def test_scan_sim_lists_every_supported_family():
    proc = nmre("scan", "--sim", "--timeout", "1.5")
    assert proc.returncode == 0, proc.stderr
    kinds = {line.split()[0] for line in proc.stdout.splitlines()[1:]}
    assert kinds == {"myo", "polar", "movesense", "nmre"}
    assert all("dBm" in line for line in proc.stdout.splitlines()[1:])


def test_scan_reaches_an_emulator_in_another_process_over_a_local_socket():
    server = subprocess.Popen(
        [sys.executable, "-m", "nmre.sim.devices.server", "--port", "0", "--devices", "nmre,polar"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(server.stdout.readline())  # the server says where it listens, then serves
        proc = nmre("scan", "--bumble", f"tcp-client:127.0.0.1:{info['port']}", "--timeout", "1.5")
        assert proc.returncode == 0, proc.stderr
        names = {line.split()[1] for line in proc.stdout.splitlines()[1:]}
        assert {d["name"].split()[0] for d in info["devices"]} <= names
    finally:
        server.terminate()  # SIGTERM stops the server (end of file on its stdin does not)
        server.wait(timeout=30)


@pytest.mark.skipif(sys.platform != "linux", reason="checks the BlueZ-less Linux message")
def test_scan_without_a_radio_says_so_in_one_line():
    import os

    if os.path.exists("/run/dbus/system_bus_socket"):
        pytest.skip("a D-Bus system bus is present here; the no-radio path cannot be shown")
    proc = nmre("scan", "--timeout", "1")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Bluetooth is not available" in proc.stderr and "--sim" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

"""The separate-process emulator, reached over a local TCP HCI transport through BleakScanner/BleakClient."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
import pytest_asyncio
from bleak import BleakClient, BleakScanner

from nmre.acquisition.ble import BleConfig, BleSession, DeviceSpec
from nmre.acquisition.bumble_backend import BumbleCentral, BumbleClientBackend, BumbleScannerBackend
from nmre.acquisition.profiles.nmre_profile import INFO_UUID

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio]


@pytest_asyncio.fixture
async def server():
    """Start ``python -m nmre.sim.devices.server`` on a free port; yield its ready message."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nmre.sim.devices.server",
        "--port",
        "0",
        "--devices",
        "nmre,nmre",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            err = await proc.stderr.read()
            pytest.fail(f"emulator process exited before it was ready: {err.decode()[-2000:]}")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def test_bleak_reaches_the_emulator_process(server) -> None:
    transport = f"tcp-client:127.0.0.1:{server['port']}"
    names = {d["name"] for d in server["devices"]}
    async with BumbleCentral(transport=transport) as central:
        seen: set[str] = set()
        async with BleakScanner(backend=BumbleScannerBackend, bumble_central=central) as scanner:
            async for device, _adv in scanner.advertisement_data():
                seen.add(device.name)
                if names <= seen:
                    break
        address = server["devices"][0]["address"]
        async with BleakClient(address, backend=BumbleClientBackend, bumble_central=central) as client:
            assert client.mtu_size == 247
            info = await client.read_gatt_char(INFO_UUID)
            assert len(info) == 24 and info[0] == 1


async def test_ble_session_streams_from_the_emulator_process(server) -> None:
    """The acquisition manager, configured for the remote air and nothing else (one host per server)."""
    config = BleConfig(backend="bumble", bumble_transport=f"tcp-client:127.0.0.1:{server['port']}")
    specs = [DeviceSpec("nmre", name=d["name"]) for d in server["devices"]]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with BleSession(specs, config, time_fn=lambda: loop.time() - t0) as session:
        assert session.errors == {}
        got: dict[str, int] = {}
        while len(got) < 4 or min(got.values()) < 200:
            await asyncio.wait_for(session.wait_data(), 10)
            for block in session.outbox.poll():
                got[block.stream] = got.get(block.stream, 0) + block.n_samples
    assert set(got) == {f"{d['name']}.{k}" for d in server["devices"] for k in ("emg", "imu")}

"""Optional tier: the operating system's BLE stack (BlueZ) and, if named, a real nmre sensor.

Skips itself unless a Bluetooth adapter is present (``/sys/class/bluetooth/hci*``)
and ``bluetoothd`` is installed. Set ``NMRE_BLE_NMRE_ADDRESS`` (or
``NMRE_BLE_NMRE_NAME``) to a powered nmre-profile board to also stream from it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from nmre.acquisition.ble import BleConfig, BleSource, DeviceSpec, scan
from nmre.core.clock import RealClock


def _no_bluez_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"the hardware tier targets BlueZ on Linux, this is {sys.platform}"
    adapters = (
        sorted(Path("/sys/class/bluetooth").glob("hci*")) if Path("/sys/class/bluetooth").is_dir() else []
    )
    if not adapters:
        return "no Bluetooth adapter (/sys/class/bluetooth/hci* is absent)"
    if shutil.which("bluetoothd") is None and not Path("/usr/libexec/bluetooth/bluetoothd").exists():
        return "BlueZ (bluetoothd) is not installed"
    return None


REASON = _no_bluez_reason()
pytestmark = [
    pytest.mark.hardware,
    pytest.mark.timeout(120),
    pytest.mark.skipif(REASON is not None, reason=f"hardware tier skipped: {REASON}"),
]


def test_os_backend_scans() -> None:
    results = scan(5.0, BleConfig(backend="os"))
    assert all(r.address for r in results)


@pytest.mark.skipif(
    not (os.environ.get("NMRE_BLE_NMRE_ADDRESS") or os.environ.get("NMRE_BLE_NMRE_NAME")),
    reason="set NMRE_BLE_NMRE_ADDRESS or NMRE_BLE_NMRE_NAME to a powered nmre-profile board",
)
def test_real_nmre_board_streams() -> None:
    spec = DeviceSpec(
        "nmre", address=os.environ.get("NMRE_BLE_NMRE_ADDRESS"), name=os.environ.get("NMRE_BLE_NMRE_NAME")
    )
    source = BleSource([spec], BleConfig(backend="os", connect_timeout=30.0))
    clock = RealClock()
    source.start(clock)
    try:
        samples = 0
        while samples < 2000:
            assert source.wake.wait(10), "no data from the board within 10 s"
            source.wake.clear()
            samples += sum(b.n_samples for b in source.poll(clock.now()))
    finally:
        source.stop()

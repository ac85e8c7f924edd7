"""Fixtures for the BLE transport tests: emulated nmre boards on an in-process Bumble air."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from bumble.link import LocalLink

from nmre.acquisition.ble import BleConfig, DeviceSpec, ReconnectPolicy
from nmre.sim.devices.nmre_device import NmreDevice


def session_clock() -> Callable[[], float]:
    """Session time = loop time since now (virtual under looptime)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    return lambda: loop.time() - t0


def boards(link: LocalLink, n: int, **kwargs: object) -> list[NmreDevice]:
    """``n`` emulated nmre boards named nmre-0, nmre-1 ... on ``link``."""
    return [NmreDevice(f"nmre-{i}", link=link, **kwargs) for i in range(n)]  # type: ignore[arg-type]


def specs(devices: list[NmreDevice], by: str = "name", **config: object) -> list[DeviceSpec]:
    if by == "name":
        return [DeviceSpec("nmre", name=d.name, config=config) for d in devices]
    return [DeviceSpec("nmre", address=d.address, label=d.name, config=config) for d in devices]


def bumble_config(link: LocalLink, devices: list[NmreDevice], **kwargs: object) -> BleConfig:
    kwargs.setdefault("reconnect", ReconnectPolicy(initial=0.1, max_delay=1.0, jitter=0.2))
    kwargs.setdefault("connect_timeout", 5.0)
    return BleConfig(backend="bumble", bumble_link=link, emulated=devices, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def link() -> LocalLink:
    return LocalLink()

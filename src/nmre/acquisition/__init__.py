"""nmre.acquisition: sensors in — BLE transport, device profiles, clock models.

The engine-facing entry point is :class:`BleSource`; :func:`scan` lists nearby
sensors. The bleak backend (operating system or Bumble) is chosen by
:class:`BleConfig` only. Names are imported lazily so that importing a profile
or the clock model does not pull in bleak and Bumble.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BleConfig",
    "BleSession",
    "BleSource",
    "DeviceSpec",
    "DeviceStatus",
    "Outbox",
    "ReconnectPolicy",
    "ScanResult",
    "SessionState",
    "scan",
    "scan_async",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("nmre.acquisition.ble"), name)
    raise AttributeError(f"module 'nmre.acquisition' has no attribute {name!r}")

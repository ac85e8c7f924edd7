"""nmre.acquisition: sensors in — BLE transport, device profiles, clock models.

The engine-facing entry point is :class:`BleSource`; :func:`scan` lists nearby
sensors. The bleak backend (operating system or Bumble) is chosen by
:class:`BleConfig` only.
"""

from nmre.acquisition.ble import (
    BleConfig,
    BleSession,
    BleSource,
    DeviceSpec,
    DeviceStatus,
    Outbox,
    ReconnectPolicy,
    ScanResult,
    SessionState,
    scan,
    scan_async,
)

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

"""Emulated BLE sensors on Bumble: the framework and the device families."""

from nmre.sim.devices.base import (
    AttRefusal,
    CharSpec,
    DeviceState,
    EmulatedDevice,
    FaultLog,
    FaultPlan,
    FaultRecord,
    LinkTiming,
    ServiceSpec,
)

__all__ = [
    "AttRefusal",
    "CharSpec",
    "DeviceState",
    "EmulatedDevice",
    "FaultLog",
    "FaultPlan",
    "FaultRecord",
    "LinkTiming",
    "ServiceSpec",
]

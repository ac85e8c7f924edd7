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
    "emulated_fleet",
]


def emulated_fleet(link: object) -> list[EmulatedDevice]:
    """One emulated sensor of each family nmre ships (two nmre boards), attached to Bumble ``link``.

    Families whose emulator module is not present are skipped.
    """
    import importlib

    from nmre.sim.devices.nmre_device import NmreDevice

    fleet: list[EmulatedDevice] = [NmreDevice("nmre-L", link=link), NmreDevice("nmre-R", link=link)]  # type: ignore[arg-type]
    for module_name, class_name in (
        ("nmre.sim.devices.myo", "MyoDevice"),
        ("nmre.sim.devices.polar", "PolarDevice"),
        ("nmre.sim.devices.movesense", "MovesenseDevice"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        fleet.append(getattr(module, class_name)(link=link))
    return fleet

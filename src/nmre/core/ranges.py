"""Full-scale limits per channel: what a sensor can report, and what no real sensor can.

A sample at a channel's **rail** is saturated (the true value may be larger); a
sample beyond its **limit** cannot have come from the sensor at all (a corrupt
packet, a decoder bug, a file written wrong). The rail comes from the device
(``Channel.full_scale``, set by the device profile from its configured range);
without one, the unit's default below applies. Units without a rail (angles,
quaternion components) have only a plausibility limit.

Every processor and the quality monitor use these numbers, so one huge value can
neither poison a filter's state nor pass as data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import StreamInfo

__all__ = ["UNIT_LIMITS", "UnitLimit", "channel_limits", "unit_limit"]


@dataclass(frozen=True, slots=True)
class UnitLimit:
    """Default range of a unit: ``value`` is a rail (``rail=True``) or only a plausibility limit."""

    value: float
    rail: bool
    source: str


#: Defaults per unit (the widest range of the sensors nmre supports, so a real sample never trips them).
UNIT_LIMITS: dict[str, UnitLimit] = {
    "m/s^2": UnitLimit(
        16 * 9.80665,
        True,
        "±16 g, the widest range of wearable MEMS accelerometers (Bosch BMI270, ST LSM6DSO, Movesense, Polar "
        "Verity Sense datasheets)",
    ),
    "rad/s": UnitLimit(
        math.radians(2000.0),
        True,
        "±2000 °/s, the widest range of wearable MEMS gyroscopes (BMI270, LSM6DSO datasheets)",
    ),
    "mV": UnitLimit(
        10.0,
        True,
        "±10 mV: surface EMG stays within 0-10 mV peak to peak (De Luca 2002, 'Surface electromyography: "
        "detection and recording', Delsys); EMG front ends take ±5 to ±11 mV (Delsys Trigno ±11 mV)",
    ),
    "uT": UnitLimit(4900.0, True, "±4900 µT, AK09916 / BMM150 magnetometer range"),
    "deg": UnitLimit(360.0, False, "an angle beyond ±360° is not a joint or segment angle"),
    "1": UnitLimit(1.01, False, "a unit quaternion's components lie in [-1, 1] (1 % for rounding)"),
    "%": UnitLimit(100.0, False, "a percentage of a battery or reference"),
}


def unit_limit(unit: str) -> UnitLimit | None:
    """The default range of ``unit`` (``None`` for units without one, e.g. raw counts)."""
    return UNIT_LIMITS.get(unit)


def channel_limits(info: StreamInfo) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel ``(rail, limit)`` of a stream, in channel units (``inf`` = none).

    ``|x| >= rail`` is saturated; ``|x| > limit`` is impossible. A channel's own
    ``full_scale`` (from the device) is both its rail and its limit.
    """
    rail = np.full(info.n_channels, np.inf)
    limit = np.full(info.n_channels, np.inf)
    for i, c in enumerate(info.channels):
        if c.full_scale is not None:
            rail[i] = limit[i] = c.full_scale
            continue
        d = UNIT_LIMITS.get(c.unit)
        if d is not None:
            limit[i] = d.value
            if d.rail:
                rail[i] = d.value
    return rail, limit

"""Finding a drill's sensors among the connected streams, by kind and placement (never by stream id).

The side a drill works on comes from the placements: a drill whose limb
sensors are asked on the ``drill`` side runs on the side where all of them are
worn (right first when both are, unless the ``side`` setting says otherwise);
with both sides complete the kit is **bilateral** and symmetry rules join in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nmre.core.model import Side, StreamInfo, StreamKind

if TYPE_CHECKING:
    from nmre.drills.spec import DrillSpec, SensorSpec

__all__ = ["channel_side", "find", "missing", "resolve_side"]

SIDES = ("right", "left")


def _side_ok(want: str, have: Side | None, drill_side: str | None) -> bool:
    if want == "any":
        return True
    if want == "midline":
        return have is None or have is Side.MIDLINE
    target = drill_side if want == "drill" else want
    if target is None:  # the working side is unknown: only a sensor whose placement has no side
        return have is None
    return have is not None and have.value == target


def channel_side(info: StreamInfo, row: int) -> Side | None:
    """The side of a channel: its own placement's, else its stream's."""
    c = info.channels[row]
    if c.placement is not None and c.placement.side is not None:
        return c.placement.side
    return info.placement.side if info.placement is not None else None


def _emg_rows(info: StreamInfo, muscles: Sequence[str], want: str, drill_side: str | None) -> bool:
    for m in muscles:
        found = False
        for i, c in enumerate(info.channels):
            name = c.placement.muscle if c.placement and c.placement.muscle else c.name
            if name != m and m != "any":  # "any": whichever muscle the electrodes are placed on
                continue
            side = channel_side(info, i)
            if side is None or _side_ok(want, side, drill_side):
                found = True
                break
        if not found:
            return False
    return True


def find(sensor: SensorSpec, streams: Sequence[StreamInfo], drill_side: str | None) -> StreamInfo | None:
    """The stream that serves ``sensor`` (first accepted segment, then first accepted kind), or ``None``."""
    if StreamKind.EMG in sensor.kinds:
        for s in streams:
            if s.kind is StreamKind.EMG and _emg_rows(s, sensor.muscles, sensor.side, drill_side):
                return s
        return None
    for seg in sensor.segments:
        for kind in sensor.kinds:
            for s in streams:
                p = s.placement
                if (
                    s.kind is kind
                    and p is not None
                    and p.segment == seg
                    and _side_ok(sensor.side, p.side, drill_side)
                ):
                    return s
    return None


def _missing_on(spec: DrillSpec, streams: Sequence[StreamInfo], side: str | None) -> list[str]:
    out = []
    worn = {s.name for s in spec.sensors if find(s, streams, side) is not None}
    stood_in = {r for s in spec.sensors if s.name in worn for r in s.replaces}
    for sensor in spec.sensors:
        if sensor.required and sensor.name not in worn and sensor.name not in stood_in:
            text = sensor.describe(side)
            if sensor.purpose:
                text += f" (for {sensor.purpose})"
            if sensor.where:
                text += f": {sensor.where}"
            out.append(text)
    return out


def _sided(spec: DrillSpec) -> bool:
    return any(s.side == "drill" for s in spec.sensors)


def resolve_side(spec: DrillSpec, streams: Sequence[StreamInfo], side: str | None) -> tuple[str | None, bool]:
    """(working side, bilateral). ``side``: ``"left"``/``"right"`` to insist, ``None`` to choose."""
    if not _sided(spec):
        return None, False
    candidates = [side] if side in SIDES else list(SIDES)
    complete = [s for s in SIDES if not _missing_on(spec, streams, s)]
    chosen = next((s for s in candidates if s in complete), None)
    # sensors whose placements say no side (an imported recording): the drill runs with the side
    # unknown (None), never a side assumed
    return chosen, len(complete) == 2


def missing(spec: DrillSpec, streams: Sequence[StreamInfo], side: str | None = None) -> list[str]:
    """What is missing and where it goes, for the working side (or the side that needs least)."""
    if not _sided(spec):
        return _missing_on(spec, streams, None)
    if side in SIDES:
        return _missing_on(spec, streams, side)
    options = [_missing_on(spec, streams, s) for s in SIDES]
    if side is None:
        options.append(_missing_on(spec, streams, None))  # the side unknown: side-less placements
    return min(options, key=len)

"""Live sensors: which board is worn where, and the device specs that stream from them (no Qt here).

A sensor board does not know where it is strapped; the therapist does. A
*wear* says it, for one device, in a short notation used by ``nmre studio
--wear`` and by the device picker::

    nmre-0=trunk                      an IMU on the trunk (midline)
    nmre-1=thigh.right:vmo,vl,bf,gmed an IMU on the right thigh, EMG channels 0-3 on these muscles
    nmre-2=shank.r                    sides: left, right (l, r) or midline
    nmre-0=pelvis:vmo.left,vl.left    a muscle's side when it is not the board's

The specs carry the streams' descriptions (ids, channel names, placements),
so drills find the sensors by kind and placement exactly as with the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nmre.core.model import IMU_CHANNELS, Channel, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError, expected

__all__ = ["MUSCLES", "SEGMENTS", "Wear", "device_specs", "parse_wear", "parse_wears"]

#: Body segments and muscles of the placement vocabulary (contract §1).
SEGMENTS = ("pelvis", "trunk", "thigh", "shank", "foot", "upper_arm", "forearm", "scapula")
MUSCLES = ("vmo", "vl", "rf", "bf", "st", "gmed", "ut", "lt", "sa", "ad")
_SIDES = {"left": Side.LEFT, "l": Side.LEFT, "right": Side.RIGHT, "r": Side.RIGHT, "midline": Side.MIDLINE}
_MIDLINE = ("pelvis", "trunk")
_NAME = re.compile(r"^[^=\s][^=]*$")


@dataclass(frozen=True, slots=True)
class Wear:
    """One board: its advertised name, the segment and side its IMU is on, the muscles of its EMG channels."""

    device: str
    segment: str
    side: Side
    muscles: tuple[str, ...] = ()
    muscle_sides: tuple[Side, ...] = ()  # one per muscle (the board's side unless given)

    @property
    def text(self) -> str:
        side = "" if self.side is Side.MIDLINE else f".{self.side.value}"
        emg = [
            m + ("" if s is self.side else f".{s.value}")
            for m, s in zip(self.muscles, self.muscle_sides or [self.side] * len(self.muscles), strict=True)
        ]
        return f"{self.device}={self.segment}{side}" + (f":{','.join(emg)}" if emg else "")

    @property
    def tag(self) -> str:
        """The stream-id suffix: ``thigh.r``, ``trunk``."""
        return self.segment + ("" if self.side is Side.MIDLINE else f".{self.side.value[0]}")


def parse_wear(text: str) -> Wear:
    """``NAME=SEGMENT[.SIDE][:MUSCLE,...]`` → :class:`Wear` (ConfigError naming what was expected)."""
    what = "NAME=SEGMENT[.SIDE][:MUSCLE,...] such as nmre-1=thigh.right:vmo,vl"
    name, eq, place = str(text).partition("=")
    name = name.strip()
    if not eq or not _NAME.match(name) or not place.strip():
        raise ConfigError("--wear: " + expected(what, text))
    where, colon, emg = place.strip().partition(":")
    segment, dot, side_word = where.partition(".")
    if segment not in SEGMENTS:
        raise ConfigError(f"--wear {text!r}: segment: " + expected(f"one of {', '.join(SEGMENTS)}", segment))
    if dot:
        side = _SIDES.get(side_word.lower())
        if side is None:
            raise ConfigError(f"--wear {text!r}: side: " + expected("left, right or midline", side_word))
    elif segment in _MIDLINE:
        side = Side.MIDLINE
    else:
        raise ConfigError(f"--wear {text!r}: expected a side for the {segment} (.left or .right), got none")
    muscles: list[str] = []
    sides: list[Side] = []
    if colon:
        for item in emg.split(","):
            muscle, _, mside = item.strip().partition(".")
            ms = _SIDES.get(mside.lower()) if mside else side
            if muscle not in MUSCLES or ms is None:
                raise ConfigError(
                    f"--wear {text!r}: muscles: "
                    + expected(f"a list of MUSCLE[.SIDE] with muscles {', '.join(MUSCLES)}", emg)
                )
            muscles.append(muscle)
            sides.append(ms)
        pairs = list(zip(muscles, sides, strict=True))
        if len(set(pairs)) != len(pairs):
            raise ConfigError(f"--wear {text!r}: muscles: " + expected("each muscle once", emg))
        if len(muscles) > 8:
            raise ConfigError(
                f"--wear {text!r}: muscles: " + expected("at most 8 EMG channels", len(muscles))
            )
    return Wear(name, segment, side, tuple(muscles), tuple(sides))


def parse_wears(texts: Iterable[str]) -> list[Wear]:
    """Several wears; a device or an IMU placement given twice is an error."""
    wears = [parse_wear(t) for t in texts]
    names = [w.device for w in wears]
    if len(set(names)) != len(names):
        raise ConfigError("--wear: " + expected("each device once", ", ".join(names)))
    tags = [w.tag for w in wears]
    if len(set(tags)) != len(tags):
        raise ConfigError("--wear: " + expected("one board per segment and side", ", ".join(tags)))
    if not 1 <= len(wears) <= 4:
        raise ConfigError("--wear: " + expected("1 to 4 devices", len(wears)))
    return wears


def device_specs(wears: Sequence[Wear], *, emg_rate: int = 2000, imu_rate: int = 100) -> list[object]:
    """nmre-board :class:`~nmre.acquisition.ble.DeviceSpec` s for ``wears``, with placed stream descriptions."""
    from nmre.acquisition.ble import DeviceSpec

    out = []
    for w in wears:
        imu = StreamInfo(
            f"imu.{w.tag}",
            StreamKind.IMU,
            IMU_CHANNELS,
            float(imu_rate),
            Placement(segment=w.segment, side=w.side),
        )
        infos = {"imu": imu}
        config: dict[str, object] = {"imu": True, "emg": bool(w.muscles), "imu_rate": imu_rate}
        if w.muscles:
            sides = w.muscle_sides or (w.side,) * len(w.muscles)
            channels = tuple(
                Channel(m, "mV", Placement(muscle=m, side=s)) for m, s in zip(w.muscles, sides, strict=True)
            )
            leg = sides[0] if len(set(sides)) == 1 else None
            infos["emg"] = StreamInfo(
                f"emg.{w.tag}", StreamKind.EMG, channels, float(emg_rate), Placement(side=leg)
            )
            config.update(
                emg_rate=emg_rate, emg_channels=list(range(len(w.muscles))), emg_names=list(w.muscles)
            )
        config["stream_infos"] = infos
        out.append(DeviceSpec("nmre", name=w.device, config=config))
    return out

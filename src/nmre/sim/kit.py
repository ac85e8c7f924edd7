"""Kits: which sensors the simulated subject wears.

A kit is a list of :class:`Sensor`: an IMU (accelerometer + gyroscope) or an
accelerometer-only sensor on a segment, or EMG electrodes over muscles of one site
(right leg, left leg, right shoulder; one stream per site). ``simulate(kit=...)``
accepts

* ``"full"``: every sensor the movement's drill can use, on the movement's side;
* ``"minimal"``: the smallest set the drill accepts (contract §2);
* ``"bilateral"``: ``"full"`` plus the same sensors on the other side;
* ``"all"``: every sensor of the body model;
* an explicit list of sensors, each a :class:`Sensor`, a
  :class:`nmre.core.model.Placement` (a segment: an IMU; a muscle: EMG), or a
  string: ``"pelvis"``, ``"thigh.l"``, ``"imu:shank.r"``, ``"acc:pelvis"``
  (accelerometer only), ``"emg:vmo.r"``, ``"emg:ut"``. A segment or muscle
  without a side takes the movement's side.

Stream ids follow the contract: ``imu.<segment>`` (``imu.pelvis``, ``imu.thigh.r``),
``acc.<segment>`` for accelerometer-only sensors, ``emg.r`` / ``emg.l`` (leg
muscles), ``emg.arm.r`` (shoulder); drills find streams by kind and placement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nmre.core.model import IMU_CHANNELS, Channel, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError, expected
from nmre.sim.body import SENSOR_SEGMENTS

__all__ = ["ACC_CHANNELS", "ARM_MUSCLES", "KIT_NAMES", "LEG_MUSCLES", "Sensor", "resolve_kit", "stream_infos"]

#: Muscles of a leg's EMG site (each side).
LEG_MUSCLES: tuple[str, ...] = ("vmo", "vl", "rf", "bf", "st", "gmed")
#: Muscles of the right shoulder's EMG site.
ARM_MUSCLES: tuple[str, ...] = ("ut", "lt", "sa", "ad")
#: Named kits.
KIT_NAMES: tuple[str, ...] = ("full", "minimal", "bilateral", "all")
_DEVICE = "sim"
#: Channels of an accelerometer-only stream (kind ``acc``), m/s^2.
ACC_CHANNELS = IMU_CHANNELS[:3]
_SIDE = {"r": Side.RIGHT, "l": Side.LEFT}
_LETTER = {"right": "r", "left": "l"}


@dataclass(frozen=True, slots=True)
class Sensor:
    """One worn sensor.

    ``kind`` is ``"imu"``, ``"acc"`` (accelerometer only) or ``"emg"``. IMU and ACC
    sensors sit on ``segment`` (a name of :data:`nmre.sim.body.SENSOR_SEGMENTS`:
    ``"pelvis"``, ``"thigh.r"`` ...); EMG names ``muscle`` and ``side`` (``"r"``/``"l"``;
    shoulder muscles are on the right).
    """

    kind: str
    segment: str | None = None
    muscle: str | None = None
    side: str | None = None

    @property
    def stream_id(self) -> str:
        if self.kind == "emg":
            return "emg.arm.r" if self.muscle in ARM_MUSCLES else f"emg.{self.side}"
        return f"{self.kind}.{self.segment}"

    def mirrored(self) -> Sensor:
        """The same sensor on the other side (midline sensors and the shoulder stay)."""
        if self.kind == "emg":
            if self.muscle in ARM_MUSCLES:
                return self
            return Sensor("emg", muscle=self.muscle, side="l" if self.side == "r" else "r")
        assert self.segment is not None
        if self.segment.endswith((".r", ".l")) and not self.segment.startswith(
            ("upper_arm", "forearm", "scapula")
        ):
            other = "l" if self.segment.endswith(".r") else "r"
            return Sensor(self.kind, segment=self.segment[:-1] + other)
        return self


def imu(segment: str) -> Sensor:
    return Sensor("imu", segment=segment)


def acc(segment: str) -> Sensor:
    return Sensor("acc", segment=segment)


def emg(muscle: str, side: str) -> Sensor:
    return Sensor("emg", muscle=muscle, side="r" if muscle in ARM_MUSCLES else side)


def _parse(item: object, side: str) -> Sensor:
    """One kit item (Sensor, Placement, (Placement, kind) or string) as a Sensor."""
    letter = _LETTER[side]
    if isinstance(item, Sensor):
        sensor = item
    elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Placement):
        kind = StreamKind(item[1]) if not isinstance(item[1], StreamKind) else item[1]
        sensor = _from_placement(item[0], kind, letter)
    elif isinstance(item, Placement):
        sensor = _from_placement(item, StreamKind.EMG if item.muscle else StreamKind.IMU, letter)
    elif isinstance(item, str):
        kind, sep, rest = item.partition(":")
        if not sep:
            kind, rest = "imu", item
        if kind not in ("imu", "acc", "emg"):
            raise ConfigError("kit: " + expected("a sensor kind imu, acc or emg before ':'", item))
        if kind == "emg":
            muscle, _, s = rest.partition(".")
            sensor = Sensor("emg", muscle=muscle, side=s or ("r" if muscle in ARM_MUSCLES else letter))
        else:
            seg = rest if rest in SENSOR_SEGMENTS else f"{rest}.{letter}"
            sensor = Sensor(kind, segment=seg)
    else:
        raise ConfigError("kit: " + expected("a Sensor, a Placement or a string such as 'thigh.r'", item))
    _check(sensor)
    return sensor


def _from_placement(p: Placement, kind: StreamKind, letter: str) -> Sensor:
    s = _LETTER.get(p.side.value, letter) if p.side is not None else letter
    if kind is StreamKind.EMG:
        if p.muscle is None:
            raise ConfigError("kit: " + expected("an EMG placement with a muscle", p))
        return emg(p.muscle, s)
    if kind not in (StreamKind.IMU, StreamKind.ACC) or p.segment is None:
        raise ConfigError("kit: " + expected("an IMU or ACC placement on a segment", (p, kind.value)))
    seg = p.segment if p.segment in ("pelvis", "trunk") else f"{p.segment}.{s}"
    return Sensor(kind.value, segment=seg)


def _check(s: Sensor) -> None:
    if s.kind == "emg":
        if s.muscle not in LEG_MUSCLES + ARM_MUSCLES or s.side not in ("r", "l"):
            raise ConfigError(
                "kit: "
                + expected(
                    "an EMG muscle among " + ", ".join(LEG_MUSCLES + ARM_MUSCLES) + " with side r or l",
                    f"{s.muscle}.{s.side}",
                )
            )
        if s.muscle in ARM_MUSCLES and s.side != "r":
            raise ConfigError("kit: " + expected("shoulder muscles on the right (the model's arm)", s.muscle))
    elif s.segment not in SENSOR_SEGMENTS:
        raise ConfigError("kit: " + expected("a segment among " + ", ".join(SENSOR_SEGMENTS), s.segment))


def resolve_kit(
    kit: object, side: str, full: Sequence[Sensor], minimal: Sequence[Sensor], every: Sequence[Sensor]
) -> tuple[Sensor, ...]:
    """The sensors of ``kit`` (a name or a list), in stream order, without duplicates."""
    if isinstance(kit, str):
        if kit == "full":
            chosen: Iterable[Sensor] = full
        elif kit == "minimal":
            chosen = minimal
        elif kit == "bilateral":
            chosen = [*full, *(s.mirrored() for s in full)]
        elif kit == "all":
            chosen = every
        else:
            raise ConfigError(
                "kit: " + expected("one of " + ", ".join(KIT_NAMES) + " or a list of sensors", kit)
            )
    elif isinstance(kit, Sequence) and not isinstance(kit, (bytes, bytearray)):
        chosen = [_parse(item, side) for item in kit]
        if not chosen:
            raise ConfigError("kit: " + expected("at least one sensor", kit))
    else:
        raise ConfigError("kit: " + expected("a kit name or a list of sensors", kit))
    unique = list(dict.fromkeys(chosen))
    order = {seg: i for i, seg in enumerate(SENSOR_SEGMENTS)}

    def key(s: Sensor) -> tuple[int, int, int, int]:
        if s.kind == "emg":
            site = 2 if s.muscle in ARM_MUSCLES else (0 if s.side == "r" else 1)
            return (1, site, 0, unique.index(s))
        return (0, order[s.segment or ""], 0 if s.kind == "imu" else 1, 0)

    return tuple(sorted(unique, key=key))


def stream_infos(sensors: Sequence[Sensor], imu_rate: float, emg_rate: float) -> list[StreamInfo]:
    """One :class:`StreamInfo` per IMU/ACC sensor and per EMG site (channels in kit order)."""
    infos: list[StreamInfo] = []
    sites: dict[str, list[Sensor]] = {}
    for s in sensors:
        if s.kind == "emg":
            sites.setdefault(s.stream_id, []).append(s)
            continue
        assert s.segment is not None
        base, _, letter = s.segment.partition(".")
        side = _SIDE[letter] if letter else Side.MIDLINE
        kind = StreamKind.IMU if s.kind == "imu" else StreamKind.ACC
        channels = IMU_CHANNELS if s.kind == "imu" else ACC_CHANNELS
        infos.append(
            StreamInfo(s.stream_id, kind, channels, imu_rate, Placement(segment=base, side=side), _DEVICE)
        )
    for sid, group in sites.items():
        side = _SIDE[group[0].side or "r"]
        ch = tuple(Channel(g.muscle or "", "mV", Placement(muscle=g.muscle, side=side)) for g in group)
        infos.append(StreamInfo(sid, StreamKind.EMG, ch, emg_rate, Placement(side=side), _DEVICE))
    return infos

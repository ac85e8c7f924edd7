"""The data that flows through nmre: streams, blocks, events and feedback state.

Units and conventions
---------------------
* Time is in seconds on the **session clock** (float64, 0 = session start).
* A block's values are ``(n_channels, n_samples)`` float64 in the units named
  by the stream's channels. SI units are used inside nmre: m/s^2 for
  acceleration (specific force, so a sensor at rest reads +9.81 m/s^2 upward),
  rad/s for angular rate, mV for EMG, degrees for joint angles shown to people.
* IMU body frame convention (simulator and calibrated sensors): in the neutral
  standing pose the axes of every segment frame are x anterior, y left,
  z superior (ISB-style, right-handed). World frame: x forward, y left, z up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.errors import InputError, TimeError, expected

__all__ = [
    "IMU_CHANNELS",
    "QUAT_CHANNELS",
    "Block",
    "Channel",
    "Cue",
    "Event",
    "FeedbackState",
    "Placement",
    "Side",
    "SignalState",
    "StreamInfo",
    "StreamKind",
    "vouch_times",
]

F64 = NDArray[np.float64]


class StreamKind(str, Enum):
    """What a stream carries. Values are the strings used in files and configs."""

    EMG = "emg"  # surface EMG, mV
    IMU = "imu"  # acc_x, acc_y, acc_z (m/s^2), gyr_x, gyr_y, gyr_z (rad/s)
    ACC = "acc"  # acceleration only (m/s^2)
    GYRO = "gyro"  # angular rate only (rad/s)
    MAG = "mag"  # magnetic field (uT)
    ECG = "ecg"  # electrocardiogram (mV)
    ORIENTATION = "orientation"  # unit quaternion w, x, y, z (sensor to world)
    ANGLE = "angle"  # derived angles (deg)
    ENVELOPE = "envelope"  # EMG amplitude envelope (mV or %MVC)
    SWAY = "sway"  # balance/sway signals (m/s^2)
    MARKER = "marker"  # irregular markers
    BATTERY = "battery"  # battery level (%)


class Side(str, Enum):
    LEFT = "left"
    RIGHT = "right"
    MIDLINE = "midline"


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of a stream: its name, unit and (optionally) its own body placement.

    ``Channel("acc_x", "m/s^2")``; a multi-channel EMG stream names each muscle:
    ``Channel("vmo_r", "mV", Placement(muscle="vmo", side=Side.RIGHT))``.
    ``full_scale`` is the device's rail in the channel's unit (``None``: the unit's
    default, see :mod:`nmre.core.ranges`); a sample at it is saturated.
    """

    name: str
    unit: str
    placement: Placement | None = None
    full_scale: float | None = None

    def __post_init__(self) -> None:
        if self.full_scale is not None and not (
            isinstance(self.full_scale, (int, float))
            and math.isfinite(self.full_scale)
            and self.full_scale > 0
        ):
            raise InputError(
                f"channel {self.name!r}: full_scale " + expected("a finite number > 0", self.full_scale)
            )


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a sensor sits on the body.

    ``segment`` names a body segment (``"pelvis"``, ``"trunk"``, ``"thigh"``,
    ``"shank"``, ``"foot"``, ``"forearm"`` ...); ``muscle`` names a muscle for EMG
    (``"vmo"``, ``"vl"``, ``"bf"``, ``"gmed"`` ...); ``side`` says which side.
    """

    segment: str | None = None
    muscle: str | None = None
    side: Side | None = None

    def describe(self) -> str:
        parts = [p for p in (self.side.value if self.side else None, self.muscle, self.segment) if p]
        return " ".join(parts) or "unplaced"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Describes a stream once: identity, kind, channels with units, rate, placement, device.

    Parameters
    ----------
    id : str
        Unique id within a session, e.g. ``"emg.vmo.r"`` or ``"imu.thigh.r"``.
    kind : StreamKind
        What the stream carries.
    channels : tuple of Channel
        Channel names and units, in row order of the block values.
    rate : float
        Nominal sampling rate in Hz (0 for irregular streams such as markers).
    placement : Placement or None
        Body placement of the sensor or electrode.
    device : str or None
        Device that produced the stream (name or address), or ``None`` for derived streams.
    """

    id: str
    kind: StreamKind
    channels: tuple[Channel, ...]
    rate: float
    placement: Placement | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise InputError(expected("a non-empty stream id", self.id))
        if not isinstance(self.kind, StreamKind):
            try:
                object.__setattr__(self, "kind", StreamKind(self.kind))
            except ValueError:
                kinds = ", ".join(k.value for k in StreamKind)
                raise InputError(expected(f"a stream kind ({kinds})", self.kind)) from None
        if not self.channels:
            raise InputError(f"stream {self.id!r}: expected at least one channel, got none")
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise InputError(f"stream {self.id!r}: " + expected("a finite rate >= 0 Hz", self.rate))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "channels": [
                {"name": c.name, "unit": c.unit, "placement": _placement_dict(c.placement)}
                | ({"full_scale": c.full_scale} if c.full_scale is not None else {})
                for c in self.channels
            ],
            "rate": self.rate,
            "placement": _placement_dict(self.placement),
            "device": self.device,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StreamInfo:
        return cls(
            id=d["id"],
            kind=StreamKind(d["kind"]),
            channels=tuple(
                Channel(c["name"], c["unit"], _placement_from(c.get("placement")), c.get("full_scale"))
                for c in d["channels"]
            ),
            rate=float(d["rate"]),
            placement=_placement_from(d.get("placement")),
            device=d.get("device"),
        )


def _placement_dict(p: Placement | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"segment": p.segment, "muscle": p.muscle, "side": p.side.value if p.side else None}


def _placement_from(p: Mapping[str, Any] | None) -> Placement | None:
    if p is None:
        return None
    return Placement(p.get("segment"), p.get("muscle"), Side(p["side"]) if p.get("side") else None)


#: Channels of an IMU stream (kind ``imu``): specific force in m/s^2, then angular rate in rad/s.
IMU_CHANNELS = (
    Channel("acc_x", "m/s^2"),
    Channel("acc_y", "m/s^2"),
    Channel("acc_z", "m/s^2"),
    Channel("gyr_x", "rad/s"),
    Channel("gyr_y", "rad/s"),
    Channel("gyr_z", "rad/s"),
)
#: Channels of an orientation stream (kind ``orientation``): unit quaternion w, x, y, z, sensor to world.
QUAT_CHANNELS = (Channel("qw", "1"), Channel("qx", "1"), Channel("qy", "1"), Channel("qz", "1"))


_EMPTY_TIMES = np.zeros(0)
_new_block = object.__new__
# The times array checked last: a processor's output block reuses its input's times,
# so a chain of processors checks each packet's times once (docs/performance.md).
_checked: list[Any] = [_EMPTY_TIMES]
_first_bad_time: Any = None


def _check_times(stream: str, times: Any) -> F64:
    """``times`` as float64 if it is 1-D, finite and non-decreasing; else InputError / TimeError."""
    global _first_bad_time
    if times is _checked[0]:
        return times  # type: ignore[no-any-return]
    if not isinstance(times, np.ndarray) or times.ndim != 1:
        raise InputError(
            f"block of {stream!r}: times " + expected("a 1-D array", getattr(times, "shape", type(times)))
        )
    if times.dtype != np.float64:
        if times.dtype.kind not in "fiu":
            raise TimeError(
                f"block of {stream!r}: times " + expected("numbers (seconds)", f"dtype {times.dtype}")
            )
        times = times.astype(np.float64)
    n = times.shape[0]
    if n <= 1:  # no order to check: an empty block, or one finite time (an IMU block of one sample)
        if n == 0 or math.isfinite(times[0]):
            _checked[0] = times
            return times  # type: ignore[no-any-return]
        raise TimeError(
            f"block of {stream!r}: sample time 0 " + expected("a finite time in seconds", float(times[0]))
        )
    if _first_bad_time is None:
        from nmre.core._time_kernel import first_bad_time

        _first_bad_time = first_bad_time
    i = _first_bad_time(times if times.flags.c_contiguous else np.ascontiguousarray(times))
    if i >= 0:
        t = float(times[i])
        if not np.isfinite(t):
            raise TimeError(
                f"block of {stream!r}: sample time {i} " + expected("a finite time in seconds", t)
            )
        raise TimeError(
            f"block of {stream!r}: sample times must not decrease, got {t!r} s after {float(times[i - 1])!r} s"
        )
    _checked[0] = times
    return times


def vouch_times(times: Any) -> None:
    """Say that ``times`` (a :class:`Block`'s own, so already checked) need no check in the next Block.

    The engine calls it before each node's push: a processor's output block reuses
    its input's times, and is then made without checking them again.
    """
    _checked[0] = times


class Block:
    """One stream's new samples.

    A plain slotted class rather than a frozen dataclass: blocks are made once per
    packet per processor, and a frozen dataclass's ``__init__`` alone cost more
    than most kernels (docs/performance.md). Treat blocks as immutable all the same.

    Parameters
    ----------
    stream : str
        Id of the :class:`StreamInfo` the samples belong to.
    times : ndarray, shape (n_samples,), float64
        Sample times on the session clock, seconds (what the body did): finite and
        non-decreasing, else :class:`nmre.errors.TimeError` (integers are converted).
    values : ndarray, shape (n_channels, n_samples), float64
        Sample values in the stream's channel units.
    seq : int
        Sequence number of the first sample (counts samples since stream start,
        including missing ones).
    missing_before : int
        Samples known to be missing between the previous block and this one.
        Gaps are never filled silently.
    arrival : float
        Session time at which the block became available to nmre (what the radio
        gave); ``nan`` if unknown. ``arrival - times[-1]`` is the transport latency.
    """

    __slots__ = ("arrival", "missing_before", "seq", "stream", "times", "values")

    def __init__(
        self,
        stream: str,
        times: F64,
        values: F64,
        seq: int = 0,
        missing_before: int = 0,
        arrival: float = math.nan,
    ) -> None:
        if (
            times is not _checked[0]
        ):  # _check_times's first test, inlined (a processor's output reuses its input's)
            times = _check_times(stream, times)
        if not isinstance(values, np.ndarray) or values.ndim != 2:
            raise InputError(
                f"block of {stream!r}: values "
                + expected("a 2-D array (n_channels, n_samples)", getattr(values, "shape", type(values)))
            )
        if values.shape[1] != times.shape[0]:
            raise InputError(
                f"block of {stream!r}: expected values with {times.shape[0]} samples to match times, "
                f"got shape {values.shape}"
            )
        if missing_before < 0:
            raise InputError(f"block of {stream!r}: " + expected("missing_before >= 0", missing_before))
        self.stream = stream
        self.times = times
        self.values = values
        self.seq = seq
        self.missing_before = missing_before
        self.arrival = arrival

    def __repr__(self) -> str:
        return (
            f"Block({self.stream!r}, n_samples={self.times.shape[0]}, n_channels={self.values.shape[0]}, "
            f"seq={self.seq}, missing_before={self.missing_before}, arrival={self.arrival})"
        )

    @property
    def n_samples(self) -> int:
        return int(self.times.shape[0])

    @classmethod
    def derived(
        cls, stream: str, times: F64, values: F64, seq: int, missing_before: int, arrival: float
    ) -> Block:
        """A processor's output block, made without the constructor's checks (hot paths only).

        Only for what the checks would pass by construction: ``times`` a :class:`Block`'s own
        times (checked when that block was made; a slice or the empty array will do too),
        ``values`` a float64 array of shape ``(n_channels, len(times))`` the processor has
        just filled, ``seq`` and ``missing_before`` taken from a block. The checks cost about
        as much as a small kernel call, and a live update makes about eight output blocks
        (docs/performance.md).
        """
        b = _new_block(cls)
        b.stream = stream
        b.times = times
        b.values = values
        b.seq = seq
        b.missing_before = missing_before
        b.arrival = arrival
        return b

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[0])

    @property
    def end_time(self) -> float:
        """Time of the last sample (``nan`` for an empty block)."""
        return float(self.times[-1]) if self.times.shape[0] else math.nan

    @classmethod
    def empty(cls, stream: str, n_channels: int, seq: int = 0) -> Block:
        return cls(stream, _EMPTY_TIMES, np.zeros((n_channels, 0)), seq)


def _jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain JSON types (deterministically)."""
    t = type(x)  # the usual exact types first (the same results; the ABC checks below cost ~1 us a value)
    if t is float:
        return x if math.isfinite(x) else None
    if t is str or t is int or t is bool or x is None:
        return x
    if t is dict:
        return {str(k): _jsonable(v) for k, v in x.items()}
    if t is list or t is tuple:
        return [_jsonable(v) for v in x]
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at a time: a rep ended, a rule was broken, a gap, a marker.

    Parameters
    ----------
    time : float
        Session time of what happened (sample time, seconds).
    kind : str
        Dotted kind, e.g. ``"rep"``, ``"rule.squat_depth"``, ``"stream.gap"``.
    source : str
        Who raised it: a rule id, a stream id, the engine.
    payload : mapping
        JSON-serialisable details (magnitude, limits, counts).
    patient_message : str or None
        Short plain words for the patient ("Go a little deeper").
    therapist_message : str or None
        Technical description for the therapist ("peak knee flexion 58 deg < 80 deg").
    detected_at : float
        Session time at which the engine emitted the event (``nan`` if not stamped);
        ``detected_at - time`` is the detection latency.
    """

    time: float
    kind: str
    source: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    patient_message: str | None = None
    therapist_message: str | None = None
    detected_at: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": _jsonable(self.time),
            "kind": self.kind,
            "source": self.source,
            "payload": _jsonable(self.payload),
            "patient_message": self.patient_message,
            "therapist_message": self.therapist_message,
            "detected_at": _jsonable(self.detected_at),
        }

    def to_json(self) -> str:
        """Deterministic one-line JSON (sorted keys; non-finite floats as null)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True, init=False)
class SignalState:
    """A watched signal's latest value and its target zone (``lo``/``hi`` may be open)."""

    name: str
    value: float
    unit: str
    lo: float | None = None
    hi: float | None = None

    def __init__(
        self, name: str, value: float, unit: str, lo: float | None = None, hi: float | None = None
    ) -> None:
        # The dataclass's frozen __init__ sets each field through object.__setattr__; every feedback refresh
        # (100 per second) makes one per watched signal, so the slots are set directly (still frozen after).
        _set_name(self, name)
        _set_value(self, value)
        _set_unit(self, unit)
        _set_lo(self, lo)
        _set_hi(self, hi)

    @property
    def in_zone(self) -> bool | None:
        """``True`` inside the target zone, ``False`` outside, ``None`` without a zone or value."""
        if (self.lo is None and self.hi is None) or not math.isfinite(self.value):
            return None
        return (self.lo is None or self.value >= self.lo) and (self.hi is None or self.value <= self.hi)


_set_name, _set_value, _set_unit, _set_lo, _set_hi = (
    SignalState.__dict__[f].__set__ for f in ("name", "value", "unit", "lo", "hi")
)


@dataclass(frozen=True, slots=True)
class Cue:
    """A piece of feedback the schedule released for the patient.

    ``tone`` is ``"good"``, ``"correct"`` (a correction) or ``"info"``.
    """

    time: float
    rule: str
    message: str
    tone: str = "info"
    intensity: float = 1.0


@dataclass(frozen=True, slots=True, init=False)
class FeedbackState:
    """What sinks render right now. Sinks never compute; they draw or play this."""

    time: float
    signals: Mapping[str, SignalState] = field(default_factory=dict)
    cues: tuple[Cue, ...] = ()

    def __init__(
        self, time: float, signals: Mapping[str, SignalState] | None = None, cues: tuple[Cue, ...] = ()
    ) -> None:
        # as SignalState: the engine makes one per feedback refresh (100 per second), so the slots are set
        # directly rather than through the frozen dataclass's object.__setattr__ per field
        _set_fb_time(self, time)
        _set_fb_signals(self, {} if signals is None else signals)
        _set_fb_cues(self, cues)


_set_fb_time, _set_fb_signals, _set_fb_cues = (
    FeedbackState.__dict__[f].__set__ for f in ("time", "signals", "cues")
)

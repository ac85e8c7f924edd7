"""The Lab Streaming Layer in and out: :class:`LslSource` (LSL streams → blocks) and :class:`LslOutlet` (a sink).

Labs stream their amplifiers and motion systems over LSL (OpenBCI GUI,
BrainFlow, Delsys, ...). :class:`LslSource` takes any of their EMG, IMU,
accelerometer, gyroscope, angle or marker streams, with the channel metadata
the outlet publishes (``desc/channels/channel/{label,unit,type}``, the XDF
meta-data convention), onto the session clock. :class:`LslOutlet` publishes
nmre's derived signals, its events and the feedback cues as LSL streams, so
LabRecorder records them beside the lab's other streams.

Time
----
An LSL sample carries a time stamp on its outlet's clock. LSL measures the
offset of that clock against this machine's (``time_correction``, NTP-like
round trips) and the inlet applies it (``proc_clocksync``): stamps then read on
this machine's LSL clock (``local_clock``, a monotonic clock), which is put on
the session clock by one offset measured when the source starts. Outlets stamp
samples when their producer pushes them, so stamps are late by a varying,
non-negative delay (a push of a chunk stamps its last sample only; see
pylsl#103 and labstreaminglayer#63). nmre removes that jitter itself with the
same per-stream clock model as the BLE path
(:class:`~nmre.acquisition.timing.StreamClock`: the lower envelope of stamp −
sample index / rate, with drift), and a stamp later than the model predicts by
more than ``gap_threshold`` is counted as lost samples, reported as a
``stream.gap`` event and as ``Block.missing_before``, as BLE gaps are. LSL's own
dejitter is not used: it is a least-squares fit over the sample index that
assumes nothing is ever lost, so a gap would bend every later time.

Irregular streams (``nominal_srate`` 0) keep their own stamps (after the clock
offset); nothing can tell a gap in them. Marker streams become events
(``lsl.marker``); a numeric stream with an irregular rate is refused unless a
rate is given (then it is accepted with that stated assumption).

Units
-----
nmre works in mV, m/s², rad/s and degrees. A channel unit nmre knows is
converted; a channel without a unit is accepted with a stated assumption (the
XDF meta-data default for the kind: microvolts for EMG, m/s² and rad/s for
motion, degrees for angles), announced as an ``lsl.assumption`` event and in
:attr:`LslSource.assumptions`; a unit nmre does not know is refused with a
message naming the units it knows, unless the caller states the unit.

Network and privacy
-------------------
An inlet opens no listening socket. An outlet (only when asked for) is an LSL
server: liblsl opens a TCP data port and a UDP service port on every interface
and answers discovery queries. :func:`configure` limits discovery to this
machine unless a wider scope is asked for (``machine`` by default), and a
configuration file named by ``LSLAPICFG`` takes precedence over nmre's.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.ble import Outbox
from nmre.acquisition.timing import StreamClock
from nmre.core import kinds
from nmre.core.clock import Clock
from nmre.core.interfaces import Sink, Source
from nmre.core.model import IMU_CHANNELS, Block, Channel, Event, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError, DeviceError, StateError, expected

__all__ = [
    "SCOPES",
    "LslOutlet",
    "LslSource",
    "LslSpec",
    "configure",
    "lsl_clock_offset",
]

logger = logging.getLogger(__name__)

#: Discovery scopes of liblsl, narrowest first (``machine``: this computer only).
SCOPES = ("machine", "link", "site", "organization", "global")

F64 = NDArray[np.float64]

# --------------------------------------------------------------------------- configuration


@dataclass
class _Applied:
    """What was handed to liblsl, which reads its settings once per process."""

    scope: str | None = None
    source: str | None = None


_APPLIED = _Applied()  # mirrors liblsl's own process-wide configuration; nothing else


def configure(scope: str = "machine") -> str:
    """Give liblsl nmre's settings once per process, before any LSL object exists.

    Parameters
    ----------
    scope : str
        Discovery scope (one of :data:`SCOPES`). ``"machine"`` (the default)
        finds and announces streams on this computer only; ``"link"`` or
        ``"site"`` reach other computers of the lab network.

    Returns
    -------
    str
        What applies: ``"scope=<scope>"``, or ``"file=<path>"`` when ``LSLAPICFG``
        names a configuration file (the user's file wins over nmre's settings).

    Raises
    ------
    ConfigError
        ``scope`` is not one of :data:`SCOPES`.
    StateError
        LSL was already configured with another scope in this process.
    """
    if scope not in SCOPES:
        raise ConfigError("LSL scope: " + expected(f"one of {', '.join(SCOPES)}", scope))
    if _APPLIED.source is not None:
        if _APPLIED.scope not in (None, scope):
            raise StateError(
                f"LSL is already configured ({_APPLIED.source}); liblsl reads its settings once per process, "
                f"so scope {scope!r} cannot apply now"
            )
        return _APPLIED.source
    import pylsl

    user_file = os.environ.get("LSLAPICFG")
    if user_file:
        _APPLIED.source = f"file={user_file}"
        return _APPLIED.source
    # IPv6 off: the machine scope then uses 127.0.0.1 only. Log level: errors
    # only as fatal; nmre reports losses and reconnections as events itself.
    pylsl.set_config_content(
        f"[ports]\nIPv6 = disable\n[multicast]\nResolveScope = {scope}\n[log]\nlevel = -3\n"
    )
    _APPLIED.scope = scope
    _APPLIED.source = f"scope={scope}"
    return _APPLIED.source


def lsl_clock_offset(now: Callable[[], float], tries: int = 7) -> float:
    """``now() - local_clock()``, from the tightest of ``tries`` bracketed readings, seconds."""
    import pylsl

    best, offset = math.inf, 0.0
    for _ in range(tries):
        a = pylsl.local_clock()
        t = now()
        b = pylsl.local_clock()
        if b - a < best:
            best, offset = b - a, t - 0.5 * (a + b)
    return offset


# --------------------------------------------------------------------------- what to take

_KIND_OF_TYPE = {
    "emg": StreamKind.EMG,
    "imu": StreamKind.IMU,
    "acc": StreamKind.ACC,
    "accel": StreamKind.ACC,
    "accelerometer": StreamKind.ACC,
    "acceleration": StreamKind.ACC,
    "gyro": StreamKind.GYRO,
    "gyroscope": StreamKind.GYRO,
    "angle": StreamKind.ANGLE,
    "angles": StreamKind.ANGLE,
    "goniometer": StreamKind.ANGLE,
    "goniometry": StreamKind.ANGLE,
    "jointangle": StreamKind.ANGLE,
    "marker": StreamKind.MARKER,
    "markers": StreamKind.MARKER,
    "event": StreamKind.MARKER,
    "events": StreamKind.MARKER,
}
_TAKEN = (
    StreamKind.EMG,
    StreamKind.IMU,
    StreamKind.ACC,
    StreamKind.GYRO,
    StreamKind.ANGLE,
    StreamKind.MARKER,
)

_G = 9.80665
# unit → factor to nmre's unit, per physical quantity
_EMG_UNITS = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
    "nv": 1e-6,
}
_ACC_UNITS = {
    "m/s^2": 1.0,
    "m/s2": 1.0,
    "m/s²": 1.0,
    "m/s/s": 1.0,
    "ms-2": 1.0,
    "m*s^-2": 1.0,
    "meters/second^2": 1.0,
    "g": _G,
    "mg": _G * 1e-3,
}
_GYR_UNITS = {
    "rad/s": 1.0,
    "radians/second": 1.0,
    "rad/sec": 1.0,
    "deg/s": math.pi / 180,
    "°/s": math.pi / 180,
    "dps": math.pi / 180,
    "degrees/second": math.pi / 180,
    "deg/sec": math.pi / 180,
}
_ANGLE_UNITS = {
    "deg": 1.0,
    "degree": 1.0,
    "degrees": 1.0,
    "°": 1.0,
    "rad": 180 / math.pi,
    "radian": 180 / math.pi,
    "radians": 180 / math.pi,
}
# quantity → (nmre unit, known units, the unit assumed when the outlet gives none)
_QUANTITY = {
    "emg": ("mV", _EMG_UNITS, "microvolts"),
    "acc": ("m/s^2", _ACC_UNITS, "m/s^2"),
    "gyr": ("rad/s", _GYR_UNITS, "rad/s"),
    "angle": ("deg", _ANGLE_UNITS, "degrees"),
}
_SIDES = {
    "r": Side.RIGHT,
    "right": Side.RIGHT,
    "l": Side.LEFT,
    "left": Side.LEFT,
    "m": Side.MIDLINE,
    "midline": Side.MIDLINE,
}
_SEGMENTS = ("pelvis", "trunk", "thigh", "shank", "foot", "upper_arm", "forearm", "scapula", "knee")
_SPEC_KEYS = (
    "name",
    "type",
    "source_id",
    "hostname",
    "id",
    "kind",
    "unit",
    "rate",
    "placement",
    "muscles",
    "gap",
)


def _placement(text: str, what: str) -> Placement:
    """``"thigh.r"`` → segment thigh, right side; ``"vmo.r"`` → muscle vmo, right side."""
    name, _, side_text = text.strip().lower().partition(".")
    side = None
    if side_text:
        if side_text not in _SIDES:
            raise ConfigError(f"{what}: " + expected("a side r, l or m after the dot", text))
        side = _SIDES[side_text]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"{what}: " + expected("a segment or muscle name such as thigh.r or vmo.l", text))
    if name in _SEGMENTS:
        return Placement(segment=name, side=side)
    return Placement(muscle=name, side=side)


@dataclass(frozen=True)
class LslSpec:
    """Which LSL stream to take and what to state about it.

    Parameters
    ----------
    name, type, source_id, hostname : str or None
        Properties the stream must have (at least one). Together they form the
        query LSL resolves (an XPath predicate over the stream's description).
    id : str or None
        nmre's stream id (default: ``lsl.<name>``).
    kind : StreamKind or None
        What the stream carries, when its LSL type does not say it in words
        nmre knows (``EMG``, ``IMU``, ``Accelerometer``, ``Gyroscope``,
        ``Angle``, ``Markers``).
    unit : str or None
        The unit of every channel, overriding (or supplying) the outlet's.
    rate : float or None
        Nominal rate, Hz, for a numeric stream the outlet calls irregular.
    placement : Placement or None
        Where the sensor sits (``thigh.r``).
    muscles : tuple of Placement
        Per EMG channel, in order: which muscle it records (``vmo.r``).
    gap_threshold : float
        A stamp later than the clock model predicts by more than this many
        seconds counts as lost samples (default 0.1 s; shorter losses hide in
        the producer's push jitter).
    """

    name: str | None = None
    type: str | None = None
    source_id: str | None = None
    hostname: str | None = None
    id: str | None = None
    kind: StreamKind | None = None
    unit: str | None = None
    rate: float | None = None
    placement: Placement | None = None
    muscles: tuple[Placement, ...] = ()
    gap_threshold: float = 0.1

    def __post_init__(self) -> None:
        if not any((self.name, self.type, self.source_id, self.hostname)):
            raise ConfigError(
                "LSL stream: expected at least one of name, type, source_id or hostname to look for, got none"
            )
        for key in ("name", "type", "source_id", "hostname"):
            value = getattr(self, key)
            if value is not None and "'" in value and '"' in value:
                raise ConfigError(f"LSL stream {key}: expected no mix of ' and \" quotes, got {value!r}")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise ConfigError("LSL stream rate: " + expected("a rate > 0 Hz", self.rate))
        if not (math.isfinite(self.gap_threshold) and self.gap_threshold > 0):
            raise ConfigError("LSL stream gap: " + expected("a threshold > 0 s", self.gap_threshold))

    def predicate(self) -> str:
        """The XPath predicate LSL resolves, e.g. ``name='Trigno' and type='EMG'``."""
        parts = []
        for key in ("name", "type", "source_id", "hostname"):
            value = getattr(self, key)
            if value is not None:
                quote = '"' if "'" in value else "'"
                parts.append(f"{key}={quote}{value}{quote}")
        return " and ".join(parts)

    def describe(self) -> str:
        return self.predicate()

    @classmethod
    def parse(cls, text: str) -> LslSpec:
        """Parse ``name=Trigno,kind=emg,unit=uV,muscles=vmo.r+vl.r`` (the ``--lsl-in`` option).

        Keys: ``name``, ``type``, ``source_id``, ``hostname`` (what to look for),
        ``id``, ``kind``, ``unit``, ``rate``, ``placement``, ``muscles``
        (``+``-separated, one per channel), ``gap`` (seconds).
        """
        fields: dict[str, str] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or key not in _SPEC_KEYS or not value.strip():
                raise ConfigError(
                    f"--lsl-in {text!r}: expected key=value items with keys {', '.join(_SPEC_KEYS)}, got {item!r}"
                )
            fields[key] = value.strip()
        kwargs: dict[str, Any] = {
            k: fields[k] for k in ("name", "type", "source_id", "hostname", "id", "unit") if k in fields
        }
        if "kind" in fields:
            kwargs["kind"] = _kind_of(fields["kind"], f"--lsl-in {text!r}: kind")
        for key, target in (("rate", "rate"), ("gap", "gap_threshold")):
            if key in fields:
                try:
                    kwargs[target] = float(fields[key])
                except ValueError:
                    raise ConfigError(
                        f"--lsl-in {text!r}: {key} " + expected("a number", fields[key])
                    ) from None
        if "placement" in fields:
            kwargs["placement"] = _placement(fields["placement"], f"--lsl-in {text!r}: placement")
        if "muscles" in fields:
            kwargs["muscles"] = tuple(
                _placement(m, f"--lsl-in {text!r}: muscles") for m in fields["muscles"].split("+")
            )
        return cls(**kwargs)


def _kind_of(text: str, what: str) -> StreamKind:
    try:
        return StreamKind(text.strip().lower())
    except ValueError:
        pass
    kind = _KIND_OF_TYPE.get(re.sub(r"[^a-z]", "", text.lower()))
    if kind is None:
        raise ConfigError(f"{what}: " + expected(f"one of {', '.join(k.value for k in _TAKEN)}", text))
    return kind


# --------------------------------------------------------------------------- description → StreamInfo


@dataclass(frozen=True)
class _Layout:
    """How one LSL stream becomes one nmre stream: rows taken, scale per row, and what was assumed."""

    info: StreamInfo
    rows: tuple[int, ...]
    scale: F64
    assumptions: tuple[str, ...]
    irregular: bool
    marker: bool


def _axis_label(label: str) -> tuple[str, str] | None:
    """``"AccX"``, ``"accel_x"``, ``"Gyroscope Z"`` → ``("acc", "x")``; ``None`` if it is neither."""
    s = re.sub(r"[^a-z]", "", label.lower())
    m = re.fullmatch(r"(acc|accel|accelerometer|acceleration|a|gyr|gyro|gyroscope|angularrate|g)([xyz])", s)
    if m is None:
        return None
    return ("acc" if m.group(1).startswith("a") else "gyr"), m.group(2)


def _unit_factor(quantity: str, unit: str | None, where: str, notes: list[str]) -> float:
    _, known, assumed = _QUANTITY[quantity]
    if unit is None or not unit.strip():
        notes.append(f"{where} gives no unit: assumed {assumed} (the XDF meta-data default)")
        unit = assumed
    key = unit.strip().lower().replace(" ", "")
    factor = known.get(key)
    if factor is None:
        raise DeviceError(
            f"{where} is in {unit!r}, a unit nmre does not know for {quantity}: expected one of "
            f"{', '.join(sorted(known))} (or state it with unit=)"
        )
    return factor


def _layout(spec: LslSpec, lsl_info: Any) -> _Layout:
    """Read an LSL stream description (a full ``pylsl.StreamInfo``) into nmre's terms, or refuse it."""
    import pylsl

    name = lsl_info.name()
    where = f"LSL stream {name!r}"
    n = lsl_info.channel_count()
    srate = float(lsl_info.nominal_srate())
    is_string = lsl_info.channel_format() == pylsl.cf_string
    labels = lsl_info.get_channel_labels() or [None] * n
    units = lsl_info.get_channel_units() or [None] * n
    notes: list[str] = []
    if is_string:
        if spec.kind not in (None, StreamKind.MARKER):
            raise DeviceError(
                f"{where} carries text; " + expected(f"numbers for a {spec.kind.value} stream", "strings")
            )
        kind = StreamKind.MARKER
    elif spec.kind is not None:
        kind = spec.kind
    else:
        kind_ = _KIND_OF_TYPE.get(re.sub(r"[^a-z]", "", lsl_info.type().lower()))
        if kind_ is None:
            raise DeviceError(
                f"{where} has type {lsl_info.type()!r}; nmre takes EMG, IMU, accelerometer, gyroscope, angle "
                "and marker streams: state what it carries with kind="
            )
        kind = kind_
    if kind not in _TAKEN:
        raise DeviceError(
            f"{where}: " + expected(f"kind one of {', '.join(k.value for k in _TAKEN)}", kind.value)
        )
    stream_id = spec.id or f"lsl.{re.sub(r'[^A-Za-z0-9_.-]+', '_', name) or 'stream'}"
    device = (
        f"lsl:{name}"  # not the source computer's host name: recordings keep nothing identifying by default
    )
    desc = lsl_info.desc()
    placement = spec.placement or _placement_from_xml(desc.child("placement"))
    if kind is StreamKind.MARKER:
        info = StreamInfo(stream_id, StreamKind.MARKER, (Channel("marker", "1"),), 0.0, placement, device)
        return _Layout(info, tuple(range(n)), np.ones(n), (), True, True)
    channel_nodes = []
    node = desc.child("channels").child("channel")
    while not node.empty():
        channel_nodes.append(node)
        node = node.next_sibling("channel")
    irregular = srate <= 0
    rate = srate
    if irregular:
        if spec.rate is None:
            raise DeviceError(
                f"{where} has an irregular rate (nominal_srate 0); nmre's processing needs a regular "
                f"{kind.value} stream: state its rate with rate=HZ (its own time stamps are then kept)"
            )
        rate = spec.rate
        notes.append(
            f"{where} has an irregular rate: taken as {rate:g} Hz nominal; its own time stamps are kept "
            "and lost samples cannot be detected"
        )
    elif spec.rate is not None and abs(spec.rate - srate) > 1e-9 * srate:
        raise DeviceError(
            f"{where} says it runs at {srate:g} Hz; expected rate= only for irregular streams, got {spec.rate:g}"
        )

    def unit_of(i: int) -> str | None:
        return spec.unit if spec.unit is not None else units[i]

    rows: list[int] = []
    scale: list[float] = []
    channels: list[Channel] = []
    if kind in (StreamKind.IMU, StreamKind.ACC, StreamKind.GYRO):
        wanted = {StreamKind.IMU: ("acc", "gyr"), StreamKind.ACC: ("acc",), StreamKind.GYRO: ("gyr",)}[kind]
        found: dict[tuple[str, str], int] = {}
        for i, label in enumerate(labels):
            axis = _axis_label(label) if label else None
            if axis is not None and axis[0] in wanted and axis not in found:
                found[axis] = i
        order = [(q, a) for q in wanted for a in "xyz"]
        if all(k in found for k in order):
            picked = [found[k] for k in order]
        elif n == len(order):
            picked = list(range(n))
            notes.append(
                f"{where} does not label its channels as {', '.join(q + '_' + a for q, a in order)}: "
                "assumed they come in that order"
            )
        else:
            raise DeviceError(
                f"{where}: expected channels labelled {', '.join(q + '_' + a for q, a in order)} "
                f"(or exactly {len(order)} unlabelled channels in that order), got {n} labelled {labels}"
            )
        left = [labels[i] or str(i) for i in range(n) if i not in picked]
        if left:
            notes.append(f"{where}: channels {', '.join(left)} are not used")
        for (q, a), i in zip(order, picked, strict=True):
            factor = _unit_factor(q, unit_of(i), f"{where} channel {labels[i] or i}", notes)
            rows.append(i)
            scale.append(factor)
            channels.append(Channel(f"{q}_{a}", _QUANTITY[q][0]))
        if kind is StreamKind.IMU:
            channels = list(IMU_CHANNELS)
    else:
        quantity = "emg" if kind is StreamKind.EMG else "angle"
        if spec.muscles and len(spec.muscles) != n:
            raise ConfigError(
                f"{where} has {n} channels; " + expected(f"{n} muscles= placements", len(spec.muscles))
            )
        seen: set[str] = set()
        for i in range(n):
            label = labels[i] or f"ch{i + 1}"
            cname = re.sub(r"[^A-Za-z0-9_.]+", "_", label).strip("_") or f"ch{i + 1}"
            if cname in seen:
                cname = f"{cname}_{i + 1}"
            seen.add(cname)
            factor = _unit_factor(quantity, unit_of(i), f"{where} channel {label}", notes)
            if spec.muscles:
                where_ = spec.muscles[i]
                if kind is StreamKind.EMG and where_.muscle is not None:
                    cname = where_.muscle + (f"_{where_.side.value[0]}" if where_.side else "")
            else:
                where_ = (
                    _placement_from_xml(channel_nodes[i].child("placement"))
                    if i < len(channel_nodes)
                    else None
                )
                if where_ is None and kind is StreamKind.EMG:
                    where_ = _muscle_of_label(label)
                    if where_ is not None:
                        notes.append(
                            f"{where} channel {label}: placement taken from its label ({where_.describe()})"
                        )
            rows.append(i)
            scale.append(factor)
            channels.append(Channel(cname, _QUANTITY[quantity][0], where_))
    info = StreamInfo(stream_id, kind, tuple(channels), rate, placement, device)
    notes = [_dedupe_unit_note(s) for s in notes]
    return _Layout(
        info, tuple(rows), np.asarray(scale, dtype=np.float64), tuple(dict.fromkeys(notes)), irregular, False
    )


#: Muscles a channel label may name (contract §1), for labels such as ``VMO_R`` or ``gmed left``.
_MUSCLES = ("vmo", "vl", "rf", "bf", "st", "gmed", "ut", "lt", "sa", "ad")


def _muscle_of_label(label: str) -> Placement | None:
    """``"VMO_R"``, ``"vl.l"``, ``"GMed right"`` → the muscle and side; ``None`` for any other label."""
    m = re.fullmatch(r"([a-z]+)[ _.\-]*(r|l|right|left)?", label.strip().lower())
    if m is None or m.group(1) not in _MUSCLES:
        return None
    side = _SIDES.get(m.group(2) or "")
    return Placement(muscle=m.group(1), side=side)


def _dedupe_unit_note(note: str) -> str:
    """Channel-level notes of the same assumption say it once per stream."""
    return re.sub(r" channel \S+ gives no unit", " gives no unit", note)


# --------------------------------------------------------------------------- the source


class LslState(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass
class _Inlet:
    """One LSL stream being read: its inlet, layout, clock model and counters."""

    spec: LslSpec
    layout: _Layout
    lsl_info: Any
    inlet: Any
    clock: StreamClock | None = None
    thread: threading.Thread | None = None
    samples: int = 0
    missing: int = 0
    reconnects: int = 0
    last_end: float = math.nan
    lost_at: float = math.nan
    checked_rate: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LslSource(Source):
    """A live :class:`~nmre.core.Source` reading LSL streams.

    Parameters
    ----------
    specs : sequence of LslSpec
        The streams to take (each must resolve to exactly one stream).
    resolve_timeout : float
        Seconds to look for each stream in the constructor, and per attempt
        after a lost outlet.
    time_fn : callable or None
        Session time for arrival stamps; ``clock.now`` of :meth:`start` by default.
    scope : str
        LSL discovery scope handed to :func:`configure` if LSL is not configured yet.
    outbox_blocks : int
        Blocks the hand-off to the engine holds before it drops the oldest.

    Raises
    ------
    DeviceError
        A stream was not found, matches several streams, or cannot be taken
        (unknown unit, irregular rate, unknown kind); the message says which
        and why. The constructor raises it, before any session starts.

    Notes
    -----
    Each stream is read by its own thread, blocked in liblsl (which releases
    the GIL), so a block reaches the engine as soon as LSL delivers it. A lost
    outlet (its program ended or crashed) raises ``device.disconnect``; the
    thread looks for the stream again with the same query and, when it is
    back with the same layout, raises ``device.reconnect`` (``outage``
    seconds) and the samples lost in between become one ``stream.gap``.
    """

    def __init__(
        self,
        specs: Sequence[LslSpec],
        *,
        resolve_timeout: float = 5.0,
        time_fn: Callable[[], float] | None = None,
        scope: str = "machine",
        outbox_blocks: int = 10_000,
    ) -> None:
        if not specs:
            raise ConfigError("LslSource: expected at least one LSL stream to take, got none")
        if not (math.isfinite(resolve_timeout) and resolve_timeout > 0):
            raise ConfigError("LslSource: " + expected("a resolve timeout > 0 s", resolve_timeout))
        if _APPLIED.source is None:
            configure(scope)
        self.wake = threading.Event()
        self.outbox = Outbox(outbox_blocks, self.wake)
        self.state = LslState.CREATED
        self.resolve_timeout = float(resolve_timeout)
        self._time_fn = time_fn
        self._now: Callable[[], float] = time.monotonic
        self._lsl_to_session = 0.0
        self._stop = threading.Event()
        self._inlets: list[_Inlet] = []
        self._error: BaseException | None = None
        try:
            for spec in specs:
                self._inlets.append(self._open(spec))
        except BaseException:
            self._close_inlets()
            raise
        ids = [s.layout.info.id for s in self._inlets]
        if len(set(ids)) != len(ids):
            self._close_inlets()
            raise ConfigError(
                f"LslSource: expected distinct stream ids, got {ids} (give id= to tell them apart)"
            )
        #: What nmre assumed about the streams (units, channel order, rates), in words.
        self.assumptions: list[str] = [a for s in self._inlets for a in s.layout.assumptions]

    # -- set-up ---------------------------------------------------------------------
    def _resolve(self, spec: LslSpec, timeout: float) -> list[Any]:
        import pylsl

        return list(pylsl.resolve_bypred(spec.predicate(), 1, timeout))

    def _open(self, spec: LslSpec) -> _Inlet:

        found = self._resolve(spec, self.resolve_timeout)
        if not found:
            raise DeviceError(
                f"no LSL stream matches {spec.describe()} within {self.resolve_timeout:g} s "
                f"(LSL scope {_APPLIED.source}); is its outlet running on this network?"
            )
        uids = {f.uid() for f in found}
        if len(uids) > 1:
            names = ", ".join(
                sorted(f"{f.name()}@{f.hostname()} ({f.source_id() or 'no source_id'})" for f in found)
            )
            raise DeviceError(
                f"{len(uids)} LSL streams match {spec.describe()}: {names}; expected one (add source_id= or hostname=)"
            )
        inlet = self._inlet(found[0])
        try:
            full = inlet.info(self.resolve_timeout)
        except Exception as error:
            raise DeviceError(
                f"LSL stream {found[0].name()!r} did not send its description: {error}"
            ) from error
        layout = _layout(spec, full)
        return _Inlet(spec, layout, full, inlet)

    def _inlet(self, resolved: Any) -> Any:
        import pylsl

        # recover=False: a lost outlet raises LostError, so nmre can say so and look for it again itself
        return pylsl.StreamInlet(
            resolved, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync
        )

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return [s.layout.info for s in self._inlets if not s.layout.marker]

    @property
    def marker_streams(self) -> list[StreamInfo]:
        """Marker streams (their samples become ``lsl.marker`` events, not blocks)."""
        return [s.layout.info for s in self._inlets if s.layout.marker]

    # -- lifecycle -------------------------------------------------------------------
    def start(self, clock: Clock) -> None:
        if self.state is not LslState.CREATED:
            raise StateError(f"LslSource: cannot start in state {self.state.value}")
        if self.wake is not None:
            self.outbox.wake = self.wake  # the engine hands its own event in before start
        self._now = self._time_fn or clock.now
        self._lsl_to_session = lsl_clock_offset(self._now)
        for s in self._inlets:  # subscribe now: an outlet sends an inlet only what it pushes after that
            try:
                s.inlet.open_stream(self.resolve_timeout)
            except Exception as error:
                raise DeviceError(
                    f"LSL stream {s.lsl_info.name()!r} did not open within {self.resolve_timeout:g} s: {error}"
                ) from error
        self.state = LslState.RUNNING
        t = self._now()
        for s in self._inlets:
            for note in s.layout.assumptions:
                self.outbox.put_event(
                    Event(
                        t,
                        kinds.LSL_ASSUMPTION,
                        s.layout.info.id,
                        {"assumption": note},
                        therapist_message=note,
                    )
                )
            s.thread = threading.Thread(
                target=self._read, args=(s,), name=f"nmre-lsl-{s.layout.info.id}", daemon=True
            )
            s.thread.start()

    def poll(self, now: float) -> list[Block]:
        if self._error is not None:
            error = self._error
            raise DeviceError(f"LSL reader failed: {error}") from error
        return self.outbox.poll(now)

    def poll_events(self) -> list[Event]:
        return self.outbox.poll_events()

    def stop(self) -> None:
        if self.state is LslState.STOPPED:
            return
        self.state = LslState.STOPPED
        self._stop.set()
        for s in self._inlets:
            if s.thread is not None:
                s.thread.join(timeout=10)
                if s.thread.is_alive():
                    raise DeviceError(f"LSL reader of {s.layout.info.id!r} did not stop within 10 s")
        self._close_inlets()
        if self._error is not None:
            error = self._error
            raise DeviceError(f"LSL reader failed: {error}") from error

    def _close_inlets(self) -> None:
        for s in self._inlets:
            with contextlib.suppress(Exception):
                s.inlet.close_stream()
            s.inlet = None

    def __enter__(self) -> LslSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def counters(self) -> dict[str, dict[str, int]]:
        """Per stream id: samples delivered, samples missing, reconnections."""
        return {
            s.layout.info.id: {"samples": s.samples, "missing": s.missing, "reconnects": s.reconnects}
            for s in self._inlets
        }

    # -- the reader threads ------------------------------------------------------------
    def _read(self, s: _Inlet) -> None:
        from pylsl.util import LostError

        n_ch = s.lsl_info.channel_count()
        chunk = max(8, int((s.layout.info.rate or 400) * 0.02))  # at most 20 ms of samples per block
        buf = None if s.layout.marker else np.empty((chunk, n_ch), dtype=np.float64)
        try:
            while not self._stop.is_set():
                try:
                    if buf is None:
                        values, stamps = s.inlet.pull_chunk(timeout=0.1, max_samples=chunk, min_samples=1)
                    else:
                        values, stamps = s.inlet.pull_chunk(
                            timeout=0.1, max_samples=chunk, min_samples=1, dest_obj=buf, as_numpy=True
                        )
                except LostError:
                    if not self._reconnect(s):
                        return
                    continue
                if len(stamps) == 0:
                    continue
                arrival = self._now()
                session_stamps = np.asarray(stamps, dtype=np.float64) + self._lsl_to_session
                if s.layout.marker:
                    self._markers(s, values, session_stamps, arrival)
                else:
                    data = np.asarray(values, dtype=np.float64)
                    self._samples(s, data, session_stamps, arrival)
        except BaseException as error:  # a reader that dies says so at the next poll
            logger.error("LSL reader of %s failed", s.layout.info.id, exc_info=error)
            self._error = error
            self.wake.set()

    def _markers(self, s: _Inlet, values: Any, stamps: F64, arrival: float) -> None:
        for value, t in zip(values, stamps, strict=True):
            text = value[0] if len(value) == 1 else list(value)
            self.outbox.put_event(
                Event(
                    float(t),
                    kinds.LSL_MARKER,
                    s.layout.info.id,
                    {"value": text, "stream": s.lsl_info.name()},
                    therapist_message=f"marker from {s.lsl_info.name()}: {text}",
                    detected_at=arrival,
                )
            )
        s.samples += len(stamps)

    def _samples(self, s: _Inlet, data: F64, stamps: F64, arrival: float) -> None:
        layout = s.layout
        values = data[:, layout.rows].T * layout.scale[:, None]
        rate = layout.info.rate
        if layout.irregular or s.extra.get("own_stamps"):
            self._put(s, stamps, values, s.samples + s.missing, 0, arrival)
            return
        if s.clock is None:
            s.clock = StreamClock(
                rate, has_seq=False, has_device_time=False, gap_threshold=s.spec.gap_threshold
            )
        # split where the stamps jump, so samples before a gap are not stamped as if after it
        jumps = np.flatnonzero(np.diff(stamps) > s.spec.gap_threshold) + 1
        start = 0
        for end in [*jumps.tolist(), len(stamps)]:
            part = values[:, start:end]
            # every stamp says when the part's last sample was taken at the latest; the earliest
            # of them is the tightest (a pull may hold many pushes, each late by its own delay)
            last = float(np.min(stamps[start:end] + (end - 1 - np.arange(start, end)) / rate))
            stamped = s.clock.stamp(end - start, last)
            if stamped.missing_before:
                self._gap(s, stamped.missing_before, float(stamped.times[0]))
            self._put(
                s,
                stamped.times,
                np.ascontiguousarray(part),
                stamped.seq_first,
                stamped.missing_before,
                arrival,
            )
            start = end
        self._check_rate(s, stamps)

    def _check_rate(self, s: _Inlet, stamps: F64) -> None:
        """After 2 s of stamps: a stream far off its nominal rate keeps its own stamps, and says so."""
        if s.checked_rate:
            return
        steps = np.diff(np.concatenate(([s.extra.get("last_stamp", stamps[0])], stamps)))
        s.extra["last_stamp"] = float(stamps[-1])
        steady = steps[(steps > 0) & (steps <= s.spec.gap_threshold)]  # leave gaps out
        s.extra["span"] = s.extra.get("span", 0.0) + float(steady.sum())
        s.extra["steps"] = s.extra.get("steps", 0) + int(steady.shape[0])
        span = s.extra["span"]
        if span < 2.0:
            return
        s.checked_rate = True
        measured = s.extra["steps"] / span
        nominal = s.layout.info.rate
        if abs(measured / nominal - 1) > 0.02:  # 2 %: 40x the worst crystal; a wrong setting, not drift
            s.extra["own_stamps"] = True
            note = (
                f"LSL stream {s.lsl_info.name()!r} delivers {measured:.4g} Hz against its nominal {nominal:g} Hz: "
                "its own time stamps are kept from now on and lost samples are no longer detected"
            )
            logger.warning(note)
            self.outbox.put_event(
                Event(
                    float(stamps[-1]),
                    kinds.LSL_ASSUMPTION,
                    s.layout.info.id,
                    {"assumption": note, "measured_rate": measured, "nominal_rate": nominal},
                    therapist_message=note,
                )
            )

    def _gap(self, s: _Inlet, missing: int, t: float) -> None:
        s.missing += missing
        info = s.layout.info
        self.outbox.put_event(
            Event(
                t,
                kinds.STREAM_GAP,
                info.id,
                {
                    "missing": missing,
                    "device": info.device,
                    "after": s.last_end,
                    "seconds": missing / info.rate,
                },
                therapist_message=f"{info.id}: {missing} samples lost",
            )
        )

    def _put(self, s: _Inlet, times: F64, values: F64, seq: int, missing: int, arrival: float) -> None:
        n = times.shape[0]
        s.samples += n
        if n:
            s.last_end = float(times[-1])
        self.outbox.put_block(
            Block(
                s.layout.info.id,
                np.ascontiguousarray(times, dtype=np.float64),
                np.ascontiguousarray(values, dtype=np.float64),
                seq,
                missing,
                arrival,
            )
        )

    def _reconnect(self, s: _Inlet) -> bool:
        """The outlet went away: say so, look for it again until it is back or the source stops."""
        info = s.layout.info
        lost = self._now()
        self.outbox.put_event(
            Event(
                lost,
                kinds.DEVICE_DISCONNECT,
                info.id,
                {"reason": "LSL outlet lost", "device": info.device},
                therapist_message=f"{info.id}: the LSL outlet went away; looking for it again",
            )
        )
        with contextlib.suppress(Exception):
            s.inlet.close_stream()
        attempts = 0
        while not self._stop.is_set():
            attempts += 1
            found = self._resolve(s.spec, min(1.0, self.resolve_timeout))
            if not found:
                continue
            inlet = self._inlet(found[0])
            try:
                full = inlet.info(self.resolve_timeout)
                layout = _layout(s.spec, full)
            except Exception as error:
                self._give_up(s, f"the LSL stream came back but cannot be read: {error}")
                return False
            if (
                layout.info != info
                or layout.rows != s.layout.rows
                or not np.array_equal(layout.scale, s.layout.scale)
            ):
                self._give_up(
                    s, "the LSL stream came back with other channels, units or rate; restart the session"
                )
                return False
            s.inlet, s.lsl_info = inlet, full
            s.inlet.open_stream(self.resolve_timeout)
            s.reconnects += 1
            now = self._now()
            self.outbox.put_event(
                Event(
                    now,
                    kinds.DEVICE_RECONNECT,
                    info.id,
                    {"outage": now - lost, "attempts": attempts},
                    therapist_message=f"{info.id}: the LSL outlet is back after {now - lost:.1f} s",
                )
            )
            return True
        return False

    def _give_up(self, s: _Inlet, message: str) -> None:
        s.error = message
        self.outbox.put_event(
            Event(
                self._now(),
                kinds.DEVICE_ERROR,
                s.layout.info.id,
                {"message": message},
                therapist_message=f"{s.layout.info.id}: {message}",
            )
        )


# --------------------------------------------------------------------------- the outlet


class LslOutlet(Sink):
    """Publishes derived signals, events and feedback cues as LSL streams (a :class:`~nmre.core.Sink`).

    Streams (``<name>`` defaults to ``nmre``):

    * ``<name>.<stream id>`` for each published signal: its channels with
      labels and units in ``desc/channels`` (the XDF convention), its
      placement in ``desc/placement``, float64, at the stream's nominal rate;
    * ``<name>.events`` (type ``Markers``, string, irregular): every event as
      one line of nmre's event JSON, stamped at the event's time (what the body
      did), not when it was detected;
    * ``<name>.cues`` (type ``Markers``): the words the patient was given, at
      the cue's time.

    Sample times are put on LSL's clock by one offset measured at :meth:`open`
    (``clock``'s session time against ``local_clock``), so LabRecorder aligns
    them with the lab's other streams.

    Parameters
    ----------
    streams : sequence of str or None
        Ids of the signals to publish; ``None`` publishes every derived stream
        (no device), ``()`` none.
    clock : Clock or None
        The session clock; ``None`` takes session time 0 as the moment of :meth:`open`.
    name : str
        Prefix of the LSL stream names; also the source_id prefix, so that
        LabRecorder picks them up again after a restart.
    events, cues : bool
        Whether to publish the event and cue streams.
    scope : str
        LSL discovery scope handed to :func:`configure` if LSL is not configured yet.
    wait : float
        Seconds :meth:`open` waits for a consumer (LabRecorder, an inlet) of the
        event stream before the session starts (0: no wait). LSL consumers only
        get samples pushed after they connect, so a replay on the virtual clock,
        which runs ahead in a moment, needs its recorder connected first.
    linger : float
        Seconds :meth:`close` keeps the outlets open, while consumers are
        connected, so that the last samples reach them (liblsl drops what is still
        queued when an outlet is destroyed).
    """

    def __init__(
        self,
        streams: Sequence[str] | None = None,
        *,
        clock: Clock | None = None,
        name: str = "nmre",
        events: bool = True,
        cues: bool = True,
        scope: str = "machine",
        wait: float = 0.0,
        linger: float = 0.5,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError("LSL outlet name: " + expected("letters, digits, '_', '.' or '-'", name))
        self.wanted = None if streams is None else tuple(streams)
        self.clock = clock
        self.name = name
        self.events = events
        self.cues = cues
        self.scope = scope
        self.wait = max(0.0, float(wait))
        self.linger = max(0.0, float(linger))
        self._outlets: dict[str, Any] = {}
        self._events: Any = None
        self._cues: Any = None
        self._offset = 0.0
        #: LSL stream names published, after :meth:`open`.
        self.published: list[str] = []

    def open(self, streams: Sequence[StreamInfo]) -> None:
        import pylsl

        if _APPLIED.source is None:
            configure(self.scope)
        ids = {s.id for s in streams}
        if self.wanted is not None:
            unknown = [w for w in self.wanted if w not in ids]
            if unknown:
                raise ConfigError(
                    f"LSL outlet: streams {unknown} do not exist; "
                    + expected(f"some of {sorted(ids)}", unknown)
                )
        now = self.clock.now if self.clock is not None else (lambda: 0.0)
        # session t ↔ LSL t: t_lsl = t + offset
        self._offset = -lsl_clock_offset(now) if self.clock is not None else pylsl.local_clock()
        for info in streams:
            publish = info.device is None if self.wanted is None else info.id in self.wanted
            if not publish or info.kind is StreamKind.MARKER:
                continue
            lsl = pylsl.StreamInfo(
                f"{self.name}.{info.id}",
                info.kind.value.upper(),
                info.n_channels,
                info.rate or pylsl.IRREGULAR_RATE,
                pylsl.cf_double64,
                f"{self.name}.{info.id}",
            )
            channels = lsl.desc().append_child("channels")
            for ch in info.channels:
                c = channels.append_child("channel")
                c.append_child_value("label", ch.name)
                c.append_child_value("unit", ch.unit)
                c.append_child_value("type", info.kind.value.upper())
                if ch.placement is not None:
                    _placement_xml(c.append_child("placement"), ch.placement)
            if info.placement is not None:
                _placement_xml(lsl.desc().append_child("placement"), info.placement)
            lsl.desc().append_child_value("manufacturer", "nmre")
            self._outlets[info.id] = pylsl.StreamOutlet(lsl)
            self.published.append(lsl.name())
        if self.events:
            self._events = self._marker_outlet(
                f"{self.name}.events", "event", "JSON, one nmre event per sample"
            )
        if self.cues:
            self._cues = self._marker_outlet(f"{self.name}.cues", "cue", "the words given to the patient")
        if self.wait > 0:
            first = self._events or self._cues or next(iter(self._outlets.values()), None)
            if first is not None and not first.wait_for_consumers(self.wait):
                logger.warning(
                    "LSL outlet %s: no consumer connected within %.1f s; publishing anyway",
                    self.name,
                    self.wait,
                )

    def _marker_outlet(self, name: str, label: str, what: str) -> Any:
        import pylsl

        lsl = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, name)
        c = lsl.desc().append_child("channels").append_child("channel")
        c.append_child_value("label", label)
        c.append_child_value("type", "Marker")
        lsl.desc().append_child_value("description", what)
        lsl.desc().append_child_value("manufacturer", "nmre")
        self.published.append(name)
        return pylsl.StreamOutlet(lsl)

    def on_block(self, block: Block) -> None:
        outlet = self._outlets.get(block.stream)
        if outlet is None or block.n_samples == 0:
            return
        outlet.push_chunk(np.ascontiguousarray(block.values.T), (block.times + self._offset).tolist())

    def on_event(self, event: Event) -> None:
        t = event.time if math.isfinite(event.time) else event.detected_at
        stamp = t + self._offset if math.isfinite(t) else 0.0  # 0: liblsl stamps it now
        if self._events is not None:
            self._events.push_sample([event.to_json()], stamp)
        if self._cues is not None and event.kind == kinds.FEEDBACK_CUE and event.patient_message:
            self._cues.push_sample([event.patient_message], stamp)

    def close(self) -> None:
        # destroying an outlet closes its sockets (pylsl frees it when the last reference goes); liblsl drops
        # samples still queued for a consumer then, so keep the outlets a moment while someone listens
        outlets = [o for o in (*self._outlets.values(), self._events, self._cues) if o is not None]
        if self.linger > 0 and any(o.have_consumers() for o in outlets):
            time.sleep(self.linger)
        self._outlets.clear()
        self._events = None
        self._cues = None


def _placement_xml(node: Any, placement: Placement) -> None:
    for key, value in (
        ("segment", placement.segment),
        ("muscle", placement.muscle),
        ("side", placement.side.value if placement.side else None),
    ):
        if value is not None:
            node.append_child_value(key, value)


def _placement_from_xml(node: Any) -> Placement | None:
    """Read back a placement :class:`LslOutlet` wrote (``segment``, ``muscle``, ``side``), if any."""
    if node is None or node.empty():
        return None
    segment = node.child_value("segment") or None
    muscle = node.child_value("muscle") or None
    side_text = node.child_value("side") or ""
    side = _SIDES.get(side_text.lower())
    if segment is None and muscle is None and side is None:
        return None
    return Placement(segment=segment, muscle=muscle, side=side)

"""Derived-signal kinds a drill file may declare (``[signals.<name>] kind = ...``), and how each is built.

Each kind declares the fields it takes (:class:`nmre.rules.base.Param`), the
channels it gives (so rules can be checked against them when a file is
loaded), and builds its nodes for the connected streams. Every built signal
remembers the **raw** streams it comes from, so a rule on it is gated on their
data quality.

Kinds: ``joint_angle`` (two IMUs), ``inclination`` (one IMU), ``acc_inclination``
(one accelerometer, no gyroscope), ``emg_envelope``, ``emg_onsets`` (events, not a
stream), ``sway`` (trunk/pelvis accelerometer: windows and a stream).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from nmre.core.model import Side, StreamInfo
from nmre.engine.nodes import ProcessorNode
from nmre.errors import ConfigError
from nmre.rules.base import Param

if TYPE_CHECKING:
    from nmre.drills._build import Context
    from nmre.drills.spec import SignalSpec

__all__ = ["SIGNAL_KINDS", "Built", "SignalKind"]


@dataclass(frozen=True, slots=True)
class Built:
    """A built signal: the stream it is (or the event source, for event signals), its channels and raw inputs."""

    stream: str
    channels: Mapping[str, str]  # name -> unit
    raw: tuple[str, ...]
    events: bool = False
    rate: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalKind:
    """A kind of derived signal: its fields, its channels (from its fields and sensors), how to build it."""

    name: str
    about: str
    params: Mapping[str, Param]
    sensors: Callable[[Mapping[str, Any]], tuple[str, ...]]
    channels: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, str]]
    build: Callable[[Context, SignalSpec, str | None], Built]
    events: bool = False


_JOINT = {"flexion": "deg", "abduction": "deg", "rotation": "deg"}
_TRUNK = {"inclination": "deg", "sagittal": "deg", "frontal": "deg"}


def _suffix(side: str | None) -> str:
    return f".{side[0]}" if side in ("left", "right") else ""


def _joint_angle(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.joints import JointAngle

    p = ctx.sensor(sig.params["proximal"], side)
    d = ctx.sensor(sig.params["distal"], side)
    op, od = ctx.orientation(p), ctx.orientation(d)
    name = f"angle.{sig.name}{_suffix(side)}"
    joint = JointAngle(op, od, side=Side(side) if side in ("left", "right") else Side.RIGHT, name=name)

    def calibrate(cal: Mapping[str, np.ndarray]) -> None:
        joint.set_calibration(proximal=cal[p.id], distal=cal[d.id])

    ctx.neutral(calibrate, (p.id, d.id))
    ctx.add(ProcessorNode(joint, (op, od), name))
    return Built(name, _JOINT, (p.id, d.id), rate=d.rate)


def _inclination(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.joints import TrunkInclination

    s = ctx.sensor(sig.params["sensor"], side)
    o = ctx.orientation(s, sig.params["gain"])
    name = f"angle.{sig.name}{_suffix(side) if ctx.spec_sensor(sig.params['sensor']).side == 'drill' else ''}"
    lean = TrunkInclination(name=name)
    ctx.neutral(lambda cal: lean.set_calibration(cal[s.id]), (s.id,))
    ctx.add(ProcessorNode(lean, o, name))
    return Built(name, _TRUNK, (s.id,), rate=s.rate)


def _acc_inclination(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.inclination import AccInclination

    s = ctx.sensor(sig.params["sensor"], side)
    name = f"angle.{sig.name}{_suffix(side) if ctx.spec_sensor(sig.params['sensor']).side == 'drill' else ''}"
    lean = AccInclination(s.rate, cutoff=sig.params["cutoff"], name=name)
    ctx.neutral(lambda cal: lean.set_calibration(cal[s.id]), (s.id,))
    ctx.add(ProcessorNode(lean, s.id, name))
    return Built(name, _TRUNK, (s.id,), rate=s.rate)


def _muscles_of(info: StreamInfo) -> list[str]:
    return [c.placement.muscle if c.placement and c.placement.muscle else c.name for c in info.channels]


def _guarded(ctx: Context, info: StreamInfo) -> str:
    """The EMG stream through a Guard (NaN, saturation, flat line held before any filter), built once."""
    from nmre.dsp.guard import Guard

    clean = f"{info.id}.clean"
    if not ctx.has_stream(clean):
        guard = Guard(
            info.n_channels,
            stuck_samples=max(2, int(0.05 * info.rate)),
            channel_names=_muscles_of(info),
            merge=0.25,
            name=clean,
        )
        ctx.add(ProcessorNode(guard, info.id))
        ctx.note_stream(clean)
    return clean


def _envelope(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.emg import EmgChain

    info = ctx.sensor(sig.params["sensor"], side)
    clean = _guarded(ctx, info)
    name = f"{info.id}.{sig.name}"
    ctx.add(
        ProcessorNode(
            EmgChain(info.n_channels, info.rate, cutoff=sig.params["cutoff"], name=name), clean, name
        )
    )
    return Built(name, {m: "mV" for m in _muscles_of(info)}, (info.id,), rate=info.rate)


def _onsets(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.emg import OnsetDetector, Rectifier, Tkeo
    from nmre.dsp.filters import SosFilter
    from nmre.dsp.pipeline import Pipeline
    from nmre.rules.emg import OnsetNode

    info = ctx.sensor(sig.params["sensor"], side)
    have = _muscles_of(info)
    need = [m for m in sig.params["muscles"] if m not in have]
    if need:
        raise ConfigError(
            f"signal {sig.name!r}: expected EMG of {', '.join(need)} in {info.id!r}, got {', '.join(have)}"
        )
    clean = _guarded(ctx, info)
    n, p = info.n_channels, sig.params
    cond = Pipeline(
        [
            SosFilter.bandpass(20.0, 450.0, info.rate, n),
            Tkeo(n),
            Rectifier(n),
            SosFilter.lowpass(p["lowpass"], info.rate, n),
        ]
    )
    det = OnsetDetector(n, info.rate, k_on=p["k_on"], k_off=p["k_off"], t_on=p["t_on"], t_off=p["t_off"])
    node = OnsetNode(clean, cond, det, rest=p["rest"], settle=p["settle"])
    ctx.add(node)
    return Built(node.name, {m: "event" for m in have}, (info.id,), events=True, rate=info.rate)


def _sway(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.balance import Sway

    info = ctx.sensor(sig.params["sensor"], side)
    seg = info.placement.segment if info.placement and info.placement.segment else info.id
    name = f"{sig.name}.{seg}"
    ctx.add(
        ProcessorNode(
            Sway(info.rate, cutoff=sig.params["cutoff"], window=sig.params["window"], name=name), info.id
        )
    )
    return Built(
        name,
        {"acc_ap": "m/s^2", "acc_ml": "m/s^2"},
        (info.id,),
        rate=info.rate,
        extra={"window": sig.params["window"]},
    )


def _one(key: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    return lambda p: (p[key],)


def _fixed(ch: Mapping[str, str]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, str]]:
    return lambda p, sensors: ch


def _emg_channels(p: Mapping[str, Any], sensors: Mapping[str, Any]) -> Mapping[str, str]:
    s = sensors.get(p["sensor"])
    return {m: "mV" for m in (getattr(s, "muscles", ()) or ())}


_ALL = (
    SignalKind(
        "joint_angle",
        "joint angles of the distal segment relative to the proximal one (Cardan Y-X'-Z''): flexion, abduction, rotation (deg)",
        {
            "proximal": Param("text", "the sensor on the proximal segment (thigh for the knee)"),
            "distal": Param("text", "the sensor on the distal segment (shank for the knee)"),
        },
        lambda p: (p["proximal"], p["distal"]),
        _fixed(_JOINT),
        _joint_angle,
    ),
    SignalKind(
        "inclination",
        "inclination of a segment from vertical: total, sagittal (forward +), frontal (deg)",
        {
            "sensor": Param("text", "the sensor on the segment"),
            "gain": Param(
                "number",
                "Madgwick gain (0.1 rad/s; lower trusts the gyroscope more while the segment accelerates, "
                "as in a quick whole-body lean)",
                0.1,
                unit="rad/s",
                lo=0.0,
                lo_open=True,
            ),
        },
        _one("sensor"),
        _fixed(_TRUNK),
        _inclination,
    ),
    SignalKind(
        "acc_inclination",
        "inclination of a segment from vertical from its accelerometer alone (no gyroscope; low-passed "
        "gravity, limits in docs/calibration.md): total, sagittal (forward +), frontal (deg)",
        {
            "sensor": Param("text", "the sensor on the segment (an accelerometer is enough)"),
            "cutoff": Param(
                "number",
                "low-pass corner of the gravity estimate (1.5 Hz: about 150 ms delay, nmre.dsp.inclination)",
                1.5,
                unit="Hz",
                lo=0.0,
                lo_open=True,
            ),
        },
        _one("sensor"),
        _fixed(_TRUNK),
        _acc_inclination,
    ),
    SignalKind(
        "emg_envelope",
        "EMG linear envelope per muscle: band-pass 20-450 Hz, rectify, low-pass (mV)",
        {
            "sensor": Param("text", "the EMG sensor"),
            "cutoff": Param(
                "number",
                "envelope low-pass corner (2nd order, 6 Hz: dsp.md §1.2)",
                6.0,
                unit="Hz",
                lo=0.0,
                lo_open=True,
            ),
        },
        _one("sensor"),
        _emg_channels,
        _envelope,
    ),
    SignalKind(
        "emg_onsets",
        "EMG onsets per muscle (TKEO, rectify, low-pass, double threshold from a rest baseline): events",
        {
            "sensor": Param("text", "the EMG sensor"),
            "muscles": Param("texts", "the muscles whose onsets are needed"),
            "rest": Param("number", "rest baseline length at the start", 1.2, unit="s", lo=0.0, lo_open=True),
            "settle": Param(
                "number", "filter settling time skipped before the baseline", 0.3, unit="s", lo=0.0
            ),
            "lowpass": Param(
                "number", "low-pass after TKEO (20-50 Hz: dsp.md §1.2)", 30.0, unit="Hz", lo=0.0, lo_open=True
            ),
            "k_on": Param(
                "number",
                "onset threshold, multiples of the baseline SD (TKEO: 3-15, dsp.md §1.4)",
                8.0,
                unit="1",
                lo=0.0,
            ),
            "k_off": Param(
                "number", "offset threshold, multiples of the baseline SD (<= k_on)", 4.0, unit="1", lo=0.0
            ),
            "t_on": Param(
                "number",
                "time above the onset threshold (25-50 ms, Hodges & Bui 1996)",
                0.025,
                unit="s",
                lo=0.0,
                lo_open=True,
            ),
            "t_off": Param("number", "time below the offset threshold", 0.1, unit="s", lo=0.0, lo_open=True),
        },
        _one("sensor"),
        _emg_channels,
        _onsets,
        events=True,
    ),
    SignalKind(
        "sway",
        "tilt-corrected, low-passed horizontal acceleration of the trunk or pelvis, with sway metrics per window",
        {
            "sensor": Param("text", "the trunk or pelvis sensor (an accelerometer is enough)"),
            "window": Param("number", "window of the sway metrics", 5.0, unit="s", lo=0.0, lo_open=True),
            "cutoff": Param(
                "number",
                "low-pass corner (3.5 Hz as ISway: dsp.md §3.2)",
                3.5,
                unit="Hz",
                lo=0.0,
                lo_open=True,
            ),
        },
        _one("sensor"),
        _fixed({"acc_ap": "m/s^2", "acc_ml": "m/s^2"}),
        _sway,
    ),
)

#: Derived-signal kind name → kind.
SIGNAL_KINDS: Mapping[str, SignalKind] = MappingProxyType({k.name: k for k in _ALL})

"""Derived-signal kinds a drill file may declare (``[signals.<name>] kind = ...``), and how each is built.

Each kind declares the fields it takes (:class:`nmre.rules.base.Param`), the
channels it gives (so rules can be checked against them when a file is
loaded), and builds its nodes for the connected streams. Every built signal
remembers the **raw** streams it comes from, so a rule on it is gated on their
data quality.

Kinds: ``joint_angle`` (two IMUs), ``inclination`` (one IMU), ``acc_inclination``
(one accelerometer, no gyroscope), ``emg_envelope``, ``emg_onsets`` (events, not a
stream), ``sway`` (trunk/pelvis accelerometer: windows and a stream),
``humeral_elevation`` and ``girdle_elevation`` (trunk, upper arm and scapula IMUs),
``angular_speed`` (one IMU's gyroscope).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Side, StreamInfo
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
#: Sign of the rotation about the proximal segment's medio-lateral axis that is flexion (nmre.dsp.joints):
#: the knee flexes with the shank's distal end moving backward, the hip with the thigh's moving forward.
_FLEXION_SIGN = {"knee": 1.0, "hip": -1.0}


def _suffix(side: str | None) -> str:
    return f".{side[0]}" if side in ("left", "right") else ""


def _joint_angle(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.joints import JointAngle

    gonio = sig.params["goniometer"]
    if gonio and ctx.has_sensor(gonio, side):  # a goniometer worn stands in for the two IMUs
        g = ctx.sensor(gonio, side)
        if "flexion" not in g.channel_names or g.channels[g.channel_names.index("flexion")].unit != "deg":
            raise ConfigError(
                f"signal {sig.name!r}: expected a 'flexion' channel in deg in {g.id!r}, got "
                + ", ".join(f"{c.name} ({c.unit})" for c in g.channels)
            )
        return Built(g.id, {"flexion": "deg"}, (g.id,), rate=g.rate)
    p = ctx.sensor(sig.params["proximal"], side)
    d = ctx.sensor(sig.params["distal"], side)
    op, od = ctx.orientation(p), ctx.orientation(d)
    name = f"angle.{sig.name}{_suffix(side)}"
    joint = JointAngle(
        op,
        od,
        side=Side(side) if side in ("left", "right") else Side.RIGHT,
        flexion_sign=_FLEXION_SIGN[sig.params["joint"]],
        name=name,
    )
    tap = JointTap(joint, p.id, d.id, align=sig.params["align"] == "ml_axis")
    ctx.functional(tap.calibrate, (p.id, d.id))
    # Flexion does not wait for the long-axis calibration: it is the rotation about the medio-lateral
    # axis, and a strap rotated psi about the long axis only tilts that axis, reading flexion x cos(psi)
    # plus a crosstalk of the other planes: 15 deg costs about 3 deg at 90 deg of knee flexion, inside
    # the +-5 deg of goniometry (reference/dsp.md 2.2). Ab/adduction and rotation take the flexion's
    # crosstalk at sin(psi) (10 deg at 40 deg of hip flexion, docs/calibration.md), so they wait.
    ctx.long_axis_free.add((name, "flexion"))
    ctx.add(ctx.neutral(tap.calibrate_neutral, (p.id, d.id), ProcessorNode(tap, (op, od), name)))
    return Built(name, _JOINT, (p.id, d.id), rate=d.rate)


class JointTap(Processor):
    """A :class:`~nmre.dsp.joints.JointAngle` with its calibrations and the two filters' heading alignment.

    Each 6-axis filter starts with its own heading (zero yaw from roll and pitch), so two
    segments compare only once their headings are aligned (``nmre.dsp.joints``). When the
    neutral pose is calibrated the tap keeps each sensor's orientation of the neutral pose
    and aligns the calibrated segments' headings there
    (:func:`~nmre.dsp.joints.heading_alignment`); when the long-axis calibration replaces
    the sensor-to-segment rotations, the headings are aligned again from the same neutral
    orientations (a sensor strapped 15 deg round its long axis otherwise turns the shank's
    frame 15 deg against the thigh's, and flexion reads as valgus).

    The neutral orientation of a sensor is its latest finite one at or before the time the
    pose was complete (:class:`~nmre.calibration.imu.NeutralPoses` ``.at``), taken once
    both streams have reached that time (:class:`~nmre.dsp.joints.OrientationsAt`), and
    every calibration applies to the samples after its sample time
    (:meth:`~nmre.dsp.joints.JointAngle.set_calibration`). So the angles do not depend on
    how the streams were cut into blocks (a replay in other blocks, or as the packets
    arrived live, gives the same angles).

    ``align=True`` (seated drills, no neutral pose): the headings are aligned by the
    sensors' medio-lateral (y) axes at each sensor's first finite orientation. For a
    sensor lying with its x axis near vertical (a thigh sensor when seated) roll and yaw
    are not separable and the filter's heading is arbitrary (the knee read 175 deg
    straight); in a sagittal-plane posture both sensors' y axes are horizontal and
    parallel when they are strapped medio-laterally. A strap rotated about the long axis
    tilts y out of the horizontal and leaves a heading error of the same order.
    """

    def __init__(self, joint: Any, proximal: str, distal: str, *, align: bool = False) -> None:
        from nmre.dsp.joints import OrientationsAt

        self.joint, self.raw, self.align = joint, (proximal, distal), align
        self.proximal, self.distal = joint.proximal, joint.distal
        self.cal: dict[str, np.ndarray] = {}
        self._neutral: tuple[np.ndarray, np.ndarray] | None = None
        self._functional_at: dict[str, float] = {}  # the sample time of each sensor's functional rotation
        self._pose = OrientationsAt(self.proximal, self.distal)
        self._clear()

    def _clear(self) -> None:
        self._pose.clear()
        self._first: dict[str, np.ndarray] = {}
        self._first_t: dict[str, float] = {}
        self._todo = self.align and "heading" not in self.cal

    def reset(self) -> None:
        self.joint.reset()
        if self.align:
            self.cal.pop("heading", None)
        self._clear()

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return self.joint.output_info(info)  # type: ignore[no-any-return]

    def _apply(self, at: float | None) -> None:
        self.joint.set_calibration(
            proximal=self.cal.get(self.raw[0]),
            distal=self.cal.get(self.raw[1]),
            heading=self.cal.get("heading"),
            at=at,
        )

    def calibrate_neutral(self, q: Mapping[str, Any]) -> None:
        """The neutral pose's rotations; its orientations taken at ``q.at`` (or the latest seen), aligned there.

        A functional (long-axis) rotation of the same or a later sample time is kept: it builds on
        this pose (a reused record hands both over at the same sample, and the neutral pose's may
        reach the tap after the long axis's, when its held samples are released).
        """
        at = float(getattr(q, "at", math.inf))
        self.calibrate({k: v for k, v in q.items() if self._functional_at.get(k, -math.inf) < at}, at)
        self._pose.ask(at)
        self._todo = True
        self._take_neutral()

    def calibrate(self, q: Mapping[str, Any], at: float | None = None) -> None:
        """New sensor-to-segment rotations (neutral, ``at`` given, or functional); headings re-aligned at the
        neutral pose.

        They apply to the distal samples after ``q.at`` (the step's sample time, when it has one), so
        the angles change at the same sample however the streams were cut into blocks.
        """
        self.cal.update({k: np.asarray(q[k], dtype=np.float64) for k in self.raw if k in q})
        if at is None:  # the functional (long-axis) step's
            at = getattr(q, "at", None)
            self._functional_at.update({k: math.inf if at is None else float(at) for k in self.raw if k in q})
        self._align_neutral(None if at is None or at == math.inf else float(at))

    def _align_neutral(self, at: float | None) -> None:
        from nmre.dsp.joints import heading_alignment

        if self._neutral is not None:
            self.cal["heading"] = heading_alignment(
                self._neutral[0], self._neutral[1], self.cal.get(self.raw[0]), self.cal.get(self.raw[1])
            )
        self._apply(at)

    def _take_neutral(self) -> None:
        """Keep the orientations at the pending neutral time once both streams have passed it."""
        at = self._pose.at
        pose = self._pose.take()
        if pose is False:
            return  # a stream has not reached the pose's time yet: wait for it (not for a dropout)
        self._todo = self.align and "heading" not in self.cal
        if pose:
            self._neutral = pose
            self._align_neutral(None if at == math.inf else at)

    def _align_ml(self, block: Block) -> None:
        if block.stream not in self._first:
            ok = np.flatnonzero(np.all(np.isfinite(block.values), axis=0))
            if ok.size:
                self._first[block.stream] = block.values[:, ok[0]].copy()
                self._first_t[block.stream] = float(block.times[ok[0]])
        prox, dist = self._first.get(self.proximal), self._first.get(self.distal)
        if prox is not None and dist is not None:
            half = 0.5 * (_yaw_of_y(prox) - _yaw_of_y(dist))
            self.cal["heading"] = np.array([math.cos(half), 0.0, 0.0, math.sin(half)])
            # from the later of the two first samples: the distal ones before it never had a partner
            self._apply(max(self._first_t.values()))
            self._todo = self._pose.at is not None

    def process(self, block: Block) -> Block:
        if block.times.shape[0]:
            self._pose.note(block)
            if self._todo:
                if self.align and "heading" not in self.cal:
                    self._align_ml(block)
                if self._pose.at is not None:
                    self._take_neutral()
        return self.joint.process(block)  # type: ignore[no-any-return]

    # no pop_events of its own: Processor's (none), so the engine never asks (docs/performance.md)


def _yaw_of_y(q: np.ndarray) -> float:
    """Heading (rad) of a frame's y axis in the world's horizontal plane."""
    w, x, y, z = (float(c) for c in q)
    yx, yy = 2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z)
    return math.atan2(yy, yx) - math.pi / 2


def _inclination(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.joints import TrunkInclination

    s = ctx.sensor(sig.params["sensor"], side)
    o = ctx.orientation(s, sig.params["gain"], sig.params["bias_memory"])
    name = f"angle.{sig.name}{_suffix(side) if ctx.spec_sensor(sig.params['sensor']).side == 'drill' else ''}"
    # frontal = "side_up": positive when the drill's side of the segment rises (a left drill mirrors it)
    lean = TrunkInclination(name=name, mirror_frontal=sig.params["frontal"] == "side_up" and side == "left")
    # the sample time of the travel heading's rotation (it builds on the neutral pose)
    travel_at = [-math.inf]

    def neutral(cal: Mapping[str, Any]) -> None:
        # a reused record hands both over at one sample, and the neutral pose's reaches the signal after
        # the travel heading's (when its held samples are released): the later step's rotation stays
        if travel_at[0] < float(getattr(cal, "at", math.inf)):
            lean.set_calibration(cal[s.id])

    def travel(cal: Mapping[str, Any]) -> None:
        at = getattr(cal, "at", None)
        travel_at[0] = math.inf if at is None else float(at)
        lean.set_calibration(cal[s.id], at=at)

    ctx.add(ctx.neutral(neutral, (s.id,), ProcessorNode(lean, o, name)))
    ctx.travel(travel, (s.id,))
    return Built(name, _TRUNK, (s.id,), rate=s.rate)


def _acc_inclination(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.inclination import AccInclination

    s = ctx.sensor(sig.params["sensor"], side)
    name = f"angle.{sig.name}{_suffix(side) if ctx.spec_sensor(sig.params['sensor']).side == 'drill' else ''}"
    lean = AccInclination(s.rate, cutoff=sig.params["cutoff"], name=name)
    ctx.add(
        ctx.neutral(lambda cal: lean.set_calibration(cal[s.id]), (s.id,), ProcessorNode(lean, s.id, name))
    )
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


#: Surface-EMG band-pass, Hz (De Luca 2010: 20-450 Hz holds the signal's power).
EMG_BAND = (20.0, 450.0)
#: Highest upper corner as a fraction of the sample rate: devices that sample below 1 kHz (the Myo
#: armband: 200 Hz) carry only what lies below their Nyquist frequency, so the band stops at 0.45 fs
#: (Myo: 20-90 Hz) instead of refusing the stream. Engineering default.
EMG_NYQUIST_FRACTION = 0.45


def emg_band(rate: float) -> tuple[float, float]:
    """The band-pass corners for EMG sampled at ``rate`` Hz: :data:`EMG_BAND`, the upper corner kept below Nyquist."""
    lo, hi = EMG_BAND
    return lo, min(hi, EMG_NYQUIST_FRACTION * rate)


def _envelope(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.emg import EmgChain
    from nmre.dsp.pipeline import Pipeline

    info = ctx.sensor(sig.params["sensor"], side)
    clean = _guarded(ctx, info)
    name = f"{info.id}.{sig.name}"
    chain = EmgChain(
        info.n_channels, info.rate, band=emg_band(info.rate), cutoff=sig.params["cutoff"], name=name
    )
    if sig.params["normalise"] != "reference":
        ctx.add(ProcessorNode(chain, clean, name))
        return Built(name, {m: "mV" for m in _muscles_of(info)}, (info.id,), rate=info.rate)
    from nmre.calibration.steps import CalibratedFrom

    scale = PercentOfReference(info.n_channels, name)
    # from the reference's sample time on (not from the block after the one the step finished in)
    held = CalibratedFrom(ProcessorNode(Pipeline([chain, scale]), clean, name), scale.calibrate)
    ctx.references.setdefault(info.id, []).append(held)
    ctx.add(held)
    return Built(name, {m: "%" for m in _muscles_of(info)}, (info.id,), rate=info.rate)


@dataclasses.dataclass(frozen=True, slots=True)
class ReferenceAt:
    """An EMG reference per channel and the sample time ``at`` its step finished (the envelope is in % after it)."""

    reference: Any
    at: float


class PercentOfReference(Processor):
    """The envelope as % of the EMG reference calibration (``100 x / reference``); NaN until it is taken.

    NaN, not a guess: a contraction level before the reference exists cannot be
    judged, and the rules say so (not judged) instead of comparing a number in mV
    with a tolerance in %.
    """

    def __init__(self, n_channels: int, name: str) -> None:
        self.n, self.name = n_channels, name
        self.scale: np.ndarray | None = None

    def set_reference(self, reference: Any) -> None:
        ref = None if reference is None else np.asarray(reference, dtype=np.float64)
        if ref is None or ref.shape != (self.n,) or not np.all(np.isfinite(ref) & (ref > 0)):
            raise ConfigError(
                f"{self.name}: expected a reference > 0 per channel ({self.n}), got {reference!r}"
            )
        self.scale = (100.0 / ref)[:, None]

    def calibrate(self, cal: ReferenceAt) -> None:
        """The reference of the emg_reference step (:class:`~nmre.calibration.CalibratedFrom` hands it over
        where the samples reach its sample time)."""
        self.set_reference(cal.reference)

    def reset(self) -> None:
        """The reference stays (it belongs to the session's calibration)."""

    def output_info(self, info: StreamInfo) -> StreamInfo:
        chans = tuple(dataclasses.replace(c, unit="%") for c in info.channels)
        return dataclasses.replace(info, id=self.name, channels=chans)

    def process(self, block: Block) -> Block:
        v = block.values * self.scale if self.scale is not None else np.full_like(block.values, np.nan)
        return Block(self.name, block.times, v, block.seq, block.missing_before, block.arrival)


def _onsets(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.emg import OnsetDetector, TkeoConditioner
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
    # band-pass 20-450 Hz (below Nyquist: emg_band), TKEO, rectify, low-pass: one kernel call per block
    cond = TkeoConditioner(n, info.rate, *emg_band(info.rate), p["lowpass"])
    det = OnsetDetector(n, info.rate, k_on=p["k_on"], k_off=p["k_off"], t_on=p["t_on"], t_off=p["t_off"])
    burst = (p["burst_before"], p["burst_after"]) if p["timing"] == "burst" else None
    node = OnsetNode(clean, cond, det, rest=p["rest"], settle=p["settle"], burst=burst)
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


def _humeral(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.upper_limb import HumeralElevation

    t = ctx.sensor(sig.params["trunk"], side)
    a = ctx.sensor(sig.params["arm"], side)
    ot, oa = ctx.orientation(t, sig.params["gain"]), ctx.orientation(a, sig.params["gain"])
    name = f"angle.{sig.name}{_suffix(side)}"
    proc = HumeralElevation(ot, oa, side=side if side in ("left", "right") else "right", name=name)
    ctx._lean.append(proc)
    ctx.add(
        ctx.neutral(
            lambda cal: proc.set_calibration(trunk=cal[t.id], arm=cal[a.id], at=getattr(cal, "at", None)),
            (t.id, a.id),
            ProcessorNode(proc, (ot, oa), name),
        )
    )
    return Built(name, {"elevation": "deg", "plane": "deg"}, (t.id, a.id), rate=a.rate)


def _girdle(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.upper_limb import GirdleElevation

    hum = ctx.built(sig.params["humeral"], side)
    if set(hum.channels) != {"elevation", "plane"}:
        raise ConfigError(
            f"signal {sig.name!r}: humeral: expected a humeral_elevation signal, got {sig.params['humeral']!r}"
        )
    t = ctx.sensor(sig.params["trunk"], side)
    s = ctx.sensor(sig.params["scapula"], side)
    ot, os_ = ctx.orientation(t), ctx.orientation(s)
    name = f"angle.{sig.name}{_suffix(side)}"
    proc = GirdleElevation(
        ot,
        os_,
        hum.stream,
        side=side if side in ("left", "right") else "right",
        rhythm=sig.params["rhythm"],
        name=name,
    )
    ctx.add(
        ctx.neutral(
            lambda cal: proc.set_calibration(trunk=cal[t.id], scapula=cal[s.id], at=getattr(cal, "at", None)),
            (t.id, s.id),
            ProcessorNode(proc, (hum.stream, ot, os_), name),
        )
    )
    raw = tuple(dict.fromkeys((*hum.raw, t.id, s.id)))
    return Built(name, {"upward_rotation": "deg", "elevation": "deg"}, raw, rate=s.rate)


def _angular_speed(ctx: Context, sig: SignalSpec, side: str | None) -> Built:
    from nmre.dsp.upper_limb import AngularSpeed

    info = ctx.sensor(sig.params["sensor"], side)
    if info.kind.value != "imu":
        raise ConfigError(
            f"signal {sig.name!r}: expected an IMU with a gyroscope for {sig.params['sensor']!r}, "
            f"got {info.kind.value} {info.id!r}"
        )
    seg = info.placement.segment if info.placement and info.placement.segment else info.id
    name = f"speed.{sig.name}.{seg}{_suffix(side)}"
    ctx.add(ProcessorNode(AngularSpeed(info.rate, name=name), info.id, name))
    gyro = tuple(i for i, c in enumerate(info.channel_names) if c.startswith("gyr"))
    # only the gyroscope is read: an accelerometer at its rail (a fast tremor) does not block the rule
    return Built(name, {"speed": "deg/s"}, (info.id,), rate=info.rate, extra={"raw_rows": {info.id: gyro}})


def _one(key: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    return lambda p: (p[key],)


def _fixed(ch: Mapping[str, str]) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, str]]:
    return lambda p, sensors: ch


def _emg_channels(p: Mapping[str, Any], sensors: Mapping[str, Any]) -> Mapping[str, str]:
    s = sensors.get(p["sensor"])
    unit = "%" if p.get("normalise") == "reference" else "mV"
    muscles = tuple(getattr(s, "muscles", ()) or ())
    if muscles == ("any",):  # the muscle the electrodes are on, named when the drill is built
        return {"placed": unit}
    return {m: unit for m in muscles}


_ALL = (
    SignalKind(
        "joint_angle",
        "joint angles of the distal segment relative to the proximal one (Cardan Y-X'-Z''): flexion, abduction, rotation (deg)",
        {
            "proximal": Param(
                "text", "the sensor on the proximal segment (thigh for the knee, pelvis for the hip)"
            ),
            "distal": Param(
                "text", "the sensor on the distal segment (shank for the knee, thigh for the hip)"
            ),
            "joint": Param(
                "choice",
                "which joint: the sign of flexion (knee: shank back; hip: thigh forward)",
                "knee",
                choices=tuple(_FLEXION_SIGN),
            ),
            "goniometer": Param(
                "text", "an angle sensor that, when worn, gives the flexion instead of the two IMUs", ""
            ),
            "align": Param(
                "choice",
                "align the two orientation filters' headings: none, or by the sensors' medio-lateral axes "
                "on the first samples (seated drills, where a thigh sensor lies flat)",
                "none",
                choices=("none", "ml_axis"),
            ),
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
            "frontal": Param(
                "choice",
                "sign of the frontal channel: right_up (a lean toward the segment's left, i.e. its right side "
                "raised, is positive) or side_up (the drill's side raised is positive, on either side: a "
                "pelvis's hip hitch on the moving side)",
                "right_up",
                choices=("right_up", "side_up"),
            ),
            "gain": Param(
                "number",
                "Madgwick gain (0.1 rad/s; lower trusts the gyroscope more while the segment accelerates, "
                "as in a quick whole-body lean)",
                0.1,
                unit="rad/s",
                lo=0.0,
                lo_open=True,
            ),
            "bias_memory": Param(
                "number",
                "seconds of earlier still runs pooled into the gyro-bias estimate (0: each still run's own "
                "mean; for a patient standing still between movements, pooling averages the runs' sway and "
                "dilutes a slow movement taken for stillness; docs/calibration.md)",
                0.0,
                unit="s",
                lo=0.0,
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
            "normalise": Param(
                "choice",
                "none (mV) or reference: % of the emg_reference calibration (ISEK: say how it was normalised)",
                "none",
                choices=("none", "reference"),
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
            "timing": Param(
                "choice",
                "threshold: an onset is where the rest threshold is crossed; burst: also where the muscle's "
                "main burst rises most steeply near that crossing (emg.burst; pre-activity that crosses the "
                "threshold is not the burst: nmre.dsp.bursts)",
                "threshold",
                choices=("threshold", "burst"),
            ),
            "burst_before": Param(
                "number",
                "burst timing: how long before the threshold crossing the rise is looked for (a crossing "
                "comes up to a rise time after the rise began, and the rise needs 50 ms before it)",
                0.1,
                unit="s",
                lo=0.0,
            ),
            "burst_after": Param(
                "number",
                "burst timing: how long after the crossing (the rule's lookback: pre-activity up to 1 s "
                "before the burst is not taken for it)",
                1.0,
                unit="s",
                lo=0.0,
                lo_open=True,
            ),
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
    SignalKind(
        "humeral_elevation",
        "humero-thoracic elevation of the upper arm (angle from the trunk's downward axis, any plane) "
        "and its plane of elevation (0 flexion, 90 abduction; relative within a session), deg",
        {
            "trunk": Param("text", "the sensor on the trunk (sternum)"),
            "arm": Param("text", "the sensor on the upper arm"),
            "gain": Param(
                "number",
                "Madgwick gain of both sensors' filters (0.1 rad/s; lower trusts the gyroscope more while the "
                "arm accelerates, whose acceleration the filter otherwise takes for a tilt)",
                0.1,
                unit="rad/s",
                lo=0.0,
                lo_open=True,
            ),
        },
        lambda p: (p["trunk"], p["arm"]),
        _fixed({"elevation": "deg", "plane": "deg"}),
        _humeral,
    ),
    SignalKind(
        "girdle_elevation",
        "shoulder-girdle upward rotation from a scapula (acromion) sensor relative to the trunk, and its "
        "elevation beyond the scapulohumeral rhythm (the shrug), deg",
        {
            "trunk": Param("text", "the sensor on the trunk (sternum)"),
            "scapula": Param("text", "the sensor on the spine of the scapula or the acromion"),
            "humeral": Param("text", "the humeral_elevation signal of the same arm (for the rhythm)"),
            "rhythm": Param(
                "number",
                "scapular upward rotation per degree of humeral elevation (0.30: glenohumeral : "
                "scapulothoracic 2.3 : 1 when raising, Braman et al. 2009)",
                0.30,
                unit="1",
                lo=0.0,
            ),
        },
        lambda p: (p["trunk"], p["scapula"]),
        _fixed({"upward_rotation": "deg", "elevation": "deg"}),
        _girdle,
    ),
    SignalKind(
        "angular_speed",
        "angular speed of a segment: the norm of its gyroscope with the bias removed at rest, deg/s",
        {"sensor": Param("text", "the IMU (with a gyroscope) on the segment")},
        _one("sensor"),
        _fixed({"speed": "deg/s"}),
        _angular_speed,
    ),
)

#: Derived-signal kind name → kind.
SIGNAL_KINDS: Mapping[str, SignalKind] = MappingProxyType({k.name: k for k in _ALL})

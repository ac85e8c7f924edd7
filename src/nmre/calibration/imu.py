"""IMU calibration steps: the neutral pose (static) and the functional long-axis calibration.

Sensor-to-segment calibration after Favre et al. (2009, J Biomech 42:2330): the
segment's vertical from a static pose, its medio-lateral axis from a movement about
that axis, the third axis by cross product (:func:`nmre.dsp.joints.segment_calibration`).

* :class:`NeutralPoseCalibration` — per sensor, ``duration`` s of stillness in the
  neutral standing pose (gyro norm below :data:`STILL_GYRO`; for an accelerometer-only
  sensor, every sample within 0.3 m/s² of the stretch's mean); the mean
  accelerometer direction is the segment's vertical. A sensor strapped on tilted no
  longer reads as a joint angle or a lean. The rotation about the segment's **long
  axis** cannot be seen from gravity: with the neutral pose alone it is assumed to be
  0 (the sensor's y is taken as medio-lateral).
* :class:`LongAxisCalibration` — that rotation, from a flexion/extension movement
  (a squat, a knee bend, a hip flexion, a forward trunk bend, a shoulder flexion):
  the principal axis of the gyroscope's angular velocity (eigenvector of Σ ω ωᵀ over
  the moving samples) is the segment's medio-lateral axis. Waits until the movement
  has turned the segment through ``min_rotation`` degrees in all and is planar
  (``planarity`` = largest eigenvalue / trace ≥ 0.8, i.e. mostly about one axis), so
  a wobble or a twist is not taken for the axis. Needs the neutral pose first.
* :class:`TravelHeading` — the same rotation for a back sensor (sacrum, sternum),
  whose segment's long axis is the vertical, from the direction the body travels in
  the drill's movement (a lunge's step forward): the principal axis of the horizontal
  free acceleration in the sensor's own horizontal frame. A movement-based axis of the
  pelvis's rotation would not do: in a lunge its drop has the pitch's time course and
  about its size (2 vs 2.4 deg), so the rotation axis is some 40 deg off.
* :class:`CommonLeanHeading` — the arm/trunk heading correction a
  :class:`~nmre.dsp.upper_limb.HumeralElevation` finds from a lean the trunk and the arm
  make together (:class:`~nmre.dsp.upper_limb.CommonLean`), made visible: its event and
  record entry, or, when the first rep starts without it, a note that the heading was not
  calibrated (no rule waits for it: the elevation is judged either way).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.calibration.record import Calibration, HeadingCorrection, SegmentPose
from nmre.calibration.steps import CalibrationStep, StepState
from nmre.core import kinds
from nmre.core.model import Block, Event, StreamKind
from nmre.dsp.joints import segment_calibration
from nmre.dsp.quaternion import quat_from_axis_angle, quat_from_matrix, quat_to_matrix
from nmre.errors import ConfigError, expected

__all__ = [
    "STILL_GYRO",
    "TRAVEL_CUTOFF",
    "CommonLeanHeading",
    "LongAxisCalibration",
    "NeutralPoseCalibration",
    "NeutralPoses",
    "TravelHeading",
    "tilt_deg",
]

F64 = NDArray[np.float64]

#: Stillness threshold on the raw gyro norm. A worn MEMS gyro's bias alone can reach
#: 2 deg/s per axis (3.5 deg/s in norm), so Fusion's 3 deg/s would never see the sensor
#: as still; squats turn segments at tens of deg/s.
STILL_GYRO = math.radians(6.0)
#: For an accelerometer-only sensor: largest distance of a sample from the stretch's mean, m/s^2.
STILL_ACC = 0.3

Apply = Callable[[dict[str, F64]], None]
#: Low-pass corner of the free acceleration whose direction :class:`TravelHeading` takes, Hz (a step's
#: travel lies below it; footfall jolts and sensor noise above).
TRAVEL_CUTOFF = 3.0


class PosesAt(dict):  # type: ignore[type-arg]
    """A step's sensor-to-segment rotations ``{stream: q_cal}`` and ``at``, the sample time it was complete.

    ``at`` is the same in any split of the streams into blocks, unlike the block being
    processed when the step finishes, so a processor applies the rotations to its samples
    after ``at`` (:meth:`~nmre.dsp.joints.JointAngle.set_calibration`).
    """

    def __init__(self, poses: dict[str, F64], at: float) -> None:
        super().__init__(poses)
        self.at = float(at)


class NeutralPoses(PosesAt):
    """The neutral pose's rotations; ``at`` is the last sample of the stillness window of the sensor
    that finished last, so a processor that keeps orientations of the neutral pose takes them at or
    before ``at``."""


def tilt_deg(q: F64) -> float:
    """Rotation angle of a unit quaternion, degrees (the sensor's tilt on its segment after a static calibration)."""
    return round(math.degrees(2 * math.acos(min(1.0, abs(float(q[0]))))), 2)


def _check_imu(step: CalibrationStep, kinds: tuple[StreamKind, ...]) -> None:
    for s in step.inputs:
        info = step.infos[s]
        if info.kind not in kinds:
            names = " or ".join(k.value for k in kinds)
            raise ConfigError(f"{step.name}: expected an {names} stream {s!r}, got {info.kind.value}")


class NeutralPoseCalibration(CalibrationStep):
    """Static sensor-to-segment calibration from the neutral standing pose (see the module docstring).

    Parameters
    ----------
    streams : sequence of str
        IMU (or accelerometer-only) stream ids.
    apply : callable, optional
        Called once with ``{stream: q_cal}`` when every stream is calibrated (the drill
        hands the rotations to its joint-angle and inclination processors).
    settle : float
        Seconds skipped at the start (0.3).
    duration : float
        Seconds of stillness per sensor (1.0).
    pose : str
        What the patient is asked to do while the step waits (the drill's instruction: a pose of known
        joint angles, since every joint angle reads 0 there).

    Raises one ``calibration.neutral`` event: payload ``results`` (stream -> pose),
    ``tilt_deg`` (stream -> degrees) and ``seconds``.
    """

    def __init__(
        self,
        streams: Sequence[str],
        apply: Apply | None = None,
        *,
        settle: float = 0.3,
        duration: float = 1.0,
        pose: str = "stand still in the neutral pose",
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
    ) -> None:
        if not streams:
            raise ConfigError("neutral pose: expected at least one IMU stream, got none")
        if not (isinstance(pose, str) and pose.strip()):
            raise ConfigError(
                "neutral pose: pose " + expected("what the patient is asked to do (text)", pose)
            )
        for name, v in (("settle", settle), ("duration", duration)):
            if not (
                isinstance(v, (int, float)) and math.isfinite(v) and v >= (0 if name == "settle" else 0.1)
            ):
                raise ConfigError(f"neutral pose: {name} " + expected("a number of seconds", v))
        super().__init__("neutral", streams, record=record, autostart=autostart, timeout=timeout)
        self.apply, self.settle, self.duration = apply, float(settle), float(duration)
        self.pose = pose
        self._clear()

    def _apply_reused(self, time: float) -> dict[str, Any]:
        """The recorded rotations; the processors take the neutral orientations at ``time`` (now: the
        patient stands still, as the readiness gate asked, at the start of the set)."""
        poses = {k: v for k, v in (self.reused or {}).items() if isinstance(v, SegmentPose)}
        if self.apply is not None:
            self.apply(NeutralPoses({k: poses[k].quaternion for k in self.inputs}, time))
        return {"tilt_deg": {k: poses[k].tilt_deg for k in self.inputs}, "seconds": self.duration}

    def _clear(self) -> None:
        self._t0: dict[str, float] = {}
        self._acc: dict[str, list[F64]] = {s: [] for s in self.inputs}
        self._start: dict[str, float] = {}
        self._cal: dict[str, SegmentPose] = {}

    def _bind(self) -> None:
        _check_imu(self, (StreamKind.IMU, StreamKind.ACC))

    def reset(self) -> None:
        super().reset()
        self._clear()

    #: Whether a sample's stillness is tested in plain floats (False: numpy per sample; the same verdicts).
    PLAIN_FLOATS = True

    def _push(self, block: Block) -> None:
        s = block.stream
        if s in self._cal:
            return
        t, v = block.times, block.values
        gyro = self.infos[s].kind is StreamKind.IMU
        t0 = self._t0.setdefault(s, float(t[0]))
        cols = v.T.tolist() if gyro and self.PLAIN_FLOATS else None  # the gyroscope's test in plain floats
        for i in range(t.shape[0]):
            ti = float(t[i])
            if ti < t0 + self.settle:
                continue
            a = v[0:3, i]
            if cols is not None:
                col = cols[i]
                if not all(map(math.isfinite, col)):
                    still = False
                else:
                    # the speed in plain floats decides unless it is within a hair of the limit, where
                    # np.linalg.norm's own rounding decides (the same verdict as it gives, a numpy call less)
                    gx, gy, gz = col[3], col[4], col[5]
                    speed = math.sqrt(gx * gx + gy * gy + gz * gz)
                    if abs(speed - STILL_GYRO) > 1e-9 * STILL_GYRO:
                        still = speed < STILL_GYRO
                    else:
                        still = float(np.linalg.norm(v[3:6, i])) < STILL_GYRO
            elif not np.all(np.isfinite(v[:, i])):
                still = False
            elif gyro:
                still = float(np.linalg.norm(v[3:6, i])) < STILL_GYRO
            else:
                acc = self._acc[s]
                still = not acc or float(np.linalg.norm(a - np.mean(acc, axis=0))) < STILL_ACC
            if not still:  # the pose is not held: start the window again
                self._acc[s].clear()
                self._start.pop(s, None)
                continue
            start = self._start.setdefault(s, ti)
            self._acc[s].append(a.copy())
            if ti - start >= self.duration:
                q = segment_calibration(np.column_stack(self._acc[s]))
                self._cal[s] = SegmentPose(s, "neutral", q.tolist(), tilt_deg(q), start, ti)
                break
        waiting = [x for x in self.inputs if x not in self._cal]
        if waiting:
            moving = [x for x in waiting if x in self._t0 and x not in self._start]
            what = self.pose
            if moving:
                what += f" ({', '.join(moving)} moving)"
            self._wait(what, recording=bool(self._start))
            return
        done = max(self._cal[k].end for k in self.inputs)  # a sample time: the same in any split into blocks
        if self.apply is not None:
            self.apply(NeutralPoses({k: self._cal[k].quaternion for k in self.inputs}, done))
        tilts = {k: self._cal[k].tilt_deg for k in self.inputs}
        self._finish(
            done,
            {k: self._cal[k] for k in self.inputs},
            {"tilt_deg": tilts, "seconds": self.duration},
            "neutral pose calibrated; sensor tilt on its segment: "
            + ", ".join(f"{k} {v:.1f} deg" for k, v in tilts.items()),
        )


class LongAxisCalibration(CalibrationStep):
    """Functional calibration of the rotation about each segment's long axis (see the module docstring).

    Parameters
    ----------
    streams : sequence of str
        IMU stream ids (a gyroscope is needed).
    apply : callable, optional
        Called once with ``{stream: q_cal}`` (static vertical + functional axis).
    min_rotation : float
        Total rotation of each segment about its principal axis needed, degrees (90:
        e.g. two squats to 25° of segment rotation and back).
    min_planarity : float
        Share of Σ ω ωᵀ about the principal axis needed (0.8).
    movement : str
        Said to the patient ("bend your knees and hips (a squat)").

    after : CalibrationStep, optional
        The neutral-pose step: the movement counts from the sample time it was complete
        (``done_at``), however the streams were cut or interleaved. Blocks that come before
        it is complete are held (the last :data:`HOLD` s per stream), as a live stream may be
        delivered seconds ahead of the one that completes the pose. Without it: from the
        latest end of the sensors' neutral windows in the record.

    Raises ``calibration.long_axis`` with ``results`` (stream -> pose) and
    ``long_axis_deg`` (stream -> the rotation about the long axis found, degrees).
    """

    #: Seconds of each stream held while the neutral pose is not complete.
    HOLD = 5.0

    def __init__(
        self,
        streams: Sequence[str],
        apply: Apply | None = None,
        *,
        min_rotation: float = 90.0,
        min_planarity: float = 0.8,
        movement: str = "bend and straighten the joint a few times (flexion and extension only)",
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
        after: CalibrationStep | None = None,
    ) -> None:
        if not streams:
            raise ConfigError("long-axis calibration: expected at least one IMU stream, got none")
        if not (isinstance(min_rotation, (int, float)) and math.isfinite(min_rotation) and min_rotation > 0):
            raise ConfigError("long-axis calibration: min_rotation " + expected("degrees > 0", min_rotation))
        if not (isinstance(min_planarity, (int, float)) and 1 / 3 < min_planarity < 1):
            raise ConfigError(
                "long-axis calibration: min_planarity " + expected("a share in (1/3, 1)", min_planarity)
            )
        super().__init__("long_axis", streams, record=record, autostart=autostart, timeout=timeout)
        self.apply, self.after = apply, after
        self.min_rotation, self.min_planarity, self.movement = (
            float(min_rotation),
            float(min_planarity),
            movement,
        )
        self._clear()

    def _apply_reused(self, time: float) -> dict[str, Any]:
        poses = {k: v for k, v in (self.reused or {}).items() if isinstance(v, SegmentPose)}
        if self.apply is not None:
            self.apply(PosesAt({k: poses[k].quaternion for k in self.inputs}, time))
        return {"long_axis_deg": {k: poses[k].long_axis_deg for k in self.inputs}}

    def _clear(self) -> None:
        self._m: dict[str, F64] = {s: np.zeros((3, 3)) for s in self.inputs}
        self._angle: dict[str, float] = dict.fromkeys(self.inputs, 0.0)
        self._turn: dict[str, float] = dict.fromkeys(self.inputs, 0.0)  # rad, the running sum of |w| dt
        self._t: dict[str, list[float]] = {}
        self._cal: dict[str, SegmentPose] = {}
        self._held: dict[str, deque[Block]] = {}  # blocks that came before the neutral pose was complete

    def _bind(self) -> None:
        _check_imu(self, (StreamKind.IMU,))

    def reset(self) -> None:
        super().reset()
        self._clear()

    @staticmethod
    def planarity(m: F64) -> float:
        """Largest eigenvalue of the 3x3 moment matrix over its trace (1: one axis; 1/3: no preferred axis)."""
        tr = float(np.trace(m))
        return float(np.linalg.eigvalsh(m)[-1]) / tr if tr > 0 else 0.0

    def _push(self, block: Block) -> None:
        s = block.stream
        if s in self._cal:
            return
        neutral = self.record.neutral.get(s)
        after = self.after
        if neutral is None or (after is not None and not after.done):
            self._hold(block)
            self._wait(f"the neutral pose of {s} first")
            return
        # the movement counts from the sample time the neutral pose was complete, whatever blocks
        # were being processed then: samples of this stream delivered before that (held) and after
        start = self._start()
        moved = False
        for b in (*self._held.pop(s, ()), block):
            t = b.times
            n = t.shape[0]
            if not n or t[n - 1] <= start:
                continue
            if t[0] <= start:
                i = int(np.searchsorted(t, start, side="right"))
                b = Block(b.stream, t[i:], b.values[:, i:], b.seq, 0, b.arrival)
            moved |= self._measure(b, neutral)
            if s in self._cal:
                break
        self._report(moved)

    def _hold(self, block: Block) -> None:
        held = self._held.setdefault(block.stream, deque())
        held.append(block)
        t = block.times
        if t.shape[0]:
            newest = float(t[-1])
            while held and (not held[0].times.shape[0] or held[0].times[-1] < newest - self.HOLD):
                held.popleft()

    def _start(self) -> float:
        """The sample time the neutral pose was complete (the step's, or its sensors' latest end)."""
        if self.after is not None and self.after.done_at is not None:
            return self.after.done_at
        ends = [self.record.neutral[k].end for k in self.inputs if k in self.record.neutral]
        return max(ends) if ends else -math.inf

    #: Blocks of up to this many samples are summed in plain floats (:meth:`_measure_floats`).
    SMALL_BLOCK = 8

    def _measure_floats(self, block: Block) -> bool | None:
        """:meth:`_measure` for a small block in plain floats, while no sample reaches the rotation.

        The same numbers as the numpy path, sample by sample in the same order: the speed is
        ``sqrt((x² + y²) + z²)`` as ``np.linalg.norm`` adds the rows, the running sums add each
        moving sample's ``speed·dt`` and ``(g_i·g_j)·dt`` to the previous total as ``np.cumsum``
        does. ``None``, with nothing changed, when a sample reaches ``min_rotation`` (the
        planarity's eigen-solve is the numpy path's).
        """
        s = block.stream
        n = block.times.shape[0]
        gx, gy, gz = block.values[3:6].tolist()
        dt = 1.0 / self.infos[s].rate
        turn = self._turn[s]
        angle = 0.0
        isfinite, sqrt, degrees = math.isfinite, math.sqrt, math.degrees
        first = last = -1
        m = None
        for i in range(n):
            a, b, c = gx[i], gy[i], gz[i]
            if not (isfinite(a) and isfinite(b) and isfinite(c)):
                continue
            speed = sqrt(a * a + b * b + c * c)
            if not speed > STILL_GYRO:
                continue
            turn = turn + speed * dt
            angle = degrees(turn)
            if angle >= self.min_rotation:
                return None
            if m is None:
                m = self._m[s].ravel().tolist()
                first = i
            last = i
            xx, xy, xz = (a * a) * dt, (a * b) * dt, (a * c) * dt
            yy, yz, zz = (b * b) * dt, (b * c) * dt, (c * c) * dt
            m[0] += xx
            m[1] += xy
            m[2] += xz
            m[3] += xy
            m[4] += yy
            m[5] += yz
            m[6] += xz
            m[7] += yz
            m[8] += zz
        if m is None:
            return False
        self._m[s] = np.array(m).reshape(3, 3)
        self._turn[s] = turn
        self._angle[s] = angle
        span = self._t.setdefault(s, [float(block.times[first]), 0.0])
        span[1] = float(block.times[last])
        return True

    def _measure(self, block: Block, neutral: SegmentPose) -> bool:
        """Add a block's movement; True if any of it moved."""
        if block.times.shape[0] <= self.SMALL_BLOCK:
            moved = self._measure_floats(block)
            if moved is not None:
                return moved
        s = block.stream
        g = block.values[3:6]
        ok = np.all(np.isfinite(g), axis=0)
        speed = np.linalg.norm(g, axis=0)
        moving = ok & (speed > STILL_GYRO)
        dt = 1.0 / self.infos[s].rate
        complete = False
        if moving.any():
            # Sample by sample, so that the step ends at the same sample in any split into blocks:
            # the first moving sample at which both the rotation and the planarity are reached.
            # Running sums are cumulative sums from the previous total (numpy adds them in order), so
            # they are the same numbers however the samples were cut into blocks.
            idx = np.flatnonzero(moving)
            turned = np.cumsum(np.concatenate(([self._turn[s]], speed[idx] * dt)))[1:]  # rad
            angle = np.degrees(turned)
            reach = np.flatnonzero(angle >= self.min_rotation)
            gm = g[:, idx]
            outer = np.einsum("ik,jk->kij", gm, gm) * dt
            cum = np.cumsum(np.concatenate((self._m[s][None], outer)), axis=0)[1:]
            upto = idx.size
            if reach.size:
                cand = cum[reach[0] :]
                tr = np.trace(cand, axis1=1, axis2=2)
                good = np.flatnonzero((tr > 0) & (np.linalg.eigvalsh(cand)[:, -1] >= self.min_planarity * tr))
                if good.size:
                    upto = int(reach[0] + good[0]) + 1
                    complete = True
            self._m[s] = cum[upto - 1].copy()
            self._turn[s] = float(turned[upto - 1])
            self._angle[s] = float(angle[upto - 1])
            span = self._t.setdefault(s, [float(block.times[idx[0]]), 0.0])
            span[1] = float(block.times[idx[upto - 1]])
        if complete:
            p = self.planarity(self._m[s])  # only the result reports it (an eigen-solve per block otherwise)
            r = quat_to_matrix(neutral.quaternion)[0]
            z_sensor, y_hint = (
                r[:, 2],
                r[:, 1],
            )  # the segment's vertical and assumed medio-lateral, sensor frame
            w, v = np.linalg.eigh(self._m[s])
            root = v @ np.diag(
                np.sqrt(np.maximum(w, 0.0))
            )  # root @ root.T == M: segment_calibration's Σ ω ωᵀ
            q = segment_calibration(z_sensor, root, axis_hint=y_hint)
            y_new = quat_to_matrix(q)[0][:, 1]
            # the sensor's rotation about the long axis: from the segment's y (found) to the sensor's own y
            about = math.degrees(math.atan2(float(np.cross(y_new, y_hint) @ z_sensor), float(y_new @ y_hint)))
            t0, t1 = self._t[s]
            self._cal[s] = SegmentPose(
                s,
                "functional",
                q.tolist(),
                neutral.tilt_deg,
                t0,
                t1,
                round(about, 2),
                round(p, 4),
                round(self._angle[s], 1),
            )
        return bool(moving.any())

    def _report(self, moved: bool) -> None:
        waiting = [x for x in self.inputs if x not in self._cal]
        if waiting:
            short = [x for x in waiting if self._angle[x] < self.min_rotation]
            twisted = [x for x in waiting if self._angle[x] >= self.min_rotation]
            what = self.movement
            if short:
                what += (
                    " ("
                    + ", ".join(f"{x} {self._angle[x]:.0f} of {self.min_rotation:.0f} deg" for x in short)
                    + ")"
                )
            if twisted:
                what += f"; {', '.join(twisted)}: move only in one plane, no twisting"
            self._wait(what, recording=moved)
            return
        done = max(self._cal[k].end for k in self.inputs)  # a sample time: the same in any split into blocks
        if self.apply is not None:
            self.apply(PosesAt({k: self._cal[k].quaternion for k in self.inputs}, done))
        abouts = {k: self._cal[k].long_axis_deg for k in self.inputs}
        self._finish(
            done,
            {k: self._cal[k] for k in self.inputs},
            {"long_axis_deg": abouts},
            "long-axis calibration: sensor rotation about each segment's long axis "
            + ", ".join(f"{k} {v:+.1f} deg" for k, v in abouts.items()),
        )


class TravelHeading(LongAxisCalibration):
    """A back sensor's heading on its segment from the direction the body travels.

    A sensor on the sacrum or the sternum is turned on its segment about the vertical by
    however the strap sits; gravity cannot show it (the neutral pose assumes 0), and a
    pelvis that pitches forward then reads a tilt sideways of sin(heading) x the pitch.
    When the drill's movement carries the body forward in its own sagittal plane (the
    step of a lunge), the horizontal acceleration of the segment is along its
    antero-posterior axis: the principal axis of the free acceleration in the sensor's
    own horizontal frame (tilt from a 6-axis orientation filter taken out, the filter's
    heading not used; Kunze et al. 2009, "Which way am I facing: inferring horizontal
    device orientation from an accelerometer signal", ISWC) is that axis, whatever the
    pelvis does about it (a drop or a tilt is a rotation, not a travel). The step waits
    for ``min_travel`` m²/s³ of horizontal acceleration (Σ |a_h|² dt, low-passed at
    :data:`TRAVEL_CUTOFF` Hz) with ``min_planarity`` of it along one axis, counted from
    the neutral pose, and turns the neutral ``q_cal`` about the segment's vertical by the
    heading found. Results go into the record's ``long_axis`` (kind ``functional``; the
    pelvis's long axis is its vertical), ``long_axis_deg`` the heading.
    """

    def __init__(
        self,
        streams: Sequence[str],
        apply: Apply | None = None,
        *,
        min_travel: float = 1.0,
        min_planarity: float = 0.9,
        movement: str = "step forward (the drill's movement)",
        gain: float = 0.1,
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
        after: CalibrationStep | None = None,
    ) -> None:
        if not streams:
            raise ConfigError("travel heading: expected at least one IMU stream, got none")
        if not (isinstance(min_travel, (int, float)) and math.isfinite(min_travel) and min_travel > 0):
            raise ConfigError("travel heading: min_travel " + expected("m^2/s^3 > 0", min_travel))
        if not (isinstance(min_planarity, (int, float)) and 0.5 < min_planarity < 1):
            raise ConfigError(
                "travel heading: min_planarity " + expected("a share in (1/2, 1)", min_planarity)
            )
        CalibrationStep.__init__(
            self, "travel_heading", streams, record=record, autostart=autostart, timeout=timeout
        )
        self.apply, self.after = apply, after
        self.min_rotation = self.min_travel = float(min_travel)
        self.min_planarity, self.movement, self.gain = float(min_planarity), movement, float(gain)
        self._clear()

    def _clear(self) -> None:
        super()._clear()
        self._filt: dict[str, Any] = {}
        self._lp: dict[str, tuple[F64, F64]] = {}
        self._h: dict[str, deque[tuple[F64, F64]]] = {}
        self._m2: dict[str, F64] = {s: np.zeros((2, 2)) for s in self.inputs}

    def _bind(self) -> None:
        _check_imu(self, (StreamKind.IMU,))

    def _horizontal(self, block: Block) -> F64:
        """The low-passed free acceleration of ``block`` in the sensor's own horizontal frame (2, n)."""
        from scipy import signal

        from nmre.dsp.orientation import Madgwick

        s = block.stream
        rate = self.infos[s].rate
        if s not in self._filt:
            self._filt[s] = Madgwick(rate, beta=self.gain)
            sos = signal.butter(2, min(TRAVEL_CUTOFF, 0.45 * rate), fs=rate, output="sos")
            self._lp[s] = (sos, np.zeros((sos.shape[0], 2, 2)))
        x = np.nan_to_num(block.values[:6], nan=0.0)
        q = self._filt[s].process(Block(s, block.times, np.ascontiguousarray(x))).values
        w, qx, qy, qz = q
        yaw = np.arctan2(2.0 * (w * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
        r = quat_to_matrix(q)  # (n, 3, 3) sensor to world
        world = np.einsum("nij,jn->in", r, x[:3])
        c, sn = np.cos(yaw), np.sin(yaw)
        h = np.vstack([c * world[0] + sn * world[1], -sn * world[0] + c * world[1]])
        sos, zi = self._lp[s]
        out, zi = signal.sosfilt(sos, h, axis=1, zi=zi)
        self._lp[s] = (sos, zi)
        return np.asarray(out, dtype=np.float64)

    def _push(self, block: Block) -> None:
        s = block.stream
        if s in self._cal or not block.times.shape[0]:
            return
        held = self._h.setdefault(s, deque())
        held.append((block.times, self._horizontal(block)))
        neutral = self.record.neutral.get(s)
        if neutral is None or (self.after is not None and not self.after.done):
            newest = float(block.times[-1])
            while held and held[0][0][-1] < newest - self.HOLD:
                held.popleft()
            self._wait(f"the neutral pose of {s} first")
            return
        start = self._start()
        while held and s not in self._cal:
            t, h = held.popleft()
            keep = t > start
            if keep.any():
                self._measure_travel(s, t[keep], h[:, keep], neutral)
        self._report(True)

    def _measure_travel(self, s: str, t: F64, h: F64, neutral: SegmentPose) -> None:
        dt = 1.0 / self.infos[s].rate
        outer = np.einsum("ik,jk->kij", h, h) * dt
        cum = np.cumsum(np.concatenate((self._m2[s][None], outer)), axis=0)[1:]
        tr = np.trace(cum, axis1=1, axis2=2)
        top = np.linalg.eigvalsh(cum)[:, -1]
        good = np.flatnonzero((tr >= self.min_travel) & (top >= self.min_planarity * tr))
        upto = int(good[0]) + 1 if good.size else t.shape[0]
        self._m2[s] = cum[upto - 1].copy()
        self._angle[s] = float(tr[upto - 1])
        span = self._t.setdefault(s, [float(t[0]), 0.0])
        span[1] = float(t[upto - 1])
        if not good.size:
            return
        m = self._m2[s]
        wv, v = np.linalg.eigh(m)
        d = v[:, -1]
        travel = math.atan2(float(d[1]), float(d[0]))
        r = quat_to_matrix(neutral.quaternion)[0]  # the neutral segment frame, sensor coordinates
        u = r[:, 2]
        ex = np.array([1.0, 0.0, 0.0]) - u[0] * u
        ex /= np.linalg.norm(ex)
        ey = np.cross(u, ex)
        assumed = math.atan2(float(r[:, 0] @ ey), float(r[:, 0] @ ex))
        psi = (travel - assumed + math.pi / 2) % math.pi - math.pi / 2  # the axis, either way along it
        turn = quat_to_matrix(quat_from_axis_angle(u, psi))[0]
        q = quat_from_matrix(turn @ r)
        t0, t1 = self._t[s]
        self._cal[s] = SegmentPose(
            s,
            "functional",
            q.tolist(),
            neutral.tilt_deg,
            t0,
            t1,
            round(math.degrees(psi), 2),
            round(float(wv[-1] / np.trace(m)), 4),
            None,
        )

    def _report(self, moved: bool) -> None:
        waiting = [x for x in self.inputs if x not in self._cal]
        if waiting:
            what = self.movement + (
                " ("
                + ", ".join(f"{x} {self._angle[x]:.2f} of {self.min_travel:g} m²/s³" for x in waiting)
                + ")"
            )
            self._wait(what, recording=moved)
            return
        done = max(self._cal[k].end for k in self.inputs)  # a sample time: the same in any split into blocks
        if self.apply is not None:
            self.apply(PosesAt({k: self._cal[k].quaternion for k in self.inputs}, done))
        abouts = {k: self._cal[k].long_axis_deg for k in self.inputs}
        self._finish(
            done,
            {k: self._cal[k] for k in self.inputs},
            {"long_axis_deg": abouts},
            "travel heading: sensor heading on its segment from the direction of travel "
            + ", ".join(f"{k} {v:+.1f} deg" for k, v in abouts.items()),
        )


class CommonLeanHeading(CalibrationStep):
    """The common-lean heading correction of a :class:`~nmre.dsp.upper_limb.HumeralElevation`, as a step.

    The processor looks for the lean itself (after the neutral pose) and corrects its
    arm/trunk heading alignment once it is found; this step watches it on the processor's
    output stream and, then, writes a :class:`~nmre.calibration.record.HeadingCorrection`
    (keyed by the arm stream) into the record and raises ``calibration.common_lean`` with
    ``correction_deg``, ``samples``, ``start``, ``end`` (s) besides ``results``. If the
    unit segmenter starts the first rep (``rep.start``) before that, it raises
    ``calibration.failed`` (``step``, ``reason``, ``samples``) with a therapist message
    that the heading was not calibrated; a lean found later still raises the step's event.
    Nothing waits for this step: the elevation is judged with or without it (upright the
    heading error does not enter it; during a trunk lean it does).

    Parameters
    ----------
    humeral : HumeralElevation
        The processor (its ``name`` is the stream this step reads; ``arm``, ``trunk`` its inputs).
    movement : str
        What the patient is asked to do.
    """

    def __init__(
        self,
        humeral: Any,
        *,
        movement: str = "lean the trunk to the side and back, the arm held against the side",
        record: Calibration | None = None,
        autostart: bool = True,
    ) -> None:
        CalibrationStep.__init__(self, "common_lean", (humeral.name,), record=record, autostart=autostart)
        self.humeral, self.movement = humeral, movement

    def takes_event(self, kind: str) -> bool:
        return kind == kinds.REP_START

    def on_event(self, event: Event) -> None:
        if self.finished or event.kind != kinds.REP_START:
            return
        lean = self.humeral.common_lean
        if lean.found_at is not None:  # found in a block this step has not seen yet
            self._found()
            return
        from nmre.dsp.upper_limb import LEAN_SAMPLES

        reason = (
            "no lean of the trunk with the arm held against the side before the first rep "
            f"({lean.samples} of the {LEAN_SAMPLES} arm samples needed)"
        )
        self._state = StepState.FAILED
        self.failure = reason
        self._waiting_for = f"nothing: failed ({reason})"
        self._events.append(
            Event(
                event.time,
                kinds.CALIBRATION_FAILED,
                self.name,
                {"step": self.step, "reason": reason, "samples": lean.samples},
                therapist_message=(
                    "Arm-trunk heading not calibrated: " + reason + ". The arm's elevation reads less "
                    "accurately while the trunk leans; the reps are judged as usual"
                ),
            )
        )

    def _found(self) -> None:
        lean, h = self.humeral.common_lean, self.humeral
        assert lean.found_at is not None and lean.correction_deg is not None
        assert lean.start is not None and lean.end is not None
        entry = HeadingCorrection(
            h.arm,
            h.trunk,
            round(float(lean.correction_deg), 2),
            int(lean.samples),
            lean.start,
            lean.end,
            lean.found_at,
        )
        self._finish(
            entry.applied,
            {h.arm: entry},
            {
                "correction_deg": entry.correction_deg,
                "samples": entry.samples,
                "start": entry.start,
                "end": entry.end,
            },
            f"arm-trunk heading calibrated from the common lean: {entry.correction_deg:+.1f} deg "
            f"({entry.samples} arm samples, {entry.start:.1f}-{entry.end:.1f} s)",
        )

    def _push(self, block: Block) -> None:
        lean = self.humeral.common_lean
        if lean.found_at is not None:
            self._found()
        else:
            self._wait(self.movement, recording=lean.samples > 0)

    def _observe(self, block: Block) -> None:
        # after the first rep started without it: a lean made later is still recorded
        if self._state is StepState.FAILED and self.humeral.common_lean.found_at is not None:
            self._found()

"""Upper-limb signals: humero-thoracic elevation, shoulder-girdle elevation, a segment's angular speed.

Frames as in :mod:`nmre.dsp.joints` (x anterior, y left, z superior in the neutral
standing pose). With the upper arm's orientation relative to the trunk decomposed as
intrinsic Cardan Y-X'-Z'' angles ``(a, b, c)`` (what :class:`~nmre.dsp.JointAngle`
computes), the humerus' long axis (shoulder to elbow, the segment's ``-z``) in the
trunk frame is ``h = (-cos b sin a, sin b, -cos a cos b)``, so

* **elevation** = the angle between ``h`` and the trunk's downward axis,
  ``acos(cos a cos b)``: 0 with the arm by the side, 90 horizontal, 180 overhead,
  whatever the plane (the ISB's humero-thoracic elevation, Wu et al. 2005, J Biomech
  38:981). It needs no heading: with the trunk upright it depends only on each
  sensor's inclination, which a 6-axis filter observes;
* **plane** of elevation = the azimuth of ``h`` from forward towards the arm's own
  side (0 flexion, 90 abduction, about 30-40 the scapular plane), ``atan2(∓h_y,
  h_x)`` (right ``-h_y``, left ``+h_y``). It carries the two filters' heading
  difference (unobservable without a magnetometer): compare planes within a session
  (a rep against a demonstrated template), not against an absolute atlas.

:class:`GirdleElevation`: the shoulder girdle's rotation about the trunk's AP axis
from a sensor on the spine of the scapula or the acromion (the ``abduction`` of the
scapula relative to the trunk: positive when the lateral end rises, either side) is
the scapula's upward rotation; part of it is the normal scapulohumeral rhythm, so the
girdle's **elevation** (the shrug) is the upward rotation beyond ``rhythm`` x the
humeral elevation (the rhythm: 0.30, Braman et al. 2009; see the class).

:class:`AngularSpeed`: the norm of a gyroscope after its bias is removed at rest
(deg/s), the speed SPARC is computed on (Melendez-Calderon et al. 2021: SPARC is
valid on gyroscope angular speed; reference/dsp.md §4.1).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre._numba import kernel
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Side, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, out_block
from nmre.dsp.joints import JointAngle, OrientationsAt, heading_alignment, take_ready
from nmre.dsp.orientation import GyroBias
from nmre.dsp.quaternion import quat_multiply
from nmre.errors import ConfigError, InputError, expected

__all__ = [
    "GIRDLE_CHANNELS",
    "HUMERAL_CHANNELS",
    "PATH_POINTS",
    "RHYTHM",
    "SPEED_CHANNELS",
    "AngularSpeed",
    "GirdleElevation",
    "HumeralElevation",
    "humeral_angles",
    "humerus_direction",
    "path_distance",
    "resample_path",
]

F64 = NDArray[np.float64]

HUMERAL_CHANNELS = (Channel("elevation", "deg"), Channel("plane", "deg"))
GIRDLE_CHANNELS = (Channel("upward_rotation", "deg"), Channel("elevation", "deg"))
SPEED_CHANNELS = (Channel("speed", "deg/s"),)

#: Scapulothoracic upward rotation per degree of humero-thoracic elevation while the arm
#: rises: glenohumeral : scapular upward rotation 2.3 : 1 when raising (Braman et al.
#: 2009, J Shoulder Elbow Surg 18:960, bone-pin sensors), i.e. 1 / 3.3 = 0.30 of the
#: humero-thoracic elevation; 2.4 : 1 (0.29) in the scapular plane in adults (Dayanidhi
#: et al. 2005, Clin Biomech 20:600); Inman's 2 : 1 (0.33, 1944).
RHYTHM = 0.30
_DEG = 180.0 / math.pi


def _side(side: Side | str) -> Side:
    try:
        s = Side(side)
    except ValueError:
        raise ConfigError("side: " + expected("'left' or 'right'", side)) from None
    if s is Side.MIDLINE:
        raise ConfigError("side: " + expected("'left' or 'right'", side))
    return s


def humeral_angles(a_deg: ArrayLike, b_deg: ArrayLike, side: Side | str = Side.RIGHT) -> F64:
    """Elevation and plane (deg, shape (2, n)) from the Cardan angles ``a``, ``b`` (deg) of the arm.

    ``a``, ``b``: the first two intrinsic Y-X'-Z'' angles of the upper arm relative to
    the trunk (raw, without the joint-angle side signs). See the module docstring.
    """
    a = np.radians(np.asarray(a_deg, dtype=np.float64))
    b = np.radians(np.asarray(b_deg, dtype=np.float64))
    cb = np.cos(b)
    hx, hy, hz = -cb * np.sin(a), np.sin(b), -np.cos(a) * cb
    elevation = np.degrees(np.arccos(np.clip(-hz, -1.0, 1.0)))
    lateral = -hy if _side(side) is Side.RIGHT else hy
    plane = np.degrees(np.arctan2(lateral, hx))
    return np.vstack([np.atleast_1d(elevation), np.atleast_1d(plane)])


class _Aligned:
    """The heading alignment of a joint's two filters at the neutral pose, from the samples of the pose itself.

    Each 6-axis filter has its own heading, and with the trunk tilted a heading
    difference changes the angle between two segments (not only the plane), so the
    two headings are aligned when the neutral-pose calibration is set
    (:func:`nmre.dsp.heading_alignment`), from each sensor's latest finite orientation at
    or before the pose's sample time, taken once both streams have reached it
    (:class:`~nmre.dsp.joints.OrientationsAt`); the calibration then applies to the
    samples after that time. Which samples had *arrived* when the step finished depends on
    how the streams were cut into blocks; these do not.
    """

    def __init__(self, proximal: str, distal: str, joint: JointAngle) -> None:
        self._pose = OrientationsAt(proximal, distal)
        self._joint = joint
        self._want: tuple[ArrayLike | None, ArrayLike | None, float | None] | None = None
        #: The heading alignment last applied (None: none found, identity).
        self.heading: F64 | None = None

    def note(self, block: Block) -> None:
        self._pose.note(block)

    def ask(self, proximal_cal: ArrayLike | None, distal_cal: ArrayLike | None, at: float | None) -> None:
        """Calibrate at sample time ``at`` (None: the latest samples seen, now) once the orientations are there."""
        self._want = (proximal_cal, distal_cal, at)
        self._pose.ask(math.inf if at is None else at)

    def resolve(self) -> bool:
        """Apply the asked calibration to the joint if both streams have reached its time; True if applied."""
        if self._want is None:
            return False
        pose = self._pose.take()
        if pose is False:
            return False
        pcal, dcal, at = self._want
        self._want = None
        self.heading = None if not pose else heading_alignment(pose[0], pose[1], pcal, dcal)
        self._joint.set_calibration(proximal=pcal, distal=dcal, heading=self.heading, at=at)
        return True

    def forget(self) -> None:
        self._pose.clear()
        self._want = None


#: The common lean (:class:`CommonLean`): the trunk's tilt from the vertical at least this far (deg) ...
LEAN_MIN_DEG = 6.0
#: ... with the arm's tilt within this of the trunk's (deg: the arm went with the trunk, it did not hang) ...
LEAN_MATCH_DEG = 2.0
#: ... for at least this many arm samples, finished when the trunk is back within this of the vertical (deg).
LEAN_SAMPLES = 20
LEAN_UPRIGHT_DEG = 3.0


def _long_axis(q: F64) -> F64:
    """The segment's long axis (its z) in the world, (3, n), of unit quaternions (4, n)."""
    w, x, y, z = q
    return np.vstack([2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)])


def _added(total: float, terms: F64) -> float:
    """``total`` plus each of ``terms`` in order, one after the other (the result does not depend on how the
    terms were split over calls, unlike a pairwise sum)."""
    return float(np.cumsum(np.concatenate([[total], terms]))[-1])


class CommonLean:
    """The two filters' heading difference from a lean the trunk and the arm make together.

    Two 6-axis filters share the vertical but not the heading, and the neutral pose aligns
    their headings as if the arm sensor faced the way the trunk sensor does; the arm's own
    turn about its long axis at rest and either strap's rotation about its segment's long
    axis, which no static pose shows, are taken for a heading difference of the filters.
    Upright, that error does not enter the elevation; with the trunk tilted it does (the
    humerus is turned about the world's vertical, not the trunk's long axis). When the
    trunk leans with the arm held against its side, both long axes turn from the vertical
    by the same rotation: their horizontal directions (each in its own filter's world,
    the arm's through the current alignment) differ by exactly the heading error. This
    collects that difference, weighted by both tilts, over the arm samples where the
    trunk is at least :data:`LEAN_MIN_DEG` from the vertical and the arm's tilt is within
    :data:`LEAN_MATCH_DEG` of the trunk's (so an arm left hanging, or raised, is not
    taken), and gives the correction once :data:`LEAN_SAMPLES` such samples were seen and
    the trunk is back within :data:`LEAN_UPRIGHT_DEG` of the vertical.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sin = self._cos = 0.0
        self._n = 0
        self.correction_deg: float | None = None
        #: Sample times (s) of the first and the last arm sample taken (None before one is taken).
        self.start: float | None = None
        self.end: float | None = None
        #: Sample time (s) of the first arm sample the correction applies to (None until found).
        self.found_at: float | None = None
        #: Index, in the samples of the :meth:`feed` call that found it, of that first arm sample.
        self.found_index: int | None = None

    @property
    def samples(self) -> int:
        """Arm samples taken so far (the correction needs :data:`LEAN_SAMPLES`)."""
        return self._n

    def tilt(self, trunk_seg: F64) -> float:
        """The trunk's tilt from the vertical (deg) of its segment orientation (4,)."""
        return math.degrees(math.acos(min(1.0, max(-1.0, float(_long_axis(trunk_seg.reshape(4, 1))[2, 0])))))

    def feed(self, trunk_seg: F64, arm_seg: F64, times: F64 | None = None) -> float | None:
        """The arm's segment orientations (4, n) and the trunk's paired with each by time (4, n), or one trunk
        sample for all (4,), in the aligned world, taken sample by sample in order; the correction (rad, about
        the world's vertical, to apply to the arm before the current alignment) when it is found, else None.
        It is found at the first arm sample whose trunk is back upright after enough were taken
        (:attr:`found_index`; the samples after it are not taken). ``times`` (n,): the arm samples' times
        (for :attr:`start`, :attr:`end`, :attr:`found_at`; they change nothing in the correction)."""
        n = arm_seg.shape[1]
        qt = np.asarray(trunk_seg, dtype=np.float64).reshape(4, -1)
        if qt.shape[1] != n:
            qt = np.ascontiguousarray(np.broadcast_to(qt, (4, n)))
        zt, za = _long_axis(qt), _long_axis(arm_seg)
        tilt_t = np.degrees(np.arccos(np.clip(zt[2], -1.0, 1.0)))
        tilt_a = np.degrees(np.arccos(np.clip(za[2], -1.0, 1.0)))
        lean = tilt_t >= LEAN_MIN_DEG
        use = lean & (np.abs(tilt_a - tilt_t) <= LEAN_MATCH_DEG)
        before = self._n + np.cumsum(use) - use  # samples taken before each one
        done = ~lean & (before >= LEAN_SAMPLES) & (tilt_t <= LEAN_UPRIGHT_DEG)
        stop = int(np.argmax(done)) if np.any(done) else n
        use[stop:] = False
        if np.any(use):
            ax, ay, tx, ty = za[0][use], za[1][use], zt[0][use], zt[1][use]
            # |a||t| sin and cos of the angle from a to t, added one sample after the other (a pairwise sum of
            # each block's samples would depend on how the stream was cut into blocks, in the last bits)
            self._sin = _added(self._sin, ax * ty - ay * tx)
            self._cos = _added(self._cos, ax * tx + ay * ty)
            self._n += int(np.count_nonzero(use))
            if times is not None:
                taken = times[use]
                if self.start is None:
                    self.start = float(taken[0])
                self.end = float(taken[-1])
        if stop < n:
            eps = math.atan2(self._sin, self._cos)
            self.correction_deg = math.degrees(eps)
            self.found_index = stop
            if times is not None:
                self.found_at = float(times[stop])  # the first arm sample it applies to
            return eps
        return None


class HumeralElevation(Processor):
    """Streaming humero-thoracic elevation and plane of elevation (deg) from two orientation streams.

    Feed the trunk's and the upper arm's orientation blocks in arrival order (as
    :class:`~nmre.dsp.JointAngle`, which pairs them: zero-order hold of the trunk, NaN
    when it is more than ``max_lag`` s away). One output sample per upper-arm sample;
    channels ``elevation``, ``plane`` (module docstring).

    Parameters
    ----------
    trunk, arm : str
        Stream ids of the trunk's and the upper arm's orientation streams.
    side : Side or str
        The arm: ``"right"`` or ``"left"`` (the sign of the plane).
    name : str, optional
        Output stream id (default ``arm + ".humeral"``).
    """

    def __init__(
        self,
        trunk: str,
        arm: str,
        *,
        side: Side | str = Side.RIGHT,
        name: str | None = None,
        max_lag: float = 0.1,
    ) -> None:
        self.side = _side(side)
        self.name = name if name is not None else arm + ".humeral"
        # right-side signs: output rows (a, -b, c)
        self._joint = JointAngle(trunk, arm, side=Side.RIGHT, name=self.name, max_lag=max_lag)
        self.trunk, self.arm = trunk, arm
        self._aligned = _Aligned(trunk, arm, self._joint)
        self.common_lean = CommonLean()
        self._lean: tuple[F64, F64, F64] | None = None  # (trunk cal, arm cal, heading) while it is looked for
        self._cal: tuple[ArrayLike | None, ArrayLike | None] = (None, None)
        self._lean_from = -math.inf  # the lean is looked for in the arm samples after the neutral pose
        self._lean_q: deque[Block] = deque()  # arm samples the trunk stream has not reached yet (lean search)
        self._trunk_seen: deque[Block] = deque()  # the trunk's last LEAN_KEEP s (lean search)

    def set_calibration(
        self, trunk: ArrayLike | None = None, arm: ArrayLike | None = None, at: float | None = None
    ) -> None:
        """Sensor-to-segment rotations (``q_cal`` of :func:`~nmre.dsp.segment_calibration`) of both sensors.

        Called at the neutral pose (arm by the side, facing forward), ``at`` its sample time: the
        two filters' headings are aligned from both sensors' orientations at ``at``
        (:class:`_Aligned`; without ``at``, the newest seen), and the calibration applies to the
        samples after it. From then on the first lean the trunk and the arm make together
        corrects that alignment (:class:`CommonLean`; ``common_lean.correction_deg``).
        """
        self._cal = (trunk, arm)
        self._lean = None
        self.common_lean.reset()
        self._lean_q.clear()
        self._trunk_seen.clear()
        self._aligned.ask(trunk, arm, at)
        self._lean_from = -math.inf if at is None else float(at)
        self._calibrated()

    def _calibrated(self) -> None:
        """Once the neutral calibration is applied, look for the common lean in the samples after it."""
        if not self._aligned.resolve():
            return
        one = np.array([1.0, 0.0, 0.0, 0.0])
        trunk, arm = self._cal
        h = self._aligned.heading
        self._lean = (
            one if trunk is None else np.asarray(trunk, dtype=np.float64).reshape(4),
            one if arm is None else np.asarray(arm, dtype=np.float64).reshape(4),
            one if h is None else np.asarray(h, dtype=np.float64).reshape(4),
        )

    def reset(self) -> None:
        self._joint.reset()
        self._aligned.forget()
        self.common_lean.reset()
        self._lean = None
        self._lean_q.clear()
        self._trunk_seen.clear()

    #: Seconds of trunk samples kept for the lean search (an arm sample is paired with the trunk sample at or
    #: before its time, and the arm stream may lag the trunk by up to the joint's ``max_wait``).
    LEAN_KEEP = 3.0

    def _trunk_at(self, t: F64) -> F64:
        """The kept trunk sample at or before each time (4, n); NaN where none is within ``max_lag``."""
        out = np.full((4, t.shape[0]), np.nan)
        # the newest kept blocks back to the first one that starts at or before the earliest time
        near: list[Block] = []
        for b in reversed(self._trunk_seen):
            near.append(b)
            if b.times[0] <= t[0]:
                break
        if not near:
            return out
        near.reverse()
        tt = np.concatenate([b.times for b in near]) if len(near) > 1 else near[0].times
        qq = np.concatenate([b.values for b in near], axis=1) if len(near) > 1 else near[0].values
        j = np.searchsorted(tt, t, side="right") - 1
        near = (j >= 0) & (np.abs(t - tt[np.maximum(j, 0)]) <= self._joint.max_lag)
        out[:, near] = qq[:, j[near]]
        return out

    def _look_for_lean(self, block: Block) -> tuple[float, F64] | None:
        """Feed the arm's samples, each with the trunk sample at or before its time, to the common-lean estimate
        once the trunk stream has reached their time (so the pairs, and the sample it is found at, are the same
        in any split of the streams into blocks); once found, the sample time of the first arm sample it
        applies to and the corrected heading alignment."""
        assert self._lean is not None
        if block.stream == self.arm:
            if block.values.shape[0] != 4 or block.times[-1] <= self._lean_from:
                return None
            if block.times[0] <= self._lean_from:
                k = int(np.searchsorted(block.times, self._lean_from, side="right"))
                block = Block(
                    block.stream, block.times[k:], block.values[:, k:], block.seq + k, 0, block.arrival
                )
            self._lean_q.append(block)
        else:
            self._trunk_seen.append(block)
            newest = float(block.times[-1])
            while len(self._trunk_seen) > 1 and self._trunk_seen[0].times[-1] < newest - self.LEAN_KEEP:
                self._trunk_seen.popleft()
        if not self._trunk_seen:
            return None
        reached = float(self._trunk_seen[-1].times[-1])
        q_arm = self._lean_q
        while q_arm and q_arm[0].times[-1] < float(q_arm[-1].times[-1]) - self._joint.max_wait:
            q_arm.popleft()  # the trunk has not come for 2 s: the joint gives these samples up too
        while q_arm:
            b = q_arm[0]
            k = int(np.searchsorted(b.times, reached, side="right"))
            if k == 0:
                return None
            t, q = b.times[:k], b.values[:, :k]
            if k < b.times.shape[0]:
                q_arm[0] = Block(b.stream, b.times[k:], b.values[:, k:], b.seq + k, 0, b.arrival)
            else:
                q_arm.popleft()
            found = self._feed_lean(t, q)
            if found is not None:
                return found
        return None

    def _feed_lean(self, t: F64, q: F64) -> tuple[float, F64] | None:
        assert self._lean is not None
        q_t = self._trunk_at(t)
        ok = np.all(np.isfinite(q), axis=0) & np.all(np.isfinite(q_t), axis=0)
        if not np.any(ok):
            return None
        idx = np.flatnonzero(ok)
        cal_t, cal_a, h = self._lean
        lean = self.common_lean
        arm_seg = quat_multiply(h, quat_multiply(q[:, idx], cal_a))
        eps = lean.feed(quat_multiply(q_t[:, idx], cal_t), arm_seg, t[idx])
        if eps is None:
            return None
        assert lean.found_index is not None
        turn = np.array([math.cos(0.5 * eps), 0.0, 0.0, math.sin(0.5 * eps)])
        return float(t[idx[lean.found_index]]), quat_multiply(turn, h)[:, 0]

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self.name, StreamKind.ANGLE, HUMERAL_CHANNELS)

    def process(self, block: Block) -> Block:
        self._aligned.note(block)
        self._calibrated()
        if self._lean is not None and block.n_samples and block.stream in (self.arm, self.trunk):
            found = self._look_for_lean(block)
            # from that arm sample on (the joint has not computed it yet: it waits for the trunk)
            if found is not None:
                at, heading = found
                cal_t, cal_a, _ = self._lean
                self._joint.set_calibration(
                    proximal=cal_t, distal=cal_a, heading=heading, at=float(np.nextafter(at, -math.inf))
                )
                self._lean = None
                self._lean_q.clear()
                self._trunk_seen.clear()
        out = self._joint.process(block)
        if out.times.shape[0] == 0:
            return Block(self.name, out.times, np.zeros((2, 0)), out.seq, out.missing_before, out.arrival)
        v = humeral_angles(out.values[0], -out.values[1], self.side)
        return out_block(out, self.name, v)


class GirdleElevation(Processor):
    """Shoulder-girdle upward rotation and elevation (deg) from trunk and scapula orientations.

    ``upward_rotation``: the rotation of the scapula (acromion) sensor's segment about
    the trunk's AP axis, positive when its lateral end rises (the ``abduction`` of the
    scapula relative to the trunk, :class:`~nmre.dsp.JointAngle` with the side's signs).
    ``elevation``: ``upward_rotation - rhythm x`` the humeral elevation (the newest
    finite sample of the humeral stream at or before each scapula sample by sample time;
    NaN when there is none within ``max_lag + 0.2`` s): the girdle's rise beyond the
    normal scapulohumeral rhythm, i.e. the shrug. A scapula sample waits until the
    humeral stream has reached its time (as :class:`~nmre.dsp.JointAngle`'s distal
    samples wait for the proximal stream), or is given up (NaN elevation if nothing near
    has come) once the scapula stream has run :data:`MAX_WAIT` s beyond it, so how the
    streams were cut into blocks changes no output value.

    The scapula's rotation combines the clavicle's elevation at the sternoclavicular
    joint and the scapula's own upward rotation; a single sensor cannot separate them,
    so the rhythm is a population figure (:data:`RHYTHM`, individual spread of about
    10 deg at 125 deg of elevation, Dayanidhi et al. 2005): a patient's own rhythm may
    differ, and the limit on the elevation is a therapist setting.

    Parameters
    ----------
    trunk, scapula : str
        Orientation stream ids.
    humeral : str
        The :class:`HumeralElevation` stream of the same side (channel 0: elevation).
    side : Side or str
        ``"right"`` or ``"left"``.
    rhythm : float
        Upward rotation per degree of humeral elevation (default :data:`RHYTHM`).
    """

    def __init__(
        self,
        trunk: str,
        scapula: str,
        humeral: str,
        *,
        side: Side | str = Side.RIGHT,
        rhythm: float = RHYTHM,
        name: str | None = None,
        max_lag: float = 0.1,
    ) -> None:
        if not (isinstance(rhythm, (int, float)) and math.isfinite(rhythm) and 0.0 <= rhythm < 1.0):
            raise ConfigError("rhythm: " + expected("a number in [0, 1)", rhythm))
        self.side = _side(side)
        self.name = name if name is not None else scapula + ".girdle"
        self._joint = JointAngle(trunk, scapula, side=self.side, name=self.name, max_lag=max_lag)
        self.humeral, self.rhythm = humeral, float(rhythm)
        self.max_lag = float(max_lag)
        self._aligned = _Aligned(trunk, scapula, self._joint)
        self.reset()

    #: Longest a scapula sample waits for the humeral stream (s of scapula sample time), as JointAngle's.
    MAX_WAIT = JointAngle.MAX_WAIT
    #: Humeral samples kept (s of sample time behind the newest).
    KEEP = 10.0

    def set_calibration(
        self, trunk: ArrayLike | None = None, scapula: ArrayLike | None = None, at: float | None = None
    ) -> None:
        """As :meth:`HumeralElevation.set_calibration` (headings aligned at the neutral pose's ``at``)."""
        self._aligned.ask(trunk, scapula, at)
        self._aligned.resolve()

    def reset(self) -> None:
        self._joint.reset()
        self._aligned.forget()
        self._hum_t = np.zeros(0)  # finite humeral elevation samples: times and values
        self._hum_e = np.zeros(0)
        self._hum_last = -math.inf  # the humeral stream's newest sample time (finite or not)
        self._pending: list[Block] = []  # the joint's output, waiting for the humeral stream

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self.name, StreamKind.ANGLE, GIRDLE_CHANNELS)

    def _humeral_at(self, t: F64) -> F64:
        """The newest finite humeral elevation at or before each time; NaN where it is stale or there is none."""
        ht = self._hum_t
        if not ht.shape[0]:
            return np.full(t.shape[0], np.nan)
        j = np.searchsorted(ht, t, side="right") - 1
        jj = np.maximum(j, 0)
        stale = (j < 0) | (np.abs(t - ht[jj]) > max(self.max_lag, 0.0) + 0.2)
        return np.where(stale, np.nan, self._hum_e[jj])

    def _flush(self, seq: int, arrival: float) -> Block:
        """The waiting samples the humeral stream has reached (or that waited too long), as one block."""
        limit = max(self._hum_last, self._joint._last[self._joint.distal] - self.MAX_WAIT)
        parts = take_ready(self._pending, limit, [])
        if not parts:
            return Block(self.name, np.zeros(0), np.zeros((2, 0)), seq, 0, arrival)
        t = parts[0].times if len(parts) == 1 else np.concatenate([p.times for p in parts])
        up = parts[0].values[1] if len(parts) == 1 else np.concatenate([p.values[1] for p in parts])
        elev = up - self.rhythm * self._humeral_at(t)
        return Block(self.name, t, np.vstack([up, elev]), parts[0].seq, parts[0].missing_before, arrival)

    def process(self, block: Block) -> Block:
        if block.stream == self.humeral:
            v = checked_values(block, 2, f"GirdleElevation humeral input {block.stream!r}")
            t = block.times
            if t.shape[0]:
                ok = np.isfinite(v[0])
                if np.any(ok):
                    self._hum_t = np.concatenate([self._hum_t, t[ok]])
                    self._hum_e = np.concatenate([self._hum_e, v[0][ok]])
                    keep = int(np.searchsorted(self._hum_t, self._hum_t[-1] - self.KEEP, side="left"))
                    if keep > self._hum_t.shape[0] // 2:
                        self._hum_t, self._hum_e = self._hum_t[keep:].copy(), self._hum_e[keep:].copy()
                self._hum_last = max(self._hum_last, float(t[-1]))
            return self._flush(block.seq, block.arrival)
        self._aligned.note(block)
        self._aligned.resolve()  # a neutral calibration whose pose's time both streams have now reached
        out = self._joint.process(block)
        if out.times.shape[0]:
            self._pending.append(out)
        return self._flush(out.seq, out.arrival)


class AngularSpeed(Processor):
    """The norm of an IMU's gyroscope after its bias is removed at rest, deg/s (IMU in, one channel out).

    The bias is :class:`~nmre.dsp.GyroBias`'s (the mean gyro over still periods), with
    the same stillness threshold as the orientation filters of the drills (6 deg/s:
    :data:`nmre.drills._common.STILL_GYRO`, a worn MEMS gyro's bias alone can reach 2
    deg/s per axis) held for ``still_time`` seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        still_time: float = 1.0,
        gyro_threshold: float = math.radians(6.0),
        name: str | None = None,
    ) -> None:
        self._bias = GyroBias(rate, gyro_threshold=gyro_threshold, still_time=still_time)
        self.name = name

    def reset(self) -> None:
        self._bias.reset()

    def _out(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".speed"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        if info.n_channels != 6:
            raise ConfigError(
                f"angular speed: expected an IMU stream with a gyroscope (6 channels), got {info.id!r} "
                f"with {info.n_channels}"
            )
        return derived_info(info, self._out(info.id), StreamKind.ANGLE, SPEED_CHANNELS)

    def process(self, block: Block) -> Block:
        if not isinstance(block, Block):
            raise InputError("AngularSpeed: " + expected("a Block", type(block).__name__))
        corrected = self._bias.process(block)
        g = corrected.values[3:6]
        speed = np.sqrt(np.sum(g * g, axis=0))[None, :] * _DEG
        return out_block(block, self._out(block.stream), np.ascontiguousarray(speed))


#: Points each path is resampled to before it is compared (evenly in time over the rep).
PATH_POINTS = 50


def humerus_direction(elevation_deg: ArrayLike, plane_deg: ArrayLike) -> F64:
    """Unit vectors (3, n) of the humerus in the trunk frame from elevation and plane (deg), any side.

    ``(sin e cos p, sin e sin p, -cos e)``: the plane's sign is the arm's own (towards its
    side), so a left and a right arm doing the same pattern give the same path.
    """
    e = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    p = np.radians(np.asarray(plane_deg, dtype=np.float64))
    return np.vstack([np.sin(e) * np.cos(p), np.sin(e) * np.sin(p), -np.cos(e)])


def resample_path(
    t: ArrayLike, elevation_deg: ArrayLike, plane_deg: ArrayLike, points: int = PATH_POINTS
) -> F64:
    """The humerus direction path at ``points`` times evenly spread from the first to the last sample.

    The plane is unwrapped before it is interpolated (a path through +-180 deg stays continuous).
    """
    tt = np.asarray(t, dtype=np.float64)
    e = np.asarray(elevation_deg, dtype=np.float64)
    p = np.degrees(np.unwrap(np.radians(np.asarray(plane_deg, dtype=np.float64))))
    if tt.ndim != 1 or tt.shape[0] < 2 or e.shape != tt.shape or p.shape != tt.shape or points < 2:
        raise InputError(
            "path: "
            + expected("1-D times, elevation and plane of one length >= 2", (np.shape(t), np.shape(e)))
        )
    grid = np.linspace(tt[0], tt[-1], points)
    return humerus_direction(np.interp(grid, tt, e), np.interp(grid, tt, p))


def path_distance(x: ArrayLike, y: ArrayLike) -> float:
    """DTW distance between two direction paths (3, n) and (3, m): mean angle (rad) along the best alignment.

    Local cost: the great-circle angle between the two unit vectors; steps (1, 0), (0, 1),
    (1, 1); the distance is the accumulated cost of the optimal path divided by its number
    of steps (of two paths of one length: the mean angle between aligned samples).
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != 3 or b.shape[0] != 3 or a.shape[1] < 1 or b.shape[1] < 1:
        raise InputError("path_distance: " + expected("two paths of shape (3, n)", (a.shape, b.shape)))
    cost = np.arccos(np.clip(a.T @ b, -1.0, 1.0))
    acc, steps = _dtw_steps(np.ascontiguousarray(cost))
    return float(acc / steps)


@kernel
def _fill(cost: F64, acc: F64, steps: NDArray[np.int64]) -> None:
    n, m = cost.shape
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                acc[0, 0] = cost[0, 0]
                steps[0, 0] = 1
                continue
            best = np.inf
            nb = 0
            # ties: the diagonal first, then (i-1, j), then (i, j-1)
            if i > 0 and j > 0 and acc[i - 1, j - 1] < best:
                best, nb = acc[i - 1, j - 1], steps[i - 1, j - 1]
            if i > 0 and acc[i - 1, j] < best:
                best, nb = acc[i - 1, j], steps[i - 1, j]
            if j > 0 and acc[i, j - 1] < best:
                best, nb = acc[i, j - 1], steps[i, j - 1]
            acc[i, j] = cost[i, j] + best
            steps[i, j] = nb + 1


def _dtw_steps(cost: F64) -> tuple[float, int]:
    """(accumulated cost, number of cells) of the optimal DTW path through ``cost`` (n, m)."""
    acc = np.empty(cost.shape)
    steps = np.zeros(cost.shape, dtype=np.int64)
    _fill(cost, acc, steps)
    return float(acc[-1, -1]), int(steps[-1, -1])

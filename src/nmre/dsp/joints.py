"""Sensor-to-segment calibration, joint angles between two segments and trunk inclination.

Frames (project-wide): every segment frame has x anterior, y left, z superior
in the neutral standing pose; the world frame has x forward, y left, z up.
Orientation streams carry unit quaternions ``(w, x, y, z)`` mapping a local
frame to the world.

Calibration gives a fixed rotation ``q_cal`` (segment frame expressed in the
sensor frame) so that the segment's orientation is ``q_seg = q_sensor ⊗ q_cal``
(Favre et al. 2009, J Biomech 42:2330: vertical from a static pose, a
functional axis from a movement, the third axis by cross product).

Each 6-axis orientation filter has its own arbitrary heading (rotation about
the world vertical), so two segments' orientations only compare after their
headings are aligned: :func:`heading_alignment` takes both at a neutral pose
(segments facing the same way) and returns the vertical-axis rotation ``h``
that carries the distal filter's world frame into the proximal one's. Heading
drift after that (gyro bias about the vertical) is not corrected here.

Joint angles decompose the relative rotation ``q_J = q_prox⁻¹ ⊗ h ⊗ q_dist`` as
intrinsic Cardan angles Y-X'-Z'': about the proximal y (flexion/extension),
then about the floating x' (ab/adduction), then about the distal z''
(axial rotation). Because x' is perpendicular to both the proximal y and the
distal z, this is the joint coordinate system of Grood & Suntay (1983, J
Biomech Eng 105:136) for a knee with y medio-lateral and z along the long
axes.

Signs, with the raw Cardan angles ``a`` (about y), ``b`` (about x'), ``c``
(about z''), all right-handed:

* ``flexion = flexion_sign · a``. A positive rotation about +y (left) moves
  a segment's distal end (−z) backward, which is **knee flexion**, so the
  default ``flexion_sign = +1`` reports knee flexion positive in a squat. Use
  ``-1`` for the hip (flexion moves the thigh's distal end forward) and for
  ankle dorsiflexion.
* ``abduction``: the distal segment's distal end moving laterally. For a
  **right** knee lateral is −y, so ``abduction = −b``; for a left knee
  ``abduction = +b``. Knee abduction is **valgus** (positive), adduction is
  varus (negative).
* ``rotation``: internal rotation of the distal segment positive (its anterior
  face turning medially): right ``+c``, left ``−c``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre._numba import kernel
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, Side, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, out_block
from nmre.dsp._protect import protected
from nmre.dsp.quaternion import _cardan_yxz, _qmul, _qrotate, quat_from_matrix, quat_multiply
from nmre.errors import ConfigError, InputError, TimeError, expected

__all__ = [
    "JOINT_CHANNELS",
    "TRUNK_CHANNELS",
    "JointAngle",
    "TrunkInclination",
    "heading_alignment",
    "joint_angles",
    "segment_calibration",
]

F64 = NDArray[np.float64]

JOINT_CHANNELS = (Channel("flexion", "deg"), Channel("abduction", "deg"), Channel("rotation", "deg"))
TRUNK_CHANNELS = (Channel("inclination", "deg"), Channel("sagittal", "deg"), Channel("frontal", "deg"))
_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def segment_calibration(
    acc_static: ArrayLike, gyr_functional: ArrayLike | None = None, axis_hint: ArrayLike = (0.0, 1.0, 0.0)
) -> F64:
    """Sensor-to-segment rotation from a static neutral pose and, optionally, a functional movement.

    The segment's z axis (superior) is the mean accelerometer direction during
    the static pose. Its y axis (left) is the principal axis of the angular
    velocity during a functional movement about that axis (e.g. knee flexion/
    extension: the eigenvector of the largest eigenvalue of ``Σ ω ωᵀ``), made
    orthogonal to z; its sign is chosen to agree with ``axis_hint``. Without a
    functional movement, y is ``axis_hint`` made orthogonal to z. Then
    ``x = y × z``.

    Parameters
    ----------
    acc_static : array_like, shape (3,) or (3, n)
        Accelerometer in the sensor frame during the neutral pose, m/s^2.
    gyr_functional : array_like, shape (3, n), optional
        Gyroscope in the sensor frame during the functional movement, rad/s.
    axis_hint : array_like, shape (3,)
        Rough direction of the segment's y axis (left) in the sensor frame,
        used for the sign of the functional axis (default: the sensor's y).

    Returns
    -------
    ndarray, shape (4,)
        ``q_cal`` (w, x, y, z): the segment frame in sensor coordinates, so
        ``q_segment = q_sensor ⊗ q_cal``.

    Raises
    ------
    InputError
        On non-finite input, a zero static acceleration, or a functional axis
        parallel to gravity.
    """
    a = np.asarray(acc_static, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != 3 or a.shape[1] == 0 or not np.all(np.isfinite(a)):
        raise InputError(
            "acc_static: " + expected("finite accelerations of shape (3,) or (3, n)", np.shape(acc_static))
        )
    z = a.mean(axis=1)
    if np.linalg.norm(z) == 0:
        raise InputError("acc_static: " + expected("a non-zero mean acceleration", z.tolist()))
    z = z / np.linalg.norm(z)
    hint = np.asarray(axis_hint, dtype=np.float64)
    if hint.shape != (3,) or not np.all(np.isfinite(hint)):
        raise InputError("axis_hint: " + expected("a finite 3-vector", axis_hint))
    if gyr_functional is not None:
        g = np.asarray(gyr_functional, dtype=np.float64)
        if g.ndim != 2 or g.shape[0] != 3 or g.shape[1] < 2 or not np.all(np.isfinite(g)):
            raise InputError(
                "gyr_functional: "
                + expected("finite angular rates of shape (3, n), n >= 2", np.shape(gyr_functional))
            )
        w, v = np.linalg.eigh(g @ g.T)
        y = v[:, int(np.argmax(w))]
        if float(y @ hint) < 0:
            y = -y
    else:
        y = hint
    y = y - (y @ z) * z
    if np.linalg.norm(y) < 1e-6:
        raise InputError(expected("a functional axis not parallel to gravity", "an axis along gravity"))
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    return quat_from_matrix(np.column_stack([x, y, z]))


def _check_cal(q: ArrayLike | None, name: str) -> F64:
    if q is None:
        return _IDENTITY.copy()
    a = np.asarray(q, dtype=np.float64)
    if a.shape != (4,) or not np.all(np.isfinite(a)) or np.linalg.norm(a) == 0:
        raise ConfigError(f"{name}: " + expected("a finite non-zero quaternion (w, x, y, z)", q))
    return a / np.linalg.norm(a)


def _signs(side: Side | str, flexion_sign: float) -> F64:
    try:
        s = Side(side)
    except ValueError:
        raise ConfigError("side: " + expected("'left' or 'right'", side)) from None
    if s is Side.MIDLINE:
        raise ConfigError("side: " + expected("'left' or 'right'", side))
    if flexion_sign not in (1, -1, 1.0, -1.0):
        raise ConfigError("flexion_sign: " + expected("+1 or -1", flexion_sign))
    lr = 1.0 if s is Side.RIGHT else -1.0
    return np.array([float(flexion_sign), -lr, lr])


@kernel
def _joint_sample(
    pw: float,
    px: float,
    py: float,
    pz: float,
    dw: float,
    dx: float,
    dy: float,
    dz: float,
    cal: F64,
    signs: F64,
    out: F64,
    i: int,
) -> None:
    # cal rows: proximal q_cal, distal q_cal, heading alignment h; q_J = q_prox^-1 ⊗ h ⊗ q_dist
    pw, px, py, pz = _qmul(pw, px, py, pz, cal[0, 0], cal[0, 1], cal[0, 2], cal[0, 3])
    dw, dx, dy, dz = _qmul(dw, dx, dy, dz, cal[1, 0], cal[1, 1], cal[1, 2], cal[1, 3])
    dw, dx, dy, dz = _qmul(cal[2, 0], cal[2, 1], cal[2, 2], cal[2, 3], dw, dx, dy, dz)
    jw, jx, jy, jz = _qmul(pw, -px, -py, -pz, dw, dx, dy, dz)
    n = math.sqrt(jw * jw + jx * jx + jy * jy + jz * jz)
    a, b, c = _cardan_yxz(jw / n, jx / n, jy / n, jz / n)
    k = 180.0 / math.pi
    out[0, i] = signs[0] * a * k
    out[1, i] = signs[1] * b * k
    out[2, i] = signs[2] * c * k


@kernel
def _joint_batch(qp: F64, qd: F64, cal: F64, signs: F64, out: F64) -> None:
    for i in range(qd.shape[1]):
        _joint_sample(
            qp[0, i],
            qp[1, i],
            qp[2, i],
            qp[3, i],
            qd[0, i],
            qd[1, i],
            qd[2, i],
            qd[3, i],
            cal,
            signs,
            out,
            i,
        )


@kernel
def _ring_push(t: F64, q: F64, ring_t: F64, ring_q: F64, ptr: NDArray[np.int64]) -> None:
    """Append samples to a ring; ``ptr = [next write index, count]``."""
    cap = ring_t.shape[0]
    for i in range(t.shape[0]):
        h = ptr[0]
        ring_t[h] = t[i]
        for c in range(4):
            ring_q[c, h] = q[c, i]
        ptr[0] = (h + 1) % cap
        if ptr[1] < cap:
            ptr[1] += 1


@kernel
def _within(x: F64, limit: F64) -> bool:
    """Whether every value of ``x`` (n_channels, n) is finite and within ``limit[c]`` of its channel."""
    n_ch, n = x.shape
    for i in range(n):
        for c in range(n_ch):
            if not (abs(x[c, i]) <= limit[c]):  # False for NaN too
                return False
    return True


@kernel
def _ring_push_clean(
    t: F64,
    q: F64,
    limit: F64,
    ring_t: F64,
    ring_q: F64,
    ptr: NDArray[np.int64],
    t_distal: float,
    max_ring: int,
) -> int:
    """:func:`_ring_push` of a block whose every value is within ``limit``: 1 pushed, 0 a value is bad, 2 the
    ring must grow first (:meth:`JointAngle._make_room` would grow it: the push would overwrite a sample the
    distal stream, last at ``t_distal``, may still need); nothing pushed unless 1."""
    n, cap, count = t.shape[0], ring_t.shape[0], ptr[1]
    drop = count + n - cap  # the oldest samples the push would overwrite (_make_room's first test, the same)
    if (
        drop > 0
        and drop < count
        and cap < max_ring
        and t_distal > -math.inf
        and ring_t[(ptr[0] - count + drop) % cap] > t_distal
    ):
        return 2
    if not _within(q, limit):
        return 0
    _ring_push(t, q, ring_t, ring_q, ptr)
    return 1


@kernel
def _joint_zoh_clean(
    t: F64,
    qd: F64,
    limit: F64,
    ring_t: F64,
    ring_q: F64,
    ptr: NDArray[np.int64],
    cal: F64,
    signs: F64,
    max_lag: float,
    ahead: float,
    out: F64,
) -> bool:
    """:func:`_joint_zoh` of a distal block whose every value is within ``limit`` and whose last sample is
    at most ``ahead`` past the newest proximal one (nothing waits); False (nothing written) otherwise."""
    count = ptr[1]
    if count == 0 or not _within(qd, limit):
        return False
    cap = ring_t.shape[0]
    if not (t[t.shape[0] - 1] <= ring_t[(ptr[0] - 1 + cap) % cap] + ahead):
        return False
    _joint_zoh(t, qd, ring_t, ring_q, ptr, cal, signs, max_lag, out)
    return True


@kernel
def _joint_zoh(
    t: F64,
    qd: F64,
    ring_t: F64,
    ring_q: F64,
    ptr: NDArray[np.int64],
    cal: F64,
    signs: F64,
    max_lag: float,
    out: F64,
) -> None:
    """Joint angles at each distal sample with the newest proximal sample at or before it.

    NaN where that sample is more than ``max_lag`` seconds away from the distal one.
    """
    cap = ring_t.shape[0]
    count = ptr[1]
    newest = ptr[0] - 1 + cap
    k = 0  # steps back from the newest stored sample; non-increasing as t[i] grows (linear overall)
    for i in range(t.shape[0]):
        if count == 0:
            out[0, i] = np.nan
            out[1, i] = np.nan
            out[2, i] = np.nan
            continue
        if i == 0:
            while k < count - 1 and ring_t[(newest - k) % cap] > t[i]:
                k += 1
        else:
            while k > 0 and ring_t[(newest - k + 1) % cap] <= t[i]:
                k -= 1
        j = (newest - k) % cap
        if abs(t[i] - ring_t[j]) > max_lag:
            out[0, i] = np.nan
            out[1, i] = np.nan
            out[2, i] = np.nan
            continue
        _joint_sample(
            ring_q[0, j],
            ring_q[1, j],
            ring_q[2, j],
            ring_q[3, j],
            qd[0, i],
            qd[1, i],
            qd[2, i],
            qd[3, i],
            cal,
            signs,
            out,
            i,
        )


def _as_quat_rows(q: ArrayLike, name: str) -> F64:
    a = np.asarray(q, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != 4:
        raise InputError(f"{name}: " + expected("quaternions of shape (4,) or (4, n)", np.shape(q)))
    return np.ascontiguousarray(a)


def joint_angles(
    q_prox: ArrayLike,
    q_dist: ArrayLike,
    *,
    side: Side | str = Side.RIGHT,
    flexion_sign: float = 1.0,
    proximal_calibration: ArrayLike | None = None,
    distal_calibration: ArrayLike | None = None,
    heading: ArrayLike | None = None,
) -> F64:
    """Joint angles between two segments (batch), degrees.

    Parameters
    ----------
    q_prox, q_dist : array_like, shape (4,) or (4, n)
        Sensor (or segment) orientations ``(w, x, y, z)``, local to world.
    side : Side or str
        ``"right"`` or ``"left"`` (sign of abduction and rotation; see module notes).
    flexion_sign : float
        +1 (knee, default) or -1 (hip, ankle dorsiflexion).
    proximal_calibration, distal_calibration : array_like, shape (4,), optional
        ``q_cal`` from :func:`segment_calibration` (identity if omitted).
    heading : array_like, shape (4,), optional
        ``h`` from :func:`heading_alignment` (identity if omitted).

    Returns
    -------
    ndarray, shape (3, n)
        flexion, abduction (knee valgus positive), internal rotation, degrees.
    """
    qp = _as_quat_rows(q_prox, "q_prox")
    qd = _as_quat_rows(q_dist, "q_dist")
    n = max(qp.shape[1], qd.shape[1])
    if qp.shape[1] not in (1, n) or qd.shape[1] not in (1, n):
        raise InputError(expected("q_prox and q_dist with the same number of samples", (qp.shape, qd.shape)))
    qp = np.ascontiguousarray(np.broadcast_to(qp, (4, n)))
    qd = np.ascontiguousarray(np.broadcast_to(qd, (4, n)))
    out = np.empty((3, n))
    cal = _cal_rows(proximal_calibration, distal_calibration, heading)
    _joint_batch(qp, qd, cal, _signs(side, flexion_sign), out)
    return out


def _cal_rows(proximal: ArrayLike | None, distal: ArrayLike | None, heading: ArrayLike | None) -> F64:
    return np.ascontiguousarray(
        np.vstack(
            [
                _check_cal(proximal, "proximal_calibration"),
                _check_cal(distal, "distal_calibration"),
                _check_cal(heading, "heading"),
            ]
        )
    )


def _yaw(q: F64) -> float:
    """Heading (rad) of a frame's x axis in the world's horizontal plane."""
    w, x, y, z = q
    return math.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def heading_alignment(
    q_prox: ArrayLike,
    q_dist: ArrayLike,
    proximal_calibration: ArrayLike | None = None,
    distal_calibration: ArrayLike | None = None,
) -> F64:
    """Vertical-axis rotation aligning the distal filter's heading with the proximal one's.

    Take both sensor orientations while the subject stands in the neutral
    pose (segments facing the same way). Each calibrated segment's heading is
    the direction of its x axis (anterior) in the horizontal plane;
    ``h = Rz(yaw_prox - yaw_dist)``, so ``h ⊗ q_dist_segment`` faces the same
    way as the proximal segment. Valid because 6-axis filters share the
    vertical (gravity) but not the heading.

    Parameters
    ----------
    q_prox, q_dist : array_like, shape (4,) or (4, n)
        Sensor orientations at the neutral pose; with n samples, the heading is
        the circular mean of the per-sample headings.
    proximal_calibration, distal_calibration : array_like, shape (4,), optional
        ``q_cal`` of each sensor.

    Returns
    -------
    ndarray, shape (4,)
        ``h`` (w, x, y, z), a rotation about world z.
    """
    qp = _as_quat_rows(q_prox, "q_prox")
    qd = _as_quat_rows(q_dist, "q_dist")
    if not (np.all(np.isfinite(qp)) and np.all(np.isfinite(qd))):
        raise InputError(expected("finite quaternions", "NaN or inf"))
    cp = _check_cal(proximal_calibration, "proximal_calibration")
    cd = _check_cal(distal_calibration, "distal_calibration")

    def mean_yaw(q: F64, cal: F64) -> float:
        yaws = [_yaw(quat_multiply(q[:, i], cal)[:, 0]) for i in range(q.shape[1])]
        return math.atan2(float(np.mean(np.sin(yaws))), float(np.mean(np.cos(yaws))))

    half = 0.5 * (mean_yaw(qp, cp) - mean_yaw(qd, cd))
    return np.array([math.cos(half), 0.0, 0.0, math.sin(half)])


_NO_TIMES = np.zeros(0)  # the times of every empty output block (never written)
_NO_TIMES.flags.writeable = False


@protected("nan")
class JointAngle(Processor):
    """Streaming joint angles from a proximal and a distal orientation stream.

    Feed both streams' blocks to :meth:`process`, in arrival order. A proximal
    block is stored (a ring of the last ``buffer`` samples) and yields an empty
    output block; a distal block yields one output sample per distal sample,
    computed with the **newest stored proximal sample whose time is at or
    before** the distal sample's time (zero-order hold). If every stored
    proximal sample is newer, the oldest stored one is used; before any
    proximal sample has arrived the output is NaN, and so is any sample whose
    chosen proximal sample is more than ``max_lag`` seconds away (a stalled or
    far-ahead proximal stream never gives stale angles).

    A distal sample past the newest proximal sample (by more than ``ahead``,
    default 0) *waits* (in arrival order, nothing is reordered) until the
    proximal stream reaches its time, and is given up as NaN only when the
    distal stream has run ``max_wait`` seconds beyond it (a proximal dropout,
    reported as such by the gap monitor). So with ``ahead=0`` each angle pairs
    the distal sample with the proximal sample it would have in the complete
    recording, whatever the order and size of the blocks the two streams
    arrive in: a replay in the recorded BLE packets and one re-cut into 0.5 s
    blocks give the same angles (issue 10). The cost is latency: a distal
    sample waits for the proximal packet that covers its time (one packet,
    8-20 ms, when both sensors stream evenly). Live streams do not arrive
    evenly interleaved: one sensor's radio or LSL inlet stalls, then delivers
    a burst, and the waiting samples are computed when it comes. A proximal
    stream that runs ahead grows the ring instead of overwriting samples a
    later distal sample still needs (up to ``MAX_RING`` samples). In a replay,
    where the streams interleave block by block, nothing waits.

    Parameters
    ----------
    proximal, distal : str
        Stream ids of the proximal and distal orientation streams (4 channels).
    side, flexion_sign, proximal_calibration, distal_calibration, heading
        As for :func:`joint_angles`.
    name : str, optional
        Output stream id (default ``distal + ".angles"``).
    buffer : int
        Proximal samples kept, default 256 (must cover how far the proximal
        stream can run ahead of the distal one); grows to twice the largest
        proximal block seen, so a replay in large blocks loses nothing.
    max_lag : float
        Largest time difference (s) between a distal sample and the proximal
        sample used for it, default 0.1.
    max_wait : float
        Longest a distal sample waits for the proximal stream, in seconds of
        distal sample time, default :data:`MAX_WAIT`.
    ahead : float
        How far (s) a distal sample may run past the newest proximal sample and
        still be computed at once with it, default 0 (it waits; see above). A
        positive value trades the angles' independence of arrival order for
        latency (up to ``max_lag``).

    Output: an ANGLE stream with channels flexion, abduction, rotation (deg).
    """

    #: Default ``max_wait`` (s): a stall of one stream that ends within 2 s is a burst to catch up,
    #: longer is a dropout. The dropout notice reaches both screens within a second (issue 11), so
    #: a joint angle that waits 2 s for its partner hides nothing a therapist would not already see.
    MAX_WAIT = 2.0
    #: Largest proximal ring (samples) a proximal stream running ahead may grow it to.
    MAX_RING = 1 << 16

    def __init__(
        self,
        proximal: str,
        distal: str,
        *,
        side: Side | str = Side.RIGHT,
        flexion_sign: float = 1.0,
        proximal_calibration: ArrayLike | None = None,
        distal_calibration: ArrayLike | None = None,
        heading: ArrayLike | None = None,
        name: str | None = None,
        buffer: int = 256,
        max_lag: float = 0.1,
        max_wait: float | None = None,
        ahead: float = 0.0,
    ) -> None:
        if proximal == distal:
            raise ConfigError(expected("different proximal and distal stream ids", (proximal, distal)))
        if not (isinstance(buffer, int) and buffer >= 1):
            raise ConfigError("buffer: " + expected("an int >= 1", buffer))
        if not (max_lag >= 0):
            raise ConfigError("max_lag: " + expected("a time >= 0 s", max_lag))
        self.max_lag = float(max_lag)
        if not (0.0 <= ahead <= max_lag):
            raise ConfigError("ahead: " + expected(f"a time from 0 to max_lag ({max_lag} s)", ahead))
        self.ahead = float(ahead)
        max_wait = self.MAX_WAIT if max_wait is None else max_wait
        if not (max_wait >= 0 and math.isfinite(max_wait)):
            raise ConfigError("max_wait: " + expected("a finite time >= 0 s", max_wait))
        self.max_wait = float(max_wait)
        self.proximal = proximal
        self.distal = distal
        self.name = name if name is not None else distal + ".angles"
        self._signs = _signs(side, flexion_sign)
        self._cal = _cal_rows(proximal_calibration, distal_calibration, heading)
        self._ring_t = np.zeros(buffer)
        self._no_output = np.zeros((3, 0))  # the (empty) output for a proximal block, made once
        self._ring_q = np.zeros((4, buffer))
        self._ptr = np.zeros(2, dtype=np.int64)
        self._last = {proximal: -math.inf, distal: -math.inf}  # last sample time of each input
        self._pending: list[Block] = []  # distal samples waiting for the proximal stream, in order
        self._done = -math.inf  # the last distal sample time computed
        self._next: list[tuple[float, F64]] = []  # calibrations from a sample time on, oldest first

    def set_calibration(
        self,
        proximal: ArrayLike | None = None,
        distal: ArrayLike | None = None,
        heading: ArrayLike | None = None,
        at: float | None = None,
    ) -> None:
        """Replace the sensor-to-segment rotations and heading alignment (identity where ``None``).

        ``at`` (a sample time, s): the new calibration applies to the distal samples after it,
        the ones at or before it keep the calibration they had, whenever they are computed. So a
        calibration step that completed at a sample time changes the same samples in any split of
        the streams into blocks. Without ``at``, or if samples after it have been computed
        already, it applies from the next sample computed.
        """
        rows = _cal_rows(proximal, distal, heading)
        if at is None or not at >= self._done:
            self._next.clear()  # superseded: a calibration is the whole set of rotations
            self._cal = rows
            return
        self._next = [(t, r) for t, r in self._next if t < at] + [(float(at), rows)]

    def reset(self) -> None:
        self._ptr[:] = 0
        self._last = dict.fromkeys(self._last, -math.inf)
        self._pending = []
        self._done = -math.inf
        while self._next:  # a calibration is kept across a reset, as set_calibration's without `at` is
            self._cal = self._next.pop(0)[1]

    def proximal_at(self, times: ArrayLike) -> F64:
        """The stored proximal sample (4, n) :func:`_joint_zoh` pairs with a distal sample at each time.

        The newest stored sample at or before each time (the oldest stored one if all are newer);
        NaN before any proximal sample has arrived and where that sample is more than ``max_lag`` away.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        out = np.full((4, t.shape[0]), np.nan)
        count, cap = int(self._ptr[1]), self._ring_t.shape[0]
        if not count or not t.shape[0]:
            return out
        order = (np.arange(int(self._ptr[0]) - count, int(self._ptr[0])) + cap) % cap
        ring_t = self._ring_t[order]
        j = np.maximum(np.searchsorted(ring_t, t, side="right") - 1, 0)
        near = np.abs(t - ring_t[j]) <= self.max_lag
        out[:, near] = self._ring_q[:, order[j[near]]]
        return out

    def _newest_proximal(self) -> float:
        count = int(self._ptr[1])
        if not count:
            return -math.inf
        return float(self._ring_t[(int(self._ptr[0]) - 1) % self._ring_t.shape[0]])

    def _make_room(self, n: int) -> None:
        """Grow the ring rather than overwrite proximal samples the distal stream has not reached."""
        cap, count = self._ring_t.shape[0], int(self._ptr[1])
        drop = count + n - cap  # the oldest samples the push would overwrite
        t_distal = self._last[self.distal]
        while drop > 0 and drop < count and cap < self.MAX_RING and t_distal > -math.inf:
            # after the push the oldest kept sample is the drop-th oldest; a later distal sample
            # needs the newest proximal sample at or before it, so that one must be at or before
            # the distal stream's last time
            oldest_kept = self._ring_t[(int(self._ptr[0]) - count + drop) % cap]
            if oldest_kept <= t_distal:
                return
            self._grow(min(2 * cap, self.MAX_RING))
            cap = self._ring_t.shape[0]
            drop = count + n - cap

    def _angles(self, block: Block) -> Block:
        t = np.ascontiguousarray(block.times, dtype=np.float64)
        q = np.ascontiguousarray(block.values, dtype=np.float64)
        n = t.shape[0]
        if self._next and n and t[n - 1] > self._next[0][0]:
            # a calibration from a sample time inside the block: the samples up to it keep the old one
            parts, i = [], 0
            while self._next and t[n - 1] > self._next[0][0]:
                k = max(i, int(np.searchsorted(t, self._next[0][0], side="right")))
                if k > i:
                    parts.append(self._zoh(t[i:k], q[:, i:k]))
                self._cal, i = self._next.pop(0)[1], k
            parts.append(self._zoh(t[i:], q[:, i:]))
            out = np.concatenate(parts, axis=1)
        else:
            out = self._zoh(t, q)
        if n:
            self._done = float(t[n - 1])
        return out_block(block, self.name, out)

    def _zoh(self, t: F64, q: F64) -> F64:
        out = np.empty((3, t.shape[0]))
        _joint_zoh(
            np.ascontiguousarray(t),
            np.ascontiguousarray(q),
            self._ring_t,
            self._ring_q,
            self._ptr,
            self._cal,
            self._signs,
            self.max_lag,
            out,
        )
        return out

    def _ready(self, block: Block, lag: float = 0.0) -> int:
        """How many leading samples of a block can be computed now.

        A waiting sample is computed once a proximal sample at or after its time has come
        (``lag`` 0: the burst after a stall gives each its own-time partner), or given up
        ``max_wait`` after it; a sample that has not waited may use one up to ``lag`` older.
        """
        limit = max(self._newest_proximal() + lag, self._last[self.distal] - self.max_wait)
        return int(np.searchsorted(block.times, limit, side="right"))

    def _flush(self, first: Block | None = None) -> Block:
        """The waiting distal samples that can be computed now, as one block (up to the next gap)."""
        limit = max(self._newest_proximal(), self._last[self.distal] - self.max_wait)  # as _ready's
        parts = take_ready(self._pending, limit, [] if first is None else [first])
        if not parts:
            return Block(self.name, np.zeros(0), self._no_output, 0, 0, math.nan)
        if len(parts) == 1:
            one = parts[0]
            return one if one.stream == self.name else self._angles(one)
        computed = [p if p.stream == self.name else self._angles(p) for p in parts]
        return Block(
            self.name,
            np.concatenate([c.times for c in computed]),
            np.concatenate([c.values for c in computed], axis=1),
            parts[0].seq,
            parts[0].missing_before,
            parts[-1].arrival,
        )

    def _check_order(self, block: Block) -> None:
        """Sample times of each input must not go back across blocks (a zero-order hold needs order)."""
        if block.times.shape[0]:
            last = self._last[block.stream]
            if block.times[0] < last:
                raise TimeError(
                    f"JointAngle input {block.stream!r}: sample times must not go back, "
                    f"got {float(block.times[0])!r} s after {last!r} s"
                )
            self._last[block.stream] = float(block.times[-1])

    def _grow(self, cap: int) -> None:
        """Enlarge the proximal ring to ``cap`` samples, keeping what it holds, oldest first."""
        old_cap, (head, count) = self._ring_t.shape[0], (int(self._ptr[0]), int(self._ptr[1]))
        order = (np.arange(head - count, head) + old_cap) % old_cap
        ring_t, ring_q = np.zeros(cap), np.zeros((4, cap))
        ring_t[:count], ring_q[:, :count] = self._ring_t[order], self._ring_q[:, order]
        self._ring_t, self._ring_q = ring_t, ring_q
        self._ptr[:] = (count % cap, count)

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self.name, StreamKind.ANGLE, JOINT_CHANNELS)

    def process(self, block: Block) -> Block:
        if not isinstance(block, Block):
            raise InputError("JointAngle: " + expected("a Block", type(block).__name__))
        if block.stream == self.proximal:
            q = checked_values(block, 4, f"JointAngle proximal input {block.stream!r}")
            self._check_order(block)
            if 2 * q.shape[1] > self._ring_t.shape[0]:
                self._grow(2 * q.shape[1])  # a replay in large blocks must not overwrite what it needs
            if int(self._ptr[1]) + q.shape[1] > self._ring_t.shape[0]:
                self._make_room(q.shape[1])
            _ring_push(
                np.ascontiguousarray(block.times, dtype=np.float64), q, self._ring_t, self._ring_q, self._ptr
            )
            if self._pending:  # the distal samples that waited for these
                out = self._flush()
                return Block(self.name, out.times, out.values, out.seq, out.missing_before, block.arrival)
            return Block(self.name, block.times[:0], self._no_output, block.seq, 0, block.arrival)
        if block.stream != self.distal:
            raise InputError(
                "JointAngle: " + expected(f"a block of {self.proximal!r} or {self.distal!r}", block.stream)
            )
        q = checked_values(block, 4, f"JointAngle distal input {block.stream!r}")
        self._check_order(block)
        n = q.shape[1]
        if not self._pending and (not n or block.times[n - 1] <= self._newest_proximal() + self.ahead):
            return self._angles(
                Block(block.stream, block.times, q, block.seq, block.missing_before, block.arrival)
            )
        # some samples run ahead of the proximal stream: they wait (and so does all that follows them)
        block = Block(block.stream, block.times, q, block.seq, block.missing_before, block.arrival)
        first = None
        if not self._pending:
            k = self._ready(block, self.ahead)
            if k:
                first = self._angles(
                    Block(
                        block.stream,
                        block.times[:k],
                        q[:, :k],
                        block.seq,
                        block.missing_before,
                        block.arrival,
                    )
                )
                block = Block(block.stream, block.times[k:], q[:, k:], block.seq + k, 0, block.arrival)
        self._pending.append(block)
        out = self._flush(first)
        return Block(self.name, out.times, out.values, out.seq, out.missing_before, block.arrival)

    def _process_clean(self, block: Block, q: F64, limit: F64) -> Block | None:
        """:meth:`process` of the usual block in one kernel call (a proximal block while no distal sample
        waits and the ring has room; a distal block none of whose samples has to wait), its values
        checked in the same call; ``None`` (nothing changed) otherwise."""
        t = block.times
        n = t.shape[0]
        if not n or q.shape[0] != 4 or self._pending or not t.flags.c_contiguous:
            return None
        if self._next and block.stream == self.distal and t[n - 1] > self._next[0][0]:
            return None  # a calibration from a sample time in this block: process splits it there
        stream = block.stream
        last = self._last
        if stream == self.proximal:
            if t[0] < last[stream] or 2 * n > self._ring_t.shape[0]:
                return None
            # the kernel asks for room as process makes it before its push (_make_room, when it would grow
            # the ring); it depends on the times only, so if the values turn out bad, process (behind the
            # screen) finds the room made and makes none
            t_distal = last[self.distal]
            done = _ring_push_clean(
                t, q, limit, self._ring_t, self._ring_q, self._ptr, t_distal, self.MAX_RING
            )
            if done == 2:
                self._make_room(n)
                done = _ring_push_clean(
                    t, q, limit, self._ring_t, self._ring_q, self._ptr, t_distal, self.MAX_RING
                )
            if done != 1:
                return None
            last[stream] = float(t[n - 1])
            return Block.derived(self.name, _NO_TIMES, self._no_output, block.seq, 0, block.arrival)
        if stream != self.distal or t[0] < last[stream]:
            return None
        out = np.empty((3, n))
        if not _joint_zoh_clean(
            t,
            q,
            limit,
            self._ring_t,
            self._ring_q,
            self._ptr,
            self._cal,
            self._signs,
            self.max_lag,
            self.ahead,
            out,
        ):
            return None
        last[stream] = self._done = float(t[n - 1])
        return Block.derived(self.name, t, out, block.seq, block.missing_before, block.arrival)

    def pop_events(self) -> list[Event]:
        return []


def take_ready(pending: list[Block], limit: float, parts: list[Block]) -> list[Block]:
    """Take from the front of ``pending`` (blocks waiting, in order) the samples at or before ``limit`` onto
    ``parts``, splitting the block the limit falls in, and stopping before a block with a gap when ``parts``
    holds samples already (a gap inside one output block cannot be told downstream: the next call)."""
    while pending:
        b = pending[0]
        if parts and b.missing_before:
            break
        k = int(np.searchsorted(b.times, limit, side="right"))
        if k == 0:
            break
        if k < b.times.shape[0]:
            parts.append(Block(b.stream, b.times[:k], b.values[:, :k], b.seq, b.missing_before, b.arrival))
            pending[0] = Block(b.stream, b.times[k:], b.values[:, k:], b.seq + k, 0, b.arrival)
            break
        parts.append(pending.pop(0))
    return parts


class OrientationsAt:
    """Two orientation streams' samples at a sample time ``at``, taken once both streams have reached it.

    A calibration found at a sample time (the neutral pose's ``at``) needs each sensor's orientation
    of that moment: the latest finite sample at or before ``at`` of each stream. Which samples have
    *arrived* when the step finishes depends on how the streams were cut into blocks; so the
    orientations are taken once both streams have passed ``at`` (or one is :data:`WAIT` s past it:
    the other dropped out). References to each stream's last :data:`KEEP` blocks are kept for it.
    """

    #: Orientation blocks kept per stream (references, not copies).
    KEEP = 64
    #: Longest wait (s of the other stream's sample time) for a stream to reach ``at``.
    WAIT = 2.0

    def __init__(self, proximal: str, distal: str) -> None:
        self.streams = (proximal, distal)
        self.clear()

    def clear(self) -> None:
        self._seen: dict[str, deque[Block]] = {s: deque(maxlen=self.KEEP) for s in self.streams}
        #: The sample time asked for (``inf``: the latest seen), None when nothing is asked.
        self.at: float | None = None

    def note(self, block: Block) -> None:
        """Keep a block of either stream (call before asking for a time it may complete)."""
        if block.times.shape[0] and block.stream in self._seen:
            self._seen[block.stream].append(block)

    def ask(self, at: float) -> None:
        self.at = float(at)

    def take(self) -> tuple[F64, F64] | Literal[False] | None:
        """The two orientations (4,) at the asked time; ``False`` while a stream has not reached it;
        ``None`` (and the question dropped) if a stream has no finite sample."""
        at = self.at
        assert at is not None
        seen = (self._seen[self.streams[0]], self._seen[self.streams[1]])
        if at != math.inf:
            newest = [float(b[-1].times[-1]) if b else -math.inf for b in seen]
            if min(newest) < at and max(newest) < at + self.WAIT:
                return False
        self.at = None
        p, d = _finite_at(seen[0], at), _finite_at(seen[1], at)
        return None if p is None or d is None else (p, d)


def _finite_at(blocks: deque[Block], at: float) -> F64 | None:
    """The latest finite sample at or before ``at`` in ``blocks`` (oldest first); the oldest finite one if none is."""
    first = None
    for b in reversed(blocks):
        t, q = b.times, b.values
        ok = np.flatnonzero(np.all(np.isfinite(q), axis=0) & (t <= at))
        if ok.size:
            return np.array(q[:, ok[-1]], dtype=np.float64)
        fin = np.flatnonzero(np.all(np.isfinite(q), axis=0))
        if fin.size:
            first = np.array(q[:, fin[0]], dtype=np.float64)
    return first


@kernel
def _trunk(q: F64, cal: F64, out: F64) -> None:
    k = 180.0 / math.pi
    for i in range(q.shape[1]):
        w, x, y, z = _qmul(q[0, i], q[1, i], q[2, i], q[3, i], cal[0], cal[1], cal[2], cal[3])
        n = math.sqrt(w * w + x * x + y * y + z * z)
        w, x, y, z = w / n, x / n, y / n, z / n
        # world up expressed in the segment frame
        gx, gy, gz = _qrotate(w, -x, -y, -z, 0.0, 0.0, 1.0)
        gz = min(1.0, max(-1.0, gz))
        out[0, i] = math.acos(gz) * k
        out[1, i] = math.atan2(-gx, gz) * k
        out[2, i] = math.atan2(-gy, gz) * k


@kernel
def _trunk_clean(q: F64, limit: F64, cal: F64, out: F64) -> bool:
    """:func:`_trunk` of a block whose every value is within ``limit``; False (nothing written) otherwise."""
    if not _within(q, limit):
        return False
    _trunk(q, cal, out)
    return True


@protected("nan")
class TrunkInclination(Processor):
    """Trunk (or pelvis) inclination from vertical, from an orientation stream.

    With ``u = (u_x, u_y, u_z)`` the world's up direction in the segment frame:

    * ``inclination = acos(u_z)``: total angle between the segment's z axis
      and vertical, degrees, >= 0;
    * ``sagittal = atan2(-u_x, u_z)``: forward lean positive (flexion);
    * ``frontal = atan2(-u_y, u_z)``: lean toward the segment's left positive.

    Both components are taken in the segment's own frame, so they do not
    depend on heading (which a 6-axis filter cannot observe).

    Parameters
    ----------
    calibration : array_like, shape (4,), optional
        ``q_cal`` from :func:`segment_calibration` (identity if omitted).
    name : str, optional
        Output stream id (default: input id + ``".trunk"``).
    """

    def __init__(
        self, calibration: ArrayLike | None = None, name: str | None = None, *, mirror_frontal: bool = False
    ) -> None:
        self._cal = _check_cal(calibration, "calibration")
        self._next: tuple[float, F64] | None = None  # a calibration from a sample time on
        self.name = name
        #: frontal with the sign turned (lean toward the segment's *right* positive): a drill on the left side
        #: reads "its side up" as positive, as one on the right does (a pelvis's hip hitch)
        self.mirror_frontal = bool(mirror_frontal)

    def set_calibration(self, calibration: ArrayLike | None, at: float | None = None) -> None:
        """A new ``q_cal``; with ``at`` (a sample time, s) for the samples after it only (the ones up to
        it, in the block being processed, keep the old one), so a step that completed at a sample
        time changes the same samples in any split of the stream into blocks."""
        cal = _check_cal(calibration, "calibration")
        if at is None:
            self._cal, self._next = cal, None
        else:
            self._next = (float(at), cal)

    def reset(self) -> None:
        """Stateless but for a calibration still to take effect (it does, as one without ``at``)."""
        if self._next is not None:
            self._cal, self._next = self._next[1], None

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".trunk"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self._out_id(info.id), StreamKind.ANGLE, TRUNK_CHANNELS)

    def process(self, block: Block) -> Block:
        q = checked_values(block, 4, f"TrunkInclination input {block.stream!r}")
        out = np.empty((3, q.shape[1]))
        t, nxt = block.times, self._next
        if nxt is not None and t.shape[0] and t[t.shape[0] - 1] > nxt[0]:
            k = int(np.searchsorted(t, nxt[0], side="right"))
            head, tail = np.empty((3, k)), np.empty((3, q.shape[1] - k))
            _trunk(np.ascontiguousarray(q[:, :k]), self._cal, head)
            self._cal, self._next = nxt[1], None
            _trunk(np.ascontiguousarray(q[:, k:]), self._cal, tail)
            out[:, :k], out[:, k:] = head, tail
        else:
            _trunk(q, self._cal, out)
        if self.mirror_frontal:
            np.negative(out[2], out=out[2])
        return out_block(block, self._out_id(block.stream), out)

    def _process_clean(self, block: Block, q: F64, limit: F64) -> Block | None:
        """:meth:`process` of a block none of whose values is bad, checked in the same kernel call."""
        if q.shape[0] != 4 or self._next is not None:
            return None
        out = np.empty((3, q.shape[1]))
        if not _trunk_clean(q, limit, self._cal, out):
            return None
        if self.mirror_frontal:
            np.negative(out[2], out=out[2])
        return Block.derived(
            self._out_id(block.stream), block.times, out, block.seq, block.missing_before, block.arrival
        )

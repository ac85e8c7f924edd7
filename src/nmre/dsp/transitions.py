"""Sit-to-stand and stand-to-sit transitions from one trunk or pelvis accelerometer (no gyroscope).

:class:`SitToStand` follows the sensor through *movement episodes* and finds, in
each, the transitions by the vertical displacement of the sensor, as sit2standpy /
scikit-digital-health do from a lumbar accelerometer (Adamowicz et al. 2020), made
causal and able to run in clinic mode (repeated transitions, no long stillness):

1. **Movement.** The vector standard deviation of the accelerometer over the last
   ``window`` (0.2 s; skdh uses 0.3 s, but 0.2 s lets a 0.3 s pause between repeated
   transitions end an episode) — a rotation of the segment moves the
   gravity vector through the axes, so a lean is seen even when the norm does not
   change. An episode begins when it exceeds ``move`` (0.3 m/s²) and is dated back to
   the last sample under ``still`` (0.1 m/s², skdh's moving-SD stillness threshold);
   it ends once it stays under ``still`` — and the moving mean of the norm within
   ``still_dev`` (0.2 m/s², skdh) of the resting norm — for ``still_time`` (0.1 s), dated to the
   first sample of the window that was still (the window's length back). Optionally
   (``turn_move``/``turn_still``, as the sit-to-stand drill sets them) the turn rate of the
   low-passed gravity direction starts an episode too and must be low for it to end: a slow
   rise (4-6 s) hardly changes the moving SD or the norm, but the trunk and pelvis tilt.
2. **Vertical acceleration** ``a_v = |f| - g0``: the specific force's norm minus the
   resting norm (tracked during stillness, so a sensor's scale error cancels). It
   needs no orientation, and its error is second order in the horizontal
   acceleration (``|a_h|² / 2g``: 0.05 m/s² at 1 m/s²) — unlike projecting on a
   low-passed gravity, whose lag during a 40° trunk flexion costs ``g (1 - cos δ)``,
   0.6 m/s² at δ = 20°.
3. **Displacement.** Over the episode (still at both ends), the vertical velocity is
   the integral of ``a_v`` with its linear drift removed so that it is 0 at both ends
   (the zero-velocity update of sit2standpy's integration between stillness), and
   the displacement its integral.
4. **Transitions.** The displacement's turning points with a prominence of
   ``displacement`` (0.2 m) split the episode; each part that moves the sensor by at
   least that much with a vertical speed of at least ``velocity`` (0.2 m/s,
   sit2standpy) is a transition: **up = sit-to-stand, down = stand-to-sit**. The
   hip rises 0.35–0.45 m from a 0.45 m chair; a 45° trunk flexion lowers a sternum
   sensor 0.45 m above the hip by 0.13 m, so 0.2 m separates the two (sit2standpy's
   0.125 m is for a lumbar sensor). Parts shorter than ``min_duration`` (0.5 s) or
   longer than ``max_duration`` (6 s) are rejected. With ``lever`` (the sensor's height
   above the hips) the sensor's displacement is first taken back to the hips through its
   inclination, so a deep trunk flexion does not lower a sternum sensor into a
   transition of its own.

Each transition is raised as ``transition.start`` (at its start) and ``transition.end``
(at its end; payload ``transition`` (1-based count), ``direction``, ``start``, ``end``,
``transition_duration`` s, ``displacement`` m, ``peak_velocity`` m/s,
``trunk_flexion_peak`` and ``inclination_peak`` deg from :class:`AccInclination`),
both decided ``still_time`` + ``window`` after the movement stopped (``detected_at``).
A part that moved but failed a criterion is raised as ``transition.rejected`` with
the reason. The output stream carries ``moving`` (0/1), ``transitions`` (count so
far) and the three inclination angles.

Limits: a sit-to-stand chained into a stand-to-sit with no pause at all is split at
the top of the displacement, which integration error makes less sure than a pause;
an episode longer than ``max_episode`` (12 s) is cut there; the start is the start
of the movement (the trunk begins to flex), the end the end of all movement (the
body is still, upright standing or sitting).

References
----------
Adamowicz L., Christakis Y., Czech M.D., Adamusiak T. (2020) SciKit Digital Health:
Python package for streamlined wearable inertial sensor data processing; and
Adamowicz L. et al. (2020) Assessment of sit-to-stand transfers during daily life
using an accelerometer on the lower back, Sensors 20(22):6618.
Schenkman M., Berger R.A., Riley P.O., Mann R.W., Hodge W.A. (1990) Whole-body
movements during rising to standing from sitting, Phys Ther 70:638–648 (phases).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from nmre._numba import kernel
from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, nonfinite_event, out_block
from nmre.dsp._protect import protected
from nmre.dsp.filters import design_sos, group_delay
from nmre.dsp.inclination import _rotation, lp_axes, up_angles
from nmre.errors import ConfigError, InputError, expected

__all__ = ["SIT_TO_STAND_CHANNELS", "SitToStand", "transition_segments"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

SIT_TO_STAND_CHANNELS = (
    Channel("moving", "1"),
    Channel("transitions", "count"),
    Channel("inclination", "deg"),
    Channel("sagittal", "deg"),
    Channel("frontal", "deg"),
)

# integer state
S_PHASE = 0  # 0 still, 1 moving
S_POS = 1  # next slot of the motion ring
S_COUNT = 2  # samples in the motion ring
S_HPOS = 3  # next slot of the history ring
S_HCOUNT = 4  # samples in the history ring
S_LOW = 5  # history slot of the last sample with motion below `still`
S_EP_START = 6  # history slot where the episode began
S_EP_LEN = 7  # samples in the episode so far
S_QUIET = 8  # consecutive samples below `still` while moving
S_DONE = 9  # 1: an episode ended at the last sample consumed
S_G0_SET = 10
S_GPOS = 11  # next slot of the gravity-direction ring
S_GCOUNT = 12  # directions in that ring
S_QFULL = 13  # consecutive samples still and not turning while moving
S_SIZE = 14
# float state
F_G0 = 0  # resting norm of the specific force
F_G0_EP = 1  # the resting norm when the episode began
F_SIZE = 2


@kernel
def _sts_kernel(
    x: F64,
    times: F64,
    i0: int,
    prm: F64,
    ist: I64,
    fst: F64,
    ring: F64,
    sums: F64,
    sos: F64,
    zi: F64,
    unit_zi: F64,
    started: I64,
    rot: F64,
    a: F64,
    g: F64,
    h_t: F64,
    h_norm: F64,
    h_ang: F64,
    gring: F64,
    out: F64,
    ang: F64,
) -> tuple[int, int]:
    """Consume samples from ``i0`` until an episode ends (``ist[S_DONE] = 1``) or the block does; returns
    (consumed, skipped). The whole block's arrays are passed with an offset rather than sliced: a slice has
    another layout, and numba compiled a second kernel for it in the middle of a session.

    prm = [move, still, still_samples, max_episode_samples, g0_alpha, still_dev, turn_move, turn_still]
    (turn rates in rad/s). ``gring`` (3, L): the unit gravity directions of the last L samples. ``ring`` (3, W)
    the last W samples for the moving SD (``sums`` row 2: the moving sum of the norm); ``h_*`` the
    history rings (time, norm, angles (3, H)). ``out`` row 0: moving; ``ang`` (3, n): inclination,
    sagittal, frontal.
    """
    move, still = prm[0], prm[1]
    still_n = int(prm[2])
    max_ep = int(prm[3])
    alpha = prm[4]
    still_dev = prm[5]
    turn_move = prm[6]
    turn_still = prm[7]
    glag = gring.shape[1]
    w = ring.shape[1]
    hcap = h_t.shape[0]
    skipped = 0
    n = x.shape[1]
    for i in range(i0, n):
        a[0] = x[0, i]
        a[1] = x[1, i]
        a[2] = x[2, i]
        ok = lp_axes(sos, zi, unit_zi, started, a, g)
        if not ok:  # a bad sample: no decision, the state holds
            skipped += 1
            out[0, i] = float(ist[S_PHASE])
            ang[0, i] = math.nan
            ang[1, i] = math.nan
            ang[2, i] = math.nan
            continue
        up_angles(g, rot, ang, i)
        # turn rate of the low-passed gravity direction over the last `glag` samples (a slow lean that
        # hardly changes the moving SD still turns the sensor)
        gn = math.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])
        turn = 0.0
        gp = ist[S_GPOS]
        if gn > 0.0:
            ux, uy, uz = g[0] / gn, g[1] / gn, g[2] / gn
            if ist[S_GCOUNT] == glag:
                c = ux * gring[0, gp] + uy * gring[1, gp] + uz * gring[2, gp]
                turn = math.acos(min(1.0, max(-1.0, c))) * prm[8]
            gring[0, gp] = ux
            gring[1, gp] = uy
            gring[2, gp] = uz
            ist[S_GPOS] = gp + 1 if gp + 1 < glag else 0
            if ist[S_GCOUNT] < glag:
                ist[S_GCOUNT] += 1
        norm = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
        # moving vector SD over the last w samples
        p = ist[S_POS]
        for c in range(3):
            old = ring[c, p]
            sums[0, c] += a[c] - old
            sums[1, c] += a[c] * a[c] - old * old
            ring[c, p] = a[c]
        sums[2, 0] += norm - ring[3, p]
        ring[3, p] = norm
        p += 1
        if p == w:
            p = 0
            for c in range(4):  # exact re-sum once per turn: no drift
                s1 = 0.0
                s2 = 0.0
                for j in range(w):
                    s1 += ring[c, j]
                    s2 += ring[c, j] * ring[c, j]
                if c < 3:
                    sums[0, c] = s1
                    sums[1, c] = s2
                else:
                    sums[2, 0] = s1
        ist[S_POS] = p
        if ist[S_COUNT] < w:
            ist[S_COUNT] += 1
        cnt = ist[S_COUNT]
        var = 0.0
        for c in range(3):
            mean = sums[0, c] / cnt
            var += max(0.0, sums[1, c] / cnt - mean * mean)
        m = math.sqrt(var)
        if ist[S_G0_SET] == 0:
            fst[F_G0] = norm
            ist[S_G0_SET] = 1
        dev = abs(sums[2, 0] / cnt - fst[F_G0])
        calm = m < still and dev < still_dev  # dates the end of an episode
        quiet = calm and turn < turn_still  # ends it (the gravity direction settled too)
        # history
        hp = ist[S_HPOS]
        h_t[hp] = times[i]
        h_norm[hp] = norm
        h_ang[0, hp] = ang[0, i]
        h_ang[1, hp] = ang[1, i]
        h_ang[2, hp] = ang[2, i]
        ist[S_HPOS] = hp + 1 if hp + 1 < hcap else 0
        if ist[S_HCOUNT] < hcap:
            ist[S_HCOUNT] += 1
        full = cnt == w
        if ist[S_PHASE] == 0:
            if quiet or not full:
                ist[S_LOW] = hp
                if full:
                    fst[F_G0] += alpha * (norm - fst[F_G0])
            elif m > move or turn > turn_move:
                ist[S_PHASE] = 1
                ist[S_EP_START] = ist[S_LOW]
                ist[S_EP_LEN] = (hp - ist[S_LOW]) % hcap + 1
                ist[S_QUIET] = 0
                ist[S_QFULL] = 0
                fst[F_G0_EP] = fst[F_G0]
        else:
            ist[S_EP_LEN] += 1
            if calm:
                ist[S_QUIET] += 1
            else:
                ist[S_QUIET] = 0
            if quiet:
                ist[S_QFULL] += 1
            else:
                ist[S_QFULL] = 0
            if ist[S_QFULL] >= still_n or ist[S_EP_LEN] >= max_ep:
                ist[S_DONE] = 1
                ist[S_PHASE] = 0
                ist[S_LOW] = hp
                out[0, i] = 0.0
                return i + 1 - i0, skipped
        out[0, i] = float(ist[S_PHASE])
    return n - i0, skipped


def _turning_points(d: F64, delta: float) -> list[int]:
    """Indices of the alternating extrema of ``d`` that stand out by ``delta`` (peak detection with a
    hysteresis, Billauer's peakdet), with the first and the last index."""
    tps = [0]
    mx = mn = float(d[0])
    imx = imn = 0
    look = 0  # 0: either, 1: a maximum, -1: a minimum
    for k in range(1, d.shape[0]):
        v = float(d[k])
        if v > mx:
            mx, imx = v, k
        if v < mn:
            mn, imn = v, k
        if look >= 0 and v < mx - delta:
            if imx > 0:
                tps.append(imx)
            look, mn, imn = -1, v, k
        elif look <= 0 and v > mn + delta:
            if imn > 0:
                tps.append(imn)
            look, mx, imx = 1, v, k
    tps.append(d.shape[0] - 1)
    return sorted(set(tps))


def transition_segments(
    t: ArrayLike,
    norm: ArrayLike,
    g0: float,
    displacement: float = 0.2,
    velocity: float = 0.2,
    tilt: ArrayLike | None = None,
    lever: float = 0.0,
) -> list[tuple[int, int, float, float, str | None]]:
    """Transitions of one movement episode, still at both ends (steps 2–4 of the module docstring).

    Parameters
    ----------
    t : array_like, shape (n,)
        Sample times, s.
    norm : array_like, shape (n,)
        Norm of the specific force, m/s².
    g0 : float
        Its resting value, m/s².
    displacement, velocity : float
        Least displacement (m) and vertical speed (m/s) of a transition.
    tilt : array_like, shape (n,), optional
        The sensor's inclination from vertical, rad, at the same times.
    lever : float
        Height of the sensor above the hips, m: the sensor's displacement is taken
        back to the hips' as ``d - lever (cos tilt - cos tilt[0])``, so that a
        sternum sensor lowered by a deep trunk flexion (0.45 m x (1 - cos 70 deg) =
        0.30 m) is not a transition of its own.

    Returns
    -------
    list of (i0, i1, displacement, peak_velocity, why)
        Index range, vertical displacement (m, + up), peak vertical speed (m/s) of
        each part between turning points; ``why`` is None for a transition, else the
        reason it is not one (parts below the displacement merge into the next).
    """
    tt = np.asarray(t, dtype=np.float64)
    av = np.asarray(norm, dtype=np.float64) - g0
    if tt.shape[0] < 3:
        return []
    dt = np.diff(tt, prepend=tt[0])
    v = np.cumsum(av * dt)
    span = tt[-1] - tt[0]
    v = v - v[-1] * (tt - tt[0]) / span  # zero velocity at both still ends
    d = np.cumsum(v * dt)
    if tilt is not None and lever > 0:
        c = np.cos(np.asarray(tilt, dtype=np.float64))
        c = np.where(np.isfinite(c), c, 1.0)
        d = d - lever * (c - c[0])
    out: list[tuple[int, int, float, float, str | None]] = []
    cur = 0
    tps = _turning_points(d, displacement)
    for k in tps[1:]:
        dd = float(d[k] - d[cur])
        if abs(dd) < displacement and k != tps[-1]:
            continue  # too small to be a transition: part of the next one
        pv = float(np.abs(v[cur : k + 1]).max())
        if abs(dd) < displacement:
            why: str | None = f"moved {abs(dd):.2f} m, less than {displacement:g} m"
        elif pv < velocity:
            why = f"vertical speed {pv:.2f} m/s, less than {velocity:g} m/s"
        else:
            why = None
        out.append((cur, k, dd, pv, why))
        cur = k
    return out


@protected("nan", reports_nonfinite=True)
class SitToStand(Processor):
    """Sit-to-stand / stand-to-sit detector on one trunk or pelvis accelerometer (see the module docstring).

    Parameters
    ----------
    fs : float
        Sampling rate, Hz (≥ 20).
    window : float
        Moving-SD window, s (0.2).
    move, still : float
        Moving-SD thresholds of movement and of stillness, m/s² (0.3, 0.1).
    still_dev : float
        Stillness also needs the moving mean of the norm within this of the resting
        norm, m/s² (0.2, skdh's "accel moving avg"): a slow rise that hardly rotates
        the sensor is still movement.
    still_time : float
        Stillness that ends an episode, s (0.1).
    turn_move, turn_still : float
        Turn rate of the low-passed gravity direction (over ``turn_lag`` s) that starts an
        episode, and below which the sensor can be still, deg/s (None: not used; the
        sit-to-stand drill uses 4 and 2, quiet sitting and standing stay under 1 deg/s): a slow rise (4-6 s) hardly changes the moving SD, but the
        trunk and pelvis still tilt forward 15-40 deg. An episode ends once the sensor is also
        not turning; its end is dated by the moving SD and norm alone (the low-passed gravity
        direction settles about 0.2 s after the body).
    turn_lag : float
        Lag over which the turn rate is taken, s (0.1).
    displacement : float
        Least vertical displacement of a transition, m (0.2).
    velocity : float
        Least peak vertical speed, m/s (0.2).
    min_duration, max_duration : float
        Accepted transition durations, s (0.5, 6).
    max_episode : float
        Longest episode before it is cut, s (12).
    inclination_cutoff : float
        Low-pass corner of the inclination, Hz (1.5, :class:`AccInclination`).
    lever : float
        Height of the sensor above the hip joints, m (0: a pelvis sensor; about 0.33 for a
        sternum sensor). The displacement is taken back to the hips through the sensor's
        inclination (:func:`transition_segments`).
    calibration : array_like, shape (4,), optional
        ``q_cal`` of the neutral pose (for the inclination angles).
    name : str
        Event source and output stream id (default ``"transitions"``).
    """

    def __init__(
        self,
        fs: float,
        *,
        window: float = 0.2,
        move: float = 0.3,
        still: float = 0.1,
        still_dev: float = 0.2,
        still_time: float = 0.1,
        turn_move: float | None = None,
        turn_still: float | None = None,
        turn_lag: float = 0.1,
        displacement: float = 0.2,
        velocity: float = 0.2,
        min_duration: float = 0.5,
        max_duration: float = 6.0,
        max_episode: float = 12.0,
        inclination_cutoff: float = 1.5,
        lever: float = 0.0,
        calibration: ArrayLike | None = None,
        name: str = "transitions",
    ) -> None:
        if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs >= 20):
            raise ConfigError("SitToStand: fs " + expected("a rate >= 20 Hz", fs))
        vals = {
            "window": window,
            "move": move,
            "still": still,
            "still_dev": still_dev,
            "still_time": still_time,
            "turn_lag": turn_lag,
            "displacement": displacement,
            "velocity": velocity,
            "min_duration": min_duration,
            "max_duration": max_duration,
            "max_episode": max_episode,
        }
        for k, v in vals.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"SitToStand: {k} " + expected("a finite number > 0", v))
        if not still < move:
            raise ConfigError(
                f"SitToStand: expected still < move (hysteresis), got still={still!r}, move={move!r}"
            )
        if (turn_move is None) != (turn_still is None) or not (
            turn_move is None
            or (
                isinstance(turn_move, (int, float))
                and isinstance(turn_still, (int, float))
                and 0 < turn_still < turn_move
                and math.isfinite(turn_move)
            )
        ):
            raise ConfigError(
                "SitToStand: expected both turn_still and turn_move, 0 < turn_still < turn_move (hysteresis), "
                f"got turn_still={turn_still!r}, turn_move={turn_move!r}"
            )
        if not min_duration < max_duration <= max_episode:
            raise ConfigError(
                "SitToStand: "
                + expected(
                    "min_duration < max_duration <= max_episode", (min_duration, max_duration, max_episode)
                )
            )
        self.fs = float(fs)
        self.window, self.move, self.still, self.still_time = (
            float(window),
            float(move),
            float(still),
            float(still_time),
        )
        self.displacement, self.velocity = float(displacement), float(velocity)
        self.min_duration, self.max_duration, self.max_episode = (
            float(min_duration),
            float(max_duration),
            float(max_episode),
        )
        self.name = name
        self.still_dev = float(still_dev)
        if not (isinstance(lever, (int, float)) and math.isfinite(lever) and 0 <= lever <= 2.0):
            raise ConfigError("SitToStand: lever " + expected("a height of 0 to 2 m", lever))
        self.lever = float(lever)
        self.turn_move = math.inf if turn_move is None else float(turn_move)
        self.turn_still = math.inf if turn_still is None else float(turn_still)
        self._glag = max(1, round(float(turn_lag) * self.fs))
        self._w = max(2, round(self.window * self.fs))
        self._still_n = max(1, round(self.still_time * self.fs))
        self._hcap = round((self.max_episode + self.window + 1.0) * self.fs)
        self._prm = np.array(
            [
                self.move,
                self.still,
                float(self._still_n),
                float(round(self.max_episode * self.fs)),
                1.0 / (2.0 * self.fs),
                self.still_dev,
                math.radians(self.turn_move),
                math.radians(self.turn_still),
                1.0 / (self._glag / self.fs),
            ]
        )
        self.sos = design_sos("lowpass", inclination_cutoff, self.fs, 2)
        self._delay = max(0, round(float(group_delay(self.sos, self.fs, [0.0])[0]) * self.fs))
        self._unit_zi = np.ascontiguousarray(signal.sosfilt_zi(self.sos))
        self._rot = _rotation(calibration)
        self._alloc()

    def _alloc(self) -> None:
        self._ist = np.zeros(S_SIZE, dtype=np.int64)
        self._fst = np.zeros(F_SIZE)
        self._ring = np.zeros((4, self._w))
        self._sums = np.zeros((3, 3))
        self._zi = np.zeros((self.sos.shape[0], 3, 2))
        self._started = np.zeros(1, dtype=np.int64)
        self._a = np.zeros(3)
        self._g = np.zeros(3)
        self._h_t = np.zeros(self._hcap)
        self._h_norm = np.zeros(self._hcap)
        self._h_ang = np.zeros((3, self._hcap))
        self._gring = np.zeros((3, self._glag))
        self._count = 0
        self._events: list[Event] = []

    def reset(self) -> None:
        self._alloc()

    def set_calibration(self, calibration: ArrayLike | None) -> None:
        """Static calibration ``q_cal`` for the inclination angles (identity with None)."""
        self._rot = _rotation(calibration)

    @property
    def count(self) -> int:
        """Transitions found so far."""
        return self._count

    def output_info(self, info: StreamInfo) -> StreamInfo:
        if info.kind not in (StreamKind.ACC, StreamKind.IMU):
            raise ConfigError(
                f"SitToStand: expected an accelerometer or IMU stream, got {info.id!r} ({info.kind.value})"
            )
        return derived_info(info, self.name, StreamKind.ANGLE, SIT_TO_STAND_CHANNELS)

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def process(self, block: Block) -> Block:
        v = checked_values(block, None, f"SitToStand input {block.stream!r}")
        if v.shape[0] not in (3, 6):
            raise InputError(
                f"SitToStand input {block.stream!r}: "
                + expected("3 accelerometer rows (or 6 IMU rows)", v.shape[0])
            )
        v = np.ascontiguousarray(v)
        t = np.ascontiguousarray(block.times, dtype=np.float64)
        n = v.shape[1]
        out = np.empty((5, n))
        ang = out[2:]  # C-contiguous rows 2-4
        i = 0
        skipped = 0
        while i < n:
            k, sk = _sts_kernel(
                v,
                t,
                i,
                self._prm,
                self._ist,
                self._fst,
                self._ring,
                self._sums,
                self.sos,
                self._zi,
                self._unit_zi,
                self._started,
                self._rot,
                self._a,
                self._g,
                self._h_t,
                self._h_norm,
                self._h_ang,
                self._gring,
                out,
                ang,
            )
            skipped += sk
            out[1, i : i + k] = self._count
            i += k
            if self._ist[S_DONE]:
                self._ist[S_DONE] = 0
                self._episode(float(t[i - 1]))
                out[1, i - 1] = self._count
        if skipped:
            self._events.append(nonfinite_event(block, self.name, skipped))
        return out_block(block, self.name, out)

    def _episode(self, now: float) -> None:
        """Find the transitions of the episode that just ended (history slots start .. last)."""
        cap = self._hcap
        last = (self._ist[S_HPOS] - 1) % cap
        length = int(self._ist[S_EP_LEN])
        quiet = int(self._ist[S_QUIET])
        idx = (last - (length - 1) + np.arange(length)) % cap
        if int(self._ist[S_QFULL]) >= self._still_n:
            # the first still window ended `quiet` samples before the last one; the movement ended
            # where that window began, its length earlier
            idx = idx[: max(2, length - (quiet + self._w - 2))]
        tt, nn, ang = self._h_t[idx], self._h_norm[idx], self._h_ang[:, idx]
        # the inclination is low-passed (causal): advance it by the filter's delay for the lever
        tilt = np.radians(
            np.concatenate([ang[0, self._delay :], np.repeat(ang[0, -1:], min(self._delay, len(idx)))])
        )
        for i0, i1, dd, pv, why in transition_segments(
            tt, nn, float(self._fst[F_G0_EP]), self.displacement, self.velocity, tilt, self.lever
        ):
            start, end = float(tt[i0]), float(tt[i1])
            dur = end - start
            direction = "sit_to_stand" if dd > 0 else "stand_to_sit"
            if why is None and not self.min_duration <= dur <= self.max_duration:
                why = f"lasted {dur:.2f} s, outside {self.min_duration:g}-{self.max_duration:g} s"
            payload: dict[str, object] = {
                "direction": direction,
                "start": start,
                "end": end,
                "transition_duration": dur,
                "displacement": round(dd, 4),
                "peak_velocity": round(pv, 4),
                "trunk_flexion_peak": round(float(np.nanmax(ang[1, i0 : i1 + 1])), 3),
                "inclination_peak": round(float(np.nanmax(ang[0, i0 : i1 + 1])), 3),
            }
            if why is not None:
                payload["reason"] = why
                self._events.append(
                    Event(
                        end,
                        kinds.TRANSITION_REJECTED,
                        self.name,
                        payload,
                        therapist_message=f"movement not counted as a transition: {why}",
                        detected_at=now,
                    )
                )
                continue
            self._count += 1
            payload["transition"] = self._count
            self._events.append(
                Event(
                    start,
                    kinds.TRANSITION_START,
                    self.name,
                    {"transition": self._count, "direction": direction},
                    detected_at=now,
                )
            )
            self._events.append(
                Event(
                    end,
                    kinds.TRANSITION_END,
                    self.name,
                    payload,
                    therapist_message=(
                        f"{direction.replace('_', '-')} {self._count}: {dur:.2f} s, "
                        f"trunk flexion {payload['trunk_flexion_peak']:.0f} deg"
                    ),
                    detected_at=now,
                )
            )

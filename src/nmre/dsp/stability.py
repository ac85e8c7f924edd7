"""Limits of stability from one pelvis or trunk sensor: reaction time, velocity, excursions, directional control.

In a limits-of-stability (LOS) test the patient stands, a target appears in one of 8
directions at a distance set as a share of their limits, and they lean their centre of
gravity (COG) toward it as quickly and accurately as they can, without stepping, and
hold (NeuroCom SMART Balance Master LOS: 8 s per target; Biodex Balance System LOS).
A force plate gives the COG sway angle; here the **lean angle of one pelvis or trunk
sensor** (sagittal = AP, frontal = ML, degrees, from :class:`nmre.dsp.joints.
TrunkInclination` or :class:`nmre.dsp.inclination.AccInclination`) stands in for it:
in an ankle-strategy lean the body turns about the ankles like an inverted pendulum, so
the sensor's tilt is the COG sway angle (a hip strategy makes the trunk tilt more than
the COG: the excursions read high; say so to the therapist).

For one target with direction ``u`` (unit vector in the AP/ML plane) and distance ``D``
(deg), with ``p(t)`` the lean relative to the position at the cue, ``s = p·u`` the
movement toward the target and ``o = p·u⊥`` the movement across it:

* **primary movement**: from the movement onset to the first time after the peak of
  the on-axis speed (smoothed) that it falls below 10 % of that peak (the initial
  movement, before corrections);
* **reaction time (RT)**, s: cue to movement onset (NeuroCom: "time between the command to
  move and the first movement"), the onset being where the lean's speed toward the target first
  reaches 5 % of its peak (the kinematic onset of motor control, Teasdale et al. 1993, which
  ``movement_time`` also uses, so that RT and MT split at the same instant). Read the way a
  clinician reads a trace once the lean is over: the primary movement (from before the band
  crossing below to its end) is fitted as a whole with a minimum-jerk lean (Flash & Hogan 1985;
  the onset time and duration by least squares, offset and amplitude linear), and the onset is
  where the fitted speed reaches 5 % of its peak, :data:`ONSET_AT` of the fitted duration after
  its start. The lean's first tenths of a second are under the sway (a 4 s lean of 6 deg moves
  0.05 deg in its first 0.4 s), so no crossing of the measured speed can date them; the whole
  lean's shape can. Where the fit fails the onset is the band crossing below taken back along
  the rise of the acceleration (:func:`_rise_start`). The band crossing: the on-axis speed
  passes 10 % of its peak for good before the peak (sway or drift toward the target before the
  reaction stays below it); from there the onset is searched back to where the lean starts
  rising out of the sway: the last sample at which the on-axis speed was within the sway's
  speed band or its rate of change within the sway's (both measured before the cue, ``sway``);
* **movement velocity (MVL)**, deg/s: mean speed of the lean (its path length in both
  directions over the time) between 5 % and 95 % of the distance from the onset position to
  the primary endpoint (NeuroCom's definition of the centre-of-gravity velocity);
* **endpoint excursion (EPE)**, % of ``D``: ``s`` at the end of the primary movement;
* **maximum excursion (MXE)**, % of ``D``: the largest ``s`` during the trial;
* **directional control (DCL)**, %: from the movement onset until the lean's speed in every
  direction stops falling or is below 10 % of its peak (a curved path still comes back across after the
  movement toward the target has slowed), ``(on - off) / on · 100``
  with ``on`` the path travelled toward the target (sum of the positive steps of ``s``)
  and ``off`` the extraneous path (the steps away from it plus the path across, sum of
  ``|Δo|``): 100 % is a straight line to the target (NeuroCom's "amount of movement
  in the intended direction compared with the amount of extraneous movement").

References
----------
NeuroCom International (2008) Balance Manager Systems: Clinical Interpretation Guide —
Computerized Dynamic Posturography, Limits of Stability (RT, MVL, EPE, MXE, DCL).
Clark S., Rose D.J., Fujimoto K. (1997) Generalizability of the limits of stability
test in the evaluation of dynamic balance among older adults, Arch Phys Med Rehabil
78:1078–1084.
Pickerill M.L., Harter R.A. (2011) Validity and reliability of limits-of-stability
testing: a comparison of 2 postural stability evaluation devices, J Athl Train
46:600–606 (Biodex vs NeuroCom LOS).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.errors import InputError, expected

__all__ = ["DIRECTIONS", "LosMetrics", "direction_vector", "los_metrics"]

F64 = NDArray[np.float64]

#: The 8 target directions and their angle in the AP/ML plane (deg, 0 = forward, 90 = the patient's left).
DIRECTIONS: dict[str, float] = {
    "forward": 0.0,
    "forward_left": 45.0,
    "left": 90.0,
    "backward_left": 135.0,
    "backward": 180.0,
    "backward_right": 225.0,
    "right": 270.0,
    "forward_right": 315.0,
}


def direction_vector(direction: str | float) -> F64:
    """Unit vector (AP, ML) of a target direction: a name of :data:`DIRECTIONS` or an angle in degrees."""
    if isinstance(direction, str):
        if direction not in DIRECTIONS:
            raise InputError(
                "target direction: " + expected(f"one of {sorted(DIRECTIONS)} or an angle", direction)
            )
        deg = DIRECTIONS[direction]
    else:
        deg = float(direction)
        if not math.isfinite(deg):
            raise InputError("target direction: " + expected("a finite angle in degrees", direction))
    r = math.radians(deg)
    return np.array([math.cos(r), math.sin(r)])


@dataclass(frozen=True)
class LosMetrics:
    """One target's limits-of-stability metrics (definitions in the module docstring); NaN when not reached."""

    reaction_time: float  # s
    movement_velocity: float  # deg/s
    endpoint_excursion: float  # % of the target distance
    max_excursion: float  # % of the target distance
    directional_control: float  # %
    onset: float  # s, session time of the movement onset
    endpoint_time: float  # s, end of the primary movement
    reason: str | None = None  # why the metrics are NaN (no movement toward the target, ...)

    def to_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


#: Where a minimum-jerk movement's speed first reaches 5 % of its peak, fractions of its duration from its exact
#: start: 16 u^2 (1 - u)^2 = 0.05 (0.0594).
ONSET_AT = (1.0 - math.sqrt(1.0 - math.sqrt(0.05))) / 2.0
#: The fitted onset is used when it lies within this many seconds of the band crossing (else the fit took sway or a
#: second movement for the lean).
FIT_RANGE = 1.0

#: Furthest the onset is taken back from where the lean rose out of the sway along the rise of its acceleration, s.
RISE_BACK = 0.3
#: The middle of the acceleration's rise the onset is extrapolated from, fractions of its first peak.
RISE_BAND = (0.3, 0.7)


def _rise_start(tt: F64, acc: F64, k_peak: int, t_on: float) -> float:
    """Where the line through the middle of the acceleration's rise to its first peak (before ``k_peak``)
    meets zero, if that is before ``t_on`` (at most :data:`RISE_BACK` s before it); else ``t_on``."""
    k_a = int(np.argmax(acc[: k_peak + 1]))
    apk = float(acc[k_a])
    lo, hi = RISE_BAND
    below = np.flatnonzero(acc[: k_a + 1] <= lo * apk)
    if not apk > 0 or not below.size:
        return t_on
    k_lo = int(below[-1])
    k_hi = k_lo + int(np.flatnonzero(acc[k_lo : k_a + 1] >= hi * apk)[0])
    if k_hi - k_lo < 2:
        return t_on
    slope, intercept = np.polyfit(tt[k_lo : k_hi + 1], acc[k_lo : k_hi + 1], 1)
    if not slope > 0:
        return t_on
    return float(min(max(-intercept / slope, t_on - RISE_BACK), t_on))


def _min_jerk(u: F64) -> F64:
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _fitted_onset(tt: F64, s: F64, cue: float, t_on: float, t_peak: float, t_end: float) -> float:
    """The movement onset (5 % of the peak speed) of a minimum-jerk lean fitted to ``s`` from the cue to ``t_end``
    (least squares: start and duration, with offset and amplitude solved linearly), or NaN when the fit fails or
    lands more than :data:`FIT_RANGE` s from the band crossing ``t_on``."""
    from scipy.optimize import least_squares

    w = tt <= t_end
    x, y = tt[w], s[w]
    if x.shape[0] < 8:
        return math.nan

    def residual(q: F64) -> F64:
        b = _min_jerk((x - q[0]) / q[1])
        a = np.vstack([np.ones_like(b), b]).T
        coef = np.linalg.lstsq(a, y, rcond=None)[0]
        return np.asarray(a @ coef - y, dtype=np.float64)

    lo = np.array([cue - 0.5, 0.2])
    hi = np.array([max(t_peak, cue - 0.5 + 1e-3), max(2.0 * (t_end - cue) + 1.0, 0.3)])
    guess = np.clip(np.array([t_on, max(2.0 * (t_peak - t_on), 0.3)]), lo + 1e-6, hi - 1e-6)
    try:
        fit = least_squares(residual, guess, bounds=(lo, hi))
    except (ValueError, np.linalg.LinAlgError):
        return math.nan
    t0, dur = (float(v) for v in fit.x)
    onset = t0 + ONSET_AT * dur
    if not (fit.success and math.isfinite(onset) and abs(onset - t_on) <= FIT_RANGE):
        return math.nan
    return onset


def _smooth(x: F64, n: int) -> F64:
    if n <= 1:
        return x
    k = np.ones(n) / n
    return np.convolve(np.pad(x, (n // 2, n - 1 - n // 2), mode="edge"), k, mode="valid")


def los_metrics(
    t: ArrayLike,
    ap: ArrayLike,
    ml: ArrayLike,
    cue: float,
    direction: str | float,
    distance: float,
    smooth: float = 0.1,
    sway: tuple[float, float] = (0.0, 0.0),
    centre: tuple[float, float] | None = None,
) -> LosMetrics:
    """Limits-of-stability metrics of one target trial (batch; definitions in the module docstring).

    Parameters
    ----------
    t : array_like, shape (n,)
        Sample times, s (from the cue or shortly before it to the end of the trial).
    ap, ml : array_like, shape (n,)
        Lean angles, deg: AP (forward positive) and ML (to the patient's left positive).
    cue : float
        When the target appeared, s.
    direction : str or float
        Target direction (:data:`DIRECTIONS` name or angle, deg).
    distance : float
        Target distance, deg (> 0).
    smooth : float
        Moving-average length for the speeds, s (0.1).
    sway : (float, float)
        How fast the lean moves toward the target, deg/s, and how fast that speed changes,
        deg/s^2, with the patient standing at the centre: the patient's sway and the sensor's
        slow drift, for example ``max(0, mean + 2 SD)`` of the speed and ``mean |a| + 2 SD`` of its
        rate of change over the seconds before the cue, smoothed as here (default none). The
        movement onset is the last sample, before the speed passed 10 % of its peak for good,
        at which the speed was within the first or its rate of change within the second (each at
        least 1 % of the movement's peak; the rate at most 10 % of its peak; a speed band that reaches
        10 % of the peak speed cannot tell the lean from sway and is not used).
    centre : (float, float), optional
        The position (AP, ML, deg) the lean is measured from: the patient's centre, for example the mean lean
        over the half second before the cue. Default: the first sample after the cue (sway has usually moved
        the lean from the centre by then; a centre put in as a first sample would be a step, and its speed
        could outrun a slow lean's).
    """
    tt = np.asarray(t, dtype=np.float64)
    a, m = np.asarray(ap, dtype=np.float64), np.asarray(ml, dtype=np.float64)
    if tt.ndim != 1 or a.shape != tt.shape or m.shape != tt.shape or tt.shape[0] < 4:
        raise InputError(
            "los_metrics: " + expected("t, ap, ml of one length >= 4", (np.shape(t), np.shape(ap)))
        )
    if not (math.isfinite(distance) and distance > 0):
        raise InputError("los_metrics: distance " + expected("degrees > 0", distance))
    p = np.vstack([a, m])
    keep = (tt >= cue) & np.all(np.isfinite(p), axis=0)
    if keep.sum() < 4:
        nan = math.nan
        return LosMetrics(nan, nan, nan, nan, nan, nan, nan, "no samples after the cue")
    tt, p = tt[keep], p[:, keep]
    u = direction_vector(direction)
    perp = np.array([-u[1], u[0]])
    rel = p - (p[:, :1] if centre is None else np.asarray(centre, dtype=np.float64).reshape(2, 1))
    s = u @ rel
    o = perp @ rel
    dt = float(np.median(np.diff(tt)))
    w = max(1, round(smooth / dt))
    speed = _smooth(np.gradient(s, tt), w)
    mxe = 100.0 * float(s.max()) / distance
    k_peak = int(np.argmax(speed))
    vpk = float(speed[k_peak])
    nan = math.nan
    if not vpk > 0 or s.max() <= 0:
        return LosMetrics(nan, nan, nan, mxe, nan, nan, nan, "no movement toward the target")
    after = np.flatnonzero(speed[k_peak:] <= 0.1 * vpk)
    k_end = k_peak + int(after[0]) if after.size else s.shape[0] - 1
    s_end = float(s[k_end])
    # the onset: where the speed passed 10 % of its peak for good (sway and drift toward the target before the reaction
    # are not the reaction), searched back ...
    up = np.flatnonzero(speed[: k_peak + 1] <= 0.1 * vpk)
    k_up = int(up[-1]) if up.size else 0
    # ... to where the lean rose out of the sway: its speed within the sway's speed band, or its speed rising no faster
    # than sway makes it rise. Each band is at least 1 % of the movement's peak (on a noise-free lean the centred
    # smoothing's tail ahead of the onset is not movement). A slow lean whose speed at 10 % of its peak is no more
    # than sway's is dated by its acceleration alone: its speed cannot tell it from sway there.
    acc = np.gradient(speed, tt)
    apk = float(acc[: k_peak + 1].max())
    vband, aband = (float(v) if math.isfinite(v) else 0.0 for v in sway)
    vband = max(vband, 0.01 * vpk)
    aband = min(max(aband, 0.01 * apk), 0.1 * apk)
    still = acc[: k_up + 1] <= aband
    if vband < 0.1 * vpk:
        still |= speed[: k_up + 1] <= vband
    quiet = np.flatnonzero(still)
    # a lean already under way at the cue never falls back into the bands: the slowest moment before it
    k_on = int(quiet[-1]) if quiet.size else int(np.argmin(speed[: k_up + 1]))
    if s_end - float(s[k_on]) <= 0 or s_end <= 0:
        return LosMetrics(
            nan, nan, nan, mxe, nan, nan, nan, "the primary movement did not go toward the target"
        )
    # ... and the onset itself, 5 % of the lean's peak speed, from the whole lean's shape: a minimum-jerk lean fitted
    # from the cue to the end of the primary movement (the band crossing lags the start of a smooth movement, its
    # speed rising as the square of the time, most where the sway's band is wide; a slow lean's first 0.3 s is under
    # the sway). Failing that, taken back from the band crossing along the rise of the acceleration. The velocity
    # and the directional control still run from the band crossing, where the lean has left the sway.
    t_on = _fitted_onset(tt, s, cue, float(tt[k_on]), float(tt[k_peak]), float(tt[k_end]))
    if not math.isfinite(t_on):
        t_on = _rise_start(tt, acc, k_peak, float(tt[k_on]))
    rt = t_on - cue
    # velocity: the path of the lean (both directions) between 5 % and 95 % of the distance from the onset position
    # to the primary endpoint, over the time between them
    q = rel[:, k_on : k_end + 1] - rel[:, k_on : k_on + 1]
    dist = np.hypot(q[0], q[1])
    k5 = int(np.argmax(dist >= 0.05 * dist[-1]))
    k95 = int(np.argmax(dist >= 0.95 * dist[-1]))
    path = float(np.hypot(*np.diff(q[:, k5 : k95 + 1], axis=1)).sum())
    mvl = path / float(tt[k_on + k95] - tt[k_on + k5]) if k95 > k5 else nan
    # from the movement onset until the lean stops in every direction: a curved path still comes back across after the
    # movement toward the target has slowed
    total = _smooth(np.hypot(np.gradient(s, tt), np.gradient(o, tt)), w)
    tpk = float(total[k_on : k_end + 1].max())
    k_dcl = k_end  # ... while the lean's speed still falls (then sway takes over)
    while k_dcl + 1 < s.shape[0] and total[k_dcl] > 0.1 * tpk and total[k_dcl + 1] < total[k_dcl]:
        k_dcl += 1
    ds = np.diff(s[k_on : k_dcl + 1])
    do = np.diff(o[k_on : k_dcl + 1])
    on = float(ds[ds > 0].sum())
    off = float(-ds[ds < 0].sum() + np.abs(do).sum())
    dcl = 100.0 * (on - off) / on if on > 0 else nan
    return LosMetrics(rt, float(mvl), 100.0 * s_end / distance, mxe, dcl, t_on, float(tt[k_end]))

"""Limits-of-stability metrics against the analytic values of a minimum-jerk lean."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from nmre.dsp.stability import DIRECTIONS, ONSET_AT, RISE_BAND, direction_vector, los_metrics
from nmre.errors import InputError

FS = 200.0


def mj(u: np.ndarray | float) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


def mj_speed(u: float) -> float:  # d mj / du
    return 30 * u**2 * (1 - u) ** 2


def lean(
    direction: str,
    rt: float = 0.4,
    move: float = 1.0,
    reach: float = 0.9,
    distance: float = 8.0,
    wobble: float = 0.0,
    correction: bool = True,
):  # type: ignore[no-untyped-def]
    """A lean toward a target: still, a minimum-jerk primary movement to ``reach`` of the distance,
    then (optionally) a slower correction to the full distance. Returns t, ap, ml."""
    t = np.arange(0, 8, 1 / FS)
    s = reach * distance * mj((t - rt) / move)
    if correction:
        s = s + (1 - reach) * distance * mj((t - rt - move - 0.5) / 1.5)
    o = wobble * np.sin(
        2 * np.pi * 2.0 * np.clip(t - rt, 0, move) / move
    )  # two wobbles across, during the move
    u = direction_vector(direction)
    perp = np.array([-u[1], u[0]])
    p = np.outer(u, s) + np.outer(perp, o) + np.array([[1.5], [-0.7]])  # not starting at 0
    return t, p[0], p[1]


def mj_acc(u: np.ndarray | float) -> np.ndarray:  # d^2 mj / du^2
    u = np.asarray(u, dtype=np.float64)
    return 60 * u * (1 - u) * (1 - 2 * u)


def rise_start() -> float:
    """Where the least-squares line through a minimum-jerk acceleration's rise between RISE_BAND of its
    first peak meets zero, in movement times from the start (continuous: 10^4 points)."""
    u_pk = 0.5 - math.sqrt(3) / 6  # the first peak of the acceleration
    a_pk = float(mj_acc(u_pk))
    lo, hi = (brentq(lambda u, f=f: float(mj_acc(u)) - f * a_pk, 0.0, u_pk) for f in RISE_BAND)
    u = np.linspace(lo, hi, 10_000)
    slope, intercept = np.polyfit(u, mj_acc(u), 1)
    return float(-intercept / slope)


def test_rise_start_of_a_minimum_jerk_lean_is_its_start() -> None:
    # the physics: the extrapolated rise dates the movement's start within 2 % of its duration (the chord of a
    # rise that curves over toward its peak meets zero a little early: -1.4 %)
    assert -0.02 < rise_start() < 0.0


def test_onset_at_is_where_a_minimum_jerk_speed_reaches_5_percent_of_its_peak() -> None:
    u = brentq(lambda u: mj_speed(u) - 0.05 * mj_speed(0.5), 1e-9, 0.5)
    assert abs(ONSET_AT - u) < 1e-12 and abs(ONSET_AT - 0.0594) < 1e-4


def analytic(rt: float, move: float, reach: float, distance: float) -> dict[str, float]:
    """The module's definitions applied to the exact minimum-jerk profile (no sway: the onset's speed band is its
    floor, 1 % of the peak speed; the reaction time is cue to 5 % of the peak speed, from the fitted lean)."""
    peak = mj_speed(0.5)
    u_on = brentq(lambda u: mj_speed(u) - 0.01 * peak, 1e-9, 0.5)
    u_end = brentq(lambda u: mj_speed(u) - 0.1 * peak, 0.5, 1 - 1e-9)
    s_on = reach * distance * float(mj(u_on))
    s_end = reach * distance * float(mj(u_end))
    u5 = brentq(lambda u: reach * distance * float(mj(u)) - s_on - 0.05 * (s_end - s_on), 0, 1)
    u95 = brentq(lambda u: reach * distance * float(mj(u)) - s_on - 0.95 * (s_end - s_on), 0, 1)
    return {
        "reaction_time": rt + ONSET_AT * move,
        "movement_velocity": 0.9 * (s_end - s_on) / ((u95 - u5) * move),
        "endpoint_excursion": 100 * s_end / distance,
    }


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_metrics_of_a_minimum_jerk_lean_in_every_direction(direction: str) -> None:
    t, ap, ml = lean(direction)
    m = los_metrics(t, ap, ml, cue=0.0, direction=direction, distance=8.0, smooth=0.0)
    want = analytic(0.4, 1.0, 0.9, 8.0)
    assert m.reaction_time == pytest.approx(want["reaction_time"], abs=2 / FS)
    assert m.movement_velocity == pytest.approx(want["movement_velocity"], rel=0.01)
    assert m.endpoint_excursion == pytest.approx(want["endpoint_excursion"], abs=0.2)
    assert m.max_excursion == pytest.approx(100.0, abs=0.01)  # the correction reached the target
    assert m.directional_control == pytest.approx(100.0, abs=1e-6)  # a straight line
    assert m.reason is None


def test_directional_control_counts_the_path_across_and_back() -> None:
    t, ap, ml = lean("forward_left", wobble=0.5)
    m = los_metrics(t, ap, ml, 0.0, "forward_left", 8.0, smooth=0.0)
    peak = mj_speed(0.5)
    u_on = brentq(lambda u: mj_speed(u) - 0.01 * peak, 1e-9, 0.5)
    u_end = brentq(lambda u: mj_speed(u) - 0.1 * peak, 0.5, 1 - 1e-9)
    # the window runs on from u_end while the speed in every direction still falls (fine grid)
    g = np.linspace(0.0, 1.0, 200001)
    total = np.hypot(0.9 * 8.0 * 30 * g**2 * (1 - g) ** 2, 0.5 * 4 * np.pi * np.cos(4 * np.pi * g))
    tpk = total[(g >= u_on) & (g <= u_end)].max()
    k = int(np.searchsorted(g, u_end))
    while k + 1 < g.shape[0] and total[k] > 0.1 * tpk and total[k + 1] < total[k]:
        k += 1
    u_stop = g[k]
    on = 0.9 * 8.0 * float(mj(u_stop) - mj(u_on))  # the on-axis path, onset to the stop
    u = np.linspace(u_on, u_stop, 200001)
    off = float(np.abs(np.diff(0.5 * np.sin(4 * np.pi * u))).sum())  # the path across
    assert m.directional_control == pytest.approx(100 * (on - off) / on, abs=1.0)


def sway_bands(t: np.ndarray, s: np.ndarray, cue: float) -> tuple[float, float]:
    """The speed and acceleration bands of a lean ``s`` toward the target over the 2 s before the cue."""
    pre = (t >= cue - 2.0) & (t < cue)
    v = np.gradient(s[pre], t[pre])
    a = np.gradient(v, t[pre])
    return max(0.0, float(v.mean() + 2 * v.std())), float(np.abs(a).mean() + 2 * a.std())


@pytest.mark.parametrize("drift", [0.3, -0.3])
def test_the_onset_is_not_the_drift_before_it(drift: float) -> None:
    """A lean that drifts toward the target (or away) at 0.3 deg/s from 2 s before the cue on: the onset is the
    lean's (5 % of its peak speed), not where the drift crossed 5 % of the endpoint (0.6 s before the reaction)."""
    rt, cue = 1.3, 3.0
    t = np.arange(0, 10, 1 / FS)
    s = 4.0 * mj((t - cue - rt) / 1.0) + drift * (t - 1.0).clip(0.0, None)
    m = los_metrics(t, s, np.zeros_like(t), cue, "forward", 4.0, 0.0, sway_bands(t, s, cue))
    # the fitted minimum-jerk lean has no drift term: a steady drift of 0.3 deg/s (a tenth of this lean's mean
    # speed) tilts it, the onset by 0.08 s early toward the target and 0.07 s late away from it, inside the rule's
    # 0.1 s margin; a drift term in the fit took the sway of slow leans for drift (docs/eval.md)
    assert abs(m.reaction_time - (rt + ONSET_AT)) < 0.1
    assert (m.reaction_time < rt + ONSET_AT) == (drift > 0)


def test_a_slow_lean_is_dated_by_its_whole_shape() -> None:
    """A 4 s lean to 5.4 deg (peak speed 2.5 deg/s) by a patient whose sway moves the lean at up to 0.3 deg/s:
    the lean's speed at 10 % of its peak (0.25 deg/s) is no more than sway's, so no crossing of its speed can date
    it; the minimum-jerk lean fitted to the whole primary movement gives the onset at 5 % of its peak speed
    (0.24 s after its exact start)."""
    rt, cue, move = 0.8, 3.0, 4.0
    t = np.arange(0, 14, 1 / FS)
    s = 5.4 * mj((t - cue - rt) / move)
    m = los_metrics(t, s, np.zeros_like(t), cue, "forward", 6.0, 0.0, (0.3, 2.0))

    assert m.reaction_time == pytest.approx(rt + ONSET_AT * move, abs=2 / FS)
    assert m.movement_velocity == pytest.approx(
        analytic(rt, move, 5.4 / 6.0, 6.0)["movement_velocity"], rel=0.02
    )


def test_the_onset_in_sway_comes_from_the_lean_not_from_the_sway() -> None:
    """The same slow lean with a sway of 0.1 deg at 0.3 and 0.7 Hz on top (the lean's first 0.4 s moves 0.05 deg):
    the fitted onset is within the rule's 0.1 s of the lean's (0.05 s late); the band crossing taken back along the
    acceleration's rise read it 0.13 s late here (docs/eval.md)."""
    rt, cue, move = 0.8, 3.0, 4.0
    t = np.arange(0, 14, 1 / FS)
    sway = 0.1 * np.sin(2 * np.pi * 0.3 * t + 0.4) + 0.05 * np.sin(2 * np.pi * 0.7 * t + 1.9)
    s = 5.4 * mj((t - cue - rt) / move) + sway
    m = los_metrics(t, s, np.zeros_like(t), cue, "forward", 6.0, 0.1, sway_bands(t, s, cue))
    assert abs(m.reaction_time - (rt + ONSET_AT * move)) < 0.1


def test_velocity_is_the_path_of_the_lean_over_the_time() -> None:
    """A lean that wobbles across while it goes to the target: the velocity counts the path across too."""
    t, ap, ml = lean("forward", wobble=0.5, correction=False)
    m = los_metrics(t, ap, ml, 0.0, "forward", 8.0, smooth=0.0)
    g = np.linspace(0.0, 1.0, 400001)
    along, across = 0.9 * 8.0 * mj(g), 0.5 * np.sin(4 * np.pi * g)
    # from where the lean left the speed band (no sway: its floor, 1 % of the peak speed), not the onset taken back
    u_on = brentq(lambda u: mj_speed(u) - 0.01 * mj_speed(0.5), 1e-9, 0.5)
    k_on = int(np.searchsorted(g, u_on))
    k_end = int(np.searchsorted(g, (m.endpoint_time - 0.4) / 1.0))
    dist = np.hypot(along[k_on : k_end + 1] - along[k_on], across[k_on : k_end + 1] - across[k_on])
    k5 = int(np.argmax(dist >= 0.05 * dist[-1]))
    k95 = int(np.argmax(dist >= 0.95 * dist[-1]))
    a, c = along[k_on + k5 : k_on + k95 + 1], across[k_on + k5 : k_on + k95 + 1]
    path = float(np.hypot(np.diff(a), np.diff(c)).sum())
    assert m.movement_velocity == pytest.approx(path / (g[k_on + k95] - g[k_on + k5]), rel=0.01)
    straight = los_metrics(*lean("forward", correction=False), 0.0, "forward", 8.0, smooth=0.0)
    assert m.movement_velocity > 1.02 * straight.movement_velocity  # the path across adds 3-4 %


def test_a_short_lean_the_wrong_way_and_no_movement() -> None:
    t, ap, ml = lean("backward", reach=0.5, correction=False)
    m = los_metrics(t, ap, ml, 0.0, "backward", 8.0)
    assert m.endpoint_excursion == pytest.approx(50.0, abs=1.0) and m.max_excursion == pytest.approx(
        50.0, abs=0.5
    )
    wrong = los_metrics(t, ap, ml, 0.0, "forward", 8.0)
    assert math.isnan(wrong.reaction_time) and wrong.reason == "no movement toward the target"
    still = los_metrics(t, np.zeros_like(t), np.zeros_like(t), 0.0, "left", 8.0)
    assert still.reason is not None and math.isnan(still.directional_control)


def test_the_cue_time_counts_and_an_angle_is_a_direction() -> None:
    t, ap, ml = lean("left")
    a = los_metrics(t + 10.0, ap, ml, 10.0, 90.0, 8.0)
    b = los_metrics(t, ap, ml, 0.0, "left", 8.0)
    assert a.reaction_time == pytest.approx(b.reaction_time) and a.onset == pytest.approx(b.onset + 10.0)


def test_bad_input() -> None:
    t, ap, ml = lean("left")
    with pytest.raises(InputError, match="one of"):
        los_metrics(t, ap, ml, 0.0, "up", 8.0)
    with pytest.raises(InputError, match="distance"):
        los_metrics(t, ap, ml, 0.0, "left", 0.0)
    with pytest.raises(InputError):
        los_metrics(t[:3], ap[:3], ml[:3], 0.0, "left", 8.0)
    with pytest.raises(InputError):
        los_metrics(t, ap[:-1], ml, 0.0, "left", 8.0)
    m = los_metrics(t, ap, ml, 100.0, "left", 8.0)
    assert m.reason == "no samples after the cue"


def test_the_lean_is_measured_from_the_centre_without_a_step_at_the_cue() -> None:
    """The patient's centre (the mean before the cue) is not where sway has the lean at the cue: here 0.15 deg
    toward the target. Given as ``centre``, the excursion counts from it and the speed has no step; put in as a first
    sample (the rule did that) the step at the cue outran a slow lean's speed (2.5 deg/s peak) and the lean
    was lost (reaction time 0, the 'primary movement' the step)."""
    rt, cue, move = 0.8, 3.0, 4.0
    t = np.arange(0, 14, 1 / FS)
    s = 5.4 * mj((t - cue - rt) / move) + 0.15
    after = t > cue
    m = los_metrics(
        t[after], s[after], np.zeros(after.sum()), cue, "forward", 6.0, 0.1, (0.3, 2.0), (0.0, 0.0)
    )
    assert m.reaction_time == pytest.approx(rt + ONSET_AT * move, abs=0.05)
    assert m.max_excursion == pytest.approx(100 * 5.55 / 6.0, abs=0.01)  # from the centre, not the cue's lean
    assert m.movement_velocity == pytest.approx(analytic(rt, move, 0.9, 6.0)["movement_velocity"], rel=0.03)
    tt = np.concatenate([[cue], t[after]])
    stepped = los_metrics(
        tt, np.concatenate([[0.0], s[after]]), np.zeros(tt.shape[0]), cue, "forward", 6.0, 0.1
    )
    assert stepped.reaction_time < 0.15  # the old way: the step at the cue taken for the lean

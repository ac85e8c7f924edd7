"""The ``los`` rule (limits of stability) on constructed leans; the late band rule (transitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rulekit import angle_info, blocks, drive, in_order

from nmre.core import kinds
from nmre.core.model import Event
from nmre.dsp.stability import ONSET_AT
from nmre.errors import ConfigError
from nmre.rules import RULE_KINDS, Episodes, LimitRule, LosRule, Messages

RATE = 100.0
LEAN = "angle.lean"
INFO = angle_info(LEAN, ("inclination", "sagittal", "frontal"), RATE)


def mj(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


def trial(angle: float, distance: float, rt: float, reach: float, cue: float = 2.0, end: float = 8.0):
    """A lean toward a target at ``angle`` (deg from forward toward the right), minimum-jerk over 1 s
    from ``cue + rt`` to ``reach`` of ``distance``, held; returns t, lean rows (incl, sagittal, frontal)."""
    t = np.arange(0.0, end + 1.0, 1 / RATE)
    s = reach * distance * mj((t - cue - rt) / 1.0)
    a = math.radians(angle)
    fwd, right = s * math.cos(a), s * math.sin(a)
    sag, front = 3.0 + fwd, -right  # frontal inclination is positive to the left
    return t, np.vstack([np.hypot(sag, front), sag, front])


def target_events(k: int, angle: float, distance: float, cue: float = 2.0, end: float = 8.0):
    p = {"target": k, "angle": angle, "distance": distance, "direction": "test", "start": cue, "end": end}
    return [Event(cue, kinds.TARGET_START, "targets", p), Event(end, kinds.TARGET_END, "targets", p)]


def rule(quantity: str, **kw):
    unit = {"reaction_time": "s", "movement_velocity": "deg/s"}.get(quantity, "%")
    msgs = Messages(good="Good", below="Lean further", above="Start sooner", label=quantity.replace("_", " "))
    return LosRule(quantity, stream=LEAN, quantity=quantity, unit=unit, messages=msgs, **kw)


def run(r, t, x, events):
    return [e for e in drive(r, [INFO], in_order(blocks(LEAN, t, x), events)) if e.kind == r.kind]


def test_los_is_a_registered_kind():
    assert RULE_KINDS["los"] is LosRule


@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0])
def test_metrics_of_a_straight_lean_in_every_direction(angle):
    t, x = trial(angle, 6.0, rt=0.7, reach=0.9)
    rt = run(rule("reaction_time", hi=1.1), t, x, target_events(1, angle, 6.0))
    exc = run(rule("max_excursion", lo=80.0), t, x, target_events(1, angle, 6.0))
    dcl = run(rule("directional_control", lo=65.0), t, x, target_events(1, angle, 6.0))
    # oracle: the minimum-jerk lean starts at 0.7 s and its speed reaches 5 % of its peak ONSET_AT (0.059) of its
    # 1 s later, the movement onset; the rule's centred smoothing of the lean (0.2 s) spreads the lean a little,
    # so the fitted onset may come up to 0.02 s early
    on = 0.7 + ONSET_AT
    assert on - 0.02 <= rt[0].payload["value"] <= on + 0.005 and rt[0].payload["ok"]
    assert rt[0].payload["sensor_heading"] == pytest.approx(0.0, abs=0.5)
    assert exc[0].payload["value"] == pytest.approx(90.0, abs=0.5) and exc[0].payload["ok"]
    assert dcl[0].payload["value"] > 95.0  # a straight line to the target


def test_a_slow_reaction_is_one_outcome_with_value_tolerance_and_both_messages():
    t, x = trial(90.0, 6.0, rt=1.8, reach=0.9)
    out = run(rule("reaction_time", hi=1.1, error_above="slow_reaction"), t, x, target_events(3, 90.0, 6.0))
    assert len(out) == 1
    e = out[0]
    p = e.payload
    assert p["ok"] is False and p["error"] == "slow_reaction" and p["target"] == 3 and p["hi"] == 1.1
    assert 1.8 + ONSET_AT - 0.02 <= p["value"] <= 1.8 + ONSET_AT + 0.005 and p["unit"] == "s"  # as above
    assert e.time == 8.0 and p["start"] == 2.0 and p["end"] == 8.0
    assert e.patient_message == "Start sooner" and "reaction time" in e.therapist_message
    assert p["max_excursion"] == pytest.approx(90.0, abs=0.5)  # every metric kept for the therapist


def test_a_short_lean_is_flagged_and_the_wrong_way_is_not_judged():
    t, x = trial(0.0, 6.0, rt=0.7, reach=0.5)
    out = run(rule("max_excursion", lo=80.0, error_below="short_excursion"), t, x, target_events(1, 0.0, 6.0))
    assert (
        out[0].payload["value"] == pytest.approx(50.0, abs=0.5)
        and out[0].payload["error"] == "short_excursion"
    )
    # leaning forward while the target is behind: no movement toward it, so not judged (no correction)
    r = rule("reaction_time", hi=1.1)
    got = drive(r, [INFO], in_order(blocks(LEAN, t, x), target_events(1, 180.0, 6.0)))
    assert [e.kind for e in got] == [kinds.TARGET_UNJUDGED]
    assert "no movement toward the target" in got[0].payload["reason"]


def test_a_curved_path_lowers_directional_control():
    t, x = trial(0.0, 6.0, rt=0.7, reach=0.9)
    bulge = 2.0 * np.sin(np.pi * np.clip((t - 2.7) / 1.0, 0.0, 1.0))  # deg to the side and back
    x = x.copy()
    x[2] -= bulge
    out = run(rule("directional_control", lo=65.0, error_below="poor"), t, x, target_events(1, 0.0, 6.0))
    # oracle: the window runs from the onset (without sway: the speed at 1 % of its peak, u = 0.025, or up to
    # 0.2 s before it with the centred smoothing, u <= 0 then) to where the lean stops, somewhere between the
    # on-axis end (u = 0.915) and the end of the bulge (u = 1)
    g = np.linspace(0.0, 1.0, 100001)
    s_on, s_across = 0.9 * 6.0 * mj(g), 2.0 * np.sin(np.pi * g)

    def dcl(u0: float, u1: float) -> float:
        w = (g >= u0) & (g <= u1)
        on, off = np.abs(np.diff(s_on[w])).sum(), np.abs(np.diff(s_across[w])).sum()
        return 100 * (on - off) / on

    lo, hi = dcl(0.0, 1.0), dcl(0.025, 0.915)
    assert lo - 3.0 <= out[0].payload["value"] <= hi + 3.0  # the 0.2 s smoothing blurs the ends
    assert out[0].payload["ok"] is False


def test_the_centre_is_the_mean_before_the_cue():
    t, x = trial(0.0, 6.0, rt=0.7, reach=0.9)
    x = x.copy()
    x[1] += 2.0 * (t > 1.0)  # standing 2 deg forward from 1 s: the centre the lean starts from
    out = run(rule("max_excursion", lo=80.0), t, x, target_events(1, 0.0, 6.0))
    assert out[0].payload["value"] == pytest.approx(90.0, abs=0.5)


def test_bad_settings():
    with pytest.raises(ConfigError, match="quantity: expected one of reaction_time"):
        LosRule("x", stream=LEAN, quantity="sway_rms", unit="m/s^2", hi=1.0)
    with pytest.raises(ConfigError, match="baseline: expected a number of seconds >= 0"):
        rule("reaction_time", hi=1.0, baseline=-1.0)
    r = rule("reaction_time", hi=1.0)
    with pytest.raises(ConfigError, match=r"expected a channel of 'angle.lean' \(flexion\), got 'sagittal'"):
        r.bind({LEAN: angle_info(LEAN, ("flexion",))})  # a knee angle is not a lean


def test_a_late_unit_is_judged_from_the_rules_history():
    """A transition is announced once it is over: the limit rule reduces its own recent samples."""
    t = np.arange(0.0, 10.0, 1 / RATE)
    x = 5.0 + 40.0 * np.exp(-(((t - 4.0) / 0.5) ** 2))  # trunk flexion peaks at 45 deg at 4 s
    info = angle_info("angle.trunk", ("inclination", "sagittal", "frontal"), RATE)
    r = LimitRule(
        "trunk", stream="angle.trunk", channel="sagittal", quantity="trunk_flexion_peak", unit="deg", hi=40.0,
        episodes=Episodes.transitions(), error_above="excessive_trunk_flexion",
    )  # fmt: skip
    rows = np.vstack([x, x, np.zeros_like(x)])
    start = Event(3.0, kinds.TRANSITION_START, "transitions", {"transition": 1})
    end = Event(5.0, kinds.TRANSITION_END, "transitions", {"transition": 1, "start": 3.0, "end": 5.0})
    late = [
        *blocks("angle.trunk", t[:700], rows[:, :700]),
        start,
        end,
        *blocks("angle.trunk", t[700:], rows[:, 700:]),
    ]
    out = [e for e in drive(r, [info], late) if e.kind == r.kind]
    want = float(x[(t >= 3.0) & (t <= 5.0)].max())
    assert (
        out[0].payload["value"] == pytest.approx(want)
        and out[0].payload["error"] == "excessive_trunk_flexion"
    )


def test_a_lean_that_begins_before_anyone_could_react_is_not_judged_for_timing():
    t, x = trial(0.0, 6.0, rt=0.02, reach=0.9)  # moving 20 ms after the cue: not a reaction
    got = drive(
        rule("reaction_time", hi=1.1), [INFO], in_order(blocks(LEAN, t, x), target_events(1, 0.0, 6.0))
    )
    assert [e.kind for e in got] == [kinds.TARGET_UNJUDGED] and "faster than anyone reacts" in got[0].payload[
        "reason"
    ]
    exc = run(rule("max_excursion", lo=80.0), t, x, target_events(1, 0.0, 6.0))
    assert exc[0].payload["value"] == pytest.approx(90.0, abs=0.5)  # how far the patient leaned still counts


@pytest.mark.parametrize(("stat", "edge"), [("max", 5.0), ("min", 3.0)])
def test_a_late_unit_includes_the_samples_at_its_start_and_its_end(stat, edge):
    """The unit is [start, end], both ends in: the extreme sits exactly on one of them (binary-exact times)."""
    t = np.arange(1000) / RATE
    x = np.where(t <= 5.0, 10.0 * t, 0.0) if stat == "max" else np.where(t >= 3.0, 10.0 * t, 100.0)
    info = angle_info("angle.trunk", ("inclination", "sagittal", "frontal"), RATE)
    r = LimitRule(
        "trunk", stream="angle.trunk", channel="sagittal", quantity="trunk_flexion_peak", unit="deg",
        hi=1000.0, stat=stat, episodes=Episodes.transitions(),
    )  # fmt: skip
    rows = np.vstack([x, x, np.zeros_like(x)])
    start = Event(3.0, kinds.TRANSITION_START, "transitions", {"transition": 1})
    end = Event(5.0, kinds.TRANSITION_END, "transitions", {"transition": 1, "start": 3.0, "end": 5.0})
    items = [
        *blocks("angle.trunk", t[:700], rows[:, :700]),
        start,
        end,
        *blocks("angle.trunk", t[700:], rows[:, 700:]),
    ]
    out = [e for e in drive(r, [info], items) if e.kind == r.kind]
    inside = (t >= 3.0) & (t <= 5.0)
    want = float(x[inside].max() if stat == "max" else x[inside].min())
    assert (
        want == 10.0 * edge
        and t[inside][np.argmax(x[inside]) if stat == "max" else np.argmin(x[inside])] == edge
    )
    assert out[0].payload["value"] == want


def ring(heading: float, curve: dict[int, float] | None = None, drift: float = 0.0):
    """A session of the 8 targets, 8 s apart from 2 s, each a straight minimum-jerk lean (1 s, from 0.8 s after
    the cue, to 90 % of 6 deg) and back, read by a sensor turned ``heading`` deg to the left on the trunk;
    ``curve``: target index -> bulge of that lean across its direction (deg, a sine over the lean);
    ``drift``: deg/s of lean toward each target from 2 s before its cue. Returns t, rows, events, angles."""
    t = np.arange(0.0, 68.0, 1 / RATE)
    fwd, right = np.zeros_like(t), np.zeros_like(t)
    events, angles = [], [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0]
    for k, ang in enumerate(angles):
        cue = 2.0 + 8.0 * k
        a = math.radians(ang)
        u = (t - cue - 0.8) / 1.0
        s = 0.9 * 6.0 * (mj(u) - mj((t - cue - 4.0) / 1.0))
        s = s + drift * np.clip(t - cue + 2.0, 0.0, 2.8) * (t < cue + 4.0)
        b = (curve or {}).get(k, 0.0) * np.sin(np.pi * np.clip(u, 0.0, 1.0))
        fwd += s * math.cos(a) - b * math.sin(a)
        right += s * math.sin(a) + b * math.cos(a)
        events += target_events(k + 1, ang, 6.0, cue=cue, end=cue + 7.0)
    h = math.radians(heading)  # the sensor's axes turned to the left: the lean reads turned to the right
    f, left = fwd, -right
    sag, front = math.cos(h) * f + math.sin(h) * left, -math.sin(h) * f + math.cos(h) * left
    return (
        t,
        np.vstack([np.hypot(sag, front), 3.0 + sag, front]),
        sorted(events, key=lambda e: e.time),
        angles,
    )


def test_a_sensor_turned_on_the_trunk_does_not_make_straight_leans_wander():
    """12 deg of heading would put a fifth of every straight lean's path across it (DCL about 79 %); the ring of
    endpoints gives the heading back and the leans read straight, every target of the session."""
    t, x, events, _ = ring(12.0)
    dcl = run(rule("directional_control", lo=65.0), t, x, events)
    assert len(dcl) == 8
    assert all(e.payload["value"] > 95.0 for e in dcl)
    assert all(e.payload["sensor_heading"] == pytest.approx(-12.0, abs=0.5) for e in dcl)
    exc = run(rule("max_excursion", lo=80.0), t, x, events)
    assert [round(e.payload["value"]) for e in exc] == [90] * 8  # not cos(12 deg) x 90


def test_the_heading_does_not_straighten_a_curved_lean():
    """A curved lean among straight ones still reads curved: its bulge comes back to the direction at the end, so
    it does not turn the ring."""
    t, x, events, _ = ring(12.0, curve={2: 2.0})
    dcl = run(rule("directional_control", lo=65.0), t, x, events)
    assert dcl[2].payload["value"] < 65.0 and not dcl[2].payload["ok"]  # 2 deg across and back: about 30 %
    assert all(e.payload["value"] > 95.0 for k, e in enumerate(dcl) if k != 2)


def test_a_lean_drifting_toward_the_target_before_the_cue_is_not_the_reaction():
    """0.3 deg/s of drift toward each target from 2 s before the cue: it crosses 5 % of the endpoint 1.3 s before
    the reaction; the onset is where the lean rises out of the drift (0.8 s after the cue)."""
    t, x, events, _ = ring(0.0, drift=0.3)
    out = run(rule("reaction_time", hi=1.1), t, x, events)
    assert len(out) == 8
    assert all(0.8 - 0.2 <= e.payload["value"] <= 0.8 + 0.05 for e in out)

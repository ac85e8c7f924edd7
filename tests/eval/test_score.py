"""The suite's scoring on hand-made sessions: pairing, verdicts, margins and figures computed by hand."""

from __future__ import annotations

import math

import pytest

from nmre.core.model import Event
from nmre.eval.metrics import figures
from nmre.eval.model import Margin, Observation, RuleView, Tolerance, TruthUnit
from nmre.eval.score import score

DEPTH = RuleView(
    "squat", "squat_depth", "knee_flexion_peak", "rep", "deg", Tolerance(lo=75.0, hi=115.0),
    Margin(5.0, "test"), {-1: "shallow_squat", 1: "too_deep"},
)  # fmt: skip
SWAY = RuleView(
    "stance", "sway", "sway_rms", "window", "m/s^2", Tolerance(factor=1.6, baseline_units=2),
    Margin(0.01, "test"), {1: "excessive_sway"},
)  # fmt: skip
LOB = RuleView(
    "stance", "loss_of_balance", "loss_of_balance", "event", "s", Tolerance(), Margin(0.25, "t"), {1: "x"}
)


def rep(i: float, start: float, end: float, q: float) -> TruthUnit:
    return TruthUnit("rep", int(i), start, end, {"knee_flexion_peak": q})


def rep_end(k: int, start: float, end: float) -> Event:
    return Event(end, "rep.end", "reps", {"rep": k, "start": start, "end": end})


def outcome(k: int, ok: bool, value: float, at: float, error: str | None = None) -> Event:
    p = {"ok": ok, "rep": k, "value": value, "lo": 75.0, "hi": 115.0, "error": error}
    return Event(at, "rule.squat_depth", "rule.squat_depth", p, detected_at=at)


@pytest.mark.parametrize(
    ("value", "side", "distance"),
    [(60.0, -1, 15.0), (75.0, 0, 0.0), (80.0, 0, -5.0), (114.0, 0, -1.0), (115.0, 0, 0.0), (120.0, 1, 5.0)],
)
def test_tolerance_side_and_distance(value: float, side: int, distance: float) -> None:
    t = Tolerance(lo=75.0, hi=115.0)
    assert t.side(value) == side
    assert t.distance(value) == pytest.approx(distance)


def test_reps_are_paired_by_overlap_and_verdicts_read() -> None:
    truth = {
        "rep": [
            rep(0, 1.0, 4.0, 90.0),
            rep(1, 5.0, 8.0, 60.0),
            rep(2, 9.0, 12.0, 77.0),
            rep(3, 13.0, 16.0, 90.0),
        ]
    }
    events = [
        rep_end(1, 1.4, 3.6), outcome(1, True, 91.0, 3.7),
        rep_end(2, 5.4, 7.6), outcome(2, False, 58.0, 7.7, "shallow_squat"),
        rep_end(3, 9.4, 11.6), outcome(3, False, 74.0, 11.7, "shallow_squat"),  # true 77: inside, within margin
        # rep 4 (13-16 s) not detected; a spurious rep at 17-18 s told to go deeper
        rep_end(4, 17.0, 18.0), outcome(4, False, 40.0, 18.1, "shallow_squat"),
    ]  # fmt: skip
    obs, counts = score(0, [DEPTH], truth, {}, events)
    by_unit = {o.unit: o for o in obs if not o.spurious}
    assert [by_unit[i].verdict for i in range(4)] == ["ok", "below", "below", "missing"]
    assert by_unit[1].true_side == -1 and by_unit[1].distance == pytest.approx(15.0)
    assert by_unit[0].latency == pytest.approx(3.7 - 4.0)  # before the true end of the rep
    assert by_unit[0].deadline is True and by_unit[1].deadline is True
    spurious = [o for o in obs if o.spurious]
    assert len(spurious) == 1 and spurious[0].verdict == "below"
    assert counts == {"rep": (4, 4, 3)}
    f = figures(DEPTH, obs, {0: False}, 0.0)
    # outside the margin: rep 0 (negative, praised), rep 1 (positive, corrected), rep 3 (negative, missing)
    assert (f.positives, f.negatives, f.tp, f.fn) == (1, 2, 1, 0)
    assert f.fp == 1  # the spurious rep's correction
    assert f.precision == pytest.approx(0.5) and f.recall == pytest.approx(1.0)
    assert f.inside_n == 1 and f.inside_agreement == 0.0  # rep 2: true 77 inside, told to go deeper
    assert f.bias == pytest.approx(((91 - 90) + (58 - 60) + (74 - 77)) / 3)


def test_wrong_side_and_sensor_messages_are_false_positives() -> None:
    truth = {"rep": [rep(0, 1.0, 4.0, 60.0), rep(1, 5.0, 8.0, 90.0)]}
    events = [
        rep_end(1, 1.4, 3.6), outcome(1, False, 120.0, 3.7, "too_deep"),
        rep_end(2, 5.4, 7.6), outcome(2, False, math.nan, 7.7, "no_data"),
    ]  # fmt: skip
    obs, _ = score(0, [DEPTH], truth, {}, events)
    f = figures(DEPTH, obs, {0: True}, 1.0)
    assert [o.verdict for o in obs] == ["above", "other"]
    assert (f.tp, f.fp, f.fn) == (0, 2, 1)
    assert f.false_alarms == 1  # on a clean session the sensor message on a good rep is a false alarm
    assert f.false_alarms_per_min == pytest.approx(1.0)


def test_a_late_verdict_misses_the_deadline() -> None:
    truth = {"rep": [rep(0, 1.0, 4.0, 90.0), rep(1, 5.0, 8.0, 90.0)]}
    events = [rep_end(1, 1.4, 3.6), outcome(1, True, 90.0, 5.2)]
    obs, _ = score(0, [DEPTH], truth, {}, events)
    assert obs[0].deadline is False
    assert figures(DEPTH, obs, {}, 0.0).deadline_met == 0.0


def test_unjudged_units_are_counted_apart() -> None:
    truth = {"rep": [rep(0, 1.0, 4.0, 60.0)]}
    un = Event(
        3.6,
        "rep.unjudged",
        "rule.squat_depth",
        {"rule": "squat_depth", "rep": 1, "reason": "thigh IMU: 40 % missing"},
    )
    obs, _ = score(0, [DEPTH], truth, {}, [rep_end(1, 1.4, 3.6), un])
    assert obs[0].verdict == "unjudged" and "missing" in obs[0].reason
    f = figures(DEPTH, obs, {}, 0.0)
    assert f.unjudged == 1.0 and f.positives == 0 and f.recall is None and f.wrong == 0


def test_personal_envelope_uses_the_true_baseline() -> None:
    true = {(0, 5): 0.05, (5, 10): 0.07, (10, 15): 0.15, (15, 20): 0.09}

    def body(a: float, b: float) -> dict[str, float]:
        return {"sway_rms": true[(round(a), round(b))]}

    events = [Event(float(e), "sway.window", "sway.pelvis", {"window": 5.0}) for _, e in true]
    for (a, b), v, ok in (((10, 15), 0.149, False), ((15, 20), 0.095, True)):
        p = {
            "ok": ok,
            "value": v,
            "hi": 0.096,
            "start": float(a),
            "end": float(b),
            "error": None if ok else "excessive_sway",
        }
        events.append(Event(float(b), "rule.sway", "rule.sway", p, detected_at=b + 0.01))
    obs, counts = score(0, [SWAY], {}, {}, events, body)
    # true envelope 1.6 x mean(0.05, 0.07) = 0.096: 0.15 is outside by 0.054, 0.09 inside by 0.006 (in the margin)
    assert [(o.verdict, o.true_side) for o in obs] == [("above", 1), ("ok", 0)]
    assert obs[0].distance == pytest.approx(0.054) and obs[1].distance == pytest.approx(-0.006)
    assert obs[0].true_hi == pytest.approx(0.096)
    assert counts == {}  # windows are the drill's clock, not counted


def test_continuous_rule_matches_events_in_a_window() -> None:
    flags = [
        Event(31.02, "rule.loss_of_balance", "rule.loss_of_balance", {"ok": False}, detected_at=31.05),
        Event(12.0, "rule.loss_of_balance", "rule.loss_of_balance", {"ok": False}, detected_at=12.01),
    ]
    obs, _ = score(0, [LOB], {}, {"loss_of_balance": [31.0, 50.0]}, flags)
    hit, missed, false = obs
    assert (
        hit.verdict == "above" and hit.latency == pytest.approx(0.05) and hit.measured == pytest.approx(31.02)
    )
    assert missed.verdict == "missing"
    assert false.spurious and false.flagged
    f = figures(LOB, obs, {0: False}, 0.0)
    assert f.precision == pytest.approx(0.5) and f.recall == pytest.approx(0.5)
    assert f.latency_median_ms == pytest.approx(50.0)


def test_an_observation_is_right_only_on_its_true_side() -> None:
    o = Observation(0, "r", 0, 60.0, 58.0, "above", -1, 15.0)
    f = figures(DEPTH, [o], {}, 0.0)
    assert (f.tp, f.fp, f.fn, f.wrong, f.wrong_corrections) == (0, 1, 1, 1, 1)


def test_a_side_of_the_tolerance_the_suite_never_tried_is_a_coverage_miss() -> None:
    """Two shallow reps and two good ones: the 'too deep' side was never tried, and the table says why."""
    from nmre.eval.cases import Case
    from nmre.eval.metrics import aggregate
    from nmre.eval.model import CaseResult
    from nmre.eval.notes import miss_note

    truth = {"rep": [rep(0, 1.0, 4.0, 60.0), rep(1, 5.0, 8.0, 90.0), rep(2, 9.0, 12.0, 50.0)]}
    events = [
        rep_end(1, 1.4, 3.6), outcome(1, False, 61.0, 3.7, "shallow_squat"),
        rep_end(2, 5.4, 7.6), outcome(2, True, 91.0, 7.7),
        rep_end(3, 9.4, 11.6), outcome(3, False, 52.0, 11.7, "shallow_squat"),
    ]  # fmt: skip
    obs, counts = score(0, [DEPTH], truth, {}, events)
    case = Case("squat", "target", 1, "full", index=0)
    fig = aggregate([case], [CaseResult(0, 12.0, obs, counts, [DEPTH])], {"squat": [DEPTH]})
    cov = fig["drills"]["squat"]["rules"]["squat_depth"]["targets"]["target"]["coverage"]
    assert cov == {"value": "shallow_squat 2, too_deep 0, inside 1", "met": False}
    miss = next(m for m in fig["misses"] if m["target"] == "coverage")
    assert "too_deep" in (miss_note("squat", "squat_depth", "coverage", miss["value"]) or "")
    # with a deep rep too, every side is tried
    truth["rep"].append(rep(3, 13.0, 16.0, 125.0))
    events += [rep_end(4, 13.4, 15.6), outcome(4, False, 124.0, 15.7, "too_deep")]
    obs, counts = score(0, [DEPTH], truth, {}, events)
    fig = aggregate([case], [CaseResult(0, 16.0, obs, counts, [DEPTH])], {"squat": [DEPTH]})
    assert fig["drills"]["squat"]["rules"]["squat_depth"]["targets"]["target"]["coverage"]["met"] is True


def test_a_correction_within_the_margin_of_the_edge_is_counted_apart_from_false_alarms() -> None:
    """Clean session: 77 deg (inside by 2, within the 5 deg margin) and 95 deg (inside by 20), both corrected."""
    truth = {"rep": [rep(0, 1.0, 4.0, 77.0), rep(1, 5.0, 8.0, 95.0)]}
    events = [
        rep_end(1, 1.4, 3.6), outcome(1, False, 74.0, 3.7, "shallow_squat"),
        rep_end(2, 5.4, 7.6), outcome(2, False, 70.0, 7.7, "shallow_squat"),
    ]  # fmt: skip
    obs, _ = score(0, [DEPTH], truth, {}, events)
    f = figures(DEPTH, obs, {0: True}, 2.0)
    assert (f.false_alarms, f.false_alarms_in_margin) == (1, 1)
    assert f.false_alarms_per_min == pytest.approx(0.5)


def test_a_calibration_record_is_not_a_unit_to_count() -> None:
    """The reference contraction of an EMG calibration step is in the body's truth but is no rep the drill counts."""
    truth = {
        "rep": [rep(0, 1.0, 4.0, 90.0)],
        "reference": [TruthUnit("reference", 0, 0.0, 0.8, {})],
    }
    _, counts = score(0, [DEPTH], truth, {}, [rep_end(1, 1.4, 3.6), outcome(1, True, 91.0, 3.7)])
    assert counts == {"rep": (1, 1, 1)}


RELAX = RuleView(
    "emg_contraction", "relax", "relax_level", "rest", "%", Tolerance(hi=5.0), Margin(2.0, "test"),
    {1: "incomplete_relaxation"},
)  # fmt: skip
LEVEL = RuleView(
    "emg_contraction", "level", "contraction_level", "hold", "%", Tolerance(lo=35.0), Margin(5.0, "test"),
    {-1: "weak_contraction"},
)  # fmt: skip


RELAXED_NOT = {"ok": False, "rest": 1, "hold": 1, "value": 9.5, "error": "incomplete_relaxation"}


def test_rests_are_units_of_their_own_though_their_events_name_the_hold() -> None:
    """A rest's events carry their cycle's ``hold`` too: they are scored as rests, and holds stay holds."""
    truth = {
        "hold": [TruthUnit("hold", 0, 1.0, 7.0, {"contraction_level": 50.0})],
        "rest": [
            TruthUnit("rest", 0, 7.0, 12.0, {"relax_level": 9.0}, ("incomplete_relaxation",)),
        ],
    }
    events = [
        Event(7.1, "hold.end", "contractions", {"hold": 1, "start": 1.2, "end": 7.1}),
        Event(7.2, "rule.level", "rule.level", {"ok": True, "hold": 1, "value": 48.0}, detected_at=7.2),
        Event(12.1, "rest.end", "contractions", {"rest": 1, "hold": 1, "start": 7.1, "end": 12.1}),
        Event(12.2, "rule.relax", "rule.relax", RELAXED_NOT, detected_at=12.2),
    ]
    obs, counts = score(0, [LEVEL, RELAX], truth, {}, events)
    by_rule = {o.rule: o for o in obs}
    assert (by_rule["level"].measured, by_rule["level"].verdict) == (48.0, "ok")
    relax = by_rule["relax"]
    assert (relax.measured, relax.verdict, relax.true_side) == (9.5, "above", 1)
    assert relax.latency == pytest.approx(0.2)
    assert counts == {"hold": (1, 1, 1)}  # a rest is the time between holds, not a unit the drill counts


def test_the_rest_after_each_simulated_hold_is_a_true_unit() -> None:
    from nmre.eval.simcase import _units
    from nmre.sim import simulate
    from nmre.sim.movements import MOVEMENTS

    cfg = MOVEMENTS["emg_contraction"](cycles=3, errors={1: {"incomplete_relaxation": 8.0}})
    units = _units(simulate(cfg, seed=3))
    holds, rests = units["hold"], units["rest"]
    assert [r.index for r in rests] == [h.index for h in holds] == [0, 1, 2]
    for h, r, nxt in zip(holds, rests, [*holds[1:], None], strict=True):
        assert r.start == h.end and r.end == (nxt.start if nxt else r.end)
        assert set(r.quantities) == {"relax_level"}
    assert rests[1].errors == ("incomplete_relaxation",) and rests[0].errors == ()
    assert rests[1].quantities["relax_level"] > 5.0 > rests[0].quantities["relax_level"]

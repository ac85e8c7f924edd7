"""Squat scenario: injected errors, ground truth, configuration checks and determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.errors import ConfigError
from nmre.sim import (
    ERROR_KINDS,
    ERRORS,
    SQUAT_ERRORS,
    SquatConfig,
    StanceConfig,
    Subject,
    simulate,
    squat_set,
)

ERRS = {
    1: ("shallow_squat",),
    3: ("excessive_trunk_lean",),
    5: ("knee_valgus",),
    7: ("late_vmo_onset",),
    8: ("shallow_squat", "knee_valgus"),
    9: ("low_vmo_ratio",),
}


@pytest.fixture(scope="module")
def sim():
    return simulate(SquatConfig(reps=10, errors=ERRS), seed=11)


def _normal(sim):
    return [r for r in sim.truth.reps if not r.errors]


def test_normal_reps_are_physiological(sim):
    cfg = sim.config
    speed = sim.subject.tempo  # the subject's own tempo
    for r in _normal(sim):
        assert abs(r.peak_knee_flexion_deg - cfg.target_depth_deg) <= 2.5
        assert 20.0 <= r.peak_trunk_lean_deg <= 30.0
        assert abs(r.peak_valgus_deg - cfg.valgus_deg) <= 0.6
        assert -10.0 <= r.vmo_vl_onset_ms <= 0.0
        assert 0.75 <= r.quantities["vmo_vl_ratio"] <= 1.3  # healthy VMO:VL about 1:1
        assert 0.94 * 3.0 / speed <= r.end - r.start <= 1.06 * 3.0 / speed
        assert r.quantities["rep_duration"] == pytest.approx(r.end - r.start)
        assert r.start < r.bottom < r.end
        assert r.vl_onset < r.start  # muscles switch on before the movement
    starts = np.array([r.start for r in sim.truth.reps])
    ends = np.array([r.end for r in sim.truth.reps])
    assert np.all(starts[1:] - ends[:-1] >= 1.2)  # a pause between reps
    assert len({round(r.end - r.start, 6) for r in sim.truth.reps}) > 1  # jittered by the seed


@pytest.mark.parametrize(
    ("kind", "quantity", "tol"),
    [
        ("shallow_squat", "knee_flexion_peak", 1e-6),
        ("excessive_trunk_lean", "trunk_lean_peak", 0.1),  # plus the small standing sway
        ("knee_valgus", "knee_valgus_peak", 1e-6),
        ("late_vmo_onset", "vmo_vl_onset_lag", 1e-6),
        ("low_vmo_ratio", "vmo_vl_ratio", 1e-9),
    ],
)
def test_each_error_sets_its_quantity_to_a_severity_drawn_from_its_range(sim, kind, quantity, tol):
    hit = [r for r in sim.truth.reps if kind in r.errors]
    assert hit and all(tuple(r.errors) == ERRS[r.index] for r in hit)
    lo, hi = ERRORS[kind].drawn
    for r in hit:
        severity = r.errors[kind]
        assert lo <= severity <= hi
        assert r.quantities[quantity] == pytest.approx(severity, abs=tol)
    assert ERRORS[kind].quantity == quantity


def test_explicit_severities_are_the_true_values():
    cfg = SquatConfig(
        reps=5,
        errors={
            0: {"shallow_squat": 45.0},
            1: {"knee_valgus": 15.0},
            2: {"late_vmo_onset": 100.0},
            3: {"excessive_trunk_lean": 52.0, "low_vmo_ratio": 0.6},
            4: {"shallow_squat": 71.5, "knee_valgus": None},
        },
    )
    reps = simulate(cfg, seed=2).truth.reps
    assert reps[0].quantities["knee_flexion_peak"] == pytest.approx(45.0)
    assert reps[1].quantities["knee_valgus_peak"] == pytest.approx(15.0)
    assert reps[2].quantities["vmo_vl_onset_lag"] == pytest.approx(100.0)
    assert reps[3].quantities["trunk_lean_peak"] == pytest.approx(52.0, abs=0.1)
    assert reps[3].quantities["vmo_vl_ratio"] == pytest.approx(0.6)
    assert reps[4].quantities["knee_flexion_peak"] == pytest.approx(71.5)
    assert dict(reps[4].errors)["shallow_squat"] == 71.5
    assert 10.0 <= reps[4].errors["knee_valgus"] <= 20.0  # None: drawn from the range


def test_drawn_severities_are_graded_across_the_range_not_one_value():
    cfg = SquatConfig(reps=30, errors={i: ("shallow_squat",) for i in range(30)})
    values = [r.quantities["knee_flexion_peak"] for r in simulate(cfg, seed=3).truth.reps]
    lo, hi = ERRORS["shallow_squat"].drawn
    assert all(lo <= v <= hi for v in values)
    assert np.ptp(values) > 0.6 * (hi - lo)  # spread over the range
    assert len({round(v, 3) for v in values}) == 30


def test_truth_matches_kinematics_and_serialises(sim):
    kin = sim.kinematics
    for r in sim.truth.reps:
        sel = (kin["time"] >= r.start) & (kin["time"] <= r.end)
        assert r.peak_knee_flexion_deg == pytest.approx(kin["knee_flexion"][sel].max())
        i = np.argmax(np.where(sel, kin["knee_flexion"], -np.inf))
        assert abs(kin["time"][i] - r.bottom) <= 0.5 * (r.end - r.start) * 0.1 + 0.01
        outside = (kin["time"] < r.start - 0.01) & (kin["time"] > r.start - 1.0)
        assert np.all(
            kin["knee_flexion"][outside] < 1.0 + 1e-9
        )  # standing (knees not locked) before each rep
    d = sim.truth.to_dict()
    text = json.dumps(d)
    assert d["exercise"] == "squat" and len(d["reps"]) == 10
    assert list(d["reps"][8]["errors"]) == ["shallow_squat", "knee_valgus"]
    assert d["reps"][8]["quantities"]["knee_flexion_peak"] == pytest.approx(
        d["reps"][8]["errors"]["shallow_squat"]
    )
    assert "NaN" not in text


def test_squat_set_helper():
    sim = squat_set(reps=4, shallow=(1, 3), seed=5)
    assert [tuple(r.errors) for r in sim.truth.reps] == [(), ("shallow_squat",), (), ("shallow_squat",)]
    lo, hi = ERRORS["shallow_squat"].drawn
    assert lo <= sim.truth.reps[1].peak_knee_flexion_deg <= hi


def test_stream_infos_of_the_full_kit():
    sim = simulate(SquatConfig(reps=1), seed=0)
    ids = [s.id for s in sim.streams]
    assert ids == ["imu.pelvis", "imu.trunk", "imu.thigh.r", "imu.shank.r", "emg.r"]
    for s in sim.streams[:4]:
        assert s.kind.value == "imu" and s.rate == 100.0 and s.device == "sim"
        assert s.channel_names == ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
        assert s.placement is not None and s.placement.segment in ("pelvis", "trunk", "thigh", "shank")
        assert sim.data[s.id][1].shape == (6, sim.data[s.id][0].shape[0])
    emg = sim.streams[4]
    assert emg.kind.value == "emg" and emg.rate == 2000.0
    assert emg.channel_names == ("vmo", "vl", "bf", "gmed")
    assert [c.placement.muscle for c in emg.channels] == ["vmo", "vl", "bf", "gmed"]
    assert all(c.unit == "mV" and c.placement.side.value == "right" for c in emg.channels)
    assert sim.streams[2].placement.side.value == "right"


def test_left_squat_wears_the_left_leg_and_mirrors_valgus():
    cfg = SquatConfig(reps=2, side="left", errors={1: {"knee_valgus": 14.0}})
    sim = simulate(cfg, seed=4)
    assert [s.id for s in sim.streams] == ["imu.pelvis", "imu.trunk", "imu.thigh.l", "imu.shank.l", "emg.l"]
    assert all(c.placement.side.value == "left" for c in sim.streams[-1].channels)
    kin = sim.kinematics
    rep = sim.truth.reps[1]
    assert rep.quantities["knee_valgus_peak"] == pytest.approx(14.0)
    sel = (kin["time"] >= rep.start) & (kin["time"] <= rep.end)
    assert kin["knee_valgus.l"][sel].max() == pytest.approx(14.0, abs=0.01)
    assert kin["knee_valgus.r"][sel].max() < 1.0  # the other knee does not cave in
    i = np.argmax(np.where(sel, kin["knee_valgus.l"], -np.inf))
    # medially = towards the right (-y) for the left knee: the knee moves towards the midline
    knee_l = sim.movement.state(kin["time"][[0, i]]).joints["knee.l"]
    assert knee_l[1, 1] < knee_l[1, 0] - 0.03


def _bytes(sim):
    return b"".join(t.tobytes() + v.tobytes() for t, v in (sim.data[s.id] for s in sim.streams))


def test_same_seed_is_bit_identical_and_different_seed_differs():
    cfg = SquatConfig(reps=2, errors={1: ("knee_valgus",)})
    a, b, c = simulate(cfg, seed=3), simulate(cfg, seed=3), simulate(cfg, seed=4)
    assert _bytes(a) == _bytes(b)
    assert a.truth == b.truth
    for s in a.streams:
        assert not np.array_equal(a.data[s.id][1], c.data[s.id][1])
    assert a.truth != c.truth


def test_adding_mains_hum_leaves_other_streams_unchanged():
    cfg = SquatConfig(reps=1)
    a, b = simulate(cfg, seed=3), simulate(cfg, seed=3, mains_hz=50)
    for sid in ("imu.pelvis", "imu.trunk", "imu.thigh.r", "imu.shank.r"):
        assert np.array_equal(a.data[sid][1], b.data[sid][1])
    assert not np.array_equal(a.data["emg.r"][1], b.data["emg.r"][1])


def test_error_kinds_are_public():
    assert set(SQUAT_ERRORS) < set(ERROR_KINDS)
    assert {
        "shallow_squat",
        "excessive_trunk_lean",
        "knee_valgus",
        "late_vmo_onset",
        "low_vmo_ratio",
        "excessive_sway",
        "loss_of_balance",
    } <= set(ERROR_KINDS)


BAD = [
    (lambda: SquatConfig(errors={0: ("wobble",)}), "one of shallow_squat"),
    (lambda: SquatConfig(errors={0: ("excessive_sway",)}), "one of shallow_squat"),
    (lambda: SquatConfig(reps=3, errors={3: ("shallow_squat",)}), "rep index in 0..2"),
    (lambda: SquatConfig(reps=3, errors={-1: ("shallow_squat",)}), "rep index in 0..2"),
    (lambda: SquatConfig(reps=0), "integer in 1..100000"),
    (lambda: SquatConfig(reps=2.5), "integer in 1..100000"),
    (lambda: SquatConfig(reps=2, errors={0: {"shallow_squat": 200.0}}), "<= 140"),
    (lambda: SquatConfig(reps=2, errors={0: {"shallow_squat": "deep"}}), "finite number"),
    (lambda: SquatConfig(reps=2, errors={0: 5}), "error labels or a mapping"),
    (lambda: SquatConfig(side="middle"), "one of right, left"),
    (lambda: SquatConfig(tempo=0.0), "tempo: expected a finite number >= 0.4"),
    (lambda: SquatConfig(resistance=2.0), "resistance: expected a finite number >= 0 and <= 1"),
    (lambda: SquatConfig(eyes_closed="yes"), "True or False"),
    (lambda: SquatConfig(target_depth_deg=math.nan), "finite number"),
    (lambda: SquatConfig(target_depth_deg=math.inf), "finite number"),
    (lambda: SquatConfig(rep_duration=-1.0), "finite number"),
    (lambda: SquatConfig(pause=0.2), ">= 1"),
    (lambda: SquatConfig(trunk_lean_deg="20"), "finite number"),
    (lambda: SquatConfig(errors=[("shallow_squat",)]), "mapping"),
    (lambda: StanceConfig(errors=[("shallow_squat", 1.0, 2.0)]), "one of excessive_sway"),
    (lambda: StanceConfig(duration=10.0, errors=[("excessive_sway", 5.0, 12.0)]), "<= 10"),
    (lambda: StanceConfig(duration=10.0, errors=[("excessive_sway", 5.0, 4.0)]), "> 5"),
    (lambda: StanceConfig(duration=10.0, errors=[("excessive_sway", math.nan, 4.0)]), "finite number"),
    (lambda: StanceConfig(errors=[("loss_of_balance", 5.0, 6.0)]), "at least 3 s"),
    (lambda: StanceConfig(errors=[("excessive_sway", 5.0)]), "(kind, start, end)"),
    (lambda: StanceConfig(duration=0.0), "finite number"),
    (lambda: StanceConfig(sway_acc_rms=0.0), "> 0"),
    (lambda: simulate(SquatConfig(reps=1), imu_rate=0.0), "imu_rate expected a rate"),
    (lambda: simulate(SquatConfig(reps=1), imu_rate=-100.0), "imu_rate expected a rate"),
    (lambda: simulate(SquatConfig(reps=1), emg_rate=math.nan), "emg_rate expected a rate"),
    (lambda: simulate(SquatConfig(reps=1), seed=-1), "integer >= 0"),
    (lambda: simulate(SquatConfig(reps=1), mains_hz=55), "50, 60 or None"),
    (lambda: simulate(SquatConfig(reps=1), mounting={"imu.foot": (0, 0, 0)}), "keys among"),
    (lambda: simulate(SquatConfig(reps=1), mounting={"imu.trunk": (0, math.inf, 0)}), "3 finite degrees"),
    (lambda: simulate({"reps": 3}), "a movement configuration"),
    (lambda: simulate(SquatConfig(reps=1), kit="some"), "one of full, minimal, bilateral, all"),
    (lambda: simulate(SquatConfig(reps=1), kit=["knee"]), "a segment among pelvis"),
    (lambda: simulate(SquatConfig(reps=1), kit=["emg:biceps"]), "an EMG muscle among"),
    (lambda: simulate(SquatConfig(reps=1), kit=["emg:ut.l"]), "shoulder muscles on the right"),
    (lambda: simulate(SquatConfig(reps=1), kit=[]), "at least one sensor"),
    (lambda: simulate(SquatConfig(reps=1), noise=-1.0), "noise expected a number in 0..10"),
    (lambda: simulate(SquatConfig(reps=1), strap_deg=45.0), "strap_deg expected a number in 0..30"),
    (lambda: simulate(SquatConfig(reps=1), subject="tall"), "expected a Subject"),
    (lambda: simulate(SquatConfig(reps=1), motion_artifacts={"emg.x": [1.0]}), "EMG stream ids among"),
    (lambda: Subject(height=3.0), "Subject.height"),
    (lambda: Subject(emg_gain={"biceps": 1.0}), "muscles among"),
    (lambda: simulate(SquatConfig(reps=50000, pause=2.0)), "at most 48 h"),
]


@pytest.mark.parametrize(("make", "fragment"), BAD)
def test_bad_config_raises_config_error_with_one_line_message(make, fragment):
    with pytest.raises(ConfigError) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg and "expected" in msg and "got" in msg
    assert fragment in msg


def test_body_stays_over_the_foot_while_the_pelvis_descends(sim):
    k = sim.kinematics
    middle = 0.5 * (
        k["pelvis_pos"][0] + k["trunk_pos"][0]
    )  # between sacrum and sternum, m forward of the ankle
    assert np.all((middle > -0.10) & (middle < 0.12))
    for r in _normal(sim):
        i = np.searchsorted(k["time"], r.bottom)
        assert k["pelvis_pos"][2, 0] - k["pelvis_pos"][2, i] > 0.2  # the pelvis descends
        assert k["pelvis_pos"][0, i] < k["pelvis_pos"][0, 0] - 0.05  # and moves back
        assert k["hip_flexion"][i] > 60.0


def test_repr_is_short(sim):
    text = repr(sim)
    assert text.startswith("Simulation(squat,") and len(text) < 120


@settings(max_examples=20, deadline=None)
@given(
    depth=st.floats(30.0, 120.0),
    lean=st.floats(5.0, 40.0),
    vmo=st.floats(-50.0, 0.0),
    shallow=st.floats(10.0, 85.0),
    seed=st.integers(0, 2**31),
)
def test_any_valid_config_realises_its_targets(depth, lean, vmo, shallow, seed):
    cfg = SquatConfig(
        reps=2,
        target_depth_deg=depth,
        trunk_lean_deg=lean,
        vmo_onset_ms=vmo,
        errors={1: {"shallow_squat": shallow}},
    )
    sim = simulate(cfg, seed=seed)
    normal, shallow_rep = sim.truth.reps
    assert abs(normal.peak_knee_flexion_deg - depth) <= 2.0 + 1e-9
    assert shallow_rep.peak_knee_flexion_deg == pytest.approx(shallow, abs=1e-6)
    assert abs(normal.peak_trunk_lean_deg - lean * normal.peak_knee_flexion_deg / depth) <= 2.5
    assert vmo - 5.0 - 1e-9 <= normal.vmo_vl_onset_ms <= vmo + 1e-9
    assert np.all(np.isfinite(sim.data["imu.thigh.r"][1])) and np.all(np.isfinite(sim.data["emg.r"][1]))


def test_a_too_deep_squat_reaches_its_severity_with_both_feet_planted():
    """``too_deep`` (the upper side of a depth band): the rep's true peak knee flexion is the severity, up to
    the deep squat's 130 deg and beyond; both feet stay where they are; drawn ones lie in the error's range."""
    cfg = SquatConfig(reps=4, errors={1: {"too_deep": 130.0}, 2: {"too_deep": 118.0}, 3: ("too_deep",)})
    sim = simulate(cfg, seed=3, kit="minimal")
    reps = sim.truth.reps
    assert reps[1].quantities["knee_flexion_peak"] == pytest.approx(130.0)
    assert reps[2].quantities["knee_flexion_peak"] == pytest.approx(118.0)
    lo, hi = ERRORS["too_deep"].drawn
    drawn = reps[3].quantities["knee_flexion_peak"]
    assert lo <= drawn <= hi and drawn == pytest.approx(reps[3].errors["too_deep"])
    assert reps[0].quantities["knee_flexion_peak"] < 95.0 and not reps[0].errors
    st = sim.movement.state(np.arange(reps[1].start, reps[1].end, 0.02))
    for s in ("r", "l"):
        a = st.joints[f"ankle.{s}"]
        assert np.max(np.abs(a - a[:, :1])) < 1e-6

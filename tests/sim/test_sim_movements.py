"""Every movement: consistent sensors, truth recomputed independently from the orientations, graded errors.

The oracles here use scipy's rotations of the simulated sensors' true orientations
(kit "all", no strap rotation, so sensor frame = segment frame), never the
simulator's own angle code.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nmre.sim import ERRORS, GRAVITY, MOVEMENTS, QUANTITIES, SimSource, simulate

SEED = 5


def _cases():
    """(movement, config kwargs with one error per rep, {quantity: oracle name})."""
    return {
        "seated_knee_extension": dict(
            reps=5,
            errors={
                1: ("incomplete_extension",),
                2: ("short_hold",),
                3: ("low_vmo_ratio",),
                4: ("fast_tempo",),
            },
        ),
        "standing_knee_flexion": dict(
            reps=4,
            side="left",
            errors={1: ("insufficient_flexion",), 2: ("hip_compensation",), 3: ("fast_tempo",)},
        ),
        "standing_hip_abduction": dict(
            reps=4, errors={1: ("insufficient_abduction",), 2: ("hip_hike",), 3: ("trunk_lateral_lean",)}
        ),
        "squat": dict(
            reps=4, errors={1: ("shallow_squat",), 2: ("knee_valgus",), 3: ("excessive_trunk_lean",)}
        ),
        "sit_to_stand": dict(
            transitions=4, errors={2: ("slow_transition",), 3: ("excessive_trunk_flexion",)}
        ),
        "forward_lunge": dict(
            reps=4,
            side="left",
            errors={1: ("shallow_lunge",), 2: ("knee_valgus", "pelvic_drop"), 3: ("excessive_trunk_lean",)},
        ),
        "shoulder_scaption": dict(
            reps=7,
            errors={
                1: ("insufficient_elevation",),
                2: ("ut_dominance",),
                3: ("shoulder_shrug",),
                4: ("trunk_compensation",),
                5: ("too_fast",),
                6: ("too_slow",),
            },
        ),
        "pnf_d2_flexion": dict(
            reps=6,
            errors={
                1: ("incomplete_range",),
                2: ("off_pattern",),
                3: ("jerky",),
                4: ("too_fast",),
                5: ("too_slow",),
            },
        ),
    }


CASES = _cases()


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    cfg = MOVEMENTS[name](**CASES[name])
    return name, simulate(cfg, seed=SEED, kit="all")


def rot(sim, seg):
    return Rotation.from_quat(sim.orientations[f"imu.{seg}"].T, scalar_first=True)


def euler(sim, prox, dist):
    """Cardan Y-X'-Z'' (intrinsic) angles, degrees, of ``dist`` relative to ``prox``: (n, 3)."""
    return np.degrees((rot(sim, prox).inv() * rot(sim, dist)).as_euler("YXZ"))


def axis_z(sim, seg):
    return rot(sim, seg).apply([0.0, 0.0, 1.0])


def oracle(sim, name, sel, side):
    """The quantity ``name`` over samples ``sel`` of the IMU grid, from scipy rotations."""
    s = "r" if side == "right" else "l"
    sign = 1.0 if s == "r" else -1.0
    knee = euler(sim, f"thigh.{s}", f"shank.{s}")
    hip = euler(sim, "pelvis", f"thigh.{s}")
    z = axis_z(sim, "trunk")
    y_pelvis = rot(sim, "pelvis").apply([0.0, 1.0, 0.0])
    if name == "knee_flexion_peak":
        return knee[sel, 0].max()
    if name == "knee_flexion_min":
        return knee[sel, 0].min()
    if name == "knee_valgus_peak":
        return (-sign * knee[sel, 1]).max()
    if name == "hip_flexion_peak":
        return (-hip[sel, 0]).max()
    if name == "hip_abduction_peak":
        return (-sign * hip[sel, 1]).max()
    if name in ("trunk_lean_peak", "trunk_flexion_peak"):
        return np.degrees(np.arctan2(z[sel, 0], z[sel, 2])).max()
    if name == "trunk_lateral_lean_peak":
        return np.abs(np.degrees(np.arctan2(z[sel, 1], z[sel, 2]))).max()
    if name in ("pelvic_obliquity_peak", "pelvic_drop_peak"):
        return (-sign * np.degrees(np.arcsin(y_pelvis[sel, 2]))).max()
    if name in ("shoulder_elevation_peak", "movement_time"):
        hum = (rot(sim, "trunk").inv() * rot(sim, "upper_arm.r")).apply([0.0, 0.0, -1.0])
        elevation = np.degrees(np.arccos(np.clip(-hum[sel, 2], -1, 1)))
        if name == "shoulder_elevation_peak":
            return elevation.max()
        speed = np.abs(np.diff(elevation)) * sim.imu_rate  # between samples: a count, not interpolated
        moving = np.flatnonzero(speed >= 0.05 * speed.max())
        return (moving[-1] - moving[0] + 1) / sim.imu_rate
    if name == "scapular_upward_rotation_peak":
        m = (rot(sim, "trunk").inv() * rot(sim, "scapula.r")).as_matrix()
        return np.degrees(np.arctan2(-m[sel, 2, 1], m[sel, 1, 1])).max()
    if name == "scapular_elevation_peak":  # the SC -> GH line's rise in the trunk frame, from the joints
        t = sim.kinematics["time"][sel]
        st = sim.movement.state(t)
        d = rot(sim, "trunk")[sel].inv().apply((st.joints["gh.r"] - st.joints["sc.r"]).T)
        n0 = np.array(sim.movement.body.clavicle)
        rest = math.atan2(n0[2], -n0[1])
        return np.degrees(np.arctan2(d[:, 2], -d[:, 1]) - rest).max()
    if name == "sparc":
        from nmre.dsp.movement import sparc

        r = rot(sim, "forearm.r")
        w = (r[:-2].inv() * r[2:]).as_rotvec() / (2 / sim.imu_rate)
        inner = sel[1:-1]
        return sparc(np.linalg.norm(w[inner], axis=1), sim.imu_rate)
    if (
        name == "transition_duration"
    ):  # the trunk's inclination and the pelvis sensor's forward and up position
        lean = np.degrees(np.arctan2(z[sel, 0], z[sel, 2]))
        pos = sim.kinematics["pelvis_pos"][:, sel]
        on, off = [], []
        for v in (lean, pos[0], pos[2]):
            speed = np.abs(np.diff(v)) * sim.imu_rate  # between samples: a count, not interpolated
            moving = np.flatnonzero(speed >= 0.05 * speed.max())
            on.append(moving[0])
            off.append(moving[-1] + 1)
        return (max(off) - min(on)) / sim.imu_rate
    if name == "hold_time":
        k = knee[sel, 0]
        return np.count_nonzero(k <= k.min() + 5.0) / sim.imu_rate
    if name == "rep_active_time":  # samples of the rep out of the rest band (a count, not interpolated)
        k = knee[sel, 0]
        band = sim.config.rest_band_deg
        out = k > band if sim.config.movement == "standing_knee_flexion" else k < band
        return np.count_nonzero(out) / sim.imu_rate
    return None


def test_accelerometers_read_gravity_at_rest_and_gyros_the_orientation_derivative(case):
    _, sim = case
    dt = 1.0 / sim.imu_rate
    for info in sim.streams:
        if info.kind.value != "imu":
            continue
        t, v = sim.data[info.id]
        b = sim.imu_bias[info.id]
        r = Rotation.from_quat(sim.orientations[info.id].T, scalar_first=True)
        rest = t < 1.0
        g_sensor = r[rest].inv().apply([0.0, 0.0, GRAVITY])
        acc = v[:3, rest] - b[:3, None]
        assert np.sqrt(np.mean((acc - g_sensor.T) ** 2)) < 0.05, info.id  # noise 0.014 + small sway
        w_ref = (r[:-2].inv() * r[2:]).as_rotvec() / (2 * dt)
        gyr = v[3:, 1:-1] - b[3:, None]
        assert np.sqrt(np.mean((gyr - w_ref.T) ** 2)) < 0.01, info.id


def test_accelerometer_is_the_second_derivative_of_the_sensor_position(case):
    _, sim = case
    kin = sim.kinematics
    dt = 1.0 / sim.imu_rate
    for seg in ("pelvis", "trunk"):
        p = kin[f"{seg}_pos"]
        a = (p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2]) / dt**2
        r = rot(sim, seg)[1:-1]
        f = r.inv().apply((a + np.array([[0.0], [0.0], [GRAVITY]])).T).T
        v = sim.data[f"imu.{seg}"][1][:3, 1:-1] - sim.imu_bias[f"imu.{seg}"][:3, None]
        err = v - f
        assert np.sqrt(np.mean(err**2)) < 0.05  # sensor noise + O(dt^2) of the 100 Hz difference


def test_every_truth_quantity_equals_an_independent_computation(case):
    name, sim = case
    t = sim.kinematics["time"]
    checked = 0
    for r in sim.truth.records:
        sel = (t >= r.start - 1e-9) & (t <= r.end + 1e-9)
        for q, value in r.quantities.items():
            assert q.split(".")[0] in QUANTITIES, q
            want = oracle(sim, q, sel, sim.config.side)
            if want is None:
                continue
            tol = {
                "hold_time": 1e-9,
                "sparc": 0.02,
                "rep_active_time": 0.011,
                "movement_time": 0.011,
                "transition_duration": 0.021,  # a count of samples; the sensor, not the pelvis' centre, and the sway
            }.get(q, 1e-6)
            assert value == pytest.approx(want, abs=tol), (name, r.index, q)
            checked += 1
        assert r.quantities.get("rep_duration", r.duration) == pytest.approx(r.end - r.start)
    assert checked >= len(sim.truth.records)


def test_emg_amplitude_ratios_equal_the_activations(case):
    _, sim = case
    if not any("vmo_vl_ratio" in r.quantities for r in sim.truth.reps):
        pytest.skip("no EMG ratio in this movement")
    s = "r" if sim.config.side == "right" else "l"
    info = next(i for i in sim.streams if i.id == f"emg.{s}")
    rows = [c.name for c in info.channels]
    act = sim.activations[info.id]
    te = np.arange(act.shape[1]) / sim.emg_rate
    for r in sim.truth.reps:
        sel = (te >= r.start) & (te <= r.end)
        amp = {m: sim.subject.rms_at_full(m) * act[rows.index(m), sel].mean() for m in ("vmo", "vl")}
        assert r.quantities["vmo_vl_ratio"] == pytest.approx(amp["vmo"] / amp["vl"], rel=2e-3)


def test_each_injected_error_sets_its_quantity_to_its_severity(case):
    name, sim = case
    labels = set(MOVEMENTS[name].error_labels)
    hit = 0
    for r in sim.truth.records:
        for label, severity in r.errors.items():
            assert label in labels
            q = ERRORS[label].quantity
            assert r.quantities[q] == pytest.approx(severity, abs=0.02), (name, r.index, label)
            lo, hi = ERRORS[label].limits
            assert lo <= severity <= hi
            hit += 1
    assert hit >= len(CASES[name]["errors"])


def test_normal_reps_differ_from_the_errors_graded_by_severity(case):
    name, sim = case
    reps = sim.truth.records
    normal = [r for r in reps if not r.errors]
    assert normal
    for r in reps:
        for label, severity in r.errors.items():
            spec = ERRORS[label]
            lo, hi = spec.drawn
            if label in CASES[name]["errors"].get(r.index, ()) and not isinstance(
                CASES[name]["errors"][r.index], dict
            ):
                # drawn from its range (realised values of holds and tempos may shrink a little)
                assert lo - 0.6 <= severity <= hi + 0.6, (label, severity)
            ref = np.mean([n.quantities[spec.quantity] for n in normal])
            assert abs(severity - ref) > 0.2 * abs(ref) or abs(severity - ref) > 5.0


def test_same_seed_same_bytes_and_chunked_equals_whole(case):
    name, sim = case
    again = simulate(MOVEMENTS[name](**CASES[name]), seed=SEED, kit="all")
    assert again.truth == sim.truth
    for info in sim.streams[:3] + sim.streams[-1:]:
        n = sim.n_samples(info.id)
        whole = sim.data[info.id][1]
        parts = np.concatenate([again.read(info.id, a, min(a + 777, n))[1] for a in range(0, n, 777)], axis=1)
        assert parts.tobytes() == whole.tobytes()


def test_minimal_and_full_kits_stream(case):
    name, sim = case
    for kit in ("minimal", "full"):
        small = simulate(MOVEMENTS[name](**CASES[name]), seed=SEED, kit=kit)
        assert small.truth.records == sim.truth.records or small.truth.windows
        src = SimSource(small)
        from nmre.core import VirtualClock

        src.start(VirtualClock())
        blocks = src.poll(2.0)
        assert {b.stream for b in blocks} == {s.id for s in small.streams}


def test_feet_on_the_ground_stay_put(case):
    name, sim = case
    st = sim.movement.state(np.arange(0.0, sim.duration, 0.02))
    planted = {
        "seated_knee_extension": [sim.movement.o],
        "standing_knee_flexion": [sim.movement.o],
        "standing_hip_abduction": [sim.movement.o],
        "squat": ["r", "l"],
        "sit_to_stand": ["r", "l"],
        "forward_lunge": [sim.movement.o],  # the back foot; the front one steps
        "shoulder_scaption": ["r", "l"],
        "pnf_d2_flexion": ["r", "l"],
    }[name]
    for s in planted:
        a = st.joints[f"ankle.{s}"]
        assert np.max(np.abs(a - a[:, :1])) < 1e-6, (name, s)
    assert math.isfinite(sim.duration)


def test_sit_to_stand_alternates_from_seated_and_nothing_moves_outside_a_transition():
    sim = simulate(MOVEMENTS["sit_to_stand"](transitions=6), seed=2, kit="all")
    tr = sim.truth.transitions
    assert [r.label for r in tr] == ["sit_to_stand", "stand_to_sit"] * 3
    assert all(
        r.kind == "transition" and 0.85 * r.duration < r.quantities["transition_duration"] < r.duration
        for r in tr
    )
    t = sim.kinematics["time"]
    r = rot(sim, "trunk")
    w = np.linalg.norm((r[:-2].inv() * r[2:]).as_rotvec(), axis=1) / (2 / sim.imu_rate)
    tm = t[1:-1]
    inside = np.zeros(tm.shape, bool)
    for x in tr:
        inside |= (tm > x.start) & (tm < x.end)
        # the pelvis leaves the seat at 30 % of a sit-to-stand: below it the pelvis height has not changed much
        assert x.start < x.times.get("seat_off", x.times.get("seat_on")) < x.end
    sway = w[~inside].max()
    assert sway < 0.02 and w[inside].max() > 0.5  # rad/s: still between transitions, moving in them
    z = sim.kinematics["pelvis_pos"][2]
    assert z[t < tr[0].start].std() < 1e-9  # seated: still
    assert z[np.searchsorted(t, tr[0].end + 0.5)] - z[0] > 0.2  # standing is higher


def test_sit_to_stand_minimal_kit_is_one_accelerometer():
    sim = simulate(MOVEMENTS["sit_to_stand"](transitions=2), seed=2, kit="minimal")
    assert [(s.id, s.kind.value) for s in sim.streams] == [("acc.pelvis", "acc")]


@pytest.mark.parametrize("muscle", ["vmo", "gmed", "ut"])
def test_contraction_truth_from_the_activations_and_the_emg(muscle):
    cfg = MOVEMENTS["emg_contraction"](
        muscle=muscle,
        cycles=4,
        errors={1: ("weak_contraction",), 2: ("short_hold",), 3: ("incomplete_relaxation",)},
    )
    sim = simulate(cfg, seed=4)
    (info,) = sim.streams
    assert [c.name for c in info.channels] == [muscle]
    t, v = sim.data[info.id]
    a = sim.activations[info.id][0]
    ref = next(r for r in sim.truth.records if r.kind == "reference")
    p0, p1 = ref.start + 0.5, ref.end - 0.5
    sel_ref = (t >= p0) & (t <= p1)
    ref_act = a[sel_ref].mean()
    assert ref.info["amplitude_mv"] == pytest.approx(sim.subject.rms_at_full(muscle) * ref_act, rel=1e-3)
    # the EMG's RMS over the reference plateau is the amplitude (plus the noise floor in quadrature)
    rms = np.sqrt(np.mean(v[0, sel_ref] ** 2))
    assert rms == pytest.approx(np.hypot(ref.info["amplitude_mv"], sim.subject.emg_noise), rel=0.05)
    for h in sim.truth.holds:
        plateau = (t >= h.times["plateau_start"]) & (t <= h.times["plateau_end"])
        level = a[plateau].mean()
        assert h.quantities["contraction_level"] == pytest.approx(100 * level / ref_act, rel=2e-3)
        span = (t >= h.start) & (t <= h.end)
        assert h.quantities["hold_time"] == pytest.approx(
            np.count_nonzero(a[span] >= 0.5 * level) / sim.emg_rate, abs=2e-3
        )
        rest = (t >= h.end + 0.5) & (t <= h.times["rest_end"])
        assert h.quantities["relax_level"] == pytest.approx(100 * a[rest].mean() / ref_act, rel=2e-3)
        for label, value in h.errors.items():
            assert h.quantities[ERRORS[label].quantity] == pytest.approx(value)
    normal = sim.truth.holds[0].quantities
    assert 40 < normal["contraction_level"] < 60 and normal["relax_level"] < 2.0
    assert sim.truth.holds[1].quantities["contraction_level"] < 26
    assert sim.truth.holds[2].quantities["hold_time"] < 2.6
    assert sim.truth.holds[3].quantities["relax_level"] > 7.9


def test_a_shoulder_muscle_is_on_the_right_arm_only():
    from nmre.errors import ConfigError

    with pytest.raises(ConfigError, match="'right' for a shoulder muscle"):
        MOVEMENTS["emg_contraction"](muscle="ut", side="left")
    with pytest.raises(ConfigError, match="one of vmo, vl"):
        MOVEMENTS["emg_contraction"](muscle="biceps")


def test_the_lunge_steps_forward_lands_and_steps_back():
    sim = simulate(MOVEMENTS["forward_lunge"](reps=2), seed=6, kit="all")
    t = np.arange(0.0, sim.duration, 0.005)
    st = sim.movement.state(t)
    front = st.joints["ankle.r"]
    assert front[2].min() > -1e-3 and 0.03 < front[2].max() < 0.15  # the swing foot clears the floor
    legs = sim.movement.body.thigh_length + sim.movement.body.shank_length
    for r in sim.truth.reps:
        landed = (t > r.times["landing"] + 0.01) & (t < r.times["lift_off"] - 0.01)
        assert np.allclose(front[0, landed], 0.75 * legs, atol=1e-9) and np.allclose(
            front[2, landed], 0.0, atol=1e-9
        )
        home = (t > r.end + 0.05) & (t < r.end + 1.0)
        assert np.allclose(front[0, home], 0.0, atol=1e-9)
        # the front knee is deepest in the hold; the swing never bends it as far
        k = st.angles["knee_flexion.r"]
        swing = (t >= r.start) & (t < r.times["landing"])
        assert k[swing].max() < 35.0 < r.quantities["knee_flexion_peak"]


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_too_deep_lunge_reaches_its_severity_and_nothing_goes_through_the_floor(side):
    """``too_deep`` (the lunge band's upper side): the rep's true peak front-knee flexion is the severity,
    graded from inside the band to a full 140 deg; past 100 deg the front knee travels over the toes and the
    step lengthens only as far as the back knee needs, so no joint goes below the floor (0.039 H under the
    ankles) and the back knee's centre stays at kneeling height or above; the back foot stays put; drawn
    severities lie in the error's range; a normal rep keeps the normal step and shank."""
    sev = [105.0, 115.0, 122.0, 130.0, 140.0]
    errors = {i + 1: {"too_deep": d} for i, d in enumerate(sev)} | {6: ("too_deep",)}
    sim = simulate(MOVEMENTS["forward_lunge"](reps=7, side=side, errors=errors), seed=3, kit="minimal")
    m, reps = sim.movement, sim.truth.reps
    peaks = [r.quantities["knee_flexion_peak"] for r in reps]
    assert peaks[1:6] == pytest.approx(sev, abs=1e-6)
    lo, hi = ERRORS["too_deep"].drawn
    assert lo <= peaks[6] <= hi and peaks[6] == pytest.approx(reps[6].errors["too_deep"], abs=1e-6)
    assert not reps[0].errors and 85.0 < peaks[0] < 95.0
    assert np.all(np.diff(peaks[1:6]) > 0)  # graded
    floor = -0.039 * m.body.height
    t = np.arange(0.0, sim.duration, 0.005)
    st = m.state(t)
    for name, p in st.joints.items():
        assert p[2].min() >= floor - 1e-9, name
    back = st.joints[f"knee.{m.o}"][2]
    assert back.min() - floor > 0.04  # a kneeling knee's centre (about half the knee's depth) or above
    deepest = (t >= reps[5].start) & (t <= reps[5].end)
    assert back[deepest].min() - floor < 0.05  # the 140 deg lunge brings it down to kneeling height
    a = st.joints[f"ankle.{m.o}"]
    assert np.max(np.abs(a - a[:, :1])) < 1e-6
    legs = m.body.thigh_length + m.body.shank_length
    front = st.joints[f"ankle.{m.s}"]
    for r in (reps[0], reps[1], reps[5]):
        landed = (t > r.times["landing"] + 0.01) & (t < r.times["lift_off"] - 0.01)
        x = front[0, landed] / legs
        assert np.allclose(x, x[0], atol=1e-9) and np.allclose(front[2, landed], 0.0, atol=1e-9)
        assert (x[0] == pytest.approx(0.75)) == (r is not reps[5])  # only the 140 deg rep steps further
    assert float(np.degrees(m.shank_bottom[0])) == pytest.approx(10.0)
    assert float(np.degrees(m.shank_bottom.max())) <= 40.0 + 1e-9


def test_scaption_moves_in_the_scapular_plane_with_the_scapulohumeral_rhythm():
    sim = simulate(MOVEMENTS["shoulder_scaption"](reps=2), seed=3, kit="all")
    kin = sim.kinematics
    top = kin["shoulder_elevation"] > 60.0
    assert np.allclose(kin["shoulder_plane"][top], 55.0, atol=1e-6)  # the scapular plane
    # the scapula rotates upward by a third of the elevation plus the clavicle's 8 %
    ratio = kin["scapular_upward_rotation"][top] / kin["shoulder_elevation"][top]
    assert np.allclose(ratio, 0.38, atol=0.01)
    ut = sim.truth.reps[0].quantities["ut_lt_ratio"]
    assert 0.6 < ut < 1.5


def test_pnf_d2_runs_from_across_the_body_to_up_and_out_and_deviations_grade_the_distance():
    sim = simulate(
        MOVEMENTS["pnf_d2_flexion"](reps=3, errors={1: {"off_pattern": 0.2}, 2: {"off_pattern": 0.4}}), seed=3
    )
    kin = sim.kinematics
    rep = sim.truth.reps[0]
    t = kin["time"]
    start = np.searchsorted(t, rep.start + 0.05)
    top = np.searchsorted(t, rep.times["top"])
    assert (
        kin["shoulder_plane"][start] < -20.0 and kin["shoulder_elevation"][start] < 25.0
    )  # hand by the other hip
    assert kin["shoulder_plane"][top] > 60.0 and kin["shoulder_elevation"][top] > 140.0  # up and out
    d = [r.quantities["template_distance"] for r in sim.truth.reps]
    assert d[0] < 0.05 and d[1] == pytest.approx(0.2, abs=1e-3) and d[2] == pytest.approx(0.4, abs=1e-3)


def test_the_simulators_sparc_equals_the_dsp_one_on_the_same_speed():
    from nmre.dsp.movement import sparc
    from nmre.sim.movements.arm import spectral_arc_length

    rng = np.random.default_rng(1)
    for _ in range(5):
        x = np.abs(np.convolve(rng.normal(size=400), np.ones(30) / 30, mode="same")) + 0.1
        assert spectral_arc_length(x, 100.0) == pytest.approx(sparc(x, 100.0), abs=1e-12)


def test_limits_of_stability_truth_from_the_centre_of_mass_path():
    cfg = MOVEMENTS["limits_of_stability"](
        errors={1: ("slow_reaction",), 3: ("short_excursion",), 5: ("poor_directional_control",)}
    )
    sim = simulate(cfg, seed=8, kit="all")
    targets = sim.truth.targets
    assert [r.label for r in targets] == [
        "forward",
        "forward_right",
        "right",
        "backward_right",
        "backward",
        "backward_left",
        "left",
        "forward_left",
    ]
    for r in targets:
        t = np.arange(np.ceil((r.start - 0.5) * 100), np.floor(r.end * 100) + 1) / 100.0
        p = sim.movement.state(t).joints["pelvis"]
        mid = np.zeros(3)
        v = p - mid[:, None]
        lean = np.degrees(np.vstack([np.arctan2(v[0], v[2]), np.arctan2(-v[1], v[2])]))
        d = lean - lean[:, t < r.start].mean(axis=1, keepdims=True)
        goal = np.array([r.info["target_forward_deg"], r.info["target_right_deg"]])
        u = goal / np.linalg.norm(goal)
        nrm = np.array([-u[1], u[0]])
        prim = (t >= r.times["onset"] - 1e-9) & (t <= r.times["primary_end"] + 1e-9)
        held = (t >= r.times["onset"]) & (t <= r.times["return_start"])
        step = np.diff(d[:, prim], axis=1)
        along = u @ step  # NeuroCom: steps away from the target are extraneous, as the path across is
        on, off = along[along > 0].sum(), -along[along < 0].sum() + np.abs(nrm @ step).sum()
        q = r.quantities
        # the movement onset: the primary lean's speed toward the target at 5 % of its peak, which a minimum-jerk
        # lean reaches u5 of its duration after its exact start (16 u^2 (1 - u)^2 = 0.05; on the 100 Hz grid)
        u5 = (1 - np.sqrt(1 - np.sqrt(0.05))) / 2
        onset = r.times["onset"] + u5 * (r.times["primary_end"] - r.times["onset"])
        assert q["reaction_time"] == pytest.approx(onset - r.times["cue"], abs=2e-3)
        assert r.times["movement_onset"] == pytest.approx(q["reaction_time"] + r.times["cue"], abs=1e-9)
        assert q["max_excursion"] == pytest.approx(
            100 * (u @ d[:, held]).max() / np.linalg.norm(goal), abs=1e-6
        )
        assert q["directional_control"] == pytest.approx(100 * (on - off) / on, abs=1e-6)
        path = d[:, prim]
        dist = np.linalg.norm(path - path[:, :1], axis=0)
        a, b = np.argmax(dist >= 0.05 * dist[-1]), np.argmax(dist >= 0.95 * dist[-1])
        speed = np.linalg.norm(np.diff(path[:, a : b + 1], axis=1), axis=0).sum() / ((b - a) / 100.0)
        assert q["movement_velocity"] == pytest.approx(speed, rel=1e-6)
        # still before the onset, leaning within the limit
        assert np.abs(d[:, t < r.times["onset"] - 0.02]).max() < 0.3
        assert np.linalg.norm(goal) <= r.info["limit_deg"] * 0.75 + 1e-9
        for label, value in r.errors.items():
            assert q[ERRORS[label].quantity] == pytest.approx(value)
    normal = [r.quantities for r in targets if not r.errors]
    assert all(0.5 < q["reaction_time"] < 1.2 and q["directional_control"] > 70 for q in normal)
    assert targets[1].quantities["reaction_time"] >= 1.2
    assert targets[3].quantities["max_excursion"] <= 70.0 + 1e-6
    assert targets[5].quantities["directional_control"] <= 60.0 + 1e-6
    # a trunk sensor leans with every target; the pelvis is level in sideways leans
    kin = sim.kinematics
    right = targets[2]
    k = np.searchsorted(kin["time"], right.times["return_start"] - 0.5)
    assert abs(kin["trunk_lateral_lean"][k]) > 4.0 and abs(kin["pelvic_obliquity"][k]) < 1e-6


def test_slow_movement_stretches_the_primary_lean_to_its_velocity_and_fits_the_drills_trial():
    """``slow_movement`` makes the true ``movement_velocity`` the severity by stretching the primary lean on its
    minimum-jerk path (up to 5 s; the hold shortened so the trial fits in the drill's cycle, the last target of a
    set and of the session too, before the next centre is taken); a severity slower than the longest lean realises
    is recorded as what the body did, one at or above the lean's own velocity leaves it; the reaction delay to the
    lean's exact start is kept, and stacked with ``slow_reaction`` both severities hold."""
    from nmre.drills import target_plan

    cues = [t.cue for t in target_plan("limits_of_stability")]
    cycle = float(np.diff(cues).min())
    want = {0: 0.5, 2: 1.8, 4: 1.2, 6: 3.0, 7: 0.5, 9: 30.0, 15: 0.5}
    cfg = MOVEMENTS["limits_of_stability"]
    base = simulate(cfg(cues=cues, rounds=2), seed=SEED, kit="minimal")
    errors = {i: {"slow_movement": v} for i, v in want.items()}
    slow = simulate(cfg(cues=cues, rounds=2, errors=errors), seed=SEED, kit="minimal")
    for i, (a, b) in enumerate(zip(base.truth.targets, slow.truth.targets, strict=True)):
        lean = b.times["primary_end"] - b.times["onset"]
        hold = b.times["return_start"] - b.times["primary_end"]
        assert b.times["onset"] == pytest.approx(a.times["onset"])  # the same reaction to the lean's start
        assert hold >= 0.5 - 1e-9
        assert b.end <= b.start + cycle - 0.5  # the return is over before the next target's centre is taken
        if i not in want or want[i] >= a.quantities["movement_velocity"]:
            assert b.quantities == pytest.approx(a.quantities)
            continue
        v = b.quantities["movement_velocity"]
        assert b.errors == {"slow_movement": pytest.approx(v)}  # the realised value, not the asked one
        assert v < 0.5 * a.quantities["movement_velocity"]
        # within 1 % (the 100 Hz grid moves the 5-95 % crossings), or the longest lean (5 s, or what the trial
        # leaves) is quicker than asked
        if v != pytest.approx(want[i], rel=0.01):
            assert v > want[i] and (lean == pytest.approx(5.0) or hold == pytest.approx(0.5))
    assert any(b.times["primary_end"] - b.times["onset"] > 4.0 for b in slow.truth.targets)
    assert 9 in want and want[9] > base.truth.targets[9].quantities["movement_velocity"]
    both = simulate(
        cfg(cues=cues, rounds=2, errors={3: {"slow_movement": 1.0, "slow_reaction": 1.5}}),
        seed=SEED,
        kit="minimal",
    ).truth.targets[3]
    assert both.quantities["reaction_time"] == pytest.approx(1.5, abs=2e-3)
    assert both.quantities["movement_velocity"] < 0.5 * base.truth.targets[3].quantities["movement_velocity"]


@pytest.mark.parametrize(
    ("values", "threshold", "above", "want"),
    [
        ([0.0, 10.0, 20.0, 10.0, 0.0], 5.0, True, 0.03),  # crossings at 0.5 and 3.5 samples
        ([0.0, 10.0, 20.0, 10.0, 0.0], 15.0, True, 0.01),  # at 1.5 and 2.5
        ([0.0, 0.0, 0.0], 5.0, True, 0.0),  # never past it
        ([20.0, 10.0, 0.0, 10.0, 20.0], 5.0, False, 0.01),  # below: at 1.5 and 2.5
        ([10.0, 10.0, 0.0], 5.0, True, 0.015),  # starts past it: from the first sample to 1.5
        ([0.0, 6.0, 0.0, 6.0, 0.0], 3.0, True, 0.03),  # two excursions: first crossing in to last out
    ],
)
def test_excursion_time_interpolates_each_crossing(values, threshold, above, want):
    from nmre.sim.movements.base import excursion_time

    assert excursion_time(np.array(values), threshold, rate=100.0, above=above) == pytest.approx(want)


@pytest.mark.parametrize("movement", ["standing_knee_flexion", "seated_knee_extension"])
def test_fast_tempo_sets_the_active_time_and_the_band_only_moves_the_truth(movement):
    """``fast_tempo`` makes the rep's time out of the rest band its severity; in a clean session
    ``rest_band_deg`` changes the true value and not the body."""
    cfg = MOVEMENTS[movement](reps=3, errors={1: {"fast_tempo": 1.1}})
    reps = simulate(cfg, seed=SEED, kit="minimal").truth.reps
    assert reps[1].quantities["rep_active_time"] == pytest.approx(1.1, abs=1e-3)
    assert reps[0].quantities["rep_active_time"] > 2.5 and reps[2].quantities["rep_active_time"] > 2.5
    clean = dataclasses.replace(cfg, errors={})
    band = cfg.rest_band_deg + (10.0 if movement == "standing_knee_flexion" else -10.0)
    sim = simulate(clean, seed=SEED, kit="minimal")
    other = simulate(dataclasses.replace(clean, rest_band_deg=band), seed=SEED, kit="minimal")
    for sid in sim.data:
        assert np.array_equal(sim.data[sid][1], other.data[sid][1])
    for a, b in zip(sim.truth.reps, other.truth.reps, strict=True):
        assert b.quantities["rep_active_time"] < a.quantities["rep_active_time"]  # a narrower excursion
        assert b.quantities["knee_flexion_peak"] == a.quantities["knee_flexion_peak"]


def test_movement_time_is_onset_to_offset_at_5_percent_of_the_peak_speed():
    """A minimum-jerk rise (2 s), hold (1 s) and return (2 s): the speed 30 tau^2 (1 - tau)^2 / T is 5 % of
    its peak at tau = 0.05943 of each phase, so the movement lasts 5 - 4 x 0.05943 s; at rest before and
    after, nothing is added, and the speed's scale does not matter."""
    from nmre.sim.movements.arm import movement_time

    def min_jerk(x):
        x = np.clip(x, 0.0, 1.0)
        return x**3 * (10 - 15 * x + 6 * x * x)

    t = np.arange(0.0, 8.0, 0.01)
    m = min_jerk((t - 1.0) / 2.0) - min_jerk((t - 4.0) / 2.0)
    tau = (1 - math.sqrt(1 - 4 * math.sqrt(0.05 * 1.875 / 30.0))) / 2
    assert tau == pytest.approx(0.05943, abs=1e-5)
    want = 5.0 - 4 * tau
    assert movement_time(10.0 + 130.0 * m) == pytest.approx(want, abs=2e-3)
    assert movement_time(15.0 + 40.0 * m) == pytest.approx(want, abs=2e-3)
    assert movement_time(np.full(50, 15.0)) == 0.0


@pytest.mark.parametrize("side", ["right", "left"])
def test_standing_knee_flexion_starts_on_both_feet_with_straight_knees_then_shifts_onto_the_stance_leg(side):
    """The lead-in performs the drill's neutral pose: both feet on the floor, the moving knee at
    ``stand_knee_deg`` (1 deg) for ``stand`` s; then over ``shift`` s it relaxes to the 5 deg hang of the
    unloaded leg, which it keeps between reps. The reps and their truths are those of a session without
    the lead-in, later by ``stand + shift``."""
    cfg = MOVEMENTS["standing_knee_flexion"](reps=2, side=side)
    sim = simulate(cfg, seed=SEED, kit="minimal")
    mv, s = sim.movement, sim.movement.s
    t = np.arange(0.0, cfg.stand + cfg.shift + cfg.lead_in, 0.01)
    st = mv.state(t)
    k = mv.angles(0.0, float(t[-1]), [f"knee_flexion.{s}"])[f"knee_flexion.{s}"]
    both = t < cfg.stand
    assert np.allclose(k[: int(both.sum())], cfg.stand_knee_deg, atol=1e-6)
    assert abs(k[-1] - 5.0) < 1e-6  # hanging, as between reps
    foot, other = st.joints[f"ankle.{s}"], st.joints[f"ankle.{mv.o}"]
    lift = foot[2] - other[2]  # the moving ankle's height above the stance ankle, m
    assert np.max(np.abs(lift[both])) < 1e-3  # both feet on the floor
    assert np.min(lift[-10:]) > 1e-3  # then the moving foot is off it
    first = sim.truth.reps[0]
    assert first.start == pytest.approx(cfg.stand + cfg.shift + cfg.lead_in)
    short = simulate(dataclasses.replace(cfg, stand=0.0, shift=0.1), seed=SEED, kit="minimal").truth.reps
    for a, b in zip(sim.truth.reps, short, strict=True):
        assert a.start - b.start == pytest.approx(cfg.stand + cfg.shift - 0.1)
        assert a.quantities == pytest.approx(b.quantities)


def test_transition_duration_is_onset_to_offset_at_5_percent_of_each_components_peak_speed():
    """``transition_duration`` is the movement time by the usual definition (Teasdale et al. 1993): from the
    first instant the trunk's inclination, the pelvis' forward position or its height moves at 5 % of its
    peak speed to the last one; checked here on the body's own kinematics (the standing sway included, which
    moves the crossings by well under 0.02 s). The record's span stays the exact first to last instant of
    motion, and ``slow_transition`` sets the movement time to its severity."""
    from nmre.sim.movements.base import excursion

    cfg = MOVEMENTS["sit_to_stand"](
        transitions=4, errors={1: {"slow_transition": 4.5}, 2: {"slow_transition": 3.2}}
    )
    sim = simulate(cfg, seed=2, kit="minimal")
    k = sim.kinematics
    t = k["time"]
    for r in sim.truth.transitions:
        inside = (t >= r.start) & (t <= r.end)
        on, off = [], []
        for v in (k["trunk_lean"][inside], k["pelvis_pos"][0][inside], k["pelvis_pos"][2][inside]):
            speed = np.abs(np.gradient(v)) * sim.imu_rate
            a, b = excursion(speed, 0.05 * speed.max(), sim.imu_rate)
            on.append(a)
            off.append(b)
        assert max(off) - min(on) == pytest.approx(r.quantities["transition_duration"], abs=0.02), r.index
        assert r.duration - r.quantities["transition_duration"] > 0.1  # the exact ends no detector can see
    tr = sim.truth.transitions
    assert tr[1].quantities["transition_duration"] == pytest.approx(4.5, abs=1e-6)
    assert tr[2].quantities["transition_duration"] == pytest.approx(3.2, abs=1e-6)
    assert tr[1].errors["slow_transition"] == tr[1].quantities["transition_duration"]


@pytest.mark.parametrize("name", ["shoulder_scaption", "pnf_d2_flexion"])
def test_arm_tempo_errors_scale_the_rep_to_the_movement_time_asked(name):
    """too_fast / too_slow: the rep's phases scaled together until its movement time is the severity; the
    reps after it keep their own tempo and start later."""
    sim = simulate(MOVEMENTS[name](reps=4, errors={1: {"too_fast": 2.2}, 2: {"too_slow": 12.6}}), seed=4)
    reps = sim.truth.reps
    assert reps[1].quantities["movement_time"] == pytest.approx(2.2, abs=0.01)
    assert reps[2].quantities["movement_time"] == pytest.approx(12.6, abs=0.01)
    assert reps[1].errors == {"too_fast": pytest.approx(2.2, abs=0.01)}
    normal = [reps[0].quantities["movement_time"], reps[3].quantities["movement_time"]]
    assert min(normal) > 3.5 and max(normal) < 5.5  # the others at their own tempo
    assert reps[2].end - reps[2].start == pytest.approx(
        (reps[0].end - reps[0].start) * 12.6 / reps[0].quantities["movement_time"], rel=0.06
    )
    assert sim.duration > reps[3].end


def test_pnf_starts_in_the_neutral_pose_then_brings_the_hand_to_the_opposite_hip():
    """The lead-in performs the drill's neutral pose: the arm hangs by the side (elevation 0, the upper arm
    unturned against the trunk) for ``neutral`` s, then the hand goes to the opposite hip (the diagonal's
    start) over ``reach`` s. The reps and their truths are those of a session without the lead-in, later by
    ``neutral + reach``."""
    cfg = MOVEMENTS["pnf_d2_flexion"](reps=2, errors={1: {"incomplete_range": 100.0}})
    sim = simulate(cfg, seed=SEED, kit="minimal")
    mv = sim.movement
    t = np.arange(0.0, cfg.neutral + cfg.reach + cfg.lead_in, 0.01)
    st = mv.state(t, ("trunk", "upper_arm.r"))
    rel = Rotation.from_matrix(np.einsum("nji,njk->nik", st.rotation["trunk"], st.rotation["upper_arm.r"]))
    hang = t < cfg.neutral
    assert np.max(np.degrees(rel[hang].magnitude())) < 1e-6  # the arm as the trunk: by the side, unturned
    el = mv.angles(0.0, float(t[-1]), ["shoulder_elevation"])["shoulder_elevation"]
    assert np.max(el[: int(hang.sum())]) < 1e-4  # (arccos near 1: 1e-6 deg of rounding)
    assert el[-1] == pytest.approx(mv.E0, abs=1e-6)  # at the diagonal's start, hand by the other hip
    first = sim.truth.reps[0]
    assert first.start == pytest.approx(cfg.neutral + cfg.reach + cfg.lead_in)
    short = simulate(dataclasses.replace(cfg, neutral=0.0, reach=0.1), seed=SEED, kit="minimal").truth.reps
    for a, b in zip(sim.truth.reps, short, strict=True):
        assert a.start - b.start == pytest.approx(cfg.neutral + cfg.reach - 0.1)
        # the same rep up to the truth grid's one sample at its ends (SPARC moves by 2e-4)
        assert a.quantities == pytest.approx(b.quantities, rel=1e-3)
        assert a.errors == pytest.approx(b.errors, rel=1e-3)


def test_scaption_starts_in_the_neutral_pose_then_leans_the_trunk_with_the_arm_against_the_side():
    """The lead-in performs the drill's calibration: the neutral pose (trunk upright, arm by the side) for
    ``neutral`` s, then the trunk leans ``bend_deg`` away from the arm and back over ``bend`` s with the arm
    going with it (its orientation relative to the trunk unchanged), then upright. The reps and their truths
    are those of a session without the lean."""
    cfg = MOVEMENTS["shoulder_scaption"](reps=2, errors={1: {"trunk_compensation": 12.0}})
    sim = simulate(cfg, seed=SEED, kit="minimal")
    mv = sim.movement
    t = np.arange(0.0, cfg.neutral + cfg.bend + cfg.lead_in, 0.01)
    st = mv.state(t, ("trunk", "upper_arm.r"))
    rel = Rotation.from_matrix(np.einsum("nji,njk->nik", st.rotation["trunk"], st.rotation["upper_arm.r"]))
    rest = rel[0]
    assert np.max(np.degrees((rest.inv() * rel).magnitude())) < 1e-6  # the arm stays as it hangs on the trunk
    ang = mv.angles(0.0, float(t[-1]), ["shoulder_elevation", "trunk_lateral_lean"])
    assert np.max(ang["shoulder_elevation"]) < 1e-4
    lean = np.abs(ang["trunk_lateral_lean"])
    still = t < cfg.neutral
    assert np.max(lean[: int(still.sum())]) < 1.0  # quiet stance
    assert np.max(lean) == pytest.approx(cfg.bend_deg, abs=1.0)
    assert lean[-1] < 1.0
    first = sim.truth.reps[0]
    assert first.start == pytest.approx(cfg.neutral + cfg.bend + cfg.lead_in)
    # no lean, the same time before the first rep (the quiet sway is a function of time): the same reps
    plain = dataclasses.replace(cfg, bend_deg=0.0)
    for a, b in zip(sim.truth.reps, simulate(plain, seed=SEED, kit="minimal").truth.reps, strict=True):
        assert a.start == b.start and a.end == b.end
        assert a.quantities == pytest.approx(b.quantities)
        assert a.errors == pytest.approx(b.errors)

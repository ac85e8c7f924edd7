"""Stances: physiological sway, truth sway metrics from the kinematics, conditions, excessive sway, loss of balance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import signal
from scipy.spatial.transform import Rotation

from nmre.sim import (
    ERRORS,
    GRAVITY,
    QuietStanceConfig,
    SingleLegStanceConfig,
    StanceConfig,
    Subject,
    TandemStanceConfig,
    simulate,
)

CFG = StanceConfig(
    duration=50.0, errors=[("excessive_sway", 15.0, 30.0, 0.3), ("loss_of_balance", 38.0, 43.0)]
)


@pytest.fixture(scope="module")
def sim():
    return simulate(CFG, seed=4)


def true_force(sim, sid="imu.pelvis"):
    """Oracle: specific force R^T (a + g) from the true orientation and linear acceleration (scipy)."""
    r = Rotation.from_quat(sim.orientations[sid].T, scalar_first=True)
    seg = sid.split(".", 1)[1]
    a = sim.kinematics[f"{seg}_lin_acc"].T + np.array([0.0, 0.0, GRAVITY])
    return r.inv().apply(a).T  # sensor frame


def oracle_metrics(f):
    """Moe-Nilssen tilt correction by the mean, then RMS, path and 95 % ellipse of the horizontal part."""
    g = f.mean(axis=1) / np.linalg.norm(f.mean(axis=1))
    h = f - np.outer(g, g @ f)  # the part perpendicular to gravity, still 3-D
    h -= h.mean(axis=1, keepdims=True)
    rms = math.sqrt(np.mean(np.sum(h**2, axis=0)))
    path = np.sum(np.linalg.norm(np.diff(h, axis=1), axis=0))
    # ellipse: the two non-zero eigenvalues of the 3x3 covariance
    ev = np.sort(np.linalg.eigvalsh(np.cov(h)))[1:]
    area = math.pi * 5.991464547107979 * math.sqrt(ev[0] * ev[1])
    return rms, path, area


def test_windows_cover_the_stance_with_labels_and_severities(sim):
    w = sim.truth.windows
    assert [(x.start, x.end) for x in w] == [(5.0 * k, 5.0 * (k + 1)) for k in range(10)]
    labels = [tuple(x.errors) for x in w]
    assert labels[3:6] == [("excessive_sway",)] * 3  # 15-30 s
    assert all(not lab for i, lab in enumerate(labels) if i not in (3, 4, 5, 7))
    assert labels[7] == ("loss_of_balance",)  # touchdown at 39 s
    assert w[7].errors["loss_of_balance"] == pytest.approx(39.0) == w[7].quantities["loss_of_balance"]
    assert w[3].errors["excessive_sway"] == 0.3
    assert math.isnan(w[0].touchdown) and w[7].touchdown == pytest.approx(39.0)
    ep = sim.truth.episodes
    assert [(e.label, e.start, e.end) for e in ep] == [
        ("excessive_sway", 15.0, 30.0),
        ("loss_of_balance", 38.0, 43.0),
    ]
    d = sim.truth.to_dict()
    assert d["exercise"] == "single_leg_stance" and d["windows"][0]["label"] == "eo_firm"
    json.dumps(d)


def test_truth_sway_metrics_equal_an_independent_computation(sim):
    f = true_force(sim)
    t = sim.kinematics["time"]
    for w in sim.truth.windows:
        sel = (t >= w.start - 1e-9) & (t < w.end - 1e-9)
        rms, path, area = oracle_metrics(f[:, sel])
        assert w.quantities["sway_rms"] == pytest.approx(rms, rel=1e-6)
        assert w.quantities["sway_path"] == pytest.approx(path, rel=1e-6)
        assert w.quantities["sway_area95"] == pytest.approx(area, rel=1e-6)


def test_normal_sway_is_physiological_and_the_accelerometer_sees_it(sim):
    t, v = sim.data["imu.pelvis"]
    for w in (sim.truth.windows[0], sim.truth.windows[1], sim.truth.windows[9]):
        assert 0.02 <= w.quantities["sway_rms"] <= 0.4  # m/s^2 (Neville et al. 2015: 0.04-0.9)
        assert w.info["peak_trunk_tilt_deg"] < 8.0
        sel = (t >= w.start) & (t < w.end)
        rms, _, _ = oracle_metrics(v[:3, sel])  # the measured accelerometer, noise and bias included
        assert rms == pytest.approx(w.quantities["sway_rms"], rel=0.3)


def test_sway_is_band_limited(sim):
    pos = sim.kinematics["pelvis_pos"][:2, sim.kinematics["time"] < 15.0]
    f, p = signal.welch(pos - pos.mean(axis=1, keepdims=True), fs=sim.imu_rate, nperseg=1500)
    p = p.sum(axis=0)
    inside = p[(f >= 0.06) & (f <= 1.6)].sum()
    assert inside > 0.95 * p.sum()


def test_excessive_sway_episode_has_its_severity_as_true_sway_rms(sim):
    t = sim.kinematics["time"]
    f = true_force(sim)
    sel = (t >= 15.0) & (t <= 30.0)
    rms, _, _ = oracle_metrics(f[:, sel])
    assert rms == pytest.approx(0.3, rel=0.01)
    normal = np.mean([w.quantities["sway_rms"] for w in sim.truth.windows[:3]])
    assert sim.truth.windows[4].quantities["sway_rms"] > 1.5 * normal


def test_drawn_excessive_sway_is_two_to_four_times_the_subjects_own():
    cfg = StanceConfig(duration=30.0, errors=[("excessive_sway", 10.0, 20.0)])
    sim = simulate(cfg, seed=12)
    plain = simulate(StanceConfig(duration=30.0), seed=12)
    ep = sim.truth.episodes[0]
    own = plain.movement.horizontal_force(plain.movement.grid(10.0, 20.0))
    from nmre.sim.movements.base import sway_metrics

    lo, hi = ERRORS["excessive_sway"].drawn
    factor = ep.severity / sway_metrics(own)["sway_rms"]
    assert lo - 0.01 <= factor <= hi + 0.01


@pytest.mark.parametrize("cls", [QuietStanceConfig, TandemStanceConfig, SingleLegStanceConfig])
def test_eyes_closed_and_foam_widen_sway_in_every_stance(cls):
    rms = {}
    for cond, kw in {
        "eo_firm": {},
        "ec_firm": {"eyes_closed": True},
        "eo_foam": {"foam": True},
        "ec_foam": {"eyes_closed": True, "foam": True},
    }.items():
        sim = simulate(cls(duration=20.0, window=20.0, **kw), seed=9, subject=Subject.nominal())
        (w,) = sim.truth.windows
        assert w.label == cond
        rms[cond] = w.quantities["sway_rms"]
    assert rms["ec_firm"] == pytest.approx(1.5 * rms["eo_firm"], rel=0.02)
    assert rms["eo_foam"] == pytest.approx(1.8 * rms["eo_firm"], rel=0.02)
    assert rms["ec_foam"] == pytest.approx(2.7 * rms["eo_firm"], rel=0.03)


def test_base_of_support_orders_sway():
    rms = {
        cls.__name__: simulate(cls(duration=20.0, window=20.0), seed=5, subject=Subject.nominal())
        .truth.windows[0]
        .quantities["sway_rms"]
        for cls in (QuietStanceConfig, TandemStanceConfig, SingleLegStanceConfig)
    }
    assert rms["QuietStanceConfig"] < rms["TandemStanceConfig"] < rms["SingleLegStanceConfig"]


def test_quiet_stance_condition_names():
    assert QuietStanceConfig(condition="ec_foam").eyes_closed and QuietStanceConfig(condition="ec_foam").foam
    assert QuietStanceConfig(eyes_closed=True).condition == "ec_firm"
    from nmre.errors import ConfigError

    with pytest.raises(ConfigError, match="one of eo_firm, ec_firm, eo_foam, ec_foam"):
        QuietStanceConfig(condition="eyes_shut")
    with pytest.raises(ConfigError, match="False with condition 'eo_firm'"):
        QuietStanceConfig(condition="eo_firm", foam=True)


@pytest.mark.parametrize("cls", [QuietStanceConfig, TandemStanceConfig])
def test_both_feet_stay_on_the_ground_in_two_legged_stances(cls):
    sim = simulate(cls(duration=10.0, eyes_closed=True, foam=True), seed=3, kit="all")
    st = sim.movement.state(np.arange(0, 10.0, 0.01))
    for s in ("r", "l"):
        ankle = st.joints[f"ankle.{s}"]
        assert np.max(np.abs(ankle - ankle[:, :1])) < 1e-9
    if cls is TandemStanceConfig:
        assert abs(st.joints["ankle.r"][1, 0]) < 1e-9 and st.joints["ankle.r"][0, 0] > 0.1  # right foot ahead


def test_single_leg_stance_on_the_left_leg():
    sim = simulate(SingleLegStanceConfig(duration=10.0, side="left"), seed=3, kit="all")
    st = sim.movement.state(np.arange(0, 10.0, 0.05))
    ankle_l = st.joints["ankle.l"]
    assert np.max(np.abs(ankle_l - ankle_l[:, :1])) < 1e-9  # the stance foot stays put
    assert np.all(st.joints["ankle.r"][2] > 0.1)  # the right foot is off the ground
    assert np.all(st.angles["knee_flexion.r"] > 60.0)


def test_loss_of_balance_is_an_excursion_ending_in_touchdown(sim):
    w = sim.truth.windows[7]
    td = w.touchdown
    t, v = sim.data["imu.pelvis"]
    dev = np.abs(np.linalg.norm(v[:3], axis=0) - GRAVITY)
    near = np.abs(t - td) < 0.2
    quiet = t < 15.0
    assert dev[near].max() > 5.0  # the touchdown shock
    assert dev[quiet].max() < 0.5
    # a large excursion towards the raised (left, +y) foot over about a second, then recovery
    y = sim.kinematics["pelvis_pos"][1]
    y0 = np.mean(y[t < 15.0])
    at_td = np.searchsorted(t, td)
    assert y[at_td] - y0 > 0.05
    assert abs(y[np.searchsorted(t, td - 1.0)] - y0) < 0.02
    assert abs(y[np.searchsorted(t, 43.0 - 0.5)] - y0) < 0.02
    assert w.info["peak_trunk_tilt_deg"] > 15.0
    tt, tv = sim.data["imu.trunk"]
    tilt = np.degrees(np.arccos(np.clip(tv[2] / np.linalg.norm(tv[:3], axis=0), -1, 1)))
    assert tilt[np.abs(tt - (td - 0.05)) < 0.05].mean() > 12.0  # seen by the trunk accelerometer


def test_gmed_is_the_active_muscle_in_stance_and_bursts_at_touchdown(sim):
    t, v = sim.data["emg.r"]
    quiet = t < 15.0
    rms = np.sqrt(np.mean(v[:, quiet] ** 2, axis=1))
    vmo, vl, bf, gmed = rms
    assert gmed > 1.5 * max(vmo, vl, bf)
    td = sim.truth.windows[7].touchdown
    burst = np.abs(t - td) < 0.2
    assert np.sqrt(np.mean(v[3, burst] ** 2)) > 2.0 * gmed


def test_gyro_matches_orientation_derivative_in_stance(sim):
    dt = 1.0 / sim.imu_rate
    for sid in ("imu.pelvis", "imu.trunk"):
        r = Rotation.from_quat(sim.orientations[sid].T, scalar_first=True)
        w_ref = (r[:-2].inv() * r[2:]).as_rotvec() / (2 * dt)
        gyr = sim.data[sid][1][3:, 1:-1] - sim.imu_bias[sid][3:, None]
        assert np.sqrt(np.mean((gyr - w_ref.T) ** 2)) < 0.01


def test_sway_truth_follows_the_worn_sensor():
    cfg = StanceConfig(duration=10.0)
    pelvis = simulate(cfg, seed=2, kit=["pelvis", "trunk"]).truth.windows[0]
    trunk = simulate(cfg, seed=2, kit=["trunk"]).truth.windows[0]
    assert pelvis.info["sensor"] == 0.0 and trunk.info["sensor"] == 1.0
    assert pelvis.quantities["sway_rms"] != trunk.quantities["sway_rms"]


def test_stance_is_deterministic():
    cfg = StanceConfig(duration=10.0, errors=[("loss_of_balance", 4.0, 8.0)])
    a, b = simulate(cfg, seed=1), simulate(cfg, seed=1)
    for sid in a.data:
        assert a.data[sid][1].tobytes() == b.data[sid][1].tobytes()
    assert a.truth.to_dict() == b.truth.to_dict()

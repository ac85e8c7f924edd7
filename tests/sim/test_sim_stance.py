"""Single-leg stance: physiological sway, injected excessive sway and loss of balance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import signal
from scipy.spatial.transform import Rotation

from nmre.sim import GRAVITY, StanceConfig, simulate

CFG = StanceConfig(duration=50.0, errors=[("excessive_sway", 15.0, 30.0), ("loss_of_balance", 38.0, 43.0)])


@pytest.fixture(scope="module")
def sim():
    return simulate(CFG, seed=4)


def horizontal_linear_acc(sim, sid="imu.pelvis"):
    """Tilt removal with the true orientation: world-frame acc minus gravity, horizontal part (2, n)."""
    t, v = sim.data[sid]
    r = Rotation.from_quat(sim.orientations[sid].T, scalar_first=True)
    world = r.apply((v[:3] - sim.imu_bias[sid][:3, None]).T).T
    world[2] -= GRAVITY
    return t, world[:2]


def test_windows_partition_the_stance_with_labels(sim):
    w = sim.truth.windows
    assert [(x.start, x.end) for x in w] == [(0, 15), (15, 30), (30, 38), (38, 43), (43, 50)]
    assert [x.errors for x in w] == [(), ("excessive_sway",), (), ("loss_of_balance",), ()]
    assert math.isnan(w[0].touchdown) and w[3].touchdown == pytest.approx(39.0)
    d = sim.truth.to_dict()
    assert d["exercise"] == "stance" and d["windows"][0]["touchdown"] is None
    json.dumps(d)


def test_normal_sway_is_physiological(sim):
    t, acc = horizontal_linear_acc(sim)
    for w in (sim.truth.windows[0], sim.truth.windows[2]):
        assert 0.02 <= w.pelvis_acc_rms <= 0.08
        assert 2.0 <= w.sway_rms_mm <= 20.0
        assert w.peak_trunk_tilt_deg < 6.0
        sel = (t >= w.start) & (t < w.end)
        measured = np.sqrt(np.mean(np.sum(acc[:, sel] ** 2, axis=0)))  # includes sensor noise
        assert 0.02 <= measured <= 0.08
        assert measured == pytest.approx(w.pelvis_acc_rms, abs=0.02)


def test_sway_is_band_limited(sim):
    pos = sim.kinematics["pelvis_pos"][:2, sim.kinematics["time"] < 15.0]
    f, p = signal.welch(pos - pos.mean(axis=1, keepdims=True), fs=sim.imu_rate, nperseg=1500)
    p = p.sum(axis=0)
    inside = p[(f >= 0.06) & (f <= 1.6)].sum()
    assert inside > 0.95 * p.sum()


def test_excessive_sway_scales_amplitude_by_the_configured_factor(sim):
    w = sim.truth.windows
    normal_acc = 0.5 * (w[0].pelvis_acc_rms + w[2].pelvis_acc_rms)
    normal_mm = 0.5 * (w[0].sway_rms_mm + w[2].sway_rms_mm)
    assert 2.0 <= w[1].pelvis_acc_rms / normal_acc <= 3.2
    assert 1.8 <= w[1].sway_rms_mm / normal_mm <= 3.5
    sim.kinematics["time"]
    # away from the 1 s ramps the amplitude factor is exactly the configured one
    mid = StanceConfig().sway_factor
    assert w[1].sway_scale == pytest.approx(mid, abs=0.25)


def test_eyes_closed_sways_more_than_eyes_open():
    cfg_open = StanceConfig(duration=20.0)
    cfg_closed = StanceConfig(duration=20.0, eyes_closed=True)
    a, b = simulate(cfg_open, seed=9).truth.windows[0], simulate(cfg_closed, seed=9).truth.windows[0]
    assert b.pelvis_acc_rms == pytest.approx(1.6 * a.pelvis_acc_rms, rel=1e-3)  # small-angle geometry


def test_loss_of_balance_is_an_excursion_ending_in_touchdown(sim):
    w = sim.truth.windows[3]
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
    assert abs(y[np.searchsorted(t, w.end - 0.5)] - y0) < 0.02
    # the trunk tilts
    assert w.peak_trunk_tilt_deg > 15.0
    tt, tv = sim.data["imu.trunk"]
    tilt = np.degrees(np.arccos(np.clip(tv[2] / np.linalg.norm(tv[:3], axis=0), -1, 1)))
    assert tilt[np.abs(tt - (td - 0.05)) < 0.05].mean() > 12.0  # seen by the trunk accelerometer


def test_gmed_is_the_active_muscle_in_stance_and_bursts_at_touchdown(sim):
    t, v = sim.data["emg.r"]
    quiet = t < 15.0
    rms = np.sqrt(np.mean(v[:, quiet] ** 2, axis=1))
    vmo, vl, bf, gmed = rms
    assert gmed > 1.5 * max(vmo, vl, bf)
    td = sim.truth.windows[3].touchdown
    burst = np.abs(t - td) < 0.2
    assert np.sqrt(np.mean(v[3, burst] ** 2)) > 2.0 * gmed


def test_gyro_matches_orientation_derivative_in_stance(sim):
    dt = 1.0 / sim.imu_rate
    for sid in ("imu.pelvis", "imu.trunk"):
        r = Rotation.from_quat(sim.orientations[sid].T, scalar_first=True)
        w_ref = (r[:-2].inv() * r[2:]).as_rotvec() / (2 * dt)
        gyr = sim.data[sid][1][3:, 1:-1] - sim.imu_bias[sid][3:, None]
        assert np.sqrt(np.mean((gyr - w_ref.T) ** 2)) < 0.005


def test_stance_is_deterministic():
    cfg = StanceConfig(duration=10.0, errors=[("loss_of_balance", 4.0, 8.0)])
    a, b = simulate(cfg, seed=1), simulate(cfg, seed=1)
    for sid in a.data:
        assert a.data[sid][1].tobytes() == b.data[sid][1].tobytes()
    assert a.truth.to_dict() == b.truth.to_dict()

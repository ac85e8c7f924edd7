"""IMU streams agree with the body model they are derived from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nmre.sim import GRAVITY, IMU_STREAMS, SquatConfig, simulate
from nmre.sim.body import cardan_yxz

CFG = SquatConfig(reps=3, errors={1: ("knee_valgus",), 2: ("shallow_squat",)})


@pytest.fixture(scope="module")
def sim():
    return simulate(CFG, seed=7)


def rot(sim, sid):
    return Rotation.from_quat(sim.orientations[sid].T, scalar_first=True)


def test_acc_magnitude_is_g_at_rest_and_z_points_up(sim):
    t, v = sim.data["imu.pelvis"]
    for sid in IMU_STREAMS:
        t, v = sim.data[sid]
        rest = t < 1.5  # quiet standing before the first rep
        acc = v[:3, rest]
        # bias is at most 0.08 m/s^2 per axis; noise is ~0.014 m/s^2 per sample
        assert abs(np.mean(np.linalg.norm(acc, axis=0)) - GRAVITY) < 0.15
        assert np.mean(acc[2]) > 9.6
        corrected = acc - sim.imu_bias[sid][:3, None]
        assert abs(np.mean(np.linalg.norm(corrected, axis=0)) - GRAVITY) < 0.01


def test_gyro_is_the_body_frame_derivative_of_orientation(sim):
    """Independent oracle: central difference of the true orientations with scipy."""
    dt = 1.0 / sim.imu_rate
    for sid in IMU_STREAMS:
        r = rot(sim, sid)
        w_ref = (r[:-2].inv() * r[2:]).as_rotvec() / (2 * dt)
        gyr = sim.data[sid][1][3:, 1:-1] - sim.imu_bias[sid][3:, None]
        err = gyr - w_ref.T
        assert np.sqrt(np.mean(err**2)) < 0.005  # noise 1.4e-3 rad/s + O(dt^2) of the difference
        peak = np.max(np.abs(w_ref))
        assert peak > (1.0 if sid == "imu.thigh.r" else 0.2)  # the segments really rotate (rad/s)


def _integrate(q0: Rotation, gyr: np.ndarray, dt: float) -> Rotation:
    """Quaternion integration with the mean rate over each interval (body frame)."""
    r = q0
    for k in range(gyr.shape[1] - 1):
        r = r * Rotation.from_rotvec(0.5 * (gyr[:, k] + gyr[:, k + 1]) * dt)
    return r


@pytest.mark.parametrize("sid", ["imu.thigh.r", "imu.shank.r", "imu.trunk"])
def test_integrated_gyro_follows_orientation_over_a_rep(sim, sid):
    rep = sim.truth.reps[0]
    t, v = sim.data[sid]
    sel = np.flatnonzero((t >= rep.start - 0.2) & (t <= rep.end + 0.2))
    dt = 1.0 / sim.imu_rate
    truth = rot(sim, sid)
    q0 = truth[sel[0]]
    span = t[sel[-1]] - t[sel[0]]
    # with the bias removed, only noise and integration error remain
    end = _integrate(q0, v[3:, sel] - sim.imu_bias[sid][3:, None], dt)
    assert np.degrees((end.inv() * truth[sel[-1]]).magnitude()) < 0.3
    # mid-rep too (the segment is far from neutral at the bottom)
    mid = sel[: len(sel) // 2]
    end_mid = _integrate(q0, v[3:, mid] - sim.imu_bias[sid][3:, None], dt)
    assert np.degrees((end_mid.inv() * truth[mid[-1]]).magnitude()) < 0.3
    # with the bias left in, the drift is of the order of |bias| * time
    raw = _integrate(q0, v[3:, sel], dt)
    drift = np.degrees((raw.inv() * truth[sel[-1]]).magnitude())
    expect = np.degrees(np.linalg.norm(sim.imu_bias[sid][3:])) * span
    assert 0.3 * expect < drift < 1.3 * expect


def test_acc_is_rotated_linear_acceleration_plus_gravity(sim):
    """Independent oracle: second difference of the pelvis position, rotated by scipy."""
    dt = 1.0 / sim.imu_rate
    p = sim.kinematics["pelvis_pos"]
    a = (p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2]) / dt**2
    a[2] += GRAVITY
    r = rot(sim, "imu.pelvis")[1:-1]
    ref = r.inv().apply(a.T).T
    acc = sim.data["imu.pelvis"][1][:3, 1:-1] - sim.imu_bias["imu.pelvis"][:3, None]
    assert np.sqrt(np.mean((acc - ref) ** 2)) < 0.03
    # the pelvis descends during a squat and the vertical acceleration shows it
    z = p[2]
    rep = sim.truth.reps[0]
    assert z[np.searchsorted(sim.kinematics["time"], rep.bottom)] < z[0] - 0.15
    assert np.ptp(sim.kinematics["pelvis_lin_acc"][2]) > 0.5


def test_knee_angle_from_sensor_orientations_equals_model(sim):
    thigh, shank = rot(sim, "imu.thigh.r"), rot(sim, "imu.shank.r")
    ang = np.degrees((thigh.inv() * shank).as_euler("YXZ"))
    kin = sim.kinematics
    np.testing.assert_allclose(ang[:, 0], kin["knee_flexion"], atol=1e-6)
    np.testing.assert_allclose(-ang[:, 1], kin["knee_valgus"], atol=1e-6)
    np.testing.assert_allclose(ang[:, 2], 0.0, atol=1e-6)
    assert kin["knee_flexion"].max() > 85.0


def test_mounting_misalignment_rotates_sensor_frame_only():
    tilt = (5.0, -8.0, 20.0)
    plain = simulate(CFG, seed=7)
    moved = simulate(CFG, seed=7, mounting={"imu.thigh.r": tilt})
    m = Rotation.from_rotvec(np.radians(tilt))
    # sensor orientation = segment orientation * mounting; undoing it recovers the segment
    back = rot(moved, "imu.thigh.r") * m.inv()
    assert np.max((back.inv() * rot(plain, "imu.thigh.r")).magnitude()) < 1e-9
    # the accelerometer at rest reads gravity in the rotated frame (up to the small standing sway)
    acc = moved.data["imu.thigh.r"][1][:3, :100].mean(axis=1) - moved.imu_bias["imu.thigh.r"][:3]
    np.testing.assert_allclose(
        acc, m.inv().apply([0, 0, GRAVITY]), atol=0.4
    )  # the thigh is ~2 deg off vertical
    g_sensor = rot(moved, "imu.thigh.r")[:100].inv().apply([0, 0, GRAVITY]).mean(axis=0)
    np.testing.assert_allclose(acc, g_sensor, atol=0.01)
    for sid in ("imu.pelvis", "imu.trunk", "imu.shank.r"):
        assert np.array_equal(moved.data[sid][1], plain.data[sid][1])
    np.testing.assert_allclose(moved.kinematics["knee_flexion"], plain.kinematics["knee_flexion"])


@pytest.mark.parametrize(("sid", "angle"), [("imu.shank.r", "shank_tilt"), ("imu.trunk", "trunk_lean")])
def test_sagittal_tilt_from_acc_in_the_bottom_hold_agrees_with_model(sim, sid, angle):
    t, v = sim.data[sid]
    sagittal = [rep for rep in sim.truth.reps if "knee_valgus" not in rep.errors]  # no frontal-plane tilt
    assert len(sagittal) == 2
    for rep in sagittal:
        sel = np.abs(t - rep.bottom) <= 0.1  # the middle of the bottom hold: no linear acceleration
        acc = v[:3, sel].mean(axis=1)
        tilt = np.degrees(np.arctan2(-acc[0], acc[2]))
        model = sim.kinematics[angle][sel].mean()
        assert model > 10.0
        assert abs(tilt - model) < 1.0  # bias <= 0.08 m/s^2 is <= 0.5 deg


def test_hip_flexion_and_trunk_lean_are_consistent_with_segments(sim):
    pel, thigh, trunk = rot(sim, "imu.pelvis"), rot(sim, "imu.thigh.r"), rot(sim, "imu.trunk")
    hip = -np.degrees(cardan_yxz((pel.inv() * thigh).as_matrix())[0])
    np.testing.assert_allclose(hip, sim.kinematics["hip_flexion"], atol=1e-6)
    z = trunk.apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(
        np.degrees(np.arctan2(z[:, 0], z[:, 2])), sim.kinematics["trunk_lean"], atol=1e-6
    )


@pytest.mark.parametrize("rate", [100.0, 200.0])
def test_imu_rate_sets_sample_times(rate):
    sim = simulate(SquatConfig(reps=1), seed=3, imu_rate=rate)
    t, v = sim.data["imu.trunk"]
    assert v.shape == (6, t.shape[0])
    np.testing.assert_allclose(np.diff(t), 1.0 / rate)
    assert t[-1] <= sim.duration < t[-1] + 1.0 / rate


def test_an_independent_ahrs_recovers_the_knee_angle_from_acc_and_gyro(sim):
    """Oracle: ahrs' Madgwick filter fuses the simulated acc + gyro into orientations."""
    from ahrs.filters import Madgwick

    q = {}
    for sid in ("imu.thigh.r", "imu.shank.r"):
        _, v = sim.data[sid]
        gyr = v[3:] - sim.imu_bias[sid][3:, None]  # as after a gyro-bias calibration at rest
        f = Madgwick(
            gyr=gyr.T, acc=v[:3].T, frequency=sim.imu_rate, gain=0.05, q0=sim.orientations[sid][:, 0]
        )
        q[sid] = Rotation.from_quat(f.Q, scalar_first=True)
    knee = np.degrees((q["imu.thigh.r"].inv() * q["imu.shank.r"]).as_euler("YXZ"))[:, 0]
    err = knee - sim.kinematics["knee_flexion"]
    assert np.max(np.abs(err)) < 3.0
    assert np.sqrt(np.mean(err**2)) < 1.5

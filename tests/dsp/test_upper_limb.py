"""Humero-thoracic elevation, shoulder-girdle elevation and angular speed on constructed orientations.

Oracles are computed here from rotation matrices (scipy), not from the code under test:
the humerus is the upper arm's -z axis expressed in the trunk frame.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nmre.core.model import Block
from nmre.dsp.upper_limb import AngularSpeed, GirdleElevation, HumeralElevation, humeral_angles
from nmre.errors import ConfigError


def euler(axis: str, deg: np.ndarray | float) -> Rotation:
    return Rotation.from_euler(axis, np.reshape(np.asarray(deg, dtype=float), (-1, 1)), degrees=True)


def quat(r: Rotation) -> np.ndarray:
    """(w, x, y, z) rows, shape (4, n)."""
    q = np.atleast_2d(r.as_quat())
    return np.ascontiguousarray(np.vstack([q[:, 3], q[:, 0], q[:, 1], q[:, 2]]))


def arm_rotation(elev_deg: np.ndarray, plane_deg: np.ndarray, side: str = "right") -> Rotation:
    """Upper arm relative to the trunk: elevation in a plane (azimuth from forward towards the arm's side)."""
    s = -1.0 if side == "right" else 1.0  # right: lateral is -y
    return euler("z", s * np.asarray(plane_deg)) * euler("y", -np.asarray(elev_deg))


def oracle(trunk: Rotation, arm: Rotation, side: str = "right") -> tuple[np.ndarray, np.ndarray]:
    rel = trunk.inv() * arm
    h = -rel.apply([0.0, 0.0, 1.0])
    h = np.atleast_2d(h)
    elev = np.degrees(np.arccos(np.clip(-h[:, 2], -1, 1)))
    lateral = -h[:, 1] if side == "right" else h[:, 1]
    return elev, np.degrees(np.arctan2(lateral, h[:, 0]))


@pytest.mark.parametrize("side", ["right", "left"])
def test_humeral_angles_match_the_humerus_direction(side: str) -> None:
    rng = np.random.default_rng(3)
    e = rng.uniform(1, 179, 200)
    p = rng.uniform(-60, 150, 200)
    axial = rng.uniform(-80, 80, 200)
    rel = arm_rotation(e, p, side) * euler("z", axial)
    a, b, _ = (rel.as_euler("YXZ", degrees=True)).T  # intrinsic Y-X'-Z''
    got = humeral_angles(a, b, side)
    want_e, want_p = oracle(Rotation.identity(200), rel, side)
    assert np.allclose(got[0], want_e, atol=1e-9)
    assert np.allclose(got[0], e, atol=1e-9)  # axial rotation does not change elevation
    assert np.allclose(np.radians(got[1] - want_p) % (2 * math.pi) % (2 * math.pi - 1e-9), 0, atol=1e-7)


def _stream(proc, trunk: Rotation, arm: Rotation, t: np.ndarray, size: int = 7) -> np.ndarray:
    qt, qa = quat(trunk), quat(arm)
    out = []
    for i in range(0, t.shape[0], size):
        sl = slice(i, i + size)
        proc.process(Block("orient.trunk", t[sl].copy(), np.ascontiguousarray(qt[:, sl])))
        out.append(proc.process(Block("orient.arm", t[sl].copy(), np.ascontiguousarray(qa[:, sl]))).values)
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("side", ["right", "left"])
def test_streaming_elevation_with_a_tilted_trunk(side: str) -> None:
    t = np.arange(300) / 100.0
    e = 140.0 * 0.5 * (1 - np.cos(np.pi * t / 3.0))
    p = np.full_like(t, 35.0)
    trunk = Rotation.from_euler("xy", np.column_stack([12 * np.sin(t), 5 * np.cos(t)]), degrees=True)
    arm = trunk * arm_rotation(e, p, side)
    proc = HumeralElevation("orient.trunk", "orient.arm", side=side)
    got = _stream(proc, trunk, arm, t)
    want_e, want_p = oracle(trunk, arm, side)
    assert np.allclose(got[0], want_e, atol=1e-6)
    assert np.allclose(got[0], e, atol=1e-6)
    big = e > 5
    assert np.allclose(got[1][big], want_p[big], atol=1e-5)
    assert np.allclose(got[1][big], 35.0, atol=1e-5)


def test_heading_alignment_at_calibration_removes_a_filter_heading_offset() -> None:
    """Two 6-axis filters with different headings: wrong elevation once the trunk leans, right after calibration."""
    t = np.arange(400) / 100.0
    lean = np.where(t < 1.0, 0.0, 15.0)
    e = np.where(t < 1.0, 0.0, 140.0)
    true_trunk = euler("x", -lean)
    # anatomical neutral (no axial rotation at rest): elevation in the 40 deg plane
    true_arm = true_trunk * arm_rotation(e, np.full_like(t, 40.0)) * euler("z", 40.0)
    offset = euler("z", 50.0)  # the arm filter's world is turned 50 deg
    seen_arm = offset * true_arm
    late = t >= 1.0

    plain = HumeralElevation("orient.trunk", "orient.arm")
    got_plain = _stream(plain, true_trunk, seen_arm, t)
    assert np.max(np.abs(got_plain[0][late] - 140.0)) > 3.0  # the offset shows once the trunk leans

    aligned = HumeralElevation("orient.trunk", "orient.arm")
    _stream(aligned, true_trunk[:100], seen_arm[:100], t[:100])  # the neutral pose
    aligned.set_calibration(None, None)
    got = _stream(aligned, true_trunk[100:], seen_arm[100:], t[100:])
    assert np.allclose(got[0], 140.0, atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
def test_girdle_elevation_is_upward_rotation_beyond_the_rhythm(side: str) -> None:
    t = np.arange(200) / 100.0
    e = 120.0 * t / 2.0
    clav = 0.08 * e + 10.0 * t / 2.0  # a shrug growing to 10 deg
    up = clav + 0.3 * e
    trunk = euler("y", 3 * np.sin(t))
    sign = -1.0 if side == "right" else 1.0  # the lateral end rises: about -x on the right, +x on the left
    scap = trunk * euler("x", sign * up)
    proc = GirdleElevation("orient.trunk", "orient.scap", "angle.hum", side=side, rhythm=0.3)
    out = []
    qt, qs = quat(trunk), quat(scap)
    for i in range(0, 200, 10):
        sl = slice(i, i + 10)
        hum = np.vstack([e[sl], np.zeros(10)])
        proc.process(Block("angle.hum", t[sl].copy(), hum))
        proc.process(Block("orient.trunk", t[sl].copy(), np.ascontiguousarray(qt[:, sl])))
        out.append(proc.process(Block("orient.scap", t[sl].copy(), np.ascontiguousarray(qs[:, sl]))).values)
    got = np.concatenate(out, axis=1)
    assert np.allclose(got[0], up, atol=1e-6)
    # each scapula sample with the humeral sample of its own time (not the newest of the humeral block)
    assert np.allclose(got[1], clav, atol=1e-6)

    # other blocks, the scapula ahead of the humeral stream (its samples wait for it): the same values
    proc.reset()
    parts = []
    for i in range(0, 200, 25):
        sl, hs = slice(i, i + 25), slice(i, i + 12)
        parts.append(proc.process(Block("orient.trunk", t[sl].copy(), np.ascontiguousarray(qt[:, sl]))))
        parts.append(proc.process(Block("orient.scap", t[sl].copy(), np.ascontiguousarray(qs[:, sl]))))
        parts.append(proc.process(Block("angle.hum", t[hs].copy(), np.vstack([e[hs], np.zeros(12)]))))
        hs = slice(i + 12, i + 25)
        parts.append(proc.process(Block("angle.hum", t[hs].copy(), np.vstack([e[hs], np.zeros(13)]))))
    again = np.concatenate([b.values for b in parts], axis=1)
    assert np.array_equal(np.concatenate([b.times for b in parts]), t)
    assert np.array_equal(again, got)


def test_girdle_elevation_is_nan_before_any_humeral_sample_and_rejects_bad_rhythm() -> None:
    proc = GirdleElevation("orient.trunk", "orient.scap", "angle.hum")
    q = quat(Rotation.identity(3))
    t = np.arange(3) / 100.0
    proc.process(Block("orient.trunk", t, q))
    out = proc.process(Block("orient.scap", t.copy(), q.copy()))
    assert np.allclose(out.values[0], 0.0) and np.all(np.isnan(out.values[1]))
    with pytest.raises(ConfigError, match="rhythm"):
        GirdleElevation("a", "b", "c", rhythm=1.5)


def test_angular_speed_removes_the_rest_bias() -> None:
    rate = 100.0
    t = np.arange(600) / rate
    bias = np.radians([1.5, -1.0, 0.8])
    w = np.zeros((3, 600))
    moving = t >= 3.0
    w[1, moving] = np.radians(90.0)  # 90 deg/s about y after 3 s
    gyro = w + bias[:, None]
    acc = np.tile([[0.0], [0.0], [9.80665]], (1, 600))
    proc = AngularSpeed(rate, still_time=1.0)
    out = np.concatenate(
        [
            proc.process(Block("imu.forearm.r", t[i : i + 20], np.vstack([acc, gyro])[:, i : i + 20])).values
            for i in range(0, 600, 20)
        ],
        axis=1,
    )[0]
    assert np.allclose(out[moving], 90.0, atol=0.05)
    raw = np.degrees(np.linalg.norm(gyro[:, moving], axis=0))
    assert np.all(np.abs(raw - 90.0) > 0.3)  # without the bias removal it would be off


def _lean_session(follow: float, lean_deg: float = 12.0):
    """Neutral pose 0-1 s (the arm hanging turned 55 deg about its long axis, as the simulator's scaption arm;
    the arm filter's world turned 50 deg), a trunk lean of ``lean_deg`` away from the arm and back over 1-4 s
    (the arm goes with the trunk by ``follow``: 1 held against the side, 0 left hanging), upright 4-5 s, then
    a raise to 140 deg in the 55 deg plane with the trunk leaning 15 deg (a trunk-compensation rep)."""
    t = np.arange(1200) / 100.0
    x = np.clip((t - 1.0) / 1.5, 0.0, 1.0)
    y = np.clip((t - 2.5) / 1.5, 0.0, 1.0)
    bump = lean_deg * (x**3 * (10 - 15 * x + 6 * x**2) - y**3 * (10 - 15 * y + 6 * y**2))
    m = np.clip((t - 5.0) / 3.0, 0.0, 1.0)
    rep = 0.5 * (1 - np.cos(np.pi * m))
    true_trunk = euler("x", -(bump + 15.0 * rep))
    hang = euler("x", -(1.0 - follow) * -bump)  # an arm that does not follow stays as it hung
    true_arm = true_trunk * hang * arm_rotation(140.0 * rep, np.full_like(t, 55.0))
    return t, true_trunk, euler("z", 50.0) * true_arm, 140.0 * rep


@pytest.mark.parametrize("follow", [1.0, 0.0])
def test_a_common_lean_finds_the_relative_heading_the_neutral_pose_cannot_see(follow: float) -> None:
    """The neutral pose aligns the two filters as if the arm sensor faced the way the trunk sensor does: the
    arm's turn about its long axis at rest becomes a heading error, which enters the elevation once the trunk
    leans (here +8 deg at 140 deg with 15 deg of lean). A lean with the arm held against the side shows it
    (both long axes turn together); an arm left hanging in the lean is not taken for one."""
    t, trunk, arm, want = _lean_session(follow)
    proc = HumeralElevation("orient.trunk", "orient.arm")
    _stream(proc, trunk[:100], arm[:100], t[:100])  # the neutral pose
    proc.set_calibration(None, None)
    got = _stream(proc, trunk[100:], arm[100:], t[100:])[0]
    late = t[100:] >= 5.0
    err = got[late] - want[100:][late]
    if follow:
        assert proc.common_lean.correction_deg is not None
        assert abs(proc.common_lean.correction_deg + 55.0) < 0.5  # the arm's 55 deg turn at rest
        assert np.max(np.abs(err)) < 0.2, np.max(np.abs(err))
    else:
        assert proc.common_lean.correction_deg is None
        assert np.max(np.abs(err)) > 5.0  # the error the lean takes out

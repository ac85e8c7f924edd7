"""Joint angles, calibration and trunk inclination."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from nmre.core.model import Block, Side, StreamInfo, StreamKind
from nmre.dsp._imu_common import QUAT_CHANNELS
from nmre.dsp.joints import JointAngle, TrunkInclination, heading_alignment, joint_angles, segment_calibration
from nmre.dsp.quaternion import (
    cardan_yxz,
    quat_conjugate,
    quat_from_axis_angle,
    quat_from_matrix,
    quat_multiply,
    quat_rotate,
    quat_to_matrix,
)
from nmre.errors import ConfigError, InputError


def _q_yxz(a: float, b: float, c: float) -> np.ndarray:
    """Quaternion of Ry(a) Rx(b) Rz(c), angles in degrees (independent path: scipy)."""
    return Rotation.from_euler("YXZ", [a, b, c], degrees=True).as_quat(scalar_first=True)


def _random_quats(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(4, n))
    return q / np.linalg.norm(q, axis=0)


def test_quaternion_helpers_agree_with_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_quats(rng, 50), _random_quats(rng, 50)
    ra = Rotation.from_quat(a.T, scalar_first=True)
    rb = Rotation.from_quat(b.T, scalar_first=True)
    prod = quat_multiply(a, b)
    np.testing.assert_allclose(quat_to_matrix(prod), (ra * rb).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(a), ra.as_matrix(), atol=1e-12)
    v = rng.normal(size=(3, 50))
    np.testing.assert_allclose(quat_rotate(a, v), ra.apply(v.T).T, atol=1e-12)
    np.testing.assert_allclose(cardan_yxz(a), ra.as_euler("YXZ").T, atol=1e-10)
    for i in range(50):
        q = quat_from_matrix(ra[i].as_matrix())
        assert abs(abs(q @ a[:, i]) - 1) < 1e-12
    np.testing.assert_allclose(
        quat_multiply(a, quat_conjugate(a)), np.tile([[1], [0], [0], [0]], 50), atol=1e-12
    )


@pytest.mark.parametrize(
    "angles",
    [(0, 0, 0), (60, 0, 0), (90, 10, -5), (-5, -8, 20), (110, 15, 30), (30, -20, -40)],
)
@pytest.mark.parametrize("side", [Side.RIGHT, Side.LEFT])
def test_known_relative_rotation_gives_known_angles(angles: tuple[float, float, float], side: Side) -> None:
    a, b, c = angles
    rng = np.random.default_rng(1)
    q_prox = _random_quats(rng, 1)[:, 0]  # arbitrary thigh orientation in the world
    q_dist = quat_multiply(q_prox, _q_yxz(a, b, c))[:, 0]
    got = joint_angles(q_prox, q_dist, side=side)[:, 0]
    lr = 1 if side is Side.RIGHT else -1
    np.testing.assert_allclose(got, [a, -lr * b, lr * c], atol=1e-9)


def test_knee_flexion_positive_and_valgus_sign_in_a_squat_geometry() -> None:
    # right shank distal end moving backward relative to the thigh = flexion > 0
    flex = quat_from_axis_angle([0, 1, 0], math.radians(70))[:, 0]
    shank_tip = quat_rotate(flex, [0, 0, -1])[:, 0]
    assert shank_tip[0] < 0  # the foot end goes backward (x anterior)
    assert joint_angles([1, 0, 0, 0], flex, side="right")[0, 0] == pytest.approx(70)
    # right knee valgus: the shank's distal end moves laterally (to the right, -y)
    valg = quat_from_axis_angle([1, 0, 0], math.radians(-10))[:, 0]
    assert quat_rotate(valg, [0, 0, -1])[1, 0] < 0
    assert joint_angles([1, 0, 0, 0], valg, side="right")[1, 0] == pytest.approx(10)
    assert joint_angles([1, 0, 0, 0], valg, side="left")[1, 0] == pytest.approx(-10)
    # hip: thigh moving forward relative to pelvis is flexion with flexion_sign=-1
    hip = quat_from_axis_angle([0, 1, 0], math.radians(-40))[:, 0]
    assert quat_rotate(hip, [0, 0, -1])[0, 0] > 0
    assert joint_angles([1, 0, 0, 0], hip, flexion_sign=-1)[0, 0] == pytest.approx(40)


@settings(max_examples=50, deadline=None)
@given(a=st.floats(-150, 150), b=st.floats(-80, 80), c=st.floats(-170, 170), seed=st.integers(0, 2**31))
def test_round_trip(a: float, b: float, c: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    qp = _random_quats(rng, 1)[:, 0]
    qd = quat_multiply(qp, _q_yxz(a, b, c))[:, 0]
    fl, ab, rot = joint_angles(qp, qd, side="right")[:, 0]
    back = quat_multiply(qp, _q_yxz(fl, -ab, rot))[:, 0]
    assert abs(abs(back @ qd) - 1) < 1e-9


def _mounting(seed: int) -> np.ndarray:
    """A plausible sensor mounting: segment -> sensor rotation within ~40 deg of identity."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    return quat_from_axis_angle(axis, math.radians(rng.uniform(10, 40)))[:, 0]


@pytest.mark.parametrize("seed", range(6))
def test_calibration_recovers_known_mounting_within_one_degree(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    q_m = _mounting(seed)  # true q_cal: segment frame in sensor coordinates
    # static pose: segment upright, so q_sensor = q_m^-1 and the sensor reads gravity rotated into it
    acc = quat_rotate(q_m, [0, 0, 9.81]) + rng.normal(0, 0.05, (3, 200))
    # functional: flexion/extension about the segment's y axis, seen in the sensor frame
    t = np.arange(400) / 100
    w = 2.0 * np.sin(2 * np.pi * 0.8 * t)
    gyr = quat_rotate(q_m, [0, 1, 0]) * w + rng.normal(0, 0.05, (3, 400))
    q_cal = segment_calibration(acc, gyr)
    err = math.degrees(2 * math.acos(min(1.0, abs(float(q_cal @ q_m)))))
    assert err < 1.0


def test_calibration_without_functional_axis_and_errors() -> None:
    q = segment_calibration([0, 0, 9.81])
    np.testing.assert_allclose(q, [1, 0, 0, 0], atol=1e-12)
    with pytest.raises(InputError, match="expected"):
        segment_calibration([0, 0, 0])
    with pytest.raises(InputError, match="expected"):
        segment_calibration([0, 0, np.nan])
    with pytest.raises(InputError, match="not parallel"):
        segment_calibration([0, 0, 9.81], np.vstack([np.zeros((2, 10)), np.ones((1, 10))]))
    with pytest.raises(InputError, match="shape"):
        segment_calibration(np.zeros((2, 5)))


def test_calibrated_joint_angles_remove_mounting() -> None:
    qt, qs = _mounting(1), _mounting(2)
    thigh_seg = quat_from_axis_angle([0, 0, 1], 0.7)[:, 0]  # heading is irrelevant
    shank_seg = quat_multiply(thigh_seg, _q_yxz(80, -6, 4))[:, 0]
    # sensor orientation = segment orientation ⊗ q_cal^-1
    qs_thigh = quat_multiply(thigh_seg, quat_conjugate(qt))[:, 0]
    qs_shank = quat_multiply(shank_seg, quat_conjugate(qs))[:, 0]
    got = joint_angles(qs_thigh, qs_shank, proximal_calibration=qt, distal_calibration=qs)[:, 0]
    np.testing.assert_allclose(got, [80, 6, 4], atol=1e-9)


def _qblock(stream: str, t: np.ndarray, q: np.ndarray) -> Block:
    return Block(stream, t, np.ascontiguousarray(q))


def test_joint_angle_node_zero_order_hold() -> None:
    t_p = np.arange(10) * 0.01
    t_d = np.arange(10) * 0.01 + 0.004  # distal sampled 4 ms later
    flex = np.radians(np.arange(10) * 5.0)
    qp = np.tile([[1.0], [0], [0], [0]], 10)
    qd = quat_from_axis_angle([0, 1, 0], flex)
    node = JointAngle("thigh", "shank")
    assert node.process(_qblock("thigh", t_p, qp)).n_samples == 0
    out = node.process(_qblock("shank", t_d, qd))
    assert out.stream == "shank.angles"
    # the last distal sample (0.094 s) is past the newest thigh sample (0.09 s): it waits for its partner
    np.testing.assert_allclose(out.values[0], np.arange(9) * 5.0, atol=1e-9)
    out = node.process(_qblock("thigh", np.array([0.1]), qp[:, :1]))
    np.testing.assert_array_equal(out.times, t_d[9:])
    np.testing.assert_allclose(out.values[0], [45.0], atol=1e-9)  # paired with the 0.09 s sample, not 0.1 s
    # proximal rotated: each distal sample uses the proximal sample at or before it
    node.reset()
    qp2 = quat_from_axis_angle([0, 1, 0], np.radians(np.arange(10) * 1.0))
    node.process(_qblock("thigh", t_p, qp2))
    out = node.process(_qblock("shank", t_d - 0.008, qd))  # now distal is 4 ms *before* proximal
    expected = np.arange(10) * 5.0 - np.concatenate([[0.0], np.arange(9) * 1.0])
    np.testing.assert_allclose(out.values[0], expected, atol=1e-9)


def test_joint_angle_node_nan_before_proximal_and_bad_input() -> None:
    node = JointAngle("thigh", "shank")
    q = np.tile([[1.0], [0], [0], [0]], 3)
    out = node.process(_qblock("shank", np.arange(3.0), q))
    assert np.all(np.isnan(out.values))
    with pytest.raises(InputError, match="expected a block of 'thigh' or 'shank'"):
        node.process(_qblock("pelvis", np.arange(3.0), q))
    with pytest.raises(InputError, match=r"\(4, n_samples\)"):
        node.process(_qblock("shank", np.arange(3.0), q[:3]))
    with pytest.raises(InputError, match="float64"):
        node.process(_qblock("thigh", np.arange(3.0), q.astype(np.float32)))
    with pytest.raises(ConfigError):
        JointAngle("a", "a")
    with pytest.raises(ConfigError):
        JointAngle("a", "b", side="midline")
    with pytest.raises(InputError):
        joint_angles(np.zeros((3, 2)), np.zeros((4, 2)))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_joint_angle_node_streaming_equals_batch(data: st.DataObject) -> None:
    rng = np.random.default_rng(4)
    n = 300
    t = np.arange(n) / 100
    qp, qd = _random_quats(rng, n), _random_quats(rng, n)
    whole = joint_angles(qp, qd)
    node = JointAngle("p", "d", buffer=512)  # a whole-signal proximal block must fit the ring
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2, 5, 17, 64]), min_size=1, max_size=40))
    i = 0
    outs = []
    for s in [*sizes, n]:
        j = min(n, i + s)
        node.process(_qblock("p", t[i:j], qp[:, i:j]))  # proximal block first, as it arrives
        outs.append(node.process(_qblock("d", t[i:j], qd[:, i:j])).values)
        i = j
        if i >= n:
            break
    np.testing.assert_allclose(np.hstack(outs), whole, atol=0, rtol=0)


@pytest.mark.parametrize("sag, fro", [(0, 0), (30, 0), (0, 15), (-10, 0), (20, -12)])
def test_trunk_inclination(sag: float, fro: float) -> None:
    # forward lean = rotation about +y; lean to the left = negative rotation about +x
    r = Rotation.from_euler("ZXY", [37, -fro, sag], degrees=True)  # arbitrary heading first
    q = r.as_quat(scalar_first=True)[:, None]
    out = TrunkInclination().process(Block("trunk", np.zeros(1), q)).values[:, 0]
    up_local = r.inv().apply([0, 0, 1])
    assert out[0] == pytest.approx(math.degrees(math.acos(up_local[2])), abs=1e-9)
    assert out[1] == pytest.approx(sag, abs=1e-9)
    if sag == 0:
        assert out[2] == pytest.approx(fro, abs=1e-9)
        assert out[0] == pytest.approx(abs(fro), abs=1e-9)
    if fro == 0:
        assert out[0] == pytest.approx(abs(sag), abs=1e-9)


def test_trunk_inclination_info_and_bad_input() -> None:
    ti = TrunkInclination()
    info = ti.output_info(StreamInfo("imu.trunk.quat", StreamKind.ORIENTATION, QUAT_CHANNELS, 100.0))
    assert info.kind is StreamKind.ANGLE and info.channel_names == ("inclination", "sagittal", "frontal")
    with pytest.raises(InputError, match="float64"):
        ti.process(Block("t", np.zeros(2), np.zeros((4, 2), dtype=np.float32)))


def test_heading_alignment_removes_filter_heading_difference() -> None:
    thigh = _q_yxz(0, 0, 0)
    # two filters that disagree on heading by 50 deg, knee flexed 40 deg later
    yaw_p = quat_from_axis_angle([0, 0, 1], np.radians(10.0))[:, 0]
    yaw_d = quat_from_axis_angle([0, 0, 1], np.radians(-40.0))[:, 0]
    qp_neutral = quat_multiply(yaw_p, thigh)[:, 0]
    qd_neutral = quat_multiply(yaw_d, thigh)[:, 0]
    h = heading_alignment(np.tile(qp_neutral[:, None], 5), np.tile(qd_neutral[:, None], 5))
    np.testing.assert_allclose(h, quat_from_axis_angle([0, 0, 1], np.radians(50.0))[:, 0], atol=1e-12)
    qd_flexed = quat_multiply(qd_neutral, _q_yxz(40, 0, 0))[:, 0]
    np.testing.assert_allclose(joint_angles(qp_neutral, qd_flexed, heading=h)[:, 0], [40, 0, 0], atol=1e-9)
    assert abs(joint_angles(qp_neutral, qd_flexed)[2, 0]) > 40  # unaligned: heading shows up as rotation
    with pytest.raises(InputError, match="finite"):
        heading_alignment([np.nan, 0, 0, 1], qd_neutral)


def test_joint_angle_node_max_lag() -> None:
    q = np.tile([[1.0], [0], [0], [0]], 3)
    node = JointAngle("p", "d", max_lag=0.05, max_wait=0.0)  # no waiting: a stalled proximal is NaN at once
    node.process(_qblock("p", np.array([0.0, 0.01, 0.02]), q))
    out = node.process(_qblock("d", np.array([0.06, 0.08, 1.0]), q)).values
    assert np.isfinite(out[:, 0]).all() and np.isnan(out[:, 1:]).all()  # proximal stalled
    # by default the samples past the proximal stream wait for it, and are computed when it comes
    node = JointAngle("p", "d", max_lag=0.05)
    node.process(_qblock("p", np.array([0.0, 0.01, 0.02]), q))
    out = node.process(_qblock("d", np.array([0.06, 0.08, 1.0]), q))
    assert out.times.shape[0] == 0  # 0.06 s waits too: a thigh sample between 0.02 and 0.06 s may come
    out = node.process(_qblock("p", np.array([0.07, 0.99]), q[:, :2]))
    np.testing.assert_array_equal(out.times, [0.06, 0.08])  # 1.0 s waits for a thigh sample at or after it
    assert out.seq == 0 and np.isfinite(out.values).all()
    out = node.process(_qblock("p", np.array([1.0]), q[:, :1]))
    np.testing.assert_array_equal(out.times, [1.0])
    assert out.seq == 2 and np.isfinite(out.values).all()
    node.reset()
    node.process(_qblock("p", np.array([5.0, 5.01, 5.02]), q))
    assert np.isnan(node.process(_qblock("d", np.array([0.0]), q[:, :1])).values).all()  # far ahead
    with pytest.raises(ConfigError):
        JointAngle("p", "d", max_lag=-1.0)
    with pytest.raises(ConfigError, match="max_wait"):
        JointAngle("p", "d", max_wait=math.inf)


def _arrivals(node: JointAngle, blocks: list[tuple[str, slice]], t, qp, qd) -> tuple[np.ndarray, np.ndarray]:
    outs = [node.process(_qblock(s, t[k], (qp if s == "p" else qd)[:, k])) for s, k in blocks]
    got = [o for o in outs if o.times.shape[0]]
    return np.concatenate([o.times for o in got]), np.hstack([o.values for o in got])


def test_a_stalled_proximal_stream_that_bursts_gives_the_angles_of_an_even_arrival() -> None:
    """The LSL squat of issue 12: the thigh's inlet stalled 1.3 s, then delivered it at once.

    The knee read NaN for those 1.3 s, the rep segmenter bridged the gap from the last rest
    sample before it, and rep 1 came out not judged. The distal samples now wait.
    """
    rng = np.random.default_rng(11)
    n = 600  # 6 s at 100 Hz, 10-sample blocks
    t = np.arange(n) / 100
    qp, qd = _random_quats(rng, n), _random_quats(rng, n)
    whole = joint_angles(qp, qd)  # the oracle: every distal sample with its own-time proximal sample
    even = [(s, slice(i, i + 10)) for i in range(0, n, 10) for s in ("p", "d")]
    stalled = [b for b in even if not (b[0] == "p" and 100 <= b[1].start < 230)]  # thigh silent 1.0-2.3 s
    at = next(i for i, b in enumerate(stalled) if b == ("p", slice(230, 240)))
    stalled[at:at] = [("p", slice(i, i + 10)) for i in range(100, 230, 10)]  # ... then the burst
    for order in (even, stalled):
        times, values = _arrivals(JointAngle("p", "d"), order, t, qp, qd)
        np.testing.assert_array_equal(times, t)
        # the stall's first shank block was computed on arrival, with thigh samples up to max_lag old
        # (live, nobody knows yet that the thigh has stalled); every later one waited for its own
        own = np.r_[0:100, 110:n] if order is stalled else np.r_[0:n]
        np.testing.assert_allclose(values[:, own], whole[:, own], atol=1e-12)
        assert np.isfinite(values[:, 100:109]).all()
    # a proximal dropout longer than max_wait: the distal samples are given up as NaN, then resume
    gone = [b for b in even if not (b[0] == "p" and 100 <= b[1].start < 400)]
    times, values = _arrivals(JointAngle("p", "d"), gone, t, qp, qd)
    assert times.shape == t.shape and np.all(np.diff(times) > 0)
    lost = (t > 1.0) & (t < 4.0)
    assert np.isnan(values[:, lost & (t > 1.1)]).all() and np.isfinite(values[:, ~lost]).all()


def test_a_proximal_stream_running_ahead_grows_its_ring() -> None:
    """A distal (shank) inlet 4 s behind: the 256-sample ring must not overwrite what it needs."""
    rng = np.random.default_rng(12)
    n = 1000
    t = np.arange(n) / 100
    qp, qd = _random_quats(rng, n), _random_quats(rng, n)
    blocks = [("d", slice(0, 10))]  # the shank starts, then falls 4 s behind the thigh
    for i in range(0, n, 10):
        blocks.append(("p", slice(i, i + 10)))
        if i >= 400:
            blocks.append(("d", slice(i - 400 + 10, i - 400 + 20)))
    blocks += [("d", slice(i, i + 10)) for i in range(610, n, 10)]
    times, values = _arrivals(JointAngle("p", "d"), blocks, t, qp, qd)
    np.testing.assert_array_equal(times, t)
    np.testing.assert_allclose(values, joint_angles(qp, qd), atol=1e-12)


def test_knee_and_trunk_angles_from_the_simulator() -> None:
    """End to end on nmre.sim: IMUs with mounting errors -> Madgwick -> calibration -> angles vs truth."""
    sim_mod = pytest.importorskip("nmre.sim.simulation")
    from nmre.dsp.movement import RepSegmenter
    from nmre.dsp.orientation import GyroBias, Madgwick

    sim = sim_mod.squat_set(
        reps=4, shallow=(2,), seed=1, mounting={"imu.thigh.r": (5, -8, 20), "imu.shank.r": (-6, 4, -15)}
    )
    fs = sim.imu_rate
    reps = sim.truth.to_dict()["reps"]
    quats, cals = {}, {}
    for sid in ("imu.thigh.r", "imu.shank.r", "imu.trunk"):
        t, v = sim.data[sid]
        vb = GyroBias(fs, still_time=1.0).process(Block(sid, t, v)).values
        quats[sid] = Madgwick(fs).process(Block(sid, t, vb)).values
        first = (t >= reps[0]["start"]) & (t <= reps[0]["end"])  # the first squat is the functional movement
        cals[sid] = segment_calibration(v[:3, t < 1.5], vb[3:, first])
    still = (t > 1.0) & (t < 1.5)
    h = heading_alignment(
        quats["imu.thigh.r"][:, still],
        quats["imu.shank.r"][:, still],
        cals["imu.thigh.r"],
        cals["imu.shank.r"],
    )
    node = JointAngle(
        "imu.thigh.r",
        "imu.shank.r",
        proximal_calibration=cals["imu.thigh.r"],
        distal_calibration=cals["imu.shank.r"],
        heading=h,
    )
    seg = RepSegmenter(30.0, 10.0, min_duration=0.5)
    outs = []
    for i in range(0, t.size, 8):  # interleaved 8-sample packets, as they arrive
        node.process(_qblock("imu.thigh.r", t[i : i + 8], quats["imu.thigh.r"][:, i : i + 8]))
        b = node.process(_qblock("imu.shank.r", t[i : i + 8], quats["imu.shank.r"][:, i : i + 8]))
        seg.process(Block("knee", b.times, np.ascontiguousarray(b.values[:1])))
        outs.append(b.values)
    ang = np.hstack(outs)
    kin = sim.kinematics
    late = t > 3.0
    err = ang[0, late] - kin["knee_flexion"][late]
    assert np.sqrt(np.mean(err**2)) < 2.0 and np.max(np.abs(err)) < 5.0
    assert np.sqrt(np.mean((ang[1, late] - kin["knee_valgus"][late]) ** 2)) < 3.0
    ends = [e for e in seg.pop_events() if e.kind == "rep.end"]
    assert len(ends) == 4
    for e, r in zip(ends, reps, strict=True):
        assert e.payload["peak"] == pytest.approx(r["quantities"]["knee_flexion_peak"], abs=3.0)
    trunk = TrunkInclination(cals["imu.trunk"]).process(Block("trunk", t, quats["imu.trunk"])).values
    assert np.sqrt(np.mean((trunk[1, late] - kin["trunk_lean"][late]) ** 2)) < 2.0


def test_joint_angle_large_replay_blocks_equal_small_live_blocks():
    """A replay in 2 s blocks (400 samples > the 256-sample default ring) gives the live result."""
    from nmre.core.model import Block
    from nmre.dsp.joints import JointAngle

    rng = np.random.default_rng(3)
    n, fs = 1200, 200.0
    t = np.arange(n) / fs
    qp = rng.normal(size=(4, n))
    qd = rng.normal(size=(4, n))
    qp /= np.linalg.norm(qp, axis=0)
    qd /= np.linalg.norm(qd, axis=0)

    def run(block: int) -> np.ndarray:
        ja = JointAngle("p", "d")
        outs = []
        for i in range(0, n, block):
            ja.process(Block("p", t[i : i + block], qp[:, i : i + block].copy()))
            outs.append(ja.process(Block("d", t[i : i + block], qd[:, i : i + block].copy())).values)
        return np.concatenate(outs, axis=1)

    live, replay = run(2), run(400)
    assert np.all(np.isfinite(replay))
    np.testing.assert_array_equal(live, replay)


@pytest.mark.parametrize("split", [1, 3, 7, 40])
def test_a_calibration_from_a_sample_time_changes_the_same_samples_in_any_blocks(split: int) -> None:
    """``set_calibration(at=...)`` changes the distal samples after ``at``, however the blocks are cut
    and however late the samples up to ``at`` are computed (issue 10: the long-axis step's calibration
    reached the knee from the block being processed when it finished)."""
    n = 40
    t = np.arange(n) / 100
    qp = np.tile([[1.0], [0], [0], [0]], n)
    qd = quat_from_axis_angle([0, 1, 0], np.radians(np.full(n, 30.0)))
    cal = quat_from_axis_angle([0, 1, 0], np.radians([10.0]))[:, 0]
    node = JointAngle("p", "d")
    outs, done = [], False
    for i in range(0, n, split):
        k = slice(i, min(n, i + split))
        outs.append(node.process(_qblock("d", t[k], qd[:, k])))  # the distal stream arrives first: waits
        if not done and t[k][-1] >= 0.155:  # the step finishes on the block holding its sample time
            node.set_calibration(distal=cal, at=0.155)
            done = True
        outs.append(node.process(_qblock("p", t[k], qp[:, k])))
    got = np.hstack([o.values for o in outs if o.times.shape[0]])
    times = np.concatenate([o.times for o in outs if o.times.shape[0]])
    np.testing.assert_array_equal(times, t)
    before = t <= 0.155
    np.testing.assert_allclose(got[0, before], 30.0, atol=1e-9)
    assert np.all(np.abs(got[0, ~before] - 30.0) > 5.0)  # the calibrated distal segment reads otherwise
    # once samples after `at` were computed, the calibration applies from the next sample computed
    node.set_calibration(at=0.3)
    nxt = node.process(_qblock("p", np.array([0.4]), qp[:, :1]))
    assert nxt.times.shape[0] == 0
    late = node.process(_qblock("d", np.array([0.4]), qd[:, :1]))
    np.testing.assert_allclose(late.values[0], [30.0], atol=1e-9)
    with pytest.raises(ConfigError, match="ahead"):
        JointAngle("p", "d", ahead=0.5)

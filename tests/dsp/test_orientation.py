"""Orientation filters: oracles (ahrs, imufusion), streaming = batch, bias, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core.model import Block, StreamInfo, StreamKind
from nmre.dsp._imu_common import IMU_CHANNELS
from nmre.dsp.orientation import FusionAhrs, GyroBias, Madgwick
from nmre.dsp.quaternion import quat_conjugate, quat_rotate
from nmre.errors import ConfigError, InputError

FS = 100.0


def _imu(seed: int, n: int = 1500, acc_noise: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    f = rng.uniform(0.05, 0.5, 3)
    gyr = rng.uniform(0.2, 1.5, 3)[:, None] * np.sin(2 * np.pi * f[:, None] * t) + rng.normal(0, 0.02, (3, n))
    acc = rng.normal(0, 2, 3)[:, None] + np.array([0, 0, 9.81])[:, None] + rng.normal(0, acc_noise, (3, n))
    return np.vstack([acc, gyr])


def _blk(x: np.ndarray) -> Block:
    return Block("imu", np.arange(x.shape[1]) / FS, x)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("beta", [0.033, 0.1, 0.5])
def test_madgwick_matches_ahrs(seed: int, beta: float) -> None:
    ahrs = pytest.importorskip("ahrs")
    x = _imu(seed)
    out = Madgwick(FS, beta=beta).process(_blk(x)).values
    ref = ahrs.filters.Madgwick(gyr=x[3:].T, acc=x[:3].T, frequency=FS, gain=beta).Q.T
    np.testing.assert_allclose(out, ref, atol=1e-10, rtol=0)


def test_madgwick_matches_ahrs_with_q0() -> None:
    ahrs = pytest.importorskip("ahrs")
    x = _imu(7)
    q0 = np.array([0.9, 0.1, -0.3, 0.2])
    out = Madgwick(FS, beta=0.1, q0=q0).process(_blk(x)).values
    ref = ahrs.filters.Madgwick(gyr=x[3:].T, acc=x[:3].T, frequency=FS, gain=0.1, q0=q0).Q.T
    np.testing.assert_allclose(out, ref, atol=1e-10, rtol=0)


def _imufusion_run(x: np.ndarray, **kw: float) -> tuple[np.ndarray, list[bool], list[bool]]:
    """imufusion per sample: quaternions (4, n), accelerometer-ignored and startup flags."""
    imufusion = pytest.importorskip("imufusion")
    a = imufusion.Ahrs()
    a.set_settings(
        imufusion.AhrsSettings(
            sample_rate=FS,
            convention=imufusion.CONVENTION_NWU,
            gain=kw.get("gain", 0.5),
            gyroscope_range=kw.get("gyroscope_range", 2000.0),
            acceleration_rejection=kw.get("acceleration_rejection", 10.0),
            magnetic_rejection=10.0,
            rejection_timeout=kw.get("rejection_timeout", 5.0),
        )
    )
    out = np.empty((4, x.shape[1]))
    ignored, startup = [], []
    for i in range(x.shape[1]):
        a.update_no_magnetometer(np.degrees(x[3:, i]), x[:3, i] / 9.80665)
        out[:, i] = a.get_quaternion()
        ignored.append(a.get_internal_states().accelerometer_ignored)
        startup.append(a.get_flags().startup)
    return out, ignored, startup


@pytest.mark.parametrize("seed", range(4))
def test_fusion_matches_imufusion(seed: int) -> None:
    # 15 s: startup ramp (3 s), heading zeroing, rejections (large acc noise) and recoveries
    x = _imu(seed, n=1500, acc_noise=1.5)
    out = FusionAhrs(FS).process(_blk(x)).values
    ref, ignored, _ = _imufusion_run(x)
    assert 0.02 < np.mean(ignored) < 0.98  # rejection really exercised
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=0)


def test_fusion_matches_imufusion_without_rejection_and_overrange() -> None:
    x = _imu(11, n=800)
    x[3:, 400:410] = math.radians(1500.0)  # overrange at 1000 deg/s range -> soft restart
    out = FusionAhrs(FS, acceleration_rejection=0.0, gyroscope_range=1000.0).process(_blk(x)).values
    ref, _, _ = _imufusion_run(x, acceleration_rejection=0.0, gyroscope_range=1000.0)
    np.testing.assert_allclose(out, ref, atol=2e-5, rtol=0)


def test_madgwick_constant_rotation_with_consistent_gravity() -> None:
    # yaw rotation at 1 rad/s with the accelerometer reading exact gravity: the first-order step
    # q + q*(0, w)dt/2, renormalised, turns by exactly 2*atan(w*dt/2) per sample
    n = 201
    x = np.zeros((6, n))
    x[2] = 9.81
    x[5] = 1.0
    q = Madgwick(FS, beta=0.1).process(_blk(x)).values
    yaw = 2 * np.arctan2(q[3], q[0])
    np.testing.assert_allclose(yaw[-1], (n - 1) * 2 * math.atan(0.5 / FS), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), which=st.sampled_from(["madgwick", "fusion", "bias"]))
def test_streaming_equals_batch(data: st.DataObject, which: str, feed: Callable[..., list[Block]]) -> None:
    x = _imu(3, n=600)
    x[:, 100] = np.nan
    make = {
        "madgwick": lambda: Madgwick(FS),
        "fusion": lambda: FusionAhrs(FS),
        "bias": lambda: GyroBias(FS, still_time=0.2, gyro_threshold=2.0, acc_threshold=5.0),
    }[which]
    whole = make().process(Block("s", np.arange(600) / FS, x)).values
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 7, 16, 50, 333]), min_size=1, max_size=30))
    parts = feed(make(), x, sizes, fs=FS)
    np.testing.assert_array_equal(np.hstack([b.values for b in parts]), whole)


@pytest.mark.parametrize("cls", [Madgwick, FusionAhrs])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_sample_skipped_and_flagged(cls: type, bad: float) -> None:
    x = _imu(5, n=500)
    clean = cls(FS).process(_blk(x)).values
    y = x.copy()
    y[4, 300] = bad
    p = cls(FS)
    out = p.process(_blk(y)).values
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 300], out[:, 299])  # held
    ev = p.pop_events()
    assert [e.kind for e in ev] == ["dsp.nonfinite"] and ev[0].payload["skipped"] == 1
    assert p.pop_events() == []
    # the session goes on: the orientation reconverges close to the clean run
    assert np.max(np.abs(np.abs(np.sum(out[:, -1] * clean[:, -1])) - 1)) < 1e-3


def test_madgwick_output_nan_until_first_finite_sample() -> None:
    x = _imu(2, n=20)
    x[:, :3] = np.nan
    out = Madgwick(FS).process(_blk(x)).values
    assert np.all(np.isnan(out[:, :3])) and np.all(np.isfinite(out[:, 3:]))


@pytest.mark.parametrize("cls", [Madgwick, FusionAhrs])
def test_constant_input_stays_level(cls: type) -> None:
    x = np.zeros((6, 400))
    x[2] = 9.81
    q = cls(FS).process(_blk(x)).values
    np.testing.assert_allclose(q, np.array([[1.0], [0], [0], [0]]) * np.ones((1, 400)), atol=1e-12)


@pytest.mark.parametrize("cls", [Madgwick, FusionAhrs, GyroBias])
@pytest.mark.parametrize(
    "values, fragment",
    [
        (np.zeros((5, 10)), "(6, n_samples)"),
        (np.zeros((6, 10), dtype=np.float32), "float64"),
        (np.zeros((3, 4)), "(3, 4)"),
    ],
)
def test_bad_input_raises(cls: type, values: np.ndarray, fragment: str) -> None:
    with pytest.raises(InputError, match="expected") as e:
        cls(FS).process(Block("imu", np.arange(values.shape[1]) / FS, values))
    assert fragment in str(e.value)


def test_bad_config_raises() -> None:
    with pytest.raises(ConfigError):
        Madgwick(0.0)
    with pytest.raises(ConfigError):
        Madgwick(FS, q0=[0, 0, 0, 0])
    with pytest.raises(ConfigError):
        FusionAhrs(FS, gain=-1)


def test_empty_block_and_reset_and_info() -> None:
    m = Madgwick(FS)
    out = m.process(Block("imu", np.zeros(0), np.zeros((6, 0))))
    assert out.values.shape == (4, 0) and out.stream == "imu.quat"
    x = _imu(1, n=50)
    a = m.process(_blk(x)).values
    m.reset()
    np.testing.assert_array_equal(m.process(_blk(x)).values, a)
    info = m.output_info(StreamInfo("imu", StreamKind.IMU, IMU_CHANNELS, FS))
    assert info.kind is StreamKind.ORIENTATION and info.n_channels == 4 and info.id == "imu.quat"


def test_gyro_bias_estimated_at_rest_and_removed() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    bias = np.array([0.01, -0.02, 0.015])
    x = np.zeros((6, n))
    x[2] = 9.81
    x[:3] += rng.normal(0, 0.05, (3, n))
    x[3:] = bias[:, None] + rng.normal(0, 0.003, (3, n))
    x[3, 600:] += 2.0  # movement from 6 s: not still, bias is kept
    g = GyroBias(FS, still_time=2.0)
    out = g.process(_blk(x)).values
    np.testing.assert_allclose(g.bias, x[3:, :600].mean(axis=1), atol=1e-12)
    np.testing.assert_array_equal(out[3:, :199], x[3:, :199])  # before 2 s of stillness: no estimate
    np.testing.assert_allclose(out[3:, 700:].mean(axis=1) - [2.0, 0, 0], 0, atol=2e-3)


def _slow_tilt(bias: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, slice]:
    """3 s still, a 6 deg tilt about x over 3 s (minimum jerk, at most 3.75 deg/s), 3 s still at the new tilt."""
    t = np.arange(900) / FS
    u = np.clip((t - 3.0) / 3.0, 0.0, 1.0)
    angle = math.radians(6.0) * u**3 * (10 - 15 * u + 6 * u**2)
    rate = math.radians(6.0) / 3.0 * 30 * u**2 * (1 - u) ** 2
    x = np.zeros((6, t.shape[0]))
    x[1], x[2] = 9.81 * np.sin(angle), 9.81 * np.cos(angle)  # gravity in a sensor turned by angle about x
    x[:3] += rng.normal(0, 0.014, (3, t.shape[0]))  # the simulator's accelerometer noise at 100 Hz
    x[3] = rate
    x[3:] += bias[:, None] + rng.normal(0, 0.0014, (3, t.shape[0]))
    return x, slice(300, 600)


def test_gyro_bias_does_not_take_a_slow_tilt_for_bias() -> None:
    # a tilt slower than the gyro threshold (6 deg/s, the drills') is still to the gyro alone; gravity turns with it
    bias = np.radians([1.5, -1.0, 0.8])
    x, _ = _slow_tilt(bias, np.random.default_rng(1))
    g = GyroBias(FS, gyro_threshold=math.radians(6.0), still_time=1.0)
    g.process(_blk(x))
    # each still run may hold up to the tilt threshold of the tilt's slow ends: 0.3 deg over its 3 s, 0.1 deg/s
    np.testing.assert_allclose(np.degrees(g.bias - bias), 0.0, atol=0.12)  # deg/s
    # by the gyro alone the tilt's 6 deg count as bias (the error the direction check removes)
    alone = GyroBias(
        FS, gyro_threshold=math.radians(6.0), still_time=1.0, tilt_threshold=math.inf, memory=0.0
    )
    alone.process(_blk(x))
    assert abs(math.degrees(alone.bias[0] - bias[0])) > 0.5


def test_gyro_bias_pools_the_still_runs() -> None:
    rng = np.random.default_rng(2)
    x = np.zeros((6, 700))
    x[2] = 9.81
    x[:3] += rng.normal(0, 0.014, (3, 700))
    x[3:] = np.array([0.02, -0.01, 0.005])[:, None] + rng.normal(0, 0.003, (3, 700))
    x[3, 300:400] += 1.0  # a movement between two still runs (3 s, then 3 s)
    g = GyroBias(FS, still_time=1.0, memory=10.0)
    g.process(_blk(x))
    np.testing.assert_allclose(g.bias, x[3:, np.r_[0:300, 400:700]].mean(axis=1), atol=1e-12)
    last = GyroBias(FS, still_time=1.0)  # the last run alone (the default)
    last.process(_blk(x))
    np.testing.assert_allclose(last.bias, x[3:, 400:].mean(axis=1), atol=1e-12)


def _lean_end_gravity_cannot_show(bias: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, slice]:
    """11 s still, 1 s of quick movement (the lean's fast middle: not still), then 2 s in which the sensor still turns
    about x, 0.8 deg/s falling to 0 (0.8 deg: the end of a slow whole-body lean) while its accelerometer reads
    gravity unchanged, then 3 s still. The tangential
    deceleration of a body leaning about its ankles tilts the specific force back by h theta'' / g as the body
    tilts on, so gravity's apparent direction hardly turns (in the suite's slow leans the gyro turned 0.79 deg
    over such a run, the accelerometer 0.29 deg end to end, its trend 0.03 deg/s; docs/calibration.md)."""
    n = 1700
    x = np.zeros((6, n))
    x[2] = 9.81
    x[:3] += rng.normal(0, 0.014, (3, n))
    x[3:] = bias[:, None] + rng.normal(0, 0.0014, (3, n))
    x[4, 1100:1200] += 0.5
    turn = slice(1200, 1400)
    x[3, turn] += np.radians(0.8) * np.linspace(1.0, 0.0, 200)
    return x, turn


def test_gyro_bias_pooled_dilutes_a_turn_gravity_cannot_show() -> None:
    bias = np.radians([1.2, -0.7, 0.5])
    x, turn = _lean_end_gravity_cannot_show(bias, np.random.default_rng(3))
    err = {}
    for memory in (0.0, 10.0):
        g = GyroBias(FS, gyro_threshold=math.radians(6.0), still_time=1.0, memory=memory)
        out = g.process(_blk(x)).values
        est = x[3:] - out[3:]  # the estimate in use at every sample
        err[memory] = np.degrees(np.abs(est[0] - bias[0]))
        # the true bias is learned in the first still run either way
        np.testing.assert_allclose(np.degrees(est[:, 1050] - bias), 0.0, atol=0.01)
    # the run's own mean takes the turn's 0.4 deg/s for bias: the direction check cannot see it
    assert err[0.0][turn].max() > 0.3
    # pooled with the 10 s before it, the 2 s turn is a sixth of the estimate: at most 0.4 x 2 / 12 deg/s (the run
    # gives the bias from its first second on, when it holds the turn's fastest part: 0.6 deg/s x 1 / 11)
    assert err[10.0][turn.start :].max() < 0.4 * 2.0 / 12.0 + 0.01
    assert err[10.0][-1] < 0.06  # and it fades as still runs follow


def test_gyro_bias_pooled_still_learns_a_new_bias() -> None:
    """A bias that changes (a sensor warming up, or swapped) is learned by the pooled estimate too: after a still
    run of 30 s at the new bias, the old one's 10 s of memory are a quarter of it."""
    rng = np.random.default_rng(4)
    n = 4500
    x = np.zeros((6, n))
    x[2] = 9.81
    x[:3] += rng.normal(0, 0.014, (3, n))
    old, new = np.radians([1.0, 0.5, -0.5]), np.radians([0.6, 0.9, -0.2])
    x[3:] = np.where(np.arange(n) < 1200, old[:, None], new[:, None]) + rng.normal(0, 0.0014, (3, n))
    x[4, 1200:1500] += 1.0  # a movement between the two (not still)
    g = GyroBias(FS, gyro_threshold=math.radians(6.0), still_time=1.0, memory=10.0)
    g.process(_blk(x))
    step = np.degrees(new - old)
    np.testing.assert_allclose(np.degrees(g.bias - new), -step * 10.0 / 40.0, atol=0.01)


def test_orientation_recovers_known_tilt() -> None:
    # static sensor tilted 20 deg about x: both filters converge to gravity along the right axis
    from nmre.dsp.quaternion import quat_from_axis_angle

    q_true = quat_from_axis_angle([1, 0, 0], math.radians(20))
    acc = quat_rotate(quat_conjugate(q_true), [0, 0, 9.81])[:, 0]
    x = np.zeros((6, 600))
    x[:3] = acc[:, None]
    for cls in (Madgwick, FusionAhrs):
        q = cls(FS).process(_blk(x)).values[:, -1]
        up = quat_rotate(quat_conjugate(q), [0, 0, 1])[:, 0]
        np.testing.assert_allclose(up, acc / 9.81, atol=1e-4)


def test_fusion_rejection_flags_and_startup_match_imufusion() -> None:
    x = _imu(2, n=900, acc_noise=1.5)
    _, ignored, ref_startup = _imufusion_run(x)
    f = FusionAhrs(FS)
    mine, startup = [], []
    for i in range(x.shape[1]):
        f.process(Block("imu", np.array([i / FS]), x[:, i : i + 1].copy()))
        mine.append(f.accelerometer_ignored)
        startup.append(f.starting_up)
    assert mine == ignored
    assert startup == ref_startup
    assert startup.index(False) == 299  # the 3 s ramp (10 -> 0.5, float32 steps) ends on the 300th update


def _turning(n: int, rate: float = 100.0, w: float = 1.0) -> np.ndarray:
    """A level sensor turning about vertical at ``w`` rad/s: gravity on z, the gyro constant."""
    x = np.zeros((6, n))
    x[2], x[5] = 9.80665, w
    return x


def _lossy(x: np.ndarray, rate: float, drop: list[int], packet: int = 5) -> list[Block]:
    """The samples in packets of ``packet``, those numbered in ``drop`` lost (``missing_before`` says so)."""
    blocks, missing = [], 0
    for k, i in enumerate(range(0, x.shape[1], packet)):
        if k in drop:
            missing += packet
            continue
        t = np.arange(i, i + packet) / rate
        blocks.append(Block("imu", t, np.ascontiguousarray(x[:, i : i + packet]), i, missing))
        missing = 0
    return blocks


def _yaw(q: np.ndarray) -> np.ndarray:
    return np.unwrap(2 * np.arctan2(q[3], q[0]))


@pytest.mark.parametrize("which", ["madgwick", "fusion", "bias"])
def test_lost_packets_are_bridged_so_the_orientation_keeps_turning(which: str) -> None:
    """10 % of 5-sample packets lost while turning at 1 rad/s: the filter integrates over the real time."""
    from nmre.dsp.orientation import BiasCorrectedOrientation

    def new():
        if which == "bias":
            return BiasCorrectedOrientation(GyroBias(100.0), Madgwick(100.0))
        return Madgwick(100.0) if which == "madgwick" else FusionAhrs(100.0)

    n, rate = 2000, 100.0
    x = _turning(n, rate)
    rng = np.random.default_rng(5)
    drop = sorted(int(k) for k in rng.choice(np.arange(1, n // 5), size=n // 50, replace=False))
    whole = new().process(Block("imu", np.arange(n) / rate, x)).values
    f = new()
    outs = [(b.times, f.process(b).values) for b in _lossy(x, rate, drop)]
    t = np.concatenate([o[0] for o in outs])
    got = np.hstack([o[1] for o in outs])
    idx = np.rint(t * rate).astype(int)
    # the interpolated gyro over each gap is the one lost: the result is the lossless filter's
    np.testing.assert_allclose(_yaw(got), _yaw(whole[:, idx]), atol=1e-9)
    # and the truth (Fusion holds its heading at zero through its 3 s start-up)
    turned = (n - 1) / rate - (3.0 if which == "fusion" else 0.0)
    np.testing.assert_allclose(_yaw(got)[-1], turned, atol=0.02)


def test_a_gap_longer_than_the_bridge_is_not_filled() -> None:
    from nmre.dsp.orientation import BRIDGE_SECONDS

    rate = 100.0
    x = _turning(400, rate)
    lost = int(BRIDGE_SECONDS * rate / 5) + 2  # packets: a gap just past the bridge
    f = Madgwick(rate)
    outs = [f.process(b).values for b in _lossy(x, rate, list(range(20, 20 + lost)))]
    behind = (399 / rate) - _yaw(np.hstack(outs))[-1]
    assert behind == pytest.approx(lost * 5 / rate, abs=0.02)  # the rotation during the gap is not invented

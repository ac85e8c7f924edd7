"""Accelerometer-only inclination: analytic tilt, calibration, the documented limits, streaming == batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal
from scipy.spatial.transform import Rotation

from nmre.core.model import IMU_CHANNELS, Block, Channel, StreamInfo, StreamKind
from nmre.dsp.inclination import AccInclination, acc_inclination
from nmre.dsp.joints import segment_calibration
from nmre.errors import ConfigError, InputError

FS = 100.0


def _still(rot: Rotation, n: int = 300, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Accelerometer (3, n) of a sensor at rest with orientation ``rot`` (world <- sensor)."""
    f = rot.inv().apply([0.0, 0.0, 9.81])
    return f[:, None] + np.random.default_rng(seed).normal(0, noise, (3, n))


@pytest.mark.parametrize(
    ("pitch", "roll"), [(0.0, 0.0), (20.0, 0.0), (-15.0, 5.0), (35.0, -10.0), (80.0, 0.0)]
)
def test_static_tilt_matches_the_analytic_angles(pitch: float, roll: float) -> None:
    # sagittal = forward lean = rotation about +y; frontal = lean to the left = rotation about -x
    rot = Rotation.from_euler("YX", [pitch, -roll], degrees=True)
    out = acc_inclination(_still(rot), FS)
    up = rot.inv().apply([0, 0, 1])  # world up in the sensor frame
    assert out[1, -1] == pytest.approx(math.degrees(math.atan2(-up[0], up[2])), abs=1e-9)
    assert out[2, -1] == pytest.approx(math.degrees(math.atan2(-up[1], up[2])), abs=1e-9)
    assert out[0, -1] == pytest.approx(math.degrees(math.acos(up[2])), abs=1e-9)
    assert out[1, 0] == pytest.approx(out[1, -1], abs=1e-9)  # no start-up transient


def test_the_neutral_calibration_removes_the_sensor_tilt_on_its_segment() -> None:
    strap = Rotation.from_euler("Y", 12.0, degrees=True)  # sensor pitched 12° on the trunk
    cal = segment_calibration(_still(strap))
    lean = Rotation.from_euler("Y", 30.0, degrees=True)  # then the trunk leans 30° forward
    out = acc_inclination(_still(lean * strap), FS, calibration=cal)
    assert out[1, -1] == pytest.approx(30.0, abs=1e-6)
    raw = acc_inclination(_still(lean * strap), FS)
    assert raw[1, -1] == pytest.approx(42.0, abs=1e-6)


def test_limit_a_horizontal_acceleration_reads_as_tilt() -> None:
    """Documented limit: a forward acceleration a_h tilts the reading by atan(a_h / g)."""
    acc = _still(Rotation.identity())
    acc[0] -= 1.0  # specific force of an upright sensor accelerating forward at 1 m/s^2
    out = acc_inclination(acc, FS)
    assert out[1, -1] == pytest.approx(math.degrees(math.atan(1.0 / 9.81)), abs=1e-6)  # 5.8°


def test_limit_a_fast_lean_is_read_late_and_attenuated() -> None:
    """Documented limit: the low-pass delays (group delay ~ 150 ms at 1.5 Hz) and attenuates a fast lean."""
    t = np.arange(int(6 * FS)) / FS
    true = 40.0 * np.sin(np.pi * np.clip(t - 2.0, 0, 1.0)) ** 2  # a 1 s lean to 40° and back
    rots = Rotation.from_rotvec(np.outer(np.radians(true), [0.0, 1.0, 0.0]))
    acc = rots.inv().apply([0, 0, 9.81]).T
    proc = AccInclination(FS)
    out = proc.process(Block("a", t, np.ascontiguousarray(acc))).values
    lag = (np.argmax(out[1]) - np.argmax(true)) / FS
    assert 0.05 < lag < 0.3 and proc.delay == pytest.approx(0.15, abs=0.02)
    assert 30.0 < out[1].max() < 40.0  # under-read
    sos = signal.butter(2, 1.5, fs=FS, output="sos")
    assert proc.delay == pytest.approx(
        float(signal.group_delay(signal.sos2tf(sos), [0.0], fs=FS)[1][0] / FS), rel=1e-6
    )


def test_heading_is_invisible() -> None:
    """Documented limit: a rotation about the vertical does not change the reading."""
    a = acc_inclination(_still(Rotation.from_euler("ZY", [0, 20], degrees=True)), FS)
    b = acc_inclination(_still(Rotation.from_euler("ZY", [70, 20], degrees=True)), FS)
    np.testing.assert_allclose(a, b, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 150), max_size=20), imu=st.booleans())
def test_streaming_equals_one_call(sizes: list[int], imu: bool) -> None:
    rng = np.random.default_rng(1)
    acc = _still(Rotation.from_euler("Y", 10, degrees=True), 600, noise=0.5)
    x = np.vstack([acc, rng.normal(0, 0.1, (3, 600))]) if imu else acc
    x[:, 200] = np.nan
    one = AccInclination(FS).process(Block("a", np.arange(600) / FS, x)).values
    proc = AccInclination(FS)
    parts, i = [], 0
    for s in [*sizes, 600]:
        j = min(600, i + s)
        parts.append(proc.process(Block("a", np.arange(i, j) / FS, x[:, i:j])).values)
        i = j
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), one)
    assert np.isnan(one[:, 200]).all() and np.isfinite(one[:, 201]).all()


def test_nonfinite_samples_are_reported() -> None:
    proc = AccInclination(FS)
    x = _still(Rotation.identity(), 10)
    x[1, 3] = np.inf
    proc.process(Block("acc.pelvis", np.arange(10) / FS, x))
    (e,) = proc.pop_events()
    assert e.kind == "dsp.nonfinite" and e.payload["skipped"] == 1


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        AccInclination(0.0)
    with pytest.raises(ConfigError):
        AccInclination(FS, cutoff=80.0)
    with pytest.raises(ConfigError):
        AccInclination(FS, calibration=[0, 0, 0, 0])
    with pytest.raises(InputError, match="3 accelerometer rows"):
        AccInclination(FS).process(Block("a", np.arange(4) / FS, np.zeros((4, 4))))
    emg = StreamInfo("emg", StreamKind.EMG, (Channel("vmo", "mV"),), 1000.0)
    with pytest.raises(ConfigError, match="accelerometer or IMU"):
        AccInclination(FS).output_info(emg)
    imu = StreamInfo("imu.trunk", StreamKind.IMU, IMU_CHANNELS, FS)
    assert AccInclination(FS).output_info(imu).channel_names == ("inclination", "sagittal", "frontal")

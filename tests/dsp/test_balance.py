"""Sway metrics on closed-form signals (dsp.md §3.4) and the streaming Sway processor."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import sosfilt
from scipy.stats import chi2

from nmre.core.model import Block
from nmre.dsp.balance import ELLIPSE95, Sway, sway_metrics
from nmre.dsp.quaternion import quat_from_axis_angle, quat_rotate
from nmre.errors import ConfigError, InputError

FS = 100.0


def test_ellipse_constant() -> None:
    assert pytest.approx(math.pi * chi2.ppf(0.95, 2), rel=1e-12) == ELLIPSE95
    assert pytest.approx(18.82, abs=0.005) == ELLIPSE95


@pytest.mark.parametrize("r, f, T", [(0.1, 0.5, 20.0), (0.05, 1.0, 10.0), (0.2, 0.25, 40.0)])
def test_circle(r: float, f: float, T: float) -> None:
    t = np.arange(int(T * FS) + 1) / FS  # whole number of turns, closed
    m = sway_metrics(r * np.cos(2 * np.pi * f * t), r * np.sin(2 * np.pi * f * t), FS)
    chord = 2 * r * math.sin(math.pi * f / FS)  # exact polygon step
    assert m.duration == pytest.approx(T)
    assert m.path == pytest.approx(chord * T * FS, rel=1e-9)
    assert m.path == pytest.approx(2 * math.pi * r * f * T, rel=1e-3)  # dsp.md: TOTEX = 2πrfT
    assert m.mean_velocity == pytest.approx(2 * math.pi * r * f, rel=1e-3)
    assert m.mdist == pytest.approx(r, rel=1e-3) and m.rms == pytest.approx(r, rel=1e-3)
    assert m.rms_ap == pytest.approx(r / math.sqrt(2), rel=1e-3)
    assert m.mean_frequency == pytest.approx(f, rel=2e-3)
    assert m.area95 == pytest.approx(ELLIPSE95 * r * r / 2, rel=2e-3)  # Σ = diag(r²/2, r²/2)


@pytest.mark.parametrize("A, f, T", [(0.3, 0.5, 20.0), (0.1, 2.0, 10.0)])
def test_sinusoid_on_one_axis(A: float, f: float, T: float) -> None:
    t = np.arange(int(T * FS) + 1) / FS
    m = sway_metrics(A * np.sin(2 * np.pi * f * t), np.zeros_like(t), FS)
    assert m.rms_ap == pytest.approx(A / math.sqrt(2), rel=1e-3) and m.rms_ml == 0
    # 4A per period; sampled extremes may sit half a sample off the true peak (factor >= cos(pi f / fs))
    assert 4 * A * f * T * math.cos(math.pi * f / FS) - 1e-12 <= m.path <= 4 * A * f * T + 1e-12
    assert m.area95 == 0.0
    jerk = 0.5 * A**2 * (2 * np.pi * f) ** 2 * T / 2  # dsp.md §3.4
    assert m.jerk == pytest.approx(jerk, rel=2e-3)


def test_gaussian_ellipse_area_and_coverage() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[0.04, 0.012], [0.012, 0.01]])
    x = rng.multivariate_normal([0.3, -0.2], cov, size=200_000).T
    m = sway_metrics(x[0], x[1], FS)
    assert m.area95 == pytest.approx(ELLIPSE95 * math.sqrt(np.linalg.det(cov)), rel=0.01)
    d = x - x.mean(axis=1, keepdims=True)
    s = np.cov(d, bias=True)
    maha = np.einsum("in,ij,jn->n", d, np.linalg.inv(s), d)
    assert np.mean(maha <= chi2.ppf(0.95, 2)) == pytest.approx(0.95, abs=0.003)


def test_metrics_bad_input() -> None:
    with pytest.raises(InputError, match="expected"):
        sway_metrics(np.zeros(5), np.zeros(4), FS)
    with pytest.raises(InputError, match="finite"):
        sway_metrics(np.array([0, np.nan, 1.0]), np.zeros(3), FS)
    m = sway_metrics(np.ones(100), np.ones(100), FS)  # constant: no sway
    assert m.rms == 0 and m.path == 0 and m.jerk == 0 and m.area95 == 0 and math.isnan(m.mean_frequency)


def _tilted_sway(n: int, tilt_deg: float, seed: int = 0, still: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Accelerometer of a trunk sensor pitched forward by ``tilt_deg``, swaying horizontally (true AP, ML).

    The first ``still`` samples are quiet standing (gravity only).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    h = np.vstack([0.2 * np.sin(2 * np.pi * 0.4 * t), 0.1 * np.sin(2 * np.pi * 0.7 * t + 1)])
    h += 0.02 * rng.normal(size=h.shape)
    h[:, :still] = 0.0
    world = np.vstack([h, np.full(n, 9.81)])  # specific force in a heading-aligned world frame
    q = quat_from_axis_angle([0, 1, 0], math.radians(tilt_deg))  # sensor -> world
    q_inv = q.copy()
    q_inv[1:] *= -1
    return quat_rotate(q_inv, world), h


def test_processor_tilt_correction_and_low_pass() -> None:
    acc, h = _tilted_sway(6000, tilt_deg=15.0, still=1000)
    sw = Sway(FS, gravity_tau=100.0)
    y = sw.process(Block("imu", np.arange(6000) / FS, np.vstack([acc, np.zeros((3, 6000))]))).values
    # after quiet standing the gravity estimate is exact, and with a slow estimate (sway leaks into it by
    # about 1/(2 pi f tau), 0.4 % here) the output is the 3.5 Hz low-pass of the true horizontal sway
    ref = sosfilt(sw.sos, h, axis=1)
    np.testing.assert_allclose(y, ref, atol=2e-3)
    assert np.max(np.abs(ref)) > 0.2


def test_processor_windows_and_session() -> None:
    acc, _ = _tilted_sway(2500, tilt_deg=5.0, seed=3)
    sw = Sway(FS, window=10.0, hop=5.0)
    y = sw.process(Block("imu", np.arange(2500) / FS, acc)).values
    ev = sw.pop_events()
    assert [e.kind for e in ev] == ["sway.window"] * 4  # at 10, 15, 20, 25 s
    for e, end in zip(ev, [1000, 1500, 2000, 2500], strict=True):
        assert e.time == pytest.approx((end - 1) / FS)
        ref = sway_metrics(y[0, end - 1000 : end], y[1, end - 1000 : end], FS)
        assert e.payload == {"window": 10.0, "start": (end - 1000) / FS, **ref.to_dict()}
    full = sway_metrics(y[0], y[1], FS)
    s = sw.session
    for k in ("n", "rms_ap", "rms_ml", "rms", "path", "mean_velocity", "area95", "jerk"):
        assert getattr(s, k) == pytest.approx(getattr(full, k), rel=1e-9), k


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_streaming_equals_batch(data: st.DataObject, feed: Callable[..., list[Block]]) -> None:
    acc, _ = _tilted_sway(700, 10.0, seed=1)
    acc[:, 50] = np.nan
    whole = Sway(FS, window=2.0, hop=1.0)
    w = whole.process(Block("s", np.arange(700) / FS, acc)).values
    we = whole.pop_events()
    sw = Sway(FS, window=2.0, hop=1.0)
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2, 7, 64, 150]), min_size=1, max_size=30))
    parts = feed(sw, acc, sizes, fs=FS)
    np.testing.assert_array_equal(np.hstack([p.values for p in parts]), w)
    got = sw.pop_events()
    assert [e.kind for e in got if e.kind == "sway.window"] == [e.kind for e in we if e.kind == "sway.window"]
    assert [e.payload for e in got if e.kind == "sway.window"] == [
        e.payload for e in we if e.kind == "sway.window"
    ]
    assert sw.session == whole.session


def test_processor_nan_inf_constant_and_bad_input() -> None:
    sw = Sway(FS)
    x = np.zeros((3, 50))
    x[2] = 9.81
    x[0, 10] = np.inf
    y = sw.process(Block("a", np.arange(50) / FS, x)).values
    assert np.isnan(y[:, 10]).all() and np.all(y[:, np.r_[0:10, 11:50]] == 0)
    assert [e.kind for e in sw.pop_events()] == ["dsp.nonfinite"]
    assert sw.session.n == 49 and sw.session.path == 0
    with pytest.raises(InputError, match=r"\(>=3, n_samples\)"):
        sw.process(Block("a", np.zeros(2), np.zeros((2, 2))))
    with pytest.raises(InputError, match="float64"):
        sw.process(Block("a", np.zeros(2), np.zeros((3, 2), dtype=np.float32)))
    with pytest.raises(ConfigError, match="Nyquist"):
        Sway(FS, cutoff=60.0)
    sw.reset()
    assert sw.session.n == 0

"""Simulated surface EMG: amplitude follows activation, spectrum, baseline, onsets, mains hum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from nmre.sim import MUSCLES, SquatConfig, Subject, simulate

WIN = 0.05  # s, RMS window


@pytest.fixture(scope="module")
def sim():
    return simulate(SquatConfig(reps=4, errors={2: ("late_vmo_onset",)}), seed=21)


def windowed(x: np.ndarray, n: int) -> np.ndarray:
    m = x.shape[-1] // n
    return x[..., : m * n].reshape(*x.shape[:-1], m, n)


def test_windowed_rms_follows_activation(sim):
    _t, v = sim.data["emg.r"]
    n = int(WIN * sim.emg_rate)
    rms = np.sqrt(np.mean(windowed(v, n) ** 2, axis=-1))
    act = np.mean(windowed(sim.activation, n), axis=-1)
    for i, muscle in enumerate(MUSCLES):
        r = np.corrcoef(rms[i], act[i])[0, 1]
        assert r > 0.9, (muscle, r)
        busy = act[i] > 0.2
        if busy.any():  # RMS is rms_at_full * activation (mV) where the muscle is active
            ratio = rms[i, busy] / (sim.subject.rms_at_full(muscle) * act[i, busy])
            assert 0.8 < np.median(ratio) < 1.2


def test_quadriceps_return_to_baseline_between_reps(sim):
    t, v = sim.data["emg.r"]
    base = sim.subject.emg_noise
    reps = sim.truth.reps
    for prev, nxt in itertools.pairwise(reps):
        rest = (t > prev.end + 0.3) & (t < nxt.start - 0.1 - sim.subject.pre_lead)
        assert rest.sum() > 0.2 * sim.emg_rate
        for i in (0, 1):  # vmo, vl
            rms = np.sqrt(np.mean(v[i, rest] ** 2))
            assert 0.8 * base < rms < 1.2 * base
            assert np.max(sim.activation[i, rest]) == 0.0
    # and much larger at the bottom of every rep
    for rep in reps:
        bottom = np.abs(t - rep.bottom) < 0.1
        assert np.sqrt(np.mean(v[1, bottom] ** 2)) > 30 * base


def test_biceps_femoris_stays_low(sim):
    a = sim.activation
    assert a[2].max() < 0.5 * a[1].max()
    assert a[1].max() > 0.5


def _onsets(x: np.ndarray, t: np.ndarray, base: float, starts: list[float]) -> list[float]:
    """First time after each rest that a 10 ms RMS exceeds 5 x baseline (simple threshold detector)."""
    n = 20
    env = np.sqrt(signal.convolve(x**2, np.ones(n) / n, mode="same"))
    out = []
    for s in starts:
        sel = np.flatnonzero((t > s - 0.6) & (env > 5 * base))
        out.append(float(t[sel[0]]))
    return out


def test_every_rep_has_a_fresh_detectable_onset_and_vmo_delay_shows(sim):
    t, v = sim.data["emg.r"]
    base = sim.subject.emg_noise
    reps = sim.truth.reps
    starts = [r.start for r in reps]
    vl = _onsets(v[1], t, base, starts)
    vmo = _onsets(v[0], t, base, starts)
    for rep, a, b in zip(reps, vl, vmo, strict=True):
        assert abs(a - rep.vl_onset) < 0.04
        assert abs(b - rep.vmo_onset) < 0.04
        measured = (b - a) * 1000.0
        if "late_vmo_onset" in rep.errors:
            assert measured > 25.0  # drawn from 40-100 ms
        else:
            assert measured < 25.0


def test_spectrum_is_in_the_semg_band_with_a_peak_near_100_hz(sim):
    _t, v = sim.data["emg.r"]
    f, p = signal.welch(v[1], fs=sim.emg_rate, nperseg=1024)
    assert 70.0 <= f[np.argmax(p)] <= 130.0
    in_band = p[(f >= 20) & (f <= 450)].sum()
    assert p[f < 10].sum() < 0.01 * in_band
    assert p[f > 600].sum() < 0.02 * in_band


@pytest.mark.parametrize("mains", [50, 60])
def test_mains_hum_adds_a_line_at_the_mains_frequency(mains):
    cfg = SquatConfig(reps=1)
    clean = simulate(cfg, seed=5, emg_rate=1000.0)
    hum = simulate(cfg, seed=5, emg_rate=1000.0, mains_hz=mains)
    f, p_clean = signal.welch(clean.data["emg.r"][1][2], fs=1000.0, nperseg=2000)
    _, p_hum = signal.welch(hum.data["emg.r"][1][2], fs=1000.0, nperseg=2000)
    k = np.argmin(np.abs(f - mains))
    assert p_hum[k] > 20 * p_clean[k]
    far = (f > 200) & (f < 400) & (np.abs(f - 3 * mains) > 3)
    np.testing.assert_allclose(p_hum[far], p_clean[far], rtol=1e-6)
    assert clean.data["emg.r"][0][1] == pytest.approx(1e-3)


def test_pre_activity_and_slow_ramps_come_from_the_subject():
    sub = Subject(pre_activity=0.05, pre_lead=0.8, onset_rise=0.3)
    sim = simulate(SquatConfig(reps=2), seed=3, subject=sub)
    t, a = np.arange(sim.activation.shape[1]) / sim.emg_rate, sim.activation
    rep = sim.truth.reps[0]
    vl = MUSCLES.index("vl")
    before = (t > rep.vl_onset - 0.35) & (t < rep.vl_onset)
    assert a[vl, before].max() == pytest.approx(0.05, rel=1e-6)  # low-level pre-activity
    assert a[vl, t < rep.vl_onset - 0.81].max() == 0.0  # nothing before the pre-activity starts
    # the slow ramp: 0.3 s from onset to the plateau instead of a few tens of ms
    k = np.searchsorted(t, rep.vl_onset)
    rise = a[vl, k : k + int(0.3 * sim.emg_rate)]
    assert np.all(np.diff(rise) >= -1e-12) and rise[-1] > 2 * rise[int(0.05 * sim.emg_rate)]


def test_subjects_differ_in_emg_amplitude_and_noise():
    a, b = Subject.draw(1), Subject.draw(2)
    assert a.emg_noise != b.emg_noise and a.rms_at_full("vl") != b.rms_at_full("vl")
    assert 0.004 <= a.emg_noise <= 0.010
    cfg = SquatConfig(reps=1)
    va = simulate(cfg, seed=1).data["emg.r"][1]
    vb = simulate(cfg, seed=2).data["emg.r"][1]
    assert abs(np.std(va[1]) / np.std(vb[1]) - 1.0) > 0.01


def test_noise_scale_raises_the_noise_floor_only():
    cfg = SquatConfig(reps=1)
    sub = Subject.nominal()
    a = simulate(cfg, seed=4, subject=sub)
    b = simulate(cfg, seed=4, subject=sub, noise=2.0)
    t, va = a.data["emg.r"]
    _, vb = b.data["emg.r"]
    rest = t < 1.0
    assert np.std(vb[0, rest]) == pytest.approx(2.0 * np.std(va[0, rest]), rel=0.05)
    ia, ib = a.data["imu.thigh.r"][1], b.data["imu.thigh.r"][1]
    assert np.std(np.diff(ib[3])) == pytest.approx(2.0 * np.std(np.diff(ia[3])), rel=0.1)
    assert a.truth == b.truth


def test_motion_artifacts_are_low_frequency_transients_in_the_truth():
    cfg = SquatConfig(reps=2)
    clean = simulate(cfg, seed=6)
    art = simulate(cfg, seed=6, motion_artifacts={"emg.r": [1.0, 5.5]})
    t, vc = clean.data["emg.r"]
    _, va = art.data["emg.r"]
    d = va - vc
    assert [a[2] for a in art.truth.artifacts] == [1.0, 5.5]
    assert np.all(d[:, t < 1.0] == 0.0)
    assert np.max(np.abs(d[:, (t > 1.0) & (t < 1.6)])) > 0.1  # mV: far above the EMG at rest
    f, p = signal.welch(d[0], fs=clean.emg_rate, nperseg=4096)
    assert p[f < 20].sum() > 0.95 * p.sum()
    rated = simulate(SquatConfig(reps=10), seed=6, motion_artifacts=6.0)  # per minute
    n = len(rated.truth.artifacts)
    assert 1 <= n <= 20

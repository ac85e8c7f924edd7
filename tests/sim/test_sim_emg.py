"""Simulated surface EMG: amplitude follows activation, spectrum, baseline, onsets, mains hum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from nmre.sim import MUSCLES, EmgModel, SquatConfig, simulate

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
    model = EmgModel()
    for i, muscle in enumerate(MUSCLES):
        r = np.corrcoef(rms[i], act[i])[0, 1]
        assert r > 0.9, (muscle, r)
        busy = act[i] > 0.2
        if busy.any():  # RMS is rms_at_full * activation (mV) where the muscle is active
            ratio = rms[i, busy] / (model.rms_at_full[i] * act[i, busy])
            assert 0.8 < np.median(ratio) < 1.2


def test_quadriceps_return_to_baseline_between_reps(sim):
    t, v = sim.data["emg.r"]
    base = EmgModel().baseline_rms
    reps = sim.truth.reps
    for prev, nxt in itertools.pairwise(reps):
        rest = (t > prev.end + 0.3) & (t < nxt.start - 0.4)
        assert rest.sum() > 0.4 * sim.emg_rate
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
    base = EmgModel().baseline_rms
    reps = sim.truth.reps
    starts = [r.start for r in reps]
    vl = _onsets(v[1], t, base, starts)
    vmo = _onsets(v[0], t, base, starts)
    for rep, a, b in zip(reps, vl, vmo, strict=True):
        assert abs(a - rep.vl_onset) < 0.04
        assert abs(b - rep.vmo_onset) < 0.04
        measured = (b - a) * 1000.0
        if "late_vmo_onset" in rep.errors:
            assert measured > 50.0
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

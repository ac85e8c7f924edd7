"""The readiness gate's mains check, one spectrum per channel and cached bins: the first version's figures, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmre.calibration import emg_readiness, mains_component
from nmre.calibration import readiness as R


def reference_mains_component(
    x: np.ndarray, fs: float, mains: float, present: np.ndarray | None = None
) -> tuple[float, float]:
    """The first mains_component: a periodogram and boolean masks per call, np.median for the floor."""
    n = x.shape[0]
    share = 1.0
    if present is not None and not present.all():
        share = float(present.mean())
        if share == 0.0:
            return 0.0, 0.0
        x = np.where(present, x - x[present].mean(), 0.0)
    w = np.hanning(n)
    spec = np.fft.rfft((x - x.mean()) * w)
    p = np.abs(spec) ** 2 / (n * np.sum(w**2))
    p[1:-1] *= 2.0
    f = np.fft.rfftfreq(n, 1.0 / fs)
    total = float(p.sum())
    hum = 0.0
    h = 1
    while h * mains < min(0.5 * fs - 10.0, 500.0):
        f0 = h * mains
        near = np.abs(f - f0) <= 1.5
        around = (np.abs(f - f0) <= 10.0) & ~(np.abs(f - f0) <= 3.0)
        if near.any() and around.any():
            floor = float(np.median(p[around])) / math.log(2.0)
            hum += float(p[near].sum()) - floor * int(near.sum())
        h += 1
    hum = max(0.0, hum) / share**2
    total /= share
    return math.sqrt(hum), math.sqrt(max(0.0, total - hum))


@pytest.mark.parametrize(("n", "fs"), [(2000, 2000.0), (1111, 1000.0), (500, 500.0), (4000, 1926.0)])
def test_mains_component_is_the_first_version_bit_for_bit(n: int, fs: float) -> None:
    rng = np.random.default_rng(n)
    t = np.arange(n) / fs
    for trial in range(6):
        x = rng.normal(0, 1e-3, n) + 0.02 * rng.random() * np.sin(2 * np.pi * (50 + 10 * (trial % 2)) * t)
        present = None
        if trial >= 2:
            present = rng.random(n) > 0.1 * trial
        if trial == 5:
            present = np.zeros(n, dtype=bool)  # nothing received
        for hz in (50.0, 60.0):
            assert mains_component(x, fs, hz, present) == reference_mains_component(x, fs, hz, present)


def test_median_is_numpys() -> None:
    rng = np.random.default_rng(1)
    for m in range(1, 30):
        x = rng.exponential(1.0, m)
        assert R._median(x) == float(np.median(x))
    x[3] = math.nan
    assert math.isnan(R._median(x)) and math.isnan(float(np.median(x)))


def test_emg_readiness_reads_both_mains_from_one_spectrum(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 5e-3, (3, 2000))
    x[1] += 0.03 * np.sin(2 * np.pi * 60 * np.arange(2000) / 2000.0)
    present = rng.random(2000) > 0.05
    fast = emg_readiness(x, 2000.0, [0.0, 0.01, 0.0], present=present, names=["a", "b", "c"])

    with monkeypatch.context() as mp:
        mp.setattr(R, "_power", lambda row, present: (row, present))  # hand the row itself on
        mp.setattr(
            R, "_mains", lambda row, present, n, fs, hz: reference_mains_component(row, fs, hz, present)
        )
        slow = emg_readiness(x, 2000.0, [0.0, 0.01, 0.0], present=present, names=["a", "b", "c"])
    assert fast == slow
    assert fast[0]["b.mains_hz"] == 60.0

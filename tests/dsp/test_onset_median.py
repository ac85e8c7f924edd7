"""The onset detector's sub-window statistics: median and 1.4826·MAD, exactly numpy's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmre.dsp._onset_kernels import _median_spread, _select


@pytest.mark.parametrize("n", [1, 2, 3, 16, 17, 18, 50, 124, 125, 126, 250])
def test_median_and_spread_are_numpys_bit_for_bit(n):
    rng = np.random.default_rng(n)
    scratch = np.zeros(n)
    for trial in range(60):
        x = np.abs(rng.normal(0, 1, n)) * rng.uniform(0.01, 100)
        if trial % 3 == 1:
            x = np.round(x, 1)  # ties
        if trial % 3 == 2:
            x[: n // 2] = x[0]  # a run of one value
        med, spread = _median_spread(x, scratch)
        want = np.median(x)
        assert med == want
        assert spread == 1.4826 * np.median(np.abs(x - want))


def test_a_non_finite_sample_gives_nan():
    x = np.arange(20.0)
    x[7] = math.inf
    assert all(math.isnan(v) for v in _median_spread(x, np.zeros(20)))


def test_select_leaves_the_k_smaller_in_front():
    rng = np.random.default_rng(5)
    for n in (5, 40, 200):
        for k in (0, n // 3, n // 2, n - 1):
            a = np.round(rng.normal(0, 1, n), 1)
            v = _select(a, n, k)
            assert v == np.sort(a)[k]
            assert np.all(a[:k] <= v) and np.all(a[k:] >= v)

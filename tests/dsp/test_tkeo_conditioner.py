"""TkeoConditioner gives bit for bit what its four stages give as a Pipeline, for any split into blocks."""

from __future__ import annotations

import numpy as np
import pytest

from nmre.core.model import Block
from nmre.dsp.emg import Rectifier, Tkeo, TkeoConditioner
from nmre.dsp.filters import SosFilter
from nmre.dsp.pipeline import Pipeline


def _blocks(x, sizes):
    t = np.arange(x.shape[1]) / 2000.0
    a = 0
    for n in sizes:
        yield Block("emg", t[a : a + n], np.ascontiguousarray(x[:, a : a + n]))
        a += n


@pytest.mark.parametrize("n_channels", [1, 2, 5, 8])
def test_the_fused_conditioner_equals_the_pipeline_of_its_stages(n_channels):
    rng = np.random.default_rng(n_channels)
    x = rng.normal(0, 0.05, (n_channels, 6000)) * (1 + 20 * (rng.random((n_channels, 1)) < 0.5))
    x[:, 2000:2600] *= 30  # a burst
    sizes = [*rng.integers(0, 40, 400).tolist(), 6000]
    sizes = [int(s) for s in np.diff(np.minimum(np.cumsum([0, *sizes]), 6000))]
    ref = Pipeline(
        [
            SosFilter.bandpass(20.0, 450.0, 2000.0, n_channels),
            Tkeo(n_channels),
            Rectifier(n_channels),
            SosFilter.lowpass(30.0, 2000.0, n_channels),
        ]
    )
    fused = TkeoConditioner(n_channels, 2000.0, 20.0, 450.0, 30.0)
    for _ in range(2):  # and again after reset
        want = [ref.process(b).values for b in _blocks(x, sizes)]
        got = [fused.process(b).values for b in _blocks(x, sizes)]
        assert np.concatenate(want, axis=1).tobytes() == np.concatenate(got, axis=1).tobytes()
        assert np.concatenate(got, axis=1).max() > 0
        ref.reset()
        fused.reset()

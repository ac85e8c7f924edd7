"""SOS filtering: nmre's numba cascade vs scipy.signal.sosfilt, in bulk and per live block."""

from __future__ import annotations

import numpy as np
from scipy import signal

from _harness import Comparison, best_time
from nmre.core.model import Block
from nmre.dsp.filters import SosFilter, design_sos, notch_sos, sosfilt

FS = 2000.0
N_CH = 8


def _sos() -> np.ndarray:
    """Band-pass 20–450 Hz (butter N=4, 8th order) + 50 Hz notch: 5 biquads, as in reference/dsp.md §6.2."""
    return np.vstack([design_sos("bandpass", (20.0, 450.0), FS, 4), notch_sos(50.0, FS, 30.0)])


def run(quick: bool) -> list[Comparison]:
    sos = _sos()
    minutes = 1 if quick else 10
    n = int(minutes * 60 * FS)
    x = np.random.default_rng(0).standard_normal((N_CH, n))
    zi = np.zeros((sos.shape[0], N_CH, 2))
    y, _ = sosfilt(sos, x, zi)
    assert np.array_equal(y, signal.sosfilt(sos, x, axis=-1, zi=zi)[0])  # same numbers before timing
    repeat = 2 if quick else 3
    t_nmre = best_time(lambda: sosfilt(sos, x, zi), repeat=repeat)
    t_scipy = best_time(lambda: signal.sosfilt(sos, x, axis=-1, zi=zi), repeat=repeat)
    out = [
        Comparison(
            "sosfilt bulk, 5 biquads",
            t_nmre,
            "scipy.signal.sosfilt",
            t_scipy,
            f"{N_CH} ch x {minutes} min at 2 kHz",
            ">= 1.0x",
        )
    ]

    blk = x[:, :16].copy()
    times = np.arange(16) / FS
    block = Block("emg", times, blk)
    proc = SosFilter(sos, N_CH, FS)
    state = {"zi": zi.copy()}

    def scipy_block() -> None:
        _, state["zi"] = signal.sosfilt(sos, blk, axis=-1, zi=state["zi"])

    number = 500 if quick else 3000
    out.append(
        Comparison(
            "SosFilter.process, 16-sample block",
            best_time(lambda: proc.process(block), repeat=5, number=number),
            "scipy sosfilt(zi) per block",
            best_time(scipy_block, repeat=5, number=number),
            f"{N_CH} ch x 16 samples at 2 kHz, per block",
            ">= 10x",
        )
    )
    return out

"""EMG chain: nmre vs neurokit2 (offline) and vs the same chain on scipy, block by block (live).

``live_update_cost(quick)`` gives the EMG part of one live engine update (8 channels
at 2 kHz, one 16-sample block through ``EmgChain``) in seconds, for the lead's
end-to-end budget.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal

from _harness import Comparison, best_time
from nmre.core.model import Block
from nmre.dsp.emg import EmgChain

N_CH = 8
FS_LIVE = 2000.0
BLOCK = 16


def _live_setup() -> tuple[EmgChain, Block, np.ndarray]:
    x = np.random.default_rng(1).standard_normal((N_CH, BLOCK)) * 0.1
    return EmgChain(N_CH, FS_LIVE, notch=50.0), Block("emg", np.arange(BLOCK) / FS_LIVE, x), x


def live_update_cost(quick: bool = False) -> float:
    """Seconds per ``EmgChain.process`` of one 16-sample, 8-channel block at 2 kHz (best of 5)."""
    chain, block, _ = _live_setup()
    return best_time(lambda: chain.process(block), repeat=5, number=500 if quick else 5000)


def run(quick: bool) -> list[Comparison]:
    out: list[Comparison] = []

    # --- offline: the whole chain on a recording vs neurokit2.emg_process, one channel at a time
    import neurokit2 as nk  # test-only peer; an ImportError is reported as "skipped"

    fs = 1000.0
    seconds = 20 if quick else 60
    n_ch = 2 if quick else 4
    emg = np.stack(
        [
            nk.emg_simulate(duration=seconds, sampling_rate=int(fs), burst_number=8, random_state=c)
            for c in range(n_ch)
        ]
    )
    chain = EmgChain(n_ch, fs, notch=50.0)
    blk = Block("emg", np.arange(emg.shape[1]) / fs, emg)

    def nmre_bulk() -> None:
        chain.reset()
        chain.process(blk)

    def nk_bulk() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in range(n_ch):
                nk.emg_process(emg[c], sampling_rate=int(fs))

    out.append(
        Comparison(
            "EmgChain bulk (BP+notch+rect+6 Hz LP)",
            best_time(nmre_bulk, repeat=3),
            "neurokit2.emg_process per channel",
            best_time(nk_bulk, repeat=1 if quick else 2),
            f"{n_ch} ch x {seconds} s at 1 kHz",
            ">= 20x",
        )
    )

    # --- live: 8 channels at 2 kHz in 16-sample blocks vs the same chain on scipy with zi
    live, block, x = _live_setup()
    bp, env = live.pre_sos, live.env_sos
    st = {"bp": np.zeros((bp.shape[0], N_CH, 2)), "env": np.zeros((env.shape[0], N_CH, 2))}

    def scipy_live() -> np.ndarray:
        y, st["bp"] = signal.sosfilt(bp, x, axis=-1, zi=st["bp"])
        e, st["env"] = signal.sosfilt(env, np.abs(y), axis=-1, zi=st["env"])
        return e

    # same numbers first (from rest)
    live.reset()
    assert np.array_equal(live.process(block).values, scipy_live())
    number = 500 if quick else 5000
    out.append(
        Comparison(
            "EmgChain live update (per 16-sample block)",
            best_time(lambda: live.process(block), repeat=5, number=number),
            "scipy sosfilt(zi) chain per block",
            best_time(scipy_live, repeat=5, number=number),
            f"{N_CH} ch x {BLOCK} samples at 2 kHz",
            ">= 10x",
        )
    )
    return out

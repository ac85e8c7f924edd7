"""Detectors of issue 7 (detect): per-block cost live, and whole-recording cost against offline peers.

* ContractionDetector / OnsetDetector per 16-sample block of 8 EMG envelopes at 2 kHz (the live
  EMG block), against the same double threshold with minimum durations written in numpy per
  block (the peer a Python developer would write), and in bulk against detecta.detect_onset.
* SitToStand and AccInclination per 2-sample block (100 Hz, 20 ms BLE packets), and SitToStand on a
  whole recording against scikit-digital-health's offline Sit2Stand (which finds sit-to-stand only).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from _harness import Comparison, best_time
from nmre.core.model import Block
from nmre.dsp.emg import EmgChain
from nmre.dsp.inclination import AccInclination
from nmre.dsp.onset import ContractionDetector, OnsetDetector
from nmre.dsp.transitions import SitToStand

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dsp"))

N_CH = 8
FS = 2000.0
BLOCK = 16


def _envelopes(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    amp = 0.005 + 0.3 * (np.sin(2 * np.pi * 0.25 * t[None, :] + np.arange(N_CH)[:, None]) > 0.3)
    raw = rng.standard_normal((N_CH, n)) * amp
    return EmgChain(N_CH, FS).process(Block("emg", t, raw)).values


class NumpyDoubleThreshold:
    """Peer: the same hysteresis with minimum on/off durations, vectorised per block in numpy."""

    def __init__(self, on: np.ndarray, off: np.ndarray, n_on: int, n_off: int) -> None:
        self.on, self.off, self.n_on, self.n_off = on, off, n_on, n_off
        self.active = np.zeros(on.shape[0], dtype=bool)
        self.run = np.zeros(on.shape[0], dtype=np.int64)

    def process(self, x: np.ndarray) -> np.ndarray:
        y = np.empty(x.shape, dtype=bool)
        for i in range(x.shape[1]):  # samples: the state depends on the previous one
            hit = np.where(self.active, x[:, i] < self.off, x[:, i] > self.on)
            self.run = np.where(hit, self.run + 1, 0)
            need = np.where(self.active, self.n_off, self.n_on)
            flip = self.run >= need
            self.active ^= flip
            self.run[flip] = 0
            y[:, i] = self.active
        return y


def run(quick: bool) -> list[Comparison]:
    out: list[Comparison] = []
    env = _envelopes(10.0 if quick else 60.0)
    base = (np.full(N_CH, 0.004), np.full(N_CH, 0.001))
    peer = NumpyDoubleThreshold(np.full(N_CH, 0.012), np.full(N_CH, 0.008), 200, 500)
    x = np.ascontiguousarray(env[:, :BLOCK])
    number = 500 if quick else 5000
    blocks = [
        Block("env", np.arange(i, i + BLOCK) / FS, np.ascontiguousarray(env[:, i : i + BLOCK]))
        for i in range(0, env.shape[1] - BLOCK + 1, BLOCK)
    ]

    def streamed(det: OnsetDetector) -> float:
        """Mean seconds per block over the whole recording in order, events popped as the engine does."""

        def once() -> None:
            det.reset()
            for b in blocks:
                det.process(b)
                det.pop_events()

        return best_time(once, repeat=3) / len(blocks)

    for name, det in (
        ("ContractionDetector", ContractionDetector(N_CH, FS, baseline=base)),
        ("OnsetDetector", OnsetDetector(N_CH, FS, k_on=8.0, k_off=4.0, baseline=base)),
    ):
        out.append(
            Comparison(
                f"{name} per block (8 ch, 16 samples)",
                streamed(det),
                "same state machine in numpy per block",
                best_time(lambda: peer.process(x), repeat=3, number=max(50, number // 20)),
                "mean over a recording streamed in 16-sample blocks of 8 envelopes at 2 kHz",
                "per-block cost, live",
            )
        )
    try:
        import detecta
    except ImportError:
        pass
    else:
        whole = Block("env", np.arange(env.shape[1]) / FS, env)

        def nmre_bulk() -> None:
            d = ContractionDetector(
                N_CH, FS, baseline=(np.full(N_CH, 0.004), np.full(N_CH, 0.001)), horizon=None
            )
            d.process(whole)

        def detecta_bulk() -> None:
            for c in range(N_CH):
                detecta.detect_onset(env[c], 0.012, n_above=200, n_below=499)

        out.append(
            Comparison(
                "ContractionDetector, whole recording",
                best_time(nmre_bulk, repeat=3),
                "detecta.detect_onset per channel",
                best_time(detecta_bulk, repeat=3),
                f"8 ch x {env.shape[1] / FS:.0f} s at 2 kHz",
                "offline",
            )
        )

    from sts_synth import simulate_sts

    imu, _, _ = simulate_sts(6 if quick else 20, 100.0, 0, arm=0.1, tilt_gain=0.6, pause=(1.0, 3.0))
    acc = np.ascontiguousarray(imu[:3])
    packets = [
        Block("acc", np.arange(i, i + 2) / 100.0, np.ascontiguousarray(acc[:, i : i + 2]))
        for i in range(0, acc.shape[1] - 1, 2)
    ]

    def per_packet(proc: SitToStand | AccInclination) -> float:
        def once() -> None:
            proc.reset()
            for b in packets:
                proc.process(b)
                proc.pop_events()

        return best_time(once, repeat=3) / len(packets)

    out.append(
        Comparison(
            "SitToStand per block (2 samples)",
            per_packet(SitToStand(100.0)),
            "AccInclination per block (reference point)",
            per_packet(AccInclination(100.0)),
            "mean over a recording streamed in 20 ms packets of a 100 Hz accelerometer",
            "per-block cost, live",
        )
    )
    try:
        import skdh
    except ImportError:
        return out
    tt = np.arange(acc.shape[1]) / 100.0
    whole_acc = Block("acc", tt, acc)

    def nmre_sts() -> None:
        SitToStand(100.0).process(whole_acc)

    def skdh_sts() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skdh.sit2stand.Sit2Stand().predict(time=1.7e9 + tt, accel=acc.T / 9.81)

    out.append(
        Comparison(
            "SitToStand, whole recording (streaming, both directions)",
            best_time(nmre_sts, repeat=3),
            "skdh Sit2Stand.predict (offline, STS only)",
            best_time(skdh_sts, repeat=1 if quick else 3),
            f"{acc.shape[1] / 100.0:.0f} s at 100 Hz",
            "offline",
        )
    )
    return out

"""Synthetic signals for the calibration tests (independent of nmre.sim)."""

from __future__ import annotations

import numpy as np
from scipy import signal

from nmre.core.model import IMU_CHANNELS, Block, Channel, Placement, Side, StreamInfo, StreamKind


def emg_info(
    stream: str = "emg.r", muscles: tuple[str, ...] = ("vmo", "vl"), fs: float = 2000.0
) -> StreamInfo:
    chans = tuple(Channel(m, "mV", Placement(muscle=m, side=Side.RIGHT)) for m in muscles)
    return StreamInfo(stream, StreamKind.EMG, chans, fs, Placement(side=Side.RIGHT))


def imu_info(stream: str, segment: str, fs: float = 200.0, acc_only: bool = False) -> StreamInfo:
    kind = StreamKind.ACC if acc_only else StreamKind.IMU
    chans = IMU_CHANNELS[:3] if acc_only else IMU_CHANNELS
    return StreamInfo(stream, kind, chans, fs, Placement(segment=segment, side=Side.RIGHT))


def emg(
    amplitude: np.ndarray,
    fs: float,
    seed: int,
    noise_uv: float = 3.0,
    mains_uv: float = 0.0,
    mains_hz: float = 50.0,
) -> np.ndarray:
    """(n_ch, n) mV: band-limited Gaussian EMG with RMS = amplitude (mV) + white noise + mains (RMS, µV)."""
    rng = np.random.default_rng(seed)
    amp = np.atleast_2d(amplitude)
    n = amp.shape[1]
    sos = signal.butter(4, [20, min(450, 0.45 * fs)], "band", fs=fs, output="sos")
    car = signal.sosfilt(sos, rng.standard_normal((amp.shape[0], n + 1000)), axis=1)[:, 1000:]
    car /= car.std(axis=1, keepdims=True)
    t = np.arange(n) / fs
    hum = mains_uv * 1e-3 * np.sqrt(2) * np.sin(2 * np.pi * mains_hz * t + rng.uniform(0, 6.28))
    return car * amp + rng.normal(0, noise_uv * 1e-3, amp.shape) + hum


def blocks(stream: str, x: np.ndarray, fs: float, size: int, t0: float = 0.0) -> list[Block]:
    n = x.shape[1]
    return [
        Block(
            stream, t0 + np.arange(i, min(i + size, n)) / fs, np.ascontiguousarray(x[:, i : i + size]), seq=i
        )
        for i in range(0, n, size)
    ]


def run(node, streams: dict[str, tuple[np.ndarray, float]], size_s: float = 0.01) -> list:  # type: ignore[no-untyped-def]
    """Feed every stream to ``node`` interleaved by time; return the events it raised."""
    bl = []
    for sid, (x, fs) in streams.items():
        bl += blocks(sid, x, fs, max(1, round(size_s * fs)))
    bl.sort(key=lambda b: (float(b.times[-1]), b.stream))
    ev = []
    for b in bl:
        node.push(b)
        ev += node.pop_events()
    return ev

"""Orientation update cost: nmre's numba Madgwick / Fusion kernels vs ahrs (pure Python) and imufusion (C, per sample)."""

from __future__ import annotations

import math

import numpy as np

from _harness import Comparison, best_time
from nmre.core.model import Block
from nmre.dsp.orientation import FusionAhrs, Madgwick

FS = 200.0
N_IMU = 4


def _imus(seconds: float) -> list[Block]:
    rng = np.random.default_rng(0)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    out = []
    for k in range(N_IMU):
        gyr = np.vstack(
            [np.sin(2 * np.pi * (0.3 + 0.1 * k) * t), 0.5 * np.cos(2 * np.pi * 0.2 * t), 0.2 * t / t[-1]]
        )
        acc = np.array([0.5, 0.3, 9.81])[:, None] + rng.normal(0, 0.5, (3, n))
        out.append(Block(f"imu{k}", t, np.vstack([acc, gyr + rng.normal(0, 0.01, (3, n))])))
    return out


def run(quick: bool) -> list[Comparison]:
    import ahrs
    import imufusion

    seconds = 60.0
    blocks = _imus(seconds)
    work = f"{N_IMU} IMUs x {seconds:.0f} s at {FS:.0f} Hz"
    out = []

    # Madgwick: nmre in one block per IMU vs ahrs' batch constructor (a Python loop over updateIMU)
    def nmre_madgwick() -> None:
        for b in blocks:
            Madgwick(FS, beta=0.1).process(b)

    ahrs_blocks = blocks[:1] if quick else blocks  # ahrs is ~30 us/update: time one IMU in quick mode
    ahrs_scale = N_IMU / len(ahrs_blocks)
    ref = ahrs.filters.Madgwick(
        gyr=blocks[0].values[3:].T, acc=blocks[0].values[:3].T, frequency=FS, gain=0.1
    ).Q.T
    assert np.allclose(Madgwick(FS, beta=0.1).process(blocks[0]).values, ref, atol=1e-10)  # same numbers

    def ahrs_madgwick() -> None:
        for b in ahrs_blocks:
            ahrs.filters.Madgwick(gyr=b.values[3:].T, acc=b.values[:3].T, frequency=FS, gain=0.1)

    out.append(
        Comparison(
            "Madgwick IMU, one block per IMU",
            best_time(nmre_madgwick, repeat=5),
            "ahrs.filters.Madgwick",
            best_time(ahrs_madgwick, repeat=1) * ahrs_scale,
            work,
            ">= 500x",
        )
    )

    # Fusion: nmre in one block per IMU vs imufusion.Ahrs.update_no_magnetometer per sample
    settings = imufusion.AhrsSettings(
        sample_rate=FS,
        convention=imufusion.CONVENTION_NWU,
        gain=0.5,
        gyroscope_range=2000,
        acceleration_rejection=10,
        magnetic_rejection=10,
        rejection_timeout=5,
    )
    per_sample = [
        (np.ascontiguousarray(np.degrees(b.values[3:].T)), np.ascontiguousarray(b.values[:3].T / 9.80665))
        for b in blocks
    ]

    def imufusion_loop() -> None:
        for gyr, acc in per_sample:
            a = imufusion.Ahrs()
            a.set_settings(settings)
            for i in range(gyr.shape[0]):
                a.update_no_magnetometer(gyr[i], acc[i])
                a.get_quaternion()

    def nmre_fusion() -> None:
        for b in blocks:
            FusionAhrs(FS).process(b)

    t_peer = best_time(imufusion_loop, repeat=2 if quick else 3)
    out.append(
        Comparison(
            "Fusion AHRS, one block per IMU",
            best_time(nmre_fusion, repeat=5),
            "imufusion per sample",
            t_peer,
            work,
            ">= 10x",
        )
    )

    # the live case: 20-sample blocks (100 ms at 200 Hz), Python call + Block per block
    blk = 20
    small = [
        [
            Block(b.stream, b.times[i : i + blk], np.ascontiguousarray(b.values[:, i : i + blk]))
            for i in range(0, b.n_samples, blk)
        ]
        for b in blocks
    ]

    def nmre_fusion_blocks() -> None:
        for parts in small:
            f = FusionAhrs(FS)
            for p in parts:
                f.process(p)

    out.append(
        Comparison(
            f"FusionAhrs.process, {blk}-sample blocks",
            best_time(nmre_fusion_blocks, repeat=3),
            "imufusion per sample",
            t_peer,
            work,
            "",
        )
    )
    assert math.isfinite(t_peer)
    return out

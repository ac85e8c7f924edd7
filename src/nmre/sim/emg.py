"""Surface EMG: shaped Gaussian noise amplitude-modulated by muscle activation.

The interference pattern of many motor units is modelled, as is usual for
surface EMG, as zero-mean Gaussian noise whose power spectrum has the shape of
Shwedyk, Balasubramanian & Scott (IEEE Trans Biomed Eng 24(5):417, 1977),
``P(f) ~ f^2 fh^4 / ((f^2 + fl^2)(f^2 + fh^2)^2)``, realised as the analog filter
``H(s) = s wh^2 / ((s + wl)(s + wh)^2)`` mapped by the bilinear transform, then
band-limited to 20–450 Hz (4th-order Butterworth band-pass). The carrier has unit
variance and is multiplied by ``rms_at_full * a(t)``, so the signal's RMS follows
the activation ``a(t)``. Amplifier noise (white, ``baseline_rms``) and optional
mains hum (fundamental and third harmonic) are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from nmre.sim.scenario import MUSCLES, child_rng

__all__ = ["EmgModel", "carrier_sos", "synthesize_emg"]

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EmgModel:
    """EMG amplitudes and spectrum.

    Parameters
    ----------
    rms_at_full : tuple of float
        RMS at full activation (a = 1) per muscle in :data:`MUSCLES` order, mV.
    baseline_rms : float
        RMS of the amplifier/skin noise floor, mV.
    mains_rms : float
        RMS of mains hum when enabled, mV.
    fl, fh : float
        Low and high corner of the Shwedyk spectrum, Hz (with the defaults the spectrum peaks near 93 Hz, median ~127 Hz).
    band : (float, float)
        Band-pass limits, Hz.
    """

    rms_at_full: tuple[float, ...] = (0.50, 0.60, 0.40, 0.35)
    baseline_rms: float = 0.007
    mains_rms: float = 0.02
    fl: float = 80.0
    fh: float = 180.0
    band: tuple[float, float] = (20.0, 450.0)


def carrier_sos(rate: float, model: EmgModel | None = None) -> F64:
    """Second-order sections of the sEMG shaping filter at ``rate`` Hz, scaled to unit noise gain."""
    m = model or EmgModel()
    wl, wh = 2 * np.pi * m.fl, 2 * np.pi * m.fh
    z, p, k = signal.bilinear_zpk([0.0], [-wl, -wh, -wh], wh * wh, rate)
    shape = signal.zpk2sos(z, p, k)
    hi = min(m.band[1], 0.45 * rate)
    band = signal.butter(2, [m.band[0], hi], btype="bandpass", fs=rate, output="sos")
    sos = np.vstack([shape, band])
    impulse = np.zeros(int(rate))
    impulse[0] = 1.0
    gain = float(np.sqrt(np.sum(signal.sosfilt(sos, impulse) ** 2)))
    sos[0, :3] /= gain
    return sos


def synthesize_emg(
    activation: F64,
    times: F64,
    rate: float,
    seed: int,
    mains_hz: float | None = None,
    model: EmgModel | None = None,
) -> F64:
    """EMG of every muscle, mV, shape (len(MUSCLES), n).

    Parameters
    ----------
    activation : ndarray, shape (len(MUSCLES), n)
        Activation in [0, 1] at ``times``.
    times : ndarray, shape (n,)
        Sample times, s (used for the mains phase).
    rate : float
        Sampling rate, Hz.
    seed : int
        Session seed; each muscle's carrier and noise come from their own child generator.
    mains_hz : float or None
        Mains frequency (50 or 60 Hz) to add hum, or ``None``.
    model : EmgModel, optional
        Amplitudes and spectrum.
    """
    m = model or EmgModel()
    sos = carrier_sos(rate, m)
    n = times.shape[0]
    pre = int(0.25 * rate)  # let the filter settle before the first kept sample
    out = np.empty((len(MUSCLES), n))
    for i, muscle in enumerate(MUSCLES):
        white = child_rng(seed, f"emg.carrier.{muscle}").standard_normal(n + pre)
        carrier = signal.sosfilt(sos, white)[pre:]
        out[i] = m.rms_at_full[i] * activation[i] * carrier
        out[i] += m.baseline_rms * child_rng(seed, f"emg.baseline.{muscle}").standard_normal(n)
    if mains_hz is not None:
        rng = child_rng(seed, "emg.mains")
        phase = rng.uniform(0.0, 2 * np.pi, 2)
        gains = rng.uniform(0.5, 1.5, len(MUSCLES))
        hum = (
            np.sqrt(2)
            * m.mains_rms
            * (
                np.sin(2 * np.pi * mains_hz * times + phase[0])
                + 0.3 * np.sin(2 * np.pi * 3 * mains_hz * times + phase[1])
            )
        )
        out += gains[:, None] * hum[None, :]
    return out

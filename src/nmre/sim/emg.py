"""Surface EMG: shaped Gaussian noise amplitude-modulated by muscle activation.

The interference pattern of many motor units is modelled, as is usual for
surface EMG, as zero-mean Gaussian noise whose power spectrum has the shape of
Shwedyk, Balasubramanian & Scott (IEEE Trans Biomed Eng 24(5):417, 1977),
``P(f) ~ f^2 fh^4 / ((f^2 + fl^2)(f^2 + fh^2)^2)``, realised as the analog filter
``H(s) = s wh^2 / ((s + wl)(s + wh)^2)`` mapped by the bilinear transform, then
band-limited to 20–450 Hz (4th-order Butterworth band-pass). The carrier has unit
variance and is multiplied by ``rms_at_full * a(t)``, so the signal's RMS follows
the activation ``a(t)``. Amplifier noise (white, the subject's ``emg_noise``),
optional mains hum (fundamental and third harmonic) and optional electrode motion
artefacts are added.

Pages
-----
EMG is generated in pages of :data:`PAGE` samples, each on its own: page ``p``'s
carrier is the shaping filter run over the last :data:`WARMUP` white-noise samples
of page ``p - 1`` and then page ``p``'s own (each page's white noise comes from its
own seeded generator). The filter's slowest pole decays by more than 1e-10 over
the warm-up, so the pages join without a seam, and any stretch of a session can be
generated without the rest: memory does not grow with the session.

Motion artefacts
----------------
An electrode or cable that moves adds a low-frequency transient (mostly below
20 Hz, up to a few mV; De Luca et al., J Biomech 43:1573, 2010): here
``A (x/tau) exp(1 - x/tau) sin(2 pi f x)`` for ``x = t - t0 >= 0``, with ``f`` 2-8 Hz,
``tau`` 0.05-0.2 s and ``A`` 0.3-2 mV, on every channel of the stream (channel
gains 0.3-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from nmre.sim.rng import child_rng

__all__ = ["PAGE", "WARMUP", "Artifact", "EmgModel", "carrier_page", "carrier_sos", "draw_artifacts"]

F64 = NDArray[np.float64]

#: Samples per EMG page.
PAGE = 8192
#: Warm-up samples taken from the previous page's white noise.
WARMUP = 1024


@dataclass(frozen=True, slots=True)
class EmgModel:
    """EMG spectrum, mains hum and motion-artefact model (amplitudes come from the subject).

    Parameters
    ----------
    mains_rms : float
        RMS of mains hum when enabled, mV.
    fl, fh : float
        Low and high corner of the Shwedyk spectrum, Hz (with the defaults the spectrum
        peaks near 93 Hz, median ~127 Hz).
    band : (float, float)
        Band-pass limits, Hz.
    artifact_mv : (float, float)
        Range of motion-artefact peak amplitudes, mV.
    baseline_rms : float or None
        RMS of the noise floor, mV, for every subject (default: the subject's own ``emg_noise``).
    """

    mains_rms: float = 0.02
    fl: float = 80.0
    fh: float = 180.0
    band: tuple[float, float] = (20.0, 450.0)
    artifact_mv: tuple[float, float] = (0.3, 2.0)
    baseline_rms: float | None = None


@dataclass(frozen=True, slots=True)
class Artifact:
    """One electrode motion artefact: start (s), peak amplitude (mV), frequency (Hz), time constant (s)."""

    time: float
    amplitude: float
    freq: float
    tau: float

    def evaluate(self, t: F64) -> F64:
        x = np.maximum(t - self.time, 0.0)
        return (
            self.amplitude * (x / self.tau) * np.exp(1.0 - x / self.tau) * np.sin(2 * np.pi * self.freq * x)
        )


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


def _white(seed: int, key: str, page: int) -> F64:
    return child_rng(seed, f"{key}.{page}").standard_normal(PAGE)


def carrier_page(sos: F64, seed: int, key: str, page: int) -> F64:
    """Unit-variance sEMG carrier of page ``page`` (``PAGE`` samples) for the noise stream ``key``."""
    prev = (
        _white(seed, key, page - 1)[-WARMUP:]
        if page > 0
        else child_rng(seed, f"{key}.warmup").standard_normal(WARMUP)
    )
    return signal.sosfilt(sos, np.concatenate([prev, _white(seed, key, page)]))[WARMUP:]


def draw_artifacts(
    seed: int, key: str, rate_per_min: float, duration: float, model: EmgModel
) -> list[Artifact]:
    """Motion artefacts at Poisson times (``rate_per_min`` per minute) over ``duration`` s."""
    rng = child_rng(seed, f"{key}.artifacts")
    out: list[Artifact] = []
    t = 0.0
    while rate_per_min > 0:
        t += float(rng.exponential(60.0 / rate_per_min))
        if t >= duration:
            break
        out.append(
            Artifact(
                t,
                float(rng.uniform(*model.artifact_mv)),
                float(rng.uniform(2.0, 8.0)),
                float(rng.uniform(0.05, 0.2)),
            )
        )
    return out

"""Surface-EMG processing: envelopes, TKEO, normalisation, onsets, co-contraction, features.

Every processor is causal and streaming (any split of a signal into blocks gives
the one-call output exactly), keeps its state as plain arrays, and runs a numba
kernel from :mod:`nmre.dsp._emg_kernels`. Values are ``(n_channels, n_samples)``
float64, EMG in mV.

The recommended live chain (reference/dsp.md §1.2), fused in :class:`EmgChain`::

    raw → band-pass 20–450 Hz (Butterworth, 4th order) → [notch 50/60 Hz, Q 30]
        → |·| → linear envelope (2nd-order low-pass 6 Hz) or moving RMS (100 ms)
        → [× 100 / reference → %MVC]

References
----------
Merletti R. (1999) Standards for reporting EMG data, J Electromyogr Kinesiol 9(1):III–IV.
De Luca C.J. et al. (2010) Filtering the surface EMG signal, J Biomech 43:1573–1579.
Kaiser J.F. (1990) On a simple algorithm to calculate the 'energy' of a signal, ICASSP.
Li X., Zhou P., Aruin A.S. (2007) Teager–Kaiser energy operation of surface EMG improves
muscle activity onset detection, Ann Biomed Eng 35:1532–1538.
Hodges P.W., Bui B.H. (1996) A comparison of computer-based methods for the determination
of onset of muscle contraction using electromyography, EEG Clin Neurophysiol 101:511–519.
Falconer K., Winter D.A. (1985) Quantitative assessment of co-contraction at the ankle
joint in walking, Electromyogr Clin Neurophysiol 25:135–149.
Rudolph K.S., Axe M.J., Snyder-Mackler L. (2000) Dynamic stability after ACL injury:
who can hop? Knee Surg Sports Traumatol Arthrosc 8:262–269.
Phinyomark A., Phukpattaranont P., Limsakul C. (2012) Feature reduction and selection
for EMG signal classification, Expert Syst Appl 39:7420–7431 (feature definitions as in LibEMG).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, StreamInfo, StreamKind
from nmre.dsp import _emg_kernels as K
from nmre.dsp._filter_checks import as_signal
from nmre.dsp._protect import protected
from nmre.dsp.filters import SosFilter, design_sos, group_delay, notch_sos, passband_delay
from nmre.dsp.onset import MAD_TO_SD, ContractionDetector, OnsetDetector, robust_baseline
from nmre.errors import ConfigError, InputError

__all__ = [
    "FEATURE_NAMES",
    "MAD_TO_SD",
    "ContractionDetector",
    "EmgChain",
    "EmgFeatures",
    "LinearEnvelope",
    "MovingRms",
    "Normalizer",
    "OnsetDetector",
    "Rectifier",
    "Tkeo",
    "TkeoConditioner",
    "cci_falconer_winter",
    "cci_rudolph",
    "emg_features",
    "robust_baseline",
    "warmup",
]

F64 = NDArray[np.float64]
FEATURE_NAMES: tuple[str, ...] = K.FEATURE_NAMES


def _n_channels(n: object) -> int:
    if not (isinstance(n, (int, np.integer)) and int(n) >= 1):
        raise ConfigError(f"expected n_channels >= 1, got {n!r}")
    return int(n)


def _rate(fs: object) -> float:
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and math.isfinite(fs) and fs > 0):
        raise ConfigError(f"expected a sampling rate fs > 0 Hz, got {fs!r}")
    return float(fs)


def _samples(seconds: float, fs: float, what: str) -> int:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"expected {what} > 0 s, got {seconds!r}")
    return max(1, round(seconds * fs))


def _same_span(block: Block, values: F64) -> Block:
    return Block(block.stream, block.times, values, block.seq, block.missing_before, block.arrival)


def _envelope_info(info: StreamInfo, unit: str, suffix: str) -> StreamInfo:
    chans = tuple(Channel(c.name, unit, c.placement) for c in info.channels)
    return dataclasses.replace(info, id=f"{info.id}.{suffix}", kind=StreamKind.ENVELOPE, channels=chans)


@protected("hold")
class Rectifier(Processor):
    """Full-wave rectification ``|x|`` (no delay, no state).

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    """

    def __init__(self, n_channels: int) -> None:
        self.n_channels = _n_channels(n_channels)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.rectify_kernel(x, y)
        return _same_span(block, y)

    def reset(self) -> None:
        """Stateless; nothing to forget."""


@protected("hold")
class MovingRms(Processor):
    """Moving RMS envelope over a window of ``window`` seconds (ring buffer, O(1) per sample).

    ``y[n] = sqrt(mean(x[n-W+1 .. n] ** 2))`` with ``W = round(window * fs)`` and
    zeros assumed before the first sample (so the first ``W-1`` outputs ramp up).
    The running sum is recomputed exactly once per ``W`` samples, so round-off
    does not accumulate over a session. Delay: ``(W - 1) / 2`` samples (≈ 50 ms for
    a 100 ms window).

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    fs : float
        Sampling rate, Hz.
    window : float
        Window length, seconds (Konrad 2005: 50–100 ms for display).
    """

    def __init__(self, n_channels: int, fs: float, window: float = 0.1) -> None:
        self.n_channels = _n_channels(n_channels)
        self.fs = _rate(fs)
        self.window_samples = _samples(window, self.fs, "an RMS window")
        self._ring = np.zeros((self.n_channels, self.window_samples))
        self._sums = np.zeros(self.n_channels)
        self._pos = np.zeros(1, dtype=np.int64)

    @property
    def delay(self) -> float:
        """Group delay in seconds, ``(W - 1) / (2 fs)``."""
        return (self.window_samples - 1) / (2.0 * self.fs)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.moving_rms_kernel(x, self._ring, self._sums, self._pos, y)
        return _same_span(block, y)

    def reset(self) -> None:
        self._ring[...] = 0.0
        self._sums[...] = 0.0
        self._pos[0] = 0

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return _envelope_info(info, info.channels[0].unit, "rms")


@protected("hold")
class LinearEnvelope(Processor):
    """Linear envelope: full-wave rectification, then a causal Butterworth low-pass.

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    fs : float
        Sampling rate, Hz.
    cutoff : float
        Low-pass corner, Hz (6 Hz default: 37.5 ms delay at DC for order 2).
    order : int
        Butterworth order.
    """

    def __init__(self, n_channels: int, fs: float, cutoff: float = 6.0, order: int = 2) -> None:
        self.n_channels = _n_channels(n_channels)
        self.fs = _rate(fs)
        self.sos = design_sos("lowpass", cutoff, self.fs, order)
        self._zi = np.zeros((self.sos.shape[0], self.n_channels, 2))
        # Runs the fused chain kernel with no band-pass sections and no RMS ring, so the
        # arithmetic is exactly the envelope stage of EmgChain (bit-identical results).
        self._none = np.zeros((0, 6))
        self._ring = np.zeros((self.n_channels, 1))
        self._sums = np.zeros(self.n_channels)
        self._pos = np.zeros(1, dtype=np.int64)
        self._unit = np.ones(self.n_channels)
        self._pre_zi = np.zeros((0, self.n_channels, 2))

    @property
    def delay(self) -> float:
        """Group delay at DC, seconds."""
        return float(group_delay(self.sos, self.fs, [0.0])[0])

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.emg_chain_kernel(
            self._none,
            self._pre_zi,
            self.sos,
            self._zi,
            self._ring,
            self._sums,
            self._pos,
            False,
            self._unit,
            x,
            y,
        )
        return _same_span(block, y)

    def reset(self) -> None:
        self._zi[...] = 0.0

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return _envelope_info(info, info.channels[0].unit, "envelope")


@protected("hold")
class Tkeo(Processor):
    """Streaming Teager–Kaiser energy operator, delayed by one sample.

    ``psi[n] = x[n]**2 - x[n-1] * x[n+1]`` needs one future sample, so output
    sample ``n`` carries ``psi[n-1] = x[n-1]**2 - x[n-2] * x[n]`` (samples before
    the start are zero: ``y[0] = 0``, ``y[1] = x[0]**2``). Units: input unit squared.
    Kaiser (1990); used for EMG onsets by Li, Zhou & Aruin (2007).

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    """

    #: Delay of the output, in samples.
    delay_samples = 1

    def __init__(self, n_channels: int) -> None:
        self.n_channels = _n_channels(n_channels)
        self._prev = np.zeros((self.n_channels, 2))

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.tkeo_kernel(x, self._prev, y)
        return _same_span(block, y)

    def reset(self) -> None:
        self._prev[...] = 0.0


class TkeoConditioner(Processor):
    """Onset conditioning in one call: Butterworth band-pass, TKEO, full-wave rectification, low-pass.

    Gives bit for bit what ``Pipeline([SosFilter.bandpass(low, high, fs, n), Tkeo(n),
    Rectifier(n), SosFilter.lowpass(cutoff, fs, n)])`` gives (the stages are those
    objects, in :attr:`stages`), with one kernel call and one output block per block
    instead of four: what an 8 ms live update of an onset detector costs is mostly
    per-call overhead (docs/performance.md). TKEO conditioning for onsets: Li, Zhou
    & Aruin (2007); Solnik et al. (2010).

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    fs : float
        Sampling rate, Hz.
    low, high : float
        Band-pass edges, Hz (order 2 each side, as :meth:`SosFilter.bandpass`).
    cutoff : float
        Low-pass cut-off of the TKEO output, Hz.
    """

    def __init__(self, n_channels: int, fs: float, low: float, high: float, cutoff: float) -> None:
        self.n_channels = _n_channels(n_channels)
        self.fs = _rate(fs)
        self.bandpass = SosFilter.bandpass(low, high, self.fs, self.n_channels)
        self.tkeo = Tkeo(self.n_channels)
        self.rectifier = Rectifier(self.n_channels)
        self.lowpass = SosFilter.lowpass(cutoff, self.fs, self.n_channels)
        self.stages: tuple[Processor, ...] = (self.bandpass, self.tkeo, self.rectifier, self.lowpass)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        if x.shape[1]:
            K.tkeo_condition_kernel(
                self.bandpass.sos,
                self.bandpass._zi,
                self.tkeo._prev,
                self.lowpass.sos,
                self.lowpass._zi,
                x,
                y,
            )
        return _same_span(block, y)

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def output_info(self, info: StreamInfo) -> StreamInfo:
        for stage in self.stages:
            info = stage.output_info(info)
        return info


_F8 = np.dtype(np.float64)


def condition_and_detect(cond: Processor, det: OnsetDetector, block: Block) -> F64 | None:
    """``det.process(cond.process(block))`` in one kernel call; the conditioned values, or ``None``.

    For the usual block of an onset node's live update (a :class:`TkeoConditioner`,
    an :class:`OnsetDetector` with a baseline and no peak re-timing, a C-contiguous
    float64 block of the right rows): the conditioning, the detector's input screen
    and its burst kernel run in one call (:func:`~nmre.dsp._emg_kernels.tkeo_burst_kernel`),
    and the detector queues the same events as through the two ``process`` calls
    (bit for bit: the same kernels on the same arrays). A conditioned sample the
    screen finds bad goes through the detector's ``process`` as usual. ``None``, with
    nothing changed, when the block or the pair is not of that kind: call the two.
    """
    x = block.values
    scr = det.__dict__.get("_input_screen")  # made by the detector's first screened process
    if not (
        type(cond) is TkeoConditioner
        and type(det) is OnsetDetector
        and scr is not None
        and det.peak_fraction is None
        and det._cal is not None
        and type(x) is np.ndarray
        and x.dtype is _F8
        and x.ndim == 2
        and x.flags.c_contiguous
        and x.shape[0] == cond.n_channels == det.n_channels
        and x.shape[1]
    ):
        return None
    n_ch, n = x.shape
    need = n_ch * (n // min(det.n_on, det.n_off) + 2)
    if need > det._cap:
        det._grow(need)
    limit = scr._limit.get(n_ch)
    if limit is None:
        limit = scr.limit(n_ch)
    times = block.times
    y = np.empty_like(x)  # a new array per block: an onset node keeps the conditioned blocks it may search
    act = det.__dict__.get("_active_out")  # the activity state: not returned, so one buffer serves
    if act is None or act.shape != x.shape:
        act = det.__dict__["_active_out"] = np.empty_like(x)
    bp, lp = cond.bandpass, cond.lowpass
    k = K.tkeo_burst_kernel(
        bp.sos,
        bp._zi,
        cond.tkeo._prev,
        lp.sos,
        lp._zi,
        x,
        y,
        limit,
        np.ascontiguousarray(times, dtype=np.float64),
        det._prm,
        det._iprm,
        det._pch,
        det._ist,
        det._fst,
        det._cst,
        det._sub,
        det._scratch,
        det._hist,
        det._sm,
        act,
        det._ev_i,
        det._ev_f,
    )
    if k < 0:  # a bad conditioned sample: the detector's screen takes the block
        det.process(Block(block.stream, times, y, block.seq, block.missing_before, block.arrival))
    else:
        scr._prev = y
        if k:
            det._take(k, block.stream)
    return y


NormMethod = Literal["mvc", "submax", "contralateral", "task_peak"]
_NORM_UNITS = {"mvc": "%MVC", "submax": "%RVC", "contralateral": "%contralateral", "task_peak": "%peak"}


@protected("hold")
class Normalizer(Processor):
    """Express envelopes as a percentage of a per-channel reference value.

    ``y[c] = x[c] * (100 / reference[c])``. The reference and how it was obtained
    are kept as metadata, because ISEK (Merletti 1999) requires the normalisation
    method to be reported and any electrode re-placement invalidates it.

    Parameters
    ----------
    reference : array_like, shape (n_channels,)
        Reference amplitude per channel in the envelope's unit (mV), all > 0.
    method : {"mvc", "submax", "contralateral", "task_peak"}
        How the reference was obtained: maximal voluntary contraction, a
        sub-maximal reference contraction (RVC), the same muscle on the other
        side, or the peak of the task itself.
    metadata : mapping, optional
        Extra facts to record (trial ids, electrode session id, window).
    """

    def __init__(
        self, reference: ArrayLike, method: NormMethod = "mvc", metadata: Mapping[str, Any] | None = None
    ) -> None:
        ref = np.atleast_1d(np.asarray(reference, dtype=np.float64))
        if ref.ndim != 1 or not np.all(np.isfinite(ref) & (ref > 0)):
            raise InputError(f"expected reference as (n_channels,) finite values > 0; got {ref!r}")
        if method not in _NORM_UNITS:
            raise ConfigError(f"expected method in {sorted(_NORM_UNITS)}, got {method!r}")
        self.reference = ref
        self.method: NormMethod = method
        self.unit = _NORM_UNITS[method]
        self.metadata: dict[str, Any] = {"method": method, "unit": self.unit, "reference": ref.tolist()}
        self.metadata.update(metadata or {})
        self.n_channels = int(ref.shape[0])
        self.scale = 100.0 / ref

    @classmethod
    def from_recording(
        cls,
        x: F64,
        fs: float,
        method: NormMethod = "mvc",
        window: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
    ) -> Normalizer:
        """Reference = peak of a ``window``-second moving RMS of a reference recording.

        Parameters
        ----------
        x : ndarray, shape (n_channels, n_samples)
            Band-passed EMG of the reference contraction(s), mV (several trials
            may be concatenated).
        fs : float
            Sampling rate, Hz.
        method, metadata
            As for the constructor; ``window`` and the recording length are added.
        """
        xx = as_signal(x, None, "reference recording")
        rms = MovingRms(xx.shape[0], fs, window)
        w = rms.window_samples
        if xx.shape[1] < w:
            raise InputError(f"expected a reference recording of at least {w} samples; got {xx.shape[1]}")
        env = rms.process(Block("reference", np.arange(xx.shape[1]) / fs, xx)).values
        peak = env[:, w - 1 :].max(axis=1)  # full windows only
        meta = {"window_s": window, "duration_s": xx.shape[1] / fs, "statistic": "peak moving RMS"}
        meta.update(metadata or {})
        return cls(peak, method, meta)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.scale_kernel(x, self.scale, y)
        return _same_span(block, y)

    def reset(self) -> None:
        """Stateless apart from the reference, which a reset keeps."""

    def output_info(self, info: StreamInfo) -> StreamInfo:
        chans = tuple(Channel(c.name, self.unit, c.placement) for c in info.channels)
        return dataclasses.replace(info, kind=StreamKind.ENVELOPE, channels=chans)


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[F64, F64]:
    aa = np.asarray(a, dtype=np.float64)
    bb = np.asarray(b, dtype=np.float64)
    if aa.shape != bb.shape or aa.ndim < 1 or aa.shape[-1] < 1:
        raise InputError(
            f"expected two envelopes of the same shape (..., n_samples); got {aa.shape} and {bb.shape}"
        )
    return aa, bb


def cci_falconer_winter(a: ArrayLike, b: ArrayLike) -> F64 | float:
    """Falconer & Winter (1985) co-contraction index, percent.

    ``CCI = 2·Σ min(a, b) / Σ (a + b) × 100`` over the last axis (uniform sampling,
    so dt cancels). 0 % = no overlap, 100 % = identical curves; ``nan`` if both are 0.

    Parameters
    ----------
    a, b : array_like, shape (..., n_samples)
        Normalised envelopes (e.g. %MVC) of agonist and antagonist over one window or rep.
    """
    aa, bb = _pair(a, b)
    num = 2.0 * np.minimum(aa, bb).sum(axis=-1)
    den = (aa + bb).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def cci_rudolph(a: ArrayLike, b: ArrayLike) -> F64 | float:
    """Rudolph et al. (2000) co-contraction index.

    ``CCI = mean_t (lower/higher)·(lower + higher)`` with lower/higher the smaller
    and larger of ``a(t)``, ``b(t)``; samples where both are 0 contribute 0.
    In the envelopes' unit (e.g. %MVC); grows with overlap and with total activation.

    Parameters
    ----------
    a, b : array_like, shape (..., n_samples)
        Normalised envelopes of the two muscles over one window or rep.
    """
    aa, bb = _pair(a, b)
    lo = np.minimum(aa, bb)
    hi = np.maximum(aa, bb)
    ratio = np.divide(lo, hi, out=np.zeros_like(lo), where=hi > 0)
    out = (ratio * (lo + hi)).mean(axis=-1)
    return float(out) if out.ndim == 0 else out


@protected()
class EmgFeatures(Processor):
    """Windowed EMG features, one output column each time a window completes.

    Windows of ``window`` samples advance by ``increment`` samples; the first
    completes at sample ``window`` (1-based). Features (LibEMG / Phinyomark 2012):

    ======  =====================================================================
    MAV     mean |x|
    RMS     sqrt(mean x²)
    WL      Σ |x[j+1] − x[j]|  (waveform length)
    ZC      number of sign changes (x[j]·x[j+1] < 0, zeros do not count)
    SSC     number of j with (x[j] − x[j−1])·(x[j] − x[j+1]) ≥ ssc_threshold
    WAMP    number of j with |x[j+1] − x[j]| > wamp_threshold
    MNF     Σ P_k f_k / Σ P_k over the one-sided power spectrum, Hz
    MDF     first f_k where the cumulative power reaches half the total, Hz
    IAV     Σ |x|
    ======  =====================================================================

    The spectrum is ``|FFT|²`` of the window zero-padded to the next power of two
    ``nfft``, bins ``k = 0 .. nfft/2 − 1`` at ``f_k = k·fs/nfft``. (The MATLAB values
    shipped with LibEMG place bin k at ``k·(fs/2)/(nfft/2 − 1)``, i.e. a factor
    ``nfft/(nfft − 2)`` higher: 0.8 % for 200-sample windows.)

    The output block has rows ``f * n_channels + c`` (feature-major, in the order of
    ``features``) and one column per completed window, stamped with the time of
    the window's last sample. A block may yield no columns.

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    fs : float
        Sampling rate, Hz (for MNF/MDF).
    window, increment : int
        Window length and step, samples.
    features : sequence of str
        Subset of :data:`FEATURE_NAMES`, in output order.
    wamp_threshold, ssc_threshold : float
        Thresholds in signal units (LibEMG defaults 2e-3 and 0).
    """

    #: One output column per completed window, not per input sample.
    per_sample = False

    def __init__(
        self,
        n_channels: int,
        fs: float,
        window: int,
        increment: int,
        features: Sequence[str] = FEATURE_NAMES,
        wamp_threshold: float = 2e-3,
        ssc_threshold: float = 0.0,
    ) -> None:
        self.n_channels = _n_channels(n_channels)
        self.fs = _rate(fs)
        if not (isinstance(window, (int, np.integer)) and window >= 2):
            raise ConfigError(f"expected window >= 2 samples, got {window!r}")
        if not (isinstance(increment, (int, np.integer)) and increment >= 1):
            raise ConfigError(f"expected increment >= 1 sample, got {increment!r}")
        unknown = [f for f in features if f not in FEATURE_NAMES]
        if unknown or not features:
            raise ConfigError(f"expected features from {FEATURE_NAMES}, got {list(features)!r}")
        self.window, self.increment = int(window), int(increment)
        self.features = tuple(features)
        self.wamp_threshold, self.ssc_threshold = float(wamp_threshold), float(ssc_threshold)
        self._which = np.array([FEATURE_NAMES.index(f) for f in self.features], dtype=np.int64)
        nfft = 1 << (self.window - 1).bit_length()
        self.nfft = nfft
        k = np.arange(nfft // 2)
        self._cos = np.cos(2.0 * np.pi * k / nfft)
        self._sin = np.sin(2.0 * np.pi * k / nfft)
        bits = nfft.bit_length() - 1
        self._bitrev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(nfft)])
        self._re = np.zeros(nfft)
        self._im = np.zeros(nfft)
        self._win = np.zeros(self.window)
        self._feat = np.zeros(len(FEATURE_NAMES))
        self._ring = np.zeros((self.n_channels, self.window))
        self._state = np.zeros(2, dtype=np.int64)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        n = x.shape[1]
        max_out = n // self.increment + 1
        out = np.empty((len(self.features) * self.n_channels, max_out))
        idx = np.empty(max_out, dtype=np.int64)
        k = K.features_kernel(
            x,
            self._ring,
            self._state,
            self.increment,
            self._which,
            self.fs,
            self.wamp_threshold,
            self.ssc_threshold,
            self._win,
            self._re,
            self._im,
            self._cos,
            self._sin,
            self._bitrev,
            self._feat,
            out,
            idx,
        )
        return Block(
            block.stream, block.times[idx[:k]], out[:, :k], block.seq, block.missing_before, block.arrival
        )

    def reset(self) -> None:
        self._ring[...] = 0.0
        self._state[...] = 0

    def output_info(self, info: StreamInfo) -> StreamInfo:
        units = {"MNF": "Hz", "MDF": "Hz", "ZC": "count", "SSC": "count", "WAMP": "count"}
        chans = tuple(
            Channel(f"{f}:{c.name}", units.get(f, c.unit), c.placement)
            for f in self.features
            for c in info.channels
        )
        return dataclasses.replace(
            info, id=f"{info.id}.features", channels=chans, rate=self.fs / self.increment
        )


def emg_features(
    x: F64, fs: float, window: int, increment: int, features: Sequence[str] = FEATURE_NAMES, **kw: float
) -> F64:
    """Bulk form of :class:`EmgFeatures`: returns ``(n_features, n_channels, n_windows)``."""
    xx = as_signal(x, None, "x")
    proc = EmgFeatures(xx.shape[0], fs, window, increment, features, **kw)
    out = proc.process(Block("x", np.arange(xx.shape[1]) / fs, xx)).values
    return out.reshape(len(proc.features), xx.shape[0], -1)


@protected("hold")
class EmgChain(Processor):
    """The live EMG chain, fused into one kernel call per block.

    band-pass → [notch] → full-wave rectification → envelope → [× 100 / reference].
    Bit-identical to ``Pipeline([SosFilter(bp [+ notch]), LinearEnvelope | (Rectifier,
    MovingRms), Normalizer])`` and streaming (any block split gives the same output).

    Parameters
    ----------
    n_channels : int
        Rows of every block (EMG in mV).
    fs : float
        Sampling rate, Hz (≥ 1 kHz; 2 kHz preferred).
    band : (float, float)
        Band-pass corners, Hz (20–450, De Luca 2010).
    order : int
        ``butter`` N of the band-pass (2 → 4th-order band-pass, 2 biquads).
    notch : float or None
        Mains frequency to notch (50 or 60 Hz), or None (default: off).
    notch_q : float
        Notch quality factor.
    envelope : {"linear", "rms"}
        Linear envelope (low-pass ``cutoff`` Hz, order 2) or moving RMS over ``window`` s.
    cutoff : float
        Linear-envelope low-pass corner, Hz.
    window : float
        RMS window, seconds.
    normalizer : Normalizer, optional
        Turns the envelope into %MVC (or the normaliser's unit).
    name : str, optional
        Output stream id (default: input id + ``".envelope"``).
    """

    def __init__(
        self,
        n_channels: int,
        fs: float,
        band: tuple[float, float] = (20.0, 450.0),
        order: int = 2,
        notch: float | None = None,
        notch_q: float = 30.0,
        envelope: Literal["linear", "rms"] = "linear",
        cutoff: float = 6.0,
        window: float = 0.1,
        normalizer: Normalizer | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name
        self.n_channels = _n_channels(n_channels)
        self.fs = _rate(fs)
        pre = design_sos("bandpass", band, self.fs, order)
        if notch is not None:
            pre = np.vstack([pre, notch_sos(notch, self.fs, notch_q)])
        self.pre_sos = np.ascontiguousarray(pre)
        if envelope not in ("linear", "rms"):
            raise ConfigError(f"expected envelope 'linear' or 'rms', got {envelope!r}")
        self.envelope = envelope
        self.env_sos = design_sos("lowpass", cutoff, self.fs, 2) if envelope == "linear" else np.zeros((0, 6))
        w = _samples(window, self.fs, "an RMS window") if envelope == "rms" else 1
        self.window_samples = w
        self._pre_zi = np.zeros((self.pre_sos.shape[0], self.n_channels, 2))
        self._env_zi = np.zeros((self.env_sos.shape[0], self.n_channels, 2))
        self._ring = np.zeros((self.n_channels, w))
        self._sums = np.zeros(self.n_channels)
        self._pos = np.zeros(1, dtype=np.int64)
        self._scale = np.ones(self.n_channels)
        self.normalizer: Normalizer | None = None
        self.set_normalizer(normalizer)

    def set_normalizer(self, normalizer: Normalizer | None) -> None:
        """Attach (or remove with None) a normaliser; takes effect from the next block."""
        if normalizer is not None and normalizer.n_channels != self.n_channels:
            raise InputError(
                f"expected a normalizer with n_channels={self.n_channels}; got {normalizer.n_channels}"
            )
        self.normalizer = normalizer
        self._scale[...] = 1.0 if normalizer is None else normalizer.scale

    def group_delay(self, freqs: ArrayLike) -> F64:
        """Group delay of the band-pass (+ notch) cascade in seconds at ``freqs`` Hz."""
        return group_delay(self.pre_sos, self.fs, freqs)

    @property
    def bandpass_delay(self) -> float:
        """Median group delay of the band-pass (+ notch) over its passband, seconds."""
        return passband_delay(self.pre_sos, self.fs)

    @property
    def delay(self) -> float:
        """Envelope delay in seconds (the band-pass adds only :attr:`bandpass_delay`).

        Linear envelope: low-pass group delay at DC; RMS: ``(W - 1) / (2 fs)``.
        """
        if self.envelope == "rms":
            return (self.window_samples - 1) / (2.0 * self.fs)
        return float(group_delay(self.env_sos, self.fs, [0.0])[0])

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        K.emg_chain_kernel(
            self.pre_sos,
            self._pre_zi,
            self.env_sos,
            self._env_zi,
            self._ring,
            self._sums,
            self._pos,
            self.envelope == "rms",
            self._scale,
            x,
            y,
        )
        return Block(
            self.name or block.stream, block.times, y, block.seq, block.missing_before, block.arrival
        )

    def reset(self) -> None:
        """Forget filter and envelope state (the normaliser is kept)."""
        self._pre_zi[...] = 0.0
        self._env_zi[...] = 0.0
        self._ring[...] = 0.0
        self._sums[...] = 0.0
        self._pos[0] = 0

    def output_info(self, info: StreamInfo) -> StreamInfo:
        unit = self.normalizer.unit if self.normalizer is not None else info.channels[0].unit
        out = _envelope_info(info, unit, "envelope")
        return out if self.name is None else dataclasses.replace(out, id=self.name)


def warmup() -> None:
    """Compile (or load from numba's cache) every filter, EMG and guard kernel.

    Call before a session starts so no kernel compiles during one. Runs each
    processor once on a tiny block with the dtypes used live.
    """
    from nmre.dsp.filters import SosFilter
    from nmre.dsp.guard import Guard

    x = np.zeros((2, 8))
    b = Block("warmup", np.arange(8) / 1000.0, x)
    procs: list[Processor] = [
        Guard(2, full_scale=1.0, stuck_samples=4),
        SosFilter.lowpass(6.0, 1000.0, 2),
        Rectifier(2),
        MovingRms(2, 1000.0, 0.004),
        LinearEnvelope(2, 1000.0),
        Tkeo(2),
        TkeoConditioner(2, 1000.0, 20.0, 450.0, 30.0),
        Normalizer([1.0, 1.0]),
        OnsetDetector(2, 1000.0, baseline=(0.0, 1.0)),
        EmgFeatures(2, 1000.0, 4, 2),
        EmgChain(2, 1000.0, envelope="rms", window=0.004),
        EmgChain(2, 1000.0, notch=50.0),
    ]
    for p in procs:
        p.process(b)
    det = OnsetDetector(2, 1000.0, baseline=(0.0, 1.0))
    det.process(b)  # its screen, then the one-call path of an onset node
    condition_and_detect(TkeoConditioner(2, 1000.0, 20.0, 450.0, 30.0), det, b)

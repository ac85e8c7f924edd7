"""Causal IIR filtering with second-order sections (SOS), streaming and in bulk.

Filters are designed with :mod:`scipy.signal` (Butterworth ``butter`` and
``iirnotch``) and run by a numba Direct Form II transposed cascade whose
operation order is that of scipy's ``_sosfilt``: float64 output is bit-exact
against :func:`scipy.signal.sosfilt` (the test oracle).

Two ways in:

* :func:`sosfilt` ``(sos, x, zi) -> (y, zf)`` over ``(n_channels, n_samples)``
  arrays, state as plain data (scipy's ``zi`` layout), for bulk use;
* :class:`SosFilter`, a :class:`nmre.core.Processor` that owns the state and
  filters block by block; any split of a signal gives exactly the one-call output.

References
----------
Oppenheim & Schafer, *Discrete-Time Signal Processing*, 3rd ed., §6.5 (transposed
forms). SciPy ``scipy.signal.sosfilt`` / ``sosfilt_zi`` / ``group_delay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from nmre.core.interfaces import Processor
from nmre.core.model import Block
from nmre.dsp._filter_checks import as_signal, as_sos, describe
from nmre.dsp._filter_kernels import sosfilt_kernel
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError

__all__ = [
    "SosFilter",
    "design_sos",
    "group_delay",
    "notch_sos",
    "passband_delay",
    "sosfilt",
    "sosfilt_zi",
]

F64 = NDArray[np.float64]
FilterKind = Literal["lowpass", "highpass", "bandpass", "bandstop"]


def design_sos(kind: FilterKind, cutoff: float | Sequence[float], fs: float, order: int = 2) -> F64:
    """Design a causal Butterworth filter as second-order sections.

    Parameters
    ----------
    kind : {"lowpass", "highpass", "bandpass", "bandstop"}
        Filter type.
    cutoff : float or (float, float)
        -3 dB corner(s) in Hz; two corners for band filters.
    fs : float
        Sampling rate in Hz.
    order : int
        ``N`` passed to :func:`scipy.signal.butter`. Band filters have order 2N
        (``order=2`` gives the 4th-order 20–450 Hz EMG band-pass).

    Returns
    -------
    ndarray, shape (n_sections, 6)
        SOS coefficients ``[b0, b1, b2, 1, a1, a2]`` per section.
    """
    if not (np.isfinite(fs) and fs > 0):
        raise ConfigError(f"expected a sampling rate fs > 0 Hz, got {fs!r}")
    if not (isinstance(order, (int, np.integer)) and order >= 1):
        raise ConfigError(f"expected a filter order >= 1, got {order!r}")
    wn = np.atleast_1d(np.asarray(cutoff, dtype=np.float64))
    n_corners = 2 if kind in ("bandpass", "bandstop") else 1
    if kind not in ("lowpass", "highpass", "bandpass", "bandstop"):
        raise ConfigError(f"expected kind lowpass, highpass, bandpass or bandstop, got {kind!r}")
    if wn.shape != (n_corners,) or not np.all((wn > 0) & (wn < fs / 2)) or np.any(np.diff(wn) <= 0):
        raise ConfigError(
            f"expected {n_corners} increasing corner frequencies in (0, fs/2 = {fs / 2:g}) Hz "
            f"for a {kind}, got {cutoff!r}"
        )
    sos = signal.butter(int(order), wn if n_corners == 2 else float(wn[0]), btype=kind, fs=fs, output="sos")
    return np.ascontiguousarray(sos, dtype=np.float64)


def notch_sos(f0: float, fs: float, q: float = 30.0) -> F64:
    """A second-order IIR notch at ``f0`` Hz (:func:`scipy.signal.iirnotch`) as one SOS row.

    Parameters
    ----------
    f0 : float
        Notch frequency in Hz (50 or 60 for mains).
    fs : float
        Sampling rate in Hz.
    q : float
        Quality factor ``f0 / bandwidth(-3 dB)``; 30 gives a 1.7 Hz wide notch at 50 Hz.

    Returns
    -------
    ndarray, shape (1, 6)
    """
    if not (np.isfinite(fs) and fs > 0 and 0 < f0 < fs / 2 and q > 0):
        raise ConfigError(f"expected 0 < f0 < fs/2 and q > 0, got f0={f0!r}, fs={fs!r}, q={q!r}")
    b, a = signal.iirnotch(f0, q, fs=fs)
    return np.ascontiguousarray(signal.tf2sos(b, a), dtype=np.float64)


def sosfilt(sos: ArrayLike, x: F64, zi: F64 | None = None) -> tuple[F64, F64]:
    """Filter every row of ``x`` causally through the SOS cascade.

    Bit-exact in float64 with ``scipy.signal.sosfilt(sos, x, axis=-1, zi=zi)``.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Second-order sections with ``a0 == 1``.
    x : ndarray, shape (n_channels, n_samples)
        Signal in any unit; integers are converted to float64.
    zi : ndarray, shape (n_sections, n_channels, 2), optional
        Initial state (scipy's layout); zeros when omitted. Not modified.

    Returns
    -------
    y : ndarray, shape (n_channels, n_samples), float64
        Filtered signal, same unit as ``x``.
    zf : ndarray, shape (n_sections, n_channels, 2), float64
        Final state, to pass as ``zi`` to the next call.
    """
    s = as_sos(sos)
    xx = as_signal(x, None, "x")
    want = (s.shape[0], xx.shape[0], 2)
    if zi is None:
        zf = np.zeros(want)
    else:
        if not isinstance(zi, np.ndarray) or zi.shape != want or zi.dtype.kind not in "fiu":
            raise InputError(f"expected zi as a float64 array of shape {want}; got {describe(zi)}")
        zf = np.array(zi, dtype=np.float64, order="C")
    y = np.empty_like(xx)
    sosfilt_kernel(s, xx, zf, y)
    return y, zf


def sosfilt_zi(sos: ArrayLike, x0: ArrayLike) -> F64:
    """Steady-state initial state for a step of height ``x0`` on each channel.

    Filtering a constant ``x0[c]`` from this state outputs the constant's
    steady-state response at once (no start-up transient).

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
    x0 : array_like, shape (n_channels,)
        First sample of each channel (signal units).

    Returns
    -------
    ndarray, shape (n_sections, n_channels, 2)
        ``scipy.signal.sosfilt_zi(sos)[:, None, :] * x0[None, :, None]``.
    """
    s = as_sos(sos)
    x0a = np.atleast_1d(np.asarray(x0, dtype=np.float64))
    if x0a.ndim != 1:
        raise InputError(f"expected x0 as a (n_channels,) array; got shape {x0a.shape}")
    base = signal.sosfilt_zi(s)
    return np.ascontiguousarray(base[:, None, :] * x0a[None, :, None])


def group_delay(sos: ArrayLike, fs: float, freqs: ArrayLike) -> F64:
    """Group delay of the cascade in seconds at ``freqs`` Hz.

    Computed with :func:`scipy.signal.group_delay` on each section and summed:
    the group delay of a cascade is the sum of its sections' (phases add), and
    per-section evaluation avoids the ill-conditioning of a high-order
    transfer-function polynomial.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
    fs : float
        Sampling rate in Hz.
    freqs : array_like, shape (n_freqs,)
        Frequencies in Hz, in ``[0, fs/2)``.

    Returns
    -------
    ndarray, shape (n_freqs,)
        Delay in seconds.
    """
    s = as_sos(sos)
    f = np.atleast_1d(np.asarray(freqs, dtype=np.float64))
    total = np.zeros_like(f)
    for row in s:
        _, gd = signal.group_delay((row[:3], row[3:]), w=f, fs=fs)
        total += gd
    return total / fs


def passband_delay(sos: ArrayLike, fs: float, n_grid: int = 4096) -> float:
    """Median group delay in seconds over the passband (``|H| >= max|H| / sqrt(2)``).

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
    fs : float
        Sampling rate in Hz.
    n_grid : int
        Number of frequencies on ``[0, fs/2)`` used to locate the passband.
    """
    s = as_sos(sos)
    f, h = signal.sosfreqz(s, worN=n_grid, fs=fs)
    mag = np.abs(h)
    band = f[mag >= mag.max() / np.sqrt(2.0)]
    return float(np.median(group_delay(s, fs, band)))


@protected("hold")
class SosFilter(Processor):
    """Streaming causal SOS filter over ``(n_channels, n_samples)`` blocks.

    State (``zi``, scipy layout ``(n_sections, n_channels, 2)``) is kept between
    blocks, so any split of a signal gives the one-call output bit for bit.
    Gaps (``missing_before``) are not bridged: the filter continues from the
    last sample it saw.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Cascade to run; stack several designs with :func:`numpy.vstack` to chain them.
    n_channels : int
        Number of rows of every block.
    fs : float
        Sampling rate in Hz (used for group delays).
    initial : {"zeros", "steady"}
        ``"zeros"``: start from rest. ``"steady"``: on the first sample, set the
        state to the steady-state response to that sample (:func:`sosfilt_zi`),
        which removes the start-up transient of a DC offset.

    Examples
    --------
    >>> bp = SosFilter.bandpass(20.0, 450.0, fs=2000.0, n_channels=8)
    >>> out = bp.process(block)          # doctest: +SKIP
    >>> bp.passband_delay                 # seconds  # doctest: +SKIP
    """

    def __init__(
        self,
        sos: ArrayLike,
        n_channels: int,
        fs: float,
        initial: Literal["zeros", "steady"] = "zeros",
    ) -> None:
        if not (isinstance(n_channels, (int, np.integer)) and n_channels >= 1):
            raise ConfigError(f"expected n_channels >= 1, got {n_channels!r}")
        if initial not in ("zeros", "steady"):
            raise ConfigError(f"expected initial 'zeros' or 'steady', got {initial!r}")
        self.sos = as_sos(sos)
        self.n_channels = int(n_channels)
        self.fs = float(fs)
        self.initial = initial
        self._zi = np.zeros((self.sos.shape[0], self.n_channels, 2))
        self._zi_unit = signal.sosfilt_zi(self.sos) if initial == "steady" else None
        self._started = False

    @classmethod
    def bandpass(cls, low: float, high: float, fs: float, n_channels: int, order: int = 2) -> SosFilter:
        """Butterworth band-pass ``low``–``high`` Hz (order 2·``order``)."""
        return cls(design_sos("bandpass", (low, high), fs, order), n_channels, fs)

    @classmethod
    def lowpass(cls, cutoff: float, fs: float, n_channels: int, order: int = 2) -> SosFilter:
        """Butterworth low-pass at ``cutoff`` Hz."""
        return cls(design_sos("lowpass", cutoff, fs, order), n_channels, fs)

    @classmethod
    def highpass(cls, cutoff: float, fs: float, n_channels: int, order: int = 2) -> SosFilter:
        """Butterworth high-pass at ``cutoff`` Hz."""
        return cls(design_sos("highpass", cutoff, fs, order), n_channels, fs)

    @classmethod
    def notch(cls, f0: float, fs: float, n_channels: int, q: float = 30.0) -> SosFilter:
        """IIR notch at ``f0`` Hz with quality factor ``q``."""
        return cls(notch_sos(f0, fs, q), n_channels, fs)

    @property
    def zi(self) -> F64:
        """A copy of the current state, shape (n_sections, n_channels, 2)."""
        return self._zi.copy()

    def group_delay(self, freqs: ArrayLike) -> F64:
        """Group delay in seconds at ``freqs`` Hz (see :func:`group_delay`)."""
        return group_delay(self.sos, self.fs, freqs)

    @property
    def passband_delay(self) -> float:
        """Median group delay over the passband, seconds (see :func:`passband_delay`)."""
        return passband_delay(self.sos, self.fs)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        if x.shape[1]:
            if not self._started:
                self._started = True
                if self._zi_unit is not None:
                    self._zi[...] = self._zi_unit[:, None, :] * x[None, :, 0, None]
            sosfilt_kernel(self.sos, x, self._zi, y)
        return Block(block.stream, block.times, y, block.seq, block.missing_before, block.arrival)

    def reset(self) -> None:
        self._zi[...] = 0.0
        self._started = False

"""The onset of a muscle's main burst: the steepest relative rise of its conditioned EMG.

A threshold set from the rest baseline (:class:`nmre.dsp.onset.OnsetDetector`) says
*that* a muscle switched on. With low-level pre-activity before a burst (anticipatory
activity of a few % of maximal, common before a movement) it says it too early, and by
luck: the pre-activity crosses the threshold in one muscle and not in the other, so the
onset order of two muscles is read from the pre-activity of one and the burst of the
other (the eval suite read a true VMO-VL lag of -8 ms as +168 ms). :func:`steepest_rise`
finds, around such a crossing, where the signal rises by the largest factor: the mean
over the ``window`` after a sample against the mean over the ``window`` before it (a
change of level between two adjacent windows, the statistic of change-point burst
detectors: Staude et al. 2001's approximated generalised likelihood ratio, whose
optimum window on TKEO-conditioned EMG is 50-100 ms, Krabben et al.). The level before
is the local pre-burst level, pre-activity included, not the rest baseline: the main
burst's rise stands out whatever low-level activity came before it, and the ratio does
not depend on the muscle's amplitude, so two muscles of different strength are timed
alike. The signal is first smoothed by a ``smooth``-second centred moving mean (Hodges
& Bui 1996 average 20-100 ms windows of the low-passed signal).

On a rise of duration ``r`` the sample found lies about ``0.3 r`` after the start of the
rise (a step: at it); two muscles with the same rise time are offset alike, so their
onset *difference* keeps it out.

References
----------
Hodges P.W., Bui B.H. (1996) EEG Clin Neurophysiol 101:511-519.
Staude G., Flachenecker C., Daumer M., Wolf W. (2001) Onset detection in surface
electromyographic signals: a systematic comparison of methods, EURASIP J Appl Signal
Process 2001:67-81.
Krabben T. et al., TKEO and AGLR burst detection (reference/dsp.md 1.4: optimum window
100 ms).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nmre._numba import kernel
from nmre.errors import ConfigError, expected

__all__ = ["RISE_SMOOTH", "RISE_WINDOW", "steepest_rise"]

F64 = NDArray[np.float64]

#: Length of each of the two windows compared, s (50 ms: the short end of the AGLR windows).
RISE_WINDOW = 0.05
#: Centred moving mean applied first, s (25 ms: Hodges & Bui's window averages).
RISE_SMOOTH = 0.025


def _centred_mean(x: F64, w: int) -> F64:
    n = x.shape[0]
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(n)
    lo, hi = np.maximum(i - w // 2, 0), np.minimum(i + w - w // 2, n)
    out: F64 = (c[hi] - c[lo]) / (hi - lo)
    return out


def steepest_rise(
    x: F64, fs: float, window: float = RISE_WINDOW, smooth: float = RISE_SMOOTH
) -> tuple[int, float]:
    """Index of the sample where ``x`` rises by the largest factor, and that factor.

    Parameters
    ----------
    x : ndarray, shape (n_samples,)
        A conditioned EMG signal (>= 0: a TKEO or amplitude envelope), finite.
    fs : float
        Sampling rate, Hz.
    window : float
        Length of the windows before and after a sample whose means are compared, s.
    smooth : float
        Centred moving mean applied to ``x`` first, s (0: none).

    Returns
    -------
    index, ratio : int, float
        The sample ``k`` maximising ``mean(x[k : k + w]) / mean(x[k - w : k])`` (``w`` the
        window in samples), and that ratio; ``(-1, nan)`` when ``x`` is shorter than two
        windows. A window before that is all 0 gives no ratio (0 there; a rise out of a
        dropout is the quality gate's business: a unit with a hole is not judged).
    """
    if not (math.isfinite(fs) and fs > 0):
        raise ConfigError("steepest_rise: " + expected("a sampling rate > 0 Hz", fs))
    if not (math.isfinite(window) and window > 0 and math.isfinite(smooth) and smooth >= 0):
        raise ConfigError(
            "steepest_rise: "
            + expected("window > 0 s and smooth >= 0 s", {"window": window, "smooth": smooth})
        )
    x = np.ascontiguousarray(x, dtype=np.float64)
    w = max(1, round(window * fs))
    n = x.shape[0]
    if n < 2 * w:
        return -1, math.nan
    k, r = _rise_kernel(x, w, round(smooth * fs))
    return int(k), float(r)


@kernel
def _rise_kernel(x: F64, w: int, s: int) -> tuple[int, float]:  # pragma: no cover - compiled
    """:func:`_steepest_rise_numpy`'s arithmetic in one pass each (the same operations in the same order:
    cumulative sums added left to right, as ``np.cumsum``; the first maximum, or the first NaN, as
    ``np.argmax``), without its dozen array temporaries (a burst search per EMG onset)."""
    n = x.shape[0]
    c = np.empty(n + 1)
    c[0] = 0.0
    acc = 0.0
    for i in range(n):
        acc += x[i]
        c[i + 1] = acc
    if s > 1:  # the centred moving mean, then its cumulative sum
        e = np.empty(n)
        h = s // 2
        for i in range(n):
            lo = max(i - h, 0)
            hi = min(i + s - h, n)
            e[i] = (c[hi] - c[lo]) / (hi - lo)
        acc = 0.0
        for i in range(n):
            acc += e[i]
            c[i + 1] = acc
    best_k, best = w, 0.0
    for k in range(w, n - w + 1):
        after = c[k + w] - c[k]
        before = c[k] - c[k - w]
        r = after / before if before > 0 else 0.0
        if r != r:
            return k, r
        if k == w or r > best:
            best_k, best = k, r
    return best_k, best


def _steepest_rise_numpy(
    x: F64, fs: float, window: float = RISE_WINDOW, smooth: float = RISE_SMOOTH
) -> tuple[int, float]:
    """The first version of :func:`steepest_rise` (numpy), kept as the kernel's reference (tests)."""
    x = np.asarray(x, dtype=np.float64)
    w = max(1, round(window * fs))
    n = x.shape[0]
    if n < 2 * w:
        return -1, math.nan
    e = _centred_mean(x, round(smooth * fs)) if round(smooth * fs) > 1 else x
    c = np.concatenate([[0.0], np.cumsum(e)])
    k = np.arange(w, n - w + 1)
    after = c[k + w] - c[k]
    before = c[k] - c[k - w]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.where(before > 0, after / np.where(before > 0, before, 1.0), 0.0)
    j = int(np.argmax(r))
    return int(k[j]), float(r[j])

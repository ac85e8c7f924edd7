"""numba kernels for the EMG chain: envelopes, TKEO, onset detection, features.

Every kernel writes into preallocated outputs and updates its state arrays in
place; none allocates. Wrappers in :mod:`nmre.dsp.emg` own the state and check
inputs. Arrays are ``(n_channels, n_samples)`` float64.
"""

from __future__ import annotations

import math

import numpy as np

from nmre._numba import kernel
from nmre.dsp._filter_kernels import sosfilt_kernel
from nmre.dsp._onset_kernels import burst_kernel
from nmre.dsp._protect import first_bad

# Feature rows computed by features_kernel, in this order.
FEATURE_NAMES = ("MAV", "RMS", "WL", "ZC", "SSC", "WAMP", "MNF", "MDF", "IAV")


@kernel
def rectify_kernel(x: np.ndarray, y: np.ndarray) -> None:
    """Full-wave rectification ``y = |x|``."""
    n_ch, n = x.shape
    for c in range(n_ch):
        for i in range(n):
            y[c, i] = abs(x[c, i])


@kernel
def scale_kernel(x: np.ndarray, scale: np.ndarray, y: np.ndarray) -> None:
    """``y[c] = x[c] * scale[c]``."""
    n_ch, n = x.shape
    for c in range(n_ch):
        for i in range(n):
            y[c, i] = x[c, i] * scale[c]


@kernel
def _rms_step(ring: np.ndarray, sums: np.ndarray, c: int, pos: int, v: float) -> float:
    """Push ``v**2`` into channel ``c``'s ring at ``pos``; return the updated window sum."""
    sq = v * v
    sums[c] += sq - ring[c, pos]
    ring[c, pos] = sq
    return sums[c]


@kernel
def _rms_resum(ring: np.ndarray, sums: np.ndarray) -> None:
    """Recompute every window sum from the ring (bounds round-off drift of the running sum)."""
    n_ch, w = ring.shape
    for c in range(n_ch):
        s = 0.0
        for j in range(w):
            s += ring[c, j]
        sums[c] = s


@kernel
def moving_rms_kernel(
    x: np.ndarray, ring: np.ndarray, sums: np.ndarray, pos: np.ndarray, y: np.ndarray
) -> None:
    """Moving RMS over the last ``W = ring.shape[1]`` samples (zeros before the start).

    ring (n_ch, W) holds squared samples, sums (n_ch,) their running sums, pos (1,)
    int64 the next write slot (shared by all channels). The sums are recomputed
    exactly each time the ring wraps, so round-off cannot accumulate.
    """
    n_ch, n = x.shape
    w = ring.shape[1]
    p = pos[0]
    for i in range(n):
        for c in range(n_ch):
            s = _rms_step(ring, sums, c, p, x[c, i])
            y[c, i] = math.sqrt(max(s, 0.0) / w)
        p += 1
        if p == w:
            p = 0
            _rms_resum(ring, sums)
            for c in range(n_ch):
                y[c, i] = math.sqrt(sums[c] / w)
    pos[0] = p


@kernel
def tkeo_kernel(x: np.ndarray, prev: np.ndarray, y: np.ndarray) -> None:
    """Streaming Teager–Kaiser energy with one sample of delay.

    ``y[n] = x[n-1]**2 - x[n-2] * x[n]`` (= psi[n-1]); prev (n_ch, 2) holds
    ``x[n-2], x[n-1]`` (zeros before the start).
    """
    n_ch, n = x.shape
    for c in range(n_ch):
        a = prev[c, 0]
        b = prev[c, 1]
        for i in range(n):
            v = x[c, i]
            y[c, i] = b * b - a * v
            a = b
            b = v
        prev[c, 0] = a
        prev[c, 1] = b


@kernel
def tkeo_condition_kernel(
    bp_sos: np.ndarray,
    bp_zi: np.ndarray,
    prev: np.ndarray,
    lp_sos: np.ndarray,
    lp_zi: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    """Band-pass, TKEO, rectify, low-pass in one call: the stage kernels one after another on ``y``.

    Each stage's arithmetic is its own kernel's, so ``y`` is bit for bit what the
    four processors give one after another.
    """
    sosfilt_kernel(bp_sos, x, bp_zi, y)
    tkeo_kernel(y, prev, y)
    rectify_kernel(y, y)
    sosfilt_kernel(lp_sos, y, lp_zi, y)


@kernel
def tkeo_burst_kernel(
    bp_sos: np.ndarray,
    bp_zi: np.ndarray,
    prev: np.ndarray,
    lp_sos: np.ndarray,
    lp_zi: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    limit: np.ndarray,
    times: np.ndarray,
    prm: np.ndarray,
    iprm: np.ndarray,
    pch: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    cst: np.ndarray,
    sub_buf: np.ndarray,
    scratch: np.ndarray,
    hist: np.ndarray,
    sm_ring: np.ndarray,
    active: np.ndarray,
    ev_i: np.ndarray,
    ev_f: np.ndarray,
) -> int:
    """:func:`tkeo_condition_kernel` into ``y``, then :func:`burst_kernel` on ``y`` (activity into ``active``).

    What a :class:`~nmre.dsp.emg.TkeoConditioner` followed by an
    :class:`~nmre.dsp.emg.OnsetDetector` does with a clean block, in one call: the
    detector's input screen (``first_bad`` of ``y`` against ``limit``) comes between the
    two, and when it finds a bad conditioned sample the detector is not run (its state
    untouched) and -1 is returned, so the caller hands ``y`` to the detector's screened
    path. Otherwise the burst kernel's event count.
    """
    tkeo_condition_kernel(bp_sos, bp_zi, prev, lp_sos, lp_zi, x, y)
    if first_bad(y, limit) >= 0:
        return -1
    return burst_kernel(
        y, times, prm, iprm, pch, ist, fst, cst, sub_buf, scratch, hist, sm_ring, active, ev_i, ev_f
    )


@kernel
def fft_radix2(
    re: np.ndarray, im: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray, bitrev: np.ndarray
) -> None:
    """In-place iterative radix-2 decimation-in-time FFT of length ``len(re)`` (a power of two).

    cos_t / sin_t (n/2,) hold cos/sin(2*pi*k/n); bitrev (n,) the bit-reversal permutation.
    Cooley & Tukey (1965), Math. Comput. 19:297–301.
    """
    n = re.shape[0]
    for i in range(n):
        j = bitrev[i]
        if j > i:
            re[i], re[j] = re[j], re[i]
            im[i], im[j] = im[j], im[i]
    size = 2
    while size <= n:
        half = size // 2
        step = n // size
        for start in range(0, n, size):
            for j in range(half):
                wr = cos_t[j * step]
                wi = -sin_t[j * step]
                a = start + j
                b = a + half
                tr = wr * re[b] - wi * im[b]
                ti = wr * im[b] + wi * re[b]
                re[b] = re[a] - tr
                im[b] = im[a] - ti
                re[a] += tr
                im[a] += ti
        size *= 2


@kernel
def _window_features(
    w: np.ndarray,
    fs: float,
    wamp_thr: float,
    ssc_thr: float,
    re: np.ndarray,
    im: np.ndarray,
    cos_t: np.ndarray,
    sin_t: np.ndarray,
    bitrev: np.ndarray,
    out: np.ndarray,
) -> None:
    """All FEATURE_NAMES of one window ``w`` (W,) into ``out`` (9,)."""
    n = w.shape[0]
    sabs = 0.0
    ssq = 0.0
    wl = 0.0
    zc = 0.0
    ssc = 0.0
    wamp = 0.0
    for j in range(n):
        v = w[j]
        sabs += abs(v)
        ssq += v * v
        if j > 0:
            d = v - w[j - 1]
            wl += abs(d)
            if abs(d) > wamp_thr:
                wamp += 1.0
            if (v > 0.0 and w[j - 1] < 0.0) or (v < 0.0 and w[j - 1] > 0.0):
                zc += 1.0
            if j < n - 1 and (v - w[j - 1]) * (v - w[j + 1]) >= ssc_thr:
                ssc += 1.0
    out[0] = sabs / n
    out[1] = math.sqrt(ssq / n)
    out[2] = wl
    out[3] = zc
    out[4] = ssc
    out[5] = wamp
    out[8] = sabs
    nfft = re.shape[0]
    for j in range(nfft):
        re[j] = w[j] if j < n else 0.0
        im[j] = 0.0
    fft_radix2(re, im, cos_t, sin_t, bitrev)
    half = nfft // 2
    total = 0.0
    moment = 0.0
    for j in range(half):
        p = re[j] * re[j] + im[j] * im[j]
        re[j] = p
        total += p
        moment += p * (j * fs / nfft)
    if total > 0.0:
        out[6] = moment / total
        acc = 0.0
        out[7] = 0.0
        for j in range(half):
            acc += re[j]
            if acc >= 0.5 * total:
                out[7] = j * fs / nfft
                break
    else:
        out[6] = math.nan
        out[7] = math.nan


@kernel
def features_kernel(
    x: np.ndarray,
    ring: np.ndarray,
    state: np.ndarray,
    increment: int,
    which: np.ndarray,
    fs: float,
    wamp_thr: float,
    ssc_thr: float,
    win: np.ndarray,
    re: np.ndarray,
    im: np.ndarray,
    cos_t: np.ndarray,
    sin_t: np.ndarray,
    bitrev: np.ndarray,
    feat: np.ndarray,
    out: np.ndarray,
    out_idx: np.ndarray,
) -> int:
    """Sliding-window features; one output column each time a window completes.

    ring (n_ch, W) is the last W samples, state (2,) int64 = [next slot, samples
    seen]. A window completes after sample number ``m`` (1-based) when ``m >= W``
    and ``(m - W) % increment == 0``. Output rows are feature-major:
    ``out[f * n_ch + c, k]`` for ``f`` in ``which``; out_idx[k] = index of the
    completing sample within ``x``. Returns the number of windows completed.
    """
    n_ch, n = x.shape
    w = ring.shape[1]
    nf = which.shape[0]
    k = 0
    for i in range(n):
        p = state[0]
        for c in range(n_ch):
            ring[c, p] = x[c, i]
        p += 1
        if p == w:
            p = 0
        state[0] = p
        state[1] += 1
        m = state[1]
        if m >= w and (m - w) % increment == 0:
            for c in range(n_ch):
                for j in range(w):
                    q = p + j
                    if q >= w:
                        q -= w
                    win[j] = ring[c, q]
                _window_features(win, fs, wamp_thr, ssc_thr, re, im, cos_t, sin_t, bitrev, feat)
                for f in range(nf):
                    out[f * n_ch + c, k] = feat[which[f]]
            out_idx[k] = i
            k += 1
    return k


@kernel
def emg_chain_kernel(
    pre_sos: np.ndarray,
    pre_zi: np.ndarray,
    env_sos: np.ndarray,
    env_zi: np.ndarray,
    ring: np.ndarray,
    sums: np.ndarray,
    pos: np.ndarray,
    use_rms: bool,
    scale: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    """Fused live EMG chain: SOS cascade (band-pass [+ notch]) → |·| → envelope → × scale.

    The envelope is a low-pass SOS cascade (linear envelope) or, when
    ``use_rms``, a moving RMS over ``ring.shape[1]`` samples. Same operation order
    as SosFilter → Rectifier → LinearEnvelope/MovingRms → Normalizer, so the
    output is bit-identical to that pipeline.
    """
    n_ch, n = x.shape
    n_pre = pre_sos.shape[0]
    n_env = env_sos.shape[0]
    w = ring.shape[1]
    p = pos[0]
    for i in range(n):
        for c in range(n_ch):
            v = x[c, i]
            for s in range(n_pre):
                v_new = pre_sos[s, 0] * v + pre_zi[s, c, 0]
                pre_zi[s, c, 0] = pre_sos[s, 1] * v - pre_sos[s, 4] * v_new + pre_zi[s, c, 1]
                pre_zi[s, c, 1] = pre_sos[s, 2] * v - pre_sos[s, 5] * v_new
                v = v_new
            v = abs(v)
            if use_rms:
                v = math.sqrt(max(_rms_step(ring, sums, c, p, v), 0.0) / w)
            else:
                for s in range(n_env):
                    v_new = env_sos[s, 0] * v + env_zi[s, c, 0]
                    env_zi[s, c, 0] = env_sos[s, 1] * v - env_sos[s, 4] * v_new + env_zi[s, c, 1]
                    env_zi[s, c, 1] = env_sos[s, 2] * v - env_sos[s, 5] * v_new
                    v = v_new
            y[c, i] = v * scale[c]
        if use_rms:
            p += 1
            if p == w:
                p = 0
                _rms_resum(ring, sums)
                for c in range(n_ch):
                    y[c, i] = math.sqrt(sums[c] / w) * scale[c]
    pos[0] = p

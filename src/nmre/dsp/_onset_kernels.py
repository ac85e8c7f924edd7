"""numba kernel of the burst (onset/offset, contraction/relaxation) state machine.

See :class:`nmre.dsp.onset.OnsetDetector` for the algorithm and its sources.
State is plain arrays owned by the wrapper; the kernel allocates nothing.
"""

from __future__ import annotations

import math

import numpy as np

from nmre._numba import kernel

# -- shared integer state (ist) ---------------------------------------------------------------
IS_SUB_POS = 0  # samples in the current baseline sub-window
IS_HIST_COUNT = 1  # finished sub-windows stored (<= horizon)
IS_HIST_POS = 2  # next slot of the sub-window history ring
IS_SM_POS = 3  # next slot of the peak-smoothing ring
IS_SM_COUNT = 4  # samples in the peak-smoothing ring (<= its length)
IS_SIZE = 5

# -- per-channel float state (fst rows) --------------------------------------------------------
FS_MU = 0  # baseline level in use
FS_SD = 1  # baseline spread in use
FS_RUN_T = 2  # time of the first sample of the candidate run
FS_RUN_PEAK = 3  # largest sample of the candidate run
FS_BURST_T = 4  # onset time of the burst in progress
FS_BURST_PEAK = 5  # largest sample since that onset
FS_REF = 6  # running reference (peak of the smoothed signal)
FS_SM_SUM = 7  # running sum of the peak-smoothing ring
FS_THR_ON = 8  # thresholds in use at the last sample
FS_THR_OFF = 9
FS_SIZE = 10

# -- per-channel integer state (cst rows) ------------------------------------------------------
CS_ACTIVE = 0
CS_RUN = 1  # samples since the candidate run began (0: no run)
CS_GAP = 2  # consecutive samples against the run
CS_SIZE = 3

# -- parameters (prm) --------------------------------------------------------------------------
P_K_ON = 0
P_K_OFF = 1
P_F_ON = 2
P_F_OFF = 3
P_REBASE = 4  # factor by which the quiet sub-window must differ to replace the baseline
P_CONFIRM = 5  # rank of the sub-window taken as the floor (1 = the quietest)
P_MAX_DROP = 6  # a candidate this many times below the baseline is a dead signal
P_SIZE = 7

# -- integer parameters (iprm) and per-channel parameters (pch rows) -----------------------
IP_N_ON = 0
IP_N_OFF = 1
IP_MAX_GAP = 2
IP_TRACK = 3
IP_USE_REF = 4
IP_SUB_N = 5  # samples per baseline sub-window
IP_STRIDE = 6  # every stride-th sample of a sub-window is kept for its median
IP_SIZE = 7
PC_ABS_ON = 0
PC_ABS_OFF = 1
PC_REF = 2  # fixed reference (nan: none)
PC_SIZE = 3

# -- event float columns -----------------------------------------------------------------------
EV_TIME = 0
EV_DETECT = 1
EV_THRESHOLD = 2
EV_PEAK = 3
EV_DURATION = 4
EV_F_SIZE = 5


@kernel
def _select(a: np.ndarray, n: int, k: int) -> float:
    """The k-th smallest of ``a[:n]`` (0-based), reordering ``a`` in place (Hoare's quickselect, O(n))."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@kernel
def _median_of(a: np.ndarray, n: int) -> float:
    """Median of ``a[:n]`` (reorders ``a``)."""
    h = n // 2
    upper = _select(a, n, h)
    if n % 2 == 1:
        return upper
    lower = a[0]
    for j in range(1, h):  # after the selection a[:h] holds the h smallest: the lower median is their max
        if a[j] > lower:
            lower = a[j]
    return 0.5 * (lower + upper)


@kernel
def _median_spread(buf: np.ndarray, scratch: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826·MAD of ``buf`` (n,), working in ``scratch`` (n,); NaN if any sample is NaN."""
    n = buf.shape[0]
    for j in range(n):
        v = buf[j]
        if not math.isfinite(v):
            return math.nan, math.nan
        scratch[j] = v
    med = _median_of(scratch, n)
    for j in range(n):
        scratch[j] = abs(buf[j] - med)
    mad = _median_of(scratch, n)
    return med, 1.4826 * mad


@kernel
def _rebaseline(
    c: int,
    hist_med: np.ndarray,
    hist_sd: np.ndarray,
    count: int,
    full: bool,
    factor: float,
    confirm: int,
    max_drop: float,
    fst: np.ndarray,
) -> None:
    """Re-estimate the baseline of channel ``c`` from the quiet stored sub-windows.

    The candidate is the ``confirm``-th quietest (lowest-median) stored sub-window, so
    a floor must be seen in at least ``confirm`` sub-windows (a short dropout held flat
    by a guard is no floor). It replaces the baseline in use when it is more than
    ``factor`` times quieter (the baseline was not taken at rest), or, once the history
    spans the whole horizon (``full``), more than ``factor`` times louder (the floor
    itself has risen: electrodes, mains). Within the factor the baseline is kept, so
    the downward bias of a minimum never creeps into the thresholds. A candidate more
    than ``max_drop`` times below the baseline in use, or not above 0, is a dead or
    zeroed signal (a guard holding a dropout conditions to nearly 0), not rest.
    """
    if count < confirm:
        return
    lo = -math.inf
    best = math.inf
    sd = math.nan
    for _ in range(confirm):  # the confirm-th smallest distinct median
        best = math.inf
        pick = -1
        for j in range(count):
            m = hist_med[c, j]
            if m > lo and m < best:
                best = m
                pick = j
        if pick < 0:
            return
        lo = best
        sd = hist_sd[c, pick]
    mu = fst[FS_MU, c]
    if not (math.isfinite(best) and best > 0.0) or (math.isfinite(mu) and best * max_drop < mu):
        return
    if not math.isfinite(mu) or best * factor < mu or (full and best > factor * mu):
        fst[FS_MU, c] = best
        fst[FS_SD, c] = sd


@kernel
def burst_kernel(
    x: np.ndarray,
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
    y: np.ndarray,
    ev_i: np.ndarray,
    ev_f: np.ndarray,
) -> int:
    """Hysteresis burst detector with minimum on/off durations, a tracked baseline and a reference.

    Per channel ``c`` and sample, the thresholds are

    * ``on  = max(mu + k_on·sd,  abs_on[c],  f_on·ref)``
    * ``off = max(mu + k_off·sd, abs_off[c], f_off·ref)``

    with ``(mu, sd)`` the baseline (calibrated, and with ``track`` re-estimated from
    the quietest finished sub-window of ``iprm[IP_SUB_N]`` samples (every ``iprm[IP_STRIDE]``-th
    kept in ``sub_buf`` for its median) among the last
    ``hist.shape[2]``, see :func:`_rebaseline`), ``ref = pch[PC_REF, c]`` if finite, else (with
    ``use_ref``) the running maximum of the moving mean of the last
    ``sm_ring.shape[1]`` samples. Without a finite ``mu`` and ``abs_on`` no decision
    is taken (the fraction terms alone are no threshold).

    Inactive: a run starts at a sample ``> on``, survives dips of at most
    ``max_gap`` samples, and when it spans ``>= n_on`` samples with the current
    sample ``> on`` an onset is declared at the run's first sample. Active: the
    same with samples ``< off``, ``n_off`` and an offset. NaN samples count as
    dips. ``y`` gets the state as decided at each sample. Events go to
    ``ev_i[k] = (channel, kind)`` (kind 1 onset, 0 offset) and ``ev_f[k]`` (time,
    decision time, threshold, peak, duration); returns their number.
    """
    n_on, n_off, max_gap = iprm[IP_N_ON], iprm[IP_N_OFF], iprm[IP_MAX_GAP]
    track, use_ref = iprm[IP_TRACK] == 1, iprm[IP_USE_REF] == 1
    abs_on, abs_off, ref_fixed = pch[PC_ABS_ON], pch[PC_ABS_OFF], pch[PC_REF]
    hist_med, hist_sd = hist[0], hist[1]
    n_ch, n = x.shape
    sub_w = iprm[IP_SUB_N]
    stride = iprm[IP_STRIDE]
    hcap = hist_med.shape[1]
    sm_w = sm_ring.shape[1]
    k = 0
    for i in range(n):
        t = times[i]
        sp = ist[IS_SM_POS]
        for c in range(n_ch):
            v = x[c, i]
            # -- reference: running peak of the moving mean
            if use_ref:
                vv = v if math.isfinite(v) else 0.0
                fst[FS_SM_SUM, c] += vv - sm_ring[c, sp]
                sm_ring[c, sp] = vv
                cnt = ist[IS_SM_COUNT] + 1 if ist[IS_SM_COUNT] < sm_w else sm_w
                mean = fst[FS_SM_SUM, c] / cnt
                if mean > fst[FS_REF, c]:
                    fst[FS_REF, c] = mean
            ref = ref_fixed[c] if math.isfinite(ref_fixed[c]) else (fst[FS_REF, c] if use_ref else 0.0)
            mu = fst[FS_MU, c]
            sd = fst[FS_SD, c]
            on = -math.inf
            off = -math.inf
            if math.isfinite(mu):
                on = mu + prm[P_K_ON] * sd
                off = mu + prm[P_K_OFF] * sd
            on = max(on, abs_on[c])
            off = max(off, abs_off[c])
            decide = math.isfinite(on)
            if decide and math.isfinite(ref):
                on = max(on, prm[P_F_ON] * ref)
                off = max(off, prm[P_F_OFF] * ref)
            fst[FS_THR_ON, c] = on if decide else math.nan
            fst[FS_THR_OFF, c] = off if decide else math.nan
            if decide:
                act = cst[CS_ACTIVE, c]
                if act == 1 and v > fst[FS_BURST_PEAK, c]:
                    fst[FS_BURST_PEAK, c] = v
                if act == 0:
                    hit = v > on
                    need = n_on
                else:
                    hit = v < off
                    need = n_off
                if hit:
                    if cst[CS_RUN, c] == 0:
                        fst[FS_RUN_T, c] = t
                        fst[FS_RUN_PEAK, c] = v
                    elif v > fst[FS_RUN_PEAK, c]:
                        fst[FS_RUN_PEAK, c] = v
                    cst[CS_RUN, c] += 1
                    cst[CS_GAP, c] = 0
                    if cst[CS_RUN, c] >= need:
                        ev_i[k, 0] = c
                        ev_i[k, 1] = 1 - act
                        ev_f[k, EV_TIME] = fst[FS_RUN_T, c]
                        ev_f[k, EV_DETECT] = t
                        if act == 0:
                            ev_f[k, EV_THRESHOLD] = on
                            ev_f[k, EV_PEAK] = fst[FS_RUN_PEAK, c]
                            ev_f[k, EV_DURATION] = 0.0
                            fst[FS_BURST_T, c] = fst[FS_RUN_T, c]
                            fst[FS_BURST_PEAK, c] = fst[FS_RUN_PEAK, c]
                        else:
                            ev_f[k, EV_THRESHOLD] = off
                            ev_f[k, EV_PEAK] = fst[FS_BURST_PEAK, c]
                            ev_f[k, EV_DURATION] = fst[FS_RUN_T, c] - fst[FS_BURST_T, c]
                        k += 1
                        cst[CS_ACTIVE, c] = 1 - act
                        cst[CS_RUN, c] = 0
                        cst[CS_GAP, c] = 0
                elif cst[CS_RUN, c] > 0:
                    cst[CS_GAP, c] += 1
                    if cst[CS_GAP, c] > max_gap:
                        cst[CS_RUN, c] = 0
                        cst[CS_GAP, c] = 0
                    else:
                        cst[CS_RUN, c] += 1
            y[c, i] = float(cst[CS_ACTIVE, c])
            if track and ist[IS_SUB_POS] % stride == 0:
                sub_buf[c, ist[IS_SUB_POS] // stride] = v
        if use_ref:
            sp += 1
            if sp == sm_w:
                sp = 0
                for c in range(n_ch):  # exact re-sum once per ring turn: no drift over a session
                    s = 0.0
                    for j in range(sm_w):
                        s += sm_ring[c, j]
                    fst[FS_SM_SUM, c] = s
            ist[IS_SM_POS] = sp
            if ist[IS_SM_COUNT] < sm_w:
                ist[IS_SM_COUNT] += 1
        if track:
            ist[IS_SUB_POS] += 1
            if ist[IS_SUB_POS] == sub_w:
                ist[IS_SUB_POS] = 0
                hp = ist[IS_HIST_POS]
                for c in range(n_ch):
                    med, spread = _median_spread(sub_buf[c], scratch)
                    hist_med[c, hp] = med if math.isfinite(med) else math.inf
                    hist_sd[c, hp] = spread
                ist[IS_HIST_POS] = hp + 1 if hp + 1 < hcap else 0
                if ist[IS_HIST_COUNT] < hcap:
                    ist[IS_HIST_COUNT] += 1
                full = ist[IS_HIST_COUNT] == hcap
                for c in range(n_ch):
                    _rebaseline(
                        c,
                        hist_med,
                        hist_sd,
                        ist[IS_HIST_COUNT],
                        full,
                        prm[P_REBASE],
                        int(prm[P_CONFIRM]),
                        prm[P_MAX_DROP],
                        fst,
                    )
    return k

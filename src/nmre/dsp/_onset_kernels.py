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
    """The k-th smallest of ``a[:n]`` (0-based), reordering ``a`` in place so that ``a[:k]`` holds the k smaller.

    Quickselect with a median-of-3 pivot and branch-free partitions (each sample is swapped
    unconditionally and the boundary moves by the comparison's 0 or 1: no mispredicted branch per
    sample on noisy data): values below the pivot to the front, then those equal to it, so ties end
    the search; the last 16 or fewer are sorted by insertion. The result is the k-th order
    statistic, whatever the algorithm (``tests/dsp/test_onset_median.py`` against numpy).
    """
    lo, hi = 0, n - 1
    while hi - lo > 16:
        x, y, z = a[lo], a[(lo + hi) // 2], a[hi]
        p = max(min(x, y), min(max(x, y), z))
        i = lo
        for j in range(lo, hi + 1):  # a[lo:i] < p <= a[i:j+1]
            t = a[j]
            a[j] = a[i]
            a[i] = t
            i += t < p
        if k < i:
            hi = i - 1
            continue
        m = i
        for j in range(i, hi + 1):  # a[i:m] == p < a[m:j+1]
            t = a[j]
            a[j] = a[m]
            a[m] = t
            m += t == p
        if k < m:
            return p
        lo = m
    for j in range(lo + 1, hi + 1):
        t = a[j]
        q = j - 1
        while q >= lo and a[q] > t:
            a[q + 1] = a[q]
            q -= 1
        a[q + 1] = t
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
def _burst_per_sample(
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
    """:func:`burst_kernel` sample by sample: the thresholds recomputed at every sample.

    A running reference (``use_ref``) moves the thresholds with every sample, so this loop
    does that case; it is also the loop the stretch-wise one must equal (``tests/dsp``).
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
    k_on, k_off, f_on, f_off = prm[P_K_ON], prm[P_K_OFF], prm[P_F_ON], prm[P_F_OFF]
    rebase, confirm, max_drop = prm[P_REBASE], int(prm[P_CONFIRM]), prm[P_MAX_DROP]
    sp0, smc0 = ist[IS_SM_POS], ist[IS_SM_COUNT]
    sub0, hp0, hc0 = ist[IS_SUB_POS], ist[IS_HIST_POS], ist[IS_HIST_COUNT]
    sp, smc, sub_pos, hp, hist_count = sp0, smc0, sub0, hp0, hc0
    k = 0
    for c in range(n_ch):
        # the counters every channel shares advance the same way for each: start each channel from them
        sp, smc, sub_pos, hp, hist_count = sp0, smc0, sub0, hp0, hc0
        mu = fst[FS_MU, c]
        sd = fst[FS_SD, c]
        ref_c = fst[FS_REF, c]
        sm_sum = fst[FS_SM_SUM, c]
        run_t = fst[FS_RUN_T, c]
        run_peak = fst[FS_RUN_PEAK, c]
        burst_t = fst[FS_BURST_T, c]
        burst_peak = fst[FS_BURST_PEAK, c]
        thr_on = fst[FS_THR_ON, c]
        thr_off = fst[FS_THR_OFF, c]
        act = cst[CS_ACTIVE, c]
        run = cst[CS_RUN, c]
        gap = cst[CS_GAP, c]
        a_on, a_off, r_fix = abs_on[c], abs_off[c], ref_fixed[c]
        r_fixed = math.isfinite(r_fix)
        sk = sub_pos % stride  # integer division once per block, not per sample
        kidx = sub_pos // stride + (1 if sk else 0)
        for i in range(n):
            t = times[i]
            v = x[c, i]
            # -- reference: running peak of the moving mean
            if use_ref:
                vv = v if math.isfinite(v) else 0.0
                sm_sum += vv - sm_ring[c, sp]
                sm_ring[c, sp] = vv
                cnt = smc + 1 if smc < sm_w else sm_w
                mean = sm_sum / cnt
                if mean > ref_c:
                    ref_c = mean
            ref = r_fix if r_fixed else (ref_c if use_ref else 0.0)
            on = -math.inf
            off = -math.inf
            if math.isfinite(mu):
                on = mu + k_on * sd
                off = mu + k_off * sd
            on = max(on, a_on)
            off = max(off, a_off)
            decide = math.isfinite(on)
            if decide and math.isfinite(ref):
                on = max(on, f_on * ref)
                off = max(off, f_off * ref)
            thr_on = on if decide else math.nan
            thr_off = off if decide else math.nan
            if decide:
                if act == 1 and v > burst_peak:
                    burst_peak = v
                if act == 0:
                    hit = v > on
                    need = n_on
                else:
                    hit = v < off
                    need = n_off
                if hit:
                    if run == 0:
                        run_t = t
                        run_peak = v
                    elif v > run_peak:
                        run_peak = v
                    run += 1
                    gap = 0
                    if run >= need:
                        ev_i[k, 0] = c
                        ev_i[k, 1] = 1 - act
                        ev_i[k, 2] = i
                        ev_f[k, EV_TIME] = run_t
                        ev_f[k, EV_DETECT] = t
                        if act == 0:
                            ev_f[k, EV_THRESHOLD] = on
                            ev_f[k, EV_PEAK] = run_peak
                            ev_f[k, EV_DURATION] = 0.0
                            burst_t = run_t
                            burst_peak = run_peak
                        else:
                            ev_f[k, EV_THRESHOLD] = off
                            ev_f[k, EV_PEAK] = burst_peak
                            ev_f[k, EV_DURATION] = run_t - burst_t
                        k += 1
                        act = 1 - act
                        run = 0
                        gap = 0
                elif run > 0:
                    gap += 1
                    if gap > max_gap:
                        run = 0
                        gap = 0
                    else:
                        run += 1
            y[c, i] = float(act)
            if track:
                if sk == 0:  # every stride-th sample of the sub-window is kept (sk = sub_pos % stride)
                    sub_buf[c, kidx] = v
                    kidx += 1
                sk += 1
                if sk == stride:
                    sk = 0
            if use_ref:
                sp += 1
                if sp == sm_w:
                    sp = 0
                    s = 0.0  # exact re-sum once per ring turn: no drift over a session
                    for j in range(sm_w):
                        s += sm_ring[c, j]
                    sm_sum = s
                if smc < sm_w:
                    smc += 1
            if track:
                sub_pos += 1
                if sub_pos == sub_w:
                    sub_pos = 0
                    sk = 0
                    kidx = 0
                    med, spread = _median_spread(sub_buf[c], scratch)
                    hist_med[c, hp] = med if math.isfinite(med) else math.inf
                    hist_sd[c, hp] = spread
                    hp = hp + 1 if hp + 1 < hcap else 0
                    if hist_count < hcap:
                        hist_count += 1
                    fst[FS_MU, c] = mu
                    fst[FS_SD, c] = sd
                    _rebaseline(
                        c, hist_med, hist_sd, hist_count, hist_count == hcap, rebase, confirm, max_drop, fst
                    )
                    mu = fst[FS_MU, c]
                    sd = fst[FS_SD, c]
        fst[FS_MU, c] = mu
        fst[FS_SD, c] = sd
        fst[FS_REF, c] = ref_c
        fst[FS_SM_SUM, c] = sm_sum
        fst[FS_RUN_T, c] = run_t
        fst[FS_RUN_PEAK, c] = run_peak
        fst[FS_BURST_T, c] = burst_t
        fst[FS_BURST_PEAK, c] = burst_peak
        fst[FS_THR_ON, c] = thr_on
        fst[FS_THR_OFF, c] = thr_off
        cst[CS_ACTIVE, c] = act
        cst[CS_RUN, c] = run
        cst[CS_GAP, c] = gap
    if use_ref:
        ist[IS_SM_POS] = sp
        ist[IS_SM_COUNT] = smc
    if track:
        ist[IS_SUB_POS] = sub_pos
        ist[IS_HIST_POS] = hp
        ist[IS_HIST_COUNT] = hist_count
    return k


@kernel
def _levels(
    mu: float,
    sd: float,
    k_on: float,
    k_off: float,
    a_on: float,
    a_off: float,
    f_on: float,
    f_off: float,
    ref: float,
) -> tuple[float, float, bool]:
    """The (on, off) thresholds and whether a decision can be taken: the sample loop's arithmetic."""
    on = -math.inf
    off = -math.inf
    if math.isfinite(mu):
        on = mu + k_on * sd
        off = mu + k_off * sd
    on = max(on, a_on)
    off = max(off, a_off)
    decide = math.isfinite(on)
    if decide and math.isfinite(ref):
        on = max(on, f_on * ref)
        off = max(off, f_off * ref)
    return on, off, decide


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
    decision time, threshold, peak, duration); returns their number. ``ev_i[k, 2]``
    is the event's sample index: the kernel runs channel by channel (each channel's
    state in registers), so events come channel by channel; ordered by
    ``(decision time, sample, channel)`` they are in the order of one pass over
    samples with the channels inside (``tests/dsp`` keeps that reference).

    With a running reference (``use_ref``) the thresholds move with every sample and
    :func:`_burst_per_sample` does the work. Otherwise they change only when the
    baseline is re-estimated (the end of a sub-window), so each channel goes through its
    block in stretches with fixed thresholds: outside a candidate run a tight loop looks
    for the next sample that could start one, the sub-window's kept samples are copied
    with a stride, and the thresholds are computed once per stretch. Every decision,
    event and state value is the one of the sample-by-sample loop (``tests/dsp``).
    """
    if iprm[IP_USE_REF] == 1:
        return _burst_per_sample(
            x, times, prm, iprm, pch, ist, fst, cst, sub_buf, scratch, hist, sm_ring, y, ev_i, ev_f
        )
    n_on, n_off, max_gap = iprm[IP_N_ON], iprm[IP_N_OFF], iprm[IP_MAX_GAP]
    track = iprm[IP_TRACK] == 1
    abs_on, abs_off, ref_fixed = pch[PC_ABS_ON], pch[PC_ABS_OFF], pch[PC_REF]
    hist_med, hist_sd = hist[0], hist[1]
    n_ch, n = x.shape
    sub_w = iprm[IP_SUB_N]
    stride = iprm[IP_STRIDE]
    hcap = hist_med.shape[1]
    k_on, k_off, f_on, f_off = prm[P_K_ON], prm[P_K_OFF], prm[P_F_ON], prm[P_F_OFF]
    rebase, confirm, max_drop = prm[P_REBASE], int(prm[P_CONFIRM]), prm[P_MAX_DROP]
    sub0, hp0, hc0 = ist[IS_SUB_POS], ist[IS_HIST_POS], ist[IS_HIST_COUNT]
    sub_pos, hp, hist_count = sub0, hp0, hc0
    k = 0
    for c in range(n_ch):
        sub_pos, hp, hist_count = sub0, hp0, hc0
        mu = fst[FS_MU, c]
        sd = fst[FS_SD, c]
        run_t = fst[FS_RUN_T, c]
        run_peak = fst[FS_RUN_PEAK, c]
        burst_t = fst[FS_BURST_T, c]
        burst_peak = fst[FS_BURST_PEAK, c]
        thr_on = fst[FS_THR_ON, c]
        thr_off = fst[FS_THR_OFF, c]
        act = cst[CS_ACTIVE, c]
        run = cst[CS_RUN, c]
        gap = cst[CS_GAP, c]
        a_on, a_off, r_fix = abs_on[c], abs_off[c], ref_fixed[c]
        ref = r_fix if math.isfinite(r_fix) else 0.0
        i = 0
        while i < n:
            e = n
            if track and sub_w - sub_pos < n - i:
                e = i + (sub_w - sub_pos)  # the stretch ends with the sub-window (a re-estimate may follow)
            on, off, decide = _levels(mu, sd, k_on, k_off, a_on, a_off, f_on, f_off, ref)
            thr_on = on if decide else math.nan
            thr_off = off if decide else math.nan
            j = i
            if not decide:
                fa = float(act)
                while j < e:
                    y[c, j] = fa
                    j += 1
            while j < e:
                if run == 0:  # no candidate run: skip to the next sample that can start one
                    if act == 0:
                        while j < e and not (x[c, j] > on):
                            y[c, j] = 0.0
                            j += 1
                    else:
                        while j < e:
                            v = x[c, j]
                            if v < off:
                                break
                            if v > burst_peak:
                                burst_peak = v
                            y[c, j] = 1.0
                            j += 1
                    if j == e:
                        break
                t = times[j]
                v = x[c, j]
                if act == 1 and v > burst_peak:
                    burst_peak = v
                if act == 0:
                    hit = v > on
                    need = n_on
                else:
                    hit = v < off
                    need = n_off
                if hit:
                    if run == 0:
                        run_t = t
                        run_peak = v
                    elif v > run_peak:
                        run_peak = v
                    run += 1
                    gap = 0
                    if run >= need:
                        ev_i[k, 0] = c
                        ev_i[k, 1] = 1 - act
                        ev_i[k, 2] = j
                        ev_f[k, EV_TIME] = run_t
                        ev_f[k, EV_DETECT] = t
                        if act == 0:
                            ev_f[k, EV_THRESHOLD] = on
                            ev_f[k, EV_PEAK] = run_peak
                            ev_f[k, EV_DURATION] = 0.0
                            burst_t = run_t
                            burst_peak = run_peak
                        else:
                            ev_f[k, EV_THRESHOLD] = off
                            ev_f[k, EV_PEAK] = burst_peak
                            ev_f[k, EV_DURATION] = run_t - burst_t
                        k += 1
                        act = 1 - act
                        run = 0
                        gap = 0
                elif run > 0:
                    gap += 1
                    if gap > max_gap:
                        run = 0
                        gap = 0
                    else:
                        run += 1
                y[c, j] = float(act)
                j += 1
            if track:
                # the kept samples of this stretch: sub-window positions p with p % stride == 0, at p // stride
                r = sub_pos % stride
                p = sub_pos + (stride - r if r else 0)
                end_p = sub_pos + (e - i)
                while p < end_p:
                    sub_buf[c, p // stride] = x[c, i + p - sub_pos]
                    p += stride
                sub_pos = end_p
                if sub_pos == sub_w:
                    sub_pos = 0
                    med, spread = _median_spread(sub_buf[c], scratch)
                    hist_med[c, hp] = med if math.isfinite(med) else math.inf
                    hist_sd[c, hp] = spread
                    hp = hp + 1 if hp + 1 < hcap else 0
                    if hist_count < hcap:
                        hist_count += 1
                    fst[FS_MU, c] = mu
                    fst[FS_SD, c] = sd
                    _rebaseline(
                        c, hist_med, hist_sd, hist_count, hist_count == hcap, rebase, confirm, max_drop, fst
                    )
                    mu = fst[FS_MU, c]
                    sd = fst[FS_SD, c]
            i = e
        fst[FS_MU, c] = mu
        fst[FS_SD, c] = sd
        fst[FS_RUN_T, c] = run_t
        fst[FS_RUN_PEAK, c] = run_peak
        fst[FS_BURST_T, c] = burst_t
        fst[FS_BURST_PEAK, c] = burst_peak
        fst[FS_THR_ON, c] = thr_on
        fst[FS_THR_OFF, c] = thr_off
        cst[CS_ACTIVE, c] = act
        cst[CS_RUN, c] = run
        cst[CS_GAP, c] = gap
    if track:
        ist[IS_SUB_POS] = sub_pos
        ist[IS_HIST_POS] = hp
        ist[IS_HIST_COUNT] = hist_count
    return k

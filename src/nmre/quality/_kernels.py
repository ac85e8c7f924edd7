"""numba kernels of the quality monitor (private; see :mod:`nmre.quality.monitor`).

Per stream the monitor keeps a ring of time bins (``width`` s each) over the last
``n_bins * width`` seconds. Slot ``b % n_bins`` holds bin ``b`` (``[b*width,
(b+1)*width)``) once ``index[slot] == b``; an older bin in the slot is cleared
when a newer one needs it. Per bin: samples received, bad values per channel
and reason, clock faults, and the longest gap that ended in the bin.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nmre._numba import kernel

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Reasons a value is bad, in the order of the ``bad`` array's last axis.
REASONS = ("nonfinite", "saturated", "beyond_full_scale", "stuck")
NONFINITE, SATURATED, BEYOND, STUCK = 0, 1, 2, 3

# scalar state layout (float64 array)
S_LAST_T = 0  # time of the last sample accepted (-inf before the first)
S_RUN = 1  # samples in the current run of identical vectors
S_FIRST_T = 2  # time of the first sample accepted (nan before)
S_LONGEST = 3  # longest gap seen, s
S_RECEIVED = 4  # samples accepted, total
S_CLOCK = 5  # clock faults, total
S_SIZE = 6


@kernel
def _slot(b: int, index: I64, received: I64, bad: I64, clock: I64, gap: F64) -> int:
    n = index.shape[0]
    s = b % n
    if index[s] != b:
        index[s] = b
        received[s] = 0
        clock[s] = 0
        gap[s, 0] = 0.0
        gap[s, 1] = 0.0
        for c in range(bad.shape[1]):
            for r in range(bad.shape[2]):
                bad[s, c, r] = 0
    return s


@kernel
def _classify(
    row: F64,
    c: int,
    i0: int,
    i1: int,
    slot_of: I64,
    keep: NDArray[np.bool_],
    lim: float,
    rl: float,
    bad: I64,
    totals: I64,
) -> None:
    """Count the bad values of channel ``c`` among accepted samples ``i0:i1`` (non-finite, beyond, saturated)."""
    for i in range(i0, i1):
        s = slot_of[i]
        if s < 0:
            continue
        x = row[i]
        if not math.isfinite(x):
            r = NONFINITE
        elif abs(x) > lim:
            r = BEYOND
        elif abs(x) >= rl:
            r = SATURATED
        else:
            continue
        totals[c, r] += 1
        if keep[i]:
            bad[s, c, r] += 1


@kernel
def update(
    times: F64,
    values: F64,
    rail: F64,
    limit: F64,
    stuck_n: int,
    gap_dt: float,
    width: float,
    state: F64,
    last: F64,
    index: I64,
    received: I64,
    bad: I64,
    clock: I64,
    gap: F64,
    totals: I64,
) -> None:
    """Account for one block: received samples, bad values, clock faults and gaps, per bin.

    Three passes, each in the order of the samples (the counts are those of one pass
    over samples and channels, sample by sample; ``tests/quality`` checks it against
    that reference):

    1. times: clock faults, gaps, bins, received counts; which samples are accepted;
    2. values, channel by channel along contiguous rows: non-finite, beyond full
       scale, saturated, and whether the sample vector repeats the one before;
    3. stuck runs of repeated vectors.

    A bin's bad counts are kept only while the bin still owns its ring slot after
    pass 1 (a block longer than the ring's span reuses slots: the earlier bin's
    counts are cleared, as they would have been sample by sample).
    """
    n_ch = values.shape[0]
    n = times.shape[0]
    slot_of = np.empty(n, dtype=np.int64)  # ring slot of each accepted sample; -1: not accepted
    bin_of = np.empty(n, dtype=np.int64)
    had_prev = np.empty(n, dtype=np.bool_)  # a sample had been accepted before this one
    cur_b = -(2**62)
    cur_s = -1
    last_t = state[S_LAST_T]
    longest = state[S_LONGEST]
    n_acc = 0
    n_clock = 0
    for i in range(n):
        t = times[i]
        if not math.isfinite(t) or t <= last_t:
            # a time that is not finite or does not advance: a clock fault, the sample is not counted
            ref = last_t if math.isfinite(last_t) else 0.0
            s = _slot(math.floor(ref / width), index, received, bad, clock, gap)
            clock[s] += 1
            n_clock += 1
            slot_of[i] = -1
            continue
        b = math.floor(t / width)
        if b != cur_b or index[cur_s] != b:
            cur_s = _slot(b, index, received, bad, clock, gap)
            cur_b = b
        s = cur_s
        if math.isfinite(last_t):
            had_prev[i] = True
            g = t - last_t
            if g > gap_dt:
                if g > gap[s, 1] - gap[s, 0]:
                    gap[s, 0] = last_t
                    gap[s, 1] = t
                if g > longest:
                    longest = g
        else:
            had_prev[i] = False
            state[S_FIRST_T] = t
        last_t = t
        received[s] += 1
        n_acc += 1
        slot_of[i] = s
        bin_of[i] = b
    state[S_LAST_T] = last_t
    state[S_LONGEST] = longest
    state[S_RECEIVED] += float(n_acc)
    state[S_CLOCK] += float(n_clock)
    # bad counts go to a slot only while its bin still owns it
    keep = np.empty(n, dtype=np.bool_)
    for i in range(n):
        s = slot_of[i]
        keep[i] = s >= 0 and index[s] == bin_of[i]
    same = np.empty(n, dtype=np.uint8)  # the sample vector repeats the one accepted before it
    for i in range(n):
        same[i] = slot_of[i] >= 0 and had_prev[i] and stuck_n > 0
    if n_acc == n:
        # every sample accepted (the usual block): branch-free passes the compiler vectorises, the
        # per-value classification only for a channel that has a bad value in this block
        for c in range(n_ch):
            row = values[c]
            lim = limit[c]
            rl = rail[c]
            good = 0
            for i in range(n):
                ax = abs(row[i])
                good += np.int64((ax < rl) & (ax <= lim))  # NaN fails both
            if good < n:
                _classify(row, c, 0, n, slot_of, keep, lim, rl, bad, totals)
            if stuck_n > 0 and n:
                same[0] &= np.uint8(row[0] == last[c])
                for i in range(1, n):
                    same[i] &= np.uint8(row[i] == row[i - 1])
            if n:
                last[c] = row[n - 1]
    else:
        for c in range(n_ch):
            prev = last[c]
            lim = limit[c]
            rl = rail[c]
            for i in range(n):
                s = slot_of[i]
                if s < 0:
                    continue
                x = values[c, i]
                if x != prev:
                    same[i] = 0
                prev = x
                ax = abs(x)
                if ax < rl and ax <= lim:
                    continue
                _classify(values[c], c, i, i + 1, slot_of, keep, lim, rl, bad, totals)
            last[c] = prev
    if stuck_n > 0:
        run = state[S_RUN]
        for i in range(n):
            s = slot_of[i]
            if s < 0:
                continue
            if same[i]:
                run += 1.0
            else:
                run = 1.0
            if run >= stuck_n:
                for c in range(n_ch):
                    if math.isfinite(values[c, i]):  # a NaN run is already bad as non-finite
                        totals[c, STUCK] += 1
                        if keep[i]:
                            bad[s, c, STUCK] += 1
        state[S_RUN] = run
    elif n_acc:
        state[S_RUN] = 1.0


@kernel
def span(
    b0: int,
    b1: int,
    t0: float,
    t1: float,
    index: I64,
    received: I64,
    bad: I64,
    clock: I64,
    gap: F64,
    out_bad: I64,
) -> tuple[int, int, float]:
    """Sum bins ``b0..b1`` (inclusive): (received, clock faults, longest gap clipped to [t0, t1]).

    ``out_bad`` (n_channels, n_reasons) receives the bad counts. Gaps ending after
    ``b1`` (up to the newest bin) are included when they started before ``t1``.
    """
    n = index.shape[0]
    rec = 0
    clk = 0
    longest = 0.0
    out_bad[:, :] = 0
    newest = b1
    for s in range(n):
        if index[s] > newest:
            newest = index[s]
    for b in range(b0, newest + 1):
        s = b % n
        if index[s] != b:
            continue
        if b <= b1:
            rec += received[s]
            clk += clock[s]
            for c in range(bad.shape[1]):
                for r in range(bad.shape[2]):
                    out_bad[c, r] += bad[s, c, r]
        g0, g1 = gap[s, 0], gap[s, 1]
        if g1 > g0:
            ov = min(g1, t1) - max(g0, t0)
            if ov > longest:
                longest = ov
    return rec, clk, longest

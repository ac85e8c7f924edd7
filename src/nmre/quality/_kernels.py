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
    """Account for one block: received samples, bad values, clock faults and gaps, per bin."""
    n_ch = values.shape[0]
    for i in range(times.shape[0]):
        t = times[i]
        last_t = state[S_LAST_T]
        if not math.isfinite(t) or t <= last_t:
            # a time that is not finite or does not advance: a clock fault, the sample is not counted
            ref = last_t if math.isfinite(last_t) else 0.0
            s = _slot(math.floor(ref / width), index, received, bad, clock, gap)
            clock[s] += 1
            state[S_CLOCK] += 1.0
            continue
        s = _slot(math.floor(t / width), index, received, bad, clock, gap)
        if math.isfinite(last_t) and t - last_t > gap_dt:
            g = t - last_t
            if g > gap[s, 1] - gap[s, 0]:
                gap[s, 0] = last_t
                gap[s, 1] = t
            if g > state[S_LONGEST]:
                state[S_LONGEST] = g
        if not math.isfinite(last_t):
            state[S_FIRST_T] = t
        state[S_LAST_T] = t
        received[s] += 1
        state[S_RECEIVED] += 1.0
        same = math.isfinite(last_t) and stuck_n > 0
        for c in range(n_ch):
            x = values[c, i]
            if x != last[c]:
                same = False
            last[c] = x
            if not math.isfinite(x):
                bad[s, c, NONFINITE] += 1
                totals[c, NONFINITE] += 1
            elif abs(x) > limit[c]:
                bad[s, c, BEYOND] += 1
                totals[c, BEYOND] += 1
            elif abs(x) >= rail[c]:
                bad[s, c, SATURATED] += 1
                totals[c, SATURATED] += 1
        if same:
            state[S_RUN] += 1.0
        else:
            state[S_RUN] = 1.0
        if stuck_n > 0 and state[S_RUN] >= stuck_n:
            for c in range(n_ch):
                if math.isfinite(values[c, i]):  # a NaN run is already bad as non-finite
                    bad[s, c, STUCK] += 1
                    totals[c, STUCK] += 1


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

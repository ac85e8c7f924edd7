"""numba kernel of :class:`nmre.dsp.guard.Guard` (bad-sample detection and replacement)."""

from __future__ import annotations

import math

import numpy as np

from nmre._numba import kernel

# Reason codes, the row order of the guard's count arrays.
NONFINITE, SATURATED, STUCK = 0, 1, 2
REASONS = ("nonfinite", "saturated", "stuck")


@kernel
def guard_kernel(
    x: np.ndarray,
    full_scale: np.ndarray,
    stuck_n: int,
    hold: bool,
    last_good: np.ndarray,
    last_val: np.ndarray,
    same_run: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
) -> int:
    """Copy ``x`` to ``y``, replacing bad samples; count them per channel and reason; return the total.

    A sample is bad if it is NaN/inf (reason 0), if ``|x| >= full_scale[c]`` (1), or
    if it is the ``stuck_n``-th or later of identical consecutive values (2; off
    when ``stuck_n <= 0``). Bad samples become ``last_good[c]`` (``hold``) or 0.
    counts/first/last (n_ch, 3) get the number and first/last sample index of
    each reason in this block (counts are zeroed here; first/last are valid where
    counts > 0). Each channel's state is kept in locals over its row.
    """
    n_ch, n = x.shape
    total = 0
    for c in range(n_ch):
        for r in range(counts.shape[1]):
            counts[c, r] = 0
        lv = last_val[c]
        run = same_run[c]
        good = last_good[c]
        fs = full_scale[c]
        for i in range(n):
            v = x[c, i]
            r = -1
            if not math.isfinite(v):
                r = NONFINITE
            else:
                if v == lv:
                    run += 1
                else:
                    run = 1
                    lv = v
                if abs(v) >= fs:
                    r = SATURATED
                elif stuck_n > 0 and run >= stuck_n:
                    r = STUCK
            if r < 0:
                y[c, i] = v
                good = v
            else:
                y[c, i] = good if hold else 0.0
                if counts[c, r] == 0:
                    first[c, r] = i
                counts[c, r] += 1
                last[c, r] = i
                total += 1
        last_val[c] = lv
        same_run[c] = run
        last_good[c] = good
    return total


@kernel
def guard_kernel_clean(
    x: np.ndarray,
    limit: np.ndarray,
    full_scale: np.ndarray,
    stuck_n: int,
    hold: bool,
    last_good: np.ndarray,
    last_val: np.ndarray,
    same_run: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
) -> int:
    """:func:`guard_kernel` of a block whose every value is finite and within ``limit[c]`` (the input
    screen's check, in the same call); -1, with nothing changed, otherwise."""
    n_ch, n = x.shape
    for i in range(n):
        for c in range(n_ch):
            if not (abs(x[c, i]) <= limit[c]):  # False for NaN too
                return -1
    return guard_kernel(x, full_scale, stuck_n, hold, last_good, last_val, same_run, y, counts, first, last)

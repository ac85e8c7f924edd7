"""The quality monitor's kernel counts what a plain sample-by-sample pass counts (its reference, kept here).

``reference_update`` is the first version of :func:`nmre.quality._kernels.update`: one
loop over samples with the channels inside. The kernel now makes three passes
(times, values per channel, stuck runs) for speed; every count, gap and state
value must stay the same on blocks with every kind of bad data, clock faults,
gaps and blocks longer than the ring of bins.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from nmre.quality import _kernels as K
from nmre.quality._kernels import (
    BEYOND,
    F64,
    I64,
    NONFINITE,
    S_CLOCK,
    S_FIRST_T,
    S_LAST_T,
    S_LONGEST,
    S_RECEIVED,
    S_RUN,
    SATURATED,
    STUCK,
)

_slot = K._slot


@njit(cache=False)
def reference_update(
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
    """The reference: one pass over samples, channels inside."""
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


def _state(n_ch, n_bins):
    return {
        "state": np.array([-math.inf, 0.0, math.nan, 0.0, 0.0, 0.0]),
        "last": np.full(n_ch, np.nan),
        "index": np.full(n_bins, -(2**62), dtype=np.int64),
        "received": np.zeros(n_bins, dtype=np.int64),
        "bad": np.zeros((n_bins, n_ch, 4), dtype=np.int64),
        "clock": np.zeros(n_bins, dtype=np.int64),
        "gap": np.zeros((n_bins, 2)),
        "totals": np.zeros((n_ch, 4), dtype=np.int64),
    }


def _signal(rng, n, n_ch, rate):
    """Times with gaps, repeats, steps back and a NaN; values with NaN, inf, rail hits, overrange, stuck runs."""
    dt = np.full(n, 1.0 / rate)
    dt[rng.random(n) < 0.02] *= rng.uniform(2, 30)  # gaps
    dt[rng.random(n) < 0.01] = 0.0  # repeated time: a clock fault
    t = 3.0 + np.cumsum(dt)
    back = rng.random(n) < 0.005
    t[back] -= 0.5  # a step back
    t[rng.integers(0, n)] = math.nan
    x = rng.normal(0, 1, (n_ch, n))
    x[rng.random((n_ch, n)) < 0.01] = math.nan
    x[rng.random((n_ch, n)) < 0.005] = math.inf
    x[rng.random((n_ch, n)) < 0.02] = 5.0  # on the rail
    x[rng.random((n_ch, n)) < 0.01] = -9.0  # beyond full scale
    for _ in range(4):  # stuck runs of the whole vector
        a = int(rng.integers(0, n - 60))
        x[:, a : a + int(rng.integers(5, 60))] = x[:, a : a + 1]
    return t, x


@pytest.mark.parametrize("block", [1, 2, 16, 333, 5000])
@pytest.mark.parametrize("n_bins", [4, 300])
@pytest.mark.parametrize("stuck_n", [0, 10])
def test_the_kernel_counts_what_the_sample_by_sample_reference_counts(block, n_bins, stuck_n):
    rng = np.random.default_rng(block * 7 + n_bins + stuck_n)
    n_ch, rate = 3, 500.0
    t, x = _signal(rng, 6000, n_ch, rate)
    rail, limit = np.full(n_ch, 5.0), np.full(n_ch, 8.0)
    ref, got = _state(n_ch, n_bins), _state(n_ch, n_bins)
    for a in range(0, t.shape[0], block):
        tb, xb = t[a : a + block].copy(), np.ascontiguousarray(x[:, a : a + block])
        for st, fn in ((ref, reference_update), (got, K.update)):
            fn(tb, xb, rail, limit, stuck_n, 1.5 / rate, 0.02, st["state"], st["last"], st["index"],
               st["received"], st["bad"], st["clock"], st["gap"], st["totals"])  # fmt: skip
        for k in ref:
            assert ref[k].tobytes() == got[k].tobytes(), (k, a)
    assert ref["totals"][:, [NONFINITE, SATURATED, BEYOND]].all()
    assert (ref["totals"][:, STUCK].sum() > 0) == (stuck_n > 0)
    assert ref["state"][S_CLOCK] > 0 and ref["state"][S_LONGEST] > 0 and ref["state"][S_RECEIVED] > 0
    assert math.isfinite(ref["state"][S_FIRST_T]) and math.isfinite(ref["state"][S_LAST_T])
    assert ref["state"][S_RUN] >= 1

"""RunningStats folds its values in bulk: every figure is the one of adding them one at a time, bit for bit."""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from nmre.engine.stats import _FOLD_AT, RunningStats


class OneAtATime:
    """The first RunningStats: each value folded as it is added (the reference)."""

    def __init__(self) -> None:
        self.edges = RunningStats._EDGES.tolist()
        self.n, self.total, self.max = 0, 0.0, 0.0
        self.hist = [0] * (len(self.edges) + 1)

    def add(self, x: float) -> None:
        if not (x == x and x != math.inf):
            return
        self.n += 1
        self.total += x
        if x > self.max:
            self.max = x
        self.hist[bisect_left(self.edges, x)] += 1


def test_bulk_folds_give_the_one_at_a_time_figures_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    values = (10.0 ** rng.uniform(-8, 3, 5000)).tolist()
    values[7:11] = [math.nan, math.inf, 0.0, 1e-7]  # skipped, skipped, edge values
    values[100] = 100.0
    ref, got = OneAtATime(), RunningStats()
    add = got.adder()
    for i, x in enumerate(values):
        ref.add(x)
        if i % 3:
            add(x)  # the engine's path
            if i % 500 == 0:
                got.fold_if_full()
        else:
            got.add(x)
        if i in (0, 1, 999, 2500):  # read part-way: the figures so far
            assert (got.n, got.total, got.max) == (ref.n, ref.total, ref.max)
    assert got.n == ref.n and got.total == ref.total and got.max == ref.max  # == on floats: the same bits
    assert got._hist.tolist() == ref.hist
    kept = [x for x in values if x == x and x != math.inf]
    assert got.total != float(np.sum(kept))  # the order matters: numpy's pairwise sum would not pass
    got.reset()
    assert got.n == 0 and math.isnan(got.mean) and not got._raw
    add(0.5)  # the adder handed out before reset still feeds it
    assert got.n == 1 and got.max == 0.5


def test_minus_inf_counts_as_it_did() -> None:
    ref, got = OneAtATime(), RunningStats()
    for x in (1e-3, -math.inf, 2e-3):
        ref.add(x)
        got.add(x)
    assert (got.n, got.total, got.max, got._hist.tolist()) == (ref.n, ref.total, ref.max, ref.hist)


def test_waiting_values_stay_few() -> None:
    s = RunningStats()
    add = s.adder()
    for _ in range(3 * _FOLD_AT):
        add(1e-5)
        s.fold_if_full()
    assert len(s._raw) < _FOLD_AT and s.n == 3 * _FOLD_AT

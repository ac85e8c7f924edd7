"""Cheap running statistics for latency and cost, with percentiles from a fixed log histogram."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RunningStats"]

#: Values kept unfolded at most (see :meth:`RunningStats.adder`).
_FOLD_AT = 1024


class RunningStats:
    """Count, mean, max and approximate percentiles of non-negative durations (seconds).

    Values go into 200 log-spaced bins from 100 ns to 100 s (resolution about 7 %),
    so a one-hour session costs the same memory as a one-second one.

    The engine adds two values per block (its cost and the block's transport), so an added
    value is only appended to a list (:meth:`adder`: a bound ``list.append``, no Python
    frame) and folded into the count, sum, maximum and bins in bulk when a figure is read
    or :data:`_FOLD_AT` values wait. The sum is taken in the order the values came
    (``np.add.accumulate`` adds sequentially), the bins by the same edges, so every figure
    is the one adding them one at a time gives, bit for bit.
    """

    _EDGES = np.logspace(-7, 2, 201)

    def __init__(self) -> None:
        self._raw: list[float] = []  # added, not yet folded; never replaced (adder() hands out its append)
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._total = 0.0
        self._max = 0.0
        self._hist = np.zeros(self._EDGES.shape[0] + 1, dtype=np.int64)
        self._raw.clear()

    def adder(self) -> Callable[[float], None]:
        """``add`` without its call: the engine's per-block hot path; it calls :meth:`fold_if_full` now and then."""
        return self._raw.append

    def add(self, x: float) -> None:
        """Add one value (``nan`` and ``inf`` are ignored)."""
        self._raw.append(x)
        if len(self._raw) >= _FOLD_AT:
            self._fold()

    def fold_if_full(self) -> None:
        """Fold the waiting values if there are :data:`_FOLD_AT` of them (keeps the list short)."""
        if len(self._raw) >= _FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        raw = self._raw
        k = len(raw)
        if not k:
            return
        x = np.array(raw[:k], dtype=np.float64)
        del raw[:k]  # one step: a value another thread appends meanwhile stays for the next fold
        x = x[(x == x) & (x != math.inf)]
        if not x.shape[0]:
            return
        self._n += int(x.shape[0])
        self._total = float(np.add.accumulate(np.concatenate(([self._total], x)))[-1])
        top = float(x.max())
        if top > self._max:
            self._max = top
        self._hist += np.bincount(np.searchsorted(self._EDGES, x, side="left"), minlength=self._hist.shape[0])

    @property
    def n(self) -> int:
        self._fold()
        return self._n

    @property
    def total(self) -> float:
        self._fold()
        return self._total

    @property
    def max(self) -> float:
        self._fold()
        return self._max

    @property
    def mean(self) -> float:
        self._fold()
        return self._total / self._n if self._n else math.nan

    def percentile(self, q: float) -> float:
        """Upper edge of the bin holding the ``q``-th percentile (0–100)."""
        self._fold()
        if not self._n:
            return math.nan
        target = q / 100.0 * self._n
        idx = int(np.searchsorted(np.cumsum(self._hist), target))  # not hot
        idx = min(idx, self._EDGES.shape[0] - 1)
        return float(min(self._EDGES[idx], self._max))

    def to_dict(self, scale: float = 1e3, unit: str = "ms") -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if not math.isfinite(v) else round(v * scale, 3)

        n = self.n
        return {
            "unit": unit,
            "n": n,
            "mean": r(self.mean),
            "p50": r(self.percentile(50)),
            "p99": r(self.percentile(99)),
            "max": r(self.max) if n else None,
        }

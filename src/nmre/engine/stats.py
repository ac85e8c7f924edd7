"""Cheap running statistics for latency and cost, with percentiles from a fixed log histogram."""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

import numpy as np

__all__ = ["RunningStats"]


class RunningStats:
    """Count, mean, max and approximate percentiles of non-negative durations (seconds).

    Values go into 200 log-spaced bins from 100 ns to 100 s (resolution about 7 %),
    so a one-hour session costs the same memory as a one-second one.
    """

    _EDGES = np.logspace(-7, 2, 201)
    _EDGE_LIST: list[float] = _EDGES.tolist()  # bisect on a list: 0.2 us, np.searchsorted: 1.6 us

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.total = 0.0
        self.max = 0.0
        self._hist = [0] * (len(self._EDGE_LIST) + 1)

    def add(self, x: float) -> None:
        """Add one value (called per block in the engine's hot path: no numpy here)."""
        if not (x == x and x != math.inf):
            return
        self.n += 1
        self.total += x
        if x > self.max:
            self.max = x
        self._hist[bisect_left(self._EDGE_LIST, x)] += 1

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    def percentile(self, q: float) -> float:
        """Upper edge of the bin holding the ``q``-th percentile (0–100)."""
        if not self.n:
            return math.nan
        target = q / 100.0 * self.n
        idx = int(np.searchsorted(np.cumsum(self._hist), target))  # not hot
        idx = min(idx, self._EDGES.shape[0] - 1)
        return float(min(self._EDGES[idx], self.max))

    def to_dict(self, scale: float = 1e3, unit: str = "ms") -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if not math.isfinite(v) else round(v * scale, 3)

        return {
            "unit": unit,
            "n": self.n,
            "mean": r(self.mean),
            "p50": r(self.percentile(50)),
            "p99": r(self.percentile(99)),
            "max": r(self.max) if self.n else None,
        }

"""Shared helpers for nmre benchmarks: timing side by side and the results file.

Each ``bench_*.py`` module exposes ``run(quick: bool) -> list[Comparison]``.
``benchmarks/run.py`` imports them all in one process, prints one table and
writes ``benchmarks/results.json``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Comparison:
    """One side-by-side measurement. Times are seconds per unit of ``work``.

    ``ratio`` is ``peer_time / nmre_time`` (> 1 means nmre is faster).
    """

    name: str
    nmre_time: float
    peer: str
    peer_time: float
    work: str
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.peer_time / self.nmre_time if self.nmre_time > 0 else float("inf")

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def best_time(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time of ``number`` calls of ``fn`` over ``repeat`` trials, per call (seconds)."""
    fn()  # warm up (compilation, caches)
    best = float("inf")
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return best

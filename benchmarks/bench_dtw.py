"""Subsequence DTW: nmre's streaming SPRING vs tslearn.metrics.dtw_subsequence_path on the same data."""

from __future__ import annotations

import numpy as np

from _harness import Comparison, best_time
from nmre.core.model import Block
from nmre.dsp.dtw import Spring, subsequence_match

FS = 100.0


def run(quick: bool) -> list[Comparison]:
    from tslearn.metrics import dtw_subsequence_path

    rng = np.random.default_rng(0)
    m = 200
    n = 2000 if quick else 10000
    t = np.linspace(0, 1, m)
    template = 90 * np.sin(np.pi * t) ** 2
    series = np.cumsum(rng.normal(0, 2, n))
    series[n // 2 : n // 2 + 2 * m] = np.interp(np.linspace(0, 1, 2 * m), t, template)
    path, cost = dtw_subsequence_path(template[:, None], series[:, None])
    assert subsequence_match(template, series) == (path[0][1], path[-1][1], cost)  # same answer first
    work = f"template {m}, series {n} samples (1-D)"
    out = [
        Comparison(
            "SPRING, whole series in one block",
            best_time(lambda: subsequence_match(template, series), repeat=3),
            "tslearn dtw_subsequence_path",
            best_time(lambda: dtw_subsequence_path(template[:, None], series[:, None]), repeat=3),
            work,
            ">= 1x",
        )
    ]
    blk = 20
    blocks = [
        Block("knee", np.arange(i, min(n, i + blk)) / FS, series[None, i : i + blk].copy())
        for i in range(0, n, blk)
    ]

    def live() -> None:
        sp = Spring(template)
        for b in blocks:
            sp.process(b)

    # the peer cannot stream: re-running it on every new block would cost n/blk full calls, so compare one call
    out.append(
        Comparison(
            f"Spring.process, {blk}-sample blocks",
            best_time(live, repeat=3),
            "tslearn dtw_subsequence_path (one call)",
            out[0].peer_time,
            work,
            "",
        )
    )
    return out

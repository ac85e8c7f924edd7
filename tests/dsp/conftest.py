"""Shared helpers for the DSP tests (append new fixtures; do not overwrite)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from nmre.core.interfaces import Processor
from nmre.core.model import Block


def feed_chunks(proc: Processor, x: np.ndarray, sizes: Sequence[int], fs: float = 1000.0) -> list[Block]:
    """Feed ``x`` (n_ch, n) to ``proc`` in chunks of ``sizes`` (the rest in one last chunk)."""
    out: list[Block] = []
    i = 0
    n = x.shape[1]
    for size in [*sizes, n]:
        j = min(n, i + size)
        out.append(proc.process(Block("s", np.arange(i, j) / fs, x[:, i:j].copy(), seq=i)))
        i = j
        if i >= n:
            break
    return out


@pytest.fixture(scope="session")
def feed() -> Callable[..., list[Block]]:
    """``feed(proc, x, sizes, fs=1000.0) -> list[Block]``: stream ``x`` through ``proc`` in chunks."""
    return feed_chunks

"""Seeded random streams of the simulator: one independent generator per purpose."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["child_rng"]


def child_rng(seed: int, name: str) -> np.random.Generator:
    """An independent generator for the stream or purpose ``name``, derived from ``seed``.

    Adding a new named stream never changes the numbers of the others, so a sensor's
    data do not depend on which other sensors are worn or how the session is cut
    into chunks.
    """
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),)))

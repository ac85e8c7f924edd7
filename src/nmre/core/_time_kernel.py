"""The numba check of a block's sample times (private; see :class:`nmre.core.model.Block`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nmre._numba import kernel


@kernel
def first_bad_time(t: NDArray[np.float64]) -> int:
    """Index of the first sample time that is not finite or is before the one before it; -1 if none."""
    prev = -np.inf
    for i in range(t.shape[0]):
        x = t[i]
        if not (x >= prev) or x == np.inf:  # NaN fails every comparison
            return i
        prev = x
    return -1

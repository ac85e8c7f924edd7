"""numba kernels for second-order-section IIR filtering.

Each kernel writes into preallocated outputs and updates state in place; it
allocates nothing. The operation order of :func:`sosfilt_kernel` is the one of
scipy's ``_sosfilt`` (scipy/signal/_sosfilt.pyx, Direct Form II transposed),
so float64 results are bit-identical to :func:`scipy.signal.sosfilt`.
"""

from __future__ import annotations

import numpy as np

from nmre._numba import kernel


@kernel
def sosfilt_kernel(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, y: np.ndarray) -> None:
    """Filter ``x`` through the cascade ``sos``; write ``y``, update ``zi``.

    sos (n_sections, 6); x, y (n_channels, n_samples); zi (n_sections, n_channels, 2).
    ``y`` may be the same array as ``x``.
    """
    n_ch, n = x.shape
    n_sec = sos.shape[0]
    for c in range(n_ch):
        for i in range(n):
            x_cur = x[c, i]
            for s in range(n_sec):
                x_new = sos[s, 0] * x_cur + zi[s, c, 0]
                zi[s, c, 0] = sos[s, 1] * x_cur - sos[s, 4] * x_new + zi[s, c, 1]
                zi[s, c, 1] = sos[s, 2] * x_cur - sos[s, 5] * x_new
                x_cur = x_new
            y[c, i] = x_cur

"""numba kernels for second-order-section IIR filtering.

Each kernel writes into preallocated outputs and updates state in place; it
allocates nothing. Per channel, the operation order is the one of scipy's
``_sosfilt`` (scipy/signal/_sosfilt.pyx, Direct Form II transposed), so float64
results are bit-identical to :func:`scipy.signal.sosfilt`. For speed, 4 (or 2)
independent channels are advanced together in one sample loop: this interleaves
independent dependency chains (instruction-level parallelism) without changing
any channel's arithmetic.
"""

from __future__ import annotations

import numpy as np

from nmre._numba import kernel


@kernel
def _sos_row1(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, y: np.ndarray, c: int) -> None:
    n = x.shape[1]
    n_sec = sos.shape[0]
    for i in range(n):
        u = x[c, i]
        for s in range(n_sec):
            un = sos[s, 0] * u + zi[s, c, 0]
            zi[s, c, 0] = sos[s, 1] * u - sos[s, 4] * un + zi[s, c, 1]
            zi[s, c, 1] = sos[s, 2] * u - sos[s, 5] * un
            u = un
        y[c, i] = u


@kernel
def _sos_rows2(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, y: np.ndarray, c: int) -> None:
    n = x.shape[1]
    n_sec = sos.shape[0]
    d = c + 1
    for i in range(n):
        u = x[c, i]
        v = x[d, i]
        for s in range(n_sec):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            un = b0 * u + zi[s, c, 0]
            vn = b0 * v + zi[s, d, 0]
            zi[s, c, 0] = b1 * u - a1 * un + zi[s, c, 1]
            zi[s, d, 0] = b1 * v - a1 * vn + zi[s, d, 1]
            zi[s, c, 1] = b2 * u - a2 * un
            zi[s, d, 1] = b2 * v - a2 * vn
            u = un
            v = vn
        y[c, i] = u
        y[d, i] = v


@kernel
def _sos_rows4(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, y: np.ndarray, c: int) -> None:
    n = x.shape[1]
    n_sec = sos.shape[0]
    c1, c2, c3 = c + 1, c + 2, c + 3
    for i in range(n):
        u0 = x[c, i]
        u1 = x[c1, i]
        u2 = x[c2, i]
        u3 = x[c3, i]
        for s in range(n_sec):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            n0 = b0 * u0 + zi[s, c, 0]
            n1 = b0 * u1 + zi[s, c1, 0]
            n2 = b0 * u2 + zi[s, c2, 0]
            n3 = b0 * u3 + zi[s, c3, 0]
            zi[s, c, 0] = b1 * u0 - a1 * n0 + zi[s, c, 1]
            zi[s, c1, 0] = b1 * u1 - a1 * n1 + zi[s, c1, 1]
            zi[s, c2, 0] = b1 * u2 - a1 * n2 + zi[s, c2, 1]
            zi[s, c3, 0] = b1 * u3 - a1 * n3 + zi[s, c3, 1]
            zi[s, c, 1] = b2 * u0 - a2 * n0
            zi[s, c1, 1] = b2 * u1 - a2 * n1
            zi[s, c2, 1] = b2 * u2 - a2 * n2
            zi[s, c3, 1] = b2 * u3 - a2 * n3
            u0 = n0
            u1 = n1
            u2 = n2
            u3 = n3
        y[c, i] = u0
        y[c1, i] = u1
        y[c2, i] = u2
        y[c3, i] = u3


@kernel
def sosfilt_kernel(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, y: np.ndarray) -> None:
    """Filter ``x`` through the cascade ``sos``; write ``y``, update ``zi``.

    sos (n_sections, 6); x, y (n_channels, n_samples); zi (n_sections, n_channels, 2).
    ``y`` may be the same array as ``x``.
    """
    n_ch = x.shape[0]
    c = 0
    while c + 4 <= n_ch:
        _sos_rows4(sos, x, zi, y, c)
        c += 4
    if c + 2 <= n_ch:
        _sos_rows2(sos, x, zi, y, c)
        c += 2
    if c < n_ch:
        _sos_row1(sos, x, zi, y, c)

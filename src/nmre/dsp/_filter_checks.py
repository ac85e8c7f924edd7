"""Input checks shared by the filter, EMG and guard wrappers.

Kernels trust their inputs; these helpers are the one place where a wrong
shape or dtype is turned into an :class:`nmre.errors.InputError` that names
what was expected and what came.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nmre.errors import InputError

F64 = NDArray[np.float64]
_F8 = np.dtype(np.float64)


def describe(x: object) -> str:
    """Short description of an array-like for error messages: shape and dtype."""
    if isinstance(x, np.ndarray):
        return f"shape {x.shape} {x.dtype}"
    return type(x).__name__


def as_signal(x: object, n_channels: int | None, what: str = "values") -> F64:
    """Return ``x`` as a C-contiguous float64 ``(n_channels, n_samples)`` array.

    Floating and integer arrays are converted to float64 (integers exactly up to
    2**53, which covers every ADC). Boolean, complex, object, string and other
    dtypes are rejected, as are arrays that are not 2-D or have the wrong number
    of rows.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_samples)
        Signal to check.
    n_channels : int or None
        Required number of rows, or ``None`` to accept any.
    what : str
        Name used in the error message.

    Raises
    ------
    InputError
        On any wrong type, dimension, row count or dtype.
    """
    if (
        type(x) is np.ndarray
        and x.dtype is _F8
        and x.ndim == 2
        and x.flags.c_contiguous
        and (n_channels is None or x.shape[0] == n_channels)
    ):
        return x  # the usual block (a hot path: no message made, no call)
    rows = "n_channels" if n_channels is None else f"n_channels={n_channels}"
    want = f"{what} as a (n_channels, n_samples) float64 array with {rows}"
    if not isinstance(x, np.ndarray):
        raise InputError(f"expected {want}; got {describe(x)}")
    kind = x.dtype.kind
    if kind not in "fiu":
        raise InputError(f"expected {want}; got {describe(x)} (dtype kind {kind!r} is not a real number)")
    if x.ndim != 2 or (n_channels is not None and x.shape[0] != n_channels):
        raise InputError(f"expected {want}; got {describe(x)}")
    return np.ascontiguousarray(x, dtype=np.float64)


def as_sos(sos: object) -> F64:
    """Return ``sos`` as a C-contiguous float64 ``(n_sections, 6)`` array with a0 == 1."""
    a = np.asarray(sos)
    if a.dtype.kind not in "fiu" or a.ndim != 2 or a.shape[1] != 6 or a.shape[0] < 1:
        raise InputError(f"expected sos as a (n_sections, 6) float64 array; got {describe(a)}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.all(a[:, 3] == 1.0):
        raise InputError(f"expected sos with a0 == 1 in every section; got a0 = {a[:, 3].tolist()}")
    if not np.all(np.isfinite(a)):
        raise InputError("expected finite sos coefficients; got NaN or inf")
    return a

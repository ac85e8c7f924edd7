"""numba options, said once.

Every compiled kernel in nmre is declared with :func:`kernel`, so that caching,
``nogil`` and the no-``fastmath`` policy live in one place. Kernels are compiled
before a session starts (see :func:`nmre.dsp.warmup`), never during one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

JIT_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


def kernel(fn: F) -> F:
    """Compile ``fn`` with nmre's standard numba options (cached, nogil, no fastmath)."""
    return njit(**JIT_OPTIONS)(fn)  # type: ignore[no-any-return]

"""The session clock and its two implementations.

The engine never reads wall time directly; it asks an injected :class:`Clock`.
:class:`RealClock` paces a live session to the host's monotonic clock;
:class:`VirtualClock` is advanced by the engine to the next thing that happens,
so a replay or test runs as fast as the CPU allows and is deterministic.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

from nmre.errors import InputError, expected

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(ABC):
    """Session time in seconds since the session started."""

    #: ``True`` when time only moves when the engine advances it.
    is_virtual: bool = False

    @abstractmethod
    def now(self) -> float:
        """Current session time, seconds."""

    @abstractmethod
    def sleep_until(self, t: float, wake: threading.Event | None = None) -> float:
        """Wait until session time ``t`` (or until ``wake`` is set); return the time now.

        A virtual clock jumps straight to ``t``.
        """


class RealClock(Clock):
    """Monotonic host time, zero at construction (or at :meth:`restart`)."""

    is_virtual = False

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    @property
    def origin(self) -> float:
        """``time.monotonic()`` (also asyncio's loop time) at session time zero."""
        return self._t0

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep_until(self, t: float, wake: threading.Event | None = None) -> float:
        delay = t - self.now()
        if delay > 0:
            if wake is None:
                time.sleep(delay)
            else:
                wake.wait(delay)
                wake.clear()
        return self.now()


class VirtualClock(Clock):
    """A clock that stands still until advanced. Time never goes backwards."""

    is_virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance_to(self, t: float) -> float:
        """Move to ``t`` if it is later than now; return the time now."""
        if t != t:  # NaN
            raise InputError(expected("a time in seconds", t))
        if t > self._t:
            self._t = float(t)
        return self._t

    def advance(self, dt: float) -> float:
        if dt < 0:
            raise InputError(expected("a non-negative step in seconds", dt))
        return self.advance_to(self._t + dt)

    def sleep_until(self, t: float, wake: threading.Event | None = None) -> float:
        return self.advance_to(t)

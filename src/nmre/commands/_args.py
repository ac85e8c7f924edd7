"""Argument types and the parser class shared by every ``nmre`` sub-command.

Each type raises :class:`argparse.ArgumentTypeError` with one line naming what
was expected and what came; the parser turns it into one line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

__all__ = [
    "MAX_REPS",
    "MAX_SECONDS",
    "Parser",
    "integer",
    "non_negative_seconds",
    "positive_int",
    "positive_seconds",
    "session_reps",
    "session_seconds",
]

#: Ceilings of a simulated session. Longer than any clinic session (a set is tens of reps, a
#: balance trial minutes), and no longer than what ``make bench`` (benchmarks/bench_memory.py) shows
#: runs at flat memory: a 1-hour session's peak within 10 % of a 1-minute one's. 1000 squat reps
#: are about 70 minutes of the simulator's squats.
MAX_REPS = 1000
MAX_SECONDS = 7200.0


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def integer(text: str) -> int:
    """Any whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (0 < v < math.inf):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return v


def session_reps(text: str) -> int:
    """Reps of a simulated session: 1 .. :data:`MAX_REPS`."""
    v = positive_int(text)
    if v > MAX_REPS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_REPS} reps (about 70 min of squats; longer sessions are not measured to "
            f"run at flat memory), got {text!r}"
        )
    return v


def session_seconds(text: str) -> float:
    """Seconds of a simulated session: > 0 and at most :data:`MAX_SECONDS`."""
    v = positive_seconds(text)
    if v > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_SECONDS:.0f} s (2 h: longer than any clinic session; longer sessions are "
            f"not measured to run at flat memory), got {text!r}"
        )
    return v


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0 (a session time)."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (0 <= v < math.inf):
        raise argparse.ArgumentTypeError(f"expected a session time in seconds >= 0, got {text!r}")
    return v

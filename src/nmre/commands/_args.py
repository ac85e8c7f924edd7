"""Argument types and the parser class shared by every ``nmre`` sub-command.

Each type raises :class:`argparse.ArgumentTypeError` with one line naming what
was expected and what came; the parser turns it into one line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import NoReturn, TypeVar

N = TypeVar("N", int, float)

__all__ = [
    "MAX_WORKERS",
    "Parser",
    "at_most",
    "integer",
    "non_negative_seconds",
    "out_file",
    "out_path",
    "positive_int",
    "positive_seconds",
    "worker_count",
]

#: Ceiling of ``--workers`` (eval, batch): each worker is a process running sessions (one demo session
#: peaks at about 310 MB); past a few per CPU they only wait on each other, and an unbounded count
#: asks the system for that many processes (``--workers 1000000`` set out to fork a million).
MAX_WORKERS = 64


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


def out_path(text: str) -> str:
    """A path or file stem to write; an empty one is an error (leaving the option out gives the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file path to write, got {text!r}")
    return text


def out_file(text: str) -> str:
    """A file to write: not empty, not a folder, in a folder that exists (checked before any work)."""
    out_path(text)
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"expected a file path to write, got the folder {text!r}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"expected a file path in an existing folder, got {text!r}")
    return text


def at_most(parse: Callable[[str], N], limit: N, expected: str) -> Callable[[str], N]:
    """``parse``, then a ceiling: above ``limit`` is an error saying ``expected`` (what is taken, and why)."""

    def parse_at_most(text: str) -> N:
        v = parse(text)
        if v > limit:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v

    return parse_at_most


#: A number of worker processes, 1 to :data:`MAX_WORKERS`.
worker_count = at_most(
    positive_int, MAX_WORKERS, f"1 to {MAX_WORKERS} worker processes (this machine has {os.cpu_count()} CPUs)"
)


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


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0 (a session time)."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (0 <= v < math.inf):
        raise argparse.ArgumentTypeError(f"expected a session time in seconds >= 0, got {text!r}")
    return v

"""Helpers for the LSL tests: outlets that stand in for a lab's amplifier, and bounded waits.

Every outlet and inlet runs on the loopback interface (``tests/lsl_api.cfg``, named by
``LSLAPICFG`` in ``tests/conftest.py``). No test sleeps to wait for data: each wait is on
the source's wake event and ends when what it waits for arrived, or fails at a deadline.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pylsl
import pytest

from nmre.acquisition.lsl import LslSource
from nmre.core.model import Block, Event

_ids = itertools.count()


def unique(prefix: str) -> str:
    """A stream name no other test uses (outlets of earlier tests may still be announced)."""
    return f"{prefix}-{time.monotonic_ns()}-{next(_ids)}"


def outlet(
    name: str,
    type_: str,
    n: int,
    rate: float,
    *,
    labels: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    fmt: str = "float32",
    source_id: str = "",
) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, type_, n, rate, fmt, source_id)
    if labels is not None:
        info.set_channel_labels(list(labels))
    if units is not None:
        info.set_channel_units(list(units))
    return pylsl.StreamOutlet(info)


@dataclass
class Collected:
    blocks: list[Block] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def samples(self, stream: str) -> int:
        return sum(b.n_samples for b in self.blocks if b.stream == stream)

    def kinds(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def times(self, stream: str) -> np.ndarray:
        return np.concatenate([b.times for b in self.blocks if b.stream == stream])

    def values(self, stream: str) -> np.ndarray:
        return np.concatenate([b.values for b in self.blocks if b.stream == stream], axis=1)


def collect(
    source: LslSource, until: Callable[[Collected], bool], got: Collected | None = None, timeout: float = 20.0
) -> Collected:
    """Poll ``source`` until ``until(collected)`` holds; fail after ``timeout`` s."""
    got = got if got is not None else Collected()
    deadline = time.monotonic() + timeout
    assert source.wake is not None
    while True:
        got.events.extend(source.poll_events())
        got.blocks.extend(source.poll(math.inf))
        if until(got):
            return got
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout} s; got {len(got.blocks)} blocks, events {[e.kind for e in got.events]}"
            )
        source.wake.wait(0.05)
        source.wake.clear()


def regular_stamps(t0: float, n: int, rate: float, first: int = 0) -> list[float]:
    return (t0 + (first + np.arange(n)) / rate).tolist()

"""Runs of a signal above a threshold, with hysteresis and minimum on and off durations.

One place for the contraction / relaxation and hold detection every rule uses:
it is the state machine of :mod:`nmre.dsp.onset` (double threshold, minimum
on/off durations: Hodges & Bui 1996, Bonato et al. 1998; reference/dsp.md §1.4)
with absolute thresholds (``on_level``/``off_level``) in the signal's unit and no
baseline re-estimation: a rule's thresholds are the therapist's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds
from nmre.core.model import Block
from nmre.dsp.onset import OnsetDetector
from nmre.errors import ConfigError, expected

__all__ = ["RunFinder"]

F64 = NDArray[np.float64]


class RunFinder:
    """Finds the runs where a signal is held above ``on`` until it falls below ``off``.

    A run starts at the first sample of at least ``min_on`` s above ``on`` and
    ends at the first sample of at least ``min_off`` s below ``off``
    (``off <= on``: hysteresis). ``below=True`` finds runs *below* ``on``
    (ending above ``off``, ``off >= on``). Dips shorter than ``min_off`` do not
    end a run; bursts shorter than ``min_on`` do not start one.

    Parameters
    ----------
    rate : float
        Sampling rate of the signal, Hz.
    on, off : float
        Thresholds in the signal's unit.
    min_on, min_off : float
        Minimum durations, seconds (>= one sample).
    below : bool
        Runs below the thresholds instead of above.
    """

    def __init__(
        self, rate: float, on: float, off: float, min_on: float, min_off: float, below: bool = False
    ) -> None:
        if not (math.isfinite(on) and math.isfinite(off)):
            raise ConfigError("runs: " + expected("finite thresholds on and off", (on, off)))
        if (off > on) if not below else (off < on):
            raise ConfigError(
                "runs: "
                + expected(f"off {'<=' if not below else '>='} on (hysteresis)", {"on": on, "off": off})
            )
        if not (min_on >= 0 and min_off >= 0):
            raise ConfigError("runs: " + expected("min_on >= 0 s and min_off >= 0 s", (min_on, min_off)))
        self.rate, self.on, self.off, self.below = float(rate), float(on), float(off), below
        step = 1.0 / self.rate
        self._det = OnsetDetector(
            1,
            self.rate,
            t_on=max(min_on, step),
            t_off=max(min_off, step),
            max_gap=0.0,
            on_level=abs(on - off),  # on the signal shifted to put ``off`` at 0 (the state machine
            off_level=0.0,  # takes levels >= 0, as EMG amplitudes are)
            horizon=None,
        )

    def runs(self, t: F64, x: F64) -> list[tuple[float, float]]:
        """The runs in ``x`` sampled at ``t`` (one segment, processed from a fresh state)."""
        if t.shape[0] == 0:
            return []
        self._det.reset()
        y = self.off - x if self.below else x - self.off
        self._det.process(Block("runs", np.ascontiguousarray(t), np.ascontiguousarray(y[None, :])))
        out: list[tuple[float, float]] = []
        start: float | None = None
        for e in self._det.pop_events():
            if e.kind == kinds.EMG_ONSET:
                start = e.time
            elif start is not None:
                out.append((start, e.time))
                start = None
        if start is not None:  # still held at the end of the segment
            out.append((start, float(t[-1]) + 1.0 / self.rate))
        return out

    def longest(self, t: F64, x: F64) -> tuple[float, float] | None:
        """The longest run, or ``None``."""
        runs = self.runs(t, x)
        return max(runs, key=lambda r: r[1] - r[0]) if runs else None

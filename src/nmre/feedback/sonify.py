"""The sonification mapping: a watched signal's value and target zone → a tone's pitch and loudness.

Two mappings, both silent when the value is missing (no sound is better than a
wrong one):

* ``"error"`` (balance, compensation limits): silent inside the tolerance (the
  dead zone); outside it pitch and loudness rise with the distance beyond the
  tolerance, saturating at ``full_scale``. This is the balance sonification of
  Chiari et al. 2005 (IEEE TBME 52:2108) and Dozza et al. 2007 (pitch and volume
  with a dead zone and a per-subject non-linear scaling: ``gamma`` < 1 makes
  small errors audible sooner).
* ``"level"`` (EMG activation, joint angle): pitch follows the value across
  ``[lo_range, hi_range]``; inside the target zone the tone is louder (the
  "in the zone" reward tone of clinical EMG biofeedback, e.g. BioGraph
  Infiniti), outside it quieter.

A mapping is plain data (a frozen dataclass); :meth:`Sonification.tone` is a
pure function. The audio sinks (:mod:`nmre.feedback.audio`) call it with each
new feedback state and synthesise the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nmre.core.model import SignalState
from nmre.errors import ConfigError, expected

__all__ = ["MODES", "Sonification"]

MODES = ("error", "level")


@dataclass(frozen=True, slots=True)
class Sonification:
    """How one watched signal sounds.

    Parameters
    ----------
    signal : str
        Name of the signal in ``FeedbackState.signals``.
    mode : {"error", "level"}
        See the module notes.
    full_scale : float or None
        ``"error"``: the error beyond the tolerance (signal unit) at which pitch and
        loudness saturate. Default: the width of the target zone, or the limit's
        magnitude for a one-sided zone.
    lo_range, hi_range : float or None
        ``"level"``: the value range mapped onto the pitch range. Default: the
        target zone widened by half its width on each side.
    dead_zone : (lo, hi) or None
        ``"error"``: the tolerance inside which the tone is silent. Default: the
        signal's own target zone (``SignalState.lo``/``hi``).
    f_low, f_high : float
        Pitch range, Hz (default 220–880 Hz: two octaves where hearing is most
        sensitive to pitch change and that small speakers reproduce).
    gamma : float
        Exponent of the normalised error (Dozza 2007's non-linear scaling); 1 is linear.
    amp_min, amp_max : float
        Loudness (0–1 of full scale) just outside the dead zone and at full scale;
        in ``"level"`` mode ``amp_max`` inside the target zone and ``amp_min`` outside.
    """

    signal: str
    mode: str = "error"
    full_scale: float | None = None
    lo_range: float | None = None
    hi_range: float | None = None
    dead_zone: tuple[float | None, float | None] | None = None
    f_low: float = 220.0
    f_high: float = 880.0
    gamma: float = 1.0
    amp_min: float = 0.15
    amp_max: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"sonification of {self.signal!r}: mode " + expected(f"one of {MODES}", self.mode)
            )
        if not (0 < self.f_low < self.f_high < 20000):
            raise ConfigError(
                f"sonification of {self.signal!r}: "
                + expected("0 < f_low < f_high < 20000 Hz", (self.f_low, self.f_high))
            )
        if not (0 < self.gamma <= 10):
            raise ConfigError(
                f"sonification of {self.signal!r}: gamma " + expected("0 < gamma <= 10", self.gamma)
            )
        if not (0 <= self.amp_min <= self.amp_max <= 1):
            raise ConfigError(
                f"sonification of {self.signal!r}: "
                + expected("0 <= amp_min <= amp_max <= 1", (self.amp_min, self.amp_max))
            )
        if self.full_scale is not None and not (math.isfinite(self.full_scale) and self.full_scale > 0):
            raise ConfigError(
                f"sonification of {self.signal!r}: full_scale " + expected("a number > 0", self.full_scale)
            )

    @classmethod
    def from_hints(cls, signal: str, hints: Mapping[str, Any]) -> Sonification:
        """Build from a drill file's sound table (keys as the parameters; unknown keys are an error)."""
        known = set(cls.__dataclass_fields__) - {"signal"}
        bad = sorted(set(hints) - known)
        if bad:
            raise ConfigError(
                f"sonification of {signal!r}: " + expected(f"keys among {', '.join(sorted(known))}", bad)
            )
        kw = dict(hints)
        if "dead_zone" in kw and kw["dead_zone"] is not None:
            kw["dead_zone"] = tuple(kw["dead_zone"])
        return cls(signal, **kw)

    def tone(self, state: SignalState | None) -> tuple[float, float]:
        """Pitch (Hz) and loudness (0–1) for the signal's current state; loudness 0 means silence."""
        if state is None or not math.isfinite(state.value):
            return self.f_low, 0.0
        if self.mode == "error":
            return self._error_tone(state)
        return self._level_tone(state)

    def _error_tone(self, s: SignalState) -> tuple[float, float]:
        lo, hi = self.dead_zone if self.dead_zone is not None else (s.lo, s.hi)
        if lo is None and hi is None:
            return self.f_low, 0.0
        v = s.value
        err = (lo - v) if (lo is not None and v < lo) else (v - hi) if (hi is not None and v > hi) else 0.0
        if err <= 0.0:
            return self.f_low, 0.0  # the dead zone: silence means on target
        scale = self.full_scale
        if scale is None:
            scale = (
                (hi - lo)
                if (lo is not None and hi is not None and hi > lo)
                else abs(hi if hi is not None else lo)
            )  # type: ignore[operator]
            scale = scale if scale and math.isfinite(scale) else 1.0
        e = min(1.0, err / scale) ** self.gamma
        freq = self.f_low * (self.f_high / self.f_low) ** e
        return freq, self.amp_min + (self.amp_max - self.amp_min) * e

    def _level_tone(self, s: SignalState) -> tuple[float, float]:
        lo_r, hi_r = self.lo_range, self.hi_range
        if lo_r is None or hi_r is None:
            if s.lo is not None and s.hi is not None and s.hi > s.lo:
                half = 0.5 * (s.hi - s.lo)
                lo_r = s.lo - half if lo_r is None else lo_r
                hi_r = s.hi + half if hi_r is None else hi_r
            else:
                ref = s.hi if s.hi is not None else s.lo
                lo_r = 0.0 if lo_r is None else lo_r
                hi_r = (2.0 * abs(ref) if ref else 1.0) if hi_r is None else hi_r
        x = 0.0 if hi_r <= lo_r else min(1.0, max(0.0, (s.value - lo_r) / (hi_r - lo_r)))
        freq = self.f_low * (self.f_high / self.f_low) ** x
        zone = s.in_zone
        return freq, self.amp_max if zone else self.amp_min

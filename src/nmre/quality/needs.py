"""What a rule needs from its data before it may judge: named defaults, each with its source."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from nmre.errors import ConfigError, expected

if TYPE_CHECKING:
    from nmre.quality.monitor import SpanQuality

__all__ = ["MAX_BAD", "MAX_GAP", "MAX_MISSING", "NEEDS_SOURCES", "QualityNeeds"]

#: Largest share of a span's samples that may be missing. At 10 % packet loss the knee
#: flexion peak of a squat is still measured within 1.5 deg of the truth (gap-bridged
#: orientation, docs/quality.md "loss curve"), well inside goniometric reliability (about 5 deg);
#: beyond it the error grows quickly and the loss is no longer incidental.
MAX_MISSING = 0.10
#: Largest share of a span's received samples that may be bad (non-finite, saturated, beyond full
#: scale, stuck) on the worst channel: a bad sample is replaced by the last good one (Guard), and
#: beyond 5 % the replaced stretch is long enough to shift a peak or a mean (docs/quality.md).
MAX_BAD = 0.05
#: Longest stretch without samples, s. The peak of a joint angle in a rep of 2-4 s stays within
#: 2 deg of its maximum for about 0.3 s (simulated and recorded squats, docs/quality.md), so a hole
#: longer than 0.25 s can hide it; sway metrics over a 5 s window lose 5 % of it.
MAX_GAP = 0.25

#: Where each default comes from (shown by ``nmre drills show`` and the docs).
NEEDS_SOURCES: Mapping[str, str] = {
    "max_missing": "measured depth error <= 1.5 deg at 10 % loss (docs/quality.md)",
    "max_bad": "replaced samples shift peaks and means beyond 5 % (docs/quality.md)",
    "max_gap": "a joint-angle peak lasts about 0.3 s (docs/quality.md)",
    "clock": "a stream whose sample times go backwards cannot be aligned with the others",
}


@dataclass(frozen=True)
class QualityNeeds:
    """Thresholds a rule's input must meet over a rep, hold or window to be judged.

    Parameters
    ----------
    max_missing : float
        Largest fraction of the nominal samples that may be missing (0-1).
    max_bad : float
        Largest fraction of received samples that may be bad, worst channel (0-1).
    max_gap : float
        Longest stretch without samples, seconds.
    clock : bool
        Require sample times that always advance.

    A drill file overrides any of them (``QualityNeeds.from_mapping``).
    """

    max_missing: float = MAX_MISSING
    max_bad: float = MAX_BAD
    max_gap: float = MAX_GAP
    clock: bool = True

    def __post_init__(self) -> None:
        for name in ("max_missing", "max_bad"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"quality needs: {name} " + expected("a fraction in [0, 1]", v))
        if (
            isinstance(self.max_gap, bool)
            or not isinstance(self.max_gap, (int, float))
            or not (self.max_gap > 0 and not math.isnan(self.max_gap))
        ):
            raise ConfigError("quality needs: max_gap " + expected("a number of seconds > 0", self.max_gap))
        if not isinstance(self.clock, bool):
            raise ConfigError("quality needs: clock " + expected("true or false", self.clock))

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], base: QualityNeeds | None = None) -> QualityNeeds:
        """Needs from a drill file's ``[quality]`` table (unknown keys are a ConfigError)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                "quality needs: " + expected(f"keys among {', '.join(sorted(names))}", ", ".join(unknown))
            )
        return replace(base or cls(), **dict(d))

    def shortfall(self, q: SpanQuality) -> str | None:
        """Why ``q`` falls short of these needs (words for the therapist), or ``None``."""
        why = []
        if q.fraction_missing > self.max_missing:
            why.append(f"{q.fraction_missing:.0%} of samples missing (limit {self.max_missing:.0%})")
        if q.longest_gap > self.max_gap:
            why.append(f"no samples for {q.longest_gap:.2f} s (limit {self.max_gap:g} s)")
        if q.fraction_bad > self.max_bad:
            reasons = ", ".join(k.replace("_", " ") for k in q.bad)
            ch = f" on {q.worst_channel}" if q.worst_channel else ""
            why.append(f"{q.fraction_bad:.0%} bad samples{ch} ({reasons}; limit {self.max_bad:.0%})")
        if self.clock and not q.clock_ok:
            why.append(f"{q.clock_faults} sample time(s) did not advance")
        return ", ".join(why) or None

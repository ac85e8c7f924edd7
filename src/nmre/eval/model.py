"""The records of the validity suite: tolerances, rules as eval sees them, true units, observations.

Everything here is plain, picklable data: cases run in worker processes and
send their observations back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COUNTED",
    "FAMILIES",
    "CaseFailure",
    "CaseResult",
    "Margin",
    "Observation",
    "RuleView",
    "Tolerance",
    "TruthUnit",
]

#: What a per-unit rule judges, in the contract's words (contract §2); ``event`` is a continuous rule. A
#: ``rest`` is the rest after a hold (the relaxation rule's unit); its events also name their ``hold``.
FAMILIES: tuple[str, ...] = ("rep", "hold", "rest", "transition", "window", "target", "event")
#: Families whose units the drill counts (a rest is the time between two holds, not a record of its own).
COUNTED: tuple[str, ...] = ("rep", "hold", "transition", "target")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """The therapist's tolerance of a rule: ``[lo, hi]``, either side open.

    A *relative* tolerance is a personal envelope (``hi = factor × baseline``, the
    patient's own first ``baseline_units`` units): its true limit is the factor
    times the true baseline, its measured limit the factor times the measured one.
    """

    lo: float | None = None
    hi: float | None = None
    factor: float | None = None
    baseline_units: int = 0

    @property
    def relative(self) -> bool:
        return self.factor is not None

    def resolved(self, baseline: float) -> Tolerance:
        """The absolute tolerance of a relative one, for a baseline value."""
        if self.factor is None:
            return self
        return Tolerance(lo=None, hi=self.factor * baseline)

    def side(self, value: float) -> int:
        """-1 below the band, +1 above it, 0 inside (``value`` finite)."""
        if self.lo is not None and value < self.lo:
            return -1
        if self.hi is not None and value > self.hi:
            return 1
        return 0

    def distance(self, value: float) -> float:
        """Signed distance from the nearest edge: > 0 outside by that much, < 0 inside, 0 on an edge."""
        if self.lo is not None and value < self.lo:
            return self.lo - value
        if self.hi is not None and value > self.hi:
            return value - self.hi
        inside = [
            d
            for d in (
                (value - self.lo) if self.lo is not None else None,
                (self.hi - value) if self.hi is not None else None,
            )
            if d is not None
        ]
        return -min(inside) if inside else -math.inf

    def describe(self, unit: str = "") -> str:
        u = f" {unit}" if unit and unit != "1" else ""
        if self.factor is not None:
            return f"<= {self.factor:g} x own baseline"
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g}-{self.hi:g}{u}"
        if self.lo is not None:
            return f">= {self.lo:g}{u}"
        if self.hi is not None:
            return f"<= {self.hi:g}{u}"
        return "any occurrence"


@dataclass(frozen=True, slots=True)
class Margin:
    """The rule's stated accuracy in the quantity's unit, and why that number."""

    value: float
    source: str


@dataclass(frozen=True, slots=True)
class RuleView:
    """One rule of one drill as the suite sees it.

    ``rule`` is the rule id (outcome events are ``rule.<rule>``); ``family`` is what
    it judges (:data:`FAMILIES`; ``event`` for a continuous rule such as a loss of
    balance); ``errors`` maps the side (-1 below, +1 above) to the movement-error
    label the rule and the simulator share.
    """

    drill: str
    rule: str
    quantity: str
    family: str
    unit: str
    tolerance: Tolerance
    margin: Margin
    errors: Mapping[int, str] = field(default_factory=dict)

    @property
    def continuous(self) -> bool:
        return self.family == "event"

    def to_dict(self) -> dict[str, Any]:
        t = self.tolerance
        return {
            "quantity": self.quantity,
            "family": self.family,
            "unit": self.unit,
            "tolerance": {"lo": t.lo, "hi": t.hi, "factor": t.factor, "text": t.describe(self.unit)},
            "margin": {"value": self.margin.value, "source": self.margin.source},
            "errors": {("below" if k < 0 else "above"): v for k, v in sorted(self.errors.items())},
        }


@dataclass(frozen=True, slots=True)
class TruthUnit:
    """What the simulated body really did in one rep / hold / transition / window / target."""

    family: str
    index: int
    start: float
    end: float
    quantities: Mapping[str, float]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule's verdict on one true unit of one case (or a verdict no true unit explains).

    ``verdict``: ``ok``, ``below``/``above`` (a correction on that side), ``other`` (a
    correction that is neither, e.g. "check the sensors"), ``unjudged``, ``missing``
    (the unit was not detected, or the rule gave no outcome for it). ``true_value`` is
    ``nan`` for a spurious verdict (a detected unit that matches no true one).
    ``true_side``/``distance`` compare the true value with the true tolerance.
    ``latency`` is the verdict's ``detected_at`` minus the end of the true unit
    (continuous rules: minus the time the error started), s; ``deadline`` whether it
    came before the next unit started. For continuous rules ``verdict`` is ``above``
    (detected) or ``missing`` and ``measured`` the detected time.
    """

    case: int
    rule: str
    unit: int
    true_value: float
    measured: float
    verdict: str
    true_side: int
    distance: float
    latency: float = math.nan
    deadline: bool | None = None
    reason: str = ""
    lo: float | None = None  # the tolerance the rule judged with (a personal envelope: its measured value)
    hi: float | None = None
    true_lo: float | None = None  # the true tolerance (differs from lo/hi only for personal envelopes)
    true_hi: float | None = None

    @property
    def flagged(self) -> bool:
        return self.verdict in ("below", "above", "other")

    @property
    def judged(self) -> bool:
        return self.verdict in ("ok", "below", "above", "other")

    @property
    def spurious(self) -> bool:
        return not math.isfinite(self.true_value) and self.unit < 0


@dataclass(frozen=True, slots=True)
class CaseFailure:
    """A case that raised: reported with its seed, never hidden."""

    case: int
    name: str
    seed: int
    error: str


@dataclass(slots=True)
class CaseResult:
    """Everything one case produced."""

    case: int
    duration: float
    observations: list[Observation]
    counts: dict[str, tuple[int, int, int]]  # family -> (true, detected, matched)
    rules: list[RuleView]
    failure: CaseFailure | None = None
    wall: float = 0.0

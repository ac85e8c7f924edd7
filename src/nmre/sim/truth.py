"""Ground truth: what the simulated subject really did. An output, never read by detectors.

One :class:`TruthRecord` per rep / hold / transition / window / target, with its
span, the injected errors (label → severity, in the unit of the error's
quantity) and the true value of every quantity a rule can measure
(``quantities``, names and units in :data:`nmre.sim.catalogue.QUANTITIES`;
how each is computed: ``docs/simulator.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Episode", "GroundTruth", "RepTruth", "TruthRecord", "WindowTruth"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Mapping):
        return {k: _plain(v) for k, v in x.items()}
    return x


# old attribute names of the squat and stance records -> quantity or time names
_LEGACY = {
    "peak_knee_flexion_deg": "knee_flexion_peak",
    "peak_trunk_lean_deg": "trunk_lean_peak",
    "peak_valgus_deg": "knee_valgus_peak",
    "peak_hip_flexion_deg": "hip_flexion_peak",
    "vmo_vl_onset_ms": "vmo_vl_onset_lag",
}
_LEGACY_TIMES = {"bottom", "vl_onset", "vmo_onset", "touchdown"}
_LEGACY_INFO = {"sway_scale", "pelvis_acc_rms", "sway_rms_mm", "peak_trunk_tilt_deg"}


@dataclass(frozen=True)
class TruthRecord:
    """One rep, hold, transition, window or target.

    Attributes
    ----------
    kind : str
        ``"rep"``, ``"hold"``, ``"transition"``, ``"window"`` or ``"target"``.
    index : int
        0-based position among the records of its kind.
    start, end : float
        Span, session seconds.
    errors : mapping of str to float
        Injected error label → severity (the true value of the error's quantity; for
        ``loss_of_balance`` the touchdown time). Iterating gives the labels.
    quantities : mapping of str to float
        True quantity name → value in the quantity's unit.
    label : str or None
        What kind of record it is beyond ``kind``: a transition's direction
        (``"sit_to_stand"``/``"stand_to_sit"``), a target's direction (``"forward"``,
        ``"forward_right"`` ...), a stance window's condition (``"ec_foam"`` ...).
    times : mapping of str to float
        Named instants inside the record (``bottom``, ``vl_onset``, ``onset``, ``cue``, ``touchdown`` ...).
    info : mapping of str to float
        Other true values that are not rule quantities (for tests and plots).
    """

    kind: str
    index: int
    start: float
    end: float
    errors: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    quantities: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    label: str | None = None
    times: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    info: Mapping[str, float] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        for name in ("errors", "quantities", "times", "info"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    def __getattr__(self, name: str) -> Any:
        # the names of the first squat/stance records stay readable
        q = _LEGACY.get(name)
        if q is not None and q in self.quantities:
            return self.quantities[q]
        if name in _LEGACY_TIMES:
            return self.times.get(name, math.nan)
        if name in _LEGACY_INFO and name in self.info:
            return self.info[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TruthRecord):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.index, self.start, self.end))

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite floats become ``None``)."""
        return _plain(  # type: ignore[no-any-return]
            {
                "kind": self.kind,
                "index": self.index,
                "start": self.start,
                "end": self.end,
                "label": self.label,
                "errors": dict(self.errors),
                "quantities": dict(self.quantities),
                "times": dict(self.times),
                "info": dict(self.info),
            }
        )


#: Old names: every record is a :class:`TruthRecord`.
RepTruth = TruthRecord
WindowTruth = TruthRecord


@dataclass(frozen=True, slots=True)
class Episode:
    """An injected error over a span of time (stances): label, start, end (s) and severity."""

    label: str
    start: float
    end: float
    severity: float

    def to_dict(self) -> dict[str, Any]:
        return _plain({"label": self.label, "start": self.start, "end": self.end, "severity": self.severity})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class GroundTruth:
    """Ground truth of a simulated session.

    ``records`` holds every record in time order; ``reps``, ``holds``,
    ``transitions``, ``windows`` and ``targets`` are those of one kind.
    ``episodes`` are the injected error spans of movements in time (stances);
    ``artifacts`` the electrode motion artefacts added (stream, channel, time, mV).
    """

    exercise: str
    duration: float
    records: tuple[TruthRecord, ...] = ()
    episodes: tuple[Episode, ...] = ()
    conditions: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    subject: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    artifacts: tuple[tuple[str, str, float, float], ...] = ()

    def of(self, kind: str) -> tuple[TruthRecord, ...]:
        """The records of ``kind``."""
        return tuple(r for r in self.records if r.kind == kind)

    @property
    def reps(self) -> tuple[TruthRecord, ...]:
        return self.of("rep")

    @property
    def holds(self) -> tuple[TruthRecord, ...]:
        return self.of("hold")

    @property
    def transitions(self) -> tuple[TruthRecord, ...]:
        return self.of("transition")

    @property
    def windows(self) -> tuple[TruthRecord, ...]:
        return self.of("window")

    @property
    def targets(self) -> tuple[TruthRecord, ...]:
        return self.of("target")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite floats become ``None``)."""
        out: dict[str, Any] = {
            "exercise": self.exercise,
            "duration": self.duration,
            "conditions": _plain(dict(self.conditions)),
            "subject": _plain(dict(self.subject)),
            "records": [r.to_dict() for r in self.records],
            "episodes": [e.to_dict() for e in self.episodes],
            "artifacts": [list(a) for a in self.artifacts],
        }
        for kind in ("rep", "window"):  # the first consumers read these keys
            out[kind + "s"] = [r.to_dict() for r in self.records if r.kind == kind]
        return out

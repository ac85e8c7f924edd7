"""From a suite case to a simulated session: configuration, kit, conditions, and the truth to score against.

This is the one module that knows how the simulator is configured. It turns a
:class:`~nmre.eval.cases.Case` into a session the engine can run, with the true
units (reps, holds, windows, ...) in the contract's quantity names (contract §2).

Error severities are drawn **across each rule's tolerance**: uniform over the
tolerance edge ± 3 margins, clipped to what the body model can realise
(:data:`nmre.sim.ERRORS` limits), one error per record, so verdicts are tried where
they are hard and not only at one value either side. For a personal envelope
(sway: a factor of the patient's own baseline) the factor is drawn across the
rule's factor and the severity is that factor times the subject's true baseline
(read from the same session without the error). Error labels only tell the
simulator what to do; scoring reads the true values.

Subjects are the simulator's (``Subject.draw(seed)``), with the low-level EMG
pre-activity before bursts that issue 7.8 asks the simulator to model
(:data:`PRE_ACTIVITY`); every IMU is strapped on rotated by up to
:data:`MAX_STRAP_DEG`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmre.core.model import StreamInfo, StreamKind
from nmre.eval.cases import Case, case_rng
from nmre.eval.model import RuleView, TruthUnit

__all__ = [
    "DROPOUT_SECONDS",
    "MAX_STRAP_DEG",
    "PRE_ACTIVITY",
    "Session",
    "build_session",
    "kit_streams",
    "movement_of",
    "supports",
]

#: Length of the sensor dropout of the ``dropout`` group, s.
DROPOUT_SECONDS = 2.0
#: Length of a balance trial, s.
STANCE_SECONDS = 40.0
#: Largest strap rotation of a sensor on its segment, deg (issue 9.2).
MAX_STRAP_DEG = 15.0
#: Largest low-level EMG pre-activity before a burst, fraction of maximal (the simulator's "typical" 0.02).
PRE_ACTIVITY = 0.02
#: Electrode motion artefacts per minute on every EMG stream in the ``motion`` group.
MOTION_PER_MINUTE = 6.0
#: Names of a configuration's record count, in the order they are looked for.
_COUNTS = ("reps", "holds", "transitions", "targets", "cycles")


@dataclass
class Session:
    """A simulated session ready to run, and what really happened in it."""

    sim: Any
    streams: list[StreamInfo]
    units: dict[str, list[TruthUnit]]
    events: dict[str, list[float]]  # quantity -> true times of a continuous error (loss of balance)
    window_truth: Callable[[float, float], dict[str, float]] | None = None
    dropout: tuple[str, float, float] | None = None  # stream id, start, end
    injected: dict[str, Any] = field(default_factory=dict)


def supports(group: str) -> bool:
    """Whether the simulator can produce the conditions of ``group`` (all of issue 9.2's, since simulator v2)."""
    return True


def movement_of(drill: str) -> str:
    """The simulator movement a drill trains (its file's ``movement``)."""
    from nmre.drills import load_drill

    return str(load_drill(drill).movement)


def _config_class(drill: str) -> Any:
    from nmre.errors import ConfigError
    from nmre.sim import MOVEMENTS

    movement = movement_of(drill)
    if movement not in MOVEMENTS:
        raise ConfigError(
            f"eval: drill {drill!r} trains movement {movement!r}, which the simulator does not perform "
            f"(it performs {', '.join(MOVEMENTS)})"
        )
    return MOVEMENTS[movement]


def kit_streams(drill: str, kit: str = "full") -> list[StreamInfo]:
    """The streams of the simulator's ``kit`` for ``drill``'s movement (no data is generated)."""
    from nmre.sim.kit import stream_infos
    from nmre.sim.movements import movement_class

    cls = _config_class(drill)
    move = movement_class(cls())
    sensors = move.full_kit("r") if kit == "full" else move.minimal_kit("r")
    return stream_infos(sensors, 100.0, 2000.0)


# -- severities ---------------------------------------------------------------------------------------
def _edges(rules: Sequence[RuleView]) -> dict[str, tuple[RuleView, int]]:
    """Error label -> (the rule that names it, the side of its tolerance)."""
    out: dict[str, tuple[RuleView, int]] = {}
    for r in rules:
        for side, label in r.errors.items():
            out.setdefault(label, (r, side))
    return out


def _across(rng: np.random.Generator, rule: RuleView, side: int, limits: tuple[float, float]) -> float | None:
    """A severity uniform over the rule's tolerance edge +/- 3 margins, clipped to ``limits`` (None: no edge)."""
    t = rule.tolerance
    edge = t.lo if side < 0 else t.hi
    if edge is None:
        return None
    m = rule.margin.value
    span = 3.0 * m if m > 0 else max(abs(edge) * 0.3, 1.0)
    lo, hi = max(edge - span, limits[0]), min(edge + span, limits[1])
    if lo >= hi:
        return float(np.clip(edge, *limits))
    return float(rng.uniform(lo, hi))


def _count(cfg: Any) -> int:
    for name in _COUNTS:
        n = getattr(cfg, name, None)
        if isinstance(n, int) and not isinstance(n, bool):
            return n
    return 8


def _demonstrated(drill: str) -> int:
    """Records at the start of a session that calibrate the drill and are done right: the ``template`` step's
    first rep is the movement the therapist demonstrates or guides (docs/calibration.md), so it carries no error."""
    from nmre.drills import load_drill

    steps = [getattr(c, "step", c) for c in load_drill(drill).calibration]
    return 1 if "template" in steps else 0


def _schedule(drill: str, cls: Any) -> dict[str, Any]:
    """The drill's target schedule for a movement that follows one (limits of stability: the drill shows the
    targets, the body follows them, as a patient follows the screen); for a movement whose true
    ``rep_active_time`` is counted from a rest band, the drill's band (its segmenter's ``end``, which does
    not move the body); nothing for other movements."""
    from nmre.drills import rest_band, target_plan

    fields = {f.name for f in dataclasses.fields(cls)}
    band = rest_band(drill)
    if band is not None and "rest_band_deg" in fields:  # the true active time from the drill's rest band
        return {"rest_band_deg": band}
    plan = target_plan(drill)
    if not plan or "cues" not in fields:
        return {}
    rounds = -(-len(plan) // 8)
    cues = [t.cue for t in plan]
    while len(cues) < 8 * rounds:
        cues.append(cues[-1] + plan[-1].end - plan[-1].cue)
    return {"rounds": rounds, "cues": cues}


def _record_config(case: Case, cls: Any, rules: Sequence[RuleView]) -> tuple[Any, dict[str, Any]]:
    """A movement made of records: one error per record, its severity across the rule's tolerance."""
    from nmre.sim import ERRORS

    edges = _edges(rules)
    labels = [k for k in cls.error_labels if k in edges and not edges[k][0].tolerance.relative]
    cfg = cls(**_schedule(case.drill, cls))
    if case.clean or not labels:
        return cfg, {"errors": {}}
    rng = case_rng(case, "severity")
    n = len(cfg.cues) if getattr(cfg, "cues", ()) else _count(cfg)
    off = int(rng.integers(len(labels)))
    errors: dict[int, dict[str, float | None]] = {}
    for i in range(_demonstrated(case.drill), n):
        label = labels[(i + off) % len(labels)]
        rule, side = edges[label]
        errors[i] = {label: _across(rng, rule, side, ERRORS[label].limits)}
    return dataclasses.replace(cfg, errors=errors), {"errors": errors}


def _timed_config(
    case: Case, cls: Any, rules: Sequence[RuleView], common: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A stance: an episode of excessive sway across the envelope, and in half the sessions a loss of balance."""
    from nmre.sim import simulate

    base = cls(duration=STANCE_SECONDS)
    if case.clean:
        return base, {"errors": []}
    rng = case_rng(case, "severity")
    errors: list[tuple[Any, ...]] = []
    edges = _edges(rules)
    if "excessive_sway" in cls.error_labels and "excessive_sway" in edges:
        rule, _ = edges["excessive_sway"]
        start = float(rng.choice([15.0, 20.0]))
        severity: float | None = None
        t = rule.tolerance
        if t.relative and t.factor:
            # the subject's own quiet-stance sway over the windows the envelope is made of
            clean = simulate(base, **common).truth.windows[: max(1, t.baseline_units)]
            own = float(np.mean([w.quantities["sway_rms"] for w in clean]))
            factor = float(rng.uniform(1.0, 2.0 * t.factor - 1.0))
            severity = factor * own
        elif t.hi is not None:
            severity = _across(rng, rule, 1, (0.0, math.inf))
        errors.append(("excessive_sway", start, start + 10.0) + ((severity,) if severity else ()))
    if "loss_of_balance" in cls.error_labels and rng.uniform() < 0.5:
        errors.append(("loss_of_balance", 30.0, 34.0))
    return dataclasses.replace(base, errors=errors), {"errors": errors}


# -- truth --------------------------------------------------------------------------------------------
def _window_truth(sim: Any) -> Callable[[float, float], dict[str, float]]:
    """The simulator's sway truth over any span (the drill's own windows), by the simulator's definition.

    ``docs/simulator.md`` "Truth definitions": the sway sensor's noise-free specific
    force, tilt-corrected by its mean over the span, mean removed; ``sway_rms``,
    ``sway_path``, ``sway_area95`` of that, on the 100 Hz truth grid, half-open span.
    """
    from nmre.sim.movements.base import sway_metrics

    move = sim.movement

    def truth(start: float, end: float) -> dict[str, float]:
        t = move.grid(start, end)
        t = t[t < end - 1e-9]
        if t.shape[0] < 2:
            return {}
        return dict(sway_metrics(move.horizontal_force(t)))

    return truth


#: True quantities of the rest after a hold, which the simulator puts on the hold's record.
_REST_QUANTITIES = ("relax_level",)


def _units(sim: Any) -> dict[str, list[TruthUnit]]:
    out: dict[str, list[TruthUnit]] = {}
    for r in sim.truth.records:
        if r.kind == "window":  # a drill's windows are its own: truth comes per detected span
            continue
        out.setdefault(r.kind, []).append(
            TruthUnit(r.kind, r.index, r.start, r.end, dict(r.quantities), tuple(r.errors))
        )
        rest = {q: float(r.quantities[q]) for q in _REST_QUANTITIES if q in r.quantities}
        if r.kind == "hold" and rest and "rest_end" in r.times:
            # the rest after the hold: from the end of its release to the next rise (docs/simulator.md)
            errors = tuple(e for e in r.errors if e == "incomplete_relaxation")
            out.setdefault("rest", []).append(
                TruthUnit("rest", r.index, r.end, float(r.times["rest_end"]), rest, errors)
            )
    return out


def _events(sim: Any) -> dict[str, list[float]]:
    """True times of the errors continuous rules watch for (a touchdown: loss of balance)."""
    tds = [float(r.times["touchdown"]) for r in sim.truth.records if "touchdown" in r.times]
    return {"loss_of_balance": sorted(tds)} if tds else {}


def _dropout(streams: Sequence[StreamInfo], units: Mapping[str, list[TruthUnit]]) -> tuple[str, float, float]:
    """2 s without the first motion sensor (EMG for an EMG-only kit), in the middle of the 4th record (or at 16 s)."""
    motion = [s for s in streams if s.kind in (StreamKind.IMU, StreamKind.ACC, StreamKind.ANGLE)]
    sid = (motion or list(streams))[0].id
    recs = sorted((u for us in units.values() for u in us), key=lambda u: u.start)
    if len(recs) > 3:
        mid = 0.5 * (recs[3].start + recs[3].end)
        return sid, mid - 0.5 * DROPOUT_SECONDS, mid + 0.5 * DROPOUT_SECONDS
    return sid, 16.0, 16.0 + DROPOUT_SECONDS


def build_session(case: Case, rules: Sequence[RuleView]) -> Session:
    """Simulate ``case``; ``rules`` are the drill's rules (their tolerances place the severities)."""
    from nmre.sim import Subject, simulate

    cls = _config_class(case.drill)
    common: dict[str, Any] = {
        "seed": case.seed,
        "kit": case.kit,
        "subject": Subject.draw(case.seed, pre_activity_max=PRE_ACTIVITY),
        "noise": case.noise,
        "strap_deg": MAX_STRAP_DEG,
        "mains_hz": 50 if case.mains else None,
        "motion_artifacts": MOTION_PER_MINUTE if case.motion else 0.0,
    }
    if cls.record == "window":
        cfg, injected = _timed_config(case, cls, rules, common)
    else:
        cfg, injected = _record_config(case, cls, rules)
    sim = simulate(cfg, **common)
    units = _units(sim)
    window_truth = _window_truth(sim) if any(r.family == "window" for r in rules) else None
    drop = _dropout(sim.streams, units) if case.dropout else None
    return Session(sim, list(sim.streams), units, _events(sim), window_truth, drop, injected)

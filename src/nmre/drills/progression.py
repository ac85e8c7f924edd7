"""Criterion-based progression: after each set, advance a level, stay, or step back, with the reason in words.

A set is ``structure.per_set`` units (reps, holds, windows, ...). For each
unit the node gathers the rules' outcomes: on target when every check was on
target, not on target when any failed, not judged when nothing could be
judged (those do not count either way). Loss-of-balance and other moment
outcomes count as errors of the set they fall in.

After the last unit of a set (at the first block after it when no rule still
owes that unit's verdict, :meth:`nmre.rules.Rule.owes`) it raises ``set.end`` with the set's summary and
``progression.suggestion`` with the decision, from the drill file's criteria
(:class:`nmre.drills.spec.Criterion`): step back when any step-back criterion
is met, advance when every advance criterion is met, else stay; never past
the first or the last level. The therapist decides; the patient is told nothing.

A set stopped part-way (the therapist pressed stop, a replay ran out, a demo
ran fewer reps than ``per_set``): when the engine finishes the session
(:meth:`nmre.engine.Node.finish`) the set is closed as it stands, with
``partial: true``, ``per_set`` and, when a unit was still open, ``unfinished``
(not counted). The criteria are read on the units done. A partial set may show
a step back (units off target are evidence however few were done), but it never
advances a level: the file's criteria are over whole sets, so an advance met on
part of one is reported and the suggestion is to stay. A stop with no unit done
in the current set ends nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo
from nmre.engine.nodes import Node
from nmre.rules.base import Episodes, Rule

if TYPE_CHECKING:
    from nmre.drills.spec import Criterion, DrillSpec

__all__ = ["Progression", "SetSummary", "decide"]


@dataclass
class SetSummary:
    """One set: units done, on target, not on target, not judged, and error counts (units with each error)."""

    set: int
    units: int = 0
    on_target: int = 0
    off_target: int = 0
    unjudged: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: The set was stopped before its ``per_set`` units were done.
    partial: bool = False

    @property
    def fraction(self) -> float | None:
        judged = self.on_target + self.off_target
        return self.on_target / judged if judged else None

    def to_dict(self) -> dict[str, Any]:
        f = self.fraction
        return {
            "set": self.set,
            "units": self.units,
            "on_target": self.on_target,
            "off_target": self.off_target,
            "unjudged": self.unjudged,
            "fraction_on_target": None if f is None else round(f, 3),
            "errors": dict(sorted(self.errors.items())),
            "partial": self.partial,
        }


def _met(c: Criterion, history: Sequence[SetSummary]) -> tuple[bool, str]:
    """Whether criterion ``c`` holds in each of the last ``c.sets`` sets, and the evidence in words."""
    if len(history) < c.sets:
        return False, f"only {len(history)} set(s) so far, {c.sets} needed"
    parts, ok = [], True
    for s in history[-c.sets :]:
        if c.metric == "on_target":
            f = s.fraction
            if f is None:
                ok = False
                parts.append(f"set {s.set}: nothing judged")
                continue
            hit = f >= c.at_least if c.at_least is not None else f < (c.below or 0.0)
            parts.append(f"set {s.set}: {s.on_target} of {s.on_target + s.off_target} on target")
        else:
            n = s.errors.get(c.error or "", 0)
            hit = n >= c.at_least if c.at_least is not None else n < (c.below or 0.0)
            parts.append(f"set {s.set}: {n} x {c.error}")
        ok = ok and hit
    return ok, "; ".join(parts)


def decide(
    advance: Sequence[Criterion],
    step_back: Sequence[Criterion],
    history: Sequence[SetSummary],
    level: int,
    top: int,
) -> tuple[str, int, str]:
    """(decision, next level, reason) after the last set of ``history`` at ``level`` of ``top`` levels."""
    for c in step_back:
        hit, why = _met(c, history)
        if hit:
            if level <= 1:
                return (
                    "stay",
                    level,
                    f"step-back criterion met ({c.describe()}: {why}), but this is the first level",
                )
            return "step_back", level - 1, f"step back to level {level - 1}: {c.describe()} ({why})"
    reasons = []
    for c in advance:
        hit, why = _met(c, history)
        if not hit:
            return "stay", level, f"stay at level {level}: not yet {c.describe()} ({why})"
        reasons.append(f"{c.describe()} ({why})")
    if not advance:
        return "stay", level, f"stay at level {level}: no advance criterion in the drill"
    if level >= top:
        return "stay", level, f"advance criteria met ({'; '.join(reasons)}), and this is the last level"
    return "advance", level + 1, f"advance to level {level + 1}: " + "; ".join(reasons)


class Progression(Node):
    """Counts units per set and raises ``set.end`` and ``progression.suggestion`` after each set."""

    def __init__(
        self,
        spec: DrillSpec,
        level: int,
        episodes: Episodes,
        clock_stream: str,
        rules: Sequence[Rule] = (),
    ) -> None:
        self.name = "progression"
        self.spec, self.level, self.episodes = spec, level, episodes
        self.rules = list(rules)  # a set closes once none of them owes a verdict of its last unit
        self.per_set = spec.structure.per_set
        self.inputs = (clock_stream,)
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        return []

    def reset(self) -> None:
        self.history: list[SetSummary] = []
        self._set = SetSummary(1)
        self._unit: dict[Any, dict[str, bool]] = {}  # unit index -> {"fail": .., "judged": ..}
        self._closing = False
        self._open = False  # a unit started and not yet ended
        self._last_time = 0.0
        self._events: list[Event] = []

    def takes_event(self, kind: str) -> bool:
        ep = self.episodes
        return (
            kind == ep.end
            or kind == ep.start
            or kind == ep.rejected
            or kinds.is_outcome(kind)
            or kind == kinds.UNJUDGED.get(ep.unit)
        )

    def on_event(self, event: Event) -> None:
        unit = self.episodes.unit
        if event.source == self.episodes.source:
            if event.kind == self.episodes.end:
                if self._closing:  # the next set's first unit ended while a verdict was still owed
                    self._close(self._last_time)
                self._open = False
                self._set.units += 1
                self._last_time = event.time
                if self._set.units >= self.per_set:
                    self._closing = True
                return
            if event.kind == self.episodes.start:
                self._open = True
            elif event.kind == self.episodes.rejected:
                self._open = False
        if kinds.is_outcome(event.kind) and isinstance(event.payload.get("ok"), bool):
            idx = event.payload.get(unit, None) if unit in event.payload else None
            if idx is None:  # a moment outcome (loss of balance): an error of this set
                if not event.payload["ok"] and event.payload.get("error"):
                    self._set.errors[str(event.payload["error"])] += 1
                return
            u = self._unit.setdefault(idx, {"fail": False, "judged": False})
            u["judged"] = True
            if not event.payload["ok"]:
                u["fail"] = True
                if event.payload.get("error"):
                    u.setdefault(str(event.payload["error"]), True)
        elif event.kind == kinds.UNJUDGED.get(unit):
            self._unit.setdefault(event.payload.get(unit), {"fail": False, "judged": False})

    def push(self, block: Block) -> list[Block]:
        if self._closing and not any(r.owes() for r in self.rules):
            self._close(self._last_time)
        return []

    def finish(self, time: float) -> None:
        """The session ended: close a full set still waiting for its next block, or the partial set."""
        if self._closing:
            self._close(self._last_time)
        elif self._set.units:
            self._close(time, partial=True)

    def _close(self, time: float, partial: bool = False) -> None:
        self._closing = False
        s = self._set
        s.partial = partial
        for u in self._unit.values():
            if not u["judged"]:
                s.unjudged += 1
            elif u["fail"]:
                s.off_target += 1
            else:
                s.on_target += 1
            for k in u:
                if k not in ("fail", "judged"):
                    s.errors[k] += 1
        s.unjudged += max(0, s.units - len(self._unit))  # units no rule spoke about
        self.history.append(s)
        decision, nxt, reason = decide(
            self.spec.progression.advance,
            self.spec.progression.step_back,
            self.history,
            self.level,
            len(self.spec.levels),
        )
        unit = self.episodes.unit
        summary: dict[str, Any] = {**s.to_dict(), "level": self.level}
        said = (
            f"set {s.set} at level {self.level}: {s.on_target} of {s.on_target + s.off_target} "
            f"{unit}s on target" + (f", {s.unjudged} not judged" if s.unjudged else "")
        )
        if partial:
            summary["per_set"] = self.per_set
            stopped = f"set {s.set} stopped after {s.units} of {self.per_set} {unit}s"
            if self._open:
                summary["unfinished"] = 1
                stopped += f" (one {unit} under way, not counted)"
            said = f"{said} ({stopped[len(f'set {s.set} ') :]})"
            if decision == "advance":
                decision, nxt = "stay", self.level
                reason = (
                    f"stay at level {self.level}: {stopped}; the advance criteria were met on what was done "
                    f"({reason.split(': ', 1)[1]}), but advancing needs whole sets"
                )
            else:
                reason = f"{stopped}; {reason}"
        self._events.append(Event(time, kinds.SET_END, self.name, summary, therapist_message=said))
        self._events.append(
            Event(
                time,
                kinds.PROGRESSION_SUGGESTION,
                self.name,
                {
                    "set": s.set,
                    "level": self.level,
                    "decision": decision,
                    "next_level": nxt,
                    "reason": reason,
                    "partial": partial,
                },
                therapist_message=reason,
            )
        )
        self._set = SetSummary(s.set + 1)
        self._unit = {}

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

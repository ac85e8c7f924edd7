"""What a session's events add up to: reps with their checks, per-rule tallies, one flat row of metrics.

Everything here is a plain function of the events (the recorded ones, or a
replay's), so the store, the reports, the archive table and the what-if
comparison read a session the same way.

An *outcome* is a rule event (``rule.<id>``) with a boolean ``ok``; it belongs to
a rep (payload ``rep``), or to a window/hold/transition/target (payload
``window``, ... or a ``start``/``end`` span). An *unjudged* event (``rep.unjudged``,
``balance.unjudged``, ...) says a span was not judged and why; it is never an error.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nmre.core import kinds
from nmre.core.model import Event

__all__ = ["Outcome", "RepRow", "flat", "is_unjudged", "outcomes", "rep_rows", "session_metrics", "span_key"]

#: Payload keys that name the unit an outcome judges, in the order they are looked for.
_UNITS = ("rep", "hold", "transition", "target", "window")


def is_unjudged(e: Event) -> bool:
    """``rep.unjudged``, ``window.unjudged``, ``balance.unjudged`` ...: a span that was not judged."""
    return e.kind.endswith(".unjudged")


@dataclass(frozen=True)
class Outcome:
    """One rule outcome, reduced to what a comparison or a report needs."""

    rule: str  # the rule id (event kind without "rule.")
    unit: str  # "rep", "window", ...
    index: Any  # rep number, window start ...
    ok: bool
    value: float | None
    value_unit: str
    error: str | None
    time: float
    lo: float | None = None
    hi: float | None = None
    message: str | None = None
    therapist: str | None = None


def span_key(e: Event) -> tuple[str, Any]:
    """Which rep/window/... an outcome or unjudged event belongs to: ``("rep", 3)``, ``("window", 15.0)``."""
    p = e.payload
    for u in _UNITS:
        if u in p and p[u] is not None:
            return u, p[u]
    if "start" in p and p["start"] is not None:
        return "window", round(float(p["start"]), 3)
    return "time", round(e.time, 3)


def outcomes(events: Iterable[Event]) -> list[Outcome]:
    """The rule outcomes among ``events``, in order."""
    out = []
    for e in events:
        if not (e.kind.startswith(kinds.RULE) and isinstance(e.payload.get("ok"), bool)):
            continue
        unit, index = span_key(e)
        p = e.payload
        v = p.get("value")
        out.append(
            Outcome(
                rule=e.kind[len(kinds.RULE) :],
                unit=unit,
                index=index,
                ok=bool(p["ok"]),
                value=float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None,
                value_unit=str(p.get("unit") or ""),
                error=p.get("error"),
                time=e.time,
                lo=p.get("lo"),
                hi=p.get("hi"),
                message=e.patient_message,
                therapist=e.therapist_message,
            )
        )
    return out


@dataclass
class RepRow:
    """One rep (or window): when, its checks, what the patient was told, what was not judged."""

    unit: str
    index: Any
    start: float | None
    end: float | None
    checks: dict[str, Outcome] = field(default_factory=dict)
    cues: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool | None:
        if not self.checks:
            return None
        return all(c.ok for c in self.checks.values())

    @property
    def errors(self) -> list[str]:
        return sorted({c.error for c in self.checks.values() if not c.ok and c.error})


def rep_rows(events: Sequence[Event]) -> list[RepRow]:
    """Reps (from ``rep.end``) and windows (from their outcomes) with their checks, cues and unjudged reasons."""
    rows: dict[tuple[str, str], RepRow] = {}

    def row(unit: str, index: Any) -> RepRow:
        k = (unit, str(index))
        if k not in rows:
            rows[k] = RepRow(unit, index, None, None)
        return rows[k]

    last: RepRow | None = None
    for e in events:
        p = e.payload
        if e.kind == kinds.REP_END and "rep" in p:
            r = row("rep", p["rep"])
            r.start, r.end = _num(p.get("start")), _num(p.get("end", e.time))
            last = r
        elif e.kind.startswith(kinds.RULE) and isinstance(p.get("ok"), bool):
            (o,) = outcomes([e])
            r = row(o.unit, o.index)
            r.checks[o.rule] = o
            if r.start is None and "start" in p:
                r.start, r.end = _num(p.get("start")), _num(p.get("end", e.time))
            last = r
        elif is_unjudged(e):
            unit, index = span_key(e)
            r = row(unit, index)
            r.unjudged.append(str(p.get("reason") or e.therapist_message or "not judged"))
            if r.start is None and "start" in p:
                r.start, r.end = _num(p.get("start")), _num(p.get("end", e.time))
        elif e.kind == kinds.FEEDBACK_CUE and last is not None:
            last.cues.append(e.patient_message or "")
    return list(rows.values())


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def session_metrics(events: Sequence[Event]) -> dict[str, Any]:
    """One flat row of a session's metrics (JSON and table friendly: str, int, float or None).

    ``reps``, ``outcomes``, ``outcomes_ok``, ``unjudged``, ``cues``, and per rule
    ``<rule>.n``, ``<rule>.ok``, ``<rule>.mean``, ``<rule>.min``, ``<rule>.max``
    (of its values), per error label ``error.<label>`` (how many outcomes had it).
    """
    outs = outcomes(events)
    reps = sum(1 for e in events if e.kind == kinds.REP_END)
    m: dict[str, Any] = {
        "reps": reps,
        "outcomes": len(outs),
        "outcomes_ok": sum(1 for o in outs if o.ok),
        "unjudged": sum(1 for e in events if is_unjudged(e)),
        "cues": sum(1 for e in events if e.kind == kinds.FEEDBACK_CUE),
    }
    by_rule: dict[str, list[Outcome]] = defaultdict(list)
    for o in outs:
        by_rule[o.rule].append(o)
    for rule in sorted(by_rule):
        group = by_rule[rule]
        vals = [o.value for o in group if o.value is not None]
        m[f"{rule}.n"] = len(group)
        m[f"{rule}.ok"] = sum(1 for o in group if o.ok)
        m[f"{rule}.mean"] = round(sum(vals) / len(vals), 4) if vals else None
        m[f"{rule}.min"] = min(vals) if vals else None
        m[f"{rule}.max"] = max(vals) if vals else None
    errors = Counter(o.error for o in outs if not o.ok and o.error)
    for label in sorted(errors):
        m[f"error.{label}"] = errors[label]
    return m


def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (for a table row)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out

"""Pairing a session's verdicts with what the body did: one :class:`Observation` per rule and true unit.

Detected units (``rep.end`` and the other ``<family>.end`` events, or the span a
window outcome carries) are matched to true units by time overlap: a pair
needs an overlap of at least :data:`MIN_OVERLAP` of the shorter of the two
spans, and each unit is matched at most once (largest overlaps first). A rule's
verdict on a detected unit is then the verdict on the true unit it matched.
A verdict on a detected unit that matches no true unit is *spurious* (a
correction there is a false alarm); a true unit nothing matched is *missing*.

Continuous rules (a loss of balance) are matched to the true event times: a
detection from :data:`EVENT_WINDOW` [0] s before to [1] s after the true time
is that event's; latency is ``detected_at`` minus the true time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nmre.core.model import Event
from nmre.eval.model import COUNTED, FAMILIES, Observation, RuleView, Tolerance, TruthUnit

__all__ = ["EVENT_WINDOW", "MIN_OVERLAP", "score"]

#: Smallest overlap of a detected and a true unit, as a fraction of the shorter span.
MIN_OVERLAP = 0.5
#: A continuous detection belongs to a true event from 0.5 s before it to 2 s after.
EVENT_WINDOW = (0.5, 2.0)
_UNJUDGED_SUFFIX = ".unjudged"


def _rule_id(kind_or_id: Any) -> str:
    s = str(kind_or_id)
    return s[5:] if s.startswith("rule.") else s


def _family_key(payload: Mapping[str, Any], family: str | None = None) -> tuple[str, int] | None:
    """The unit an event belongs to: ``family``'s index in the payload when the event says which family it
    is about (a rest's events also carry their cycle's ``hold``), else the first family the payload names."""
    for f in (family,) if family in FAMILIES else FAMILIES:
        v = payload.get(f)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return f, int(v)
    return None


def _span(payload: Mapping[str, Any]) -> tuple[float, float] | None:
    s, e = payload.get("start"), payload.get("end")
    if isinstance(s, (int, float)) and isinstance(e, (int, float)) and math.isfinite(s) and math.isfinite(e):
        return float(s), float(e)
    return None


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _match(true: Sequence[TruthUnit], detected: Mapping[Any, tuple[float, float]]) -> dict[Any, int]:
    """Detected key -> index into ``true``, greedy by overlap."""
    pairs = []
    for key, span in detected.items():
        for i, u in enumerate(true):
            ov = _overlap(span, (u.start, u.end))
            shorter = min(span[1] - span[0], u.end - u.start)
            if ov > 0 and ov >= MIN_OVERLAP * shorter:
                pairs.append((ov, key, i))
    pairs.sort(key=lambda p: (-p[0], str(p[1]), p[2]))
    out: dict[Any, int] = {}
    used: set[int] = set()
    for _, key, i in pairs:
        if key in out or i in used:
            continue
        out[key] = i
        used.add(i)
    return out


def _verdict(rule: RuleView, ev: Event) -> str:
    p = ev.payload
    if p.get("ok"):
        return "ok"
    err = p.get("error")
    for side, label in rule.errors.items():
        if err == label:
            return "below" if side < 0 else "above"
    v, lo, hi = p.get("value"), p.get("lo"), p.get("hi")
    if err is None and isinstance(v, (int, float)):  # no label: the side the value fell on
        if lo is not None and v < lo:
            return "below"
        if hi is not None and v > hi:
            return "above"
    return "other"


def _measured(ev: Event) -> float:
    v = ev.payload.get("value")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def score(
    case: int,
    rules: Sequence[RuleView],
    units: Mapping[str, list[TruthUnit]],
    true_events: Mapping[str, list[float]],
    events: Sequence[Event],
    window_truth: Callable[[float, float], dict[str, float]] | None = None,
) -> tuple[list[Observation], dict[str, tuple[int, int, int]]]:
    """Observations of every rule in one session, and per family (true, detected, matched) unit counts."""
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    windows: dict[tuple[str, int], tuple[float, float]] = {}
    outcomes: dict[str, dict[tuple[str, int], Event]] = {r.rule: {} for r in rules}
    unjudged: dict[str, dict[tuple[str, int], Event]] = {r.rule: {} for r in rules}
    flags: dict[str, list[Event]] = {r.rule: [] for r in rules}
    by_id = {r.rule: r for r in rules}

    def key_of(ev: Event, family: str | None = None) -> tuple[str, int] | None:
        k = _family_key(ev.payload, family)
        sp = _span(ev.payload)
        if (k is None or k[0] == "window") and sp is not None:  # a window outcome: its span is its identity
            k = ("window", round(sp[1] * 1000))
            windows.setdefault(k, sp)
        return k

    for ev in events:
        fam, _, tail = ev.kind.partition(".")
        if tail == "end" and fam in FAMILIES:
            k, sp = _family_key(ev.payload, fam), _span(ev.payload)
            if k is not None and sp is not None:
                spans[k] = sp
        elif ev.kind.endswith(".window") and "window" in ev.payload and fam not in FAMILIES:
            # a processor's analysis window (sway.window): a unit of the window rules
            sp = _span(ev.payload)
            start = sp[0] if sp is not None else ev.time - float(ev.payload["window"])
            end = sp[1] if sp is not None else ev.time
            windows.setdefault(("window", round(end * 1000)), (start, end))
        if ev.kind.startswith("rule.") and "ok" in ev.payload:
            rid = _rule_id(ev.kind)
            if rid not in by_id:
                continue
            if by_id[rid].continuous:
                if not ev.payload["ok"]:
                    flags[rid].append(ev)
                continue
            k = key_of(ev, by_id[rid].family)
            if k is not None:
                outcomes[rid].setdefault(k, ev)
        elif ev.kind.endswith(_UNJUDGED_SUFFIX):
            rid = _rule_id(ev.payload.get("rule", ev.source))
            k = key_of(ev, by_id[rid].family if rid in by_id else fam)
            if k is None:
                continue
            targets = [rid] if rid in unjudged else [r.rule for r in rules if r.family == k[0]]
            for t in targets:
                unjudged[t].setdefault(k, ev)

    # true units of every family; windows of a drill get their truth from the body over the same span
    true_units: dict[str, list[TruthUnit]] = {f: list(v) for f, v in units.items()}
    if window_truth is not None and windows:
        ws = sorted(windows.items(), key=lambda kv: kv[1])
        true_units["window"] = [
            TruthUnit("window", i, sp[0], sp[1], window_truth(sp[0], sp[1])) for i, (_, sp) in enumerate(ws)
        ]
        spans.update(windows)

    matched: dict[str, dict[tuple[str, int], int]] = {}
    for fam, tu in true_units.items():
        det = {k: sp for k, sp in spans.items() if k[0] == fam}
        matched[fam] = _match(tu, det)

    obs: list[Observation] = []
    for rule in rules:
        if rule.continuous:
            obs += _score_events(case, rule, true_events.get(rule.quantity, []), flags[rule.rule])
            continue
        tu = true_units.get(rule.family, [])
        inverse = {i: k for k, i in matched.get(rule.family, {}).items()}
        tol = rule.tolerance
        if tol.relative:  # the true envelope: the factor times the true baseline of the same units
            base = [u.quantities.get(rule.quantity, math.nan) for u in tu[: tol.baseline_units]]
            if len(base) < tol.baseline_units or not all(math.isfinite(b) for b in base):
                continue
            tol = tol.resolved(sum(base) / len(base))
            scored = tu[rule.tolerance.baseline_units :]
        else:
            scored = tu
        for j, u in enumerate(scored):
            tv = u.quantities.get(rule.quantity)
            if tv is None or not math.isfinite(tv):
                continue
            idx = tu.index(u)
            k = inverse.get(idx)
            ev = outcomes[rule.rule].get(k) if k is not None else None
            un = unjudged[rule.rule].get(k) if k is not None else None
            nxt = scored[j + 1] if j + 1 < len(scored) else None
            obs.append(_observe(case, rule, tol, u, tv, ev, un, nxt))
        # verdicts on detected units that match no true unit
        for k, ev in outcomes[rule.rule].items():
            if k[0] == rule.family and k not in matched.get(rule.family, {}):
                obs.append(
                    Observation(
                        case, rule.rule, -1, math.nan, _measured(ev), _verdict(rule, ev), 0, -math.inf
                    )
                )
    counts = {
        fam: (len(tu), sum(1 for k in spans if k[0] == fam), len(matched.get(fam, {})))
        for fam, tu in true_units.items()
        # a drill's windows are its own clock and a rest the time between two holds, not something to count;
        # a true record of another kind (the reference contraction of an EMG calibration step) is no rep,
        # hold or transition the drill counts
        if fam in COUNTED
    }
    return obs, counts


def _observe(
    case: int,
    rule: RuleView,
    tol: Tolerance,
    u: TruthUnit,
    tv: float,
    ev: Event | None,
    un: Event | None,
    nxt: TruthUnit | None,
) -> Observation:
    side, dist = tol.side(tv), tol.distance(tv)
    truth = {"true_lo": tol.lo, "true_hi": tol.hi}
    if ev is None:
        verdict = "unjudged" if un is not None else "missing"
        reason = str(un.payload.get("reason", un.therapist_message or "")) if un is not None else ""
        return Observation(
            case, rule.rule, u.index, tv, math.nan, verdict, side, dist, reason=reason, **truth
        )
    latency = ev.detected_at - u.end if math.isfinite(ev.detected_at) else math.nan
    if nxt is None:
        deadline = math.isfinite(ev.detected_at)
    else:  # before the next unit starts (contiguous windows: before the next one ends)
        due = nxt.start if nxt.start > u.end + 1e-9 else nxt.end
        deadline = bool(ev.detected_at < due)
    return Observation(
        case,
        rule.rule,
        u.index,
        tv,
        _measured(ev),
        _verdict(rule, ev),
        side,
        dist,
        latency,
        deadline,
        lo=_edge(ev, "lo"),
        hi=_edge(ev, "hi"),
        **truth,
    )


def _edge(ev: Event, key: str) -> float | None:
    v = ev.payload.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _score_events(
    case: int, rule: RuleView, truth: Sequence[float], flags: Sequence[Event]
) -> list[Observation]:
    before, after = EVENT_WINDOW
    used: set[int] = set()
    out: list[Observation] = []
    for i, t in enumerate(sorted(truth)):
        hit = next(
            (j for j, ev in enumerate(flags) if j not in used and t - before <= ev.time <= t + after), None
        )
        if hit is None:
            out.append(Observation(case, rule.rule, i, t, math.nan, "missing", 1, math.inf))
            continue
        used.add(hit)
        ev = flags[hit]
        out.append(
            Observation(case, rule.rule, i, t, ev.time, "above", 1, math.inf, ev.detected_at - t, True)
        )
    for j, ev in enumerate(flags):
        if j not in used:
            out.append(Observation(case, rule.rule, -1, math.nan, ev.time, "above", 0, -math.inf))
    return out

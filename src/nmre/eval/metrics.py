"""From observations to the figures of the table, and the targets they are held to (issue 9.4).

For each drill, rule and condition group:

* **accuracy**: measured minus true value over the judged units: bias, RMSE and the
  95th percentile of the absolute error (continuous rules: detected minus true time);
* **verdict agreement** outside the margin: a unit is *positive* when its true value
  lies outside the true tolerance by more than the margin, *negative* when inside by
  more than it. A true positive is a correction on the right side; any other
  correction (wrong side, "check the sensors", on a negative unit, or on a detected
  unit that matches no true one) is a false positive; a positive that was missed,
  praised or not detected at all is a false negative. Units reported *not judged*
  are counted apart (the unjudged fraction), never as right or wrong;
* **agreement inside the margin**: the fraction of judged units within the margin
  whose verdict is the true side;
* **latency**: ``detected_at`` minus the end of the true unit (continuous rules: minus
  the true event), median and 95th percentile, and the fraction of verdicts given
  before the next unit started;
* **false alarms per minute** on clean sessions: corrections where the true value was
  inside the tolerance by more than the margin (or no true unit was there), per minute of
  clean session; corrections of clean units inside the tolerance but within the margin of
  it are counted apart (``false_alarms_in_margin``): the rule's stated accuracy cannot tell
  them from the edge, as for agreement inside the margin;
* **wrong verdicts**: judged units outside the margin whose verdict is wrong (the
  "judged right or reported unjudged" target under loss and dropout).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmre.eval.cases import GROUPS, Case
from nmre.eval.model import CaseResult, Observation, RuleView

__all__ = ["TARGETS", "Figures", "aggregate", "figures", "offenders"]

#: The targets of issue 9.4 and the groups they are held in.
TARGETS: dict[str, str] = {
    "precision": ">= 0.95 outside the margin (target group, each kit)",
    "recall": ">= 0.95 outside the margin (target group, each kit)",
    "latency": "continuous rules: median <= 100 ms; per-unit rules: every verdict before the next unit starts",
    "false_alarms": "0 per minute on clean sessions (target group; units within the margin of the tolerance apart)",
    "accuracy": "p95 absolute error <= the stated margin (target group): the margin is the rule's accuracy",
    "counts": "every rep, hold and transition counted exactly (target group)",
    "wrong": "no wrong verdict outside the margin at 10 % loss and with a dropout: judged right or unjudged",
    "cases": "no case fails",
    "coverage": "the suite tries every side of every tolerance: units outside the margin on each side the rule "
    "names an error for, and inside it (target group, both kits)",
}
PRECISION, RECALL, LATENCY_MS = 0.95, 0.95, 100.0


def _r(x: float | None, nd: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


@dataclass
class Figures:
    """The figures of one rule in one group (see the module notes)."""

    n: int
    n_judged: int
    bias: float | None
    rmse: float | None
    p95: float | None
    positives: int
    negatives: int
    positives_below: int
    positives_above: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    inside_n: int
    inside_agreement: float | None
    latency_median_ms: float | None
    latency_p95_ms: float | None
    deadline_met: float | None
    clean_minutes: float
    false_alarms: int
    false_alarms_in_margin: int
    false_alarms_per_min: float | None
    unjudged: float | None
    missing: float | None
    wrong: int
    wrong_corrections: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (_r(v) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _right(o: Observation) -> bool:
    """The verdict is the true side (ok inside, a correction on the side the value fell)."""
    want = {-1: "below", 0: "ok", 1: "above"}[o.true_side]
    return o.verdict == want


def figures(rule: RuleView, obs: Sequence[Observation], clean: Mapping[int, bool], minutes: float) -> Figures:
    """Figures of ``rule`` over ``obs`` (``clean``: case -> clean session; ``minutes`` of clean session)."""
    m = rule.margin.value
    units = [o for o in obs if not o.spurious]
    judged = [o for o in units if o.judged]
    err = np.array(
        [
            o.measured - o.true_value
            for o in judged
            if math.isfinite(o.measured) and math.isfinite(o.true_value)
        ]
    )
    pos = [o for o in units if o.true_side != 0 and o.distance > m and o.verdict != "unjudged"]
    neg = [o for o in units if o.true_side == 0 and o.distance < -m and o.verdict != "unjudged"]
    spurious_flags = [o for o in obs if o.spurious and o.flagged]
    tp = sum(1 for o in pos if _right(o))
    fn = len(pos) - tp
    fp = sum(1 for o in pos if o.flagged and not _right(o)) + sum(1 for o in neg if o.flagged)
    fp += len(spurious_flags)
    inside = [o for o in judged if abs(o.distance) <= m]
    lat = np.array([o.latency for o in judged if math.isfinite(o.latency)]) * 1e3
    dl = [o.deadline for o in judged if o.deadline is not None]
    fa_all = [o for o in obs if clean.get(o.case, False) and o.flagged and (o.spurious or o.true_side == 0)]
    fa = [o for o in fa_all if o.spurious or o.distance < -m]  # inside by more than the stated accuracy
    outside = [o for o in judged if abs(o.distance) > m]
    wrong = [o for o in outside if not _right(o)] + spurious_flags
    wrong_corr = [o for o in wrong if o.flagged]
    n = len(units)
    return Figures(
        n=n,
        n_judged=len(judged),
        bias=float(err.mean()) if err.size else None,
        rmse=float(np.sqrt(np.mean(err**2))) if err.size else None,
        p95=float(np.percentile(np.abs(err), 95)) if err.size else None,
        positives=len(pos),
        negatives=len(neg),
        positives_below=sum(1 for o in pos if o.true_side < 0),
        positives_above=sum(1 for o in pos if o.true_side > 0),
        tp=tp,
        fp=fp,
        fn=fn,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
        inside_n=len(inside),
        inside_agreement=sum(1 for o in inside if _right(o)) / len(inside) if inside else None,
        latency_median_ms=float(np.median(lat)) if lat.size else None,
        latency_p95_ms=float(np.percentile(lat, 95)) if lat.size else None,
        deadline_met=sum(dl) / len(dl) if dl else None,
        clean_minutes=minutes,
        false_alarms=len(fa),
        false_alarms_in_margin=len(fa_all) - len(fa),
        false_alarms_per_min=len(fa) / minutes if minutes > 0 else None,
        unjudged=sum(1 for o in units if o.verdict == "unjudged") / n if n else None,
        missing=sum(1 for o in units if o.verdict == "missing") / n if n else None,
        wrong=len(wrong),
        wrong_corrections=len(wrong_corr),
    )


def _check(rule: RuleView, f: Figures, group: str) -> dict[str, dict[str, Any]]:
    """Which targets this group holds for this rule, their values and whether each is met."""
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, value: Any, met: bool | None) -> None:
        out[name] = {"value": value, "met": met}

    if group == "target":  # both kits together: what the suite tried
        put("coverage", _coverage(rule, f), _covered(rule, f))
    elif group.startswith("target:"):
        put("precision", _r(f.precision), None if f.precision is None else f.precision >= PRECISION)
        put("recall", _r(f.recall), None if f.recall is None else f.recall >= RECALL)
        if rule.continuous:
            med = f.latency_median_ms
            put("latency", _r(med, 1), None if med is None else med <= LATENCY_MS)
        else:
            put("latency", _r(f.deadline_met), None if f.deadline_met is None else f.deadline_met >= 1.0)
        put(
            "false_alarms",
            _r(f.false_alarms_per_min),
            None if f.false_alarms_per_min is None else f.false_alarms == 0,
        )
        if rule.margin.value > 0:
            put("accuracy", _r(f.p95), None if f.p95 is None else f.p95 <= rule.margin.value)
    elif group in ("loss_10", "dropout"):
        put("wrong", f.wrong, f.wrong == 0 if f.n else None)
    return out


def _sides(rule: RuleView, f: Figures) -> dict[str, int]:
    """Positive units on each side the rule names an error for, and negative ones (not for a continuous rule)."""
    out = {}
    for side, label in sorted(rule.errors.items()):
        if rule.continuous:
            out[label] = f.positives
        else:
            out[label] = f.positives_below if side < 0 else f.positives_above
    if not rule.continuous:
        out["inside"] = f.negatives
    return out


def _coverage(rule: RuleView, f: Figures) -> str:
    return ", ".join(f"{k} {v}" for k, v in _sides(rule, f).items())


def _covered(rule: RuleView, f: Figures) -> bool | None:
    sides = _sides(rule, f)
    return all(v > 0 for v in sides.values()) if sides else None


def offenders(
    rule: RuleView, obs: Sequence[Observation], target: str, clean: Mapping[int, bool]
) -> list[Observation]:
    """The units behind a missed target (worst first): what to show the detector's owner."""
    m = rule.margin.value

    def outside(o: Observation) -> bool:
        return abs(o.distance) > m

    if target == "precision":
        sel = [o for o in obs if o.flagged and (o.spurious or (outside(o) and not _right(o)))]
    elif target == "recall":
        sel = [
            o
            for o in obs
            if not o.spurious
            and o.true_side != 0
            and o.distance > m
            and o.verdict != "unjudged"
            and not _right(o)
        ]
    elif target == "false_alarms":
        sel = [
            o
            for o in obs
            if clean.get(o.case, False)
            and o.flagged
            and (o.spurious or (o.true_side == 0 and o.distance < -m))
        ]
    elif target == "wrong":
        sel = [o for o in obs if (o.spurious and o.flagged) or (o.judged and outside(o) and not _right(o))]
    elif target == "accuracy":
        sel = [o for o in obs if o.judged and math.isfinite(o.measured) and math.isfinite(o.true_value)]
        sel.sort(key=lambda o: -abs(o.measured - o.true_value))
    elif target == "latency":
        sel = [o for o in obs if o.deadline is False or (rule.continuous and o.latency > LATENCY_MS / 1e3)]
    else:
        sel = []
    if target != "accuracy":
        sel.sort(key=lambda o: -abs(o.distance) if math.isfinite(o.distance) else 0.0)
    return sel


def _counts(results: Iterable[CaseResult]) -> dict[str, Any]:
    fam: dict[str, list[int]] = {}
    exact = total = 0
    for r in results:
        if r.failure is not None or not r.counts:
            continue
        total += 1
        ok = True
        for f, (t, d, m) in r.counts.items():
            a = fam.setdefault(f, [0, 0, 0])
            a[0] += t
            a[1] += d
            a[2] += m
            ok = ok and t == d == m
        exact += ok
    return {
        "families": {f: {"true": a[0], "detected": a[1], "matched": a[2]} for f, a in sorted(fam.items())},
        "cases": total,
        "cases_exact": exact,
    }


def _example(case: Case, o: Observation) -> dict[str, Any]:
    return {
        "case": case.name,
        "seed": case.seed,
        "unit": o.unit,
        "true": _r(o.true_value),
        "measured": _r(o.measured),
        "verdict": o.verdict,
        "limit": [o.lo, o.hi],
        "true_limit": [
            _r(o.true_lo) if o.true_lo is not None else None,
            _r(o.true_hi) if o.true_hi is not None else None,
        ],
        **({"reason": o.reason} if o.reason else {}),
    }


def aggregate(
    cases: Sequence[Case], results: Sequence[CaseResult], drill_rules: Mapping[str, list[RuleView]]
) -> dict[str, Any]:
    """The suite's figures per drill, rule, group (and kit in the target group), with the targets."""
    by_case = {c.index: c for c in cases}
    out: dict[str, Any] = {"drills": {}, "failed_cases": [], "misses": []}
    for r in results:
        if r.failure is not None:
            f = r.failure
            out["failed_cases"].append({"case": f.name, "seed": f.seed, "error": f.error})
    for drill, rules in drill_rules.items():
        d_cases = [c for c in cases if c.drill == drill]
        d_results = [r for r in results if by_case[r.case].drill == drill]
        failed = [r for r in d_results if r.failure is not None]
        entry: dict[str, Any] = {
            "cases": len(d_cases),
            "failed": len(failed),
            "rules": {},
            "counts": {},
        }
        groups = [g for g in GROUPS if any(c.group == g for c in d_cases)]
        slices: list[tuple[str, str | None]] = []
        for g in groups:
            slices.append((g, None))
            if g == "target":
                slices += [(g, k) for k in ("full", "minimal")]
        for g, kit in slices:
            sel = [
                r
                for r in d_results
                if by_case[r.case].group == g and (kit is None or by_case[r.case].kit == kit)
            ]
            label = g if kit is None else f"{g}:{kit}"
            entry["counts"][label] = _counts(sel)
        for rule in rules:
            rentry: dict[str, Any] = {**rule.to_dict(), "groups": {}, "targets": {}}
            for g, kit in slices:
                sel = [
                    r
                    for r in d_results
                    if by_case[r.case].group == g and (kit is None or by_case[r.case].kit == kit)
                ]
                obs = [o for r in sel for o in r.observations if o.rule == rule.rule]
                built = [r for r in sel if any(v.rule == rule.rule for v in r.rules)]
                label = g if kit is None else f"{g}:{kit}"
                if not built:
                    rentry["groups"][label] = None  # the rule is not part of the drill with this kit
                    continue
                clean = {r.case: by_case[r.case].clean for r in built}
                minutes = sum(r.duration for r in built if by_case[r.case].clean) / 60.0
                f = figures(rule, obs, clean, minutes)
                rentry["groups"][label] = f.to_dict()
                checks = _check(rule, f, label)
                if checks:
                    rentry["targets"][label] = checks
                for name, c in checks.items():
                    if c["met"] is False:
                        bad = offenders(rule, obs, name, clean)
                        out["misses"].append(
                            {
                                "drill": drill,
                                "rule": rule.rule,
                                "group": label,
                                "target": name,
                                "value": c["value"],
                                "units": len(bad),
                                "examples": [_example(by_case[o.case], o) for o in bad[:5]],
                            }
                        )
            entry["rules"][rule.rule] = rentry
        for label, c in entry["counts"].items():
            if label.startswith("target:") and c["families"]:
                met = c["cases_exact"] == c["cases"]
                entry.setdefault("count_targets", {})[label] = {
                    "value": f"{c['cases_exact']}/{c['cases']}",
                    "met": met,
                }
                if not met:
                    out["misses"].append(
                        {
                            "drill": drill,
                            "rule": "(counts)",
                            "group": label,
                            "target": "counts",
                            "value": f"{c['cases_exact']}/{c['cases']} cases exact",
                        }
                    )
        if failed:
            out["misses"].append(
                {
                    "drill": drill,
                    "rule": "(cases)",
                    "group": "all",
                    "target": "cases",
                    "value": f"{len(failed)} failed",
                }
            )
        out["drills"][drill] = entry
    return out

"""The table a person reads: per drill and rule, accuracy, agreement, latency, false alarms, counts, misses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from nmre.eval.notes import miss_note

__all__ = ["write_table"]


def _f(v: Any, fmt: str = "{:.2f}", none: str = "-") -> str:
    if v is None:
        return none
    return fmt.format(v)


def _num(v: Any, unit: str) -> str:
    """A value in a quantity's unit, with as many decimals as its size needs."""
    if v is None:
        return "-"
    a = abs(v)
    nd = 1 if a >= 10 else 2 if a >= 0.1 or unit in ("deg", "ms", "s") else 4
    return f"{v:.{nd}f}"


def _value(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _counts_line(entry: Mapping[str, Any]) -> str:
    parts = []
    for label, c in entry["counts"].items():
        if not label.startswith("target:") or not c["families"]:
            continue
        fams = ", ".join(
            f"{v['detected']} detected / {v['true']} true {f}s" for f, v in c["families"].items()
        )
        parts.append(f"{label[7:]} kit {c['cases_exact']}/{c['cases']} sessions exact ({fams})")
    return "; ".join(parts) if parts else "no reps, holds or transitions to count"


_HEAD = (
    f"{'rule':<16} {'quantity':<20} {'tolerance':<22} {'margin':>7} {'kit':<4} {'n':>4} "
    f"{'bias':>7} {'RMSE':>7} {'p95':>7} {'P':>5} {'R':>5} {'+/-':>7} {'in-margin':>10} "
    f"{'lat med':>7} {'p95':>6} {'<next':>6} {'FA/min':>6} {'unjdg':>5}  status"
)


def _rule_rows(rid: str, r: Mapping[str, Any]) -> list[str]:
    rows = []
    unit = r["unit"]
    for kit in ("full", "minimal"):
        g = r["groups"].get(f"target:{kit}")
        if g is None:
            rows.append(f"{rid:<16} {r['quantity']:<20} {'(not in the ' + kit + ' kit)':<22}")
            continue
        t = r["targets"].get(f"target:{kit}", {})
        missed = [k for k, v in t.items() if v["met"] is False]
        status = "ok" if not missed else "MISS " + ", ".join(missed)
        cov = r["targets"].get("target", {}).get("coverage")
        if cov is not None and cov["met"] is False:  # a side of the tolerance the suite never tried
            untried = [p.rpartition(" ")[0] for p in str(cov["value"]).split(", ") if p.endswith(" 0")]
            status += "; UNTRIED " + ", ".join(untried)
        inside = "-" if g["inside_agreement"] is None else f"{g['inside_agreement']:.2f}({g['inside_n']})"
        rows.append(
            f"{rid:<16} {r['quantity']:<20} {r['tolerance']['text']:<22} {_num(r['margin']['value'], unit):>7} "
            f"{kit[:4]:<4} {g['n']:>4} {_num(g['bias'], unit):>7} {_num(g['rmse'], unit):>7} "
            f"{_num(g['p95'], unit):>7} {_f(g['precision']):>5} {_f(g['recall']):>5} "
            f"{str(g['positives']) + '/' + str(g['negatives']):>7} {inside:>10} "
            f"{_f(g['latency_median_ms'], '{:.0f}'):>7} {_f(g['latency_p95_ms'], '{:.0f}'):>6} "
            f"{_f(g['deadline_met'], '{:.0%}'):>6} {_f(g['false_alarms_per_min']):>6} "
            f"{_f(g['unjudged'], '{:.0%}'):>5}  {status}"
        )
    return rows


_W = 37  # width of a stress cell
_STRESS = ("noise_x2", "mains", "motion", "loss_10", "dropout")


def _stress_rows(rid: str, r: Mapping[str, Any], available: set[str]) -> str:
    cells = []
    for g in _STRESS:
        if g not in available:
            continue
        f = r["groups"].get(g)
        if f is None:
            cells.append(f"{'-':>22}")
        elif g in ("loss_10", "dropout"):
            t = r["targets"].get(g, {}).get("wrong", {})
            mark = "" if t.get("met") is not False else " MISS"
            cells.append(
                f"{f['wrong']:>3} wrong {_f(f['unjudged'], '{:.0%}'):>4} unj {_f(f['missing'], '{:.0%}'):>4} mis "
                f"FA {_f(f['false_alarms_per_min']):>4}{mark}"
            )
        else:
            cells.append(
                f"P {_f(f['precision']):>4} R {_f(f['recall']):>4} FA {_f(f['false_alarms_per_min']):>4}"
            )
    return f"{rid:<16} " + "  ".join(f"{c:<{_W}}" for c in cells)


def write_table(out: TextIO, figures: Mapping[str, Any]) -> None:
    """Write the human-readable table of a suite run's figures to ``out``."""
    out.write(
        f"nmre eval ({figures['suite']} suite): {figures['cases']} simulated sessions, "
        f"{len(figures['failed_cases'])} failed\n"
    )
    for g, why in figures.get("groups_not_available", {}).items():
        out.write(f"  group {g!r} not run: {why}\n")
    for drill, entry in figures["drills"].items():
        out.write(f"\n== {drill}: {entry['cases']} sessions, {entry['failed']} failed\n")
        out.write(f"   counts: {_counts_line(entry)}\n")
        out.write(
            "   target group: default noise, 0-2 % loss, strap rotation <= 15 deg; errors drawn across each tolerance\n"
        )
        out.write("   " + _HEAD + "\n")
        for rid, r in entry["rules"].items():
            for row in _rule_rows(rid, r):
                out.write("   " + row + "\n")
        groups = {g for r in entry["rules"].values() for g, v in r["groups"].items() if v is not None}
        avail = [g for g in _STRESS if g in groups]
        if avail and entry["rules"]:
            names = {
                "noise_x2": "noise x2",
                "mains": "mains hum 50 Hz",
                "motion": "electrode motion",
                "loss_10": "10 % loss",
                "dropout": "2 s sensor dropout",
            }
            out.write("   under stress     " + "  ".join(f"{names[g]:<{_W}}" for g in avail) + "\n")
            for rid, r in entry["rules"].items():
                out.write("   " + _stress_rows(rid, r, set(avail)) + "\n")
    real = figures.get("real")
    if real:
        out.write(
            "\n== real recordings (issue 9.5): the drill against what a person counts on the trace (docs/eval-uci.md)\n"
        )
        for r in real:
            eye = r["by_eye"]
            if not r["ran"]:
                out.write(f"   {r['file']:<14} {r['drill']:<24} not run: {r['reason']}\n")
                continue
            vals = ", ".join(f"{v:.1f}" for v in r["values"])
            ref = ", ".join(f"{v:g}" for v in eye["extremes"])
            verdict = "ok" if r["ok"] else "MISS"
            v = r["verdicts"]
            out.write(
                f"   {r['file']:<14} {r['drill']:<24} counted {r['count']} (person {eye['count']}); "
                f"per unit {vals} {eye['unit']} (person {ref}); verdicts {v.get('ok', 0)} ok, "
                f"{v.get('corrected', 0)} corrected, {v.get('unjudged', 0)} not judged  {verdict}\n"
            )
            for why in r.get("not_judged") or ():
                out.write(f"      not judged: calibration {why}\n")
    misses = figures.get("misses", [])
    out.write("\n")
    if not misses and not figures["failed_cases"]:
        out.write("Every target met.\n")
    by_rule: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for m in misses:
        by_rule.setdefault((m["drill"], m["rule"]), []).append(m)
    for (drill, rule), ms in by_rule.items():
        what = "; ".join(f"[{m['group']}] {m['target']} {_value(m['value'])}" for m in ms)
        out.write(f"MISS {drill} / {rule}: {what}\n")
        notes = {miss_note(drill, rule, m["target"], m["value"]) for m in ms} - {None}
        for note in sorted(n for n in notes if n):
            out.write(f"     why: {note}\n")
    for f in figures["failed_cases"]:
        out.write(f"FAILED CASE {f['case']} (seed {f['seed']}): {f['error']}\n")
    out.write(
        "\nColumns: accuracy = measured - true (bias, RMSE, p95 of |error|) in the quantity's unit; P/R = precision and "
        "recall of corrections\nagainst 'true value outside the tolerance' over units farther than the margin from it "
        "(+/- = positive/negative units);\nin-margin = agreement of the verdicts inside the margin (units); lat = detection "
        "latency after the unit's true end (continuous rules:\nafter the true event), ms; <next = verdicts given before "
        "the next unit started; FA/min = false alarms per minute of clean session;\nunjdg = units reported not judged. "
        "Method: docs/eval.md.\n"
    )

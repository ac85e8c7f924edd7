"""The suite as one call: cases → results → figures → targets."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nmre.eval.cases import Case, suite_cases
from nmre.eval.drills_view import drill_names, emg_kits, full_kit_rules
from nmre.eval.metrics import TARGETS, aggregate
from nmre.eval.model import CaseResult, RuleView
from nmre.eval.run import run_cases
from nmre.eval.simcase import supports

__all__ = ["FORMAT", "SuiteRun", "regressions", "results_document", "run_suite", "suite_plan"]

#: Version of the figures' layout in ``--json`` and ``eval/results.json``.
FORMAT = 1


@dataclass
class SuiteRun:
    """One run of the suite: its cases, their results, the drills' rules and the figures."""

    suite: str
    cases: list[Case]
    results: list[CaseResult]
    rules: dict[str, list[RuleView]]
    figures: dict[str, Any]
    wall: float

    def subset(self, names: set[str]) -> dict[str, Any]:
        """The figures over the cases named in ``names`` only (the quick suite inside a full run)."""
        keep = [c for c in self.cases if c.name in names]
        idx = {c.index for c in keep}
        out = aggregate(keep, [r for r in self.results if r.case in idx], self.rules)
        if "real" in self.figures:  # the same recordings in any subset
            out["real"] = self.figures["real"]
            out["misses"] += [m for m in self.figures["misses"] if m["target"] == "real"]
        return out


def suite_plan(
    suite: str, drills: Sequence[str] | None = None
) -> tuple[list[Case], dict[str, list[RuleView]], list[str]]:
    """The cases of ``suite`` for ``drills`` (default: every shipped drill), their rules, and the skipped groups."""
    names = list(drills) if drills else drill_names()
    rules = {d: full_kit_rules(d) for d in names}
    # mains hum and electrode motion artefacts are conditions of the drills that read EMG
    emg = {d: emg_kits(d) for d in names}
    cases = suite_cases(suite, names, emg)
    skipped = sorted({c.group for c in cases if not supports(c.group)})
    cases = [c for c in cases if supports(c.group)]
    from dataclasses import replace

    cases = [replace(c, index=i) for i, c in enumerate(cases)]
    return cases, rules, skipped


def run_suite(
    suite: str = "quick",
    drills: Sequence[str] | None = None,
    workers: int | None = None,
    progress: Callable[[CaseResult], None] | None = None,
    real: bool = True,
) -> SuiteRun:
    """Run ``suite`` ("quick" or "full") over ``drills`` and return its figures.

    ``real``: also replay the real recordings (issue 9.5) of the drills run.
    """
    wall0 = time.perf_counter()
    cases, rules, skipped = suite_plan(suite, drills)
    results = run_cases(cases, workers, progress)
    figures = aggregate(cases, results, rules)
    figures = {
        "nmre_eval": FORMAT,
        "suite": suite,
        "cases": len(cases),
        "groups_not_available": {g: "the simulator cannot produce this condition yet" for g in skipped},
        "targets": TARGETS,
        **figures,
    }
    if real:
        add_real(figures, None if drills is None else list(drills))
    return SuiteRun(suite, cases, results, rules, figures, time.perf_counter() - wall0)


def add_real(figures: dict[str, Any], drills: Sequence[str] | None = None) -> None:
    """The real recordings through their drills (issue 9.5; those of ``drills`` only, when given).

    A recording whose drill disagrees with the person's count is a miss.
    """
    from nmre.eval.real import real_recordings

    rows = [r.to_dict() for r in real_recordings() if drills is None or r.drill in drills]
    figures["real"] = rows
    for r in rows:
        if r["ran"] and not r["ok"]:
            what = f"counted {r['count']} (a person: {r['by_eye']['count']})"
            if r["count_ok"] and r["worst_difference"] is not None:
                what = f"extreme angle off by {r['worst_difference']} deg (limit {r['agreement_limit']})"
            if r.get("not_judged"):
                steps = ", ".join(w.partition(":")[0] for w in r["not_judged"])
                what += f"; not judged: calibration not done by the recording's end ({steps})"
            figures["misses"].append(
                {"drill": r["drill"], "rule": "(real)", "group": r["file"], "target": "real", "value": what}
            )


def results_document(run: SuiteRun) -> dict[str, Any]:
    """What ``make eval`` writes to ``eval/results.json``: this run's figures, and its quick subset's.

    The quick suite's cases are among the full suite's, so the figures of that
    subset are exactly what ``nmre eval --quick`` computes on the same code: the
    regression guard of ``make test`` compares a fresh quick run with them.
    """
    quick_names = {c.name for c in suite_plan("quick", list(run.rules))[0]}
    quick = run.subset(quick_names)
    return {
        "nmre_eval": FORMAT,
        "command": "nmre eval --results eval/results.json"
        if run.suite == "full"
        else f"nmre eval --{run.suite}",
        "wall_seconds": round(run.wall, 1),
        run.suite: run.figures,
        "quick_subset": {"nmre_eval": FORMAT, "suite": "quick", "cases": len(quick_names), **quick},
    }


def _git_commit() -> str | None:
    import subprocess
    from pathlib import Path

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _merge_figures(old: Mapping[str, Any], new: Mapping[str, Any], drills: Sequence[str]) -> dict[str, Any]:
    """``old`` figures with the drills of ``new`` replaced by ``new``'s (and their misses, failures, recordings)."""
    keep = [d for d in old.get("drills", {}) if d not in drills]
    out = dict(old)
    out["drills"] = {**{d: old["drills"][d] for d in keep}, **new["drills"]}
    out["cases"] = sum(int(d["cases"]) for d in out["drills"].values())
    for key in ("failed_cases", "misses"):

        def drill_of(x: Mapping[str, Any]) -> str:
            return str(x.get("drill") or str(x.get("case", "")).split("/")[0])

        out[key] = [x for x in old.get(key, []) if drill_of(x) not in drills] + list(new.get(key, []))
    if "real" in new or "real" in old:
        out["real"] = [r for r in old.get("real", []) if r["drill"] not in drills] + list(new.get("real", []))
    return out


def merge_results(old: Mapping[str, Any] | None, run: SuiteRun) -> dict[str, Any]:
    """The results document with the drills of ``run`` (a full run over some drills) brought up to date.

    ``runs`` says, per drill, which commit and how long its figures took; the other drills keep
    the figures of their last run. Without an old document this is :func:`results_document`.
    """
    doc = results_document(run)
    drills = list(run.rules)
    prov = {
        d: {"commit": _git_commit(), "wall_seconds": doc["wall_seconds"], "suite": run.suite} for d in drills
    }
    if old is None or old.get("nmre_eval") != FORMAT or "full" not in old:
        doc["runs"] = prov
        return doc
    out = dict(old)
    out["full"] = _merge_figures(old["full"], doc["full"], drills)
    out["quick_subset"] = _merge_figures(old["quick_subset"], doc["quick_subset"], drills)
    out["runs"] = {**old.get("runs", {}), **prov}
    out["command"] = (
        "nmre eval --results eval/results.json (drills brought up to date: nmre eval --drill NAME --results ...)"
    )
    return out


def _targets(figures: Mapping[str, Any]) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """(drill, rule, group, target) -> {"value", "met"} for every target of a run's figures."""
    out: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for drill, d in figures["drills"].items():
        for rid, r in d["rules"].items():
            for label, checks in r["targets"].items():
                for name, c in checks.items():
                    out[(drill, rid, label, name)] = c
        for label, c in d.get("count_targets", {}).items():
            out[(drill, "(counts)", label, "counts")] = c
        out[(drill, "(cases)", "all", "cases")] = {"value": f"{d['failed']} failed", "met": d["failed"] == 0}
    for r in figures.get("real", []):
        if r["ran"]:
            out[(r["drill"], "(real)", r["file"], "real")] = {"value": r["count"], "met": bool(r["ok"])}
    return out


def regressions(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Targets met in ``recorded`` figures and missed (or no longer measured) in ``now``, one line each."""
    cur = _targets(now)
    out = []
    for key, was in _targets(recorded).items():
        if not was["met"]:
            continue
        c = cur.get(key)
        where = "/".join(key)
        if c is None:
            out.append(f"{where}: met ({was['value']}) in the recorded run, not measured now")
        elif c["met"] is False:
            out.append(f"{where}: was {was['value']} (met), now {c['value']} (missed)")
    return out

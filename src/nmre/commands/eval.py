"""``nmre eval``: the clinical-validity suite (see :mod:`nmre.eval` and docs/eval.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from nmre.commands._args import worker_count

__all__ = ["NAME", "add_parser", "run"]

NAME = "eval"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="run the clinical-validity suite: measured values and verdicts against the simulated body's truth",
        description="Run every drill's rules on a fixed, seeded suite of simulated sessions and print, per rule, "
        "measurement accuracy, verdict agreement outside the stated margin, latency, false alarms and counts, "
        "held against the targets (docs/eval.md).",
    )
    p.add_argument(
        "--quick", action="store_true", help="the quick subset (part of make test; under 2 minutes)"
    )
    p.add_argument(
        "--drill", action="append", default=None, metavar="NAME", help="only this drill (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    p.add_argument("--plots", metavar="DIR", default=None, help="write one PNG per rule into DIR")
    p.add_argument(
        "--results",
        metavar="FILE",
        default=None,
        help="also write the figures of this run and of its quick subset to FILE (make eval: eval/results.json); "
        "with --drill, only those drills' figures in FILE are brought up to date",
    )
    p.add_argument(
        "--workers", type=worker_count, default=None, help="processes (default: 2, or fewer CPUs; at most 64)"
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or a case failed")
    return p


def _writable_dir(path: str) -> str | None:
    """Make the plot folder now (before the suite runs); why it cannot be, or None."""
    if not path:
        return f"--plots: expected a writable folder, got {path!r}"
    if os.path.exists(path) and not os.path.isdir(path):
        return f"--plots: expected a folder, got the file {path!r}"
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        return f"--plots: expected a writable folder, got {path!r} ({exc.strerror or exc})"
    if not os.access(path, os.W_OK):
        return f"--plots: expected a writable folder, got {path!r}"
    return None


def _writable_file(path: str) -> str | None:
    folder = os.path.dirname(os.path.abspath(path))
    if not path or os.path.isdir(path) or not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        return f"--results: expected a writable file path, got {path!r}"
    return None


def run(args: argparse.Namespace) -> int:
    from nmre.eval.drills_view import drill_names

    known = drill_names()
    drills = args.drill
    if drills:
        unknown = [d for d in drills if d not in known]
        if unknown:
            print(
                f"nmre eval: --drill: expected one of the drills {', '.join(known)}, got {unknown[0]!r}",
                file=sys.stderr,
            )
            return 2
    if args.results is not None and args.quick:
        print(
            "nmre eval: --results: expected the full suite (as make eval runs it, or --drill NAME to bring one "
            "drill's figures up to date), got --quick: the regression guard needs the full suite's figures",
            file=sys.stderr,
        )
        return 2
    old_doc = None
    if args.results is not None and drills and os.path.exists(args.results):
        try:
            with open(args.results, encoding="utf-8") as f:
                old_doc = json.load(f)
        except (OSError, ValueError) as exc:
            print(
                f"nmre eval: --results: expected a results file of nmre eval to update, got {args.results!r} ({exc})",
                file=sys.stderr,
            )
            return 2
    for why in (
        _writable_dir(args.plots) if args.plots is not None else None,
        _writable_file(args.results) if args.results is not None else None,
    ):
        if why:
            print(f"nmre eval: {why}", file=sys.stderr)
            return 2

    from nmre.eval.report import write_table
    from nmre.eval.suite import merge_results, run_suite, suite_plan

    suite = "quick" if args.quick else "full"
    total = len(suite_plan(suite, drills)[0])
    run_ = run_suite(suite, drills, workers=args.workers, progress=_progress(sys.stderr, total))
    figures = run_.figures
    try:
        if args.results is not None:
            doc = merge_results(old_doc, run_)
            tmp = args.results + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, args.results)
        if args.plots is not None:
            from nmre.eval.plots import write_plots

            by_case = {c.index: c for c in run_.cases}
            pairs = [(by_case[r.case], o) for r in run_.results for o in r.observations]
            files = write_plots(args.plots, run_.rules, pairs)
            print(f"nmre eval: {len(files)} plots written to {args.plots}", file=sys.stderr)
    except OSError as exc:
        print(
            f"nmre eval: could not write {exc.filename or 'the output'}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        json.dump(figures, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    else:
        write_table(sys.stdout, figures)
        print(f"({len(run_.cases)} sessions in {run_.wall:.0f} s of wall time)")
    if args.strict and (figures["misses"] or figures["failed_cases"]):
        return 1
    return 0


def _progress(err: Any, total: int) -> Any:
    """A failed case at once, and every tenth of the suite one line on stderr (a long run is not silent)."""
    import time

    state = {"n": 0, "t0": time.perf_counter()}
    step = max(1, total // 10)

    def report(result: Any) -> None:
        state["n"] += 1
        if result.failure is not None:
            f = result.failure
            err.write(f"nmre eval: case {f.name} (seed {f.seed}) failed: {f.error}\n")
        n = state["n"]
        if n % step == 0 or n == total:
            err.write(f"nmre eval: {n}/{total} sessions, {time.perf_counter() - state['t0']:.0f} s\n")
            err.flush()

    return report

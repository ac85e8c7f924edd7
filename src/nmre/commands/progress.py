"""``nmre progress PATIENT``: a trend report across sessions per metric, with MDC95 marks (HTML and PDF)."""

from __future__ import annotations

import argparse
from typing import Any

from nmre.commands._args import out_path
from nmre.commands._store import add_store_option

__all__ = ["NAME", "add_parser", "run"]

NAME = "progress"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "progress",
        help="write a patient's progress report across sessions (HTML and PDF)",
        description="Write a trend report of one patient's sessions of a drill: per check, the session means "
        "with their spread, marking each change that exceeds the minimal detectable change "
        "(MDC95 = 1.96 x sqrt(2) x SEM; SEM from the patient's own repeated reps, or --sem).",
    )
    p.add_argument("patient", metavar="PATIENT", help="the patient's id (nmre patients lists them)")
    p.add_argument("--drill", default=None, help="which drill (default: the patient's most frequent)")
    p.add_argument(
        "--sem",
        action="append",
        default=[],
        metavar="CHECK=VALUE[:SOURCE]",
        help="a published SEM for a check's session score, e.g. 'squat_depth=2.1:Smith 2020' (repeatable)",
    )
    p.add_argument(
        "--out",
        type=out_path,
        metavar="STEM",
        default=None,
        help="write STEM.html and STEM.pdf (default: progress-ID)",
    )
    add_store_option(p)
    return p


def _sems(items: list[str]) -> dict[str, tuple[float, str]]:
    from nmre.errors import ConfigError

    out: dict[str, tuple[float, str]] = {}
    for item in items:
        key, sep, rest = item.partition("=")
        value, _, source = rest.partition(":")
        try:
            v = float(value)
        except ValueError:
            v = float("nan")
        if not sep or not key.strip() or not (v > 0 and v < float("inf")):
            raise ConfigError("--sem: expected CHECK=VALUE[:SOURCE] with a value > 0, got " + repr(item))
        out[key.strip()] = (v, source.strip() or "a published value (source not given)")
    return out


def run(args: argparse.Namespace) -> int:
    from nmre.sessions.report import progress_data, progress_report
    from nmre.sessions.store import open_store

    sems = _sems(args.sem)
    with open_store(args.store, writable=False) as store:
        data = progress_data(store, args.patient, args.drill, sems)
    for path in progress_report(data, args.out or f"progress-{args.patient}"):
        print(f"wrote {path}")
    return 0

"""``nmre demo``: a simulated session end to end, headless (see :mod:`nmre.demo`)."""

from __future__ import annotations

import argparse
from typing import Any

from nmre.commands._args import integer, non_negative_seconds, positive_int, positive_seconds

__all__ = ["NAME", "add_parser", "run"]

NAME = "demo"


def _times(text: str) -> tuple[float, ...]:
    return tuple(non_negative_seconds(t.strip()) for t in text.split(","))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from nmre.demo import EXERCISES, INJECTABLE, MAX_REPS
    from nmre.feedback.schedule import SCHEDULES

    d: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a simulated session of any drill end to end (headless)",
        description="Run a simulated session of a drill on the virtual clock and print the feedback per rep "
        "(hold, transition, target or window). Exit status 1 when what was detected does not match the "
        "simulator's ground truth.",
    )
    d.add_argument(
        "--drill",
        metavar="NAME|FILE",
        default=None,
        help="drill to simulate: a library name ('nmre drills' lists them) or a drill file (default: squat)",
    )
    d.add_argument(
        "--level", type=positive_int, default=None, help="progression level of the drill (default: its base)"
    )
    d.add_argument(
        "--exercise",
        choices=tuple(EXERCISES),
        default=None,
        help="the first names: squat or stance (single-leg)",
    )
    d.add_argument(
        "--reps",
        type=positive_int,
        default=None,
        help=f"reps (holds, transitions; rounds of 8 targets) to perform (default: the drill's; at most {MAX_REPS})",
    )
    d.add_argument(
        "--seed", type=integer, default=1, help="simulator seed (default 1); same seed, same output"
    )
    d.add_argument(
        "--seconds",
        type=positive_seconds,
        default=None,
        help="stop after this many seconds of session time (stance: trial length, default 40)",
    )
    d.add_argument(
        "--realtime", action="store_true", help="pace the session to wall time instead of running ahead"
    )
    d.add_argument(
        "--json", action="store_true", help="print a machine-readable summary with the ground truth"
    )
    d.add_argument(
        "--schedule",
        choices=tuple(SCHEDULES),
        default=None,
        help="feedback schedule (default: the drill file's)",
    )
    d.add_argument(
        "--request-at",
        type=_times,
        action="append",
        default=None,
        metavar="T[,T...]",
        help="self-controlled schedule: the patient asks for feedback at session time T s (repeatable, or T,T,...)",
    )
    d.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="RULE.PARAM=VALUE",
        help="change a rule setting, repeatable (e.g. squat_depth.lo=80; 'none' opens a side)",
    )
    d.add_argument(
        "--kit",
        choices=("full", "minimal", "bilateral"),
        default="full",
        help="simulated sensors (default full)",
    )
    d.add_argument("--side", choices=("right", "left"), default=None, help="the moving or standing side")
    d.add_argument(
        "--inject",
        action="append",
        default=None,
        metavar="REP:ERROR",
        help="inject an error into a rep (1-based; a drill judged over time: START-END:ERROR in s), "
        f"repeatable; the errors the drill's rules name (squat: {', '.join(INJECTABLE)}). "
        "Default: the drill's (squat: 3 shallow reps, 3, 6, 9)",
    )
    d.add_argument("--ble", action="store_true", help="run through emulated Bluetooth devices end to end")
    d.add_argument(
        "--events",
        metavar="FILE",
        default=None,
        help="also write every event as one JSON line to FILE (same seed, byte-identical file)",
    )
    d.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="record the session to an XDF file (raw streams, events, feedback, settings); "
        "replay it with 'nmre replay FILE'",
    )
    return d


def run(args: argparse.Namespace) -> int:
    from nmre.demo import run_from_args

    return run_from_args(args)

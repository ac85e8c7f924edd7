"""``nmre demo``: a simulated session end to end, headless (see :mod:`nmre.demo`)."""

from __future__ import annotations

import argparse
from typing import Any

from nmre.commands._args import integer, positive_int, positive_seconds

__all__ = ["NAME", "add_parser", "run"]

NAME = "demo"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from nmre.demo import EXERCISES, INJECTABLE
    from nmre.feedback.schedule import SCHEDULES

    d: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a simulated session end to end (headless)",
        description="Run a simulated session on the virtual clock and print the feedback per rep.",
    )
    d.add_argument(
        "--exercise", choices=tuple(EXERCISES), default="squat", help="drill to simulate (default: squat)"
    )
    d.add_argument(
        "--drill",
        metavar="NAME|FILE",
        default=None,
        help="run any drill (a library name or a .toml file) on the simulator; exits 1 when its verdicts "
        "disagree with the body's truth (an injected error missed, a clean unit flagged, a unit not counted)",
    )
    d.add_argument("--level", type=positive_int, default=None, help="with --drill: the drill's level")
    d.add_argument(
        "--kit",
        choices=("full", "minimal"),
        default="full",
        help="with --drill: the simulator's sensors (minimal: the fewest the drill accepts)",
    )
    d.add_argument("--clean", action="store_true", help="with --drill: no injected errors")
    d.add_argument(
        "--reps", type=positive_int, default=None, help="squat reps (default 10); with --drill: units"
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
        default="continuous",
        help="feedback schedule (default: continuous)",
    )
    d.add_argument(
        "--inject",
        action="append",
        default=None,
        metavar="REP:ERROR",
        help=f"inject an error into a rep (1-based), repeatable; errors: {', '.join(INJECTABLE)}. "
        "Default: 3 shallow reps (3, 6, 9)",
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

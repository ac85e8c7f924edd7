"""The ``nmre`` command line.

Commands
--------
``nmre demo``   run a simulated session end to end (headless) and print per-rep feedback.
``nmre scan``   list nearby supported BLE sensors (``--sim`` for emulated ones).
``nmre version`` print the version.

Bad options or values print one line naming what was expected and exit with
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from nmre.errors import NmreError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from nmre import __version__
    from nmre.acquisition.scan_cli import add_parser as add_scan_parser
    from nmre.demo import INJECTABLE
    from nmre.drills import DRILLS
    from nmre.feedback.schedule import SCHEDULES

    p = _Parser(prog="nmre", description="Biofeedback engine for neuromuscular re-education.")
    p.add_argument("--version", action="version", version=f"nmre {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    d = sub.add_parser(
        "demo",
        help="run a simulated session end to end (headless)",
        description="Run a simulated session on the virtual clock and print the feedback per rep.",
    )
    d.add_argument("--exercise", choices=DRILLS, default="squat", help="drill to simulate (default: squat)")
    d.add_argument("--reps", type=_positive_int, default=10, help="squat reps (default 10)")
    d.add_argument("--seed", type=_int, default=1, help="simulator seed (default 1); same seed, same output")
    d.add_argument(
        "--seconds",
        type=_positive_float,
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

    add_scan_parser(sub)

    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "version":
            from nmre import __version__

            print(f"nmre {__version__}")
            return 0
        if args.command == "demo":
            from nmre.demo import run_from_args

            return run_from_args(args)
        if args.command == "scan":
            from nmre.acquisition.scan_cli import run as run_scan

            return run_scan(args)
    except NmreError as exc:
        print(f"nmre {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nmre {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    raise SystemExit(main())

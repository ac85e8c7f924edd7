"""``nmre recover FILE``: make a truncated or corrupted recording whole (see :mod:`nmre.sessions.recover`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nmre.commands._args import out_path

__all__ = ["NAME", "add_parser", "run"]

NAME = "recover"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "recover",
        help="make a truncated or corrupted XDF recording whole",
        description="Read whatever is intact in a recording cut short or damaged, rebuild its footers from "
        "the samples and write a whole file (the damaged original is kept as FILE.damaged). "
        "Says what it found, with byte offsets.",
    )
    p.add_argument("file", metavar="FILE", help="the recording (.xdf)")
    p.add_argument(
        "--out",
        type=out_path,
        metavar="OUT",
        default=None,
        help="write the whole file here and leave FILE alone",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.sessions import recover

    report = recover(args.file, args.out)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            print(line)
    return 0

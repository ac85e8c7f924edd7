"""``nmre report SESSION|FILE``: a session report in HTML and PDF (see :mod:`nmre.sessions.report`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from nmre.commands._args import out_path
from nmre.commands._store import add_store_option

__all__ = ["NAME", "add_parser", "run"]

NAME = "report"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write a session report (HTML and PDF)",
        description="Write a session report: the watched signals with their target bands, each rep's checks "
        "and verdict, errors over time, the feedback given, and data quality. SESSION is a session number "
        "in the store (nmre sessions lists them) or a recording (.xdf).",
    )
    p.add_argument("session", metavar="SESSION|FILE", help="a stored session's number, or a recording")
    p.add_argument(
        "--out",
        type=out_path,
        metavar="STEM",
        default=None,
        help="write STEM.html and STEM.pdf (default: session-N)",
    )
    add_store_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.sessions.report import session_data, session_report

    if args.session.isdigit() and not os.path.exists(args.session):
        from nmre.sessions.store import open_store

        with open_store(args.store, writable=False) as store:
            data = session_data(store=store, session=int(args.session))
        stem = args.out or f"session-{args.session}"
    else:
        data = session_data(args.session)
        stem = args.out or os.path.splitext(os.path.basename(args.session))[0] + "-report"
    for path in session_report(data, stem):
        print(f"wrote {path}")
    return 0

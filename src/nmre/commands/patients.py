"""``nmre patients``: the patients in the store (pseudonymous ids), or add one."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nmre.commands._store import add_store_option, open_from_args

__all__ = ["NAME", "add_parser", "run"]

NAME = "patients"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "patients",
        help="list the patients in the session store (pseudonymous ids), or add one",
        description="List the patients in the session store with their number of sessions and the last one. "
        "Patients are pseudonymous ids (no names are needed or kept).",
    )
    p.add_argument(
        "--add",
        nargs="?",
        const=True,
        default=None,
        metavar="ID",
        help="add a patient (an id is drawn if none)",
    )
    p.add_argument("--note", default=None, help="with --add: a note about the patient (no names, please)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as store:
        if args.add is not None:
            pid = store.add_patient(None if args.add is True else args.add, args.note)
            print(pid)
            return 0
        rows = store.patients()
        if args.json:
            json.dump([r.__dict__ for r in rows], sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
            return 0
        print(f"{len(rows)} patients in {store.where}")
        for r in rows:
            last = r.last_session or "-"
            print(f"  {r.id:<16} {r.sessions:>4} sessions  last {last}" + (f"  ({r.note})" if r.note else ""))
    return 0

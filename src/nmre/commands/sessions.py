"""``nmre sessions [PATIENT]``: sessions in the store; save a recording, add a note, export metrics."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nmre.commands._args import out_file, positive_int
from nmre.commands._store import add_store_option, open_from_args

__all__ = ["NAME", "add_parser", "run"]

NAME = "sessions"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sessions",
        help="list sessions in the store; save a recording into it; export metrics to CSV",
        description="List the sessions in the store (all, or one patient's) with their reps and checks on target. "
        "--save FILE.xdf stores a recorded session (its events, reps, calibrations, the file's path and "
        "checksum); --export writes every session's metrics to CSV.",
    )
    p.add_argument("patient", nargs="?", default=None, metavar="PATIENT", help="only this patient's sessions")
    p.add_argument("--save", metavar="FILE", default=None, help="store a recorded session (.xdf)")
    p.add_argument(
        "--patient", dest="save_patient", default=None, help="with --save: the patient (else the file's)"
    )
    p.add_argument(
        "--show", type=positive_int, default=None, metavar="SESSION", help="one session's reps and notes"
    )
    p.add_argument(
        "--note", default=None, metavar="TEXT", help="add a note to --show SESSION (or to PATIENT)"
    )
    p.add_argument(
        "--export",
        type=out_file,
        metavar="CSV",
        default=None,
        help="write the sessions' metrics to a CSV file",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.errors import ConfigError

    with open_from_args(args) as store:
        if args.save is not None:
            sid = store.save_recording(args.save, args.save_patient or args.patient)
            s = store.session(sid)
            print(
                f"session {sid}: {s.patient}, {s.drill}, {s.metrics.get('reps', 0)} reps, saved from {args.save}"
            )
            return 0
        if args.note is not None:
            if args.show is None and args.patient is None:
                raise ConfigError("--note: expected --show SESSION or a PATIENT to attach it to, got neither")
            store.add_note(args.note, patient=args.patient, session=args.show)
        if args.show is not None:
            return _show(store, args.show, args.json)
        if args.export is not None:
            n = store.export_metrics_csv(args.export, args.patient)
            print(f"wrote {n} sessions' metrics to {args.export}")
            return 0
        rows = store.sessions(args.patient)
        if args.json:
            json.dump([r.__dict__ for r in rows], sys.stdout, indent=2, sort_keys=True, default=str)
            sys.stdout.write("\n")
            return 0
        who = f"patient {args.patient}" if args.patient else "all patients"
        print(f"{len(rows)} sessions of {who} in {store.where}")
        for r in rows:
            m = r.metrics
            dur = f"{r.duration:.0f} s" if r.duration is not None else "-"
            print(
                f"  {r.id:>5}  {r.started}  {r.patient:<12} {r.drill:<22} {dur:>7}  {m.get('reps', 0):>3} reps  "
                f"{m.get('outcomes_ok', 0)}/{m.get('outcomes', 0)} checks on target"
            )
    return 0


def _show(store: Any, sid: int, as_json: bool) -> int:
    s = store.session(sid)
    reps = store.reps(sid)
    notes = store.notes(session=sid)
    if as_json:
        doc = {"session": s.__dict__, "reps": [r.__dict__ for r in reps], "notes": notes}
        json.dump(doc, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"session {s.id}: {s.patient}, {s.drill}, started {s.started}, recording {s.recording or '-'}")
    for r in reps:
        verdict = "not judged" if r.ok is None else ("ok " if r.ok else "FIX")
        checks = "  ".join(
            f"{k} {c['value'] if c['value'] is not None else 'n/a'}{'' if c['ok'] else '!'}"
            for k, c in r.checks.items()
        )
        print(
            f"  {r.unit} {r.index:>5}  {verdict}  {checks}"
            + (f"  ({'; '.join(r.unjudged)})" if r.unjudged else "")
        )
    for n in notes:
        print(f"  note {n['written']}: {n['text']}")
    return 0

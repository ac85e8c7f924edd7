"""``nmre replay FILE|DIR ...``: a recording through the same engine, what-if settings, archive tables."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from nmre.commands._args import positive_seconds

__all__ = ["NAME", "add_parser", "run"]

NAME = "replay"


def speed(text: str) -> float | None:
    """``max`` (the virtual clock: as fast as the CPU allows) or a pace > 0 relative to real time."""
    if text.strip().lower() == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (0 < v < math.inf):
        raise argparse.ArgumentTypeError(f"expected 'max' or a number > 0, got {text!r}")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay recordings through the engine (what-if settings, archive tables)",
        description="Replay a recording through the same engine and drill on the virtual clock (or paced). "
        "With --set or --drill, print the outcomes that differ from the recorded session, rep by rep. "
        "With a folder or several files, re-analyse them one after another into one table of "
        "per-session metrics (CSV and Parquet).",
    )
    p.add_argument("files", nargs="+", metavar="FILE|DIR", help="recording(s) (.xdf) or folders of them")
    p.add_argument(
        "--speed", type=speed, default=None, help="'max' (default: virtual clock) or a pace, e.g. 1 or 4"
    )
    p.add_argument("--drill", metavar="NAME|FILE", default=None, help="replay through another drill")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="RULE.PARAM=VALUE",
        help="change a rule setting, repeatable (e.g. squat_depth.lo=80; 'none' opens a side)",
    )
    p.add_argument(
        "--block",
        type=positive_seconds,
        default=None,
        help="replay in blocks of this many seconds of sample time (default: the blocks as recorded)",
    )
    p.add_argument("--schedule", default=None, help="feedback schedule (default: as recorded)")
    p.add_argument("--json", action="store_true", help="print a deterministic JSON document")
    p.add_argument("--record", metavar="OUT", default=None, help="record the replayed session to OUT (.xdf)")
    p.add_argument(
        "--table",
        metavar="STEM",
        default=None,
        help="archive mode: write STEM.csv and STEM.parquet (default nmre-replay-metrics)",
    )
    from nmre.commands._lsl import add_lsl_arguments

    add_lsl_arguments(p, inputs=False)  # --lsl-out: the replayed session's signals, events and cues on LSL
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.errors import ConfigError
    from nmre.sessions.replay import ReplaySettings, parse_overrides

    if args.schedule is not None:
        from nmre.feedback.schedule import make_schedule

        make_schedule(args.schedule)  # an unknown name fails here, listing the choices
    settings = ReplaySettings(
        drill=args.drill,
        overrides=parse_overrides(args.overrides),
        block_seconds=args.block,
        speed=args.speed,
        schedule=args.schedule,
    )
    single = len(args.files) == 1 and not os.path.isdir(args.files[0])
    if single:
        if args.table is not None:  # it would be ignored: one recording makes no table
            raise ConfigError(
                "--table: expected an archive to tabulate (several files or a folder), got one recording"
            )
        return _one(args.files[0], settings, args)
    if args.table is None:
        args.table = "nmre-replay-metrics"
    if args.record is not None:
        raise ConfigError(
            "--record: expected one recording to replay, got an archive (several files or a folder)"
        )
    if args.speed is not None:
        raise ConfigError(
            "--speed: an archive replays on the virtual clock; expected no --speed with several files"
        )
    if args.lsl_out is not None:
        raise ConfigError(
            "--lsl-out: expected one recording to replay, got an archive (several files or a folder)"
        )
    from nmre.sessions.archive import table_stem

    table_stem(args.table)  # a table that cannot be written is said before the archive is replayed
    return _archive(args.files, settings, args)


def _one(path: str, settings: Any, args: argparse.Namespace) -> int:
    from nmre.core import kinds
    from nmre.sessions import XdfRecorder, read_xdf
    from nmre.sessions.metrics import outcomes, rep_rows
    from nmre.sessions.replay import number, replay, what_if

    rec = read_xdf(path)
    for p in rec.problems:
        print(f"nmre replay: {path}: {p} (replaying what is intact)", file=sys.stderr)
    sinks = []
    if args.record is not None:
        meta = dict(rec.metadata)
        meta.pop("software", None)
        meta.pop("created", None)
        # the file's name and checksum, not its folder (a path can name a person: nothing identifying unless added)
        from nmre.sessions.store import sha256_of

        meta["replay_of"] = {"file": os.path.basename(path), "sha256": sha256_of(path)}
        sinks.append(XdfRecorder(args.record, meta, raw=[s.name for s in rec.raw]))
    if args.lsl_out is not None:
        from nmre.commands._lsl import lsl_outlet

        # stamps are sample times from the moment the replay starts (clock None: session 0 = open)
        sinks.append(lsl_outlet(args, None))
    elif args.lsl_wait is not None:
        from nmre.errors import ConfigError

        raise ConfigError("--lsl-wait: expected --lsl-out too (there is no outlet to wait on)")
    res = replay(rec, settings, sinks=sinks)
    what = bool(settings.overrides) or settings.drill is not None
    diffs = None
    baseline = None
    if what:
        recorded = rec.events
        if outcomes(recorded) and (
            settings.drill is None or settings.drill == res.recording.metadata.get("drill", {}).get("name")
        ):
            before, baseline = recorded, "the recorded session"
        else:
            plain = replay(rec, type(settings)(drill=settings.drill, block_seconds=settings.block_seconds))
            before, baseline = plain.events, f"a replay through {plain.drill} without --set"
        diffs = what_if(before, res.events)
    if args.json:
        doc: dict[str, Any] = {
            "nmre_replay": 1,
            "file": path,
            "drill": res.drill,
            "drill_settings": res.drill_settings,
            "block_seconds": settings.block_seconds,
            "session_seconds": round(res.session_seconds, 6),
            "problems": [{"offset": p.offset, "message": p.message} for p in rec.problems],
            "metrics": res.metrics,
            "events": [e.to_dict() for e in res.events],
        }
        if diffs is not None:
            doc["what_if"] = {"compared_with": baseline, "differences": [d.to_dict() for d in diffs]}
        json.dump(doc, sys.stdout, sort_keys=True, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0
    how = "virtual clock" if settings.speed is None else f"paced at {settings.speed:g}x real time"
    print(f"nmre replay: {path}: drill {res.drill}, {res.session_seconds:.1f} s of session, {how}")
    for row in rep_rows(res.events):
        if not row.checks and not row.unjudged:
            continue
        span = (
            f"{row.start:6.1f}-{row.end:6.1f} s"
            if row.start is not None and row.end is not None
            else " " * 15
        )
        verdict = "not judged" if row.ok is None else ("ok " if row.ok else "FIX")
        checks = "  ".join(f"{r} {number(c.value)}{'' if c.ok else '!'}" for r, c in row.checks.items())
        told = f'  told: "{row.cues[0]}"' if row.cues else ""
        why = f"  ({'; '.join(row.unjudged)})" if row.unjudged else ""
        where = f"rep {row.index!s:>3}" if row.unit == "rep" else row.unit
        print(f"  {where:<7} {span}  {verdict}  {checks}{told}{why}")
    m = res.metrics
    print(f"  {m['reps']} reps, {m['outcomes_ok']} of {m['outcomes']} checks on target, {m['cues']} cues")
    for e in res.events:  # a calibration not done (the session ended during it): what waited was not judged
        if e.kind == kinds.CALIBRATION_FAILED:
            print(
                f"  not judged: calibration {e.payload.get('step', e.source)} failed: {e.payload.get('reason')}"
            )
    if diffs is not None:
        for key, change in res.drill_settings.get("overrides", {}).items():
            print(f"what if: {key} {change['before']} -> {change['after']}")
        print(f"what if: {len(diffs)} outcomes differ from {baseline} (* = verdict changed)")
        for d in diffs:
            print("  " + d.line())
    if args.record is not None:
        print(f"recorded the replay to {args.record}")
    return 0


def _archive(paths: list[str], settings: Any, args: argparse.Namespace) -> int:
    from nmre.sessions.archive import find_recordings, replay_archive, write_table

    files = find_recordings(paths)
    print(f"nmre replay: {len(files)} recordings, one after another", flush=True)

    def show(row: dict[str, Any]) -> None:
        if row.get("error"):
            print(f"  FAILED {row['file']}: {row['error']}", flush=True)
        else:
            print(
                f"  {row['file']}: {row['drill']}, {row['session_seconds']:.1f} s, {row['reps']} reps, "
                f"{row['outcomes_ok']}/{row['outcomes']} checks on target",
                flush=True,
            )

    result = replay_archive(files, settings, on_row=show)
    written = write_table(result.rows, args.table)
    print(f"wrote {' and '.join(written)} ({len(result.rows)} rows, {len(result.failed)} failed)")
    return 1 if result.failed else 0

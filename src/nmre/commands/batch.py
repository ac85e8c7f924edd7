"""``nmre batch DIR|GLOB ...``: re-analyse an archive of recordings on Dask into one table of per-session metrics."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Any

from nmre.commands._args import positive_seconds, worker_count

__all__ = ["NAME", "add_parser", "run"]

NAME = "batch"


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="re-analyse many recordings on Dask (a local cluster or one by address) into one metrics table",
        description="Replay every recording through the engine as one Dask task per recording, on a local "
        "cluster (default, 2 worker processes) or an existing cluster by its scheduler's address. The result "
        "is one table of per-session metrics (STEM.parquet and STEM.csv), the same rows as `nmre replay DIR`; "
        "recordings that fail are rows with their reason, and the batch goes on.",
    )
    p.add_argument(
        "paths", nargs="+", metavar="DIR|GLOB", help="folders of .xdf recordings, files, or glob patterns"
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", default=None, help="Dask scheduler, e.g. tcp://host:8786"
    )
    p.add_argument(
        "--workers",
        type=worker_count,
        default=2,
        help="worker processes of the local cluster (default 2; at most 64)",
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
        help="replay in blocks of this many seconds of sample time",
    )
    p.add_argument("--schedule", default=None, help="feedback schedule (default: as recorded)")
    p.add_argument(
        "--table", metavar="STEM", default="nmre-batch-metrics", help="write STEM.parquet and STEM.csv"
    )
    p.add_argument(
        "--dashboard",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve the local cluster's dashboard on 127.0.0.1:PORT",
    )
    p.add_argument(
        "--connect-timeout",
        type=positive_seconds,
        default=10.0,
        help="seconds to wait for --scheduler (default 10)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-recording progress lines")
    return p


def expand(paths: list[str]) -> list[str]:
    """Folders and files as given; glob patterns (``*``, ``?``, ``[``, ``**``) expanded, sorted."""
    from nmre.errors import ConfigError
    from nmre.sessions.archive import find_recordings

    out: list[str] = []
    for p in paths:
        if glob.has_magic(p):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                raise ConfigError(f"batch: the pattern {p!r} matches no file; expected .xdf recordings")
            out.extend(matched)
        else:
            out.append(p)
    files = find_recordings(out)
    seen: set[str] = set()
    unique = []
    for f in files:
        key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def run(args: argparse.Namespace) -> int:
    from nmre.batch import BatchOptions, run_batch
    from nmre.sessions.replay import ReplaySettings, parse_overrides

    if args.schedule is not None:
        from nmre.feedback.schedule import make_schedule

        make_schedule(args.schedule)  # an unknown name fails here, listing the choices
    settings = ReplaySettings(
        drill=args.drill,
        overrides=parse_overrides(args.overrides),
        block_seconds=args.block,
        schedule=args.schedule,
    )
    from nmre.sessions.archive import table_stem

    table_stem(args.table)  # a table that cannot be written is said before the batch runs
    files = expand(args.paths)
    options = BatchOptions(
        scheduler=args.scheduler,
        workers=args.workers,
        dashboard=args.dashboard,
        connect_timeout=args.connect_timeout,
    )
    where = args.scheduler or f"a local cluster of {args.workers} worker(s)"
    print(f"nmre batch: {len(files)} recording(s) on {where}", file=sys.stderr, flush=True)

    def progress(done: int, total: int, row: dict[str, Any]) -> None:
        if args.quiet:
            return
        status = f"failed: {row['error']}" if row.get("error") else "ok"
        print(f"[{done}/{total}] {row.get('file')}: {status}", file=sys.stderr, flush=True)

    result = run_batch(files, settings, options, table=args.table, progress=progress)
    failed = result.failed
    print(
        f"nmre batch: {len(result.rows) - len(failed)} of {len(result.rows)} recording(s) replayed in "
        f"{result.wall_seconds:.1f} s on {result.threads} worker thread(s); table: {', '.join(result.tables)}"
    )
    if result.workers_lost:
        print(
            f"nmre batch: {result.workers_lost} worker(s) died during the batch (their recordings are listed)"
        )
    if failed:
        print(f"nmre batch: {len(failed)} recording(s) failed:")
        for row in failed:
            print(f"  {row.get('file')}: {row['error']}")
    return 1 if failed else 0

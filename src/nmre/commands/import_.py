"""``nmre import FORMAT FILE``: bring a recording made elsewhere into XDF (see :mod:`nmre.sessions.importers`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from nmre.commands._args import out_path, positive_seconds

__all__ = ["NAME", "add_parser", "run"]

NAME = "import"
FORMATS = ("csv", "uci", "myo")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="import a CSV, UCI lower-limb or Myo recording into XDF",
        description="Import a recording made elsewhere into an nmre XDF file, so it replays through any drill "
        "('nmre replay OUT --drill NAME'). Formats: csv (any delimited text: give --kind and --rate or "
        "--time-column), uci (UCI 'EMG dataset in Lower Limb' text files: 4 EMG + knee goniometer), "
        "myo (a Myo armband EMG CSV as LibEMG ships it: 8 channels at 200 Hz).",
    )
    p.add_argument("format", choices=FORMATS, help="input format")
    p.add_argument("file", metavar="FILE", help="the file to import")
    p.add_argument(
        "--out",
        type=out_path,
        metavar="OUT",
        default=None,
        help="the XDF file to write (default: FILE's name + .xdf here)",
    )
    p.add_argument(
        "--drill", metavar="NAME", default=None, help="the drill a replay should use (stored in the file)"
    )
    p.add_argument(
        "--side", choices=("left", "right"), default=None, help="uci, myo: which side the sensors were on"
    )
    csv_ = p.add_argument_group("csv")
    csv_.add_argument("--kind", default=None, help="stream kind: emg, imu, acc, gyro, angle, ...")
    csv_.add_argument("--rate", type=positive_seconds, default=None, metavar="HZ", help="sampling rate, Hz")
    csv_.add_argument(
        "--time-column", default=None, metavar="COL", help="column (name or 0-based index) of times"
    )
    csv_.add_argument(
        "--time-unit", choices=("s", "ms"), default="s", help="unit of the time column (default s)"
    )
    csv_.add_argument(
        "--channels", default=None, metavar="A,B,...", help="channel names (default: the header's)"
    )
    csv_.add_argument(
        "--units", default=None, metavar="U[,U...]", help="one unit for all channels, or one each"
    )
    csv_.add_argument("--placement", default=None, metavar="segment=S,side=R", help="where the sensor sits")
    csv_.add_argument(
        "--channel-placement",
        action="append",
        default=None,
        metavar="muscle=M,side=R",
        help="per channel, in order (EMG: the muscle under each electrode); repeat for each channel",
    )
    csv_.add_argument(
        "--id", dest="stream_id", default=None, help="stream id (default from kind and placement)"
    )
    csv_.add_argument("--delimiter", default=None, help="column delimiter (default: sniffed)")
    p.add_argument("--json", action="store_true", help="print the import report as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.errors import ConfigError
    from nmre.sessions import importers

    out = args.out or os.path.splitext(os.path.basename(args.file))[0] + ".xdf"
    if os.path.abspath(out) == os.path.abspath(args.file):
        raise ConfigError(f"--out: expected a file other than the input, got {out}")
    meta = {"drill": {"name": args.drill, "settings": {}}} if args.drill else {}
    if args.format == "csv":
        if args.kind is None:
            raise ConfigError("import csv: expected --kind (emg, imu, acc, angle, ...), got none")
        report = importers.import_csv(
            args.file,
            out,
            kind=args.kind,
            rate=args.rate,
            time_column=args.time_column,
            time_unit=args.time_unit,
            channels=[c.strip() for c in args.channels.split(",")] if args.channels else None,
            units=[u.strip() for u in args.units.split(",")] if args.units else None,
            placement=importers.parse_placement(args.placement),
            channel_placements=[importers.parse_placement(c) for c in args.channel_placement]
            if args.channel_placement
            else None,
            stream_id=args.stream_id,
            delimiter=args.delimiter,
            metadata=meta,
        )
    else:
        csv_only = [
            o
            for o in ("kind", "time_column", "channels", "units", "placement", "stream_id")
            if getattr(args, o)
        ]
        if csv_only:
            raise ConfigError(
                f"import {args.format}: --{csv_only[0].replace('_', '-')} is for csv imports only"
            )
        if args.format == "uci":
            if args.rate is not None:
                raise ConfigError("import uci: the files are 1000 Hz; expected no --rate")
            report = importers.import_uci(args.file, out, side=args.side, metadata=meta)
        else:
            report = importers.import_myo(
                args.file, out, rate=args.rate or 200.0, side=args.side, metadata=meta
            )
    if args.json:
        json.dump(
            {
                "source": report.source,
                "output": report.output,
                "streams": report.streams,
                "notes": report.notes,
            },
            sys.stdout,
            indent=2,
            sort_keys=True,
        )
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            print(line)
    return 0

"""``nmre scan [--timeout S] [--sim | --bumble TRANSPORT]``: list nearby supported BLE sensors.

With ``--sim`` the command starts the emulated sensors of
:func:`nmre.sim.devices.emulated_fleet` on an in-process Bumble air and lists
what a scan through the Bumble backend hears — the same code path as a real
scan, with ``BleConfig`` as the only difference.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from nmre.commands._args import at_most, positive_seconds

if TYPE_CHECKING:
    from nmre.acquisition.ble import ScanResult

__all__ = ["NAME", "add_parser", "format_results", "run"]

NAME = "scan"


# a scan hears a board advertising within a second or two; 10 minutes is far past any use and still ends
MAX_SCAN_SECONDS = 600.0


_scan_seconds = at_most(
    positive_seconds,
    MAX_SCAN_SECONDS,
    f"a scan time of at most {MAX_SCAN_SECONDS:.0f} s (boards advertise every second or so)",
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``scan`` sub-command to an ``argparse`` sub-parser collection."""
    p: argparse.ArgumentParser = subparsers.add_parser("scan", help="list nearby supported BLE sensors")
    p.add_argument(
        "--timeout", type=_scan_seconds, default=5.0, help="scan time in seconds (default 5, at most 600)"
    )
    p.add_argument("--sim", action="store_true", help="start emulated sensors in-process and list them")
    p.add_argument(
        "--bumble",
        metavar="TRANSPORT",
        default=None,
        type=_transport,
        help="scan through a Bumble HCI transport instead of the OS stack, e.g. tcp-client:127.0.0.1:PORT "
        "of an emulator process started with 'python -m nmre.sim.devices.server --port PORT'",
    )
    return p


def _transport(text: str) -> str:
    """``--bumble``: a transport moniker (checked without loading bleak: the scheme, host and port)."""
    from nmre.acquisition.bumble_backend import check_transport
    from nmre.errors import ConfigError

    try:
        return check_transport(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_results(results: list[ScanResult]) -> str:
    """A plain table: kind, name, address, RSSI."""
    if not results:
        return "no BLE devices found"
    rows = [("KIND", "NAME", "ADDRESS", "RSSI")]
    rows += [(r.kind or "-", r.name or "?", r.address, f"{r.rssi} dBm") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``nmre scan``; returns the process exit code (0 when a supported sensor was found)."""
    from nmre.acquisition.ble import BleConfig, scan  # bleak and Bumble load only when scanning

    out = out or sys.stdout
    timeout = float(args.timeout)
    if getattr(args, "sim", False):
        from bumble.link import LocalLink

        from nmre.sim.devices import emulated_fleet

        link = LocalLink()
        config = BleConfig(backend="bumble", bumble_link=link, emulated=emulated_fleet(link))
    elif getattr(args, "bumble", None):
        # an emulator process (python -m nmre.sim.devices.server --port N) reached over a local socket
        config = BleConfig(backend="bumble", bumble_transport=args.bumble)
    else:
        config = BleConfig()
    results = scan(timeout, config)
    print(format_results(results), file=out)
    return 0 if any(r.kind for r in results) else 1

"""``nmre version``: print the version."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["NAME", "add_parser", "run"]

NAME = "version"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("version", help="print the version")
    return p


def run(args: argparse.Namespace) -> int:
    from nmre import __version__

    print(f"nmre {__version__}")
    return 0

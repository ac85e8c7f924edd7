"""The ``nmre`` command line (placeholder until the demo lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("nmre: commands are being built", file=sys.stderr)
    return 2

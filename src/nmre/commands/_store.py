"""The ``--store`` option shared by the commands that use the session store."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_store_option", "open_from_args"]


def _store(text: str) -> str:
    """A store path or URL; an empty one is an error, not the default store (that is what leaving it out is)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a SQLite file path or a postgresql:// URL, got {text!r}")
    return text


def add_store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=_store,
        metavar="PATH|URL",
        default=None,
        help="the session store: a SQLite file or a postgresql:// URL "
        "(default: $NMRE_STORE, else nmre.sqlite in the user's data directory)",
    )


def open_from_args(args: argparse.Namespace) -> Any:
    from nmre.sessions.store import open_store

    return open_store(args.store)

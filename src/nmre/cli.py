"""The ``nmre`` command line: the composition root.

Each sub-command is a module of :mod:`nmre.commands` (listed in
:data:`nmre.commands.COMMANDS`) with ``add_parser`` and ``run``.

Bad options or values print one line naming what was expected and exit with
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from nmre.commands import COMMANDS
from nmre.commands._args import Parser
from nmre.errors import NmreError

__all__ = ["build_parser", "main"]


def _modules() -> dict[str, ModuleType]:
    mods = (importlib.import_module(f"nmre.commands.{name}") for name in COMMANDS)
    return {m.NAME: m for m in mods}


def build_parser() -> argparse.ArgumentParser:
    from nmre import __version__

    p = Parser(prog="nmre", description="Biofeedback engine for neuromuscular re-education.")
    p.add_argument("--version", action="version", version=f"nmre {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for mod in _modules().values():
        mod.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = _modules()[args.command].run(args)
        return status
    except NmreError as exc:
        print(f"nmre {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nmre {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (
        OSError
    ) as exc:  # a write failed mid-run (disk full, /dev/full, a path gone): what was written stays
        where = f" {exc.filename!r}" if exc.filename else ""
        _say(f"nmre {args.command}: cannot read or write{where}: {exc.strerror or exc}")
        return 1
    except Exception as exc:  # a bug: one line for the user; NMRE_TRACEBACK=1 shows the traceback
        import os

        if os.environ.get("NMRE_TRACEBACK"):
            raise
        _say(
            f"nmre {args.command}: internal error: {type(exc).__name__}: {exc} (NMRE_TRACEBACK=1 shows where)"
        )
        return 1


def _say(line: str) -> None:
    """One line on stderr, even when stdout is what failed."""
    with contextlib.suppress(OSError):
        print(line.replace("\n", " "), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

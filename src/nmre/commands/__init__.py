"""The sub-commands of ``nmre``: one module each, listed in :data:`COMMANDS`.

The command line is the composition root: these modules wire sources, drills
and sinks; no library module imports them. Each module has

* ``NAME``: the sub-command's name;
* ``add_parser(subparsers) -> argparse.ArgumentParser``: adds its parser;
* ``run(args) -> int``: runs it and returns the exit status.

A module is imported only to build the parser (keep its top-level imports
light: load heavy packages inside ``run``). Add a command by adding a module
and one line here.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

#: Module names under :mod:`nmre.commands`, in the order ``nmre --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "drills",
    "eval",
    "scan",
    "studio",
    "version",
    "recover",
    "replay",
    "import_",
    "patients",
    "sessions",
    "report",
    "progress",
    "batch",
    "plugins",
)

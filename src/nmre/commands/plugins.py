"""``nmre plugins``: list the device profiles, rule kinds and drills that installed plugins add."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["NAME", "add_parser", "run"]

NAME = "plugins"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "plugins",
        help="list what installed plugins add (nmre.devices, nmre.rules, nmre.drills) and what failed to load",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.acquisition.profiles import device_plugins
    from nmre.plugins import DRILLS, RULES, discover, drill_paths

    devices = device_plugins()
    rules = discover(RULES)
    drills, drill_problems = drill_paths()
    print(f"{len(devices.plugins)} device profile(s) ({devices.group}):")
    for p in devices.plugins:
        print(f"  {p.name:<16} {p.target}  [{p.dist}]")
    print(f"{len(rules.plugins)} rule kind(s) ({RULES}):")
    for p in rules.plugins:
        print(f"  {p.name:<16} {p.target}  [{p.dist}]")
    print(f"{len(drills)} drill file(s) ({DRILLS}):")
    for plugin, path in drills:
        print(f"  {path.stem:<16} {path}  [{plugin.dist}]")
    problems = [*devices.problems, *rules.problems, *drill_problems]
    if problems:
        print(f"{len(problems)} plugin(s) left out:")
        for problem in problems:
            print(f"  {problem}")
    return 0

"""Drills: which processing nodes and rules an exercise runs, with their targets.

A drill is data plus wiring: :func:`build_drill` takes the exercise name and
the streams that are available, and returns the nodes in the order the engine
should run them. Rules are listed by priority: when several checks fail in
one rep the patient hears about the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nmre.core.model import StreamInfo
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, expected

__all__ = ["DRILLS", "Drill", "build_drill"]


@dataclass
class Drill:
    """The nodes of one exercise and the settings they were built with."""

    name: str
    nodes: list[Node]
    settings: dict[str, Any] = field(default_factory=dict)


def build_drill(name: str, streams: Sequence[StreamInfo], **settings: Any) -> Drill:
    """Build the drill ``name`` ("squat" or "stance") for the given streams."""
    if name == "squat":
        from nmre.drills.squat import build_squat

        return build_squat(streams, **settings)
    if name == "stance":
        from nmre.drills.stance import build_stance

        return build_stance(streams, **settings)
    raise ConfigError("drill: " + expected(f"one of {', '.join(DRILLS)}", name))


DRILLS = ("squat", "stance")

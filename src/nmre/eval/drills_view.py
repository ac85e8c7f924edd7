"""What the suite needs to know about a drill: its rules (quantity, tolerance, error labels), its kit.

Rules are read from the built drill, so the tolerance the suite scores against
is exactly the one the drill judged with (the drill files' clinical settings);
the suite never sets or fits one.
"""

from __future__ import annotations

from typing import Any

from nmre.core.model import StreamInfo, StreamKind
from nmre.eval.margins import margin_for
from nmre.eval.model import RuleView, Tolerance

__all__ = ["drill_names", "emg_kits", "full_kit_rules", "rules_of", "uses_emg"]


def drill_names() -> list[str]:
    """The shipped drills (the library's files and any plugin's), by their file names."""
    from nmre.drills import list_drills

    return list(list_drills())


# -- rules -------------------------------------------------------------------------------------------
def _side_errors(below: Any, above: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    if below:
        out[-1] = str(below)
    if above:
        out[1] = str(above)
    return out


def rules_of(drill: Any) -> list[RuleView]:
    """The rules of a built drill (``nmre.drills.build_drill``'s result), in priority order.

    Every rule node (:class:`nmre.rules.Rule`) says its quantity, unit, tolerance, the unit
    it judges (rep, window, ...) and its error labels.
    """
    import math

    from nmre.engine.nodes import Node
    from nmre.rules import BalanceLossRule, Rule, SwayRule

    out: list[RuleView] = []
    for node in drill.nodes:
        while not isinstance(node, Rule) and isinstance(getattr(node, "node", None), Node):
            node = node.node  # a wrapper (the readiness gate's Gated) judges with the rule inside
        if not isinstance(node, Rule):
            continue
        errors = _side_errors(node.error_below, node.error_above)
        if isinstance(node, BalanceLossRule):  # judged as a moment: scored by time, not by value
            tol, family, unit = Tolerance(), "event", "s"
        elif isinstance(node, SwayRule) and not math.isnan(node.factor):
            tol = Tolerance(factor=node.factor, baseline_units=node.baseline_windows)
            family, unit = node.episodes.unit, node.unit
        else:
            tol, family, unit = Tolerance(lo=node.lo, hi=node.hi), node.episodes.unit, node.unit
        out.append(
            RuleView(drill.name, node.id, node.quantity, family, unit, tol, margin_for(node.quantity), errors)
        )
    return out


_FULL_RULES: dict[str, list[RuleView]] = {}
_USES_EMG: dict[str, tuple[str, ...]] = {}


def _full_streams(drill: str) -> list[StreamInfo]:
    from nmre.eval.simcase import kit_streams

    return kit_streams(drill, "full")


def _kit_reads_emg(drill: str, kit: str) -> bool:
    """Whether a rule of ``drill`` on the simulator's ``kit`` reads EMG: without its EMG streams the drill
    loses a rule (or cannot be built)."""
    from nmre.drills import build_drill
    from nmre.errors import NmreError
    from nmre.eval.simcase import kit_streams

    streams = kit_streams(drill, kit)
    without = [s for s in streams if s.kind is not StreamKind.EMG]
    if len(without) == len(streams):
        return False
    try:
        n = len(rules_of(build_drill(drill, streams)))
    except NmreError:
        return False
    try:
        return len(rules_of(build_drill(drill, without))) < n
    except NmreError:
        return True


def emg_kits(drill: str) -> tuple[str, ...]:
    """The kits (``full``, ``minimal``) in which a rule of ``drill`` reads EMG (cached per process)."""
    if drill not in _USES_EMG:
        _USES_EMG[drill] = tuple(k for k in ("full", "minimal") if _kit_reads_emg(drill, k))
    return _USES_EMG[drill]


def uses_emg(drill: str) -> bool:
    """Whether a rule of ``drill`` needs EMG (in either kit)."""
    return bool(emg_kits(drill))


def full_kit_rules(drill: str) -> list[RuleView]:
    """The rules of ``drill`` built on the simulator's full kit (cached per process)."""
    if drill not in _FULL_RULES:
        from nmre.drills import build_drill

        _FULL_RULES[drill] = rules_of(build_drill(drill, _full_streams(drill)))
    return _FULL_RULES[drill]

"""Rule kinds a drill file may name: the built-in registry plus plugins (``nmre.rules`` entry points)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nmre.rules import RULE_KINDS, Rule

__all__ = ["rule_kind_problems", "rule_kinds"]


def rule_kinds() -> Mapping[str, type[Rule]]:
    """The built-in kinds (:data:`nmre.rules.RULE_KINDS`) plus plugins' (keyed by entry-point name).

    A plugin that is not a :class:`~nmre.rules.Rule` subclass, or whose name is a
    built-in kind, is left out (:func:`rule_kind_problems` says why); it never
    stops a drill that does not use it.
    """
    return MappingProxyType({**_plugins()[0], **RULE_KINDS})


def rule_kind_problems() -> list[str]:
    """Why each rule-kind plugin that was left out was left out, one line each."""
    return _plugins()[1]


def _plugins() -> tuple[dict[str, type[Rule]], list[str]]:
    from nmre.plugins import RULES, Plugin, discover

    def check(p: Plugin) -> str | None:
        if not (isinstance(p.obj, type) and issubclass(p.obj, Rule)):
            return f"expected a subclass of nmre.rules.Rule, got {p.obj!r}"
        if p.name in RULE_KINDS:
            return f"the rule kind {p.name!r} is built in"
        return None

    found = discover(RULES, check=check)
    return {p.name: p.obj for p in found.plugins}, [str(q) for q in found.problems]

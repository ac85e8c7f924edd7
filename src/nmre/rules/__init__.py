"""Rules: movement-pattern checks that turn signals into outcome events, one unit at a time.

:data:`RULE_KINDS` maps each rule kind a drill file may name (``kind =
"band"``) to its class; a drill file combines kinds, code adds them. Every
kind derives from :class:`Rule` (units, outcome and ``<unit>.unjudged``
events, data-quality gating, declared parameters; see :mod:`nmre.rules.base`).
Plugins add kinds through the ``nmre.rules`` entry-point group
(:func:`rule_kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nmre.rules.balance import BalanceLossRule, SwayRule
from nmre.rules.bands import BandRule, LimitRule, SymmetryRule, TempoRule
from nmre.rules.base import Episode, Episodes, Measured, Messages, Param, Rule
from nmre.rules.emg import (
    CoContractionRule,
    CombinedRule,
    ContractionRule,
    OnsetNode,
    OnsetOrderRule,
    RatioRule,
    RelaxationRule,
)
from nmre.rules.movement import HoldTimeRule, SmoothnessRule, TemplateRule
from nmre.rules.quantities import QUANTITIES, Quantity

__all__ = [
    "QUANTITIES",
    "RULE_KINDS",
    "BalanceLossRule",
    "BandRule",
    "CoContractionRule",
    "CombinedRule",
    "ContractionRule",
    "Episode",
    "Episodes",
    "HoldTimeRule",
    "LimitRule",
    "Measured",
    "Messages",
    "OnsetNode",
    "OnsetOrderRule",
    "Param",
    "Quantity",
    "RatioRule",
    "RelaxationRule",
    "Rule",
    "SmoothnessRule",
    "SwayRule",
    "SymmetryRule",
    "TemplateRule",
    "TempoRule",
    "rule_kind_problems",
    "rule_kinds",
]

_BUILTIN: tuple[type[Rule], ...] = (
    BandRule,
    LimitRule,
    RatioRule,
    OnsetOrderRule,
    CoContractionRule,
    ContractionRule,
    RelaxationRule,
    SwayRule,
    BalanceLossRule,
    TempoRule,
    HoldTimeRule,
    SmoothnessRule,
    SymmetryRule,
    TemplateRule,
    CombinedRule,
)

#: Rule kind name → class, for every built-in kind (read-only).
RULE_KINDS: Mapping[str, type[Rule]] = MappingProxyType({c.KIND: c for c in _BUILTIN})


def rule_kinds() -> Mapping[str, type[Rule]]:
    """The built-in kinds plus those plugins add in the ``nmre.rules`` entry-point group (by entry-point name).

    A plugin that is not a :class:`Rule` subclass, or whose name is a built-in
    kind, is left out (see :func:`rule_kind_problems`); it never stops a drill
    that does not use it.
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

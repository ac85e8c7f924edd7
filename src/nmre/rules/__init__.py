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
    """The built-in kinds plus those plugins register in the ``nmre.rules`` entry-point group.

    A plugin's entry point names a :class:`Rule` subclass; it may not replace a
    built-in kind (a clash raises ConfigError naming both).
    """
    from importlib.metadata import entry_points

    from nmre.errors import ConfigError

    kinds = dict(RULE_KINDS)
    for ep in entry_points(group="nmre.rules"):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Rule) and cls.KIND):
            raise ConfigError(f"rule plugin {ep.value!r}: expected a Rule subclass with a KIND, got {cls!r}")
        if cls.KIND in kinds and kinds[cls.KIND] is not cls:
            raise ConfigError(
                f"rule plugin {ep.value!r}: kind {cls.KIND!r} is already {kinds[cls.KIND].__module__}."
                f"{kinds[cls.KIND].__name__}"
            )
        kinds[cls.KIND] = cls
    return MappingProxyType(kinds)

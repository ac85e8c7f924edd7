"""Rules: movement-pattern checks that turn signals into outcome events, one unit at a time.

:data:`RULE_KINDS` maps each rule kind a drill file may name (``kind =
"band"``) to its class; a drill file combines kinds, code adds them. Every
kind derives from :class:`Rule` (units, outcome and ``<unit>.unjudged``
events, data-quality gating, declared parameters; see :mod:`nmre.rules.base`).
Plugins add kinds through the ``nmre.rules`` entry-point group; the drill
layer merges them (:func:`nmre.drills.rule_kinds`).
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
from nmre.rules.movement import HoldTimeRule, MovementTimeRule, SmoothnessRule, TemplateRule
from nmre.rules.quantities import QUANTITIES, Quantity
from nmre.rules.stability import LosRule

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
    "LosRule",
    "Measured",
    "Messages",
    "MovementTimeRule",
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
    MovementTimeRule,
    CombinedRule,
    LosRule,
)

#: Rule kind name → class, for every built-in kind (read-only).
RULE_KINDS: Mapping[str, type[Rule]] = MappingProxyType({c.KIND: c for c in _BUILTIN})

"""Rules: movement-pattern checks that turn signals into outcome events."""

from nmre.rules.rep_rules import RepBandRule

__all__ = ["RepBandRule"]

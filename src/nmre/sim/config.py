"""Movement configurations: what the simulated subject does, under which conditions, with which errors.

Every movement of ``MOVEMENTS`` (see :mod:`nmre.sim.movements`) has a frozen
configuration class derived from :class:`MovementConfig`. Every value is checked
on construction; a wrong value raises :class:`nmre.errors.ConfigError` naming the
class, the field and what was expected.

Errors
------
Movements made of repetitions (reps, holds, transitions, targets) take errors per
record index (0-based)::

    SquatConfig(reps=10, errors={3: {"shallow_squat": 62.0}, 5: ("knee_valgus",)})

A value is the error's severity: the true value of the error's quantity in its
unit (:data:`nmre.sim.catalogue.ERRORS`); ``None`` (or a bare label) draws it
from the error's documented range with the session's seed. Movements in time
(stances) take ``(label, start, end)`` or ``(label, start, end, severity)``.

Conditions
----------
``eyes_closed`` and ``foam`` (balance and weight-bearing movements widen sway),
``resistance`` (an elastic band: 0 none .. 1 heavy; higher activation, slower
movement) and ``tempo`` (a speed factor: 2.0 moves twice as fast, 0.5 half as
fast) are fields of every configuration.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from nmre.errors import ConfigError, expected
from nmre.sim.catalogue import ERRORS

__all__ = ["SIDES", "MovementConfig", "RepErrors", "TimedError", "check_finite", "check_int"]

#: Sides a sided movement can be done on.
SIDES: tuple[str, ...] = ("right", "left")

#: Severities per record index: ``{index: {label: severity or None}}``.
RepErrors = Mapping[int, Mapping[str, float | None]]


@dataclass(frozen=True, slots=True)
class TimedError:
    """An error over a time span of a movement in time (a stance): label, start, end (s), severity."""

    label: str
    start: float
    end: float
    severity: float | None = None


def check_finite(
    owner: str, name: str, value: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False
) -> float:
    """``value`` as a float if it is a finite number within ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    bounds = []
    if lo is not None:
        bounds.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    what = f"{owner}.{name}: " + expected(
        "a finite number" + (" " + " and ".join(bounds) if bounds else ""), value
    )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(what)
    v = float(value)
    if (
        not math.isfinite(v)
        or (lo is not None and (v <= lo if lo_open else v < lo))
        or (hi is not None and v > hi)
    ):
        raise ConfigError(what)
    return v


def check_int(owner: str, name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an int if it is an integer within ``[lo, hi]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < lo
        or (hi is not None and value > hi)
    ):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ConfigError(f"{owner}.{name}: " + expected(f"an integer {rng}", value))
    return int(value)


def _severity(owner: str, where: str, label: str, value: Any) -> float | None:
    if value is None:
        return None
    spec = ERRORS[label]
    lo, hi = spec.limits
    return check_finite(owner, f"errors[{where}][{label!r}]", value, lo, hi)


def normalise_rep_errors(owner: str, errors: Any, n: int, allowed: tuple[str, ...], what: str) -> RepErrors:
    """Check per-record errors and return ``{index: {label: severity or None}}`` (read-only)."""
    if not isinstance(errors, Mapping):
        raise ConfigError(f"{owner}.errors: " + expected(f"a mapping of {what} index to errors", errors))
    out: dict[int, Mapping[str, float | None]] = {}
    for index, item in errors.items():
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < n:
            raise ConfigError(f"{owner}.errors: " + expected(f"a {what} index in 0..{n - 1}", index))
        if isinstance(item, str):
            item = (item,)
        if isinstance(item, Mapping):
            pairs = list(item.items())
        else:
            try:
                pairs = [(k, None) for k in item]
            except TypeError:
                raise ConfigError(
                    f"{owner}.errors[{index}]: "
                    + expected("error labels or a mapping of label to severity", item)
                ) from None
        checked: dict[str, float | None] = {}
        for label, value in pairs:
            if label not in allowed:
                raise ConfigError(
                    f"{owner}.errors[{index}]: " + expected("one of " + ", ".join(allowed), label)
                )
            checked[label] = _severity(owner, str(index), label, value)
        out[int(index)] = MappingProxyType(checked)
    return MappingProxyType(dict(sorted(out.items())))


def normalise_timed_errors(
    owner: str, errors: Any, duration: float, allowed: tuple[str, ...], min_span: Mapping[str, float]
) -> tuple[TimedError, ...]:
    """Check ``(label, start, end[, severity])`` items; return them sorted by start."""
    if isinstance(errors, (str, Mapping)) or not isinstance(errors, Sequence):
        raise ConfigError(f"{owner}.errors: " + expected("a sequence of (kind, start, end)", errors))
    out = []
    for i, item in enumerate(errors):
        if isinstance(item, TimedError):
            item = (item.label, item.start, item.end, item.severity)
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) not in (3, 4):
            raise ConfigError(f"{owner}.errors[{i}]: " + expected("a (kind, start, end) tuple", item))
        label = item[0]
        if label not in allowed:
            raise ConfigError(f"{owner}.errors[{i}]: " + expected("one of " + ", ".join(allowed), label))
        start = check_finite(owner, f"errors[{i}].start", item[1], 0.0, duration)
        end = check_finite(owner, f"errors[{i}].end", item[2], start, duration, lo_open=True)
        need = min_span.get(label, 0.0)
        if end - start < need:
            raise ConfigError(
                f"{owner}.errors[{i}]: " + expected(f"a {label} window of at least {need:g} s", end - start)
            )
        sev = _severity(owner, str(i), label, item[3]) if len(item) == 4 else None
        out.append(TimedError(label, start, end, sev))
    out.sort(key=lambda e: (e.start, e.end, e.label))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class MovementConfig:
    """Fields and checks every movement configuration shares.

    Parameters
    ----------
    side : str
        ``"right"`` or ``"left"``: the moving (or standing, for single-leg stance) side.
    eyes_closed, foam : bool
        Proprioceptive challenge: sway widens (see ``docs/simulator.md``).
    resistance : float
        Elastic band, 0 (none) .. 1 (heavy): activation rises, the movement slows.
    tempo : float
        Speed factor (0.4 .. 2.5): phase durations are divided by it.
    lead_in, lead_out : float
        Quiet time before the first and after the last record, s.
    """

    #: Movement name (the key in ``MOVEMENTS``).
    movement: ClassVar[str] = ""
    #: Error labels this movement can inject.
    error_labels: ClassVar[tuple[str, ...]] = ()
    #: What one truth record is: "rep", "hold", "transition", "window" or "target".
    record: ClassVar[str] = "rep"
    #: Whether ``side`` chooses the moving limb.
    sided: ClassVar[bool] = True
    #: Sides the body model can do this movement on.
    sides: ClassVar[tuple[str, ...]] = SIDES

    side: str = "right"
    eyes_closed: bool = False
    foam: bool = False
    resistance: float = 0.0
    tempo: float = 1.0
    lead_in: float = 2.0
    lead_out: float = 2.0

    def _check_common(self) -> None:
        o = type(self).__name__
        if self.side not in self.sides:
            raise ConfigError(f"{o}.side: " + expected("one of " + ", ".join(self.sides), self.side))
        for name in ("eyes_closed", "foam"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{o}.{name}: " + expected("True or False", getattr(self, name)))
        check_finite(o, "resistance", self.resistance, 0.0, 1.0)
        check_finite(o, "tempo", self.tempo, 0.4, 2.5)
        check_finite(o, "lead_in", self.lead_in, 0.5, 600.0)
        check_finite(o, "lead_out", self.lead_out, 0.5, 600.0)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def conditions(self) -> dict[str, Any]:
        """The conditions as a plain dict (for records and reports)."""
        return {
            "side": self.side,
            "eyes_closed": self.eyes_closed,
            "foam": self.foam,
            "resistance": self.resistance,
            "tempo": self.tempo,
        }


def __getattr__(name: str) -> Any:
    """The first configurations lived here: ``SquatConfig``, ``StanceConfig`` and their error lists."""
    if name in ("SquatConfig", "SQUAT_ERRORS", "StanceConfig", "STANCE_ERRORS", "ERROR_KINDS"):
        import nmre.sim as sim

        return getattr(sim, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

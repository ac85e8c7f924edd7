"""Exercise configurations of the simulator and the movement errors it can inject.

A configuration says *what the subject does* (a squat set, a single-leg stance)
and *which errors to inject where*. Every value is checked on construction;
a wrong value raises :class:`nmre.errors.ConfigError` naming what was expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nmre.errors import ConfigError, expected

__all__ = ["ERROR_KINDS", "SQUAT_ERRORS", "STANCE_ERRORS", "SquatConfig", "StanceConfig"]

#: Errors that can be injected into a squat repetition.
SQUAT_ERRORS: tuple[str, ...] = ("shallow_squat", "excessive_trunk_lean", "knee_valgus", "late_vmo_onset")
#: Errors that can be injected into a time window of single-leg stance.
STANCE_ERRORS: tuple[str, ...] = ("excessive_sway", "loss_of_balance")
#: Every error kind the simulator knows.
ERROR_KINDS: tuple[str, ...] = SQUAT_ERRORS + STANCE_ERRORS


def _finite(
    owner: str, name: str, value: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False
) -> float:
    """Check that ``value`` is a finite number within ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
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


def _kinds(owner: str, where: str, kinds: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        kinds = tuple(kinds)
    except TypeError:
        raise ConfigError(f"{owner}.errors[{where}]: " + expected("a tuple of error kinds", kinds)) from None
    for k in kinds:
        if k not in allowed:
            raise ConfigError(f"{owner}.errors[{where}]: " + expected("one of " + ", ".join(allowed), k))
    return tuple(dict.fromkeys(kinds))


@dataclass(frozen=True)
class SquatConfig:
    """A set of bodyweight squats, with errors injected per repetition.

    Parameters
    ----------
    reps : int
        Number of repetitions (>= 1).
    target_depth_deg : float
        Peak knee flexion of a normal rep, degrees (jittered by about ±2 deg per rep).
    rep_duration : float
        Descent + bottom hold + ascent, seconds (jittered by about ±0.15 s).
    pause : float
        Quiet standing between reps, seconds (>= 1.0; jittered by about ±0.2 s).
    lead_in, lead_out : float
        Quiet standing before the first and after the last rep, seconds.
    trunk_lean_deg : float
        Trunk lean at the bottom of a normal rep at target depth, degrees.
    valgus_deg : float
        Knee valgus at the bottom of a normal rep, degrees.
    vmo_onset_ms : float
        VMO onset minus VL onset in a normal rep, ms (normally <= 0: VMO first).
    errors : mapping of int to tuple of str
        Repetition index (0-based) → error kinds from :data:`SQUAT_ERRORS`.
    shallow_depth_deg : float
        Peak knee flexion of a ``"shallow_squat"`` rep, degrees.
    excessive_lean_deg : float
        Trunk lean at the bottom of an ``"excessive_trunk_lean"`` rep, degrees.
    valgus_error_deg : float
        Knee valgus at the bottom of a ``"knee_valgus"`` rep, degrees.
    late_vmo_ms : float
        VMO onset minus VL onset in a ``"late_vmo_onset"`` rep, ms.
    """

    reps: int = 10
    target_depth_deg: float = 90.0
    rep_duration: float = 3.0
    pause: float = 1.5
    lead_in: float = 2.0
    lead_out: float = 2.0
    trunk_lean_deg: float = 25.0
    valgus_deg: float = 2.0
    vmo_onset_ms: float = -5.0
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    shallow_depth_deg: float = 55.0
    excessive_lean_deg: float = 50.0
    valgus_error_deg: float = 12.0
    late_vmo_ms: float = 80.0

    def __post_init__(self) -> None:
        o = "SquatConfig"
        if isinstance(self.reps, bool) or not isinstance(self.reps, numbers.Integral) or self.reps < 1:
            raise ConfigError(f"{o}.reps: " + expected("an integer >= 1", self.reps))
        object.__setattr__(self, "reps", int(self.reps))
        _finite(o, "target_depth_deg", self.target_depth_deg, 20.0, 130.0)
        _finite(o, "rep_duration", self.rep_duration, 1.5, 10.0)
        _finite(o, "pause", self.pause, 1.0, 60.0)
        _finite(o, "lead_in", self.lead_in, 0.5, 600.0)
        _finite(o, "lead_out", self.lead_out, 0.5, 600.0)
        _finite(o, "trunk_lean_deg", self.trunk_lean_deg, 0.0, 60.0)
        _finite(o, "valgus_deg", self.valgus_deg, -10.0, 25.0)
        _finite(o, "vmo_onset_ms", self.vmo_onset_ms, -200.0, 200.0)
        _finite(o, "shallow_depth_deg", self.shallow_depth_deg, 10.0, self.target_depth_deg)
        _finite(o, "excessive_lean_deg", self.excessive_lean_deg, 0.0, 70.0)
        _finite(o, "valgus_error_deg", self.valgus_error_deg, -10.0, 25.0)
        _finite(o, "late_vmo_ms", self.late_vmo_ms, -200.0, 200.0)
        if not isinstance(self.errors, Mapping):
            raise ConfigError(
                f"{o}.errors: " + expected("a mapping of rep index to error kinds", self.errors)
            )
        checked: dict[int, tuple[str, ...]] = {}
        for rep, kinds in self.errors.items():
            if isinstance(rep, bool) or not isinstance(rep, numbers.Integral) or not 0 <= rep < self.reps:
                raise ConfigError(f"{o}.errors: " + expected(f"a rep index in 0..{self.reps - 1}", rep))
            checked[int(rep)] = _kinds(o, str(rep), kinds, SQUAT_ERRORS)
        object.__setattr__(self, "errors", MappingProxyType(checked))

    @property
    def duration(self) -> float:
        """Nominal session length, seconds (the realised one differs by the per-rep jitter)."""
        return self.lead_in + self.reps * self.rep_duration + (self.reps - 1) * self.pause + self.lead_out


@dataclass(frozen=True)
class StanceConfig:
    """Quiet single-leg stance on the right leg, with errors injected per time window.

    Parameters
    ----------
    duration : float
        Length of the stance, seconds.
    errors : sequence of (kind, start, end)
        Error kind from :data:`STANCE_ERRORS` and its window in seconds from the
        start; ``"loss_of_balance"`` needs a window of at least 3 s (1 s excursion
        ending in touchdown of the raised foot, then recovery).
    eyes_closed : bool
        Eyes closed: normal sway is 1.6 times larger.
    sway_acc_rms : float
        Horizontal RMS of the pelvis sensor's linear acceleration in normal
        eyes-open stance, m/s^2.
    sway_factor : float
        Amplitude factor of sway in an ``"excessive_sway"`` window.
    """

    duration: float = 30.0
    errors: Sequence[tuple[str, float, float]] = ()
    eyes_closed: bool = False
    sway_acc_rms: float = 0.04
    sway_factor: float = 2.5

    def __post_init__(self) -> None:
        o = "StanceConfig"
        _finite(o, "duration", self.duration, 2.0, 48 * 3600.0)
        _finite(o, "sway_acc_rms", self.sway_acc_rms, 0.0, 1.0, lo_open=True)
        _finite(o, "sway_factor", self.sway_factor, 1.0, 10.0)
        if not isinstance(self.eyes_closed, bool):
            raise ConfigError(f"{o}.eyes_closed: " + expected("True or False", self.eyes_closed))
        if isinstance(self.errors, (str, Mapping)) or not isinstance(self.errors, Sequence):
            raise ConfigError(f"{o}.errors: " + expected("a sequence of (kind, start, end)", self.errors))
        checked = []
        for i, item in enumerate(self.errors):
            if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 3:
                raise ConfigError(f"{o}.errors[{i}]: " + expected("a (kind, start, end) tuple", item))
            kind = _kinds(o, str(i), (item[0],), STANCE_ERRORS)[0]
            start = _finite(o, f"errors[{i}].start", item[1], 0.0, self.duration)
            end = _finite(o, f"errors[{i}].end", item[2], start, self.duration, lo_open=True)
            if kind == "loss_of_balance" and end - start < 3.0:
                raise ConfigError(
                    f"{o}.errors[{i}]: " + expected("a loss_of_balance window of at least 3 s", end - start)
                )
            checked.append((kind, start, end))
        checked.sort(key=lambda e: (e[1], e[2], e[0]))
        object.__setattr__(self, "errors", tuple(checked))

"""What a drill file says, as validated data: :class:`DrillSpec` and its parts.

:func:`nmre.drills.load_drill` turns a TOML file into a :class:`DrillSpec`;
:func:`nmre.drills.build_drill` turns a spec and the streams that are
connected into engine nodes. The format is described in ``docs/drills.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nmre.core.model import StreamInfo, StreamKind
from nmre.rules.base import Messages

__all__ = [
    "CONDITIONS",
    "MUSCLES",
    "SEGMENTS",
    "STEPS",
    "UNITS",
    "Criterion",
    "DrillSpec",
    "FeedbackSpec",
    "LevelSpec",
    "PictureSpec",
    "ProgressionSpec",
    "RuleSpec",
    "ScheduleSpec",
    "SegmenterSpec",
    "SensorSpec",
    "Setting",
    "SignalSpec",
    "SoundSpec",
    "StructureSpec",
]

#: Steps of the re-education sequence (reference/clinical.md §2.7, §7 G3), in order.
STEPS = ("single_joint", "multi_joint", "diagonal", "weight_bearing", "balance")
#: Units a drill counts and judges.
UNITS = ("rep", "hold", "window", "transition", "target")
#: Body segments of the placement vocabulary (contract §1).
SEGMENTS = ("pelvis", "trunk", "thigh", "shank", "foot", "upper_arm", "forearm", "scapula", "knee")
#: Muscles of the placement vocabulary (contract §1).
MUSCLES = ("vmo", "vl", "rf", "bf", "st", "gmed", "ut", "lt", "sa", "ad")
#: Conditions a level may set, as the simulator accepts them (contract §2), with their types.
CONDITIONS: Mapping[str, str] = MappingProxyType(
    {
        "eyes_closed": "bool",
        "foam": "bool",
        "resistance": "number 0..1 (an elastic band: 0 none, 1 heavy)",
        "tempo": "number 0.4..2.5 (speed factor: 2 = twice as fast)",
    }
)
#: Sides a sensor may be asked on: the drill's working side, the midline, any, or a fixed side.
SENSOR_SIDES = ("drill", "midline", "any", "left", "right")

_SIDE_WORD = {"left": "left", "right": "right"}


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor the drill uses: what kind, where, what it is for."""

    name: str
    kinds: tuple[StreamKind, ...]
    segments: tuple[str, ...] = ()
    side: str = "any"
    muscles: tuple[str, ...] = ()
    required: bool = True
    purpose: str = ""
    where: str = ""
    #: Sensors this one stands in for when it is worn (a goniometer for the thigh and shank IMUs).
    replaces: tuple[str, ...] = ()

    def describe(self, side: str | None = None) -> str:
        """``"an IMU on the right thigh"`` / ``"EMG of vmo and vl on the left leg"``."""
        s = side if self.side == "drill" else (self.side if self.side in ("left", "right") else None)
        sw = f"{_SIDE_WORD[s]} " if s in _SIDE_WORD else ""
        kind = " or ".join("an accelerometer" if k is StreamKind.ACC else k.value.upper() for k in self.kinds)
        kind = kind.replace("IMU", "an IMU") if kind.startswith("IMU") else kind
        if self.muscles == ("any",):
            return "EMG of the muscle trained" + (f" ({s} side)" if s else "")
        if self.muscles:
            return f"EMG of {' and '.join(self.muscles)}" + (f" ({s} side)" if s else "")
        segs = " or ".join(f"the {sw}{g.replace('_', ' ')}" for g in self.segments)
        return f"{kind} on {segs}" if segs else kind


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """A derived signal: its name in the file, its kind and the kind's fields."""

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SegmenterSpec:
    """How units are found: ``reps`` on a signal, ``cycles`` of work/rest, sway ``windows``."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StructureSpec:
    """Units per set, sets and the rest between sets, and how units are found."""

    unit: str
    per_set: int
    sets: int
    rest_between_sets: float
    segmenter: SegmenterSpec


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule of the file: kind, the quantity it measures, its tolerance, messages and source."""

    id: str
    kind: str
    quantity: str
    unit: str
    lo: float | None
    hi: float | None
    params: Mapping[str, Any]
    messages: Messages
    error_below: str | None
    error_above: str | None
    source: str
    needs: Mapping[str, float] = field(default_factory=dict)

    def tolerance(self) -> str:
        """The tolerance in words: ``75-115 deg``, ``<= 7 deg``, ``>= 0.9``."""
        u = "" if self.unit == "1" else (self.unit if self.unit == "%" else " " + self.unit)
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g}-{self.hi:g}{u}"
        if self.hi is not None:
            return f"<= {self.hi:g}{u}"
        if self.lo is not None:
            return f">= {self.lo:g}{u}"
        f = self.params.get("factor")
        return f"<= {f:g} x own baseline" if isinstance(f, float) and not math.isnan(f) else "(none)"


@dataclass(frozen=True, slots=True)
class PictureSpec:
    """A picture for the patient: a ``gauge`` or ``trace`` of a signal with its band, a ``target``, a ``counter``."""

    kind: str
    signal: str | None = None
    band_from: str | None = None
    label: str = ""
    counts: str | None = None


@dataclass(frozen=True, slots=True)
class SoundSpec:
    """Sound: ``tone`` (an earcon per outcome) or ``sonify`` (a pitch following a signal, silent in the dead zone)."""

    kind: str
    signal: str | None = None
    range: tuple[float, float] | None = None
    dead_zone: tuple[float, float] | None = None
    unit: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """The feedback schedule and its parameters (:data:`nmre.feedback.schedule.SCHEDULES`)."""

    kind: str = "continuous"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedbackSpec:
    schedule: ScheduleSpec = ScheduleSpec()
    picture: tuple[PictureSpec, ...] = ()
    sound: SoundSpec | None = None


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """A progression level: the conditions it trains under and the settings it changes."""

    level: int
    title: str
    about: str = ""
    conditions: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One progression criterion over the last ``sets`` sets.

    ``metric``: ``on_target`` (fraction of judged units with every check on
    target) or ``errors`` (count of units with the movement error ``error``).
    Met when the value is ``>= at_least`` (or ``< below``) in each of those sets.
    """

    metric: str
    sets: int = 1
    at_least: float | None = None
    below: float | None = None
    error: str | None = None

    def describe(self) -> str:
        what = (
            "of units on target"
            if self.metric == "on_target"
            else f"unit{'s' if (self.at_least or 0) != 1 else ''} with {self.error}"
        )
        if self.metric == "on_target":
            bound = f">= {self.at_least:.0%}" if self.at_least is not None else f"< {self.below:.0%}"
        else:
            bound = f">= {self.at_least:g}" if self.at_least is not None else f"< {self.below:g}"
        over = "the last set" if self.sets == 1 else f"each of the last {self.sets} sets"
        return f"{bound} {what} in {over}"


@dataclass(frozen=True, slots=True)
class ProgressionSpec:
    advance: tuple[Criterion, ...] = ()
    step_back: tuple[Criterion, ...] = ()


@dataclass(frozen=True, slots=True)
class Setting:
    """A number (or text) a therapist may change: ``build_drill(..., settings={name: value})``."""

    name: str
    value: Any
    unit: str
    about: str


@dataclass(frozen=True)
class DrillSpec:
    """A validated drill file. See ``docs/drills.md`` for every field."""

    name: str
    title: str
    step: str
    movement: str
    summary: str
    path: str
    sensors: tuple[SensorSpec, ...]
    signals: Mapping[str, SignalSpec]
    structure: StructureSpec
    rules: tuple[RuleSpec, ...]
    feedback: FeedbackSpec
    levels: tuple[LevelSpec, ...]
    progression: ProgressionSpec
    calibration: tuple[str, ...] = ()
    settings: Mapping[str, Setting] = field(default_factory=dict)
    #: The calibration steps with their settings (``nmre.drills._calibration.CalibrationSpec``), in order.
    calibration_steps: tuple[Any, ...] = ()

    @property
    def schedule(self) -> ScheduleSpec:
        return self.feedback.schedule

    def rule(self, rule_id: str) -> RuleSpec:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def level(self, n: int) -> LevelSpec:
        for lv in self.levels:
            if lv.level == n:
                return lv
        raise KeyError(n)

    def missing_sensors(self, streams: Sequence[StreamInfo], side: str | None = None) -> list[str]:
        """What is missing for the drill to run with ``streams``, and where it goes (empty: it can run)."""
        from nmre.drills._sensors import missing

        return missing(self, streams, side)

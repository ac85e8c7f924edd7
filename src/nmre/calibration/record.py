"""The calibration record: every step's result in one serialisable value.

A :class:`Calibration` is what a session's calibration found: whether the signals
were ready (or who overrode the gate, and why), the EMG rest baselines and
references, each IMU's sensor-to-segment rotation (static and functional) and the
demonstrated template reps. It is stored with the session (JSON in the recording's
metadata and the store) and given back to a drill (``build_drill(...,
calibration=record)``): the steps it holds results for are not done again but
finish with them at once (their events say ``reused: true``), so the next set, or
a replay, judges with exactly the calibration the live session measured.

The JSON form is versioned (``"format": "nmre.calibration", "version": 1``); reading
a record checks every field and says which one is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds
from nmre.core.model import Event
from nmre.errors import ConfigError, expected

__all__ = [
    "FORMAT",
    "VERSION",
    "Calibration",
    "EmgReference",
    "EmgRest",
    "HeadingCorrection",
    "ReadinessResult",
    "SegmentPose",
    "Template",
]

FORMAT = "nmre.calibration"
VERSION = 1
F64 = NDArray[np.float64]


def _fail(where: str, what: str, got: object) -> ConfigError:
    return ConfigError(f"calibration record, {where}: " + expected(what, got))


def _floats(d: Mapping[str, Any], key: str, where: str, n: int | None = None) -> list[float]:
    v = d.get(key)
    if not isinstance(v, (list, tuple)) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
    ):
        raise _fail(f"{where}.{key}", "a list of numbers", v)
    if n is not None and len(v) != n:
        raise _fail(f"{where}.{key}", f"{n} numbers", v)
    return [float(x) for x in v]


def _strs(d: Mapping[str, Any], key: str, where: str) -> list[str]:
    v = d.get(key)
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise _fail(f"{where}.{key}", "a list of names", v)
    return list(v)


def _num(d: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    v = d.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise _fail(f"{where}.{key}", "a number", v)
    return float(v)


def _str(d: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise _fail(f"{where}.{key}", "a string", v)
    return v


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class ReadinessResult:
    """The signal-readiness gate's outcome.

    ``state`` is ``"pass"``, ``"fail"`` or ``"override"``; ``problems`` the
    reasons found at the last check (stream id -> list of sentences); ``checks``
    the measured values (stream id -> name -> value); ``override_reason`` and
    ``override_by`` say why and by whom a failing gate was opened.
    """

    state: str
    time: float
    problems: dict[str, list[str]] = field(default_factory=dict)
    checks: dict[str, dict[str, float | None]] = field(default_factory=dict)
    override_reason: str | None = None
    override_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "time": self.time,
            "problems": {k: list(v) for k, v in self.problems.items()},
            "checks": {k: dict(v) for k, v in self.checks.items()},
            "override_reason": self.override_reason,
            "override_by": self.override_by,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "readiness") -> ReadinessResult:
        state = _str(d, "state", where)
        if state not in ("pass", "fail", "override"):
            raise _fail(f"{where}.state", "'pass', 'fail' or 'override'", state)
        problems = d.get("problems", {})
        checks = d.get("checks", {})
        if not isinstance(problems, Mapping) or not isinstance(checks, Mapping):
            raise _fail(where, "problems and checks as tables", (problems, checks))
        return cls(
            state,
            _num(d, "time", where),
            {str(k): [str(s) for s in v] for k, v in problems.items()},
            {
                str(k): {str(n): (None if x is None else float(x)) for n, x in v.items()}
                for k, v in checks.items()
            },
            d.get("override_reason"),
            d.get("override_by"),
        )


@dataclass(frozen=True)
class EmgRest:
    """EMG rest baseline of one stream, taken over a stretch verified as quiet.

    ``baselines`` maps a conditioning name (``"timing"``: band-pass → TKEO → rectify
    → 30 Hz low-pass; ``"envelope"``: the 6 Hz linear envelope, mV) to per-channel
    ``(mu, sigma)`` lists in that signal's units; ``raw_rms_uv`` is the band-passed
    rest RMS per channel in µV (the baseline noise a therapist reads);
    ``spread`` the stationarity of the stretch (highest / lowest sub-window median).
    """

    stream: str
    muscles: list[str]
    baselines: dict[str, tuple[list[float], list[float]]]
    raw_rms_uv: list[float]
    start: float
    end: float
    spread: list[float]

    def baseline(self, conditioning: str) -> tuple[F64, F64]:
        """``(mu, sigma)`` arrays for ``conditioning``; ConfigError naming the ones recorded."""
        try:
            mu, sd = self.baselines[conditioning]
        except KeyError:
            raise ConfigError(
                f"EMG rest baseline of {self.stream!r}: expected a conditioning in "
                f"{sorted(self.baselines)}, got {conditioning!r}"
            ) from None
        return np.asarray(mu, dtype=np.float64), np.asarray(sd, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "muscles": list(self.muscles),
            "baselines": {k: {"mu": list(m), "sigma": list(s)} for k, (m, s) in self.baselines.items()},
            "raw_rms_uv": list(self.raw_rms_uv),
            "start": self.start,
            "end": self.end,
            "spread": [_clean(x) for x in self.spread],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "emg_rest") -> EmgRest:
        muscles = _strs(d, "muscles", where)
        n = len(muscles)
        b = d.get("baselines")
        if not isinstance(b, Mapping) or not b:
            raise _fail(f"{where}.baselines", "a table of conditionings with mu and sigma", b)
        baselines = {
            str(k): (
                _floats(v, "mu", f"{where}.baselines.{k}", n),
                _floats(v, "sigma", f"{where}.baselines.{k}", n),
            )
            for k, v in b.items()
        }
        spread = d.get("spread", [])
        return cls(
            _str(d, "stream", where),
            muscles,
            baselines,
            _floats(d, "raw_rms_uv", where, n),
            _num(d, "start", where),
            _num(d, "end", where),
            [math.inf if x is None else float(x) for x in spread],
        )


@dataclass(frozen=True)
class EmgReference:
    """Reference amplitude per channel for %-reference normalisation.

    ``method`` is ``"mvc"`` (maximal voluntary contraction: the largest trial),
    ``"submax"`` (a sub-maximal reference contraction: the mean of the trials) or
    ``"contralateral"`` (the same muscle on the other side, from ``source``).
    ``values`` are in the envelope's unit (mV of the 6 Hz linear envelope), the peak
    of its ``window``-second moving mean; ``trials`` each trial's values.
    """

    stream: str
    muscles: list[str]
    method: str
    values: list[float]
    unit: str
    window: float
    trials: list[list[float]]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "muscles": list(self.muscles),
            "method": self.method,
            "values": list(self.values),
            "unit": self.unit,
            "window": self.window,
            "trials": [list(t) for t in self.trials],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "emg_reference") -> EmgReference:
        muscles = _strs(d, "muscles", where)
        method = _str(d, "method", where)
        if method not in ("mvc", "submax", "contralateral"):
            raise _fail(f"{where}.method", "'mvc', 'submax' or 'contralateral'", method)
        values = _floats(d, "values", where, len(muscles))
        if not all(v > 0 and math.isfinite(v) for v in values):
            raise _fail(f"{where}.values", "reference amplitudes > 0", values)
        trials = d.get("trials", [])
        if not isinstance(trials, list):
            raise _fail(f"{where}.trials", "a list of trials", trials)
        return cls(
            _str(d, "stream", where),
            muscles,
            method,
            values,
            _str(d, "unit", where, "mV"),
            _num(d, "window", where, 0.5),
            [_floats({"t": t}, "t", f"{where}.trials", len(muscles)) for t in trials],
            d.get("source"),
        )


@dataclass(frozen=True)
class SegmentPose:
    """Sensor-to-segment rotation of one IMU: ``q_segment = q_sensor ⊗ rotation``.

    ``kind`` is ``"neutral"`` (vertical from a static pose; the rotation about the
    long axis unknown) or ``"functional"`` (plus the medio-lateral axis from a
    flexion/extension movement, so the rotation about the long axis is known).
    ``tilt_deg`` is the sensor's tilt on its segment; ``long_axis_deg`` the rotation
    about the long axis the functional movement found (relative to the neutral-only
    calibration); ``planarity`` the share of the movement's angular velocity about its
    principal axis (1 = a pure hinge movement).
    """

    stream: str
    kind: str
    rotation: list[float]
    tilt_deg: float
    start: float
    end: float
    long_axis_deg: float | None = None
    planarity: float | None = None
    movement_deg: float | None = None

    @property
    def quaternion(self) -> F64:
        return np.asarray(self.rotation, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "kind": self.kind,
            "rotation": list(self.rotation),
            "tilt_deg": self.tilt_deg,
            "start": self.start,
            "end": self.end,
            "long_axis_deg": self.long_axis_deg,
            "planarity": self.planarity,
            "movement_deg": self.movement_deg,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "pose") -> SegmentPose:
        kind = _str(d, "kind", where)
        if kind not in ("neutral", "functional"):
            raise _fail(f"{where}.kind", "'neutral' or 'functional'", kind)
        q = _floats(d, "rotation", where, 4)
        if not math.isclose(math.fsum(x * x for x in q), 1.0, rel_tol=1e-6):
            raise _fail(f"{where}.rotation", "a unit quaternion (w, x, y, z)", q)

        def opt(k: str) -> float | None:
            return None if d.get(k) is None else _num(d, k, where)

        return cls(
            _str(d, "stream", where),
            kind,
            q,
            _num(d, "tilt_deg", where),
            _num(d, "start", where),
            _num(d, "end", where),
            opt("long_axis_deg"),
            opt("planarity"),
            opt("movement_deg"),
        )


@dataclass(frozen=True)
class Template:
    """A demonstrated repetition: ``values`` (n_channels, n_samples) of ``channels`` of ``stream``."""

    name: str
    stream: str
    channels: list[str]
    rate: float
    values: list[list[float]]
    start: float
    end: float

    @property
    def array(self) -> F64:
        return np.asarray(self.values, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stream": self.stream,
            "channels": list(self.channels),
            "rate": self.rate,
            "values": [list(r) for r in self.values],
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "template") -> Template:
        channels = _strs(d, "channels", where)
        rows = d.get("values")
        if not isinstance(rows, list) or len(rows) != len(channels):
            raise _fail(f"{where}.values", f"{len(channels)} rows (one per channel)", rows)
        values = [_floats({"r": r}, "r", f"{where}.values") for r in rows]
        if len({len(r) for r in values}) > 1 or (values and len(values[0]) < 2):
            raise _fail(f"{where}.values", "rows of one length >= 2", [len(r) for r in values])
        rate = _num(d, "rate", where)
        if not rate > 0:
            raise _fail(f"{where}.rate", "a rate > 0 Hz", rate)
        return cls(
            _str(d, "name", where),
            _str(d, "stream", where),
            channels,
            rate,
            values,
            _num(d, "start", where),
            _num(d, "end", where),
        )


@dataclass(frozen=True)
class HeadingCorrection:
    """The heading correction of a distal sensor relative to a proximal one from a common lean
    (:class:`nmre.dsp.upper_limb.CommonLean`): ``correction_deg`` about the vertical, from ``samples``
    arm samples between ``start`` and ``end`` (s), applied from ``applied`` (s)."""

    stream: str
    proximal: str
    correction_deg: float
    samples: int
    start: float
    end: float
    applied: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "proximal": self.proximal,
            "correction_deg": self.correction_deg,
            "samples": self.samples,
            "start": self.start,
            "end": self.end,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "heading") -> HeadingCorrection:
        n = d.get("samples")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _fail(f"{where}.samples", "a count >= 1", n)
        return cls(
            _str(d, "stream", where),
            _str(d, "proximal", where),
            _num(d, "correction_deg", where),
            n,
            _num(d, "start", where),
            _num(d, "end", where),
            _num(d, "applied", where),
        )


#: Event kind of each step -> (record attribute, result class).
_STEP_OF_KIND: dict[str, tuple[str, type]] = {
    kinds.CALIBRATION_EMG_REST: ("emg_rest", EmgRest),
    kinds.CALIBRATION_EMG_REFERENCE: ("emg_reference", EmgReference),
    kinds.CALIBRATION_NEUTRAL: ("neutral", SegmentPose),
    kinds.CALIBRATION_LONG_AXIS: ("long_axis", SegmentPose),
    kinds.CALIBRATION_TRAVEL_HEADING: ("long_axis", SegmentPose),
    kinds.CALIBRATION_TEMPLATE: ("templates", Template),
    kinds.CALIBRATION_COMMON_LEAN: ("heading", HeadingCorrection),
}


@dataclass
class Calibration:
    """Everything a session's calibration found (see the module docstring).

    Mutable: steps write their results into the record they are given, keyed by
    stream id (templates by name). :meth:`segment_rotation` gives the best known
    sensor-to-segment rotation of an IMU (functional if done, else neutral).
    """

    readiness: ReadinessResult | None = None
    emg_rest: dict[str, EmgRest] = field(default_factory=dict)
    emg_reference: dict[str, EmgReference] = field(default_factory=dict)
    neutral: dict[str, SegmentPose] = field(default_factory=dict)
    long_axis: dict[str, SegmentPose] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Heading corrections from a common lean, keyed by the distal (arm) stream.
    heading: dict[str, HeadingCorrection] = field(default_factory=dict)

    # -- queries used by drills ------------------------------------------------------------

    def segment_rotation(self, stream: str) -> F64 | None:
        """Sensor-to-segment quaternion of ``stream`` (functional if calibrated, else neutral, else None)."""
        pose = self.long_axis.get(stream) or self.neutral.get(stream)
        return None if pose is None else pose.quaternion

    def baseline(self, stream: str, conditioning: str) -> tuple[F64, F64] | None:
        """EMG rest ``(mu, sigma)`` of ``stream`` for ``conditioning``, or None if not calibrated."""
        rest = self.emg_rest.get(stream)
        return None if rest is None else rest.baseline(conditioning)

    def reference(self, stream: str) -> F64 | None:
        """Per-channel reference amplitudes of ``stream`` (mV of the envelope), or None."""
        ref = self.emg_reference.get(stream)
        return None if ref is None else np.asarray(ref.values, dtype=np.float64)

    @property
    def is_empty(self) -> bool:
        return not (
            self.readiness
            or self.emg_rest
            or self.emg_reference
            or self.neutral
            or self.long_axis
            or self.templates
            or self.heading
        )

    # -- events ----------------------------------------------------------------------------

    def add_event(self, event: Event) -> bool:
        """Take a step's result from its event (``calibration.*``, ``readiness.*``); False if it is none."""
        if event.kind in _STEP_OF_KIND:
            attr, cls = _STEP_OF_KIND[event.kind]
            results = event.payload.get("results")
            if not isinstance(results, Mapping):
                raise _fail(f"event {event.kind}", "a payload with results (key -> entry)", event.payload)
            for key, entry in results.items():
                getattr(self, attr)[str(key)] = cls.from_dict(entry, f"{event.kind}.{key}")  # type: ignore[attr-defined]
            return True
        if event.kind in (kinds.READINESS_PASS, kinds.READINESS_FAIL, kinds.READINESS_OVERRIDE):
            self.readiness = ReadinessResult.from_dict(event.payload, event.kind)
            return True
        return False

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Calibration:
        """The record a session's calibration events describe (later results replace earlier ones)."""
        rec = cls()
        for e in events:
            rec.add_event(e)
        return rec

    # -- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "readiness": None if self.readiness is None else self.readiness.to_dict(),
            "emg_rest": {k: v.to_dict() for k, v in sorted(self.emg_rest.items())},
            "emg_reference": {k: v.to_dict() for k, v in sorted(self.emg_reference.items())},
            "neutral": {k: v.to_dict() for k, v in sorted(self.neutral.items())},
            "long_axis": {k: v.to_dict() for k, v in sorted(self.long_axis.items())},
            "templates": {k: v.to_dict() for k, v in sorted(self.templates.items())},
            "notes": list(self.notes),
            # only when there is one: the records of drills without the step read as before
            **(
                {"heading": {k: v.to_dict() for k, v in sorted(self.heading.items())}} if self.heading else {}
            ),
        }

    def to_json(self, indent: int | None = None) -> str:
        """Deterministic JSON (sorted tables; NaN/inf written as null)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        if not isinstance(d, Mapping):
            raise _fail("top level", "a table", type(d).__name__)
        if d.get("format") != FORMAT:
            raise _fail("format", repr(FORMAT), d.get("format"))
        if d.get("version") != VERSION:
            raise _fail("version", f"{VERSION} (this nmre reads version {VERSION})", d.get("version"))

        def table(name: str, make: Any) -> dict[str, Any]:
            t = d.get(name, {})
            if not isinstance(t, Mapping):
                raise _fail(name, "a table keyed by stream or name", t)
            return {str(k): make(v, f"{name}.{k}") for k, v in t.items()}

        def pose(v: Mapping[str, Any], where: str) -> SegmentPose:
            return SegmentPose.from_dict(v, where)

        rd = d.get("readiness")
        notes = d.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise _fail("notes", "a list of strings", notes)
        return cls(
            None if rd is None else ReadinessResult.from_dict(rd),
            table("emg_rest", EmgRest.from_dict),
            table("emg_reference", EmgReference.from_dict),
            table("neutral", pose),
            table("long_axis", pose),
            table("templates", Template.from_dict),
            list(notes),
            table("heading", HeadingCorrection.from_dict),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Calibration:
        """Read a record; ConfigError naming the field for anything that is not one."""
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"calibration record: expected JSON, got a syntax error ({exc})") from None
        return cls.from_dict(d)


def muscles_of(channels: Sequence[Any]) -> list[str]:
    """Muscle names of EMG channels (the placement's muscle, else the channel name)."""
    return [
        c.placement.muscle if c.placement is not None and c.placement.muscle else c.name for c in channels
    ]

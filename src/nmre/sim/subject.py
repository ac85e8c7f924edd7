"""Simulated subjects: what differs from one person (and one sensor fitting) to the next.

:meth:`Subject.draw` draws a subject from a seed; :meth:`Subject.nominal` is the
average subject. ``simulate(config, seed)`` uses ``Subject.draw(seed)`` unless
given one, so sessions with different seeds are different people. Every range is
documented in ``docs/simulator.md`` ("Subjects").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from nmre.errors import ConfigError, expected
from nmre.sim.body import SENSOR_SEGMENTS, Anthropometry
from nmre.sim.rng import child_rng

__all__ = ["ALL_MUSCLES", "EMG_RMS_AT_FULL", "Subject"]

#: Every muscle the model drives, per EMG site: leg muscles (each side) and the right shoulder.
ALL_MUSCLES: tuple[str, ...] = ("vmo", "vl", "rf", "bf", "st", "gmed", "ut", "lt", "sa", "ad")

#: Nominal EMG RMS at full activation (maximal voluntary contraction), mV, per muscle.
#: Order of magnitude of bipolar surface EMG at MVC (0.2-1 mV; e.g. Merletti & Farina,
#: Surface Electromyography, 2016, ch. 3); VMO and VL equal so the healthy ratio is 1:1.
EMG_RMS_AT_FULL: Mapping[str, float] = MappingProxyType(
    {
        "vmo": 0.55,
        "vl": 0.55,
        "rf": 0.45,
        "bf": 0.40,
        "st": 0.40,
        "gmed": 0.35,
        "ut": 0.50,
        "lt": 0.40,
        "sa": 0.40,
        "ad": 0.45,
    }
)


@dataclass(frozen=True)
class Subject:
    """One simulated person and sensor fitting.

    Parameters
    ----------
    height : float
        Body height, m; segment lengths scale with it (:meth:`Anthropometry.scaled`).
    tempo : float
        The person's own speed: phase durations are divided by it (1 = nominal).
    sway : float
        Factor on the nominal postural sway amplitude of every stance.
    activation : float
        Factor on every muscle's activation during movement (how hard this person works).
    emg_gain : mapping of str to float
        Per-muscle factor on :data:`EMG_RMS_AT_FULL` (skin, fat, electrode placement).
    emg_noise : float
        RMS of the amplifier and skin noise floor, mV.
    pre_activity : float
        Activation level (fraction of maximal) that muscles reach in the ``pre_lead``
        seconds before a burst onset (low-level pre-activity).
    pre_lead : float
        Seconds before a burst onset that the pre-activity starts to ramp up.
    onset_rise : float
        Rise time of a burst from its onset to full level, s (slow ramps: > 0.1 s).
    strap : mapping of str to (float, float, float)
        Per sensor segment, a unit strap rotation: (about the segment's long axis, two
        small tilts), each in [-1, 1]; ``simulate(strap_deg=D)`` scales it to D degrees
        about the long axis and D / 3 for the tilts.
    seat_height : float
        Chair seat height for sitting movements, m (knee height, about 0.26 H).
    """

    height: float = 1.75
    tempo: float = 1.0
    sway: float = 1.0
    activation: float = 1.0
    emg_gain: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(ALL_MUSCLES, 1.0))
    )
    emg_noise: float = 0.007
    pre_activity: float = 0.0
    pre_lead: float = 0.4
    onset_rise: float = 0.03
    strap: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: MappingProxyType({s: (0.0, 0.0, 0.0) for s in SENSOR_SEGMENTS})
    )
    seat_height: float = 0.46

    def __post_init__(self) -> None:
        o = "Subject"
        checks = {
            "height": (1.4, 2.1),
            "tempo": (0.5, 2.0),
            "sway": (0.2, 5.0),
            "activation": (0.3, 2.0),
            "emg_noise": (0.0005, 0.1),
            "pre_activity": (0.0, 0.2),
            "pre_lead": (0.0, 3.0),
            "onset_rise": (0.005, 1.0),
            "seat_height": (0.3, 0.7),
        }
        for name, (lo, hi) in checks.items():
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (math.isfinite(v) and lo <= v <= hi)
            ):
                raise ConfigError(f"{o}.{name}: " + expected(f"a number in {lo:g}..{hi:g}", v))
        gains = dict.fromkeys(ALL_MUSCLES, 1.0)
        for m, g in dict(self.emg_gain).items():
            if m not in gains:
                raise ConfigError(f"{o}.emg_gain: " + expected("muscles among " + ", ".join(ALL_MUSCLES), m))
            if (
                isinstance(g, bool)
                or not isinstance(g, (int, float))
                or not (math.isfinite(g) and 0.05 <= g <= 20)
            ):
                raise ConfigError(f"{o}.emg_gain[{m!r}]: " + expected("a factor in 0.05..20", g))
            gains[m] = float(g)
        object.__setattr__(self, "emg_gain", MappingProxyType(gains))
        straps = {s: (0.0, 0.0, 0.0) for s in SENSOR_SEGMENTS}
        for s, v in dict(self.strap).items():
            a = np.asarray(v, dtype=np.float64) if s in straps else None
            if a is None or a.shape != (3,) or not np.all(np.abs(a) <= 1.0):
                raise ConfigError(
                    f"{o}.strap[{s!r}]: " + expected("3 numbers in [-1, 1] for a sensor segment", v)
                )
            straps[s] = (float(a[0]), float(a[1]), float(a[2]))
        object.__setattr__(self, "strap", MappingProxyType(straps))

    @classmethod
    def nominal(cls) -> Subject:
        """The average subject: 1.75 m, nominal tempo, sway, activation and EMG, straps aligned."""
        return cls()

    @classmethod
    def draw(cls, seed: int, pre_activity_max: float = 0.0) -> Subject:
        """A subject drawn from ``seed`` (ranges in ``docs/simulator.md``).

        ``pre_activity_max`` > 0 draws a low-level pre-activity up to that fraction of
        maximal activation (0.02 is typical). It is off by default for now: with it, the
        squat drill's fixed-baseline onset detector reads VMO-VL lags 9 -> 175 ms wrong
        (eval quick suite), the weakness issue 7.5's robust detector addresses; turn it on
        to test detectors against it.
        """
        rng = child_rng(seed, "subject")
        # one factor for the person's skin and fat, small per-muscle differences of electrode placement
        gains = np.exp(rng.normal(0.0, 0.08, len(ALL_MUSCLES)) + rng.normal(0.0, 0.2))
        straps = {s: tuple(float(x) for x in rng.uniform(-1.0, 1.0, 3)) for s in SENSOR_SEGMENTS}
        height = float(np.clip(rng.normal(1.72, 0.09), 1.50, 1.95))
        return cls(
            height=height,
            tempo=float(np.clip(np.exp(rng.normal(0.0, 0.10)), 0.75, 1.3)),
            sway=float(np.clip(np.exp(rng.normal(0.0, 0.25)), 0.5, 2.0)),
            activation=float(np.clip(np.exp(rng.normal(0.0, 0.12)), 0.7, 1.4)),
            emg_gain={m: float(np.clip(g, 0.3, 3.0)) for m, g in zip(ALL_MUSCLES, gains, strict=True)},
            emg_noise=float(rng.uniform(0.004, 0.010)),
            pre_activity=float(rng.uniform(0.0, 1.0)) * pre_activity_max,
            pre_lead=float(rng.uniform(0.2, 0.6)),
            onset_rise=float(rng.uniform(0.02, 0.06)),
            strap=straps,
            seat_height=float(0.263 * height),
        )

    @property
    def body(self) -> Anthropometry:
        """Segment lengths and offsets for this subject's height."""
        return Anthropometry.scaled(self.height)

    def rms_at_full(self, muscle: str) -> float:
        """EMG RMS at full activation of ``muscle`` for this subject, mV."""
        return EMG_RMS_AT_FULL[muscle] * self.emg_gain[muscle]

    def strap_rotation_deg(self, segment: str, max_deg: float) -> tuple[float, float, float]:
        """The strap rotation of the sensor on ``segment`` as a rotation vector, degrees.

        About the segment's long axis (z) by up to ``max_deg``, tilted about x and y by
        up to ``max_deg / 3`` (a strap slides round a limb far more than it tilts).
        """
        a, b, c = self.strap[segment]
        return (b * max_deg / 3.0, c * max_deg / 3.0, a * max_deg)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["emg_gain"] = dict(self.emg_gain)
        d["strap"] = {k: list(v) for k, v in self.strap.items()}
        return d

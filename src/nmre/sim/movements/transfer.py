"""Sit-to-stand and stand-to-sit from a chair.

The subject starts seated (hips at the seat's height, thighs inclined down to the
knees, shanks 8 deg forward, feet flat) and alternates sit-to-stand and
stand-to-sit transitions. A sit-to-stand is the classic sequence (Schenkman et
al., Phys Ther 70:638, 1990): the trunk flexes forward (flexion momentum), the
pelvis moves forward and leaves the seat at about 30 % of the transition, rises,
and the trunk extends back to upright by the end; a stand-to-sit is the same path
backwards. The pelvis is the root; both legs reach the planted feet by inverse
kinematics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose, leg_ik
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, acc, emg, imu
from nmre.sim.movements.arm import ONSET_FRACTION
from nmre.sim.movements.base import TRUTH_RATE, Movement, ankles, excursion, neutral, rep_index, tilt
from nmre.sim.profiles import Sway, burst, min_jerk
from nmre.sim.truth import TruthRecord

__all__ = ["SIT_TO_STAND_ERRORS", "SitToStandConfig", "SitToStandMovement"]

F64 = NDArray[np.float64]

SIT_TO_STAND_ERRORS: tuple[str, ...] = ("slow_transition", "excessive_trunk_flexion")
_SEAT_OFF = 0.30  # fraction of a sit-to-stand at which the pelvis leaves the seat
_SIT_TRUNK = 5.0  # deg, trunk inclination sitting
_STAND_TRUNK = 2.0  # deg, standing
_PEAK_AT = 0.35  # fraction of the transition at peak trunk flexion
_SHANK_SIT = 8.0  # deg, shanks forward of vertical when seated


@dataclass(frozen=True, kw_only=True)
class SitToStandConfig(MovementConfig):
    """Sit-to-stand and stand-to-sit transitions, alternating, starting seated.

    Parameters
    ----------
    transitions : int
        Number of transitions (sit-to-stand first; 10 = five of each).
    rise_duration, sit_duration : float
        Duration of a sit-to-stand and of a stand-to-sit at tempo 1, s.
    stand_time, sit_time : float
        Time standing and sitting between transitions, s.
    trunk_flexion_deg : float
        Peak trunk inclination of a normal transition, deg.
    errors : mapping of int to errors
        Transition index → ``slow_transition`` (``transition_duration``, s) or
        ``excessive_trunk_flexion`` (``trunk_flexion_peak``, deg).
    """

    movement: ClassVar[str] = "sit_to_stand"
    record: ClassVar[str] = "transition"
    sided: ClassVar[bool] = False
    error_labels: ClassVar[tuple[str, ...]] = SIT_TO_STAND_ERRORS

    transitions: int = 10
    rise_duration: float = 2.0
    sit_duration: float = 2.4
    stand_time: float = 3.0
    sit_time: float = 3.0
    trunk_flexion_deg: float = 40.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("transitions", check_int(o, "transitions", self.transitions, 1, 20_000))
        check_finite(o, "rise_duration", self.rise_duration, 1.0, 10.0)
        check_finite(o, "sit_duration", self.sit_duration, 1.0, 10.0)
        check_finite(o, "stand_time", self.stand_time, 1.0, 600.0)
        check_finite(o, "sit_time", self.sit_time, 1.0, 600.0)
        check_finite(o, "trunk_flexion_deg", self.trunk_flexion_deg, 15.0, 70.0)
        self._set(
            "errors",
            normalise_rep_errors(o, self.errors, self.transitions, SIT_TO_STAND_ERRORS, "transition"),
        )


class SitToStandMovement(Movement):
    """Sit-to-stand transitions (see :class:`SitToStandConfig`)."""

    config_class = SitToStandConfig
    config: SitToStandConfig

    def __init__(self, config: SitToStandConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.transitions
        rng = self.rng("plan")
        rising = np.arange(n) % 2 == 0
        base = np.where(rising, cfg.rise_duration, cfg.sit_duration) / self.speed
        self.dur = base * (1.0 + rng.uniform(-0.08, 0.08, n))
        self.still = np.where(rising, cfg.stand_time, cfg.sit_time) + rng.uniform(-0.3, 0.3, n)
        self.rising = rising
        self.peak = cfg.trunk_flexion_deg + rng.uniform(-4.0, 4.0, n)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            if "slow_transition" in self.errors_of(i):
                self.dur[i] = self.errs[i]["slow_transition"] = self.severity(i, "slow_transition")
        self._restart()
        self._sway = Sway(self.rng("sway"), 0.012 * subject.sway)
        b = self.body
        self._ankles = ankles(b)
        knee = np.array(
            [
                b.shank_length * math.sin(math.radians(_SHANK_SIT)),
                b.shank_length * math.cos(math.radians(_SHANK_SIT)),
            ]
        )
        hip_z = subject.seat_height + 0.08 * b.height / 1.75
        self._sit = np.array([knee[0] - math.sqrt(b.thigh_length**2 - (hip_z - knee[1]) ** 2), hip_z])
        legs = math.sqrt(
            b.thigh_length**2
            + b.shank_length**2
            + 2 * b.thigh_length * b.shank_length * math.cos(math.radians(1.0))
        )
        self._stand = np.array([0.0, legs])
        for i in range(n):
            if "slow_transition" in self.errors_of(i):
                # every part of the path scales with the duration: scale it until the movement time is the severity
                target = self.errs[i]["slow_transition"]
                for _ in range(3):
                    got = self.movement_time(i)
                    if got <= 0.0 or abs(got - target) < 1e-9:
                        break
                    self.dur[i] *= target / got
                    self._restart()
        for i in range(n):
            if "excessive_trunk_flexion" in self.errors_of(i):
                target = self.errs[i]["excessive_trunk_flexion"] = self.severity(i, "excessive_trunk_flexion")
                self.peak[i] = target
                for _ in range(2):
                    self.peak[i] += target - self.trunk_peak(i)
        for i in range(n):
            if "slow_transition" in self.errors_of(i):
                self.errs[i]["slow_transition"] = self.movement_time(i)  # realised

    def _restart(self) -> None:
        self.start = self.config.lead_in + np.concatenate([[0.0], np.cumsum(self.dur[:-1] + self.still[:-1])])
        self.duration = float(self.start[-1] + self.dur[-1] + self.config.lead_out)

    @property
    def end(self) -> F64:
        return self.start + self.dur

    # -- trajectories -------------------------------------------------------------------
    def _phase(self, t: F64) -> tuple[F64, NDArray[np.intp]]:
        """Progress tau in [0, 1] along the sit-to-stand path (0 seated, 1 standing; a stand-to-sit
        runs it backwards) and the index of the current transition."""
        i = rep_index(self.start, t)
        x = np.clip((t - self.start[i]) / self.dur[i], 0.0, 1.0)  # seated before the first one
        return np.where(self.rising[i], x, 1.0 - x), i

    def _path(self, t: F64) -> tuple[F64, F64, F64, F64, F64]:
        """The transition's path without the standing sway: the trunk's inclination and its seated-to-standing
        base (deg), the pelvis' forward position and height (m), and how far the pelvis is off the seat (0..1)."""
        tau, i = self._phase(t)
        up = min_jerk((tau - _SEAT_OFF) / (1.0 - _SEAT_OFF))
        x = self._sit[0] + (self._stand[0] - self._sit[0]) * min_jerk((tau - 0.10) / 0.75)
        z = self._sit[1] + (self._stand[1] - self._sit[1]) * up
        bump = min_jerk(tau / _PEAK_AT) * (1.0 - min_jerk((tau - _PEAK_AT) / (1.0 - _PEAK_AT)))
        base = _SIT_TRUNK + (_STAND_TRUNK - _SIT_TRUNK) * min_jerk((tau - 0.3) / 0.7)
        return base + (self.peak[i] - _SIT_TRUNK) * bump, base, x, z, up

    def pose(self, t: F64) -> Pose:
        ap, ml = self._sway.angles(t)
        # sitting, the body is still; standing, it sways (the factor follows the pelvis off the seat)
        lean_deg, base, x, z, up = self._path(t)
        lean = np.radians(lean_deg)
        r = neutral(t.shape[0])
        r["pelvis"] = tilt(0.5 * (lean - np.radians(base)) + up * ap, np.zeros_like(t))
        r["trunk"] = tilt(lean + up * ap, up * ml)
        # standing, the body sways about the ankles (0.9 m up); seated it is still
        pelvis = np.stack([x + up * 0.9 * ap, up * 0.9 * ml, z], axis=-1)
        for s in ("r", "l"):
            hip = pelvis + np.einsum("nij,j->ni", r["pelvis"], self.body.mirrored(self.body.hip, s))
            r[f"thigh.{s}"], r[f"shank.{s}"], _ = leg_ik(
                hip, self._ankles[s], self.body.thigh_length, self.body.shank_length
            )
        return Pose(r, "pelvis", pelvis)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        i = rep_index(self.start, t)
        n = self.start.shape[0]
        level = np.where(self.rising, 0.50, 0.35)

        def one(k: NDArray[np.intp]) -> F64:
            onset = self.start[k] + 0.15 * self.dur[k]
            return burst(t, onset, self.end[k], level[k], 0.3 * self.dur[k], 0.3)

        from nmre.sim.movements.base import summed

        quad = summed(one, i, n)
        scale = {"vmo": 1.0, "vl": 1.0, "rf": 0.6, "gmed": 0.4, "bf": 0.3, "st": 0.3}.get(muscle, 0.1)
        return np.clip((0.02 + scale * quad) * self.effort, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def movement_time(self, i: int) -> float:
        """``transition_duration``: from the movement's onset to its offset, the first and last instants at
        which the trunk's inclination, the pelvis' forward position or its height changes at
        :data:`~nmre.sim.movements.arm.ONSET_FRACTION` (5 %) or more of that component's peak speed over the
        transition (central differences on the 100 Hz grid, crossings interpolated; the standing sway is not
        the transition and is left out): movement onset and offset as motor control defines them (Teasdale
        et al. 1993), which a detector can see, where the record's ``start`` and ``end`` are the exact first
        and last instants of a minimum-jerk motion, which none can."""
        t = self.grid(float(self.start[i]), float(self.end[i]))
        lean, _, x, z, _ = self._path(t)
        on, off = math.inf, -math.inf
        for v in (lean, x, z):
            speed = np.abs(np.gradient(v)) * TRUTH_RATE
            peak = float(speed.max())
            span = excursion(speed, ONSET_FRACTION * peak) if peak > 0.0 else None
            if span is not None:
                on, off = min(on, span[0]), max(off, span[1])
        return off - on if off > on else 0.0

    def trunk_peak(self, i: int) -> float:
        a, b = float(self.start[i]), float(self.end[i])
        return float(self.angles(a, b, ["trunk_lean"])["trunk_lean"].max())

    def records(self) -> list[TruthRecord]:
        out = []
        for i in range(self.start.shape[0]):
            a, b = float(self.start[i]), float(self.end[i])
            direction = "sit_to_stand" if self.rising[i] else "stand_to_sit"
            seat = a + (_SEAT_OFF if self.rising[i] else 1.0 - _SEAT_OFF) * float(self.dur[i])
            q = {"transition_duration": self.movement_time(i), "trunk_flexion_peak": self.trunk_peak(i)}
            out.append(
                TruthRecord(
                    "transition",
                    i,
                    a,
                    b,
                    errors=self.errs[i],
                    quantities=q,
                    label=direction,
                    times={"seat_off" if self.rising[i] else "seat_on": seat},
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [
            imu("pelvis"),
            imu("trunk"),
            imu(f"thigh.{side}"),
            imu(f"shank.{side}"),
            *(emg(m, side) for m in ("vmo", "vl", "rf")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [acc("pelvis")]

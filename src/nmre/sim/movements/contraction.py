"""EMG contraction training on any muscle: a reference contraction, then contract / hold / relax cycles.

The subject sits still. First a reference contraction (``reference_level`` of maximal,
default a maximal voluntary contraction, held ``reference_time`` s), a rest, then
``cycles`` work/rest cycles: a minimum-jerk rise to ``target_percent`` % of the
reference, a hold, a release and a rest at a low resting tone, as EMG biofeedback
units (MyoTrac-type) train them (clinical.md §2.1, §2.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.errors import ConfigError, expected
from nmre.sim.body import Pose, rot_y
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import ARM_MUSCLES, LEG_MUSCLES, Sensor, emg
from nmre.sim.movements.base import AMPLITUDE_RATE, Movement, rep_index, summed, tilt
from nmre.sim.movements.single_joint import seated
from nmre.sim.profiles import Sway, burst, min_jerk, pre_activity
from nmre.sim.truth import TruthRecord

__all__ = ["CONTRACTION_ERRORS", "ContractionConfig", "ContractionMovement"]

F64 = NDArray[np.float64]

CONTRACTION_ERRORS: tuple[str, ...] = ("weak_contraction", "short_hold", "incomplete_relaxation")
_TONE = 0.005  # resting activation (fraction of maximal)
_SETTLE = 0.5  # s after a release before the rest counts as relaxed


@dataclass(frozen=True, kw_only=True)
class ContractionConfig(MovementConfig):
    """Contract / hold / relax cycles of one muscle after a reference contraction.

    Parameters
    ----------
    muscle : str
        Any muscle of the model (leg muscles on ``side``, shoulder muscles on the right).
    cycles : int
        Work/rest cycles.
    reference_level : float
        Activation of the reference contraction, fraction of maximal (1.0: an MVC; 0.5: sub-maximal).
    reference_time : float
        Plateau of the reference contraction, s.
    target_percent : float
        Level of a normal hold, % of the reference.
    rise, hold, fall, rest : float
        Phases of a cycle at tempo 1, s.
    errors : mapping of int to errors
        Cycle index → ``weak_contraction`` (``contraction_level``, %), ``short_hold``
        (``hold_time``, s), ``incomplete_relaxation`` (``relax_level``, %).
    """

    movement: ClassVar[str] = "emg_contraction"
    record: ClassVar[str] = "hold"
    error_labels: ClassVar[tuple[str, ...]] = CONTRACTION_ERRORS

    muscle: str = "vmo"
    cycles: int = 10
    reference_level: float = 1.0
    reference_time: float = 3.0
    target_percent: float = 50.0
    rise: float = 0.5
    hold: float = 5.0
    fall: float = 0.5
    rest: float = 5.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        if self.muscle not in LEG_MUSCLES + ARM_MUSCLES:
            raise ConfigError(
                f"{o}.muscle: " + expected("one of " + ", ".join(LEG_MUSCLES + ARM_MUSCLES), self.muscle)
            )
        if self.muscle in ARM_MUSCLES and self.side != "right":
            raise ConfigError(
                f"{o}.side: " + expected("'right' for a shoulder muscle (the model's arm)", self.side)
            )
        self._set("cycles", check_int(o, "cycles", self.cycles, 1, 10_000))
        check_finite(o, "reference_level", self.reference_level, 0.1, 1.0)
        check_finite(o, "reference_time", self.reference_time, 1.0, 10.0)
        check_finite(o, "target_percent", self.target_percent, 5.0, 100.0)
        check_finite(o, "rise", self.rise, 0.1, 5.0)
        check_finite(o, "hold", self.hold, 0.5, 120.0)
        check_finite(o, "fall", self.fall, 0.1, 5.0)
        check_finite(o, "rest", self.rest, 2.0, 300.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.cycles, CONTRACTION_ERRORS, "cycle"))


class ContractionMovement(Movement):
    """EMG contraction training (see :class:`ContractionConfig`)."""

    config_class = ContractionConfig
    config: ContractionConfig

    def __init__(self, config: ContractionConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.cycles
        rng = self.rng("plan")
        sp = self.speed
        self.muscle = cfg.muscle
        self.ref_level = cfg.reference_level * min(subject.activation, 1.0 / cfg.reference_level)
        self.ref_start = cfg.lead_in
        self.ref_rise, self.ref_hold, self.ref_fall = 0.5, cfg.reference_time, 0.5
        first = self.ref_start + self.ref_rise + self.ref_hold + self.ref_fall + cfg.rest
        j = 1.0 + rng.uniform(-0.05, 0.05, n)
        self.rise = cfg.rise / sp * j
        self.hold = cfg.hold / sp * j
        self.fall = cfg.fall / sp * j
        self.rest = cfg.rest * (1.0 + rng.uniform(-0.05, 0.05, n))
        self.level = cfg.target_percent / 100.0 * self.ref_level * (1.0 + rng.uniform(-0.05, 0.05, n))
        self.residual = np.zeros(n)  # activation left during the rest after each hold
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            e = self.errors_of(i)
            if "weak_contraction" in e:
                self.level[i] = self.severity(i, "weak_contraction") / 100.0 * self.ref_level
            if "short_hold" in e:
                self.hold[i] = max(self.severity(i, "short_hold") - 0.5 * (self.rise[i] + self.fall[i]), 0.0)
            if "incomplete_relaxation" in e:
                self.residual[i] = self.severity(i, "incomplete_relaxation") / 100.0 * self.ref_level
        self.start = first + np.concatenate(
            [[0.0], np.cumsum((self.rise + self.hold + self.fall + self.rest)[:-1])]
        )
        self.duration = float(
            self.start[-1] + self.rise[-1] + self.hold[-1] + self.fall[-1] + self.rest[-1] + cfg.lead_out
        )
        self._sway = Sway(self.rng("sway"), 0.004 * subject.sway)
        for i in range(n):  # severities are the realised true values
            q = self.quantities(i)
            for label, name in (
                ("weak_contraction", "contraction_level"),
                ("short_hold", "hold_time"),
                ("incomplete_relaxation", "relax_level"),
            ):
                if label in self.errors_of(i):
                    self.errs[i][label] = q[name]

    @property
    def release(self) -> F64:
        """End of every release (the activation is back at rest)."""
        return self.start + self.rise + self.hold + self.fall

    def pose(self, t: F64) -> Pose:
        r, pelvis = seated(self.body, t.shape[0])
        ap, ml = self._sway.angles(t)
        r["trunk"] = tilt(np.radians(3.0) + ap, ml)
        for s in ("r", "l"):
            r[f"shank.{s}"] = r[f"thigh.{s}"] @ rot_y(np.full_like(t, np.pi / 2))
        return Pose(r, "pelvis", pelvis)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        if muscle != self.muscle or side != (self.s if muscle not in ARM_MUSCLES else "r"):
            return np.full_like(t, 2 * _TONE)
        sub = self.subject
        ref = burst(
            t,
            self.ref_start,
            self.ref_start + self.ref_rise + self.ref_hold,
            self.ref_level,
            self.ref_rise,
            self.ref_fall,
        )
        n = self.start.shape[0]
        i = rep_index(self.start, t)

        def cycle(k: NDArray[np.intp]) -> F64:
            on, off = self.start[k], self.start[k] + self.rise[k] + self.hold[k]
            return burst(t, on, off, self.level[k], self.rise[k], self.fall[k]) + pre_activity(
                t, on, off, self.fall[k], sub.pre_activity, sub.pre_lead
            )

        a = _TONE + ref + summed(cycle, i, n)
        # residual activity in the rest after hold i: ramps in with the release, out just before the next rise
        rest_start = self.release[i] - self.fall[i]
        rest_end = np.where(i + 1 < n, self.start[np.minimum(i + 1, n - 1)], self.release[i] + self.rest[i])
        into = min_jerk((t - rest_start) / self.fall[i])
        out = 1.0 - min_jerk((t - (rest_end - 0.3)) / 0.3)
        a = a + self.residual[i] * into * out * (t >= self.start[i])
        return np.clip(a, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def _mean_act(self, a: float, b: float) -> float:
        t = self.grid(a, b, AMPLITUDE_RATE)
        return float(np.mean(self.activation(self.muscle, self._side(), t)))

    def _side(self) -> str:
        return "r" if self.muscle in ARM_MUSCLES else self.s

    def reference_amplitude(self) -> float:
        """Mean true amplitude of the reference contraction's plateau, mV."""
        a = self.ref_start + self.ref_rise
        return self.subject.rms_at_full(self.muscle) * self._mean_act(a, a + self.ref_hold)

    def quantities(self, i: int) -> dict[str, float]:
        ref = self._mean_act(self.ref_start + self.ref_rise, self.ref_start + self.ref_rise + self.ref_hold)
        on = float(self.start[i])
        plateau = (on + float(self.rise[i]), on + float(self.rise[i] + self.hold[i]))
        level = self._mean_act(*plateau) if self.hold[i] > 0.02 else float(self.level[i] + _TONE)
        t = self.grid(on, float(self.release[i]), AMPLITUDE_RATE)
        act = self.activation(self.muscle, self._side(), t)
        hold_time = float(np.count_nonzero(act >= 0.5 * level)) / AMPLITUDE_RATE
        rest_a = float(self.release[i]) + _SETTLE
        rest_b = (
            float(self.start[i + 1]) if i + 1 < self.start.shape[0] else float(self.release[i] + self.rest[i])
        )
        relax = self._mean_act(rest_a, rest_b)
        return {
            "contraction_level": 100.0 * level / ref,
            "hold_time": hold_time,
            "relax_level": 100.0 * relax / ref,
        }

    def records(self) -> list[TruthRecord]:
        ref_mv = self.reference_amplitude()
        a0 = self.ref_start
        out = [
            TruthRecord(
                "reference",
                0,
                a0,
                a0 + self.ref_rise + self.ref_hold + self.ref_fall,
                info={"amplitude_mv": ref_mv, "level": self.ref_level},
                label=self.muscle,
            )
        ]
        for i in range(self.start.shape[0]):
            on = float(self.start[i])
            out.append(
                TruthRecord(
                    "hold",
                    i,
                    on,
                    float(self.release[i]),
                    errors=self.errs[i],
                    quantities=self.quantities(i),
                    label=self.muscle,
                    times={
                        "plateau_start": on + float(self.rise[i]),
                        "plateau_end": on + float(self.rise[i] + self.hold[i]),
                        "rest_end": float(self.start[i + 1])
                        if i + 1 < self.start.shape[0]
                        else float(self.release[i] + self.rest[i]),
                    },
                    info={"reference_mv": ref_mv},
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [emg("vmo", side)]  # the default muscle; an instance wears its own (:meth:`full`)

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [emg("vmo", side)]

    def full(self) -> list[Sensor]:
        return [emg(self.muscle, self._side())]

    def minimal(self) -> list[Sensor]:
        return self.full()

"""Limits of stability: leaning the whole body towards targets in 8 directions and back (ankle strategy).

Targets follow the balance-system protocol (NeuroCom / Biodex limits-of-stability
tests): a cue, a reaction time, a quick primary lean towards the target, a hold,
a return to the centre. A target sits at ``target_percent`` % of the subject's own
limit of stability in its direction; the limits are an ellipse through 8 deg
forward, 4.5 deg backward and 8 deg to each side of centre-of-mass lean about the
ankles (the theoretical limits NeuroCom uses for an adult, ~12.5 deg antero-posterior
and 16 deg lateral sway envelope). Forwards and backwards the body leans as an
inverted pendulum about the ankles (the pelvis and trunk tilt with it); sideways the
pelvis stays level and moves over the legs while the trunk leans (the hip load/unload
mechanism of side-by-side stance, Winter 1995), so a pelvis sensor sees a lateral lean
only as acceleration. The legs follow by IK to the planted feet.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.errors import ConfigError, expected
from nmre.sim.body import Pose, leg_ik
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, imu
from nmre.sim.movements.arm import ONSET_FRACTION
from nmre.sim.movements.base import TRUTH_RATE, Movement, ankles, excursion, neutral, rep_index, tilt
from nmre.sim.profiles import Sway, min_jerk
from nmre.sim.truth import TruthRecord

__all__ = ["DIRECTIONS", "LOS_ERRORS", "LosConfig", "LosMovement"]

F64 = NDArray[np.float64]

LOS_ERRORS: tuple[str, ...] = (
    "slow_reaction",
    "slow_movement",
    "short_excursion",
    "poor_directional_control",
)
#: Target directions in presentation order, with their angle from forward towards the right (deg).
DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("forward", 0.0),
    ("forward_right", 45.0),
    ("right", 90.0),
    ("backward_right", 135.0),
    ("backward", 180.0),
    ("backward_left", 225.0),
    ("left", 270.0),
    ("forward_left", 315.0),
)
_LIMITS = {"forward": 8.0, "backward": 4.5, "lateral": 8.0}  # deg of lean
_BASELINE = 0.5  # s before the cue over which the centre is taken
_SLOW_MAX = 5.0  # s: the longest primary lean of a slow movement (a hesitant lean of 2-5 s)
_MIN_HOLD = 0.5  # s: the shortest hold a slow lean leaves before the target goes
#: s of stillness between the end of a return and the next cue, over whose last 0.5 s the next centre is taken
_GAP_SPARE = _BASELINE + 0.2


def limit_deg(angle: float) -> float:
    """The limit of stability (deg of lean) in direction ``angle`` (deg from forward towards the right)."""
    a = math.radians(angle)
    ap = _LIMITS["forward"] if math.cos(a) >= 0 else _LIMITS["backward"]
    ml = _LIMITS["lateral"]
    return 1.0 / math.sqrt((math.cos(a) / ap) ** 2 + (math.sin(a) / ml) ** 2)


@dataclass(frozen=True, kw_only=True)
class LosConfig(MovementConfig):
    """Limits-of-stability targets: ``rounds`` x 8 directions.

    Parameters
    ----------
    rounds : int
        Rounds of the 8 targets.
    target_percent : float
        Target lean, % of the subject's limit of stability in that direction.
    move, hold, back, rest : float
        Primary movement, hold at the target, return and rest durations at tempo 1, s.
    errors : mapping of int to errors
        Target index → ``slow_reaction`` (``reaction_time``, s), ``slow_movement``
        (``movement_velocity``, deg/s: the primary lean stretched on its same minimum-jerk path, up to
        5 s, the hold shortened so the trial still fits before the next cue; a severity slower than a
        5 s lean realises is that lean's velocity), ``short_excursion`` (``max_excursion``, % of the
        target), ``poor_directional_control`` (``directional_control``, %).
    cues : sequence of float
        When each target is shown, session seconds (``8 x rounds`` increasing times): in a
        real session the drill shows the targets, so the body follows the drill's schedule
        (``nmre.drills.target_plan``). Empty (default): the body's own pace (reaction,
        lean, hold, return, rest, then the next target).
    """

    movement: ClassVar[str] = "limits_of_stability"
    record: ClassVar[str] = "target"
    sided: ClassVar[bool] = False
    error_labels: ClassVar[tuple[str, ...]] = LOS_ERRORS

    rounds: int = 1
    target_percent: float = 75.0
    move: float = 1.0
    hold: float = 2.0
    back: float = 1.5
    rest: float = 2.0
    errors: Any = field(default_factory=dict)
    cues: Any = ()

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("rounds", check_int(o, "rounds", self.rounds, 1, 1_000))
        cues = tuple(check_finite(o, f"cues[{i}]", c, 0.0) for i, c in enumerate(self.cues))
        if cues and (len(cues) != 8 * self.rounds or any(b <= a for a, b in itertools.pairwise(cues))):
            raise ConfigError(
                f"{o}.cues: " + expected(f"{8 * self.rounds} increasing cue times (8 x rounds)", self.cues)
            )
        self._set("cues", cues)
        check_finite(o, "target_percent", self.target_percent, 20.0, 100.0)
        check_finite(o, "move", self.move, 0.3, 5.0)
        check_finite(o, "hold", self.hold, 0.5, 10.0)
        check_finite(o, "back", self.back, 0.3, 5.0)
        check_finite(o, "rest", self.rest, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, 8 * self.rounds, LOS_ERRORS, "target"))


class LosMovement(Movement):
    """Limits of stability (see :class:`LosConfig`)."""

    config_class = LosConfig
    config: LosConfig

    def __init__(self, config: LosConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = 8 * cfg.rounds
        rng = self.rng("plan")
        sp = self.speed
        self.angle = np.array([DIRECTIONS[k % 8][1] for k in range(n)])
        self.names = [DIRECTIONS[k % 8][0] for k in range(n)]
        a = np.radians(self.angle)
        mag = np.array([limit_deg(x) for x in self.angle]) * cfg.target_percent / 100.0
        self.target = np.stack([mag * np.cos(a), mag * np.sin(a)], axis=1)  # (n, 2): forward, right (deg)
        self.unit = self.target / mag[:, None]
        self.normal = np.stack([-self.unit[:, 1], self.unit[:, 0]], axis=1)
        self.rt = rng.uniform(0.6, 0.9, n) / sp
        self.reach = rng.uniform(85.0, 100.0, n)  # % of the target
        self.curve = rng.uniform(0.03, 0.10, n) * rng.choice(
            [-1.0, 1.0], n
        )  # path bulge, fraction of the target
        j = 1.0 + rng.uniform(-0.05, 0.05, n)
        self.move_t = cfg.move / sp * j
        self.hold_t = cfg.hold * j
        self.back_t = cfg.back / sp * j
        self.rest_t = cfg.rest + rng.uniform(-0.2, 0.2, n)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            if "slow_reaction" in self.errors_of(i):
                self.rt[i] = self.severity(i, "slow_reaction")
        self._schedule()
        self._sway = Sway(self.rng("sway"), 0.012 * subject.sway)
        self._ankles = ankles(self.body)
        b = self.body
        self._hip_height = 0.997 * (b.thigh_length + b.shank_length)
        # per target, in the order that keeps each severity: the reach and the path first (the velocity scales with
        # the reach), then the lean's duration, then the reaction (a stretched lean's 5 % onset comes later)
        for i in range(n):
            e = self.errors_of(i)
            if "short_excursion" in e:
                target = self.severity(i, "short_excursion")
                self.reach[i] = target
                for _ in range(2):
                    self.reach[i] += target - self.quantities(i)["max_excursion"]
            if "poor_directional_control" in e:
                target = self.severity(i, "poor_directional_control")
                lo, hi = 0.0, 1.5
                for _ in range(40):
                    self.curve[i] = 0.5 * (lo + hi)
                    lo, hi = (
                        (self.curve[i], hi)
                        if self.quantities(i)["directional_control"] > target
                        else (lo, self.curve[i])
                    )
            if "slow_movement" in e:
                self._slow_lean(i, self.severity(i, "slow_movement"))
            if "slow_reaction" in e:  # the severity is the true reaction time: cue to the movement's onset
                target = self.severity(i, "slow_reaction")
                for _ in range(3):  # (the grid's interpolated crossing moves a little with the start)
                    self.rt[i] += target - (self.movement_onset(i) - float(self.cue[i]))
                    self._schedule()
        for i in range(n):
            q = self.quantities(i)
            for label, name in (
                ("slow_reaction", "reaction_time"),
                ("slow_movement", "movement_velocity"),
                ("short_excursion", "max_excursion"),
                ("poor_directional_control", "directional_control"),
            ):
                if label in self.errors_of(i):
                    self.errs[i][label] = q[name]

    def _slow_lean(self, i: int, velocity: float) -> None:
        """Stretch target ``i``'s primary lean (same minimum-jerk path) until its true ``movement_velocity`` is
        ``velocity``, up to :data:`_SLOW_MAX` s and what the trial leaves. With the drill's cues the reaction, the
        lean, a hold of at least :data:`_MIN_HOLD` s and the return fit in the drill's cycle (the shortest time
        between two cues, also for the last target of a set or session: the target goes when its trial is over),
        the hold shortened to fit (a hesitant patient holds less). The error only slows: a severity at or above
        the lean's own velocity leaves it as it is."""
        cycle = float(np.diff(self.cue).min()) if self.config.cues and self.cue.shape[0] > 1 else math.inf
        hold = float(self.hold_t[i])
        budget = cycle - _GAP_SPARE - float(self.rt[i]) - float(self.back_t[i])  # for the lean and the hold
        shortest = float(self.move_t[i])
        longest = max(shortest, min(_SLOW_MAX, budget - _MIN_HOLD))
        # the velocity falls about as 1 / duration; the sway's path keeps it from exactly that
        for _ in range(30):
            v = self.quantities(i)["movement_velocity"]
            t = float(np.clip(self.move_t[i] * v / velocity, shortest, longest))
            if abs(v - velocity) < 1e-5 * velocity or t == float(self.move_t[i]):
                break
            self.move_t[i] = t
            self.hold_t[i] = float(np.clip(budget - t, _MIN_HOLD, hold))
            self._schedule()

    def _schedule(self) -> None:
        dur = self.rt + self.move_t + self.hold_t + self.back_t + self.rest_t
        self.cue = self.config.lead_in + np.concatenate([[0.0], np.cumsum(dur[:-1])])
        if self.config.cues:  # the drill's schedule: each target's trial must fit before the next cue
            self.cue = np.asarray(self.config.cues, dtype=np.float64)
            need = self.rt + self.move_t + self.hold_t + self.back_t
            gap = np.append(np.diff(self.cue), np.inf)
            short = np.flatnonzero(need > gap)
            if short.size:
                k = int(short[0])
                raise ConfigError(
                    f"LosConfig.cues: expected at least {need[k]:.2f} s between target {k + 1} and the next "
                    f"(reaction, lean, hold and return of this subject), got {gap[k]:.2f} s"
                )
        self.onset = self.cue + self.rt
        self.back_start = self.onset + self.move_t + self.hold_t
        self.done = self.back_start + self.back_t
        self.duration = float(self.done[-1] + self.rest_t[-1] + self.config.lead_out)

    def planned_lean(self, t: F64) -> F64:
        """The planned lean (2, n): forward and to the right, deg (without sway)."""
        i = rep_index(self.cue, t)
        u = min_jerk((t - self.onset[i]) / self.move_t[i])
        back = min_jerk((t - self.back_start[i]) / self.back_t[i])
        along = self.reach[i] / 100.0 * (u - back)
        bulge = self.curve[i] * np.sin(np.pi * np.clip((t - self.onset[i]) / self.move_t[i], 0.0, 1.0))
        return (
            self.target[i] * along[:, None]
            + self.normal[i] * (np.linalg.norm(self.target[i], axis=-1) * bulge)[:, None]
        ).T

    def pose(self, t: F64) -> Pose:
        ap, ml = self._sway.angles(t)
        lean = np.radians(self.planned_lean(t))
        fwd, right = lean[0] + ap, lean[1] - ml  # sway ml is to the left (+y)
        r_body = tilt(np.radians(1.0) + fwd, right)
        r = neutral(t.shape[0])
        mid = 0.5 * (self._ankles["r"] + self._ankles["l"])
        pelvis = mid + np.einsum("nij,j->ni", r_body, np.array([0.0, 0.0, self._hip_height]))
        # sideways the pelvis stays level and moves over the legs (the hip load/unload mechanism of
        # side-by-side stance, Winter, Gait Posture 3:193, 1995); the trunk leans with the body
        r["pelvis"] = tilt(np.radians(5.0) + fwd, np.zeros_like(t))
        r["trunk"] = tilt(np.radians(3.0) + fwd, right)
        for s in ("r", "l"):
            hip = pelvis + np.einsum("nij,j->ni", r["pelvis"], self.body.mirrored(self.body.hip, s))
            r[f"thigh.{s}"], r[f"shank.{s}"], _ = leg_ik(
                hip, self._ankles[s], self.body.thigh_length, self.body.shank_length
            )
        return Pose(r, "pelvis", pelvis)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        lean = self.planned_lean(t)
        forward = np.clip(lean[0] / 8.0, 0.0, 1.0)
        tone = {"vmo": 0.06, "vl": 0.07, "rf": 0.04, "bf": 0.05, "st": 0.05, "gmed": 0.12}.get(muscle, 0.02)
        return np.clip(
            tone
            + 0.2 * forward * (muscle in ("bf", "st"))
            + 0.1 * np.abs(lean[1]) / 8.0 * (muscle == "gmed"),
            0.0,
            1.0,
        )

    # -- truth --------------------------------------------------------------------------
    def cog_lean(self, t: F64) -> F64:
        """True centre-of-mass lean (2, n): forward and to the right, deg; the line from the ankles'
        midpoint to the pelvis centre, from the body state."""
        st = self.state(t, ("pelvis",))
        v = st.joints["pelvis"] - 0.5 * (self._ankles["r"] + self._ankles["l"])[:, None]
        return np.degrees(np.vstack([np.arctan2(v[0], v[2]), np.arctan2(-v[1], v[2])]))

    def movement_onset(self, i: int) -> float:
        """Session time of target ``i``'s movement onset: the first instant the primary lean's speed toward the
        target reaches :data:`~nmre.sim.movements.arm.ONSET_FRACTION` (5 %) of its peak (central differences on the
        100 Hz grid, the crossing interpolated; the standing sway is not the lean and is left out), the onset
        ``movement_time`` and ``transition_duration`` use (Teasdale et al. 1993). A minimum-jerk lean reaches it
        0.059 of its duration after its exact start (``times.onset``), which no detector sees in sway: the
        speed starts from 0 with zero slope."""
        start, move = float(self.onset[i]), float(self.move_t[i])
        t = self.grid(start - 0.05, start + move)
        along = self.unit[i] @ self.planned_lean(t)
        speed = np.abs(np.gradient(along)) * TRUTH_RATE
        span = excursion(speed, ONSET_FRACTION * float(speed.max()))
        return start if span is None else float(t[0]) + span[0]

    def quantities(self, i: int) -> dict[str, float]:
        cue, onset = float(self.cue[i]), float(self.onset[i])
        t = self.grid(cue - _BASELINE, float(self.done[i]))
        lean = self.cog_lean(t)
        centre = lean[:, t < cue].mean(axis=1)
        d = lean - centre[:, None]
        unit, normal = self.unit[i], self.normal[i]
        mag = float(np.linalg.norm(self.target[i]))
        primary = (t >= onset - 1e-9) & (t <= onset + float(self.move_t[i]) + 1e-9)
        hold = (t >= onset) & (t <= float(self.back_start[i]))
        p = d[:, primary]
        dist = np.linalg.norm(p - p[:, :1], axis=0)
        tp = t[primary]
        k5 = int(np.argmax(dist >= 0.05 * dist[-1]))
        k95 = int(np.argmax(dist >= 0.95 * dist[-1]))
        seg = np.linalg.norm(np.diff(p[:, k5 : k95 + 1], axis=1), axis=0).sum()
        # NeuroCom's directional control: movement toward the target against extraneous movement, which is the
        # path across and the steps away from the target (the rule's definition, nmre.dsp.stability)
        step = np.diff(p, axis=1)
        along = unit @ step
        on = float(along[along > 0].sum())
        off = float(-along[along < 0].sum() + np.abs(normal @ step).sum())
        return {
            "reaction_time": self.movement_onset(i) - cue,
            "movement_velocity": float(seg / (tp[k95] - tp[k5])) if k95 > k5 else 0.0,
            "max_excursion": 100.0 * float((unit @ d[:, hold]).max()) / mag,
            "directional_control": 100.0 * (on - off) / on,
        }

    def records(self) -> list[TruthRecord]:
        out = []
        for i in range(self.cue.shape[0]):
            out.append(
                TruthRecord(
                    "target",
                    i,
                    float(self.cue[i]),
                    float(self.done[i]),
                    errors=self.errs[i],
                    quantities=self.quantities(i),
                    label=self.names[i],
                    times={
                        "cue": float(self.cue[i]),
                        "onset": float(self.onset[i]),
                        "movement_onset": self.movement_onset(i),
                        "primary_end": float(self.onset[i] + self.move_t[i]),
                        "return_start": float(self.back_start[i]),
                    },
                    info={
                        "target_forward_deg": float(self.target[i, 0]),
                        "target_right_deg": float(self.target[i, 1]),
                        "limit_deg": limit_deg(float(self.angle[i])),
                    },
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [imu("pelvis"), imu("trunk")]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        # the limits-of-stability drill needs the sternum: sideways the pelvis shifts without tilting
        return [imu("trunk")]

"""Forward lunge: step forward with ``side``, lower until the front knee is at about 90 deg, rise, step back.

Phases of a rep (at tempo 1): step out 0.7 s, descent 1.0 s, hold 0.3 s, ascent 1.0 s,
step back 0.7 s, then a pause standing. While a foot swings, the other (back) ankle is
the root and the swing leg is driven by its hip and knee angles; from the landing to
the lift-off the front ankle is the root, the front knee's flexion is driven and the
back leg reaches its planted foot by inverse kinematics. At the landing both
descriptions give the same pose (the swing's last angles are the inverse kinematics
of the landing hip to the front foot), so the trajectory is continuous.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose, leg_ik, rot_x, rot_y
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, emg, imu
from nmre.sim.movements.base import Movement, ankles, ik_other_leg, neutral, rep_index, tilt
from nmre.sim.profiles import Sway, burst, min_jerk
from nmre.sim.truth import TruthRecord

__all__ = ["LUNGE_ERRORS", "LungeConfig", "LungeMovement"]

F64 = NDArray[np.float64]

LUNGE_ERRORS: tuple[str, ...] = (
    "shallow_lunge",
    "too_deep",
    "knee_valgus",
    "excessive_trunk_lean",
    "pelvic_drop",
)
_LAND_KNEE = 10.0  # deg, both knees at the landing
_CLEARANCE = 25.0  # deg, extra swing-knee flexion mid-step (foot clearance)
_HIP_LIFT = 25.0  # deg, extra swing-hip flexion mid-step
_SHANK_BOTTOM = 10.0  # deg, front shank forward of vertical at the bottom (knee over the toes)
# A lunge deeper than _DEEP_FROM: the front knee travels further over the toes (the shank pitches
# _OVER_TOES deg per degree of knee flexion past _DEEP_FROM, up to _SHANK_MAX, near the end of
# weight-bearing dorsiflexion), and past what that allows the step is longer, so that the back knee's
# centre comes no lower than kneeling height: _KNEEL_HEIGHT above the floor (about the knee's half
# depth: the kneeling knee rests on the front of the tibia). The floor lies _ANKLE_HEIGHT x height
# below the ankle joint centres (Winter 2009, Fig. 4.1: 0.039 H).
_DEEP_FROM = 100.0  # deg
_OVER_TOES = 1.5  # deg of shank pitch per deg of knee flexion
_SHANK_MAX = 40.0  # deg
_ANKLE_HEIGHT = 0.039  # x body height, m
_KNEEL_HEIGHT = 0.045  # m, back-knee centre above the floor at its lowest


@dataclass(frozen=True, kw_only=True)
class LungeConfig(MovementConfig):
    """Forward lunges with ``side`` leading.

    Parameters
    ----------
    reps : int
        Repetitions.
    depth_deg : float
        Front knee flexion at the bottom of a normal rep, deg.
    step : float
        Step length as a fraction of the leg length (hip to ankle).
    trunk_lean_deg, valgus_deg, pelvic_drop_deg : float
        Their values at the bottom of a normal rep, deg.
    step_time, descent, hold, ascent, pause : float
        Phase durations at tempo 1, s.
    errors : mapping of int to errors
        Rep index → ``shallow_lunge`` and ``too_deep`` (``knee_flexion_peak``; a lunge past
        100 deg carries the front knee further over the toes and, past 120 deg, takes a longer step,
        so the back knee stays above the floor), ``knee_valgus``
        (``knee_valgus_peak``), ``excessive_trunk_lean`` (``trunk_lean_peak``), ``pelvic_drop``
        (``pelvic_drop_peak``: the back leg's side of the pelvis drops).
    """

    movement: ClassVar[str] = "forward_lunge"
    error_labels: ClassVar[tuple[str, ...]] = LUNGE_ERRORS

    reps: int = 10
    depth_deg: float = 90.0
    step: float = 0.75
    trunk_lean_deg: float = 8.0
    valgus_deg: float = 2.0
    pelvic_drop_deg: float = 2.0
    step_time: float = 0.7
    descent: float = 1.0
    hold: float = 0.3
    ascent: float = 1.0
    pause: float = 2.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "depth_deg", self.depth_deg, 40.0, 110.0)
        check_finite(o, "step", self.step, 0.4, 0.9)
        check_finite(o, "trunk_lean_deg", self.trunk_lean_deg, 0.0, 30.0)
        check_finite(o, "valgus_deg", self.valgus_deg, -5.0, 8.0)
        check_finite(o, "pelvic_drop_deg", self.pelvic_drop_deg, 0.0, 5.0)
        for name in ("step_time", "descent", "ascent"):
            check_finite(o, name, getattr(self, name), 0.3, 5.0)
        check_finite(o, "hold", self.hold, 0.0, 10.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, LUNGE_ERRORS, "rep"))


class LungeMovement(Movement):
    """Forward lunges (see :class:`LungeConfig`)."""

    config_class = LungeConfig
    config: LungeConfig

    def __init__(self, config: LungeConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        j = 1.0 + rng.uniform(-0.05, 0.05, n)
        sp = self.speed
        self.step_t = cfg.step_time / sp * j
        self.down = cfg.descent / sp * j
        self.hold = cfg.hold / sp * j
        self.up = cfg.ascent / sp * j
        pauses = cfg.pause + rng.uniform(-0.2, 0.2, n)
        self.depth = cfg.depth_deg + rng.uniform(-2.0, 2.0, n)
        self.lean = np.maximum(cfg.trunk_lean_deg + rng.uniform(-2.0, 2.0, n), 0.0)
        self.valgus = cfg.valgus_deg + rng.uniform(-0.5, 0.5, n)
        self.drop = np.maximum(cfg.pelvic_drop_deg + rng.uniform(-0.5, 0.5, n), 0.0)
        dur = 2 * self.step_t + self.down + self.hold + self.up
        self.start = cfg.lead_in + np.concatenate([[0.0], np.cumsum(dur[:-1] + pauses[:-1])])
        self.duration = float(self.start[-1] + dur[-1] + cfg.lead_out)
        self._sway = Sway(self.rng("sway"), 0.012 * subject.sway)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            e = self.errors_of(i)
            if "shallow_lunge" in e:
                self.depth[i] = self.errs[i]["shallow_lunge"] = self.severity(i, "shallow_lunge")
            if "too_deep" in e:
                self.depth[i] = self.errs[i]["too_deep"] = self.severity(i, "too_deep")
        # the bottom's front-shank pitch and the step of every rep (normal reps: 10 deg and ``step``)
        self.shank_bottom = np.array([self._shank_at(float(d)) for d in self.depth])
        # (a pelvic drop lowers the back hip: its target is taken as the drop at the bottom)
        drops = [
            self.severity(k, "pelvic_drop") if "pelvic_drop" in self.errors_of(k) else self.drop[k]
            for k in range(n)
        ]
        self.step_len = np.array(
            [
                self._step_for(float(d), float(p), float(q))
                for d, p, q in zip(self.depth, self.shank_bottom, drops, strict=True)
            ]
        )
        geo = {float(x): self._geometry(float(x)) for x in np.unique(self.step_len)}
        self._front, self._back_shank, self._land_thigh, self._land_knee = (
            np.array([geo[float(x)][k] for x in self.step_len]) for k in range(4)
        )
        self._land_shank = self._land_thigh + self._land_knee
        # a pelvic drop comes with a weak gluteus medius of the front leg
        self.gmed_gain = np.array([0.6 if "pelvic_drop" in self.errors_of(k) else 1.0 for k in range(n)])
        for i in range(n):
            e = self.errors_of(i)
            if "knee_valgus" in e:
                self.valgus[i] = self.errs[i]["knee_valgus"] = self.severity(i, "knee_valgus")
            for label, arr, q in (
                ("excessive_trunk_lean", self.lean, "trunk_lean_peak"),
                ("pelvic_drop", self.drop, "pelvic_drop_peak"),
            ):
                if label in e:
                    target = self.errs[i][label] = self.severity(i, label)
                    arr[i] = target
                    for _ in range(2):
                        arr[i] += target - self.peaks(i)[q]

    @property
    def end(self) -> F64:
        return self.start + 2 * self.step_t + self.down + self.hold + self.up

    @staticmethod
    def _shank_at(depth: float) -> float:
        """Front-shank pitch at the bottom of a rep ``depth`` deep, rad (forward of vertical)."""
        return math.radians(min(_SHANK_BOTTOM + _OVER_TOES * max(depth - _DEEP_FROM, 0.0), _SHANK_MAX))

    def _back_knee_height(self, depth: float, shank: float, step: float, drop: float) -> float:
        """Height of the back knee's centre above the floor at the bottom of a rep, m (sagittal plane:
        the front leg from its ankle at ``step`` x leg length, the back hip ``drop`` deg of pelvic drop
        lower than the front one, the back leg by inverse kinematics)."""
        b = self.body
        lt, ls = b.thigh_length, b.shank_length
        k = math.radians(depth)
        hx = step * (lt + ls) + ls * math.sin(shank) + lt * math.sin(shank - k)
        hz = ls * math.cos(shank) + lt * math.cos(shank - k)
        hz -= 2.0 * abs(b.hip[1]) * math.sin(math.radians(drop))
        r = math.hypot(hx, hz)
        floor = _ANKLE_HEIGHT * b.height
        if r >= lt + ls:
            return floor + hz * ls / (lt + ls)
        # the knee lies forward of the hip-ankle line: the shank's angle above that line (law of cosines)
        a = math.acos(max(-1.0, min(1.0, (ls * ls + r * r - lt * lt) / (2.0 * ls * r))))
        return floor + ls * math.sin(math.atan2(hz, hx) - a)

    def _step_for(self, depth: float, shank: float, drop: float) -> float:
        """The step of a rep: ``step``, longer only as far as the back knee needs to stay at kneeling height."""
        step = self.config.step

        def height(x: float) -> float:
            return self._back_knee_height(depth, shank, x, drop)

        if depth <= _DEEP_FROM or height(step) >= _KNEEL_HEIGHT:
            return step
        lo, hi = step, 1.4
        if height(hi) < _KNEEL_HEIGHT:
            raise ValueError(f"forward_lunge: no step keeps the back knee above the floor at {depth:.1f} deg")
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if height(mid) >= _KNEEL_HEIGHT else (mid, hi)
        return hi

    def _geometry(self, step: float) -> tuple[F64, float, float, float]:
        """Landing of a ``step`` x leg length step (feet under the hips at home): the front ankle, the back
        shank's pitch, the front thigh's world pitch and the front knee's flexion, rad."""
        b = self.body
        self._home = ankles(b)
        legs = b.thigh_length + b.shank_length
        front = self._home[self.s] + np.array([step * legs, 0.0, 0.0])
        # the back leg at the landing: knee 10 deg flexed, shank tilted so the hip is half-way
        kb = math.radians(_LAND_KNEE)

        def hip_x(phi: float) -> float:
            return b.shank_length * math.sin(phi) + b.thigh_length * math.sin(phi - kb)

        lo, hi = 0.0, math.radians(60.0)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if hip_x(mid) < 0.5 * front[0] else (lo, mid)
        back_shank = 0.5 * (lo + hi)
        hip = self._home[self.o] + np.array(
            [
                hip_x(back_shank),
                0.0,
                b.shank_length * math.cos(back_shank) + b.thigh_length * math.cos(back_shank - kb),
            ]
        )
        hip_front = hip + (b.mirrored(b.hip, self.s) - b.mirrored(b.hip, self.o))
        rt, _, k = leg_ik(hip_front[None, :], front, b.thigh_length, b.shank_length)
        land_thigh = float(math.atan2(rt[0, 0, 2], rt[0, 2, 2]))  # world pitch of the front thigh
        return front, back_shank, land_thigh, float(k[0])

    def _phases(self, t: F64) -> tuple[NDArray[np.intp], F64, F64, F64]:
        """Rep index, swing progress u (0 home .. 1 landed), descent progress v (0 landed .. 1 bottom), stance flag."""
        i = rep_index(self.start, t)
        x = t - self.start[i]
        st, dn, hd, up = self.step_t[i], self.down[i], self.hold[i], self.up[i]
        u = min_jerk(x / st) * (1.0 - min_jerk((x - (st + dn + hd + up)) / st))
        v = min_jerk((x - st) / dn) - min_jerk((x - st - dn - hd) / up)
        planted = (x >= st) & (x <= st + dn + hd + up)
        return i, u, v, planted.astype(np.float64)

    def pose(self, t: F64) -> Pose:
        i, u, v, planted = self._phases(t)
        s, o, sign, b = self.s, self.o, self.sign, self.body
        n = t.shape[0]
        ap, ml = self._sway.angles(t)
        r = neutral(n)
        kb = np.radians(1.0 + (_LAND_KNEE - 1.0) * u)
        # swing description: the back ankle is the root
        # (the body's sway shows on the trunk only: it is continuous across the change of root)
        back_shank = rot_y(self._back_shank[i] * u)
        r_b = {
            f"shank.{o}": back_shank,
            f"thigh.{o}": back_shank @ rot_y(-kb),
        }
        lean = np.radians(self.lean[i]) * v
        pelvis = rot_y(0.3 * lean) @ rot_x(-sign * np.radians(self.drop[i]) * v)
        trunk = tilt(lean + ap, ml)
        swing_knee = (
            np.radians(1.0)
            + (self._land_knee[i] - np.radians(1.0)) * u
            + np.radians(_CLEARANCE) * np.sin(np.pi * u) ** 2
        )
        # at home (u = 0) both legs stand alike: thigh 1 deg forward, shank vertical, foot under the hip
        swing_thigh = rot_y(
            -np.radians(1.0) * (1.0 - u)
            + self._land_thigh[i] * u
            - np.radians(_HIP_LIFT) * np.sin(np.pi * u) ** 2
        )
        # stance description: the front ankle is the root, knee flexion and valgus driven
        knee = self._land_knee[i] + (np.radians(self.depth[i]) - self._land_knee[i]) * v
        shank_pitch = self._land_shank[i] + (self.shank_bottom[i] - self._land_shank[i]) * v
        valgus = np.radians(self.valgus[i]) * v
        base = rot_y(shank_pitch)
        front_thigh = base @ rot_y(-knee) @ rot_x(sign * 0.5 * valgus)
        front_shank = front_thigh @ rot_y(knee) @ rot_x(-sign * valgus)
        p = planted[:, None, None] > 0.5
        r["pelvis"] = pelvis
        r["trunk"] = trunk
        r[f"thigh.{s}"] = np.where(p, front_thigh, swing_thigh)
        r[f"shank.{s}"] = np.where(p, front_shank, swing_thigh @ rot_y(swing_knee))
        r[f"foot.{s}"] = np.where(p, r[f"foot.{s}"], r[f"shank.{s}"] @ rot_y(-(self._land_shank[i] * u)))
        r[f"shank.{o}"], r[f"thigh.{o}"] = r_b[f"shank.{o}"], r_b[f"thigh.{o}"]
        if p.any():
            sub = {k: v_[planted > 0.5] for k, v_ in r.items()}
            ik_other_leg(sub, b, s, self._front[i][planted > 0.5], self._home[o])
            for k in (f"thigh.{o}", f"shank.{o}"):
                r[k][planted > 0.5] = sub[k]
        roots = np.where(planted > 0.5, f"ankle.{s}", f"ankle.{o}")
        position = np.where(planted[:, None] > 0.5, self._front[i], self._home[o])
        return Pose(r, roots, position)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        i, _, v, _ = self._phases(t)
        gate = burst(
            t, self.start[i] + 0.5 * self.step_t[i], self.end[i] - 0.5 * self.step_t[i], 1.0, 0.2, 0.3
        )
        front = side == self.s
        level = {
            "vmo": (0.10 + 0.45 * v) if front else (0.08 + 0.25 * v),
            "vl": (0.10 + 0.45 * v) if front else (0.08 + 0.25 * v),
            "rf": 0.06 + 0.20 * v,
            "gmed": (0.15 + 0.25 * v) * (self.gmed_gain[i] if front else 1.0),
            "bf": 0.05 + 0.10 * v,
            "st": 0.05 + 0.10 * v,
        }.get(muscle, 0.02)
        return np.clip((0.02 + gate * level) * self.effort, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def peaks(self, i: int) -> dict[str, float]:
        s, sign = self.s, self.sign
        a, b = float(self.start[i]), float(self.end[i])
        ang = self.angles(a, b, [f"knee_flexion.{s}", f"knee_valgus.{s}", "trunk_lean", "pelvic_obliquity"])
        return {
            "knee_flexion_peak": float(ang[f"knee_flexion.{s}"].max()),
            "knee_valgus_peak": float(ang[f"knee_valgus.{s}"].max()),
            "trunk_lean_peak": float(ang["trunk_lean"].max()),
            "pelvic_drop_peak": float((-sign * ang["pelvic_obliquity"]).max()),
        }

    def records(self) -> list[TruthRecord]:
        out = []
        for i in range(self.start.shape[0]):
            a, b = float(self.start[i]), float(self.end[i])
            st = float(self.step_t[i])
            q = {**self.peaks(i), "rep_duration": b - a}
            times = {
                "landing": a + st,
                "bottom": a + st + float(self.down[i]) + 0.5 * float(self.hold[i]),
                "lift_off": b - st,
            }
            out.append(TruthRecord("rep", i, a, b, errors=self.errs[i], quantities=q, times=times))
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [
            imu("pelvis"),
            imu("trunk"),
            imu(f"thigh.{side}"),
            imu(f"shank.{side}"),
            *(emg(m, side) for m in ("vmo", "vl", "gmed")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu("pelvis"), imu("trunk"), imu(f"thigh.{side}"), imu(f"shank.{side}")]

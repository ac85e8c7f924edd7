"""Bodyweight squat: both feet on the ground, knee flexion to the target depth, trunk lean, VMO/VL onsets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose, rot_x, rot_y
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, emg, imu
from nmre.sim.movements.base import Movement, ankles, ik_other_leg, neutral, rep_index, summed, tilt
from nmre.sim.profiles import Sway, burst, min_jerk, pre_activity
from nmre.sim.truth import TruthRecord

__all__ = ["SQUAT_ERRORS", "SquatConfig", "SquatMovement"]

F64 = NDArray[np.float64]

#: Errors that can be injected into a squat repetition.
SQUAT_ERRORS: tuple[str, ...] = (
    "shallow_squat",
    "too_deep",
    "excessive_trunk_lean",
    "knee_valgus",
    "late_vmo_onset",
    "low_vmo_ratio",
)
_ANKLE_PER_KNEE = 0.38  # ankle dorsiflexion per degree of knee flexion in a squat
_PELVIS_PER_LEAN = 0.8  # pelvis anterior tilt per degree of trunk lean
_STANDING_KNEE = 1.0  # deg, knee flexion standing between reps (never locked: keeps the other foot in reach)
_BIPEDAL_SWAY = 0.012  # m/s^2, pelvis linear acceleration RMS in quiet two-legged standing


@dataclass(frozen=True, kw_only=True)
class SquatConfig(MovementConfig):
    """A set of bodyweight squats, with errors injected per repetition.

    Parameters
    ----------
    reps : int
        Number of repetitions (>= 1).
    target_depth_deg : float
        Peak knee flexion of a normal rep, degrees (jittered by about ±2 deg per rep).
    rep_duration : float
        Descent + bottom hold + ascent at tempo 1, seconds (jittered by about ±5 %).
    pause : float
        Quiet standing between reps, seconds (>= 1.0; jittered by about ±0.2 s).
    trunk_lean_deg : float
        Trunk lean at the bottom of a normal rep at target depth, degrees.
    valgus_deg : float
        Knee valgus at the bottom of a normal rep, degrees.
    vmo_onset_ms : float
        VMO onset minus VL onset in a normal rep, ms (normally <= 0: VMO first).
    errors : mapping of int to errors
        Rep index (0-based) → labels from :data:`SQUAT_ERRORS` or ``{label: severity}``.
    """

    movement: ClassVar[str] = "squat"
    error_labels: ClassVar[tuple[str, ...]] = SQUAT_ERRORS

    reps: int = 10
    target_depth_deg: float = 90.0
    rep_duration: float = 3.0
    pause: float = 1.5
    trunk_lean_deg: float = 25.0
    valgus_deg: float = 2.0
    vmo_onset_ms: float = -5.0
    errors: Mapping[int, Any] = field(default_factory=dict)
    #: Legacy (the first simulator's one value per error kind): the severity of every rep that names the
    #: error without one. Prefer per-rep severities in ``errors``.
    shallow_depth_deg: float | None = None
    excessive_lean_deg: float | None = None
    valgus_error_deg: float | None = None
    late_vmo_ms: float | None = None

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 100_000))
        check_finite(o, "target_depth_deg", self.target_depth_deg, 20.0, 130.0)
        check_finite(o, "rep_duration", self.rep_duration, 1.5, 10.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        check_finite(o, "trunk_lean_deg", self.trunk_lean_deg, 0.0, 60.0)
        check_finite(o, "valgus_deg", self.valgus_deg, -10.0, 25.0)
        check_finite(o, "vmo_onset_ms", self.vmo_onset_ms, -200.0, 200.0)
        errors = normalise_rep_errors(o, self.errors, self.reps, SQUAT_ERRORS, "rep")
        legacy = {
            "shallow_squat": "shallow_depth_deg",
            "excessive_trunk_lean": "excessive_lean_deg",
            "knee_valgus": "valgus_error_deg",
            "late_vmo_onset": "late_vmo_ms",
        }
        given = {
            label: getattr(self, name) for label, name in legacy.items() if getattr(self, name) is not None
        }
        if given:
            errors = normalise_rep_errors(
                o,
                {i: {k: (given.get(k) if v is None else v) for k, v in e.items()} for i, e in errors.items()},
                self.reps,
                SQUAT_ERRORS,
                "rep",
            )
        self._set("errors", errors)

    @property
    def duration(self) -> float:
        """Nominal session length at tempo 1, s (the realised one differs by tempo and jitter)."""
        return self.lead_in + self.reps * self.rep_duration + (self.reps - 1) * self.pause + self.lead_out


@dataclass(frozen=True, slots=True)
class _Plan:
    start: F64
    descent: F64
    hold: F64
    ascent: F64
    depth: F64  # deg
    lean: F64  # deg
    valgus: F64  # deg
    vl_onset: F64  # s
    vmo_onset: F64  # s
    vmo_gain: F64
    gmed_gain: F64
    errors: tuple[dict[str, float], ...]

    @property
    def end(self) -> F64:
        return self.start + self.descent + self.hold + self.ascent


class SquatMovement(Movement):
    """A bodyweight squat set (see :class:`SquatConfig`)."""

    config_class = SquatConfig
    config: SquatConfig

    def __init__(self, config: SquatConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        rng = self.rng("plan")
        n = cfg.reps
        dur = cfg.rep_duration / self.speed * (1.0 + rng.uniform(-0.05, 0.05, n))
        pauses = cfg.pause + rng.uniform(-0.2, 0.2, n)
        depth = cfg.target_depth_deg + rng.uniform(-2, 2, n)
        lean_jitter = rng.uniform(-2, 2, n)
        valgus = cfg.valgus_deg + rng.uniform(-0.5, 0.5, n)
        vmo_ms = cfg.vmo_onset_ms + rng.uniform(-5, 0, n)
        vl_lead = rng.uniform(0.02, 0.08, n)
        errs: list[dict[str, float]] = []
        for i in range(n):
            e = self.errors_of(i)
            got: dict[str, float] = {}
            if "shallow_squat" in e:
                depth[i] = got["shallow_squat"] = self.severity(i, "shallow_squat")
            if "too_deep" in e:  # past the prescribed depth (the trunk leans with the depth, as in any rep)
                depth[i] = got["too_deep"] = self.severity(i, "too_deep")
            if "knee_valgus" in e:
                valgus[i] = got["knee_valgus"] = self.severity(i, "knee_valgus")
            if "late_vmo_onset" in e:
                vmo_ms[i] = got["late_vmo_onset"] = self.severity(i, "late_vmo_onset")
            errs.append(got)
        lean = np.maximum(cfg.trunk_lean_deg * depth / cfg.target_depth_deg + lean_jitter, 0.0)
        for i in range(n):
            if "excessive_trunk_lean" in self.errors_of(i):
                lean[i] = errs[i]["excessive_trunk_lean"] = self.severity(i, "excessive_trunk_lean")
        starts = cfg.lead_in + np.concatenate([[0.0], np.cumsum(dur[:-1] + pauses[:-1])])
        vl_onset = starts - vl_lead
        self.plan = _Plan(
            start=starts,
            descent=0.45 * dur,
            hold=0.10 * dur,
            ascent=0.45 * dur,
            depth=depth,
            lean=lean,
            valgus=valgus,
            vl_onset=vl_onset,
            vmo_onset=vl_onset + vmo_ms / 1000.0,
            vmo_gain=np.ones(n),
            gmed_gain=np.where([("knee_valgus" in e) for e in errs], 0.6, 1.0),
            errors=tuple(errs),
        )
        self.duration = float(self.plan.end[-1] + cfg.lead_out)
        sway = _BIPEDAL_SWAY * subject.sway * (1.5 if cfg.eyes_closed else 1.0) * (1.8 if cfg.foam else 1.0)
        self._sway = Sway(self.rng("sway"), sway)
        self._ankles = ankles(self.body)
        for i in range(n):
            e = self.errors_of(i)
            a, b = float(self.plan.start[i]), float(self.plan.end[i])
            if "excessive_trunk_lean" in e:
                # the standing sway adds to the planned lean: correct the plan so the true peak is the severity
                for _ in range(2):
                    peak = float(self.angles(a, b, ["trunk_lean"])["trunk_lean"].max())
                    self.plan.lean[i] += errs[i]["excessive_trunk_lean"] - peak
            if "low_vmo_ratio" in e:
                # scale VMO so the rep's true amplitude ratio is the severity (the ratio is affine in the gain)
                target = errs[i]["low_vmo_ratio"] = self.severity(i, "low_vmo_ratio")
                r = []
                for g in (1.0, 0.5):
                    self.plan.vmo_gain[i] = g
                    r.append(
                        self.mean_amplitude("vmo", self.s, a, b) / self.mean_amplitude("vl", self.s, a, b)
                    )
                self.plan.vmo_gain[i] = 1.0 - 0.5 * (target - r[0]) / (r[1] - r[0])

    # -- trajectories -------------------------------------------------------------------
    def _profile(self, t: F64) -> tuple[F64, NDArray[np.intp]]:
        """Squat depth profile m(t) in [0, 1] (0 standing, 1 at the bottom) and each sample's rep index."""
        p = self.plan
        i = rep_index(p.start, t)
        x = t - p.start[i]
        m = min_jerk(x / p.descent[i]) - min_jerk((x - p.descent[i] - p.hold[i]) / p.ascent[i])
        return m, i

    def pose(self, t: F64) -> Pose:
        m, i = self._profile(t)
        p, s, sign = self.plan, self.s, self.sign
        knee = np.radians(_STANDING_KNEE + (p.depth[i] - _STANDING_KNEE) * m)  # knees never locked straight
        lean = np.radians(p.lean[i]) * m
        valgus = np.radians(p.valgus[i]) * m
        ap, ml = self._sway.angles(t)
        r = neutral(t.shape[0])
        shank_world = rot_x(ml) @ rot_y(_ANKLE_PER_KNEE * knee + ap)
        r[f"thigh.{s}"] = shank_world @ rot_y(-knee) @ rot_x(sign * 0.5 * valgus)
        r[f"shank.{s}"] = r[f"thigh.{s}"] @ rot_y(knee) @ rot_x(-sign * valgus)
        r["pelvis"] = tilt(_PELVIS_PER_LEAN * lean + ap, 0.0 * ml)  # two feet: the pelvis stays level
        r["trunk"] = tilt(lean + ap, ml)
        ik_other_leg(r, self.body, s, self._ankles[s], self._ankles[self.o])
        return Pose(r, f"ankle.{s}", self._ankles[s])

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        m, i = self._profile(t)
        p, sub = self.plan, self.subject
        drive = m * p.depth[i] / self.config.target_depth_deg
        mine = side == self.s

        n = p.start.shape[0]
        if muscle in ("vmo", "vl"):
            onset = p.vmo_onset if (muscle == "vmo" and mine) else p.vl_onset
            gain = p.vmo_gain if (muscle == "vmo" and mine) else np.ones_like(p.start)
            on = summed(lambda k: burst(t, onset[k], p.end[k] + 0.05, gain[k], sub.onset_rise, 0.15), i, n)
            pre = summed(
                lambda k: pre_activity(t, onset[k], p.end[k] + 0.05, 0.15, sub.pre_activity, sub.pre_lead),
                i,
                n,
            )
            a = on * (0.12 + 0.50 * drive) + pre
        else:
            gate = summed(lambda k: burst(t, p.start[k], p.end[k] + 0.05, 1.0, 0.15, 0.15), i, n)
            if muscle == "rf":
                a = gate * (0.05 + 0.20 * drive)
            elif muscle in ("bf", "st"):
                a = gate * (0.04 + 0.06 * drive)
            elif muscle == "gmed":
                g = p.gmed_gain[i] if mine else 1.0
                a = gate * g * (0.06 + 0.14 * drive)
            else:
                a = np.zeros_like(t)
        return np.clip(a * self.effort, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def records(self) -> list[TruthRecord]:
        p, s = self.plan, self.s
        names = ["knee_flexion.r", "knee_flexion.l", f"knee_valgus.{s}", f"hip_flexion.{s}", "trunk_lean"]
        out = []
        for i in range(p.start.shape[0]):
            start, end = float(p.start[i]), float(p.end[i])
            ang = self.angles(start, end, names)
            q = {
                "knee_flexion_peak": float(ang[f"knee_flexion.{s}"].max()),
                "knee_valgus_peak": float(ang[f"knee_valgus.{s}"].max()),
                "trunk_lean_peak": float(ang["trunk_lean"].max()),
                "hip_flexion_peak": float(ang[f"hip_flexion.{s}"].max()),
                "vmo_vl_onset_lag": float((p.vmo_onset[i] - p.vl_onset[i]) * 1000.0),
                "vmo_vl_ratio": self.mean_amplitude("vmo", s, start, end)
                / self.mean_amplitude("vl", s, start, end),
                "rep_duration": end - start,
                "knee_flexion_peak.right": float(ang["knee_flexion.r"].max()),
                "knee_flexion_peak.left": float(ang["knee_flexion.l"].max()),
            }
            out.append(
                TruthRecord(
                    kind="rep",
                    index=i,
                    start=start,
                    end=end,
                    errors=p.errors[i],
                    quantities=q,
                    times={
                        "bottom": float(p.start[i] + p.descent[i] + 0.5 * p.hold[i]),
                        "vl_onset": float(p.vl_onset[i]),
                        "vmo_onset": float(p.vmo_onset[i]),
                    },
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
            *(emg(m, side) for m in ("vmo", "vl", "bf", "gmed")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu("trunk"), imu(f"thigh.{side}"), imu(f"shank.{side}")]

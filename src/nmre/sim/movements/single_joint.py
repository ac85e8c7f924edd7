"""Single-joint movements: seated knee extension, standing knee flexion, standing hip abduction.

Every rep is a minimum-jerk rise to the rep's peak, a hold, a minimum-jerk return and
a pause (:class:`nmre.sim.movements.base.Timeline`). Seated movements sit the pelvis
on a chair (the root), thighs horizontal; standing ones stand on the other leg (its
ankle is the root) and sway a little as in a supported single-leg stance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose, rot_x, rot_y
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, emg, imu
from nmre.sim.movements.base import Movement, Timeline, ankles, band_time, excursion_time, neutral, tilt
from nmre.sim.profiles import Sway
from nmre.sim.truth import TruthRecord

__all__ = [
    "HipAbductionConfig",
    "HipAbductionMovement",
    "KneeExtensionConfig",
    "KneeExtensionMovement",
    "KneeFlexionConfig",
    "KneeFlexionMovement",
    "seated",
]

F64 = NDArray[np.float64]

_SUPPORTED_SWAY = 0.015  # m/s^2: standing on one leg with a hand on a chair back
_HOLD_BAND = 5.0  # deg: a knee within this of its extreme is held
_HANG = 5.0  # deg: the knee flexion of a leg hanging unloaded beside the stance leg


def seated(body: Any, n: int) -> tuple[dict[str, F64], F64]:
    """Sitting on a chair: thighs horizontal, shanks vertical, feet flat; the pelvis centre (root)."""
    r = neutral(n)
    for s in ("r", "l"):
        r[f"thigh.{s}"] = rot_y(np.full(n, -np.pi / 2))
    pelvis = np.array([0.0, 0.0, body.shank_length + 0.08])
    return r, pelvis


def _correct(
    value: Callable[[], float], target: float, set_amp: Callable[[float], None], amp: float
) -> float:
    """Adjust an additive amplitude so that ``value()`` becomes ``target`` (two fixed-point steps)."""
    set_amp(amp)
    for _ in range(2):
        amp += target - value()
        set_amp(amp)
    return amp


def _ratio_gain(ratio: Callable[[], float], set_gain: Callable[[float], None], target: float) -> None:
    """Set a muscle gain so that an amplitude ratio (affine in the gain below clipping) is ``target``."""
    r = []
    for g in (1.0, 0.5):
        set_gain(g)
        r.append(ratio())
    g = 1.0 - 0.5 * (target - r[0]) / (r[1] - r[0])
    set_gain(g)
    for _ in range(3):  # the pre-activity and clipping make it slightly non-affine: secant steps
        got = ratio()
        if abs(got - target) < 1e-12:
            break
        set_gain(g * target / got)
        g = g * target / got


def _active_tempo(tl: Timeline, i: int, active: Callable[[int], float], target: float) -> None:
    """Scale rep ``i``'s phases so that its active time (``active(i)``) is ``target`` s.

    The active time of a minimum-jerk rep is proportional to its phases' common scale
    (the pause is not part of it), so one step lands on it up to the grid's interpolation;
    two more take out the rest.
    """
    for _ in range(3):
        got = active(i)
        if got <= 0.0 or abs(got - target) < 1e-6:
            return
        tl.scale(i, float(tl.rise[i] + tl.hold[i] + tl.fall[i]) * target / got)


# -- seated knee extension ---------------------------------------------------------------------------
KNEE_EXTENSION_ERRORS: tuple[str, ...] = ("incomplete_extension", "short_hold", "low_vmo_ratio", "fast_tempo")


@dataclass(frozen=True, kw_only=True)
class KneeExtensionConfig(MovementConfig):
    """Seated knee extension with a hold at the top (quadriceps, VMO emphasis).

    Parameters
    ----------
    reps : int
        Repetitions.
    start_flexion_deg : float
        Knee flexion sitting, deg.
    extension_deg : float
        Knee flexion at the top of a normal rep (near full extension), deg.
    rise, hold, fall, pause : float
        Extension, hold, lowering and rest durations at tempo 1, s.
    errors : mapping of int to errors
        Rep index → labels from ``incomplete_extension`` (``knee_flexion_min``),
        ``short_hold`` (``hold_time``), ``low_vmo_ratio`` (``vmo_vl_ratio``),
        ``fast_tempo`` (``rep_active_time``: every phase scaled so that the rep spends the
        severity below ``rest_band_deg``).
    rest_band_deg : float
        Knee flexion (deg) at and above which the knee is at rest: a rep's ``rep_active_time`` is
        the time it spends below it (the drill's rest band, its segmenter's ``end``: 50 deg). It
        defines a true value; the body moves the same whatever it is.
    """

    movement: ClassVar[str] = "seated_knee_extension"
    error_labels: ClassVar[tuple[str, ...]] = KNEE_EXTENSION_ERRORS

    reps: int = 10
    start_flexion_deg: float = 90.0
    extension_deg: float = 3.0
    rise: float = 2.0
    hold: float = 5.0
    fall: float = 2.0
    pause: float = 3.0
    rest_band_deg: float = 50.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "start_flexion_deg", self.start_flexion_deg, 60.0, 110.0)
        check_finite(o, "rest_band_deg", self.rest_band_deg, 0.0, 110.0)
        check_finite(o, "extension_deg", self.extension_deg, 0.0, 30.0)
        check_finite(o, "rise", self.rise, 0.5, 10.0)
        check_finite(o, "hold", self.hold, 0.0, 30.0)
        check_finite(o, "fall", self.fall, 0.5, 10.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, KNEE_EXTENSION_ERRORS, "rep"))


class KneeExtensionMovement(Movement):
    """Seated knee extension (see :class:`KneeExtensionConfig`)."""

    config_class = KneeExtensionConfig
    config: KneeExtensionConfig

    def __init__(self, config: KneeExtensionConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        self.tl = Timeline(rng, n, cfg.rise, cfg.hold, cfg.fall, cfg.pause, cfg.lead_in, self.speed)
        self.top = np.clip(cfg.extension_deg + rng.uniform(-1.0, 1.0, n), 0.0, None)
        self.bottom = np.full(n, cfg.start_flexion_deg + rng.uniform(-2.0, 2.0))  # sitting: one posture
        self.vmo_lag = rng.uniform(-0.010, 0.0, n)  # s, VMO onset minus VL onset
        self.vmo_gain = np.ones(n)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        self._sway = Sway(self.rng("sway"), 0.004 * subject.sway)
        for i in range(n):
            e = self.errors_of(i)
            if "incomplete_extension" in e:
                self.top[i] = self.errs[i]["incomplete_extension"] = self.severity(i, "incomplete_extension")
            if "fast_tempo" in e:
                _active_tempo(self.tl, i, self.active_time, self.severity(i, "fast_tempo"))
        for i in range(n):
            if "short_hold" in self.errors_of(i):
                target = self.severity(i, "short_hold")
                self.tl.hold[i] = 0.0
                self.tl.restart()
                extra = self.hold_time(i)
                self.tl.hold[i] = max(target - extra, 0.0)
                self.tl.restart()
        self.duration = float(self.tl.end[-1] + cfg.lead_out)
        for i in range(n):
            if "low_vmo_ratio" in self.errors_of(i):
                target = self.severity(i, "low_vmo_ratio")
                _ratio_gain(lambda i=i: self.ratio(i), lambda g, i=i: self.vmo_gain.__setitem__(i, g), target)
        for i in range(n):  # severities are the realised true values
            for label, q in (
                ("short_hold", self.hold_time),
                ("fast_tempo", self.active_time),
                ("low_vmo_ratio", self.ratio),
            ):
                if label in self.errors_of(i):
                    self.errs[i][label] = q(i)

    def knee(self, t: F64) -> tuple[F64, F64, Any]:
        m, i = self.tl.profile(t)
        return np.radians(self.bottom[i] - (self.bottom[i] - self.top[i]) * m), m, i

    def pose(self, t: F64) -> Pose:
        k, _, _ = self.knee(t)
        r, pelvis = seated(self.body, t.shape[0])
        ap, ml = self._sway.angles(t)
        r["trunk"] = tilt(np.radians(3.0) + ap, ml)
        r[f"shank.{self.s}"] = r[f"thigh.{self.s}"] @ rot_y(k)
        r[f"foot.{self.s}"] = r[f"shank.{self.s}"]
        return Pose(r, "pelvis", pelvis)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        if side != self.s:
            return np.full_like(t, 0.01)
        m, i = self.tl.profile(t)
        sub = self.subject
        if muscle in ("vmo", "vl", "rf"):
            from nmre.sim.movements.base import summed
            from nmre.sim.profiles import burst, pre_activity

            tl = self.tl
            lag = self.vmo_lag if muscle == "vmo" else np.zeros(tl.n)
            gain = self.vmo_gain if muscle == "vmo" else np.ones(tl.n)
            onset = tl.start - 0.08 + lag
            on = summed(lambda k: burst(t, onset[k], tl.end[k], gain[k], sub.onset_rise, 0.2), i, tl.n)
            pre = summed(
                lambda k: pre_activity(t, onset[k], tl.end[k], 0.2, sub.pre_activity, sub.pre_lead), i, tl.n
            )
            level = {"vmo": 0.12 + 0.45 * m, "vl": 0.12 + 0.45 * m, "rf": 0.08 + 0.30 * m}[muscle]
            a = on * level + pre
        elif muscle in ("bf", "st"):
            a = 0.02 + 0.03 * self.tl.gate(t) * m
        else:
            a = np.full_like(t, 0.01)
        return np.clip(a * self.effort, 0.0, 1.0)

    # truth
    def hold_time(self, i: int) -> float:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        k = self.angles(a, b, [f"knee_flexion.{self.s}"])[f"knee_flexion.{self.s}"]
        return band_time(k, float(k.min()), _HOLD_BAND)

    def rep_duration(self, i: int) -> float:
        return float(self.tl.end[i] - self.tl.start[i])

    def active_time(self, i: int) -> float:
        """``rep_active_time``: from the knee passing below ``rest_band_deg`` to its return to it."""
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        k = self.angles(a, b, [f"knee_flexion.{self.s}"])[f"knee_flexion.{self.s}"]
        return excursion_time(k, self.config.rest_band_deg, above=False)

    def ratio(self, i: int) -> float:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        return self.mean_amplitude("vmo", self.s, a, b) / self.mean_amplitude("vl", self.s, a, b)

    def records(self) -> list[TruthRecord]:
        out = []
        s = self.s
        for i in range(self.tl.n):
            a, b = float(self.tl.start[i]), float(self.tl.end[i])
            ang = self.angles(a, b, [f"knee_flexion.{s}"])
            k = ang[f"knee_flexion.{s}"]
            q = {
                "knee_flexion_min": float(k.min()),
                "knee_flexion_peak": float(k.max()),
                "hold_time": band_time(k, float(k.min()), _HOLD_BAND),
                "vmo_vl_ratio": self.ratio(i),
                "rep_duration": b - a,
                "rep_active_time": excursion_time(k, self.config.rest_band_deg, above=False),
            }
            out.append(
                TruthRecord(
                    "rep",
                    i,
                    a,
                    b,
                    errors=self.errs[i],
                    quantities=q,
                    times={
                        "top": a + float(self.tl.rise[i]),
                        "lower": a + float(self.tl.rise[i] + self.tl.hold[i]),
                        "vl_onset": a - 0.08,
                        "vmo_onset": a - 0.08 + float(self.vmo_lag[i]),
                    },
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [
            imu("pelvis"),
            imu(f"thigh.{side}"),
            imu(f"shank.{side}"),
            *(emg(m, side) for m in ("vmo", "vl", "rf")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu(f"thigh.{side}"), imu(f"shank.{side}"), emg("vmo", side), emg("vl", side)]


# -- standing on one leg, moving the other -------------------------------------------------------------
class _StandingMovement(Movement):
    """Standing on the other leg (its ankle is the root) with a little supported sway."""

    def _stance(self, t: F64) -> tuple[dict[str, F64], F64, F64]:
        ap, ml = self._sway.angles(t)
        r = neutral(t.shape[0])
        body_tilt = tilt(ap, ml)
        r[f"shank.{self.o}"] = body_tilt
        r[f"thigh.{self.o}"] = body_tilt
        return r, ap, ml


KNEE_FLEXION_ERRORS: tuple[str, ...] = ("insufficient_flexion", "hip_compensation", "fast_tempo")


@dataclass(frozen=True, kw_only=True)
class KneeFlexionConfig(MovementConfig):
    """Standing knee flexion (hamstring curl: heel towards the buttock, thigh vertical).

    ``side`` is the moving leg; the subject stands on the other. Errors:
    ``insufficient_flexion`` (``knee_flexion_peak``), ``hip_compensation`` (``hip_flexion_peak``),
    ``fast_tempo`` (``rep_active_time``: every phase scaled so that the rep spends the severity above
    ``rest_band_deg``). ``rest_band_deg`` (deg of knee flexion) is the edge of the rest band a rep's
    ``rep_active_time`` is counted from (the drill's segmenter ``end``: 15 deg); it defines a true
    value, the body moves the same whatever it is.

    The session starts as the drill instructs its neutral pose: standing on both feet with the knees
    straight (``stand_knee_deg``, 1 deg as the squat's: never locked) for ``stand`` s, then shifting
    onto the stance leg over ``shift`` s (the free knee relaxes to its 5 deg hang as the foot unloads),
    then ``lead_in`` s on the stance leg before the first rep.
    """

    movement: ClassVar[str] = "standing_knee_flexion"
    error_labels: ClassVar[tuple[str, ...]] = KNEE_FLEXION_ERRORS

    reps: int = 10
    flexion_deg: float = 100.0
    hip_flexion_deg: float = 5.0
    rise: float = 1.5
    hold: float = 1.0
    fall: float = 1.5
    pause: float = 2.0
    rest_band_deg: float = 15.0
    stand: float = 2.5
    shift: float = 0.6
    stand_knee_deg: float = 1.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "flexion_deg", self.flexion_deg, 30.0, 140.0)
        check_finite(o, "stand", self.stand, 0.0, 600.0)
        check_finite(o, "shift", self.shift, 0.1, 5.0)
        check_finite(o, "stand_knee_deg", self.stand_knee_deg, 0.0, 10.0)
        check_finite(o, "rest_band_deg", self.rest_band_deg, 0.0, 140.0)
        check_finite(o, "hip_flexion_deg", self.hip_flexion_deg, -10.0, 30.0)
        for name in ("rise", "fall"):
            check_finite(o, name, getattr(self, name), 0.4, 10.0)
        check_finite(o, "hold", self.hold, 0.0, 30.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, KNEE_FLEXION_ERRORS, "rep"))


class KneeFlexionMovement(_StandingMovement):
    """Standing knee flexion (see :class:`KneeFlexionConfig`)."""

    config_class = KneeFlexionConfig
    config: KneeFlexionConfig

    def __init__(self, config: KneeFlexionConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        lead = cfg.stand + cfg.shift + cfg.lead_in  # both feet, the shift, then on the stance leg
        self.tl = Timeline(rng, n, cfg.rise, cfg.hold, cfg.fall, cfg.pause, lead, self.speed)
        self.depth = cfg.flexion_deg + rng.uniform(-3.0, 3.0, n)
        self.hip = np.maximum(cfg.hip_flexion_deg + rng.uniform(-2.0, 2.0, n), -10.0)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        self._sway = Sway(self.rng("sway"), _SUPPORTED_SWAY * subject.sway)
        self._ankles = ankles(self.body)
        for i in range(n):
            e = self.errors_of(i)
            if "insufficient_flexion" in e:
                self.depth[i] = self.errs[i]["insufficient_flexion"] = self.severity(
                    i, "insufficient_flexion"
                )
            if "hip_compensation" in e:
                self.hip[i] = self.errs[i]["hip_compensation"] = self.severity(i, "hip_compensation")
        for i in range(n):
            if "fast_tempo" in self.errors_of(i):
                _active_tempo(self.tl, i, self.active_time, self.severity(i, "fast_tempo"))
                self.errs[i]["fast_tempo"] = self.active_time(i)  # realised
        self.duration = float(self.tl.end[-1] + cfg.lead_out)

    def active_time(self, i: int) -> float:
        """``rep_active_time``: from the knee passing above ``rest_band_deg`` to its return to it."""
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        k = self.angles(a, b, [f"knee_flexion.{self.s}"])[f"knee_flexion.{self.s}"]
        return excursion_time(k, self.config.rest_band_deg)

    def rest_knee(self, t: F64) -> F64:
        """The moving knee's flexion at rest (deg): ``stand_knee_deg`` standing on both feet at the session's
        start (the neutral pose the drill asks for), relaxing to the 5 deg hang of the unloaded leg over the
        shift onto the stance leg (minimum jerk), and 5 deg from then on."""
        from nmre.sim.profiles import min_jerk

        cfg = self.config
        return cfg.stand_knee_deg + (_HANG - cfg.stand_knee_deg) * min_jerk((t - cfg.stand) / cfg.shift)

    def pose(self, t: F64) -> Pose:
        m, i = self.tl.profile(t)
        r, _, _ = self._stance(t)
        s = self.s
        r["pelvis"] = r[f"thigh.{self.o}"].copy()
        r["trunk"] = r["pelvis"] @ rot_y(np.full_like(t, np.radians(2.0)))
        r[f"thigh.{s}"] = r["pelvis"] @ rot_y(-np.radians(self.hip[i]) * m)
        r[f"shank.{s}"] = r[f"thigh.{s}"] @ rot_y(np.radians(self.rest_knee(t) + (self.depth[i] - _HANG) * m))
        r[f"foot.{s}"] = r[f"shank.{s}"]
        return Pose(r, f"ankle.{self.o}", self._ankles[self.o])

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        m, _ = self.tl.profile(t)
        g = self.tl.gate(t)
        if side == self.s:
            level = {"bf": 0.08 + 0.40 * m, "st": 0.08 + 0.40 * m, "rf": 0.03 + 0.05 * m}.get(
                muscle, 0.02 * g
            )
            a = g * level if muscle in ("bf", "st", "rf") else np.full_like(t, 0.02)
        else:
            a = np.full_like(t, {"gmed": 0.30, "vl": 0.10, "vmo": 0.09}.get(muscle, 0.04))
        return np.clip(a * self.effort, 0.0, 1.0)

    def records(self) -> list[TruthRecord]:
        s = self.s
        out = []
        for i in range(self.tl.n):
            a, b = float(self.tl.start[i]), float(self.tl.end[i])
            ang = self.angles(a, b, [f"knee_flexion.{s}", f"hip_flexion.{s}"])
            q = {
                "knee_flexion_peak": float(ang[f"knee_flexion.{s}"].max()),
                "hip_flexion_peak": float(ang[f"hip_flexion.{s}"].max()),
                "rep_duration": b - a,
                "rep_active_time": excursion_time(ang[f"knee_flexion.{s}"], self.config.rest_band_deg),
            }
            out.append(
                TruthRecord(
                    "rep",
                    i,
                    a,
                    b,
                    errors=self.errs[i],
                    quantities=q,
                    times={"top": a + float(self.tl.rise[i])},
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [imu("pelvis"), imu(f"thigh.{side}"), imu(f"shank.{side}"), emg("bf", side), emg("st", side)]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu(f"thigh.{side}"), imu(f"shank.{side}")]


HIP_ABDUCTION_ERRORS: tuple[str, ...] = ("insufficient_abduction", "hip_hike", "trunk_lateral_lean")


@dataclass(frozen=True, kw_only=True)
class HipAbductionConfig(MovementConfig):
    """Standing hip abduction of ``side`` (straight knee), standing on the other leg.

    Errors: ``insufficient_abduction`` (``hip_abduction_peak``), ``hip_hike``
    (``pelvic_obliquity_peak``: the moving side of the pelvis rises), ``trunk_lateral_lean``
    (``trunk_lateral_lean_peak``: the trunk leans over the stance leg).
    """

    movement: ClassVar[str] = "standing_hip_abduction"
    error_labels: ClassVar[tuple[str, ...]] = HIP_ABDUCTION_ERRORS

    reps: int = 10
    abduction_deg: float = 30.0
    obliquity_deg: float = 1.5
    trunk_lean_deg: float = 2.0
    rise: float = 1.5
    hold: float = 1.0
    fall: float = 1.5
    pause: float = 2.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "abduction_deg", self.abduction_deg, 10.0, 50.0)
        check_finite(o, "obliquity_deg", self.obliquity_deg, 0.0, 5.0)
        check_finite(o, "trunk_lean_deg", self.trunk_lean_deg, 0.0, 6.0)
        for name in ("rise", "fall"):
            check_finite(o, name, getattr(self, name), 0.4, 10.0)
        check_finite(o, "hold", self.hold, 0.0, 30.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, HIP_ABDUCTION_ERRORS, "rep"))


class HipAbductionMovement(_StandingMovement):
    """Standing hip abduction (see :class:`HipAbductionConfig`)."""

    config_class = HipAbductionConfig
    config: HipAbductionConfig

    def __init__(self, config: HipAbductionConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        self.tl = Timeline(rng, n, cfg.rise, cfg.hold, cfg.fall, cfg.pause, cfg.lead_in, self.speed)
        self.abd = cfg.abduction_deg + rng.uniform(-2.0, 2.0, n)
        self.hike = np.maximum(cfg.obliquity_deg + rng.uniform(-0.5, 0.5, n), 0.0)
        self.lean = np.maximum(cfg.trunk_lean_deg + rng.uniform(-1.0, 1.0, n), 0.0)
        self.gmed_gain = np.ones(n)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        self._sway = Sway(self.rng("sway"), _SUPPORTED_SWAY * subject.sway)
        self._ankles = ankles(self.body)
        self.duration = float(self.tl.end[-1] + cfg.lead_out)
        for i in range(n):
            e = self.errors_of(i)
            if "insufficient_abduction" in e:
                self.abd[i] = self.errs[i]["insufficient_abduction"] = self.severity(
                    i, "insufficient_abduction"
                )
            for label, arr, q in (
                ("hip_hike", self.hike, "pelvic_obliquity_peak"),
                ("trunk_lateral_lean", self.lean, "trunk_lateral_lean_peak"),
            ):
                if label in e:
                    target = self.errs[i][label] = self.severity(i, label)
                    if label == "hip_hike":
                        self.gmed_gain[i] = 0.6  # the hip hikers substitute for a weak gluteus medius

                    def value(i: int = i, q: str = q) -> float:
                        return self.peaks(i)[q]

                    _correct(value, target, lambda v, arr=arr, i=i: arr.__setitem__(i, v), target)

    def pose(self, t: F64) -> Pose:
        m, i = self.tl.profile(t)
        r, _, _ = self._stance(t)
        s, sign = self.s, self.sign
        base = r[f"thigh.{self.o}"]
        r["pelvis"] = base @ rot_x(-sign * np.radians(self.hike[i]) * m)
        r["trunk"] = base @ rot_x(-sign * np.radians(self.lean[i]) * m)
        r[f"thigh.{s}"] = r["pelvis"] @ rot_x(-sign * np.radians(self.abd[i]) * m)
        r[f"shank.{s}"] = r[f"thigh.{s}"]
        r[f"foot.{s}"] = r[f"shank.{s}"]
        return Pose(r, f"ankle.{self.o}", self._ankles[self.o])

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        m, i = self.tl.profile(t)
        g = self.tl.gate(t)
        if muscle == "gmed":
            a = g * self.gmed_gain[i] * (0.10 + 0.45 * m) if side == self.s else 0.30 + 0.10 * m
        else:
            a = np.full_like(t, 0.03 if side == self.s else 0.08)
        return np.clip(a * self.effort, 0.0, 1.0)

    def peaks(self, i: int) -> dict[str, float]:
        s, sign = self.s, self.sign
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        ang = self.angles(a, b, [f"hip_abduction.{s}", "pelvic_obliquity", "trunk_lateral_lean"])
        return {
            "hip_abduction_peak": float(ang[f"hip_abduction.{s}"].max()),
            "pelvic_obliquity_peak": float((-sign * ang["pelvic_obliquity"]).max()),
            "trunk_lateral_lean_peak": float(np.abs(ang["trunk_lateral_lean"]).max()),
        }

    def records(self) -> list[TruthRecord]:
        out = []
        for i in range(self.tl.n):
            a, b = float(self.tl.start[i]), float(self.tl.end[i])
            q = {**self.peaks(i), "rep_duration": b - a}
            out.append(
                TruthRecord(
                    "rep",
                    i,
                    a,
                    b,
                    errors=self.errs[i],
                    quantities=q,
                    times={"top": a + float(self.tl.rise[i])},
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [imu("pelvis"), imu("trunk"), imu(f"thigh.{side}"), emg("gmed", side)]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu("pelvis"), imu(f"thigh.{side}")]

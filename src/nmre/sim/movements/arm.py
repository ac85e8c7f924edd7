"""The right arm: shoulder scaption with scapular control, and the PNF D2 flexion pattern.

The subject stands quietly (right ankle the root, knees 1 deg flexed, the left leg on its
foot by IK). The humerus' direction relative to the trunk is set by its elevation ``e``
(angle from the trunk's downward axis) and plane ``p`` (azimuth from forward: 0 flexion,
90 abduction, about 55 the scapular plane): ``R_upper_arm = R_trunk R_z(-p) R_y(-e) R_z(psi)``
with ``psi`` the axial (internal/external) rotation. The shoulder girdle follows: the
clavicle elevates by ``epsilon`` about the trunk's AP axis at the sternoclavicular joint
and the scapula rotates upward by ``epsilon + beta``, ``beta = 0.3 e`` (scapulohumeral
rhythm: about a third of the elevation above the first degrees is scapulothoracic,
Inman et al. 1944; Ludewig et al., J Bone Joint Surg Am 91:378, 2009), ``epsilon = 0.08 e``
normally (about 10 deg at 120 deg of elevation, Ludewig 2009).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose, rot_x, rot_y, rot_z
from nmre.sim.config import MovementConfig, check_finite, check_int, normalise_rep_errors
from nmre.sim.kit import Sensor, emg, imu
from nmre.sim.movements.base import Movement, Timeline, ankles, excursion_time, ik_other_leg, neutral, tilt
from nmre.sim.profiles import Sway
from nmre.sim.truth import TruthRecord

__all__ = ["PnfConfig", "PnfMovement", "ScaptionConfig", "ScaptionMovement", "spectral_arc_length"]

F64 = NDArray[np.float64]

_RHYTHM = 0.30  # scapular upward rotation per degree of humeral elevation
_CLAVICLE = 0.08  # clavicular elevation per degree of humeral elevation
_SCAPULAR_PLANE = 55.0  # deg from forward
_STANDING_KNEE = 1.0  # deg
#: Movement onset and offset: the speed at this fraction of the rep's peak speed (Teasdale et al. 1993).
ONSET_FRACTION = 0.05


def movement_time(elevation: F64, rate: float = 100.0) -> float:
    """``movement_time`` (s) of a rep from its true elevation (deg) on a grid at ``rate`` Hz: from the first
    instant the elevation's speed reaches :data:`ONSET_FRACTION` of its peak to the last instant it is there
    (movement onset and offset, Teasdale et al., J Mot Behav 25:97, 1993; Gordon & Ghez 1987)."""
    speed = np.abs(np.gradient(elevation)) * rate
    peak = float(speed.max()) if speed.shape[0] else 0.0
    if peak <= 0.0:
        return 0.0
    return excursion_time(speed, ONSET_FRACTION * peak, rate)


def spectral_arc_length(
    speed: F64, fs: float, padlevel: int = 4, fc: float = 10.0, amp_th: float = 0.05
) -> float:
    """SPARC of a speed profile (Balasubramanian et al., J NeuroEng Rehabil 12:112, 2015).

    The magnitude spectrum, zero-padded to ``2**(ceil(log2 n) + padlevel)`` points and
    normalised by its maximum, is taken from the first to the last frequency below ``fc``
    whose magnitude is at least ``amp_th``; SPARC is minus its arc length with frequency
    normalised by that band's width. (The simulator's own implementation: ``nmre.sim`` may
    not import ``nmre.dsp``; the tests compare the two.)
    """
    nfft = 2 ** (math.ceil(math.log2(speed.shape[0])) + padlevel)
    mag = np.abs(np.fft.rfft(speed, nfft))
    mag = mag / mag.max()
    f = np.arange(mag.shape[0]) * fs / nfft
    keep = f <= fc
    f, mag = f[keep], mag[keep]
    above = np.flatnonzero(mag >= amp_th)
    f, mag = f[above[0] : above[-1] + 1], mag[above[0] : above[-1] + 1]
    if f.shape[0] < 2:
        return 0.0
    df = np.diff(f) / (f[-1] - f[0])
    return -float(np.sum(np.sqrt(df * df + np.diff(mag) ** 2)))


class _ArmMovement(Movement):
    """Standing quietly while the right arm moves."""

    def _standing(self, t: F64) -> dict[str, F64]:
        ap, ml = self._sway.angles(t)
        r = neutral(t.shape[0])
        knee = np.radians(_STANDING_KNEE)
        r["shank.r"] = tilt(ap + 0.5 * knee, ml)
        r["thigh.r"] = r["shank.r"] @ rot_y(np.full_like(t, -knee))
        r["pelvis"] = rot_y(ap)
        r["trunk"] = tilt(ap, ml)
        ik_other_leg(r, self.body, "r", self._ankles["r"], self._ankles["l"])
        return r

    def _arm(
        self, r: dict[str, F64], elevation: F64, plane: F64, axial: F64, clavicle: F64, elbow: F64
    ) -> None:
        """Set upper arm, forearm, clavicle and scapula from the arm's angles (rad), in place."""
        trunk = r["trunk"]
        r["upper_arm.r"] = trunk @ rot_z(-plane) @ rot_y(-elevation) @ rot_z(axial)
        r["forearm.r"] = r["upper_arm.r"] @ rot_y(-elbow)
        r["clavicle.r"] = trunk @ rot_x(-clavicle)
        r["scapula.r"] = trunk @ rot_x(-(clavicle + _RHYTHM * elevation))


#: Tempo errors of the arm drills: the rep's phases scaled together until its ``movement_time`` is the
#: severity (a rushed or a dragged-out rep).
TEMPO_ERRORS: tuple[str, ...] = ("too_fast", "too_slow")

SCAPTION_ERRORS: tuple[str, ...] = (
    "insufficient_elevation",
    "ut_dominance",
    "shoulder_shrug",
    "trunk_compensation",
    *TEMPO_ERRORS,
)


def _tempo(tl: Timeline, i: int, errors: Any, severity: Any, measure: Any) -> None:
    """A tempo error of rep ``i``: every phase scaled so that ``measure(i)`` (its movement time) is the severity.

    The movement time of a minimum-jerk rep is proportional to its phases' common scale, so one step lands
    on it up to the grid's interpolation; two more take out the rest. Later reps start later (the pauses
    are kept)."""
    for label in TEMPO_ERRORS:
        if label in errors:
            target = float(severity(i, label))
            for _ in range(3):
                got = measure(i)
                if got <= 0.0 or abs(got - target) < 1e-6:
                    break
                tl.scale(i, float(tl.rise[i] + tl.hold[i] + tl.fall[i]) * target / got)


@dataclass(frozen=True, kw_only=True)
class ScaptionConfig(MovementConfig):
    """Shoulder scaption: elevation of the right arm in the scapular plane, thumb up, elbow straight.

    Errors: ``insufficient_elevation`` (``shoulder_elevation_peak``), ``ut_dominance``
    (``ut_lt_ratio``), ``shoulder_shrug`` (``scapular_elevation_peak``: clavicular elevation),
    ``trunk_compensation`` (``trunk_lateral_lean_peak``: the trunk leans away from the arm),
    ``too_fast`` / ``too_slow`` (``movement_time``: the rep's phases scaled together).

    The session starts as the drill instructs its calibration (``shoulder_scaption.toml``): standing with the
    arm by the side for ``neutral`` s (the neutral pose), then, the arm held against the side, the trunk
    leans ``bend_deg`` away from the arm and back upright over ``bend`` s (minimum jerk each way; the common
    lean that shows the two sensors' relative heading), then ``lead_in`` s before the first rep.
    """

    movement: ClassVar[str] = "shoulder_scaption"
    error_labels: ClassVar[tuple[str, ...]] = SCAPTION_ERRORS
    sides: ClassVar[tuple[str, ...]] = ("right",)

    reps: int = 10
    elevation_deg: float = 140.0
    trunk_lean_deg: float = 1.5
    rise: float = 2.0
    hold: float = 1.0
    fall: float = 2.0
    pause: float = 2.0
    neutral: float = 2.5
    bend: float = 3.0
    bend_deg: float = 12.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "elevation_deg", self.elevation_deg, 60.0, 170.0)
        check_finite(o, "neutral", self.neutral, 0.0, 600.0)
        check_finite(o, "bend", self.bend, 0.2, 20.0)
        check_finite(o, "bend_deg", self.bend_deg, 0.0, 30.0)
        check_finite(o, "trunk_lean_deg", self.trunk_lean_deg, 0.0, 5.0)
        for name in ("rise", "fall"):
            check_finite(o, name, getattr(self, name), 0.5, 10.0)
        check_finite(o, "hold", self.hold, 0.0, 30.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, SCAPTION_ERRORS, "rep"))


class ScaptionMovement(_ArmMovement):
    """Shoulder scaption (see :class:`ScaptionConfig`)."""

    config_class = ScaptionConfig
    config: ScaptionConfig

    def __init__(self, config: ScaptionConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        lead = cfg.neutral + cfg.bend + cfg.lead_in  # the neutral pose, the common lean, then upright
        self.tl = Timeline(rng, n, cfg.rise, cfg.hold, cfg.fall, cfg.pause, lead, self.speed)
        self.elev = cfg.elevation_deg + rng.uniform(-3.0, 3.0, n)
        self.shrug = np.zeros(n)  # deg of clavicular elevation beyond the normal rhythm, at the top
        self.lean = np.maximum(cfg.trunk_lean_deg + rng.uniform(-0.5, 0.5, n), 0.0)
        self.ut_gain = np.ones(n)
        self._sway = Sway(self.rng("sway"), 0.012 * subject.sway)
        self._ankles = ankles(self.body)
        self.duration = float(self.tl.end[-1] + cfg.lead_out)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            e = self.errors_of(i)
            _tempo(self.tl, i, e, self.severity, lambda k: self.peaks(k)["movement_time"])
            if "insufficient_elevation" in e:
                self.elev[i] = self.severity(i, "insufficient_elevation")
            if "shoulder_shrug" in e:
                self.shrug[i] = max(self.severity(i, "shoulder_shrug") - _CLAVICLE * self.elev[i], 0.0)
            if "trunk_compensation" in e:
                target = self.severity(i, "trunk_compensation")
                self.lean[i] = target
                for _ in range(2):
                    self.lean[i] += target - self.peaks(i)["trunk_lateral_lean_peak"]
            if "ut_dominance" in e:
                target = self.severity(i, "ut_dominance")
                g = 1.0
                for _ in range(6):  # secant on the gain (clipping at full activation makes it non-linear)
                    self.ut_gain[i] = g
                    got = self.ratio(i)
                    if abs(got - target) < 1e-9:
                        break
                    g *= target / got
        for i in range(n):  # severities are the realised true values
            q = self.peaks(i)
            for label, name in (
                ("insufficient_elevation", "shoulder_elevation_peak"),
                ("shoulder_shrug", "scapular_elevation_peak"),
                ("trunk_compensation", "trunk_lateral_lean_peak"),
                ("ut_dominance", "ut_lt_ratio"),
                ("too_fast", "movement_time"),
                ("too_slow", "movement_time"),
            ):
                if label in self.errors_of(i):
                    self.errs[i][label] = q[name]
        self.duration = float(self.tl.end[-1] + cfg.lead_out)  # after the tempo errors

    def _angles(self, t: F64) -> tuple[F64, F64, F64, Any]:
        m, i = self.tl.profile(t)
        e = np.radians(self.elev[i]) * m
        clav = _CLAVICLE * e + np.radians(self.shrug[i]) * m
        return e, clav, m, i

    def calibration_lean(self, t: F64) -> F64:
        """The trunk's lean away from the arm (deg) in the lead-in's common lean: 0, up to ``bend_deg`` and back
        over ``bend`` s after the neutral pose (minimum jerk each way), 0 from then on."""
        from nmre.sim.profiles import min_jerk

        cfg = self.config
        half = 0.5 * cfg.bend
        x = (t - cfg.neutral) / half
        return np.asarray(cfg.bend_deg * (min_jerk(x) - min_jerk(x - 1.0)), dtype=np.float64)

    def pose(self, t: F64) -> Pose:
        e, clav, m, i = self._angles(t)
        r = self._standing(t)
        r["trunk"] = r["trunk"] @ rot_x(
            -np.radians(self.lean[i] * m + self.calibration_lean(t))
        )  # leaning away from the arm (to the left); the arm, set from the trunk below, goes with it
        n = t.shape[0]
        self._arm(r, e, np.full(n, np.radians(_SCAPULAR_PLANE)), np.zeros(n), clav, np.zeros(n))
        return Pose(r, "ankle.r", self._ankles["r"], clavicle_elevation=clav)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        m, i = self.tl.profile(t)
        g = self.tl.gate(t)
        shrug = self.shrug[i] / 20.0
        level = {
            "ad": 0.08 + 0.40 * m,
            "sa": 0.06 + 0.35 * m,
            "ut": (0.05 + 0.30 * m + 0.25 * shrug * m) * self.ut_gain[i],
            "lt": 0.06 + 0.36 * m,
        }.get(muscle)
        if level is None or side != "r":
            return np.full_like(t, 0.02)
        return np.clip((0.01 + g * level) * self.effort, 0.0, 1.0)

    def ratio(self, i: int) -> float:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        return self.mean_amplitude("ut", "r", a, b) / self.mean_amplitude("lt", "r", a, b)

    def peaks(self, i: int) -> dict[str, float]:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        ang = self.angles(
            a,
            b,
            ["shoulder_elevation", "clavicular_elevation", "scapular_upward_rotation", "trunk_lateral_lean"],
        )
        return {
            "shoulder_elevation_peak": float(ang["shoulder_elevation"].max()),
            "movement_time": movement_time(ang["shoulder_elevation"]),
            "scapular_elevation_peak": float(ang["clavicular_elevation"].max()),
            "scapular_upward_rotation_peak": float(ang["scapular_upward_rotation"].max()),
            "trunk_lateral_lean_peak": float(np.abs(ang["trunk_lateral_lean"]).max()),
            "ut_lt_ratio": self.ratio(i),
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
        return [
            imu("trunk"),
            imu("upper_arm.r"),
            imu("scapula.r"),
            *(emg(m, "r") for m in ("ut", "lt", "sa", "ad")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu("trunk"), imu("upper_arm.r"), emg("ut", "r"), emg("lt", "r")]


PNF_ERRORS: tuple[str, ...] = ("incomplete_range", "off_pattern", "jerky", *TEMPO_ERRORS)
_TEMPLATE_POINTS = 50
_DEVIATION = 60.0  # deg: the plane's excursion towards a frontal-plane raise at full off-pattern weight
_TREMOR_HZ = 5.0


@dataclass(frozen=True, kw_only=True)
class PnfConfig(MovementConfig):
    """PNF D2 flexion of the right arm: from extension-adduction-internal rotation (hand by the left hip)
    to flexion-abduction-external rotation (hand up and out), and back.

    Errors: ``incomplete_range`` (``shoulder_elevation_peak``), ``off_pattern``
    (``template_distance``: the hand leaves the diagonal), ``jerky`` (``sparc``: tremor-like
    sub-movements of 5 Hz), ``too_fast`` / ``too_slow`` (``movement_time``: the rep's phases scaled together).

    The session starts as the drill instructs its neutral pose (``pnf_d2_flexion.toml``): standing with the
    arm hanging relaxed by the side (elevation 0, the arm unturned against the trunk) for ``neutral`` s, then
    bringing the hand to the opposite hip (the diagonal's start, minimum jerk) over ``reach`` s, then
    ``lead_in`` s there before the first rep.
    """

    movement: ClassVar[str] = "pnf_d2_flexion"
    error_labels: ClassVar[tuple[str, ...]] = PNF_ERRORS
    sides: ClassVar[tuple[str, ...]] = ("right",)

    reps: int = 10
    elevation_deg: float = 155.0
    rise: float = 2.0
    hold: float = 0.5
    fall: float = 2.0
    pause: float = 2.0
    neutral: float = 2.5
    reach: float = 1.0
    errors: Mapping[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        self._set("reps", check_int(o, "reps", self.reps, 1, 10_000))
        check_finite(o, "elevation_deg", self.elevation_deg, 90.0, 175.0)
        check_finite(o, "neutral", self.neutral, 0.0, 600.0)
        check_finite(o, "reach", self.reach, 0.1, 5.0)
        for name in ("rise", "fall"):
            check_finite(o, name, getattr(self, name), 0.5, 10.0)
        check_finite(o, "hold", self.hold, 0.0, 30.0)
        check_finite(o, "pause", self.pause, 1.0, 60.0)
        self._set("errors", normalise_rep_errors(o, self.errors, self.reps, PNF_ERRORS, "rep"))


class PnfMovement(_ArmMovement):
    """PNF D2 flexion (see :class:`PnfConfig`)."""

    config_class = PnfConfig
    config: PnfConfig
    E0, P0, P1, PSI0, PSI1 = 15.0, -30.0, 70.0, -50.0, 50.0  # deg: start elevation, planes, axial rotations

    def __init__(self, config: PnfConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        n = cfg.reps
        rng = self.rng("plan")
        lead = cfg.neutral + cfg.reach + cfg.lead_in  # the neutral pose, the reach to the start, then there
        self.tl = Timeline(rng, n, cfg.rise, cfg.hold, cfg.fall, cfg.pause, lead, self.speed)
        self.nominal = cfg.elevation_deg + rng.uniform(-3.0, 3.0)  # the subject's own pattern (the template)
        self.elev = self.nominal + rng.uniform(-2.0, 2.0, n)
        self.dev = np.zeros(n)  # off-pattern weight
        self.tremor = np.zeros(n)  # deg
        self._sway = Sway(self.rng("sway"), 0.012 * subject.sway)
        self._ankles = ankles(self.body)
        self.duration = float(self.tl.end[-1] + cfg.lead_out)
        self.errs: list[dict[str, float]] = [{} for _ in range(n)]
        for i in range(n):
            e = self.errors_of(i)
            _tempo(self.tl, i, e, self.severity, lambda k: self.quantities(k)["movement_time"])
            if "incomplete_range" in e:
                self.elev[i] = self.severity(i, "incomplete_range")
            if "off_pattern" in e:
                self._bisect(
                    self.dev,
                    i,
                    self.template_distance,
                    self.severity(i, "off_pattern"),
                    0.0,
                    2.5,
                    rising=True,
                )
            if "jerky" in e:
                self._bisect(self.tremor, i, self.sparc, self.severity(i, "jerky"), 0.0, 25.0, rising=False)
        for i in range(n):
            q = self.quantities(i)
            for label, name in (
                ("incomplete_range", "shoulder_elevation_peak"),
                ("off_pattern", "template_distance"),
                ("jerky", "sparc"),
                ("too_fast", "movement_time"),
                ("too_slow", "movement_time"),
            ):
                if label in self.errors_of(i):
                    self.errs[i][label] = q[name]
        self.duration = float(self.tl.end[-1] + cfg.lead_out)  # after the tempo errors

    @staticmethod
    def _bisect(arr: F64, i: int, f: Any, target: float, lo: float, hi: float, rising: bool) -> None:
        """Set ``arr[i]`` in [lo, hi] so that ``f(i)`` (monotone in it) is ``target`` (or the nearest end)."""
        for _ in range(40):
            arr[i] = 0.5 * (lo + hi)
            below = f(i) < target
            if below == rising:
                lo = arr[i]
            else:
                hi = arr[i]

    def start_weight(self, t: F64) -> F64:
        """0 in the neutral pose at the session's start, rising (minimum jerk) over ``reach`` to 1 at the
        diagonal's start, 1 from then on (so every rep is the same whatever the lead-in)."""
        from nmre.sim.profiles import min_jerk

        cfg = self.config
        return np.asarray(min_jerk((t - cfg.neutral) / cfg.reach), dtype=np.float64)

    def _angles(self, t: F64, i: Any, m: F64, template: bool = False) -> tuple[F64, F64, F64]:
        peak = self.nominal if template else self.elev[i]
        w = self.start_weight(t)  # the neutral pose (e 0, axial rotation equal to the plane) -> the start
        e = np.radians(self.E0 * w + (peak - self.E0) * m)
        p = np.radians(
            self.P0
            + (self.P1 - self.P0) * m
            + (0.0 if template else _DEVIATION * self.dev[i]) * np.sin(np.pi * m)
        )
        if not template:
            e = e + np.radians(self.tremor[i]) * np.sin(2 * np.pi * _TREMOR_HZ * t) * np.sin(np.pi * m)
        psi = np.radians(self.P0 + (self.PSI0 - self.P0) * w + (self.PSI1 - self.PSI0) * m)
        return e, p, psi

    def pose(self, t: F64) -> Pose:
        m, i = self.tl.profile(t)
        e, p, psi = self._angles(t, i, m)
        r = self._standing(t)
        clav = _CLAVICLE * e
        self._arm(r, e, p, psi, clav, np.full_like(t, np.radians(10.0)))
        return Pose(r, "ankle.r", self._ankles["r"], clavicle_elevation=clav)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        m, _ = self.tl.profile(t)
        g = self.tl.gate(t)
        level = {
            "ad": 0.10 + 0.45 * m,
            "sa": 0.08 + 0.35 * m,
            "ut": 0.06 + 0.30 * m,
            "lt": 0.06 + 0.30 * m,
        }.get(muscle)
        if level is None or side != "r":
            return np.full_like(t, 0.02)
        return np.clip((0.01 + g * level) * self.effort, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def _humerus(self, i: int, template: bool) -> F64:
        """Humerus direction (3, K) in the trunk frame at K times spread over the rep."""
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        t = np.linspace(a, b, _TEMPLATE_POINTS)
        m, idx = self.tl.profile(t)
        e, p, _ = self._angles(t, idx, m, template)
        return np.vstack([np.sin(e) * np.cos(p), -np.sin(e) * np.sin(p), -np.cos(e)])

    def template_distance(self, i: int) -> float:
        """DTW distance (mean great-circle angle, rad) of the rep's humerus path from the subject's pattern."""
        x, y = self._humerus(i, False), self._humerus(i, True)
        cost = np.arccos(np.clip(x.T @ y, -1.0, 1.0))
        k = cost.shape[0]
        acc = np.full((k + 1, k + 1), np.inf)
        steps = np.zeros((k + 1, k + 1))
        acc[0, 0] = 0.0
        for a in range(1, k + 1):
            for b in range(1, k + 1):
                options = (
                    (acc[a - 1, b - 1], steps[a - 1, b - 1]),
                    (acc[a - 1, b], steps[a - 1, b]),
                    (acc[a, b - 1], steps[a, b - 1]),
                )
                best, n = min(options)
                acc[a, b] = cost[a - 1, b - 1] + best
                steps[a, b] = n + 1
        return float(acc[k, k] / steps[k, k])

    def sparc(self, i: int) -> float:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        t = self.grid(a, b)
        st = self.state(t, ("forearm.r",))
        return spectral_arc_length(np.linalg.norm(st.gyro["forearm.r"], axis=0), 100.0)

    def quantities(self, i: int) -> dict[str, float]:
        a, b = float(self.tl.start[i]), float(self.tl.end[i])
        elevation = self.angles(a, b, ["shoulder_elevation"])["shoulder_elevation"]
        return {
            "shoulder_elevation_peak": float(elevation.max()),
            "movement_time": movement_time(elevation),
            "template_distance": self.template_distance(i),
            "sparc": self.sparc(i),
            "rep_duration": b - a,
        }

    def records(self) -> list[TruthRecord]:
        out = []
        for i in range(self.tl.n):
            a, b = float(self.tl.start[i]), float(self.tl.end[i])
            out.append(
                TruthRecord(
                    "rep",
                    i,
                    a,
                    b,
                    errors=self.errs[i],
                    quantities=self.quantities(i),
                    times={"top": a + float(self.tl.rise[i])},
                )
            )
        return out

    @classmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        return [
            imu("trunk"),
            imu("upper_arm.r"),
            imu("forearm.r"),
            *(emg(m, "r") for m in ("ad", "ut", "lt", "sa")),
        ]

    @classmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        return [imu("trunk"), imu("upper_arm.r"), imu("forearm.r")]

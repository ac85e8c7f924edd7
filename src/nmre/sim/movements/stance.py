"""Standing balance: quiet stance (the four mCTSIB conditions), tandem stance, single-leg stance.

Sway is a band-limited sum of sinusoids (:class:`nmre.sim.profiles.Sway`) rotating
the body about the ankles as an inverted pendulum (ankle strategy). Its amplitude
is set by the stance (base of support), the subject and the condition:

* base of support: quiet two-legged stance 0.012 m/s^2 pelvis linear-acceleration RMS,
  tandem 0.024, single leg 0.040 (the ordering and spread of Neville et al., Med Devices
  8:447, 2015, who report inertial RMS rising from 0.037 for two legs eyes open to
  0.91 for tandem eyes closed on foam);
* eyes closed x1.5, foam x1.8, both x2.7 (the Romberg and foam ratios of
  ``reference/dsp.md`` §3.3: eyes closed raises sway by 20-60 %, foam with eyes closed
  by 2-3 times; order of magnitude, not a norm).

Errors in time: ``excessive_sway`` (severity: the true ``sway_rms`` of the sway sensor
over the episode) and ``loss_of_balance`` (an accelerating lean that ends in a foot
touchdown 1 s after the start, a jolt, 0.5 s on two feet and 1.5 s of recovery; its
value is the touchdown time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.errors import ConfigError, expected
from nmre.sim.body import Pose, leg_ik, rot_x, rot_y
from nmre.sim.config import MovementConfig, TimedError, check_finite, normalise_timed_errors
from nmre.sim.kit import Sensor, emg, imu
from nmre.sim.movements.base import Movement, ankles, neutral, sway_metrics, tilt
from nmre.sim.profiles import Sway, min_jerk, ramp_window
from nmre.sim.truth import Episode, TruthRecord

__all__ = [
    "CONDITIONS",
    "STANCE_ERRORS",
    "QuietStanceConfig",
    "SingleLegStanceConfig",
    "StanceMovement",
    "TandemStanceConfig",
]

F64 = NDArray[np.float64]

#: Errors that can be injected into a time span of a stance.
STANCE_ERRORS: tuple[str, ...] = ("excessive_sway", "loss_of_balance")
#: The mCTSIB conditions: name -> (eyes_closed, foam).
CONDITIONS = {
    "eo_firm": (False, False),
    "ec_firm": (True, False),
    "eo_foam": (False, True),
    "ec_foam": (True, True),
}
_BASE_SWAY = {"bipedal": 0.012, "tandem": 0.024, "single_leg": 0.040}  # m/s^2 at eyes open, firm
_EYES_CLOSED = 1.5
_FOAM = 1.8
_LOB_FALL = 1.0  # s from the start of a loss of balance to touchdown
_LOB_HOLD = 0.5  # s on two feet after touchdown
_LOB_RECOVER = 1.5  # s back to the stance
_LOB_ROLL_DEG = 6.0  # whole-body tilt towards the raised foot at touchdown
_LOB_TRUNK_DEG = 14.0  # extra trunk tilt at touchdown
_JOLT_M = 0.002  # touchdown shock displacement amplitude, m
_JOLT_HZ = 12.0
_SWAY_RAMP = 1.0  # s, amplitude ramps of an excessive-sway episode
_MIN_SPAN = {"loss_of_balance": 3.0, "excessive_sway": 2.0}


@dataclass(frozen=True, kw_only=True)
class _StanceConfig(MovementConfig):
    """A stance held for ``duration`` seconds, with errors injected per time span.

    Parameters
    ----------
    duration : float
        Length of the stance, seconds.
    errors : sequence of (label, start, end[, severity])
        Labels from :data:`STANCE_ERRORS` and their span in seconds from the start;
        ``loss_of_balance`` needs at least 3 s, ``excessive_sway`` at least 2 s. An
        ``excessive_sway`` severity is the sway sensor's true ``sway_rms`` over the span
        (m/s^2); without one it is 2-4 times the subject's own.
    window : float
        Length of the truth windows, s (consecutive from 0; the drills' sway window).
    sway_acc_rms : float or None
        Horizontal RMS of the pelvis' linear acceleration in this stance with eyes open
        on a firm surface for the nominal subject, m/s^2 (default: by stance).
    """

    record: ClassVar[str] = "window"
    error_labels: ClassVar[tuple[str, ...]] = STANCE_ERRORS
    stance: ClassVar[str] = "bipedal"

    duration: float = 30.0
    errors: Sequence[Any] = ()
    window: float = 5.0
    sway_acc_rms: float | None = None

    def __post_init__(self) -> None:
        o = type(self).__name__
        self._check_common()
        check_finite(o, "duration", self.duration, 2.0, 48 * 3600.0)
        check_finite(o, "window", self.window, 1.0, 600.0)
        if self.sway_acc_rms is not None:
            check_finite(o, "sway_acc_rms", self.sway_acc_rms, 0.0, 1.0, lo_open=True)
        self._set("errors", normalise_timed_errors(o, self.errors, self.duration, STANCE_ERRORS, _MIN_SPAN))


@dataclass(frozen=True, kw_only=True)
class QuietStanceConfig(_StanceConfig):
    """Quiet two-legged stance, feet hip-width apart, in one of the four mCTSIB conditions.

    ``condition`` (``"eo_firm"``, ``"ec_firm"``, ``"eo_foam"``, ``"ec_foam"``) sets
    ``eyes_closed`` and ``foam``; the flags can be given instead (``condition`` is then
    filled in from them).
    """

    movement: ClassVar[str] = "quiet_stance"
    sided: ClassVar[bool] = False
    stance: ClassVar[str] = "bipedal"

    condition: str | None = None

    def __post_init__(self) -> None:
        o = type(self).__name__
        if self.condition is not None:
            if self.condition not in CONDITIONS:
                raise ConfigError(
                    f"{o}.condition: " + expected("one of " + ", ".join(CONDITIONS), self.condition)
                )
            ec, foam = CONDITIONS[self.condition]
            for name, v in (("eyes_closed", ec), ("foam", foam)):
                if getattr(self, name) not in (v, False):
                    raise ConfigError(
                        f"{o}.{name}: " + expected(f"{v} with condition {self.condition!r}", True)
                    )
                self._set(name, v)
        super().__post_init__()
        self._set("condition", condition_of(self))


@dataclass(frozen=True, kw_only=True)
class TandemStanceConfig(_StanceConfig):
    """Tandem stance: one foot in front of the other on a line (``side`` = the front foot)."""

    movement: ClassVar[str] = "tandem_stance"
    stance: ClassVar[str] = "tandem"


@dataclass(frozen=True, kw_only=True)
class SingleLegStanceConfig(_StanceConfig):
    """Single-leg stance on ``side`` (the other leg raised: hip 20 deg, knee 70 deg)."""

    movement: ClassVar[str] = "single_leg_stance"
    stance: ClassVar[str] = "single_leg"

    sway_factor: float = 2.5  # legacy: the excessive-sway factor when no severity is given

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(type(self).__name__, "sway_factor", self.sway_factor, 1.0, 10.0)


def condition_of(cfg: MovementConfig) -> str:
    """The mCTSIB condition name of a configuration: ``eo_firm``, ``ec_firm``, ``eo_foam`` or ``ec_foam``."""
    return f"{'ec' if cfg.eyes_closed else 'eo'}_{'foam' if cfg.foam else 'firm'}"


class StanceMovement(Movement):
    """Any of the stances (see the module docstring)."""

    config: _StanceConfig

    def __init__(self, config: _StanceConfig, seed: int, subject: Any, body: Any = None) -> None:
        super().__init__(config, seed, subject, body)
        cfg = config
        self.kind = cfg.stance
        self.duration = float(cfg.duration)
        base = cfg.sway_acc_rms if cfg.sway_acc_rms is not None else _BASE_SWAY[self.kind]
        self.base_scale = (_EYES_CLOSED if cfg.eyes_closed else 1.0) * (_FOAM if cfg.foam else 1.0)
        rms = base * subject.sway
        self._sway = Sway(self.rng("sway"), rms, ml_share=0.7 if self.kind == "tandem" else 0.55)
        self._trunk_sway = Sway(self.rng("trunk_sway"), 0.3 * rms)
        self.touchdowns = [e.start + _LOB_FALL for e in cfg.errors if e.label == "loss_of_balance"]
        self._episodes = [e for e in cfg.errors if e.label == "excessive_sway"]
        self._factor = [1.0] * len(self._episodes)  # plateau amplitude factor per episode
        self._severity: list[float] = [math.nan] * len(self._episodes)
        self._ankles = self._feet()
        self._hip_height = self._standing_hip_height()

    # -- geometry -----------------------------------------------------------------------
    def _feet(self) -> dict[str, F64]:
        feet = ankles(self.body)
        if self.kind == "tandem":  # front foot (side) ahead on the midline, the other behind it
            half = 0.13 * self.body.height / 1.75
            feet = {self.s: np.array([half, 0.0, 0.0]), self.o: np.array([-half, 0.0, 0.0])}
        return feet

    def _standing_hip_height(self) -> float:
        legs = self.body.thigh_length + self.body.shank_length
        lateral = abs(self.body.hip[1]) if self.kind == "tandem" else 0.0
        half = 0.13 * self.body.height / 1.75 if self.kind == "tandem" else 0.0
        reach = (
            0.997 if self.kind != "tandem" else 0.985
        )  # tandem: knees a little bent, so sway stays in reach
        return math.sqrt((reach * legs) ** 2 - lateral**2 - half**2)

    # -- sway amplitude -------------------------------------------------------------------
    def sway_scale(self, t: F64) -> F64:
        """Sway amplitude factor over time (1 = this subject's eyes-open firm-surface sway in this stance)."""
        w = np.ones_like(t)
        for e, f in zip(self._episodes, self._factor, strict=True):
            w = w + (f - 1.0) * ramp_window(t, e.start, e.end, _SWAY_RAMP)
        return self.base_scale * w

    def solve_episodes(self) -> None:
        """Set each excessive-sway episode's amplitude so its true sway_rms is the severity."""
        for k, e in enumerate(self._episodes):
            t = self.grid(e.start, e.end)
            self._factor[k] = 1.0
            h1 = self.horizontal_force(t)
            normal = sway_metrics(h1)["sway_rms"]
            target = e.severity if e.severity is not None else self._drawn(k, normal)
            self._factor[k] = 2.0
            h2 = self.horizontal_force(t)
            d1, d2 = h1 - h1.mean(axis=1, keepdims=True), h2 - h2.mean(axis=1, keepdims=True)
            # h(f) = d1 + (f - 1) (d2 - d1): mean |h|^2 is quadratic in f
            dd = d2 - d1
            a, b, c = (
                np.mean(np.sum(dd * dd, 0)),
                2 * np.mean(np.sum(d1 * dd, 0)),
                np.mean(np.sum(d1 * d1, 0)),
            )
            disc = b * b - 4 * a * (c - target**2)
            x = (-b + math.sqrt(max(disc, 0.0))) / (2 * a)
            self._factor[k] = max(1.0 + x, 0.05)
            self._severity[k] = target

    def _drawn(self, k: int, normal: float) -> float:
        cfg = self.config
        if isinstance(cfg, SingleLegStanceConfig) and cfg.sway_factor != 2.5:
            return cfg.sway_factor * normal
        return self.severity(k, "excessive_sway", normal)

    def severity(self, index: int, label: str, normal: float | None = None) -> float:
        from nmre.sim.catalogue import ERRORS

        spec = ERRORS[label]
        u = float(self.rng(f"severity.{index}.{label}").uniform(*spec.drawn))
        return u * normal if spec.relative and normal is not None else u

    # -- loss of balance ------------------------------------------------------------------
    def _excursion(self, t: F64) -> F64:
        """Loss-of-balance excursion in [0, 1]: accelerating fall, touchdown at 1, recovery back to 0."""
        out = np.zeros_like(t)
        for td in self.touchdowns:
            s = td - _LOB_FALL
            fall = min_jerk(np.clip((t - s) / _LOB_FALL, 0.0, 1.0) ** 2)
            back = min_jerk((t - td - _LOB_HOLD) / _LOB_RECOVER)
            out = np.maximum(out, fall - back)
        return out

    def _jolt(self, t: F64) -> F64:
        out = np.zeros((3, t.shape[0]))
        for td in self.touchdowns:
            x = t - td - 0.05
            shock = _JOLT_M * np.exp(-((x / 0.05) ** 2)) * np.sin(2 * np.pi * _JOLT_HZ * x)
            out[1] += 0.5 * shock
            out[2] += shock
        return out

    # -- pose ---------------------------------------------------------------------------
    def pose(self, t: F64) -> Pose:
        scale = self.sway_scale(t)
        ap, ml = self._sway.angles(t) * scale
        tap, tml = self._trunk_sway.angles(t) * scale
        e = self._excursion(t)
        towards = -self.sign  # roll sign that tilts the body towards the other (raised) foot
        roll = ml + towards * np.radians(_LOB_ROLL_DEG) * e
        r = neutral(t.shape[0])
        jolt = self._jolt(t) if self.touchdowns else None
        if self.kind == "single_leg":
            s, o = self.s, self.o
            r[f"shank.{s}"] = rot_x(roll) @ rot_y(np.radians(2.0) + ap)
            r[f"thigh.{s}"] = (
                r[f"shank.{s}"]
                @ rot_y(-np.full_like(t, np.radians(5.0)))
                @ rot_x(self.sign * np.full_like(t, np.radians(0.5)))
            )
            r["pelvis"] = tilt(np.radians(5.0) + ap, roll)
            r["trunk"] = tilt(
                np.radians(3.0) + ap + tap, roll + tml + towards * np.radians(_LOB_TRUNK_DEG) * e
            )
            down = 1.0 - e  # the raised leg comes down for the touchdown
            r[f"thigh.{o}"] = r["pelvis"] @ rot_y(-np.radians(20.0) * down)
            r[f"shank.{o}"] = r[f"thigh.{o}"] @ rot_y(np.radians(70.0) * down)
            r[f"foot.{o}"] = r[f"shank.{o}"]
            return Pose(r, f"ankle.{s}", self._ankles[s], jolt)
        # two feet on the ground: the upper body rotates about the ankles, the legs follow by IK
        r_body = tilt(np.radians(1.0) + ap, roll)
        mid = 0.5 * (self._ankles["r"] + self._ankles["l"])
        pelvis = mid + np.einsum("nij,j->ni", r_body, np.array([0.0, 0.0, self._hip_height]))
        r["pelvis"] = tilt(np.radians(5.0) + ap, roll)
        r["trunk"] = tilt(np.radians(3.0) + ap + tap, roll + tml + towards * np.radians(_LOB_TRUNK_DEG) * e)
        hips = {
            s: pelvis + np.einsum("nij,j->ni", r["pelvis"], self.body.mirrored(self.body.hip, s))
            for s in ("r", "l")
        }
        for s in ("r", "l"):
            r[f"thigh.{s}"], r[f"shank.{s}"], _ = leg_ik(
                hips[s], self._ankles[s], self.body.thigh_length, self.body.shank_length
            )
        return Pose(r, "pelvis", pelvis, jolt)

    def activation(self, muscle: str, side: str, t: F64) -> F64:
        scale = self.sway_scale(t) / self.base_scale
        burst = np.zeros_like(t)
        for td in self.touchdowns:
            burst = np.maximum(burst, ramp_window(t, td - 0.5, td + 0.5, 0.2))
        stance_side = self.kind != "single_leg" or side == self.s
        tone = {"vmo": 0.10, "vl": 0.11, "rf": 0.05, "bf": 0.08, "st": 0.07, "gmed": 0.30}.get(muscle, 0.02)
        if not stance_side:
            tone *= 0.3
        elif self.kind == "bipedal":
            tone *= 0.4 if muscle == "gmed" else 0.6
        extra = {"gmed": 0.50, "bf": 0.30, "st": 0.30}.get(muscle, 0.45)
        a = tone * (1.0 + 0.35 * (scale - 1.0)) * self.effort + extra * burst
        return np.clip(a, 0.0, 1.0)

    # -- truth --------------------------------------------------------------------------
    def records(self) -> list[TruthRecord]:
        cfg = self.config
        w = cfg.window
        n = math.floor(self.duration / w + 1e-9)
        if self.duration - n * w >= 0.5 * w:
            n += 1
        out = []
        eps = self.episodes()
        for k in range(n):
            a, b = k * w, min((k + 1) * w, self.duration)
            t = self.grid(a, b)
            t = t[t < b - 1e-9]  # windows are half-open, [start, end)
            q = sway_metrics(self.horizontal_force(t))
            errors: dict[str, float] = {}
            for ep in eps:
                if ep.label == "excessive_sway" and min(b, ep.end) - max(a, ep.start) >= 0.5 * (b - a):
                    errors["excessive_sway"] = ep.severity
            tds = [td for td in self.touchdowns if a <= td < b]
            if tds:
                errors["loss_of_balance"] = tds[0]
                q["loss_of_balance"] = tds[0]
            tilt_deg = self.angles(a, b, ["trunk_tilt"])["trunk_tilt"]
            out.append(
                TruthRecord(
                    kind="window",
                    index=k,
                    start=a,
                    end=b,
                    errors=errors,
                    quantities=q,
                    label=condition_of(cfg),
                    times={"touchdown": tds[0]} if tds else {},
                    info={
                        "sway_scale": float(np.mean(self.sway_scale(t))),
                        "peak_trunk_tilt_deg": float(tilt_deg.max()),
                        "sensor": 0.0 if self.sway_segment == "pelvis" else 1.0,
                    },
                )
            )
        return out

    def episodes(self) -> tuple[Episode, ...]:
        out = []
        k = 0
        for e in self.config.errors:
            assert isinstance(e, TimedError)
            if e.label == "excessive_sway":
                out.append(Episode(e.label, e.start, e.end, self._severity[k]))
                k += 1
            else:
                out.append(Episode(e.label, e.start, e.end, e.start + _LOB_FALL))
        return tuple(out)

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
        return [imu("pelvis")]

"""Movement scenarios: a configuration turned into joint-angle and muscle-activation trajectories.

A scenario is a set of smooth functions of continuous time (so the IMU model can
differentiate them at any instant, and EMG can be evaluated at its own rate):

* :meth:`Scenario.pose` gives the chain angles of :mod:`nmre.sim.body`;
* :meth:`Scenario.activation` gives each muscle's activation in [0, 1].

Movement phases use minimum-jerk profiles (Flash & Hogan, J Neurosci 5:1688,
1985), so velocities and accelerations are continuous. Postural sway is a sum of
sinusoids with random phases spread over 0.1–1.5 Hz, displacement amplitude
falling as 1/f, scaled to a target horizontal acceleration RMS at the pelvis
(single-leg stance sway: e.g. Mancini et al., J NeuroEng Rehabil 9:59, 2012).
Per-rep variability and error magnitudes are drawn from seeded generators.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import Pose
from nmre.sim.config import SQUAT_ERRORS, SquatConfig, StanceConfig

__all__ = ["MUSCLES", "Scenario", "SquatScenario", "StanceScenario", "child_rng", "min_jerk"]

F64 = NDArray[np.float64]

#: EMG channels of the right leg, in row order.
MUSCLES: tuple[str, ...] = ("vmo", "vl", "bf", "gmed")

_PELVIS_HEIGHT = 0.95  # m, pelvis sensor above the ankle in standing (for sway scaling)
_SWAY_BANDS = 20  # sinusoids per sway direction
_BIPEDAL_SWAY = 0.3  # quiet two-legged standing sway relative to normal single-leg sway
_ANKLE_PER_KNEE = 0.38  # ankle dorsiflexion per degree of knee flexion in a squat
_PELVIS_PER_LEAN = 0.8  # pelvis anterior tilt per degree of trunk lean
_ONSET_RISE = 0.03  # s, quadriceps activation rise time after onset (minimum-jerk)


def child_rng(seed: int, name: str) -> np.random.Generator:
    """An independent generator for the stream or purpose ``name``, derived from ``seed``.

    Adding a new named stream never changes the numbers of the others.
    """
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),)))


def min_jerk(tau: F64) -> F64:
    """Minimum-jerk position profile 0 → 1 for normalised time ``tau`` (clipped to [0, 1])."""
    x = np.clip(tau, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


class _Sway:
    """Band-limited postural sway angles (rad) about the ankle: a seeded sum of sinusoids."""

    def __init__(self, rng: np.random.Generator, acc_rms: float) -> None:
        edges = np.geomspace(0.1, 1.5, _SWAY_BANDS + 1)
        # one frequency per log band, two directions (AP, ML)
        self.freq = edges[:-1] * (edges[1:] / edges[:-1]) ** rng.uniform(0.0, 1.0, (2, _SWAY_BANDS))
        self.phase = rng.uniform(0.0, 2 * np.pi, (2, _SWAY_BANDS))
        amp = 1.0 / self.freq  # displacement ~ 1/f
        omega2 = (2 * np.pi * self.freq) ** 2
        per_axis = np.sqrt(0.5 * np.sum((amp * omega2) ** 2, axis=1))  # acc RMS per unit scale, m/s^2 per m
        share = np.array([0.45, 0.55])  # AP, ML share of the horizontal variance
        self.amp = amp * (acc_rms * np.sqrt(share) / per_axis)[:, None] / _PELVIS_HEIGHT

    def angles(self, t: F64) -> F64:
        """Sway angles (2, n): AP (about y, forward positive) and ML (about x), radians."""
        out = np.zeros((2, t.shape[0]))
        for d in range(2):
            for f, p, a in zip(self.freq[d], self.phase[d], self.amp[d], strict=True):
                out[d] += a * np.sin(2 * np.pi * f * t + p)
        return out


def _ramp_window(t: F64, start: float, end: float, ramp: float) -> F64:
    """Smooth 0 → 1 → 0 window over [start, end] with minimum-jerk ramps of ``ramp`` s."""
    r = min(ramp, 0.5 * (end - start))
    return min_jerk((t - start) / r) * (1.0 - min_jerk((t - (end - r)) / r))


class Scenario(ABC):
    """Smooth trajectories of one simulated session."""

    duration: float

    @abstractmethod
    def pose(self, t: F64) -> Pose:
        """Chain angles at times ``t`` (s, shape (n,))."""

    @abstractmethod
    def activation(self, t: F64) -> F64:
        """Muscle activations in [0, 1], shape (len(MUSCLES), n), at times ``t`` (s)."""


@dataclass(frozen=True, slots=True)
class RepPlan:
    """The realised parameters of every squat repetition (arrays of shape (reps,))."""

    start: F64
    descent: F64
    hold: F64
    ascent: F64
    depth: F64  # deg
    lean: F64  # deg, at the bottom
    valgus: F64  # deg, at the bottom
    vl_onset: F64  # s
    vmo_onset: F64  # s
    gmed_gain: F64
    errors: tuple[tuple[str, ...], ...]

    @property
    def end(self) -> F64:
        return self.start + self.descent + self.hold + self.ascent


class SquatScenario(Scenario):
    """A bodyweight squat set (see :class:`nmre.sim.config.SquatConfig`)."""

    def __init__(self, cfg: SquatConfig, seed: int) -> None:
        self.cfg = cfg
        rng = child_rng(seed, "squat.plan")
        n = cfg.reps
        dur = cfg.rep_duration * (1.0 + rng.uniform(-0.05, 0.05, n))
        pauses = cfg.pause + rng.uniform(-0.2, 0.2, n)
        errs = tuple(cfg.errors.get(i, ()) for i in range(n))
        has = {k: np.array([k in e for e in errs]) for k in SQUAT_ERRORS}
        depth = np.where(has["shallow_squat"], cfg.shallow_depth_deg, cfg.target_depth_deg) + rng.uniform(
            -2, 2, n
        )
        lean_normal = cfg.trunk_lean_deg * depth / cfg.target_depth_deg
        lean = np.maximum(
            np.where(has["excessive_trunk_lean"], cfg.excessive_lean_deg, lean_normal)
            + rng.uniform(-2, 2, n),
            0.0,
        )
        valgus = np.where(
            has["knee_valgus"],
            cfg.valgus_error_deg + rng.uniform(-1, 1, n),
            cfg.valgus_deg + rng.uniform(-0.5, 0.5, n),
        )
        vmo_ms = np.where(
            has["late_vmo_onset"],
            cfg.late_vmo_ms + rng.uniform(-5, 5, n),
            cfg.vmo_onset_ms + rng.uniform(-5, 0, n),
        )
        vl_lead = rng.uniform(0.02, 0.08, n)
        starts = cfg.lead_in + np.concatenate([[0.0], np.cumsum(dur[:-1] + pauses[:-1])])
        vl_onset = starts - vl_lead
        self.plan = RepPlan(
            start=starts,
            descent=0.45 * dur,
            hold=0.10 * dur,
            ascent=0.45 * dur,
            depth=depth,
            lean=lean,
            valgus=valgus,
            vl_onset=vl_onset,
            vmo_onset=vl_onset + vmo_ms / 1000.0,
            gmed_gain=np.where(has["knee_valgus"], 0.6, 1.0),
            errors=errs,
        )
        self.duration = float(self.plan.end[-1] + cfg.lead_out)
        # region of rep i starts 0.4 s before its movement (onsets are at most 0.28 s earlier)
        self._region = self.plan.start - 0.4
        self._sway = _Sway(child_rng(seed, "squat.sway"), _BIPEDAL_SWAY * 0.04)

    def _profile(self, t: F64) -> tuple[F64, NDArray[np.intp]]:
        """Squat depth profile m(t) in [0, 1] (0 standing, 1 at the bottom) and each sample's rep index."""
        p = self.plan
        i = np.clip(np.searchsorted(self._region, t, side="right") - 1, 0, p.start.shape[0] - 1)
        x = t - p.start[i]
        m = min_jerk(x / p.descent[i]) - min_jerk((x - p.descent[i] - p.hold[i]) / p.ascent[i])
        return m, i

    def pose(self, t: F64) -> Pose:
        m, i = self._profile(t)
        p = self.plan
        knee = np.radians(p.depth[i]) * m
        lean = np.radians(p.lean[i]) * m
        sway = self._sway.angles(t)
        return Pose(
            ankle_pitch=_ANKLE_PER_KNEE * knee + sway[0],
            ankle_roll=sway[1],
            knee_flexion=knee,
            knee_valgus=np.radians(p.valgus[i]) * m,
            pelvis_pitch=_PELVIS_PER_LEAN * lean + sway[0],
            pelvis_roll=sway[1],
            trunk_pitch=lean + sway[0],
            trunk_roll=sway[1],
            jolt=np.zeros((3, t.shape[0])),
        )

    def activation(self, t: F64) -> F64:
        m, i = self._profile(t)
        p = self.plan
        drive = m * p.depth[i] / self.cfg.target_depth_deg
        off = p.end[i] + 0.05
        stop = 1.0 - min_jerk((t - off) / 0.15)
        gate_vl = min_jerk((t - p.vl_onset[i]) / _ONSET_RISE) * stop
        gate_vmo = min_jerk((t - p.vmo_onset[i]) / _ONSET_RISE) * stop
        gate_other = min_jerk((t - p.start[i]) / 0.15) * stop
        a = np.empty((len(MUSCLES), t.shape[0]))
        a[0] = gate_vmo * (0.12 + 0.50 * drive)
        a[1] = gate_vl * (0.12 + 0.50 * drive)
        a[2] = gate_other * (0.04 + 0.06 * drive)
        a[3] = gate_other * p.gmed_gain[i] * (0.06 + 0.14 * drive)
        return np.clip(a, 0.0, 1.0)


_LOB_FALL = 1.0  # s from the start of a loss of balance to touchdown
_LOB_HOLD = 0.5  # s on two feet after touchdown
_LOB_RECOVER = 1.5  # s back to single-leg stance
_LOB_ROLL_DEG = 6.0  # whole-body tilt towards the raised (left) foot at touchdown
_LOB_TRUNK_DEG = 14.0  # extra trunk tilt at touchdown
_JOLT_M = 0.002  # touchdown shock displacement amplitude, m
_JOLT_HZ = 12.0


class StanceScenario(Scenario):
    """Quiet single-leg stance on the right leg (see :class:`nmre.sim.config.StanceConfig`)."""

    def __init__(self, cfg: StanceConfig, seed: int) -> None:
        self.cfg = cfg
        self.duration = float(cfg.duration)
        self.base_scale = 1.6 if cfg.eyes_closed else 1.0
        self._sway = _Sway(child_rng(seed, "stance.sway"), cfg.sway_acc_rms)
        self._trunk_sway = _Sway(child_rng(seed, "stance.trunk_sway"), 0.3 * cfg.sway_acc_rms)
        self.sway_windows = [(s, e) for k, s, e in cfg.errors if k == "excessive_sway"]
        self.touchdowns = [s + _LOB_FALL for k, s, e in cfg.errors if k == "loss_of_balance"]

    def sway_scale(self, t: F64) -> F64:
        """Sway amplitude factor over time (1 = normal eyes-open single-leg stance)."""
        w = np.zeros_like(t)
        for s, e in self.sway_windows:
            w = np.maximum(w, _ramp_window(t, s, e, 1.0))
        return self.base_scale * (1.0 + (self.cfg.sway_factor - 1.0) * w)

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

    def pose(self, t: F64) -> Pose:
        scale = self.sway_scale(t)
        sway = self._sway.angles(t) * scale
        trunk = self._trunk_sway.angles(t) * scale
        e = self._excursion(t)
        roll = sway[1] - np.radians(_LOB_ROLL_DEG) * e
        knee = np.full_like(t, np.radians(5.0))
        return Pose(
            ankle_pitch=np.radians(2.0) + sway[0],
            ankle_roll=roll,
            knee_flexion=knee,
            knee_valgus=np.full_like(t, np.radians(1.0)),
            pelvis_pitch=np.radians(5.0) + sway[0],
            pelvis_roll=roll,
            trunk_pitch=np.radians(3.0) + sway[0] + trunk[0],
            trunk_roll=roll + trunk[1] - np.radians(_LOB_TRUNK_DEG) * e,
            jolt=self._jolt(t),
        )

    def activation(self, t: F64) -> F64:
        scale = self.sway_scale(t) / self.base_scale
        burst = np.zeros_like(t)
        for td in self.touchdowns:
            burst = np.maximum(burst, _ramp_window(t, td - 0.5, td + 0.5, 0.2))
        a = np.empty((len(MUSCLES), t.shape[0]))
        a[0] = 0.10 + 0.04 * (scale - 1.0) + 0.45 * burst
        a[1] = 0.11 + 0.04 * (scale - 1.0) + 0.45 * burst
        a[2] = 0.08 + 0.03 * (scale - 1.0) + 0.30 * burst
        a[3] = 0.30 + 0.10 * (scale - 1.0) + 0.50 * burst
        return np.clip(a, 0.0, 1.0)


def build_scenario(cfg: SquatConfig | StanceConfig, seed: int) -> Scenario:
    """The scenario for ``cfg``."""
    if isinstance(cfg, SquatConfig):
        return SquatScenario(cfg, seed)
    return StanceScenario(cfg, seed)

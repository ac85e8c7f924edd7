"""Run a scenario through the body, IMU and EMG models: :func:`simulate` → :class:`Simulation`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import IMU_CHANNELS, Channel, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError, expected
from nmre.sim.body import SEGMENTS, Anthropometry
from nmre.sim.config import SquatConfig, StanceConfig
from nmre.sim.emg import EmgModel, synthesize_emg
from nmre.sim.imu import ImuErrors, ImuTruth, derive_imu, rotation_from_vector_deg
from nmre.sim.scenario import MUSCLES, Scenario, SquatScenario, StanceScenario, build_scenario, child_rng
from nmre.sim.truth import GroundTruth, RepTruth, WindowTruth

__all__ = ["EMG_STREAM", "IMU_STREAMS", "Simulation", "simulate", "squat_set"]

F64 = NDArray[np.float64]

#: IMU stream ids, one per instrumented segment (same order as :data:`nmre.sim.body.SEGMENTS`).
IMU_STREAMS: tuple[str, ...] = tuple(f"imu.{s}" for s in SEGMENTS)
#: The EMG stream id.
EMG_STREAM = "emg.r"
_DEVICE = "sim"
_CHUNK = 1 << 20  # EMG samples evaluated at once

_PLACEMENT = {
    "pelvis": Placement(segment="pelvis", side=Side.MIDLINE),
    "trunk": Placement(segment="trunk", side=Side.MIDLINE),
    "thigh.r": Placement(segment="thigh", side=Side.RIGHT),
    "shank.r": Placement(segment="shank", side=Side.RIGHT),
}


def stream_infos(imu_rate: float, emg_rate: float) -> list[StreamInfo]:
    """The :class:`StreamInfo` of every simulated stream."""
    infos = [
        StreamInfo(f"imu.{s}", StreamKind.IMU, IMU_CHANNELS, imu_rate, _PLACEMENT[s], _DEVICE)
        for s in SEGMENTS
    ]
    emg_ch = tuple(Channel(m, "mV", Placement(muscle=m, side=Side.RIGHT)) for m in MUSCLES)
    infos.append(
        StreamInfo(EMG_STREAM, StreamKind.EMG, emg_ch, emg_rate, Placement(side=Side.RIGHT), _DEVICE)
    )
    return infos


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated session: streams, their data, and what really happened.

    Attributes
    ----------
    streams : list of StreamInfo
        ``imu.pelvis``, ``imu.trunk``, ``imu.thigh.r``, ``imu.shank.r``, ``emg.r``.
    data : dict of str to (times, values)
        Stream id → sample times (n,) in session seconds and values (n_channels, n) in
        the channel units.
    truth : GroundTruth
        Per rep (squat) or per window (stance). Detectors never read it.
    duration : float
        Session length, s.
    kinematics : dict of str to ndarray
        At the IMU sample times (``"time"``, s): true joint angles in degrees
        (``knee_flexion``, ``knee_valgus``, ``hip_flexion``, ``trunk_lean``, ``trunk_tilt``,
        ``shank_tilt``) and the pelvis sensor's true world position (``pelvis_pos``, (3, n), m)
        and linear acceleration (``pelvis_lin_acc``, (3, n), m/s^2), and the sternum sensor's
        world position (``trunk_pos``, (3, n), m; origin at the right ankle). For tests and plots.
    orientations : dict of str to ndarray
        IMU stream id → true sensor-to-world quaternion (4, n) (w, x, y, z).
    activation : ndarray, shape (len(MUSCLES), n_emg)
        True muscle activation in [0, 1] at the EMG sample times.
    imu_bias : dict of str to ndarray
        IMU stream id → the constant bias added to (acc_x..gyr_z), shape (6,).
    mounting : dict of str to ndarray
        IMU stream id → sensor-to-segment rotation (3, 3).
    """

    config: SquatConfig | StanceConfig
    seed: int
    imu_rate: float
    emg_rate: float
    mains_hz: float | None
    streams: list[StreamInfo]
    data: dict[str, tuple[F64, F64]]
    truth: GroundTruth
    duration: float
    kinematics: dict[str, F64]
    orientations: dict[str, F64]
    activation: F64
    imu_bias: dict[str, F64]
    mounting: dict[str, F64]

    def __repr__(self) -> str:
        return (
            f"Simulation({self.truth.exercise}, {self.duration:.1f} s, seed={self.seed}, "
            f"imu {self.imu_rate:g} Hz, emg {self.emg_rate:g} Hz, {len(self.streams)} streams)"
        )


def _check_rate(name: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and lo <= value <= hi)
    ):
        raise ConfigError(f"simulate: {name} " + expected(f"a rate in Hz between {lo:g} and {hi:g}", value))
    return float(value)


def simulate(
    config: SquatConfig | StanceConfig,
    seed: int = 0,
    imu_rate: float = 100.0,
    emg_rate: float = 2000.0,
    mains_hz: float | None = None,
    mounting: Mapping[str, tuple[float, float, float]] | None = None,
    imu_errors: ImuErrors | None = None,
    emg_model: EmgModel | None = None,
    body: Anthropometry | None = None,
) -> Simulation:
    """Simulate one subject doing ``config``.

    Parameters
    ----------
    config : SquatConfig or StanceConfig
        What the subject does and which errors to inject.
    seed : int
        Seed (>= 0). The same seed and arguments give bit-identical arrays.
    imu_rate : float
        IMU sampling rate, Hz (50–400; 100–200 is typical).
    emg_rate : float
        EMG sampling rate, Hz (1000–4000).
    mains_hz : float or None
        50 or 60 to add mains hum to the EMG.
    mounting : mapping of str to 3 floats, optional
        IMU stream id → sensor mounting misalignment as a rotation vector in degrees
        (sensor frame relative to the segment frame). Default: aligned.
    imu_errors : ImuErrors, optional
        Noise densities and bias ranges.
    emg_model : EmgModel, optional
        EMG amplitudes and spectrum.
    body : Anthropometry, optional
        Segment lengths and sensor offsets.

    Returns
    -------
    Simulation
    """
    if not isinstance(config, (SquatConfig, StanceConfig)):
        raise ConfigError("simulate: " + expected("a SquatConfig or StanceConfig", type(config).__name__))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("simulate: seed " + expected("an integer >= 0", seed))
    seed = int(seed)
    imu_rate = _check_rate("imu_rate", imu_rate, 50.0, 400.0)
    emg_rate = _check_rate("emg_rate", emg_rate, 1000.0, 4000.0)
    if mains_hz is not None and mains_hz not in (50, 60):
        raise ConfigError("simulate: mains_hz " + expected("50, 60 or None", mains_hz))
    mount = _mounting(mounting)
    errs = imu_errors or ImuErrors()

    scenario = build_scenario(config, seed)
    duration = scenario.duration
    t_imu = np.arange(math.floor(duration * imu_rate) + 1) / imu_rate
    t_emg = np.arange(math.floor(duration * emg_rate) + 1) / emg_rate
    truth_imu = derive_imu(scenario, t_imu, {s: mount[f"imu.{s}"] for s in SEGMENTS}, body)

    data: dict[str, tuple[F64, F64]] = {}
    bias: dict[str, F64] = {}
    for s in SEGMENTS:
        sid = f"imu.{s}"
        values, bias[sid] = _imu_errors(truth_imu, s, seed, imu_rate, errs)
        data[sid] = (t_imu, values)
    activation = np.empty((len(MUSCLES), t_emg.shape[0]))
    for a in range(0, t_emg.shape[0], _CHUNK):  # bounded temporaries for hour-long sessions
        activation[:, a : a + _CHUNK] = scenario.activation(t_emg[a : a + _CHUNK])
    data[EMG_STREAM] = (t_emg, synthesize_emg(activation, t_emg, emg_rate, seed, mains_hz, emg_model))

    for times, values in data.values():  # blocks served from these are views: keep them immutable
        times.setflags(write=False)
        values.setflags(write=False)
    kin: dict[str, F64] = {"time": t_imu, **truth_imu.angles}
    kin["pelvis_pos"] = truth_imu.position["pelvis"]
    kin["pelvis_lin_acc"] = truth_imu.lin_acc["pelvis"]
    kin["trunk_pos"] = truth_imu.position["trunk"]
    truth = _ground_truth(scenario, kin, duration)
    return Simulation(
        config=config,
        seed=seed,
        imu_rate=imu_rate,
        emg_rate=emg_rate,
        mains_hz=mains_hz,
        streams=stream_infos(imu_rate, emg_rate),
        data=data,
        truth=truth,
        duration=duration,
        kinematics=kin,
        orientations={f"imu.{s}": truth_imu.quat[s] for s in SEGMENTS},
        activation=activation,
        imu_bias=bias,
        mounting=mount,
    )


def squat_set(reps: int = 10, shallow: tuple[int, ...] = (), seed: int = 0, **kwargs: object) -> Simulation:
    """A squat set with the reps in ``shallow`` (0-based) too shallow; ``kwargs`` go to :func:`simulate`."""
    cfg = SquatConfig(reps=reps, errors={i: ("shallow_squat",) for i in shallow})
    return simulate(cfg, seed=seed, **kwargs)  # type: ignore[arg-type]


def _mounting(mounting: Mapping[str, tuple[float, float, float]] | None) -> dict[str, F64]:
    out = {sid: np.eye(3) for sid in IMU_STREAMS}
    for sid, vec in (mounting or {}).items():
        if sid not in out:
            raise ConfigError("simulate: mounting " + expected("keys among " + ", ".join(IMU_STREAMS), sid))
        v = np.asarray(vec, dtype=np.float64) if _is_vec3(vec) else None
        if v is None or not np.all(np.isfinite(v)):
            raise ConfigError(
                f"simulate: mounting[{sid!r}] " + expected("3 finite degrees (rotation vector)", vec)
            )
        out[sid] = rotation_from_vector_deg((float(v[0]), float(v[1]), float(v[2])))
    return out


def _is_vec3(v: object) -> bool:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == (3,)


def _imu_errors(tr: ImuTruth, seg: str, seed: int, rate: float, e: ImuErrors) -> tuple[F64, F64]:
    """Add bias and white noise to one sensor's true signals; return values (6, n) and the bias (6,)."""
    brng = child_rng(seed, f"imu.{seg}.bias")
    sign = brng.choice([-1.0, 1.0], 6)
    mag = np.concatenate([brng.uniform(*e.acc_bias, 3), np.radians(brng.uniform(*e.gyr_bias_dps, 3))])
    bias = sign * mag
    n = tr.acc[seg].shape[1]
    noise = child_rng(seed, f"imu.{seg}.noise").standard_normal((6, n))
    std = np.sqrt(rate / 2.0) * np.array([e.acc_noise_density] * 3 + [e.gyr_noise_density] * 3)
    values = np.vstack([tr.acc[seg], tr.gyr[seg]]) + bias[:, None] + std[:, None] * noise
    return values, bias


def _ground_truth(scenario: Scenario, kin: dict[str, F64], duration: float) -> GroundTruth:
    t = kin["time"]
    if isinstance(scenario, SquatScenario):
        p = scenario.plan
        reps = []
        for i in range(p.start.shape[0]):
            start, end = float(p.start[i]), float(p.end[i])
            sel = (t >= start) & (t <= end)
            reps.append(
                RepTruth(
                    index=i,
                    start=start,
                    end=end,
                    bottom=float(p.start[i] + p.descent[i] + 0.5 * p.hold[i]),
                    peak_knee_flexion_deg=float(kin["knee_flexion"][sel].max()),
                    peak_trunk_lean_deg=float(kin["trunk_lean"][sel].max()),
                    peak_valgus_deg=float(kin["knee_valgus"][sel].max()),
                    peak_hip_flexion_deg=float(kin["hip_flexion"][sel].max()),
                    vl_onset=float(p.vl_onset[i]),
                    vmo_onset=float(p.vmo_onset[i]),
                    vmo_vl_onset_ms=float((p.vmo_onset[i] - p.vl_onset[i]) * 1000.0),
                    errors=p.errors[i],
                )
            )
        return GroundTruth("squat", duration, reps=tuple(reps))
    assert isinstance(scenario, StanceScenario)
    cfg = scenario.cfg
    cuts = sorted({0.0, duration, *(x for _, s, e in cfg.errors for x in (s, e))})
    windows = []
    for a, b in itertools.pairwise(cuts):
        sel = (t >= a) & (t < b) if b < duration else (t >= a)
        kinds = tuple(dict.fromkeys(k for k, s, e in cfg.errors if s <= a and b <= e))
        acc = kin["pelvis_lin_acc"][:2, sel]
        pos = kin["pelvis_pos"][:2, sel]
        tds = [td for td in scenario.touchdowns if a <= td < b]
        windows.append(
            WindowTruth(
                start=a,
                end=b,
                errors=kinds,
                sway_scale=float(np.mean(scenario.sway_scale(t[sel]))),
                pelvis_acc_rms=float(np.sqrt(np.mean(np.sum(acc**2, axis=0)))),
                sway_rms_mm=float(
                    1000.0 * np.sqrt(np.mean(np.sum((pos - pos.mean(axis=1, keepdims=True)) ** 2, 0)))
                ),
                peak_trunk_tilt_deg=float(kin["trunk_tilt"][sel].max()),
                touchdown=float(tds[0]) if tds else math.nan,
            )
        )
    return GroundTruth("stance", duration, windows=tuple(windows))

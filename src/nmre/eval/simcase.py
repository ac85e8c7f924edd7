"""From a suite case to a simulated session: configuration, kit, conditions, and the truth to score against.

This is the one module that knows the simulator's configuration classes. It
turns a :class:`~nmre.eval.cases.Case` into a session the engine can run, with
the true units (reps, windows, ...) in the contract's quantity names. Error
severities are drawn across each rule's tolerance (uniform over the tolerance
edge ± 3 margins, clipped to what the simulator accepts), so verdicts are
tried where they are hard, not only at one value either side. The error labels
only tell the simulator what to do; scoring reads the true values, never the
labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nmre.core.model import StreamInfo
from nmre.eval.cases import Case, case_rng
from nmre.eval.drills_view import minimal_kit
from nmre.eval.model import RuleView, TruthUnit

__all__ = ["DROPOUT_SECONDS", "Session", "build_session", "supports"]

#: Length of the sensor dropout of the ``dropout`` group, s.
DROPOUT_SECONDS = 2.0
#: Reps per session of a rep drill.
REPS = 10
#: Length of a balance trial, s.
STANCE_SECONDS = 40.0
#: Largest strap rotation of a sensor on its segment, deg (issue 9.2).
MAX_STRAP_DEG = 15.0


@dataclass
class Session:
    """A simulated session ready to run, and what really happened in it."""

    sim: Any
    streams: list[StreamInfo]
    units: dict[str, list[TruthUnit]]
    events: dict[str, list[float]]  # quantity -> true times of a continuous error (loss of balance)
    window_truth: Callable[[float, float], dict[str, float]] | None = None
    dropout: tuple[str, float, float] | None = None  # stream id, start, end
    injected: dict[str, Any] = field(default_factory=dict)


def supports(group: str) -> bool:
    """Whether the simulator can produce the conditions of ``group``."""
    import nmre.sim as sim

    if group == "motion":
        return hasattr(sim, "MOVEMENTS")  # simulator v2 adds electrode motion artefacts
    return True


# -- severities ---------------------------------------------------------------------------------------
def _edges(rules: Sequence[RuleView]) -> dict[str, tuple[float, float]]:
    """Error label -> (tolerance edge, margin) of the rule that names it."""
    out: dict[str, tuple[float, float]] = {}
    for r in rules:
        for side, label in r.errors.items():
            edge = r.tolerance.lo if side < 0 else r.tolerance.hi
            if edge is not None and label not in out:
                out[label] = (float(edge), r.margin.value)
    return out


def _across(rng: np.random.Generator, edge: float, margin: float, lo: float, hi: float) -> float:
    span = 3.0 * margin if margin > 0 else max(abs(edge) * 0.3, 1.0)
    return float(np.clip(rng.uniform(edge - span, edge + span), lo, hi))


# -- conditions ---------------------------------------------------------------------------------------
def _mounting(case: Case, ids: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Each IMU strapped on rotated by up to 15 deg about a random axis (drawn per subject)."""
    rng = np.random.default_rng(np.random.SeedSequence([case.seed, 9_151]))
    out = {}
    for sid in ids:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        deg = rng.uniform(0.0, MAX_STRAP_DEG)
        out[sid] = (float(axis[0] * deg), float(axis[1] * deg), float(axis[2] * deg))
    return out


def _noise(case: Case) -> dict[str, Any]:
    from nmre.sim import EmgModel, ImuErrors

    if case.noise == 1.0:
        return {}
    imu, emg = ImuErrors(), EmgModel()
    return {
        "imu_errors": replace(
            imu,
            acc_noise_density=imu.acc_noise_density * case.noise,
            gyr_noise_density=imu.gyr_noise_density * case.noise,
        ),
        "emg_model": replace(emg, baseline_rms=emg.baseline_rms * case.noise),
    }


def _kit(case: Case, sim: Any) -> Any:
    """The simulation as worn with the case's kit (the simulator streams the full kit)."""
    if case.kit == "full":
        return sim
    keep = minimal_kit(case.drill, sim.streams)
    ids = {s.id for s in keep}
    return replace(sim, streams=keep, data={k: v for k, v in sim.data.items() if k in ids})


# -- per movement -------------------------------------------------------------------------------------
def _squat(case: Case, rules: Sequence[RuleView]) -> tuple[Any, dict[str, Any]]:
    from nmre.sim import SQUAT_ERRORS, SquatConfig

    edges = _edges(rules)
    labels = [k for k in SQUAT_ERRORS if k in edges]
    rng = case_rng(case, "severity")
    # (config field, allowed range) of each error's severity in today's simulator
    field_of = {
        "shallow_squat": ("shallow_depth_deg", 10.0, 90.0),
        "knee_valgus": ("valgus_error_deg", -10.0, 25.0),
        "excessive_trunk_lean": ("excessive_lean_deg", 0.0, 70.0),
        "late_vmo_onset": ("late_vmo_ms", -200.0, 200.0),
    }
    kw: dict[str, Any] = {}
    errors: dict[int, tuple[str, ...]] = {}
    if not case.clean and labels:
        off = int(rng.integers(len(labels)))
        errors = {i: (labels[(i + off) % len(labels)],) for i in range(REPS)}
        for label in labels:
            name, lo, hi = field_of[label]
            edge, margin = edges[label]
            kw[name] = _across(rng, edge, margin, lo, hi)
    return SquatConfig(reps=REPS, errors=errors, **kw), {"errors": errors, **kw}


def _stance(case: Case, rules: Sequence[RuleView]) -> tuple[Any, dict[str, Any]]:
    from nmre.sim import StanceConfig

    rng = case_rng(case, "severity")
    errors: list[tuple[str, float, float]] = []
    kw: dict[str, Any] = {}
    if not case.clean:
        start = float(rng.choice([15.0, 20.0]))
        errors.append(("excessive_sway", start, start + 10.0))
        # the sway rule's envelope is 1.6 x the own baseline: draw the episode's amplitude across it
        factor = next((r.tolerance.factor for r in rules if r.tolerance.factor), 1.6) or 1.6
        kw["sway_factor"] = float(rng.uniform(1.0, 2.0 * factor - 1.0))
        if rng.uniform() < 0.5:
            errors.append(("loss_of_balance", 30.0, 34.0))
    return StanceConfig(duration=STANCE_SECONDS, errors=errors, **kw), {"errors": errors, **kw}


def _squat_units(sim: Any) -> dict[str, list[TruthUnit]]:
    reps = [
        TruthUnit(
            "rep",
            r.index,
            r.start,
            r.end,
            {
                "knee_flexion_peak": r.peak_knee_flexion_deg,
                "knee_valgus_peak": r.peak_valgus_deg,
                "trunk_lean_peak": r.peak_trunk_lean_deg,
                "hip_flexion_peak": r.peak_hip_flexion_deg,
                "vmo_vl_onset_lag": r.vmo_vl_onset_ms,
            },
            tuple(r.errors),
        )
        for r in sim.truth.reps
    ]
    return {"rep": reps}


def _window_truth(sim: Any, stream: str = "imu.pelvis") -> Callable[[float, float], dict[str, float]]:
    """True sway of any window, as an accelerometer-based sway measure (ISway) means it.

    The sensor's true specific force (linear acceleration plus gravity, from the
    simulator's kinematics and orientation, no noise or bias) in the sensor frame,
    projected on the plane perpendicular to its mean direction over the window (the
    window's mean vertical), and the RMS about the mean of that horizontal part:
    the linear acceleration of the pelvis plus gravity's projection through the
    sway tilt, which is what such a measure reports (Mancini et al. 2012; Moe-Nilssen 1998).
    """
    from nmre.sim import GRAVITY

    t = sim.kinematics["time"]
    f_world = sim.kinematics["pelvis_lin_acc"] + np.array([[0.0], [0.0], [GRAVITY]])
    q = sim.orientations[stream]  # sensor to world (w, x, y, z)
    # rotate world vectors into the sensor frame: v' = v + 2w (u x v) + 2 u x (u x v), u = -q_xyz
    u = -q[1:]
    c = np.cross(u, f_world, axis=0)
    f_sensor = f_world + 2.0 * q[0] * c + 2.0 * np.cross(u, c, axis=0)

    def truth(start: float, end: float) -> dict[str, float]:
        sel = (t >= start) & (t < end)
        if sel.sum() < 2:
            return {}
        s = f_sensor[:, sel]
        up = s.mean(axis=1)
        up /= np.linalg.norm(up)
        h = s - up[:, None] * (up @ s)[None, :]
        h = h - h.mean(axis=1, keepdims=True)
        return {"sway_rms": float(np.sqrt(np.mean(np.sum(h * h, axis=0))))}

    return truth


_MOVEMENTS: dict[str, Callable[[Case, Sequence[RuleView]], tuple[Any, dict[str, Any]]]] = {
    "squat": _squat,
    "stance": _stance,
}


def _dropout(
    case: Case, streams: Sequence[StreamInfo], units: Mapping[str, list[TruthUnit]]
) -> tuple[str, float, float]:
    """2 s without the drill's main sensor, in the middle of the 4th rep (or at 16 s of a trial)."""
    want = {"squat": "thigh", "stance": "pelvis"}.get(case.drill)
    sid = next(
        (s.id for s in streams if s.placement is not None and s.placement.segment == want),
        streams[0].id,
    )
    reps = units.get("rep") or []
    if len(reps) > 3:
        mid = 0.5 * (reps[3].start + reps[3].end)
        return sid, mid - 0.5 * DROPOUT_SECONDS, mid + 0.5 * DROPOUT_SECONDS
    return sid, 16.0, 16.0 + DROPOUT_SECONDS


def build_session(case: Case, rules: Sequence[RuleView]) -> Session:
    """Simulate ``case``; ``rules`` are the drill's rules (their tolerances place the severities)."""
    from nmre.sim import simulate

    make = _MOVEMENTS.get(case.drill)
    if make is None:
        raise ValueError(f"eval: no simulated movement for drill {case.drill!r}")
    cfg, injected = make(case, rules)
    from nmre.sim import IMU_STREAMS

    sim = simulate(
        cfg,
        seed=case.seed,
        mains_hz=50 if case.mains else None,
        motion_artifacts=6.0 if case.motion else 0.0,  # per minute on every EMG stream
        mounting=_mounting(case, IMU_STREAMS),
        **_noise(case),
    )
    worn = _kit(case, sim)
    units: dict[str, list[TruthUnit]] = {}
    events: dict[str, list[float]] = {}
    window_truth = None
    if case.drill == "squat":
        units = _squat_units(sim)
    else:
        window_truth = _window_truth(sim)
        events["loss_of_balance"] = [w.touchdown for w in sim.truth.windows if math.isfinite(w.touchdown)]
    drop = _dropout(case, worn.streams, units) if case.dropout else None
    return Session(worn, list(worn.streams), units, events, window_truth, drop, injected)

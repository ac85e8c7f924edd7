"""Synthetic sit-to-stand / stand-to-sit from one trunk (or pelvis) accelerometer, with known truth.

Independent of nmre.sim. Planar kinematics: the hip joint moves between the seated and standing
heights; the trunk segment (sensor at ``arm`` metres above the hip along the trunk) flexes forward
and returns upright. Sit-to-stand (Schenkman et al. 1990 phases): flexion momentum (trunk flexes,
hip still), momentum transfer and extension (hip rises and moves forward while the trunk extends).
Stand-to-sit is the same path backwards. All profiles are minimum-jerk. The accelerometer reads the
specific force in the sensor frame: R_y(theta)^T (p'' + g z), plus noise; the gyroscope theta' about y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _mj(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


@dataclass
class Transition:
    direction: str
    start: float
    end: float
    trunk_flexion_peak: float  # deg


def simulate_sts(
    n_cycles: int = 3,
    fs: float = 100.0,
    seed: int = 0,
    arm: float = 0.45,
    tilt_gain: float = 1.0,
    pause: tuple[float, float] = (0.3, 2.0),
    duration: tuple[float, float] = (1.8, 3.0),
    flexion: tuple[float, float] = (30.0, 50.0),
    rise: float = 0.42,
    noise: float = 0.03,
    first_rest: float = 2.0,
) -> tuple[np.ndarray, list[Transition], np.ndarray]:
    """IMU samples (6, n) at ``fs`` (acc m/s^2, gyro rad/s), the true transitions, the true trunk angle (deg).

    ``n_cycles`` sit-to-stand + stand-to-sit pairs, starting seated after ``first_rest`` s; pauses
    between transitions drawn from ``pause`` (clinic mode: short), durations from ``duration``.
    ``tilt_gain`` scales the sensor's tilt relative to the trunk's (a pelvis sensor tilts less).
    """
    rng = np.random.default_rng(seed)
    hi = 1000.0
    plan = []
    t = first_rest
    for _ in range(n_cycles):
        for direction in ("sit_to_stand", "stand_to_sit"):
            d = rng.uniform(*duration)
            plan.append((direction, t, t + d, rng.uniform(*flexion)))
            t += d + rng.uniform(*pause)
    total = t + 1.5
    tt = np.arange(0, total, 1 / hi)
    theta = np.zeros_like(tt)
    hip_z = np.full_like(tt, 0.45)
    hip_x = np.zeros_like(tt)
    for direction, s, e, peak in plan:
        d = e - s
        if direction == "sit_to_stand":
            flex = _mj((tt - s) / (0.45 * d)) * (1 - _mj((tt - (s + 0.45 * d)) / (0.55 * d)))
            up = _mj((tt - (s + 0.3 * d)) / (0.7 * d))
        else:  # the reverse path in time
            flex = _mj((tt - s) / (0.55 * d)) * (1 - _mj((tt - (s + 0.55 * d)) / (0.45 * d)))
            up = 1 - _mj((tt - s) / (0.7 * d))
        inside = (tt >= s) & (tt <= e)
        theta[inside] = np.radians(peak) * flex[inside]
        hip_z[inside] = 0.45 + rise * up[inside]
        hip_x[inside] = 0.12 * up[inside]
        after = tt > e
        hip_z[after] = 0.45 + (rise if direction == "sit_to_stand" else 0.0)
        hip_x[after] = 0.12 if direction == "sit_to_stand" else 0.0
    th = theta * tilt_gain
    px = hip_x + arm * np.sin(theta)
    pz = hip_z + arm * np.cos(theta)
    ax = np.gradient(np.gradient(px, 1 / hi), 1 / hi)
    az = np.gradient(np.gradient(pz, 1 / hi), 1 / hi) + 9.81
    w = np.gradient(th, 1 / hi)
    # specific force in the sensor frame (rotation about y by th: world = R sensor)
    sx = np.cos(th) * ax - np.sin(th) * az
    sz = np.sin(th) * ax + np.cos(th) * az
    step = round(hi / fs)
    sel = slice(0, None, step)
    n = tt[sel].shape[0]
    imu = np.vstack(
        [
            sx[sel] + rng.normal(0, noise, n),
            rng.normal(0, noise, n),
            sz[sel] + rng.normal(0, noise, n),
            rng.normal(0, 0.005, n),
            w[sel] + rng.normal(0, 0.005, n),
            rng.normal(0, 0.005, n),
        ]
    )
    truth = [Transition(d, s, e, p * tilt_gain) for d, s, e, p in plan]
    return imu, truth, np.degrees(th[sel])

"""IMU signals derived from the body model: specific force and body-frame angular rate.

For a sensor with orientation ``R(t)`` (sensor to world) at position ``p(t)``:

* gyroscope ``w = vee(R^T dR/dt)`` (rad/s, sensor frame), computed from the
  relative rotation ``R(t-h)^T R(t+h) = exp(2h [w]x) + O(h^3)``;
* accelerometer ``f = R^T (d2p/dt2 + g e_z)`` (m/s^2, sensor frame: +9.81 on the
  up axis at rest), with ``d2p/dt2`` the central second difference.

Both derivatives are taken of the same smooth trajectory the joint angles come
from, with ``h = 1 ms`` (truncation error ~1e-6 relative for movement below 15 Hz).
Sensor errors (white noise given as a noise density, and a constant per-axis bias)
follow the usual MEMS model (e.g. IEEE Std 952-1997, angle/velocity random walk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import SEGMENTS, Anthropometry, frames, joint_angles_deg, matrix_to_quat
from nmre.sim.scenario import Scenario

__all__ = ["GRAVITY", "ImuErrors", "ImuTruth", "derive_imu", "rotation_from_vector_deg"]

F64 = NDArray[np.float64]

#: Standard gravity, m/s^2.
GRAVITY = 9.81


@dataclass(frozen=True, slots=True)
class ImuErrors:
    """Sensor error model.

    Parameters
    ----------
    acc_noise_density : float
        Accelerometer white noise, m/s^2/sqrt(Hz) (per-sample std = density * sqrt(rate / 2)).
    gyr_noise_density : float
        Gyroscope white noise, rad/s/sqrt(Hz).
    gyr_bias_dps : (float, float)
        Range of the magnitude of the constant gyroscope bias per axis, deg/s (random sign).
    acc_bias : (float, float)
        Range of the magnitude of the constant accelerometer bias per axis, m/s^2 (random sign).
    """

    acc_noise_density: float = 2.0e-3
    gyr_noise_density: float = 2.0e-4
    gyr_bias_dps: tuple[float, float] = (0.5, 2.0)
    acc_bias: tuple[float, float] = (0.02, 0.08)


@dataclass(frozen=True, slots=True)
class ImuTruth:
    """Error-free IMU signals and the kinematics they came from, sampled at ``times`` (n,).

    ``acc``/``gyr``: sensor id → (3, n) specific force (m/s^2) / angular rate (rad/s) in the
    sensor frame; ``quat``: sensor id → (4, n) sensor-to-world quaternion (w, x, y, z);
    ``position``/``lin_acc``: sensor id → (3, n) world position (m) and linear acceleration
    (m/s^2); ``angles``: joint angle name → (n,) degrees.
    """

    acc: dict[str, F64]
    gyr: dict[str, F64]
    quat: dict[str, F64]
    position: dict[str, F64]
    lin_acc: dict[str, F64]
    angles: dict[str, F64]


def rotation_from_vector_deg(v: tuple[float, float, float]) -> F64:
    """Rotation matrix (3, 3) for a rotation vector given in degrees (Rodrigues' formula)."""
    r = np.radians(np.asarray(v, dtype=np.float64))
    th = float(np.linalg.norm(r))
    if th == 0.0:
        return np.eye(3)
    k = r / th
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(th) * kx + (1.0 - np.cos(th)) * (kx @ kx)


def _vee_log(m: F64) -> F64:
    """Rotation vectors (n, 3) of near-identity rotations ``m`` (n, 3, 3)."""
    v = 0.5 * np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1)
    s = np.linalg.norm(v, axis=1)
    gain = np.ones_like(s)
    nz = s > 0
    gain[nz] = np.arcsin(np.minimum(s[nz], 1.0)) / s[nz]
    return v * gain[:, None]


def derive_imu(
    scenario: Scenario,
    times: F64,
    mounting: dict[str, F64] | None = None,
    body: Anthropometry | None = None,
    h: float = 1e-3,
    chunk: int = 20_000,
) -> ImuTruth:
    """Error-free IMU signals of every segment sensor at ``times``.

    Parameters
    ----------
    scenario : Scenario
        The movement.
    times : ndarray, shape (n,)
        Sample times, s.
    mounting : dict of str to ndarray (3, 3), optional
        Sensor id → fixed rotation from the sensor frame to the segment frame
        (``R_sensor = R_segment @ mounting``); identity when absent.
    body : Anthropometry, optional
        Segment lengths and sensor offsets.
    h : float
        Differentiation step, s.
    chunk : int
        Samples evaluated at once (bounds memory for long sessions).

    Returns
    -------
    ImuTruth
    """
    n = times.shape[0]
    mount = {s: (mounting or {}).get(s, np.eye(3)) for s in SEGMENTS}
    acc = {s: np.empty((3, n)) for s in SEGMENTS}
    gyr = {s: np.empty((3, n)) for s in SEGMENTS}
    quat = {s: np.empty((4, n)) for s in SEGMENTS}
    pos = {s: np.empty((3, n)) for s in SEGMENTS}
    lin = {s: np.empty((3, n)) for s in SEGMENTS}
    angles: dict[str, F64] = {}
    up = np.array([0.0, 0.0, GRAVITY])
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        t = times[a:b]
        p0 = scenario.pose(t)
        f0 = frames(p0, body)
        fm = frames(scenario.pose(t - h), body)
        fp = frames(scenario.pose(t + h), body)
        for name, v in joint_angles_deg(f0).items():
            angles.setdefault(name, np.empty(n))[a:b] = v
        # the model's own knee angles (the decomposition above reproduces them to rounding)
        angles["knee_flexion"][a:b] = np.degrees(p0.knee_flexion)
        angles["knee_valgus"][a:b] = np.degrees(p0.knee_valgus)
        for s in SEGMENTS:
            r_sensor = f0.rotation[s] @ mount[s]
            w_seg = _vee_log(np.swapaxes(fm.rotation[s], 1, 2) @ fp.rotation[s]) / (2.0 * h)
            gyr[s][:, a:b] = (w_seg @ mount[s]).T  # mount.T @ w, row-wise
            lin_acc = (fp.position[s] - 2.0 * f0.position[s] + fm.position[s]) / (h * h)
            acc[s][:, a:b] = np.einsum("nji,nj->in", r_sensor, lin_acc + up)
            quat[s][:, a:b] = matrix_to_quat(r_sensor)
            pos[s][:, a:b] = f0.position[s].T
            lin[s][:, a:b] = lin_acc.T
    return ImuTruth(acc, gyr, quat, pos, lin, angles)

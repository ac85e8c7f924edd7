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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import SENSOR_SEGMENTS, Anthropometry, Pose, frames, joint_angles_deg, matrix_to_quat

__all__ = ["GRAVITY", "BodyState", "ImuErrors", "body_state", "rotation_from_vector_deg", "vee_log"]

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
class BodyState:
    """Error-free kinematics of every sensor segment at ``times`` (n,).

    ``rotation``: segment → (n, 3, 3) segment to world; ``position``/``lin_acc``: sensor
    → (3, n) world position (m) and linear acceleration (m/s^2); ``force``/``gyro``: sensor
    → (3, n) specific force (m/s^2) and angular rate (rad/s) in the *segment* frame (a
    sensor strapped with mounting ``M`` reads ``M.T @ force``); ``joints``: joint → (3, n)
    world position; ``angles``: name → (n,) degrees (:func:`nmre.sim.body.joint_angles_deg`).
    """

    times: F64
    rotation: dict[str, F64]
    position: dict[str, F64]
    lin_acc: dict[str, F64]
    force: dict[str, F64]
    gyro: dict[str, F64]
    joints: dict[str, F64]
    angles: dict[str, F64]

    def quat(self, segment: str, mounting: F64 | None = None) -> F64:
        """Sensor-to-world quaternion (4, n) of a sensor on ``segment`` strapped with ``mounting``."""
        r = self.rotation[segment]
        return matrix_to_quat(r if mounting is None else r @ mounting)


def rotation_from_vector_deg(v: tuple[float, float, float]) -> F64:
    """Rotation matrix (3, 3) for a rotation vector given in degrees (Rodrigues' formula)."""
    r = np.radians(np.asarray(v, dtype=np.float64))
    th = float(np.linalg.norm(r))
    if th == 0.0:
        return np.eye(3)
    k = r / th
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(th) * kx + (1.0 - np.cos(th)) * (kx @ kx)


def vee_log(m: F64) -> F64:
    """Rotation vectors (n, 3) of near-identity rotations ``m`` (n, 3, 3)."""
    v = 0.5 * np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1)
    s = np.linalg.norm(v, axis=1)
    gain = np.ones_like(s)
    nz = s > 0
    gain[nz] = np.arcsin(np.minimum(s[nz], 1.0)) / s[nz]
    return v * gain[:, None]


def body_state(
    pose_fn: Callable[[F64], Pose],
    times: F64,
    body: Anthropometry | None = None,
    segments: Sequence[str] = SENSOR_SEGMENTS,
    h: float = 1e-3,
) -> BodyState:
    """Error-free kinematics of the sensors on ``segments`` at ``times`` (s, shape (n,)).

    ``pose_fn(t)`` gives the :class:`~nmre.sim.body.Pose` at times ``t``; it is
    evaluated at ``t`` and ``t ± h`` for the derivatives.
    """
    p0 = pose_fn(times)
    f0 = frames(p0, body)
    fm = frames(pose_fn(times - h), body)
    fp = frames(pose_fn(times + h), body)
    up = np.array([0.0, 0.0, GRAVITY])
    pos, lin, force, gyro = {}, {}, {}, {}
    for s in segments:
        r = f0.rotation[s]
        gyro[s] = vee_log(np.swapaxes(fm.rotation[s], 1, 2) @ fp.rotation[s]).T / (2.0 * h)
        acc = (fp.position[s] - 2.0 * f0.position[s] + fm.position[s]) / (h * h)
        force[s] = np.einsum("nji,nj->in", r, acc + up)
        pos[s] = f0.position[s].T
        lin[s] = acc.T
    return BodyState(
        times=times,
        rotation=f0.rotation,
        position=pos,
        lin_acc=lin,
        force=force,
        gyro=gyro,
        joints={k: v.T for k, v in f0.joints.items()},
        angles=joint_angles_deg(f0, p0.clavicle_elevation),
    )

"""Unit quaternions for orientation: scalar kernels and small array helpers.

Convention
----------
Quaternions are Hamilton quaternions stored ``(w, x, y, z)`` (scalar first),
as in ``ahrs`` and ``imufusion``. An orientation quaternion ``q`` maps vectors
from a local frame (sensor or segment) into the world frame: ``v_world = q ⊗ v
⊗ q*``. Composition ``q_a ⊗ q_b`` applies ``q_b`` first, in the frame of
``q_a``. Arrays of quaternions are ``(4, n)`` float64, like every nmre block.

The scalar ``_q*`` functions are numba kernels used inside other kernels; the
public functions work on ``(4, n)`` arrays and are for setup, calibration and
tests (they allocate their result).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre._numba import kernel
from nmre.errors import InputError, expected

__all__ = [
    "cardan_yxz",
    "quat_conjugate",
    "quat_from_axis_angle",
    "quat_from_matrix",
    "quat_multiply",
    "quat_rotate",
    "quat_to_matrix",
]

F64 = NDArray[np.float64]


@kernel
def _qmul(
    aw: float, ax: float, ay: float, az: float, bw: float, bx: float, by: float, bz: float
) -> tuple[float, float, float, float]:
    """Hamilton product ``a ⊗ b``."""
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


@kernel
def _qnormalize(w: float, x: float, y: float, z: float) -> tuple[float, float, float, float]:
    n = math.sqrt(w * w + x * x + y * y + z * z)
    return w / n, x / n, y / n, z / n


@kernel
def _qrotate(
    w: float, x: float, y: float, z: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float]:
    """Rotate vector ``v`` by unit quaternion ``q`` (``q ⊗ v ⊗ q*``), via the rotation matrix."""
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r01 = 2.0 * (x * y - w * z)
    r02 = 2.0 * (x * z + w * y)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    r12 = 2.0 * (y * z - w * x)
    r20 = 2.0 * (x * z - w * y)
    r21 = 2.0 * (y * z + w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    return (
        r00 * vx + r01 * vy + r02 * vz,
        r10 * vx + r11 * vy + r12 * vz,
        r20 * vx + r21 * vy + r22 * vz,
    )


@kernel
def _cardan_yxz(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    """Intrinsic Cardan angles (radians) of ``R = Ry(a) · Rx(b) · Rz(c)`` for unit ``q``.

    ``a`` about y, then ``b`` about the once-rotated x (the floating axis),
    then ``c`` about the twice-rotated z. ``b`` is in [-pi/2, pi/2].
    """
    r02 = 2.0 * (x * z + w * y)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    r12 = 2.0 * (y * z - w * x)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    s = -r12
    if s > 1.0:
        s = 1.0
    elif s < -1.0:
        s = -1.0
    return math.atan2(r02, r22), math.asin(s), math.atan2(r10, r11)


def _as_quats(q: ArrayLike, name: str) -> F64:
    a = np.asarray(q, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != 4:
        raise InputError(f"{name}: " + expected("quaternions of shape (4,) or (4, n)", np.shape(q)))
    return a


def quat_multiply(a: ArrayLike, b: ArrayLike) -> F64:
    """Hamilton product ``a ⊗ b`` of quaternions.

    Parameters
    ----------
    a, b : array_like, shape (4,) or (4, n)
        Quaternions ``(w, x, y, z)``; broadcast over samples.

    Returns
    -------
    ndarray, shape (4, n)
    """
    p, q = _as_quats(a, "a"), _as_quats(b, "b")
    aw, ax, ay, az = p
    bw, bx, by, bz = q
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_conjugate(q: ArrayLike) -> F64:
    """Conjugate (the inverse of a unit quaternion), shape (4, n)."""
    a = _as_quats(q, "q").copy()
    a[1:] *= -1.0
    return a


def quat_rotate(q: ArrayLike, v: ArrayLike) -> F64:
    """Rotate vectors ``v`` (shape (3,) or (3, n)) by unit quaternions ``q``; returns (3, n)."""
    r = quat_to_matrix(q)  # (n, 3, 3)
    vv = np.asarray(v, dtype=np.float64)
    if vv.ndim == 1:
        vv = vv[:, None]
    if vv.ndim != 2 or vv.shape[0] != 3:
        raise InputError("v: " + expected("vectors of shape (3,) or (3, n)", np.shape(v)))
    return np.einsum("nij,jn->in", r, np.broadcast_to(vv, (3, max(r.shape[0], vv.shape[1]))))


def quat_to_matrix(q: ArrayLike) -> F64:
    """Rotation matrices of unit quaternions, shape (n, 3, 3) (local to world)."""
    w, x, y, z = _as_quats(q, "q")
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def quat_from_matrix(m: ArrayLike) -> F64:
    """Unit quaternion ``(w, x, y, z)`` with ``w >= 0`` of one rotation matrix (3, 3); returns (4,).

    Uses the numerically stable branch selection of Shepperd (1978),
    J. Guidance Control 1(3):223-224.
    """
    r = np.asarray(m, dtype=np.float64)
    if r.shape != (3, 3):
        raise InputError("m: " + expected("a rotation matrix of shape (3, 3)", r.shape))
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    cands = np.array([tr, r[0, 0], r[1, 1], r[2, 2]])
    k = int(np.argmax(cands))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        q = np.array([s / 4, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s])
    elif k == 1:
        s = 2.0 * math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = np.array([(r[2, 1] - r[1, 2]) / s, s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s])
    elif k == 2:
        s = 2.0 * math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = np.array([(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s])
    else:
        s = 2.0 * math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = np.array([(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4])
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def quat_from_axis_angle(axis: ArrayLike, angle: ArrayLike) -> F64:
    """Quaternions for rotations by ``angle`` (radians, scalar or (n,)) about ``axis`` (3,); returns (4, n)."""
    ax = np.asarray(axis, dtype=np.float64)
    if ax.shape != (3,) or not np.all(np.isfinite(ax)) or np.linalg.norm(ax) == 0:
        raise InputError("axis: " + expected("a finite non-zero 3-vector", axis))
    ax = ax / np.linalg.norm(ax)
    th = np.atleast_1d(np.asarray(angle, dtype=np.float64))
    s = np.sin(th / 2)
    return np.array([np.cos(th / 2), ax[0] * s, ax[1] * s, ax[2] * s])


def cardan_yxz(q: ArrayLike) -> F64:
    """Intrinsic Cardan angles Y-X'-Z'' (radians) of unit quaternions, shape (3, n).

    Rows are the angles about y, then about the floating x', then about z'',
    such that ``R = Ry(a) @ Rx(b) @ Rz(c)`` (scipy ``as_euler('YXZ')``).
    """
    w, x, y, z = _as_quats(q, "q")
    r02 = 2.0 * (x * z + w * y)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    r12 = 2.0 * (y * z - w * x)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    return np.array([np.arctan2(r02, r22), np.arcsin(np.clip(-r12, -1.0, 1.0)), np.arctan2(r10, r11)])

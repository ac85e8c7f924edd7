"""The kinematic body model: a four-segment chain standing on the right foot.

Frames follow :mod:`nmre.core.model`: world x forward, y left, z up; in the
neutral standing pose every segment frame coincides with the world frame
(x anterior, y left, z superior).

The chain starts at the right ankle, which is fixed to the ground (the foot is
flat), and runs shank → thigh → pelvis, with the trunk (sternum sensor) above the
pelvis. A :class:`Pose` gives the angles of this chain over time; :func:`frames`
turns it into segment orientations (rotation matrices, segment to world) and
sensor positions. Everything is vectorised over time.

Joint angles (used for ground truth and for tests)
---------------------------------------------------
The orientation of a distal segment relative to its proximal one,
``R_rel = R_prox.T @ R_dist``, is decomposed as the Cardan sequence
``R_rel = R_y(a) @ R_x(b) @ R_z(c)`` (flexion axis first, as in the joint
coordinate system of Grood & Suntay, J Biomech Eng 105:136, 1983). Then:

* knee flexion = ``a`` of shank relative to thigh (positive = flexion);
* knee valgus (right leg) = ``-b`` of shank relative to thigh: positive when the
  knee moves medially (to the left for the right leg), i.e. the shank tilts
  towards +y relative to the thigh;
* hip flexion = ``-a`` of thigh relative to pelvis (positive when the knee moves
  forward relative to the pelvis);
* trunk lean = forward inclination of the trunk's superior axis from world
  vertical in the sagittal plane, ``atan2(z_x, z_z)`` of the trunk z axis;
  trunk tilt = its inclination from vertical in any direction, ``acos(z_z)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SEGMENTS",
    "Anthropometry",
    "Pose",
    "SegmentFrames",
    "cardan_yxz",
    "frames",
    "joint_angles_deg",
    "matrix_to_quat",
    "rot_x",
    "rot_y",
]

F64 = NDArray[np.float64]

#: Instrumented segments, in stream order.
SEGMENTS: tuple[str, ...] = ("pelvis", "trunk", "thigh.r", "shank.r")


@dataclass(frozen=True, slots=True)
class Anthropometry:
    """Segment lengths and sensor offsets of the simulated subject (metres).

    Offsets are in the frame of the segment the sensor sits on.
    """

    shank_length: float = 0.43
    thigh_length: float = 0.45
    #: from the right hip joint centre to the pelvis centre (mid-hips)
    hip_to_pelvis: tuple[float, float, float] = (0.0, 0.09, 0.0)
    #: pelvis sensor on the sacrum, from the pelvis centre
    pelvis_sensor: tuple[float, float, float] = (-0.10, 0.0, 0.06)
    #: lumbosacral joint, from the pelvis centre
    pelvis_to_l5: tuple[float, float, float] = (-0.02, 0.0, 0.10)
    #: sternum sensor, from L5 in the trunk frame
    trunk_sensor: tuple[float, float, float] = (0.12, 0.0, 0.33)
    #: thigh sensor on the lateral mid-thigh, from the hip joint centre
    thigh_sensor: tuple[float, float, float] = (0.0, -0.08, -0.22)
    #: shank sensor on the antero-medial tibia, from the ankle
    shank_sensor: tuple[float, float, float] = (0.04, 0.0, 0.25)


@dataclass(frozen=True, slots=True)
class Pose:
    """Angles of the chain over time, radians, each shape ``(n,)``.

    ``ankle_pitch``/``ankle_roll`` tilt the shank in the world about y (forward
    tilt positive = dorsiflexion) and x (positive tilts the superior axis to the
    right). ``knee_flexion``/``knee_valgus`` are the true knee angles (see the
    module docstring). Pelvis and trunk pitch/roll are their tilts in the world.
    ``jolt`` (3, n) is a small common translation (m) of the body above the ankle
    (the shock of a foot touchdown), weighted per segment.
    """

    ankle_pitch: F64
    ankle_roll: F64
    knee_flexion: F64
    knee_valgus: F64
    pelvis_pitch: F64
    pelvis_roll: F64
    trunk_pitch: F64
    trunk_roll: F64
    jolt: F64


@dataclass(frozen=True, slots=True)
class SegmentFrames:
    """Segment orientations ``(n, 3, 3)`` (segment to world) and sensor positions ``(n, 3)`` (m)."""

    rotation: dict[str, F64]
    position: dict[str, F64]


def rot_x(a: F64) -> F64:
    """Rotation matrices about x by angles ``a`` (rad, shape (n,)) → ``(n, 3, 3)``."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: F64) -> F64:
    """Rotation matrices about y by angles ``a`` (rad, shape (n,)) → ``(n, 3, 3)``."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def cardan_yxz(r: F64) -> tuple[F64, F64, F64]:
    """Decompose ``r`` (n, 3, 3) as ``R_y(a) R_x(b) R_z(c)``; return ``(a, b, c)`` in radians."""
    a = np.arctan2(r[:, 0, 2], r[:, 2, 2])
    b = np.arcsin(np.clip(-r[:, 1, 2], -1.0, 1.0))
    c = np.arctan2(r[:, 1, 0], r[:, 1, 1])
    return a, b, c


def matrix_to_quat(r: F64) -> F64:
    """Rotation matrices ``(n, 3, 3)`` → unit quaternions ``(4, n)`` (w, x, y, z), w >= 0.

    Shepperd's method (J Guid Control 1(3):223, 1978): each of four candidate
    vectors is proportional to the quaternion; use the one whose dominant
    component is largest.
    """
    n = r.shape[0]
    r00, r01, r02 = r[:, 0, 0], r[:, 0, 1], r[:, 0, 2]
    r10, r11, r12 = r[:, 1, 0], r[:, 1, 1], r[:, 1, 2]
    r20, r21, r22 = r[:, 2, 0], r[:, 2, 1], r[:, 2, 2]
    cand = np.array(
        [
            [1 + r00 + r11 + r22, r21 - r12, r02 - r20, r10 - r01],
            [r21 - r12, 1 + r00 - r11 - r22, r01 + r10, r02 + r20],
            [r02 - r20, r01 + r10, 1 - r00 + r11 - r22, r12 + r21],
            [r10 - r01, r02 + r20, r12 + r21, 1 - r00 - r11 + r22],
        ]
    )  # (candidate, component, n)
    k = np.argmax(np.stack([cand[i, i] for i in range(4)]), axis=0)
    q = cand[k, :, np.arange(n)].T
    q /= np.linalg.norm(q, axis=0)
    q *= np.where(q[0] < 0, -1.0, 1.0)
    return q


#: How much of the touchdown jolt each sensor feels (the foot is on the ground).
_JOLT_WEIGHT = {"shank.r": 0.5, "thigh.r": 0.8, "pelvis": 1.0, "trunk": 1.0}


def frames(pose: Pose, body: Anthropometry | None = None) -> SegmentFrames:
    """Segment orientations and sensor positions for ``pose``.

    The thigh carries half of the valgus as an adduction of its own (so the hip
    stays over the foot while the knee moves medially); the shank is then placed
    so that the shank-relative-to-thigh rotation is exactly
    ``R_y(knee_flexion) @ R_x(-knee_valgus)``.

    Parameters
    ----------
    pose : Pose
        Chain angles, each of shape (n,), radians.
    body : Anthropometry, optional
        Segment lengths and sensor offsets.

    Returns
    -------
    SegmentFrames
        ``rotation[seg]`` (n, 3, 3) segment to world; ``position[seg]`` (n, 3) sensor position, m,
        world frame, origin at the right ankle.
    """
    b = body or Anthropometry()
    r_ankle = rot_x(pose.ankle_roll)
    r_thigh = r_ankle @ rot_y(pose.ankle_pitch - pose.knee_flexion) @ rot_x(0.5 * pose.knee_valgus)
    r_shank = r_thigh @ rot_y(pose.knee_flexion) @ rot_x(-pose.knee_valgus)
    r_pelvis = rot_x(pose.pelvis_roll) @ rot_y(pose.pelvis_pitch)
    r_trunk = rot_x(pose.trunk_roll) @ rot_y(pose.trunk_pitch)

    def along(r: F64, v: tuple[float, float, float]) -> F64:
        return r @ np.asarray(v, dtype=np.float64)

    knee = along(r_shank, (0.0, 0.0, b.shank_length))
    hip = knee + along(r_thigh, (0.0, 0.0, b.thigh_length))
    pelvis_centre = hip + along(r_pelvis, b.hip_to_pelvis)
    l5 = pelvis_centre + along(r_pelvis, b.pelvis_to_l5)
    jolt = pose.jolt.T
    rotation = {"pelvis": r_pelvis, "trunk": r_trunk, "thigh.r": r_thigh, "shank.r": r_shank}
    position = {
        "pelvis": pelvis_centre + along(r_pelvis, b.pelvis_sensor),
        "trunk": l5 + along(r_trunk, b.trunk_sensor),
        "thigh.r": hip + along(r_thigh, b.thigh_sensor),
        "shank.r": along(r_shank, b.shank_sensor),
    }
    for seg, w in _JOLT_WEIGHT.items():
        position[seg] = position[seg] + w * jolt
    return SegmentFrames(rotation, position)


def joint_angles_deg(fr: SegmentFrames) -> dict[str, F64]:
    """True joint angles (degrees, shape (n,)) from segment orientations; see the module docstring."""
    knee_a, knee_b, _ = cardan_yxz(np.swapaxes(fr.rotation["thigh.r"], 1, 2) @ fr.rotation["shank.r"])
    hip_a, _, _ = cardan_yxz(np.swapaxes(fr.rotation["pelvis"], 1, 2) @ fr.rotation["thigh.r"])
    rt = fr.rotation["trunk"]
    lean = np.arctan2(rt[:, 0, 2], rt[:, 2, 2])
    rs = fr.rotation["shank.r"]
    return {
        "knee_flexion": np.degrees(knee_a),
        "knee_valgus": -np.degrees(knee_b),
        "hip_flexion": -np.degrees(hip_a),
        "trunk_lean": np.degrees(lean),
        "trunk_tilt": np.degrees(np.arccos(np.clip(rt[:, 2, 2], -1.0, 1.0))),
        "shank_tilt": np.degrees(np.arctan2(rs[:, 0, 2], rs[:, 2, 2])),
    }

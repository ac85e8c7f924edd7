"""The kinematic body model: pelvis, trunk, both legs, the right shoulder girdle and arm.

Frames follow :mod:`nmre.core.model`: world x forward, y left, z up; in the
neutral standing pose every segment frame coincides with the world frame
(x anterior, y left, z superior).

A :class:`Pose` gives every segment's orientation in the world over time and the
position of one **root** joint (the stance ankle, or the pelvis for a seated or
free body); :func:`frames` walks the segment tree from the root and returns
every joint and sensor position. A leg whose foot must stay on the ground while
the root is elsewhere is placed by :func:`leg_ik` (two-link inverse
kinematics), so feet never slide. Everything is vectorised over time.

Segments and joints::

    pelvis ── L5 ── trunk ── SC ── clavicle.r ── GH ── upper_arm.r ── elbow ── forearm.r
       │                           └ scapula.r (on the clavicle, rotated upward about AP)
       ├─ hip.r ── thigh.r ── knee.r ── shank.r ── ankle.r ── foot.r
       └─ hip.l ── thigh.l ── knee.l ── shank.l ── ankle.l ── foot.l

Joint angles (ground truth and tests)
-------------------------------------
The orientation of a distal segment relative to its proximal one,
``R_rel = R_prox.T @ R_dist``, is decomposed as the Cardan sequence
``R_rel = R_y(a) @ R_x(b) @ R_z(c)`` (flexion axis first, as in the joint
coordinate system of Grood & Suntay, J Biomech Eng 105:136, 1983). Then:

* knee flexion = ``a`` of shank relative to thigh (positive = flexion);
* knee valgus = ``-b`` (right) / ``+b`` (left) of shank relative to thigh: positive
  when the knee moves medially;
* hip flexion = ``-a`` of thigh relative to pelvis (knee forward);
  hip abduction = ``-b`` (right) / ``+b`` (left) (knee away from the midline);
* trunk lean = forward inclination of the trunk's superior axis from world
  vertical in the sagittal plane, ``atan2(z_x, z_z)``; trunk lateral lean its
  inclination to the left, ``atan2(z_y, z_z)``; trunk tilt ``acos(z_z)``;
* pelvic obliquity = ``asin`` of the z component of the pelvis' left axis
  (positive: left side up);
* shoulder elevation = the angle between the humerus' long axis and the trunk's
  long axis (0 with the arm hanging), plane of elevation its azimuth in the
  trunk's horizontal plane (0 = forward flexion, 90 = abduction, about 30-40 =
  the scapular plane);
* clavicular elevation = rotation of the clavicle relative to the trunk about
  the trunk's AP axis (the shoulder girdle's shrug); scapular upward rotation =
  the scapula's rotation relative to the trunk about the same axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SEGMENTS",
    "SENSOR_SEGMENTS",
    "Anthropometry",
    "Pose",
    "SegmentFrames",
    "cardan_yxz",
    "frames",
    "joint_angles_deg",
    "leg_ik",
    "matrix_to_quat",
    "rot_x",
    "rot_y",
    "rot_z",
]

F64 = NDArray[np.float64]

#: Segments that carry a sensor, in stream order (midline, right leg, left leg, right arm).
SENSOR_SEGMENTS: tuple[str, ...] = (
    "pelvis",
    "trunk",
    "thigh.r",
    "shank.r",
    "foot.r",
    "thigh.l",
    "shank.l",
    "foot.l",
    "upper_arm.r",
    "forearm.r",
    "scapula.r",
)
#: Every segment of the model (the clavicle carries no sensor).
SEGMENTS: tuple[str, ...] = (*SENSOR_SEGMENTS, "clavicle.r")


def _v(*x: float) -> tuple[float, float, float]:
    return (float(x[0]), float(x[1]), float(x[2]))


@dataclass(frozen=True, slots=True)
class Anthropometry:
    """Segment lengths and offsets of the simulated subject, metres.

    Lengths default to a 1.75 m adult; :meth:`scaled` gives another height with the
    segment proportions of Winter (Biomechanics and Motor Control of Human
    Movement, 4th ed. 2009, Fig. 4.1: thigh 0.245 H, shank 0.246 H, upper arm
    0.186 H, forearm 0.146 H). Offsets are in the frame of the segment they belong
    to, from its proximal joint; right-side values, mirrored in y for the left.
    """

    height: float = 1.75
    thigh_length: float = 0.43
    shank_length: float = 0.43
    upper_arm_length: float = 0.325
    forearm_length: float = 0.255
    #: hip joint centre from the pelvis centre (right side; y mirrored on the left)
    hip: tuple[float, float, float] = (0.0, -0.09, 0.0)
    #: pelvis sensor on the sacrum, from the pelvis centre
    pelvis_sensor: tuple[float, float, float] = (-0.10, 0.0, 0.06)
    #: lumbosacral joint from the pelvis centre
    l5: tuple[float, float, float] = (-0.02, 0.0, 0.10)
    #: sternum sensor from L5, trunk frame
    trunk_sensor: tuple[float, float, float] = (0.12, 0.0, 0.33)
    #: sternoclavicular joint from L5, trunk frame (right)
    sc_joint: tuple[float, float, float] = (0.10, -0.02, 0.42)
    #: glenohumeral centre from the SC joint, clavicle frame (right)
    clavicle: tuple[float, float, float] = (-0.04, -0.16, 0.0)
    #: scapula sensor (on the spine of the scapula) from the GH centre, scapula frame (right)
    scapula_sensor: tuple[float, float, float] = (-0.07, 0.05, 0.03)
    #: thigh sensor on the lateral mid-thigh, from the hip (right)
    thigh_sensor: tuple[float, float, float] = (0.0, -0.08, -0.22)
    #: shank sensor on the antero-medial tibia, from the knee (right)
    shank_sensor: tuple[float, float, float] = (0.04, 0.0, -0.18)
    #: foot sensor on the dorsum (midfoot), from the ankle (right)
    foot_sensor: tuple[float, float, float] = (0.07, 0.0, -0.04)
    #: upper-arm sensor on the lateral humerus, from the GH centre (right)
    upper_arm_sensor: tuple[float, float, float] = (0.0, -0.045, -0.15)
    #: forearm sensor on the dorsal distal forearm, from the elbow (right)
    forearm_sensor: tuple[float, float, float] = (-0.02, 0.0, -0.19)

    @classmethod
    def scaled(cls, height: float) -> Anthropometry:
        """The default body scaled to ``height`` metres (lengths and offsets in proportion)."""
        k = height / 1.75
        base = cls()
        values = {}
        for name in cls.__slots__:  # type: ignore[attr-defined]
            v = getattr(base, name)
            values[name] = tuple(k * x for x in v) if isinstance(v, tuple) else k * v
        values["height"] = height
        return cls(**values)

    def mirrored(self, offset: tuple[float, float, float], side: str) -> F64:
        """A right-side offset for ``side`` ("r" or "l"): y negated on the left."""
        x, y, z = offset
        return np.array([x, -y if side == "l" else y, z])


@dataclass(frozen=True, slots=True)
class Pose:
    """Orientations of every segment over time and the position of the root joint.

    Parameters
    ----------
    rotation : dict of str to ndarray (n, 3, 3)
        Segment → orientation (segment to world) for every name in :data:`SEGMENTS`.
    root : str or ndarray (n,) of str
        The joint held at ``root_position``: ``"ankle.r"``, ``"ankle.l"`` or ``"pelvis"``; per
        sample when the support changes (a lunge's step, then both feet).
    root_position : ndarray (3,) or (n, 3)
        World position of the root joint, m.
    jolt : ndarray (3, n) or None
        A small common translation (m) of the body above the feet (a touchdown shock).
    clavicle_elevation : ndarray (n,) or None
        The shoulder girdle's elevation, rad (for truth; the rotation is in ``rotation``).
    """

    rotation: dict[str, F64]
    root: str | NDArray[np.str_]
    root_position: F64
    jolt: F64 | None = None
    clavicle_elevation: F64 | None = None


@dataclass(frozen=True, slots=True)
class SegmentFrames:
    """Orientations ``(n, 3, 3)``, sensor positions and joint positions ``(n, 3)`` (m, world)."""

    rotation: dict[str, F64]
    position: dict[str, F64]
    joints: dict[str, F64] = field(default_factory=dict)


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


def rot_z(a: F64) -> F64:
    """Rotation matrices about z by angles ``a`` (rad, shape (n,)) → ``(n, 3, 3)``."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


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


def _along(r: F64, v: F64) -> F64:
    """``r @ v`` for every time: ``(n, 3, 3) @ (3,) -> (n, 3)``."""
    return np.einsum("nij,j->ni", r, v)


def leg_ik(hip: F64, ankle: F64, thigh: float, shank: float) -> tuple[F64, F64, F64]:
    """Thigh and shank orientations that put the ankle of a leg hanging from ``hip`` at ``ankle``.

    The leg lies in the plane through hip and ankle that contains the world's
    forward axis, tilted about it by the frontal angle of the hip-ankle line;
    the knee bends forward. Two-link inverse kinematics with the law of cosines.

    Parameters
    ----------
    hip : ndarray (n, 3)
        Hip joint centres, m.
    ankle : ndarray (3,) or (n, 3)
        Where the ankle must be, m.
    thigh, shank : float
        Segment lengths, m.

    Returns
    -------
    (R_thigh, R_shank, knee_flexion)
        Orientations (n, 3, 3) and the knee flexion (n,), rad.
    """
    d = np.broadcast_to(ankle, hip.shape) - hip  # hip -> ankle
    phi = np.arctan2(d[:, 1], -d[:, 2])  # frontal tilt of the leg plane (about x)
    dz = -np.hypot(d[:, 1], d[:, 2])  # in the tilted plane
    dist = np.clip(np.hypot(d[:, 0], dz), 1e-6, (thigh + shank) * (1.0 - 1e-12))
    alpha = np.arctan2(d[:, 0], -dz)  # forward angle of hip -> ankle from the leg's vertical
    cos_knee = (thigh**2 + shank**2 - dist**2) / (2.0 * thigh * shank)
    knee = np.pi - np.arccos(np.clip(cos_knee, -1.0, 1.0))
    cos_beta = (thigh**2 + dist**2 - shank**2) / (2.0 * thigh * dist)
    beta = np.arccos(np.clip(cos_beta, -1.0, 1.0))
    r_plane = rot_x(phi)
    r_thigh = r_plane @ rot_y(-(alpha + beta))
    r_shank = r_thigh @ rot_y(knee)
    return r_thigh, r_shank, knee


def frames(pose: Pose, body: Anthropometry | None = None) -> SegmentFrames:
    """Joint and sensor positions for ``pose``, walking the segment tree from its root.

    Parameters
    ----------
    pose : Pose
        Orientations (n, 3, 3) of every segment and the root.
    body : Anthropometry, optional
        Segment lengths and offsets.

    Returns
    -------
    SegmentFrames
        ``rotation[seg]`` segment to world; ``position[seg]`` the sensor on ``seg`` (n, 3), m,
        world frame; ``joints[name]`` (n, 3) for pelvis, l5, hip/knee/ankle.{r,l}, sc.r, gh.r,
        elbow.r, wrist.r.
    """
    b = body or Anthropometry()
    r = pose.rotation
    n = r["pelvis"].shape[0]
    down_t = np.array([0.0, 0.0, -b.thigh_length])
    down_s = np.array([0.0, 0.0, -b.shank_length])
    root = np.broadcast_to(np.asarray(pose.root_position, dtype=np.float64), (n, 3))
    roots = [pose.root] if isinstance(pose.root, str) else sorted(set(np.asarray(pose.root).tolist()))
    pelvis = np.empty((n, 3))
    for name in roots:
        sel = slice(None) if isinstance(pose.root, str) else np.asarray(pose.root) == name
        if name == "pelvis":
            pelvis[sel] = root[sel]
        elif name in ("ankle.r", "ankle.l"):
            s = name[-1]
            knee = root[sel] - _along(r[f"shank.{s}"][sel], down_s)
            hip = knee - _along(r[f"thigh.{s}"][sel], down_t)
            pelvis[sel] = hip - _along(r["pelvis"][sel], b.mirrored(b.hip, s))
        else:
            raise ValueError(f"frames: expected root 'ankle.r', 'ankle.l' or 'pelvis', got {name!r}")
    if pose.jolt is not None:
        pelvis = pelvis + pose.jolt.T
    j: dict[str, F64] = {"pelvis": pelvis}
    for s in ("r", "l"):
        j[f"hip.{s}"] = pelvis + _along(r["pelvis"], b.mirrored(b.hip, s))
        j[f"knee.{s}"] = j[f"hip.{s}"] + _along(r[f"thigh.{s}"], down_t)
        j[f"ankle.{s}"] = j[f"knee.{s}"] + _along(r[f"shank.{s}"], down_s)
    j["l5"] = pelvis + _along(r["pelvis"], np.asarray(b.l5))
    j["sc.r"] = j["l5"] + _along(r["trunk"], np.asarray(b.sc_joint))
    j["gh.r"] = j["sc.r"] + _along(r["clavicle.r"], np.asarray(b.clavicle))
    j["elbow.r"] = j["gh.r"] + _along(r["upper_arm.r"], np.array([0.0, 0.0, -b.upper_arm_length]))
    j["wrist.r"] = j["elbow.r"] + _along(r["forearm.r"], np.array([0.0, 0.0, -b.forearm_length]))
    pos = {
        "pelvis": pelvis + _along(r["pelvis"], np.asarray(b.pelvis_sensor)),
        "trunk": j["l5"] + _along(r["trunk"], np.asarray(b.trunk_sensor)),
        "upper_arm.r": j["gh.r"] + _along(r["upper_arm.r"], np.asarray(b.upper_arm_sensor)),
        "forearm.r": j["elbow.r"] + _along(r["forearm.r"], np.asarray(b.forearm_sensor)),
        "scapula.r": j["gh.r"] + _along(r["scapula.r"], np.asarray(b.scapula_sensor)),
    }
    for s in ("r", "l"):
        pos[f"thigh.{s}"] = j[f"hip.{s}"] + _along(r[f"thigh.{s}"], b.mirrored(b.thigh_sensor, s))
        pos[f"shank.{s}"] = j[f"knee.{s}"] + _along(r[f"shank.{s}"], b.mirrored(b.shank_sensor, s))
        pos[f"foot.{s}"] = j[f"ankle.{s}"] + _along(r[f"foot.{s}"], b.mirrored(b.foot_sensor, s))
    return SegmentFrames(dict(r), pos, j)


def _inclination(rz: F64) -> tuple[F64, F64, F64]:
    """Sagittal, frontal (to the left) and total inclination (rad) of a segment's z axis (n, 3)."""
    return (
        np.arctan2(rz[:, 0], rz[:, 2]),
        np.arctan2(rz[:, 1], rz[:, 2]),
        np.arccos(np.clip(rz[:, 2], -1.0, 1.0)),
    )


def joint_angles_deg(fr: SegmentFrames, clavicle_elevation: F64 | None = None) -> dict[str, F64]:
    """True joint and segment angles (degrees, shape (n,)) from segment orientations; see the module docstring.

    Keys: ``knee_flexion.{r,l}``, ``knee_valgus.{r,l}``, ``hip_flexion.{r,l}``,
    ``hip_abduction.{r,l}``, ``trunk_lean``, ``trunk_lateral_lean``, ``trunk_tilt``,
    ``pelvis_pitch``, ``pelvic_obliquity`` (left side up), ``shank_tilt.{r,l}``,
    ``shoulder_elevation``, ``shoulder_plane``, ``scapular_upward_rotation``,
    ``clavicular_elevation`` and, for the first consumers, unsuffixed ``knee_flexion``,
    ``knee_valgus``, ``hip_flexion`` and ``shank_tilt`` of the right leg.
    """
    r = fr.rotation
    out: dict[str, F64] = {}
    tr = np.swapaxes
    for s, sign in (("r", -1.0), ("l", 1.0)):
        ka, kb, _ = cardan_yxz(tr(r[f"thigh.{s}"], 1, 2) @ r[f"shank.{s}"])
        ha, hb, _ = cardan_yxz(tr(r["pelvis"], 1, 2) @ r[f"thigh.{s}"])
        out[f"knee_flexion.{s}"] = np.degrees(ka)
        out[f"knee_valgus.{s}"] = sign * np.degrees(kb)
        out[f"hip_flexion.{s}"] = -np.degrees(ha)
        out[f"hip_abduction.{s}"] = sign * np.degrees(hb)
        out[f"shank_tilt.{s}"] = np.degrees(_inclination(r[f"shank.{s}"][:, :, 2])[0])
    lean, lateral, tilt = _inclination(r["trunk"][:, :, 2])
    out["trunk_lean"] = np.degrees(lean)
    out["trunk_lateral_lean"] = np.degrees(lateral)
    out["trunk_tilt"] = np.degrees(tilt)
    out["pelvis_pitch"] = np.degrees(_inclination(r["pelvis"][:, :, 2])[0])
    out["pelvic_obliquity"] = np.degrees(np.arcsin(np.clip(r["pelvis"][:, 2, 1], -1.0, 1.0)))
    arm = tr(r["trunk"], 1, 2) @ r["upper_arm.r"]
    hum = -arm[:, :, 2]  # humerus long axis (shoulder -> elbow) in the trunk frame
    out["shoulder_elevation"] = np.degrees(np.arccos(np.clip(-hum[:, 2], -1.0, 1.0)))
    out["shoulder_plane"] = np.degrees(np.arctan2(-hum[:, 1], hum[:, 0]))
    scap = tr(r["trunk"], 1, 2) @ r["scapula.r"]
    # rotation about the trunk's AP axis of the scapula's left axis (right scapula: lateral end up > 0)
    out["scapular_upward_rotation"] = np.degrees(np.arctan2(-scap[:, 2, 1], scap[:, 1, 1]))
    if clavicle_elevation is not None:
        out["clavicular_elevation"] = np.degrees(clavicle_elevation)
    else:
        cl = tr(r["trunk"], 1, 2) @ r["clavicle.r"]
        out["clavicular_elevation"] = np.degrees(np.arctan2(-cl[:, 2, 1], cl[:, 1, 1]))
    for name in ("knee_flexion", "knee_valgus", "hip_flexion", "shank_tilt"):
        out[name] = out[f"{name}.r"]
    return out

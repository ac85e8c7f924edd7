"""The movement interface and what movements share: poses, severities, truth on a fixed grid.

A :class:`Movement` turns a configuration and a subject into smooth functions of
continuous time (so the IMU model can differentiate them anywhere and EMG can be
evaluated at its own rate, in any chunk):

* :meth:`Movement.pose` gives every segment's orientation and the root;
* :meth:`Movement.activation` gives a muscle's activation in [0, 1];
* :meth:`Movement.records` gives the ground truth, computed from the same
  functions on the truth grid (:data:`TRUTH_RATE`), never from sensor data.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.sim.body import SEGMENTS, Anthropometry, Pose, leg_ik, rot_x, rot_y
from nmre.sim.catalogue import ERRORS
from nmre.sim.config import MovementConfig
from nmre.sim.imu import BodyState, body_state
from nmre.sim.kit import Sensor
from nmre.sim.rng import child_rng
from nmre.sim.subject import Subject

__all__ = ["TRUTH_RATE", "Movement", "SwayMetrics", "sway_metrics"]

F64 = NDArray[np.float64]

#: Rate of the grid (k / TRUTH_RATE s) the true kinematic quantities are evaluated on, Hz.
TRUTH_RATE = 100.0
#: Rate of the grid true EMG amplitudes are averaged on, Hz.
AMPLITUDE_RATE = 1000.0
_CHUNK = 10_000  # samples of body state evaluated at once
#: 95 % quantile of chi-square with 2 degrees of freedom (prediction ellipse area factor).
CHI2_95 = -2.0 * math.log(0.05)


def eye(n: int) -> F64:
    """``n`` identity rotations (n, 3, 3)."""
    return np.broadcast_to(np.eye(3), (n, 3, 3)).copy()


class Movement(ABC):
    """Smooth trajectories and ground truth of one simulated session.

    Subclasses set ``config_class``, implement :meth:`pose`, :meth:`activation`,
    :meth:`records` and the kits, and set ``duration`` in ``__init__``.
    """

    config_class: ClassVar[type[MovementConfig]]

    duration: float

    def __init__(
        self, config: MovementConfig, seed: int, subject: Subject, body: Anthropometry | None = None
    ) -> None:
        self.config = config
        self.seed = seed
        self.subject = subject
        self.body = body or subject.body
        self.s = "r" if config.side == "right" else "l"  # the moving side
        self.o = "l" if self.s == "r" else "r"  # the other side
        self.sign = 1.0 if self.s == "r" else -1.0  # mirrors left/right (y) quantities
        self.speed = config.tempo * subject.tempo / (1.0 + 0.3 * config.resistance)
        self.effort = subject.activation * (1.0 + 0.6 * config.resistance)
        #: the segment whose sensor the sway truth refers to (set from the kit by simulate)
        self.sway_segment = "pelvis"

    # -- what a subclass provides ---------------------------------------------------------
    @abstractmethod
    def pose(self, t: F64) -> Pose:
        """Orientations of every segment and the root at times ``t`` (s, shape (n,))."""

    @abstractmethod
    def activation(self, muscle: str, side: str, t: F64) -> F64:
        """Activation of ``muscle`` on ``side`` ("r"/"l") in [0, 1] at times ``t``."""

    @abstractmethod
    def records(self) -> list:  # type: ignore[type-arg]
        """The ground-truth records (:class:`nmre.sim.truth.TruthRecord`) of the session."""

    @classmethod
    @abstractmethod
    def full_kit(cls, side: str) -> list[Sensor]:
        """Every sensor the movement's drill can use ("r"/"l" is the movement's side)."""

    @classmethod
    @abstractmethod
    def minimal_kit(cls, side: str) -> list[Sensor]:
        """The smallest kit the movement's drill accepts."""

    def full(self) -> list[Sensor]:
        """This session's full kit (the class's, on the movement's side)."""
        return self.full_kit(self.s)

    def minimal(self) -> list[Sensor]:
        """This session's minimal kit."""
        return self.minimal_kit(self.s)

    def episodes(self) -> tuple:  # type: ignore[type-arg]
        """Injected error spans in time (stances); none for movements made of records."""
        return ()

    # -- helpers ------------------------------------------------------------------------
    def rng(self, purpose: str) -> np.random.Generator:
        return child_rng(self.seed, f"{self.config.movement}.{purpose}")

    def severity(self, index: int, label: str, normal: float | None = None) -> float:
        """The severity of ``label`` in record ``index``: the configured one, else drawn.

        A relative error's drawn factor multiplies ``normal`` (the subject's own value).
        """
        value = self.config.errors.get(index, {}).get(label)  # type: ignore[attr-defined]
        if value is not None:
            return float(value)
        spec = ERRORS[label]
        u = float(self.rng(f"severity.{index}.{label}").uniform(*spec.drawn))
        if spec.relative:
            assert normal is not None
            return u * normal
        return u

    def errors_of(self, index: int) -> Mapping[str, float | None]:
        return self.config.errors.get(index, {})  # type: ignore[attr-defined,no-any-return]

    def grid(self, t0: float, t1: float, rate: float = TRUTH_RATE) -> F64:
        """Grid times ``k / rate`` within ``[t0, t1]``."""
        k0, k1 = math.ceil(t0 * rate - 1e-9), math.floor(t1 * rate + 1e-9)
        return np.arange(k0, k1 + 1) / rate

    def state(self, times: F64, segments: Sequence[str] | None = None) -> BodyState:
        """Error-free kinematics at ``times``."""
        kw = {} if segments is None else {"segments": tuple(segments)}
        return body_state(self.pose, times, self.body, **kw)

    def angles(self, t0: float, t1: float, names: Sequence[str]) -> dict[str, F64]:
        """True angles (deg) on the truth grid over ``[t0, t1]``, evaluated in chunks."""
        t = self.grid(t0, t1)
        out = {n: np.empty(t.shape[0]) for n in names}
        for a in range(0, t.shape[0], _CHUNK):
            st = body_state(self.pose, t[a : a + _CHUNK], self.body, segments=("pelvis",))
            for n in names:
                out[n][a : a + _CHUNK] = st.angles[n]
        return out

    def mean_amplitude(self, muscle: str, side: str, t0: float, t1: float) -> float:
        """Mean true EMG amplitude (RMS envelope, mV, noise floor excluded) of a muscle over ``[t0, t1]``."""
        t = self.grid(t0, t1, AMPLITUDE_RATE)
        return float(self.subject.rms_at_full(muscle) * np.mean(self.activation(muscle, side, t)))

    def horizontal_force(self, t: F64, segment: str | None = None) -> F64:
        """Tilt-corrected horizontal specific force (2, n) of the sway sensor at ``t`` (Moe-Nilssen).

        The noise-free specific force in the segment frame is projected on the plane
        perpendicular to its mean over ``t`` (the static gravity direction); the two
        components are expressed in an orthonormal basis of that plane whose first axis
        is the projection of the segment's x (anterior) axis.
        """
        seg = segment or self.sway_segment
        f = np.empty((3, t.shape[0]))
        for a in range(0, t.shape[0], _CHUNK):
            f[:, a : a + _CHUNK] = body_state(self.pose, t[a : a + _CHUNK], self.body, segments=(seg,)).force[
                seg
            ]
        g = f.mean(axis=1)
        g /= np.linalg.norm(g)
        ap = np.array([1.0, 0.0, 0.0]) - g[0] * g
        ap /= np.linalg.norm(ap)
        ml = np.cross(g, ap)
        return np.vstack([ap @ f, ml @ f])


class SwayMetrics:
    """Sway metrics of a tilt-corrected horizontal acceleration (2, n) sampled at ``rate``."""

    def __init__(self, h: F64) -> None:
        d = h - h.mean(axis=1, keepdims=True)
        self.rms = float(np.sqrt(np.mean(np.sum(d * d, axis=0))))
        self.path = float(np.sum(np.hypot(np.diff(d[0]), np.diff(d[1]))))
        cov = np.cov(d) if d.shape[1] > 2 else np.zeros((2, 2))
        self.area95 = float(math.pi * CHI2_95 * math.sqrt(max(float(np.linalg.det(cov)), 0.0)))


def sway_metrics(h: F64) -> dict[str, float]:
    """``sway_rms`` (m/s^2), ``sway_path`` (m/s^2) and ``sway_area95`` (m^2/s^4) of ``h`` (2, n)."""
    m = SwayMetrics(h)
    return {"sway_rms": m.rms, "sway_path": m.path, "sway_area95": m.area95}


def ik_other_leg(
    rotation: dict[str, F64], body: Anthropometry, root_side: str, root_ankle: F64, other_ankle: F64
) -> None:
    """Place the non-root leg by inverse kinematics so that its ankle is at ``other_ankle`` (in place)."""
    s, o = root_side, "l" if root_side == "r" else "r"
    down_t = np.array([0.0, 0.0, body.thigh_length])
    down_s = np.array([0.0, 0.0, body.shank_length])
    knee = root_ankle + np.einsum("nij,j->ni", rotation[f"shank.{s}"], down_s)
    hip = knee + np.einsum("nij,j->ni", rotation[f"thigh.{s}"], down_t)
    pelvis = hip - np.einsum("nij,j->ni", rotation["pelvis"], body.mirrored(body.hip, s))
    hip_o = pelvis + np.einsum("nij,j->ni", rotation["pelvis"], body.mirrored(body.hip, o))
    rotation[f"thigh.{o}"], rotation[f"shank.{o}"], _ = leg_ik(
        hip_o, other_ankle, body.thigh_length, body.shank_length
    )


def ankles(body: Anthropometry) -> dict[str, F64]:
    """Ankle positions in the neutral standing pose (feet under the hips), m; origin between them."""
    return {s: body.mirrored(body.hip, s) * np.array([0.0, 1.0, 0.0]) for s in ("r", "l")}


def neutral(n: int) -> dict[str, F64]:
    """Every segment in the neutral standing orientation."""
    return {s: eye(n) for s in SEGMENTS}


def tilt(pitch: F64, roll: F64) -> F64:
    """World orientation tilted forward by ``pitch`` and to the right by ``roll`` (rad): ``R_x(roll) R_y(pitch)``."""
    return rot_x(roll) @ rot_y(pitch)


def rep_index(starts: F64, t: F64) -> NDArray[np.intp]:
    """Index of the last record starting at or before each ``t`` (0 before the first)."""
    return np.clip(np.searchsorted(starts, t, side="right") - 1, 0, starts.shape[0] - 1)


def summed(fn: Callable[[NDArray[np.intp]], F64], idx: NDArray[np.intp], n: int) -> F64:
    """``fn(idx) + fn(idx + 1)`` (clipped to the last record): contributions of a record and the next."""
    nxt = np.minimum(idx + 1, n - 1)
    out = fn(idx)
    out = out + np.where(nxt != idx, fn(nxt), 0.0)
    return out


class Timeline:
    """Start and phase durations of every record: rise (0 → 1), hold at 1, return (1 → 0), then a pause.

    ``profile(t)`` is the minimum-jerk movement profile m(t) in [0, 1] and each
    sample's record index. Durations are divided by ``speed`` and jittered by ±5 %
    per record; pauses by ±0.2 s.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        n: int,
        rise: float,
        hold: float,
        fall: float,
        pause: float,
        lead_in: float,
        speed: float,
    ) -> None:
        j = 1.0 + rng.uniform(-0.05, 0.05, n)
        self.rise = rise / speed * j
        self.hold = hold / speed * j
        self.fall = fall / speed * j
        self.pause = pause + rng.uniform(-0.2, 0.2, n)
        self.lead_in = lead_in
        self.restart()

    def restart(self) -> None:
        """Recompute the starts from the (possibly changed) durations."""
        dur = self.rise + self.hold + self.fall
        self.start = self.lead_in + np.concatenate([[0.0], np.cumsum(dur[:-1] + self.pause[:-1])])

    @property
    def end(self) -> F64:
        return self.start + self.rise + self.hold + self.fall

    @property
    def n(self) -> int:
        return int(self.start.shape[0])

    def scale(self, i: int, duration: float) -> None:
        """Make record ``i`` last ``duration`` s (all its phases in proportion)."""
        k = duration / float(self.rise[i] + self.hold[i] + self.fall[i])
        self.rise[i] *= k
        self.hold[i] *= k
        self.fall[i] *= k
        self.restart()

    def profile(self, t: F64) -> tuple[F64, NDArray[np.intp]]:
        from nmre.sim.profiles import min_jerk

        i = rep_index(self.start, t)
        x = t - self.start[i]
        m = min_jerk(x / self.rise[i]) - min_jerk((x - self.rise[i] - self.hold[i]) / self.fall[i])
        return m, i

    def gate(self, t: F64, lead: float = 0.1, release: float = 0.2) -> F64:
        """Muscle gate of the record: on from ``lead`` s before its start to its end, with 0.15 s ramps."""
        from nmre.sim.profiles import burst

        i = rep_index(self.start, t)
        return summed(
            lambda k: burst(t, self.start[k] - lead, self.end[k] + 0.05, 1.0, 0.15, release), i, self.n
        )


def band_time(
    values: F64, extreme: float, band: float, rate: float = TRUTH_RATE, below: bool = True
) -> float:
    """Time (s) that grid ``values`` stay within ``band`` of ``extreme`` (below it when ``below``)."""
    inside = values <= extreme + band if below else values >= extreme - band
    return float(np.count_nonzero(inside)) / rate


def excursion_time(values: F64, threshold: float, rate: float = TRUTH_RATE, above: bool = True) -> float:
    """Time (s) from the first crossing of ``threshold`` into the region past it (above it when ``above``)
    to the last crossing back, on grid ``values`` sampled at ``rate``; each crossing interpolated linearly
    between the two grid samples around it. 0 when the values never pass it; a span that starts or ends
    past it counts from its first or to its last sample."""
    span = excursion(values, threshold, rate, above)
    return 0.0 if span is None else span[1] - span[0]


def excursion(
    values: F64, threshold: float, rate: float = TRUTH_RATE, above: bool = True
) -> tuple[float, float] | None:
    """The first crossing of ``threshold`` into the region past it and the last crossing back, s from the
    grid's first sample (see :func:`excursion_time`); None when the values never pass it."""
    x = np.asarray(values, dtype=np.float64) - threshold
    if not above:
        x = -x
    past = np.flatnonzero(x > 0.0)
    if past.shape[0] == 0:
        return None
    a, b = int(past[0]), int(past[-1])
    t0 = float(a) if a == 0 else a - x[a] / (x[a] - x[a - 1])
    t1 = float(b) if b == x.shape[0] - 1 else b + x[b] / (x[b] - x[b + 1])
    return float(t0) / rate, float(t1) / rate

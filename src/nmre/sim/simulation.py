"""Run a movement through the body, IMU and EMG models: :func:`simulate` → :class:`Simulation`."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import StreamInfo, StreamKind
from nmre.errors import ConfigError, expected
from nmre.sim.body import Anthropometry
from nmre.sim.config import MovementConfig
from nmre.sim.emg import Artifact, EmgModel, draw_artifacts
from nmre.sim.generate import StreamGenerator
from nmre.sim.imu import ImuErrors, rotation_from_vector_deg
from nmre.sim.kit import Sensor, resolve_kit
from nmre.sim.kit import stream_infos as _kit_infos
from nmre.sim.movements import MOVEMENTS, movement_class
from nmre.sim.movements.base import Movement
from nmre.sim.rng import child_rng
from nmre.sim.subject import Subject
from nmre.sim.truth import GroundTruth

__all__ = ["EMG_STREAM", "IMU_STREAMS", "Simulation", "StreamData", "simulate", "squat_set", "stream_infos"]

F64 = NDArray[np.float64]

#: IMU stream ids of the first squat kit (pelvis, trunk, right thigh and shank).
IMU_STREAMS: tuple[str, ...] = ("imu.pelvis", "imu.trunk", "imu.thigh.r", "imu.shank.r")
#: The right leg's EMG stream id.
EMG_STREAM = "emg.r"
#: Longest session the simulator generates, s (48 h).
MAX_DURATION = 48 * 3600.0


class StreamData(Mapping[str, tuple[F64, F64]]):
    """``stream id → (times, values)`` of the whole session, generated on first access per stream.

    For tests, plots and short sessions. Long sessions are read in chunks through
    :meth:`Simulation.read` (what :class:`~nmre.sim.SimSource` and the emulated
    devices do), which never holds the whole session.
    """

    def __init__(self, generator: StreamGenerator) -> None:
        self._gen = generator
        self._cache: dict[str, tuple[F64, F64]] = {}

    def __getitem__(self, sid: str) -> tuple[F64, F64]:
        got = self._cache.get(sid)
        if got is None:
            if sid not in self._gen.infos:
                raise KeyError(sid)
            n = self._gen.n[sid]
            t, v = self._gen.times(sid, 0, n), self._gen.read(sid, 0, n)
            t.setflags(write=False)
            v.setflags(write=False)
            got = self._cache[sid] = (t, v)
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._gen.infos)

    def __len__(self) -> int:
        return len(self._gen.infos)


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated session: streams, a generator of their data, and what really happened.

    Attributes
    ----------
    config : MovementConfig
        What the subject did.
    seed : int
        The session seed (subject, plan, noise and errors all follow from it).
    subject : Subject
        Who did it.
    kit : tuple of Sensor
        What was worn.
    streams : list of StreamInfo
        One per IMU/ACC sensor and per EMG site.
    truth : GroundTruth
        Per rep / hold / transition / window / target. Detectors never read it.
    duration : float
        Session length, s.
    data : mapping of str to (times, values)
        Whole-session arrays per stream, generated on first access (:class:`StreamData`).
    mounting : dict of str to ndarray (3, 3)
        IMU/ACC stream id → sensor-to-segment rotation (strap rotation).
    imu_bias : dict of str to ndarray
        IMU/ACC stream id → the constant bias added to each channel.
    """

    config: MovementConfig
    seed: int
    imu_rate: float
    emg_rate: float
    mains_hz: float | None
    streams: list[StreamInfo]
    truth: GroundTruth
    duration: float
    data: Mapping[str, tuple[F64, F64]]
    mounting: dict[str, F64]
    imu_bias: dict[str, F64]
    subject: Subject = field(default_factory=Subject)
    kit: tuple[Sensor, ...] = ()
    noise: float = 1.0
    generator: StreamGenerator | None = field(default=None, repr=False)
    movement: Movement | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"Simulation({self.truth.exercise}, {self.duration:.1f} s, seed={self.seed}, "
            f"imu {self.imu_rate:g} Hz, emg {self.emg_rate:g} Hz, {len(self.streams)} streams)"
        )

    def n_samples(self, sid: str) -> int:
        """Number of samples of stream ``sid`` over the session."""
        if self.generator is not None and isinstance(self.data, StreamData):
            return self.generator.n[sid]
        return int(self.data[sid][0].shape[0])

    def read(self, sid: str, a: int, b: int) -> tuple[F64, F64]:
        """Times (n,) and values (n_channels, n) of samples ``a .. b-1`` of ``sid``, as new arrays.

        Generated on demand from the pages that cover the range; the whole session is
        never held.
        """
        if self.generator is not None and isinstance(self.data, StreamData):
            b = min(b, self.generator.n[sid])
            return self.generator.times(sid, a, b), self.generator.read(sid, a, b)
        t, v = self.data[sid]
        return t[a:b].copy(), np.ascontiguousarray(v[:, a:b])

    def stream(self, kind: str, segment: str | None = None, side: str | None = None) -> StreamInfo:
        """The stream of ``kind`` (``"imu"``, ``"acc"``, ``"emg"``) on ``segment`` and ``side``."""
        for s in self.streams:
            p = s.placement
            if s.kind.value != kind:
                continue
            if segment is not None and (p is None or p.segment != segment):
                continue
            if side is not None and (p is None or p.side is None or p.side.value != side):
                continue
            return s
        raise ConfigError(
            "Simulation.stream: "
            + expected(f"a {kind} stream{' on ' + segment if segment else ''}", [s.id for s in self.streams])
        )

    # -- whole-session views for tests and plots ------------------------------------------
    @functools.cached_property
    def kinematics(self) -> dict[str, F64]:
        """True angles (deg) and positions at the IMU sample times (``"time"``, s), whole session.

        Keys: every angle of :func:`nmre.sim.body.joint_angles_deg`; ``<segment>_pos`` and
        ``<segment>_lin_acc`` (3, n) of the sensor on every worn segment (``pelvis_pos`` ...).
        """
        assert self.movement is not None
        t = np.arange(math.floor(self.duration * self.imu_rate + 1e-9) + 1) / self.imu_rate
        segs = tuple(dict.fromkeys(["pelvis", "trunk", *(s.segment for s in self.kit if s.segment)]))
        out: dict[str, F64] = {"time": t}
        for a in range(0, t.shape[0], 20_000):
            st = self.movement.state(t[a : a + 20_000], segs)
            for k, v in st.angles.items():
                out.setdefault(k, np.empty(t.shape[0]))[a : a + 20_000] = v
            for s in segs:
                base = s.split(".")[0] if s in ("pelvis", "trunk") else s
                for key, arr in ((f"{base}_pos", st.position[s]), (f"{base}_lin_acc", st.lin_acc[s])):
                    out.setdefault(key, np.empty((3, t.shape[0])))[:, a : a + 20_000] = arr
        return out

    @functools.cached_property
    def orientations(self) -> dict[str, F64]:
        """IMU/ACC stream id → true sensor-to-world quaternion (4, n) at its sample times."""
        assert self.movement is not None
        out = {}
        for info in self.streams:
            if info.kind not in (StreamKind.IMU, StreamKind.ACC):
                continue
            seg = next(s.segment for s in self.kit if s.stream_id == info.id)
            t = np.arange(self.n_samples(info.id)) / info.rate
            q = np.empty((4, t.shape[0]))
            for a in range(0, t.shape[0], 20_000):
                st = self.movement.state(t[a : a + 20_000], (seg,))
                q[:, a : a + 20_000] = st.quat(seg or "", self.mounting[info.id])
            out[info.id] = q
        return out

    @functools.cached_property
    def activations(self) -> dict[str, F64]:
        """EMG stream id → true activation (n_channels, n) in [0, 1] at its sample times."""
        assert self.movement is not None
        out = {}
        for info in self.streams:
            if info.kind is not StreamKind.EMG:
                continue
            side = next(s.side for s in self.kit if s.stream_id == info.id) or "r"
            t = np.arange(self.n_samples(info.id)) / info.rate
            out[info.id] = np.vstack(
                [
                    self.movement.activation(c.placement.muscle if c.placement else c.name, side, t)
                    for c in info.channels
                ]  # type: ignore[arg-type]
            )
        return out

    @property
    def activation(self) -> F64:
        """Activation of the first EMG stream (n_channels, n)."""
        return next(iter(self.activations.values()))


def _check_rate(name: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and lo <= value <= hi)
    ):
        raise ConfigError(f"simulate: {name} " + expected(f"a rate in Hz between {lo:g} and {hi:g}", value))
    return float(value)


def _check_float(name: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(value) and lo <= value <= hi)
    ):
        raise ConfigError(f"simulate: {name} " + expected(f"a number in {lo:g}..{hi:g}", value))
    return float(value)


def simulate(
    config: MovementConfig,
    seed: int = 0,
    *,
    kit: str | Sequence[object] = "full",
    subject: Subject | None = None,
    imu_rate: float = 100.0,
    emg_rate: float = 2000.0,
    mains_hz: float | None = None,
    noise: float = 1.0,
    strap_deg: float = 0.0,
    mounting: Mapping[str, tuple[float, float, float]] | None = None,
    motion_artifacts: float | Mapping[str, Sequence[float]] = 0.0,
    imu_errors: ImuErrors | None = None,
    emg_model: EmgModel | None = None,
    body: Anthropometry | None = None,
) -> Simulation:
    """Simulate one subject doing ``config``.

    Parameters
    ----------
    config : MovementConfig
        What the subject does and which errors to inject (a configuration of
        :data:`nmre.sim.MOVEMENTS`).
    seed : int
        Seed (>= 0). The same seed and arguments give byte-identical data and truth.
    kit : str or list
        ``"full"``, ``"minimal"``, ``"bilateral"``, ``"all"`` or explicit sensors
        (:mod:`nmre.sim.kit`).
    subject : Subject, optional
        Who does it; default ``Subject.draw(seed)`` (a different person per seed).
    imu_rate : float
        IMU sampling rate, Hz (50–400; 100–200 is typical).
    emg_rate : float
        EMG sampling rate, Hz (1000–4000).
    mains_hz : float or None
        50 or 60 to add mains hum to the EMG.
    noise : float
        Factor on every sensor noise (IMU white noise and EMG noise floor), 0..10.
    strap_deg : float
        Strap rotation of every IMU/ACC sensor, up to this many degrees about the
        segment's long axis (and a third of it in tilt), drawn per subject (0..30).
    mounting : mapping of str to 3 floats, optional
        Stream id → sensor mounting as a rotation vector in degrees (sensor frame
        relative to the segment frame); overrides ``strap_deg`` for that sensor.
    motion_artifacts : float or mapping of str to list of float
        Electrode motion artefacts: a rate per minute on every EMG stream, or EMG stream
        id → artefact start times (s).
    imu_errors : ImuErrors, optional
        Noise densities and bias ranges.
    emg_model : EmgModel, optional
        EMG spectrum, mains amplitude and artefact amplitudes.
    body : Anthropometry, optional
        Segment lengths and offsets (default: the subject's, from its height).

    Returns
    -------
    Simulation
    """
    if not isinstance(config, MovementConfig):
        raise ConfigError(
            "simulate: "
            + expected(
                "a movement configuration (" + ", ".join(c.__name__ for c in MOVEMENTS.values()) + ")",
                type(config).__name__,
            )
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("simulate: seed " + expected("an integer >= 0", seed))
    seed = int(seed)
    imu_rate = _check_rate("imu_rate", imu_rate, 50.0, 400.0)
    emg_rate = _check_rate("emg_rate", emg_rate, 1000.0, 4000.0)
    if mains_hz is not None and mains_hz not in (50, 60):
        raise ConfigError("simulate: mains_hz " + expected("50, 60 or None", mains_hz))
    noise = _check_float("noise", noise, 0.0, 10.0)
    strap_deg = _check_float("strap_deg", strap_deg, 0.0, 30.0)
    if subject is None:
        subject = Subject.draw(seed)
    elif not isinstance(subject, Subject):
        raise ConfigError("simulate: subject " + expected("a Subject", type(subject).__name__))
    errs = imu_errors or ImuErrors()
    model = emg_model or EmgModel()

    cls = movement_class(config)
    movement = cls(config, seed, subject, body)
    if movement.duration > MAX_DURATION:
        raise ConfigError(
            "simulate: "
            + expected(f"a session of at most {MAX_DURATION / 3600:g} h", f"{movement.duration:.0f} s")
        )
    side = "r" if config.side == "right" else "l"
    sensors = resolve_kit(kit, config.side, movement.full(), movement.minimal(), _every(side))
    streams = _kit_infos(sensors, imu_rate, emg_rate)
    mount = _mounting(sensors, subject, strap_deg, mounting)
    artifacts = _artifacts(streams, seed, motion_artifacts, movement.duration, model)

    # the truth: the sway sensor is the pelvis's if worn, else the trunk's
    worn = {s.segment for s in sensors if s.segment}
    movement.sway_segment = "pelvis" if ("pelvis" in worn or "trunk" not in worn) else "trunk"
    solve = getattr(movement, "solve_episodes", None)
    if solve is not None:
        solve()
    records = movement.records()
    gen = StreamGenerator(movement, streams, sensors, seed, mount, errs, noise, mains_hz, model, artifacts)
    truth = GroundTruth(
        exercise=config.movement,
        duration=movement.duration,
        records=tuple(sorted(records, key=lambda r: (r.start, r.kind, r.index))),
        episodes=movement.episodes(),
        conditions=config.conditions,
        subject=subject.to_dict(),
        artifacts=tuple(
            (sid, "all", a.time, a.amplitude) for sid, arts in gen.artifacts.items() for a in arts
        ),
    )
    return Simulation(
        config=config,
        seed=seed,
        imu_rate=imu_rate,
        emg_rate=emg_rate,
        mains_hz=mains_hz,
        streams=streams,
        truth=truth,
        duration=movement.duration,
        data=StreamData(gen),
        mounting={sid: gen.mounting[sid] for sid in gen.mounting},
        imu_bias=dict(gen.bias),
        subject=subject,
        kit=sensors,
        noise=noise,
        generator=gen,
        movement=movement,
    )


def squat_set(reps: int = 10, shallow: tuple[int, ...] = (), seed: int = 0, **kwargs: Any) -> Simulation:
    """A squat set with the reps in ``shallow`` (0-based) too shallow; ``kwargs`` go to :func:`simulate`."""
    from nmre.sim.movements.squat import SquatConfig

    cfg = SquatConfig(reps=reps, errors={i: ("shallow_squat",) for i in shallow})
    return simulate(cfg, seed=seed, **kwargs)


def stream_infos(
    imu_rate: float = 100.0, emg_rate: float = 2000.0, kit: Sequence[Sensor] | None = None
) -> list[StreamInfo]:
    """The :class:`StreamInfo` of a kit's streams (default: the squat's full kit on the right side)."""
    from nmre.sim.kit import stream_infos as infos
    from nmre.sim.movements.squat import SquatMovement

    return infos(list(kit) if kit is not None else SquatMovement.full_kit("r"), imu_rate, emg_rate)


def _every(side: str) -> list[Sensor]:
    from nmre.sim.body import SENSOR_SEGMENTS
    from nmre.sim.kit import ARM_MUSCLES, LEG_MUSCLES

    out = [Sensor("imu", segment=s) for s in SENSOR_SEGMENTS]
    out += [Sensor("emg", muscle=m, side=s) for s in ("r", "l") for m in LEG_MUSCLES]
    out += [Sensor("emg", muscle=m, side="r") for m in ARM_MUSCLES]
    return out


def _mounting(
    sensors: Sequence[Sensor], subject: Subject, strap_deg: float, mounting: Mapping[str, Any] | None
) -> dict[str, F64]:
    out = {}
    for s in sensors:
        if s.kind != "emg" and s.segment is not None:
            out[s.stream_id] = rotation_from_vector_deg(subject.strap_rotation_deg(s.segment, strap_deg))
    for sid, vec in (mounting or {}).items():
        if sid not in out:
            raise ConfigError("simulate: mounting " + expected("keys among " + ", ".join(out), sid))
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


def _artifacts(
    streams: Sequence[StreamInfo], seed: int, spec: object, duration: float, model: EmgModel
) -> dict[str, list[Artifact]]:
    emg = [s.id for s in streams if s.kind is StreamKind.EMG]
    if isinstance(spec, Mapping):
        out = {}
        for sid, times in spec.items():
            if sid not in emg:
                raise ConfigError(
                    "simulate: motion_artifacts " + expected("EMG stream ids among " + ", ".join(emg), sid)
                )
            rng = child_rng(seed, f"{sid}.artifacts.given")
            arts = []
            for t in times:
                t = _check_float(f"motion_artifacts[{sid!r}] time", t, 0.0, duration)
                arts.append(
                    Artifact(
                        t,
                        float(rng.uniform(*model.artifact_mv)),
                        float(rng.uniform(2, 8)),
                        float(rng.uniform(0.05, 0.2)),
                    )
                )
            out[sid] = arts
        return out
    rate = _check_float("motion_artifacts", spec, 0.0, 60.0)
    return {sid: draw_artifacts(seed, sid, rate, duration, model) for sid in emg} if rate > 0 else {}

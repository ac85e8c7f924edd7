"""Live chain of a typical kit, per 8 ms update: nmre vs scipy + ahrs block by block, and through the Engine.

The kit: 8 surface-EMG channels at 2 kHz arriving in 16-sample blocks and 4 IMUs
(pelvis, trunk, right thigh, right shank) at 200 Hz. One *update* is what arrives
in 8 ms: one (8, 16) EMG block and, per IMU, the samples of that period. 200 Hz x
8 ms = 1.6 samples, so the IMU blocks hold 1, 2, 1, 2, 2 samples in turn (8 samples
per 40 ms: exactly 200 Hz, where strictly alternating 2 and 1 would be 187.5 Hz).

Data: the body simulator (a squat set, seed 7), its 4 EMG channels duplicated
into an 8-channel stream (``vmo, vl, bf, gmed, vmo_dup, vl_dup, bf_dup, gmed_dup``).
Input blocks are built before timing (a decoder in the acquisition thread makes them).

Measured (seconds per update, best of 5 passes over all updates, state reset
before each pass, GC off):

* ``live chain, direct``: ``EmgChain(8, 2000)`` (band-pass 20-450 Hz, rectify,
  6 Hz low-pass: the squat drill's settings, no notch) on the EMG block; per IMU
  the drill's orientation pipeline (``GyroBias(still_time=1) -> Madgwick(beta=0.1)``);
  ``JointAngle`` thigh -> shank (knee flexion/valgus/rotation). The processors are
  called directly, no engine.
* peer: the same chain on scipy + ahrs, per block: ``scipy.signal.sosfilt`` with
  ``zi`` (band-pass, ``np.abs``, low-pass), per IMU sample the same still-run gyro
  bias in plain Python (still runs with gravity's direction steady, as nmre's GyroBias) then ``ahrs.filters.Madgwick.updateIMU``, and the knee
  angles from a numpy relative quaternion (Cardan Y-X'-Z''). Checked to give the
  same numbers before timing.
* ``engine, same chain``: exactly those nodes wired in :class:`nmre.engine.Engine`
  on a virtual clock, fed by a scheduled source that releases one update's blocks
  every 8 ms: adds engine dispatch, source polling and feedback publishing.
* ``engine, squat drill``: the real squat drill (``build_drill("squat")``, from its file) in the Engine:
  adds the EMG guard (NaN/saturation/flat-line) ahead of the EMG chain, onset
  conditioning (band-pass, TKEO, rectify, low-pass, onset detector on 8 channels),
  trunk inclination, three rep rules, the onset-order rule and the rep segmenter;
  its orientation runs on the 3 IMUs the drill uses (trunk, thigh, shank; pelvis
  blocks arrive and are dispatched to no node). Its peer is still the bare chain.

``python benchmarks/bench_chain.py`` prints a breakdown of where one update's time goes.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from _harness import Comparison
from nmre.core.clock import Clock
from nmre.core.interfaces import Processor, Source
from nmre.core.model import Block, Channel, Placement, Side, StreamInfo, StreamKind
from nmre.drills import build_drill
from nmre.drills._common import orientation_node
from nmre.dsp.emg import EmgChain
from nmre.dsp.joints import JointAngle
from nmre.engine import Engine
from nmre.engine.nodes import Node, ProcessorNode
from nmre.sim import EMG_STREAM, Simulation, SquatConfig, simulate

F64 = NDArray[np.float64]

EMG_RATE = 2000.0
IMU_RATE = 200.0
N_EMG = 8
PERIOD = 0.008  # s, one update: 16 EMG samples
THIGH, SHANK = "imu.thigh.r", "imu.shank.r"
TARGET_US = 50.0


# -- the kit: simulated data as an 8-channel EMG stream + 4 IMUs ----------------------------------
def kit_sim(reps: int, seed: int) -> Simulation:
    """Simulate a squat set (IMUs 200 Hz, EMG 2 kHz) with its 4 EMG channels duplicated into 8.

    The copies are named ``<muscle>_dup`` (left side), so the drill's VMO/VL timing rule
    still reads the original two; every EMG processor runs on all 8 rows.
    """
    sim = simulate(SquatConfig(reps=reps), seed=seed, imu_rate=IMU_RATE, emg_rate=EMG_RATE)
    streams, data = [], dict(sim.data)
    for info in sim.streams:
        if info.id == EMG_STREAM:
            dup = tuple(
                Channel(f"{c.name}_dup", c.unit, Placement(muscle=f"{c.name}_dup", side=Side.LEFT))
                for c in info.channels
            )
            info = dataclasses.replace(info, channels=info.channels + dup)
            t, v = sim.data[EMG_STREAM]
            data[EMG_STREAM] = (t, np.concatenate([v, v]))
        streams.append(info)
    return dataclasses.replace(sim, streams=streams, data=data)


def ticks(kit: Simulation, period: float, n_ticks: int | None = None) -> list[tuple[float, list[Block]]]:
    """Cut the kit's arrays into arrival ticks every ``period`` s: ``(arrival, blocks)``.

    A stream at ``rate`` hands over samples ``floor(k r p) .. floor((k+1) r p) - 1`` at tick
    ``k`` (arrival ``(k + 1) p``), so every sample arrives once, no earlier than it was taken.
    Blocks are contiguous copies, stream order as in ``kit.streams`` (EMG last in the sim).
    """
    n_total = min(math.floor(kit.data[s.id][0].shape[0] / (s.rate * period)) for s in kit.streams)
    n = n_total if n_ticks is None else min(n_ticks, n_total)
    # EMG first, then IMUs in sim order (pelvis, trunk, thigh, shank): thigh before shank
    order = sorted(kit.streams, key=lambda s: s.kind is not StreamKind.EMG)
    out: list[tuple[float, list[Block]]] = []
    ends = {s.id: 0 for s in order}
    for k in range(n):
        blocks = []
        for s in order:
            t, v = kit.data[s.id]
            a, b = ends[s.id], math.floor((k + 1) * period * s.rate + 1e-9)
            ends[s.id] = b
            if b > a:
                blocks.append(
                    Block(
                        s.id, t[a:b].copy(), np.ascontiguousarray(v[:, a:b]), seq=a, arrival=(k + 1) * period
                    )
                )
        out.append(((k + 1) * period, blocks))
    return out


class TickSource(Source):
    """A scheduled source that releases prepared blocks at their arrival ticks (a replay)."""

    def __init__(
        self,
        streams: Sequence[StreamInfo],
        schedule: list[tuple[float, list[Block]]],
        stamps: list[float] | None = None,
    ) -> None:
        self._streams = list(streams)
        self._schedule = schedule
        self._next = 0
        self._stamps = stamps  # wall time of every poll that releases blocks (for per-update timing)

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self._streams

    def start(self, clock: Clock) -> None:
        self._next = 0

    def poll(self, now: float) -> list[Block]:
        out: list[Block] = []
        s = self._schedule
        while self._next < len(s) and s[self._next][0] <= now:
            out.extend(s[self._next][1])
            self._next += 1
        if self._stamps is not None and out:
            self._stamps.append(time.perf_counter())
        return out

    def next_arrival(self) -> float | None:
        return self._schedule[self._next][0] if self._next < len(self._schedule) else None

    @property
    def finished(self) -> bool:
        return self._next >= len(self._schedule)


# -- nmre: the live chain called directly, and as engine nodes ------------------------------------
def chain_nodes(kit: Simulation) -> list[Node]:
    """EmgChain, the drill's orientation node per IMU, and the knee angle: the bare live chain."""
    emg = next(s for s in kit.streams if s.kind is StreamKind.EMG)
    env = f"env.{emg.id}"
    nodes: list[Node] = [ProcessorNode(EmgChain(emg.n_channels, emg.rate, name=env), emg.id, env)]
    nodes += [orientation_node(s) for s in kit.streams if s.kind is StreamKind.IMU]
    o_thigh, o_shank = "orient.thigh.r", "orient.shank.r"
    nodes.append(
        ProcessorNode(
            JointAngle(o_thigh, o_shank, side=Side.RIGHT, name="angle.knee.r"),
            (o_thigh, o_shank),
            "angle.knee.r",
        )
    )
    return nodes


class DirectChain:
    """The live chain's processors called one after another, no engine (what a tight loop would do)."""

    def __init__(self, kit: Simulation) -> None:
        emg = next(s for s in kit.streams if s.kind is StreamKind.EMG)
        self.emg_id = emg.id
        self.emg = EmgChain(emg.n_channels, emg.rate)
        imus = [s for s in kit.streams if s.kind is StreamKind.IMU]
        self.imu: dict[str, Processor] = {s.id: orientation_node(s).processor for s in imus}  # type: ignore[misc]
        self.knee = JointAngle("orient.thigh.r", "orient.shank.r", side=Side.RIGHT)

    def reset(self) -> None:
        self.emg.reset()
        for p in self.imu.values():
            p.reset()
        self.knee.reset()

    def update(self, blocks: list[Block]) -> tuple[Block | None, Block | None]:
        env = knee = None
        for b in blocks:
            if b.stream == self.emg_id:
                env = self.emg.process(b)
                continue
            q = self.imu[b.stream].process(b)
            if b.stream == THIGH:
                self.knee.process(q)
            elif b.stream == SHANK:
                knee = self.knee.process(q)
        return env, knee


# -- peer: scipy + ahrs, block by block ---------------------------------------------------------
def _qconj_mul(p: F64, q: F64) -> F64:
    """``conj(p) ⊗ q`` for (4, n) arrays (numpy)."""
    pw, px, py, pz = p[0], -p[1], -p[2], -p[3]
    qw, qx, qy, qz = q
    return np.array(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ]
    )


def knee_numpy(q_thigh: F64, q_shank: F64) -> F64:
    """Right-knee flexion, abduction (valgus +), internal rotation in degrees: Cardan Y-X'-Z'' of thigh⁻¹ ⊗ shank."""
    w, x, y, z = _qconj_mul(q_thigh, q_shank)
    r02 = 2 * (x * z + w * y)
    r22 = 1 - 2 * (x * x + y * y)
    r12 = 2 * (y * z - w * x)
    r10 = 2 * (x * y + w * z)
    r11 = 1 - 2 * (x * x + z * z)
    a = np.arctan2(r02, r22)
    b = np.arcsin(np.clip(-r12, -1.0, 1.0))
    c = np.arctan2(r10, r11)
    return np.degrees(np.array([a, -b, c]))


class PeerChain:
    """The same chain on scipy (sosfilt with zi) and ahrs (Madgwick.updateIMU per sample)."""

    def __init__(self, direct: DirectChain) -> None:
        import ahrs

        self._acc2q = ahrs.common.orientation.acc2q
        self.bp = direct.emg.pre_sos
        self.lp = direct.emg.env_sos
        self.n = direct.emg.n_channels
        gb = next(iter(direct.imu.values())).bias  # type: ignore[attr-defined]
        from nmre.dsp import _imu_kernels as IK

        # the same settings as nmre's GyroBias (its kernel's parameters, in plain floats)
        prm = gb._params.tolist()
        self.gthr, self.athr, self.grav = prm[IK.GBP_GYRO], prm[IK.GBP_ACC], prm[IK.GBP_GRAVITY]
        self.min_run, self.chord = prm[IK.GBP_MIN_RUN], prm[IK.GBP_CHORD]  # stillness; gravity's tilt
        self.acc_k, self.memory = prm[IK.GBP_ACC_K], prm[IK.GBP_MEMORY]  # its low-pass; pooled samples
        mw = next(iter(direct.imu.values())).orientation  # type: ignore[attr-defined]
        self.dt = 1.0 / mw.rate
        self.mw = {k: ahrs.filters.Madgwick(frequency=mw.rate, gain=mw.beta) for k in direct.imu}
        self.emg_id = direct.emg_id
        self.reset()

    def reset(self) -> None:
        self.zi_bp = np.zeros((self.bp.shape[0], self.n, 2))
        self.zi_lp = np.zeros((self.lp.shape[0], self.n, 2))
        self.q: dict[str, np.ndarray | None] = {k: None for k in self.mw}
        self.bias = {k: [0.0, 0.0, 0.0] for k in self.mw}
        # per IMU: run length, gyro sums (3), low-passed acc (3, None before a sample), direction sums (3),
        # the earlier runs' estimate (3) and its weight
        self.still = {k: [0.0, [0.0] * 3, None, [0.0] * 3, [0.0] * 3, 0.0] for k in self.mw}
        self.q_thigh = np.zeros((4, 0))

    def _orient(self, sid: str, v: F64) -> F64:
        out = np.empty((4, v.shape[1]))
        mw, bias, st = self.mw[sid], self.bias[sid], self.still[sid]
        q = self.q[sid]
        for i in range(v.shape[1]):
            ax, ay, az, gx, gy, gz = v[:, i].tolist()
            self._still_bias(st, bias, ax, ay, az, gx, gy, gz)
            acc = np.array([ax, ay, az])
            if q is None:
                q = self._acc2q(acc)
            else:
                q = mw.updateIMU(q, np.array([gx - bias[0], gy - bias[1], gz - bias[2]]), acc, dt=self.dt)
            out[:, i] = q
        self.q[sid] = q
        return out

    def _end_run(self, st: list, bias: list[float]) -> None:  # type: ignore[type-arg]
        """A still run ends: one that gave the bias joins the earlier runs' estimate (if they are pooled)."""
        run = st[0]
        if run >= self.min_run and self.memory > 0.0:
            st[4] = list(bias)
            st[5] = min(st[5] + run, self.memory)
        st[0], st[1], st[3] = 0.0, [0.0] * 3, [0.0] * 3

    def _still_bias(
        self, st: list, bias: list[float], ax: float, ay: float, az: float, gx: float, gy: float, gz: float
    ) -> None:  # type: ignore[type-arg]
        """nmre's GyroBias in plain Python: still runs (gyro, |acc|, gravity's direction steady), their mean gyro."""
        gravity_like = abs(math.sqrt(ax * ax + ay * ay + az * az) - self.grav) < self.athr
        if gravity_like:  # gravity's direction, low-passed over the samples that can be gravity
            if st[2] is None:
                st[2] = [ax, ay, az]
            else:
                la = st[2]
                k = self.acc_k
                la[0] += k * (ax - la[0])
                la[1] += k * (ay - la[1])
                la[2] += k * (az - la[2])
        if gravity_like and math.sqrt(gx * gx + gy * gy + gz * gz) < self.gthr:
            la, lb, lc = st[2]
            norm = math.sqrt(la * la + lb * lb + lc * lc)
            ux, uy, uz = la / norm, lb / norm, lc / norm
            if st[0] > 0.0:
                mx, my, mz = st[3]
                m = math.sqrt(mx * mx + my * my + mz * mz)
                dx, dy, dz = ux - mx / m, uy - my / m, uz - mz / m
                if not (math.sqrt(dx * dx + dy * dy + dz * dz) < self.chord):  # the body turned: a new run
                    self._end_run(st, bias)
            st[0] += 1.0
            g = st[1]
            g[0] += gx
            g[1] += gy
            g[2] += gz
            d = st[3]
            d[0] += ux
            d[1] += uy
            d[2] += uz
            run = st[0]
            if run >= self.min_run:
                w, prev = st[5], st[4]
                bias[:] = [(prev[c] * w + g[c]) / (w + run) for c in range(3)]
        else:
            self._end_run(st, bias)

    def update(self, blocks: list[Block]) -> tuple[F64 | None, F64 | None]:
        env = knee = None
        for b in blocks:
            if b.stream == self.emg_id:
                y, self.zi_bp = signal.sosfilt(self.bp, b.values, axis=-1, zi=self.zi_bp)
                env, self.zi_lp = signal.sosfilt(self.lp, np.abs(y), axis=-1, zi=self.zi_lp)
                continue
            q = self._orient(b.stream, b.values)
            if b.stream == THIGH:
                self.q_thigh = q
            elif b.stream == SHANK:
                knee = knee_numpy(self.q_thigh, q)
        return env, knee


# -- timing ---------------------------------------------------------------------------------------
# The machine is shared: a pass can be preempted. Each update is timed on its own (wall time from
# its start to the next update's start) in every pass; the figure is the mean over updates of each
# update's fastest pass, so a preempted update in one pass does not count.
def _per_update(passes: list[list[float]], start: int = 0) -> float:
    """Mean over updates (from update ``start`` on) of the fastest of the passes; ``passes`` are lists of
    start stamps + end stamp."""
    d = np.min(np.diff(np.asarray(passes), axis=1), axis=0)
    return float(np.mean(d[start:]))


#: Where the squat bench's steady state begins, s of session: the drill's calibration steps (readiness gate
#: ~1.0 s, neutral pose ~1.3 s, long-axis calibration ~4.1 s, during rep 1) are over, reps 2 and 3 follow.
STEADY_FROM = 4.5


def first_update_at(schedule: list[tuple[float, list[Block]]], t: float) -> int:
    """Index of the first update of ``schedule`` at or after session time ``t``."""
    return next((i for i, (at, _) in enumerate(schedule) if at >= t), len(schedule))


def update_time(
    reset: Callable[[], object],
    update: Callable[[list[Block]], object],
    schedule: list[tuple[float, list[Block]]],
    repeat: int,
) -> float:
    """Seconds per update of ``update`` over the schedule (``reset`` untimed before each pass; one warm-up pass)."""
    passes: list[list[float]] = []
    was = gc.isenabled()
    for trial in range(repeat + 1):
        reset()
        stamps: list[float] = []
        gc.disable()
        try:
            for _, blocks in schedule:
                stamps.append(time.perf_counter())
                update(blocks)
            stamps.append(time.perf_counter())
        finally:
            if was:
                gc.enable()
        if trial:
            passes.append(stamps)
    return _per_update(passes)


def engine_update_times(
    kit: Simulation,
    schedule: list[tuple[float, list[Block]]],
    make_nodes: Callable[[], list[Node]],
    repeat: int,
    starts: tuple[int, ...] = (0,),
) -> tuple[float, ...]:
    """Seconds per update of ``Engine.run`` over the schedule: poll to poll (fresh engine per pass, built
    untimed), the mean from each of ``starts`` (an update's index) on, from the same passes."""
    passes: list[list[float]] = []
    was = gc.isenabled()
    for trial in range(repeat + 1):  # trial 0 warms up
        stamps: list[float] = []
        engine = Engine([TickSource(kit.streams, schedule, stamps)], make_nodes())
        gc.disable()
        try:
            engine.run()
            stamps.append(time.perf_counter())
        finally:
            if was:
                gc.enable()
        if trial:
            passes.append(stamps)
    return tuple(_per_update(passes, k) for k in starts)


def engine_update_time(
    kit: Simulation,
    schedule: list[tuple[float, list[Block]]],
    make_nodes: Callable[[], list[Node]],
    repeat: int,
) -> float:
    """Seconds per update of ``Engine.run`` over the whole schedule (:func:`engine_update_times`)."""
    return engine_update_times(kit, schedule, make_nodes, repeat)[0]


def check_same(kit: Simulation, schedule: list[tuple[float, list[Block]]]) -> tuple[float, float]:
    """Max |difference| of the EMG envelope (mV) and of the knee angles (deg), nmre vs peer, over the schedule."""
    d, p = DirectChain(kit), None
    p = PeerChain(d)
    de = dk = 0.0
    for _, blocks in schedule:
        ne, nk = d.update(blocks)
        pe, pk = p.update(blocks)
        if ne is not None:
            de = max(de, float(np.max(np.abs(ne.values - pe))))
        if nk is not None and nk.n_samples:
            dk = max(dk, float(np.max(np.abs(nk.values - pk))))
    return de, dk


def run(quick: bool) -> list[Comparison]:
    import ahrs  # noqa: F401  (peer; ImportError -> "skipped")

    kit = kit_sim(reps=2 if quick else 3, seed=7)
    schedule = ticks(kit, PERIOD)
    n = len(schedule)
    de, dk = check_same(kit, schedule)
    assert de < 1e-9 and dk < 1e-6, (de, dk)
    repeat = 3 if quick else 7
    work = f"8 EMG ch x 16 samples + 4 IMUs x 1.6 samples (8 ms), {n} updates"

    direct = DirectChain(kit)
    t_nmre = update_time(direct.reset, direct.update, schedule, repeat)
    peer = PeerChain(direct)
    peer_sched = schedule[: n // 4] if quick else schedule[: n // 2]  # the peer is slow
    t_peer = update_time(peer.reset, peer.update, peer_sched, 2 if quick else 3)
    t_eng = engine_update_time(kit, schedule, lambda: chain_nodes(kit), repeat)

    steady = first_update_at(schedule, STEADY_FROM)

    def drill_times() -> tuple[float, ...]:
        return engine_update_times(
            kit, schedule, lambda: build_drill("squat", kit.streams).nodes, repeat, (0, steady)
        )

    # the squat drill from its file against the old Python squat, alternately (the machine's load moves)
    t_drill, t_drill_steady = drill_times()
    old = old_squat_update_time(quick)
    t_drill, t_drill_steady = (
        min(a, b) for a, b in zip((t_drill, t_drill_steady), drill_times(), strict=True)
    )
    if old is not None:
        again = old_squat_update_time(quick) or old
        old = (min(old[0], again[0]), min(old[1], again[1]))
    peer_name = "scipy sosfilt(zi) + ahrs updateIMU"
    target = f"<= {TARGET_US:.0f} us, >= 10x"
    out = [
        Comparison("live chain per 8 ms update, direct", t_nmre, peer_name, t_peer, work, target),
        Comparison("live chain per update, Engine (same nodes)", t_eng, peer_name, t_peer, work, target),
        Comparison(
            "squat drill per update, Engine",
            t_drill,
            "old Python squat of issue 7 (fixed)",
            OLD_SQUAT_S,
            work,
            "<= 59 us (issue 7)",
        ),
    ]
    if old is not None:
        steady_work = (
            f"the {len(schedule) - steady} updates from {STEADY_FROM:g} s on (calibration done, reps 2-3) "
            f"of the {n} above"
        )
        out += [
            Comparison(
                "squat drill per update, Engine",
                t_drill,
                f"old Python squat ({OLD_SQUAT_COMMIT}), this run",
                old[0],
                work + "; old code from git history, same kit",
                "<= old (ratio >= 1)",
            ),
            Comparison(
                "squat drill per update after calibration, Engine",
                t_drill_steady,
                f"old Python squat ({OLD_SQUAT_COMMIT}), same updates",
                old[1],
                steady_work + "; old code from git history, same kit",
                "<= old (ratio >= 1)",
            ),
        ]
    return out


# -- the old Python squat (before the drills became files), run from the git history ---------------
#: The last commit with the Python squat drill (``src/nmre/drills/squat.py``, ``build_squat``).
OLD_SQUAT_COMMIT = "641140c"
#: Its cost per 8 ms update as issue 7 states it (s).
OLD_SQUAT_S = 59e-6
_OLD_SQUAT_SCRIPT = """
import sys
sys.path.insert(0, "benchmarks")
import numpy as np
import bench_chain as bc
from nmre.drills.squat import build_squat
passes = []
per_update = bc._per_update
def keep(p):
    passes.append(p)
    return per_update(p)
bc._per_update = keep  # the old engine_update_time's passes, for the steady-state mean too
kit = bc.kit_sim(reps={reps}, seed=7)
schedule = bc.ticks(kit, bc.PERIOD)
whole = bc.engine_update_time(kit, schedule, lambda: build_squat(kit.streams).nodes, {repeat})
d = np.min(np.diff(np.asarray(passes[0]), axis=1), axis=0)
k = next((i for i, (at, _) in enumerate(schedule) if at >= {steady}), len(schedule))
print(whole, float(np.mean(d[k:])))
"""


def old_squat_update_time(quick: bool) -> tuple[float, float] | None:
    """Seconds per update of the old Python squat on the same kit, in a subprocess from ``git archive``:
    over the whole schedule and from :data:`STEADY_FROM` on.

    ``None`` (and a line saying why) without git or that commit. The tree is kept in the
    temporary folder, so its numba kernels compile once.
    """
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    dest = Path(tempfile.gettempdir()) / f"nmre-bench-{OLD_SQUAT_COMMIT}"
    try:
        if not (dest / "src" / "nmre" / "drills" / "squat.py").exists():
            dest.mkdir(parents=True, exist_ok=True)
            tar = subprocess.run(
                ["git", "-C", str(repo), "archive", OLD_SQUAT_COMMIT], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
        script = _OLD_SQUAT_SCRIPT.format(
            reps=2 if quick else 3, repeat=3 if quick else 7, steady=STEADY_FROM
        )
        env = {**os.environ, "PYTHONPATH": str(dest / "src")}
        got = subprocess.run(
            [sys.executable, "-c", script], cwd=dest, env=env, capture_output=True, text=True, check=True
        )
        whole, steady = (float(v) for v in got.stdout.strip().splitlines()[-1].split())
        return whole, steady
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError) as exc:
        why = exc.stderr.strip().splitlines()[-1] if getattr(exc, "stderr", None) else exc
        print(f"  old Python squat ({OLD_SQUAT_COMMIT}) not measured: {why}")
        return None


# -- where the time goes (python benchmarks/bench_chain.py) -----------------------------------------
def breakdown(number: int = 20000) -> dict[str, float]:
    """Microseconds per call of each piece of one update (best of 5 x ``number`` calls)."""
    from _harness import best_time
    from nmre.dsp import _emg_kernels as EK
    from nmre.dsp import _imu_kernels as IK
    from nmre.dsp._filter_checks import as_signal
    from nmre.dsp._imu_common import checked_values
    from nmre.dsp._protect import first_bad
    from nmre.dsp.joints import _joint_zoh

    kit = kit_sim(reps=1, seed=7)
    sched = ticks(kit, PERIOD)
    _, blocks = sched[301]  # 2.4 s in, 2 samples per IMU
    two = {b.stream: b for b in blocks}
    emg_b = two[EMG_STREAM]
    imu_b = two[THIGH]
    d = DirectChain(kit)
    d.update(blocks)
    pipe = d.imu[THIGH]
    gb, mw = pipe.bias, pipe.orientation
    q_th = pipe.process(imu_b)
    q_sh = d.imu[SHANK].process(two[SHANK])
    y = np.empty_like(emg_b.values)
    e = d.emg
    out6 = np.empty_like(imu_b.values)
    out4 = np.empty((4, imu_b.n_samples))
    out3 = np.empty((3, imu_b.n_samples))
    kn = d.knee
    tm = np.ascontiguousarray(q_sh.times)

    def us(fn: Callable[[], object]) -> float:
        return best_time(fn, repeat=5, number=number) * 1e6

    r: dict[str, float] = {}
    # the knee's state is reset per call: JointAngle refuses sample times that go back (issue 8.3)
    r["update, direct (whole chain, knee reset per call)"] = us(lambda: (d.knee.reset(), d.update(blocks)))
    r["EmgChain.process (8x16)"] = us(lambda: e.process(emg_b))
    r["  emg_chain_kernel alone"] = us(
        lambda: EK.emg_chain_kernel(
            e.pre_sos,
            e._pre_zi,
            e.env_sos,
            e._env_zi,
            e._ring,
            e._sums,
            e._pos,
            False,
            e._scale,
            emg_b.values,
            y,
        )
    )
    r["  as_signal (input check)"] = us(lambda: as_signal(emg_b.values, 8, "x"))
    # nmre.dsp._protect: the screen every public processor's process() runs first (issue 8.2)
    unscreened = type(e).process.__wrapped__  # type: ignore[attr-defined]
    r["  EmgChain.process without its _protect screen"] = us(lambda: unscreened(e, emg_b))
    lim8 = np.full(8, 10.0)
    r["  _protect first_bad kernel alone (8x16)"] = us(lambda: first_bad(emg_b.values, lim8))
    r["BiasCorrectedOrientation.process (6x2)"] = us(lambda: pipe.process(imu_b))
    r["  GyroBias.process"] = us(lambda: gb.process(imu_b))
    r["  Madgwick.process"] = us(lambda: mw.process(imu_b))
    mw_unscreened = type(mw).process.__wrapped__  # type: ignore[attr-defined]
    r["  Madgwick.process without its _protect screen"] = us(lambda: mw_unscreened(mw, imu_b))
    r["  gyro_bias kernel alone"] = us(lambda: IK.gyro_bias(imu_b.values, gb._params, gb.state, out6))
    r["  madgwick_imu kernel alone"] = us(
        lambda: IK.madgwick_imu(imu_b.values, 1 / 200.0, 0.1, mw.state, out4)
    )
    r["  checked_values (input check)"] = us(lambda: checked_values(imu_b, 6, "x"))
    r["JointAngle.process, proximal + distal"] = us(lambda: (kn.reset(), kn.process(q_th), kn.process(q_sh)))
    r["  _joint_zoh kernel alone"] = us(
        lambda: _joint_zoh(
            tm, q_sh.values, kn._ring_t, kn._ring_q, kn._ptr, kn._cal, kn._signs, kn.max_lag, out3
        )
    )
    r["update, direct, per-update timing"] = update_time(d.reset, d.update, sched, 5) * 1e6
    r["update, Engine, no nodes (loop, poll, stats)"] = engine_update_time(kit, sched, list, 5) * 1e6
    r["update, Engine, live-chain nodes"] = engine_update_time(kit, sched, lambda: chain_nodes(kit), 5) * 1e6
    r["update, Engine, squat drill"] = (
        engine_update_time(kit, sched, lambda: build_drill("squat", kit.streams).nodes, 5) * 1e6
    )
    r["Block(...) construction"] = us(lambda: Block("x", emg_b.times, emg_b.values, 0, 0, 0.0))
    r["np.empty((8, 16))"] = us(lambda: np.empty((8, 16)))
    return r


if __name__ == "__main__":
    for k, v in breakdown().items():
        print(f"{k:<48} {v:7.2f} us")

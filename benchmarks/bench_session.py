"""A 1-hour session of the kit through the whole chain: Engine + the real squat drill, replayed.

Data: ``simulate(SquatConfig(reps=800), seed=3, imu_rate=200, emg_rate=2000)`` (about
3600 s; 5 min with ``--quick``), its 4 EMG channels duplicated into an 8-channel
stream (see ``bench_chain.kit_sim``), 4 IMUs. Generation is not timed: the data is
made once, cut into blocks, then the replay is timed.

Measured (wall seconds per hour of session: the faster of two timed runs, one with
``--quick``, after an untimed warm-up on the first 10 s):

* ``1 s blocks``: a scheduled replay source hands the engine one block per stream and
  second (8 x 2000 EMG, 6 x 200 per IMU), prepared before timing; the engine runs the
  squat drill's every node (orientation of trunk/thigh/shank, knee and trunk angles,
  EMG guard, envelope and onset conditioning/detection on 8 channels, rules, rep segmenter,
  feedback schedule) and a MemorySink. Compared with (a) the same EMG-envelope +
  orientation + knee chain on scipy + ahrs in 1 s blocks, timed on the first 60 s
  (20 s quick) and extrapolated (it does no guard, onsets or rules); (b) real time.
* ``live packets``: ``SimSource`` with BLE-sized packets (16 EMG samples, 2 IMU
  samples, 15 ms connection events) over the first 600 s (120 s quick), scaled to the
  session length; compared with real time.
"""

from __future__ import annotations

import gc
import time

from _harness import Comparison
from bench_chain import DirectChain, PeerChain, TickSource, kit_sim, ticks
from nmre.drills import build_drill
from nmre.engine import Engine
from nmre.feedback.sinks import MemorySink
from nmre.sim import SimSource

TARGET_S = 5.0


def _engine_run(source_factory, sim, until: float | None = None) -> tuple[float, Engine]:  # type: ignore[no-untyped-def]
    engine = Engine([source_factory()], build_drill("squat", sim.streams).nodes, [MemorySink()])
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        engine.run(until=until)
        wall = time.perf_counter() - t0
    finally:
        if was:
            gc.enable()
    return wall, engine


def run(quick: bool) -> list[Comparison]:
    import ahrs  # noqa: F401  (peer; ImportError -> "skipped")

    sim = kit_sim(reps=67 if quick else 800, seed=3)
    sched = ticks(sim, 1.0)
    seconds = len(sched)  # whole seconds replayed

    # warm-up (numba cache loads, first-call paths), untimed
    _engine_run(lambda: TickSource(sim.streams, sched[:10]), sim)
    wall, engine = _engine_run(lambda: TickSource(sim.streams, sched), sim)
    if not quick:  # a second run: the machine is shared, keep the faster
        wall = min(wall, _engine_run(lambda: TickSource(sim.streams, sched), sim)[0])
    reps = sum(1 for e in engine.events if e.kind == "rep.end")
    cost = engine.stats.cost
    print(
        f"  1 s blocks: {seconds} s replayed in {wall:.2f} s ({seconds / wall:.0f}x real time), "
        f"{engine.stats.blocks} blocks, {reps} reps found of {sim.config.reps}, "  # type: ignore[union-attr]
        f"cost per block mean {cost.mean * 1e3:.2f} ms, max {cost.max * 1e3:.1f} ms"
    )

    peer_s = 20 if quick else 60
    peer = PeerChain(DirectChain(sim))
    peer_part = sched[:peer_s]
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _, blocks in peer_part:
            peer.update(blocks)
        t_peer = (time.perf_counter() - t0) * seconds / peer_s  # extrapolated to the replayed length
    finally:
        gc.enable()

    live_s = 120.0 if quick else 600.0
    _engine_run(lambda: SimSource(sim, emg_block=16, imu_block=2), sim, until=10.0)
    live_wall, live_engine = _engine_run(lambda: SimSource(sim, emg_block=16, imu_block=2), sim, until=live_s)
    t_live = live_wall * seconds / live_s
    print(
        f"  live packets: {live_s:.0f} s in {live_wall:.2f} s ({live_s / live_wall:.0f}x real time), "
        f"{live_engine.stats.blocks} blocks, cost per block mean {live_engine.stats.cost.mean * 1e6:.1f} us"
    )
    per_h = 3600.0 / seconds  # every figure is per hour of session
    kit = "8 EMG ch at 2 kHz + 4 IMUs at 200 Hz, per hour"
    return [
        Comparison(
            "session, Engine + squat drill, 1 s blocks",
            wall * per_h,
            f"scipy+ahrs chain, 1 s blocks, from {peer_s} s",
            t_peer * per_h,
            f"{kit} (replayed {seconds} s)",
            f"< {TARGET_S:.0f} s",
        ),
        Comparison(
            "session, Engine + squat drill, 1 s blocks",
            wall * per_h,
            "real time",
            3600.0,
            f"{kit} (replayed {seconds} s)",
            "> 700x",
        ),
        Comparison(
            "session, Engine + squat drill, live packets",
            t_live * per_h,
            "real time",
            3600.0,
            f"{kit} (replayed {live_s:.0f} s)",
            "informative",
        ),
    ]

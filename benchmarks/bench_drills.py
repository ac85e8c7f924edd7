"""Every library drill's cost per 8 ms update through the engine, against the old Python squat (issue 7).

The drills are those ``nmre.drills.list_drills()`` returns when the benchmark runs
(a drill added to the library is measured without a change here). Each drill runs
on the simulator performing its own movement (``nmre.sim.MOVEMENTS[spec.movement]``
with its default configuration, seed 3) with the ``"full"`` kit of that movement,
IMUs at 200 Hz and EMG at 2 kHz, cut into 8 ms updates as in ``bench_chain``
(one update: 16 EMG samples per EMG stream and 1 or 2 samples per IMU), over the
first 30 s of the session (12 s with ``--quick``). The drill is built from its
file (``build_drill``) with the quality monitor and every node it makes; timing
as ``bench_chain.engine_update_time`` (each update's fastest of several passes).

Peer: the old Python squat of issue 7 ("about 59 us per 8 ms update here",
``build_squat`` before the drills became files), a fixed figure: the goal is that
no drill costs more per update than it did. ``bench_chain`` measures the squat
drill on the 8-channel kit of that figure, side by side with the old Python squat
run from the git history in the same benchmark run.
"""

from __future__ import annotations

from _harness import Comparison
from bench_chain import PERIOD, engine_update_time, ticks
from nmre.drills import build_drill, list_drills, load_drill
from nmre.errors import NmreError
from nmre.sim import MOVEMENTS, simulate

#: The old Python squat's cost per 8 ms update, as issue 7 states it (s).
OLD_SQUAT_S = 59e-6


def drill_session(name: str, seconds: float, seed: int = 3):  # type: ignore[no-untyped-def]
    """``(spec, sim, schedule)``: the drill's file, its movement simulated, and its first ``seconds`` in 8 ms updates."""
    spec = load_drill(name)
    if spec.movement not in MOVEMENTS:
        raise KeyError(f"the simulator performs no movement {spec.movement!r}")
    sim = simulate(MOVEMENTS[spec.movement](), seed, kit="full", imu_rate=200.0, emg_rate=2000.0)
    build_drill(spec, sim.streams)  # a drill that cannot run on the kit says why here
    sched = ticks(sim, PERIOD)
    return spec, sim, sched[: round(seconds / PERIOD)]


def run(quick: bool) -> list[Comparison]:
    seconds = 12.0 if quick else 30.0
    repeat = 3 if quick else 5
    out: list[Comparison] = []
    for name in list_drills():
        try:
            spec, sim, sched = drill_session(name, seconds)
        except (NmreError, KeyError) as exc:
            print(f"  drill {name}: skipped: {exc}")
            continue
        t = engine_update_time(
            sim, sched, lambda spec=spec, sim=sim: build_drill(spec, sim.streams).nodes, repeat
        )
        kit = ", ".join(
            f"{s.id} {s.n_channels}x{round(s.rate * PERIOD)}" if s.rate * PERIOD >= 2 else s.id
            for s in sim.streams
        )
        n_nodes = len(build_drill(spec, sim.streams).nodes)
        out.append(
            Comparison(
                f"drill {name} per 8 ms update, Engine",
                t,
                "old Python squat (issue 7)",
                OLD_SQUAT_S,
                f"{spec.movement}, {len(sched)} updates, {n_nodes} nodes; {kit}",
                "<= 59 us",
            )
        )
    return out

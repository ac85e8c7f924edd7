"""Running suite cases: one simulated session through the real engine and drill, scored against the body.

Each case runs on the virtual clock through :class:`nmre.sim.SimSource` (BLE-like
packets, connection events, packet loss) and the drill built from the
library, exactly as ``nmre demo`` would run it. Cases are independent; across
processes (``workers``) results come back in case order, so a run's numbers do
not depend on how many processes made them. A case that raises becomes a
:class:`~nmre.eval.model.CaseFailure` with its name and seed.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence

from nmre.core.interfaces import Source
from nmre.eval.cases import Case
from nmre.eval.drills_view import full_kit_rules, rules_of
from nmre.eval.model import CaseFailure, CaseResult
from nmre.eval.score import score
from nmre.eval.simcase import Session, build_session

__all__ = ["run_case", "run_cases"]


def _source(case: Case, session: Session) -> Source:
    from nmre.sim import SimSource

    drops = [session.dropout] if session.dropout is not None else []
    return SimSource(session.sim, seed=case.seed, loss=case.loss, dropouts=drops)


def run_case(case: Case) -> CaseResult:
    """Simulate, run and score one case. Never raises for a failing case: the failure is the result."""
    wall0 = time.perf_counter()
    try:
        from nmre.core.clock import VirtualClock
        from nmre.drills import build_drill
        from nmre.engine import Engine
        from nmre.feedback.schedule import make_schedule
        from nmre.feedback.sinks import MemorySink
        from nmre.sim import simulate  # noqa: F401 - the simulator must import before a case can run

        session = build_session(case, full_kit_rules(case.drill))
        drill = build_drill(case.drill, session.streams)
        rules = rules_of(drill)
        sink = MemorySink()
        engine = Engine(
            [_source(case, session)],
            drill.nodes,
            [sink],
            clock=VirtualClock(),
            schedule=make_schedule("continuous"),
        )
        stats = engine.run()
        obs, counts = score(
            case.index, rules, session.units, session.events, sink.events, session.window_truth
        )
        duration = stats.session_seconds if math.isfinite(stats.session_seconds) else session.sim.duration
        return CaseResult(case.index, duration, obs, counts, rules, wall=time.perf_counter() - wall0)
    except Exception as exc:  # a failing case is reported with its seed, never hidden
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        failure = CaseFailure(case.index, case.name, case.seed, f"{type(exc).__name__}: {exc}{where}")
        return CaseResult(case.index, 0.0, [], {}, [], failure, time.perf_counter() - wall0)


def _init_worker() -> None:
    from nmre.dsp import warmup

    warmup()


def run_cases(
    cases: Sequence[Case],
    workers: int | None = None,
    progress: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run ``cases`` (in ``workers`` processes; default: the CPUs available) and return results in case order."""
    n = workers if workers is not None else max(1, min(len(os.sched_getaffinity(0)), 2))
    n = min(n, len(cases))  # a worker with no case to run is a process for nothing
    results: list[CaseResult] = []

    def collect(it: Iterator[CaseResult]) -> None:
        for r in it:
            results.append(r)
            if progress is not None:
                progress(r)

    if n <= 1 or len(cases) <= 1:
        _init_worker()
        collect(run_case(c) for c in cases)
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(n, initializer=_init_worker) as pool:
            collect(pool.imap(run_case, cases, chunksize=1))
    return results

"""The engine closes a set with the schedule's remainder and answers feedback requests on time."""

from __future__ import annotations

from nmre.core import kinds
from nmre.demo import DemoOptions, run_demo
from nmre.drills import build_drill
from nmre.engine import Engine
from nmre.feedback.schedule import SelfControlled
from nmre.feedback.sinks import MemorySink
from nmre.sim import SimSource, SquatConfig, simulate


def cues(events):
    return [(round(e.time, 2), e.patient_message) for e in events if e.kind == kinds.FEEDBACK_CUE]


def test_summary_of_three_reps_is_said_at_the_end_of_the_set():
    r = run_demo(DemoOptions(reps=3, schedule="summary"))
    got = [m for _, m in cues(r.events)]
    assert got == ["2 of 3 reps on target. Focus: Go a little deeper"]  # rep 3 is shallow by default


def test_twelve_reps_summarised_as_five_five_and_two():
    r = run_demo(DemoOptions(reps=12, schedule="summary"))
    got = [m.split(" reps")[0] for _, m in cues(r.events)]
    assert got == ["4 of 5", "3 of 5", "2 of 2"]  # shallow reps 3, 6 and 9 by default


def test_self_controlled_requests_release_the_latest_verdict_at_the_requested_time():
    sim = simulate(SquatConfig(reps=4, errors={2: ("shallow_squat",)}), seed=1)
    schedule = SelfControlled()
    for t in (1.0, 12.0, 15.5):
        schedule.request(t)
    sink = MemorySink()
    Engine([SimSource(sim)], build_drill("squat", sim.streams).nodes, [sink], schedule=schedule).run()
    got = cues(sink.events)
    assert [m for _, m in got] == ["No rep finished yet", "Good depth", "Go a little deeper"]
    assert [t for t, _ in got] == [1.0, 12.0, 15.5]
    reps_end = [e.time for e in sink.events if e.kind == kinds.REP_END]
    assert reps_end[1] < 12.0 < reps_end[2] < 15.5  # rep 2 was the latest at 12 s, rep 3 at 15.5 s

"""A set stopped part-way, through the engine: the therapist presses stop, the source runs out, a run ends early.

The drill closes the set it was in with ``set.end`` (``partial: true``, the units done so far) and a
progression suggestion read on what was done; the tallies are checked against the rule outcomes the
engine recorded, counted here.
"""

from __future__ import annotations

import pytest

from nmre.core import kinds
from nmre.core.clock import VirtualClock
from nmre.core.interfaces import Sink
from nmre.drills import build_drill, load_drill
from nmre.engine import Engine
from nmre.feedback.sinks import MemorySink
from nmre.sim import MOVEMENTS, SimSource, simulate

pytestmark = pytest.mark.timeout(300)


class StopAfter(Sink):
    """Presses stop (``engine.stop()``) when the ``n``-th unit has ended, as the therapist's button does."""

    def __init__(self, n: int, kind: str = kinds.REP_END) -> None:
        self.n, self.kind, self.seen, self.engine = n, kind, 0, None

    def on_event(self, event):
        if event.kind == self.kind:
            self.seen += 1
            if self.seen == self.n:
                self.engine.stop()


def session(reps, *, seed=3, settings=None, stop=None, until=None):
    spec = load_drill("squat")
    sim = simulate(MOVEMENTS["squat"](reps=reps, errors={}), seed=seed)
    drill = build_drill(spec, sim.streams, settings=settings)
    mem = MemorySink()
    sinks = [mem] + ([stop] if stop is not None else [])
    engine = Engine([SimSource(sim, seed=seed)], drill.nodes, sinks, clock=VirtualClock())
    if stop is not None:
        stop.engine = engine
    engine.run(until=until)
    return sim, mem.events


def tally(events, reps):
    """(on target, off target) of the reps ``reps`` from the rule outcomes (a rep is off when any check failed)."""
    on = off = 0
    for k in reps:
        oks = [e.payload["ok"] for e in events if kinds.is_outcome(e.kind) and e.payload.get("rep") == k]
        if oks:
            on, off = (on + 1, off) if all(oks) else (on, off + 1)
    return on, off


def of(events, kind):
    return [e for e in events if e.kind == kind]


def test_a_session_shorter_than_a_set_ends_with_a_partial_set_and_a_suggestion_on_what_was_done():
    _sim, events = session(4)
    ends, sugg = of(events, kinds.SET_END), of(events, kinds.PROGRESSION_SUGGESTION)
    assert len(ends) == 1 and len(sugg) == 1
    s = ends[0].payload
    reps = [e.payload["rep"] for e in of(events, kinds.REP_END)]
    assert reps == [1, 2, 3, 4]
    assert s["partial"] is True and s["units"] == 4 and s["per_set"] == 10 and s["set"] == 1
    assert (s["on_target"], s["off_target"]) == tally(events, reps)
    assert s["on_target"] + s["off_target"] + s["unjudged"] == 4
    p = sugg[0].payload
    assert p["partial"] is True and p["decision"] == "stay" and "stopped after 4 of 10 reps" in p["reason"]
    assert ends[0].time >= of(events, kinds.REP_END)[-1].time  # at the session's end, after the last rep


def test_stop_pressed_after_the_third_rep_closes_the_set_with_three_reps():
    stop = StopAfter(3)
    _sim, events = session(6, stop=stop)
    rep_ends = of(events, kinds.REP_END)
    assert len(rep_ends) == 3  # the engine stopped after the block that ended rep 3
    (end,) = of(events, kinds.SET_END)
    assert end.payload["partial"] is True and end.payload["units"] == 3
    assert (end.payload["on_target"], end.payload["off_target"]) == tally(events, [1, 2, 3])
    assert "stopped after 3 of 10 reps" in end.therapist_message


def test_a_rep_under_way_at_the_stop_is_not_counted_and_said():
    sim = simulate(MOVEMENTS["squat"](reps=3, errors={}), seed=3)
    third = sim.truth.of("rep")[2]
    _sim, events = session(3, until=(third.start + third.end) / 2)
    (end,) = of(events, kinds.SET_END)
    assert end.payload["units"] == 2 and end.payload["unfinished"] == 1
    assert "one rep under way, not counted" in of(events, kinds.PROGRESSION_SUGGESTION)[0].payload["reason"]


def test_full_sets_are_not_partial_and_the_set_after_them_is():
    # two reps a set: sets 1 and 2 full, set 3 stopped after its first rep
    _sim, events = session(5, settings={"structure.per_set": 2})
    ends = of(events, kinds.SET_END)
    assert [(e.payload["set"], e.payload["units"], e.payload["partial"]) for e in ends] == [
        (1, 2, False),
        (2, 2, False),
        (3, 1, True),
    ]
    assert "per_set" not in ends[0].payload
    for e, reps in zip(ends, ([1, 2], [3, 4], [5]), strict=True):
        assert (e.payload["on_target"], e.payload["off_target"]) == tally(events, reps)


def test_a_partial_set_never_advances_a_level_but_says_the_criteria_were_met_on_it():
    # level 1 (mini squat) and a range wide enough that every simulated rep is on target: set 2 meets
    # the advance criterion (>= 80 % in each of the last 2 sets), and so does the partial set 3
    wide = {"squat_depth.lo": 30.0, "squat_depth.hi": 150.0, "structure.per_set": 2}
    spec = load_drill("squat")
    sim = simulate(MOVEMENTS["squat"](reps=5, errors={}), seed=3)
    drill = build_drill(spec, sim.streams, level=1, settings=wide)
    mem = MemorySink()
    Engine([SimSource(sim, seed=3)], drill.nodes, [mem], clock=VirtualClock()).run()
    sugg = of(mem.events, kinds.PROGRESSION_SUGGESTION)
    ends = of(mem.events, kinds.SET_END)
    assert all(e.payload["off_target"] == 0 and e.payload["on_target"] > 0 for e in ends), ends
    assert [p.payload["decision"] for p in sugg] == ["stay", "advance", "stay"]
    last = sugg[-1].payload
    assert last["partial"] is True and last["next_level"] == 1
    assert (
        "advancing needs whole sets" in last["reason"] and "set 3 stopped after 1 of 2 reps" in last["reason"]
    )


def test_a_partial_set_can_step_back():
    # every rep too shallow for the band: the first, partial set has no rep on target (< 50 %: step back)
    _sim, events = session(3, settings={"squat_depth.lo": 140.0, "squat_depth.hi": 150.0})
    (p,) = of(events, kinds.PROGRESSION_SUGGESTION)
    assert p.payload["partial"] is True
    assert p.payload["decision"] == "step_back" and p.payload["next_level"] == 1


def test_a_stop_before_any_rep_ends_no_set():
    sim = simulate(MOVEMENTS["squat"](reps=2, errors={}), seed=3)
    _sim, events = session(2, until=sim.truth.of("rep")[0].start)
    assert of(events, kinds.SET_END) == [] and of(events, kinds.PROGRESSION_SUGGESTION) == []

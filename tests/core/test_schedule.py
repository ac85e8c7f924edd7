import pytest

from nmre import Event
from nmre.errors import ConfigError
from nmre.feedback.schedule import (
    Bandwidth,
    Continuous,
    Faded,
    Retention,
    SelfControlled,
    Summary,
    make_schedule,
)


def outcome(rep, ok, msg=None):
    return Event(
        float(rep),
        "rule.squat_depth",
        "rule.squat_depth",
        {"ok": ok, "rep": rep},
        patient_message=msg or ("Good" if ok else "Go deeper"),
    )


def rep_end(rep):
    return Event(float(rep), "rep.end", "reps", {"rep": rep})


def finish(schedule, event):
    """Deliver an outcome and its rep's end, as the engine does; return the cues released."""
    return schedule.on_event(event) + schedule.on_event(rep_end(event.payload["rep"]))


def released(schedule, oks):
    return [len(finish(schedule, outcome(i, ok))) for i, ok in enumerate(oks)]


def test_non_outcomes_never_release_cues():
    for s in (Continuous(), Bandwidth(), Faded(), Summary(1)):
        assert s.on_event(Event(0.0, "rep.end", "reps", {"rep": 0})) == []
        assert s.on_event(Event(0.0, "rule.x", "r", {"ok": "yes"})) == []  # ok must be a bool


def test_continuous_and_bandwidth():
    oks = [True, False, True, False]
    assert released(Continuous(), oks) == [1, 1, 1, 1]
    assert released(Bandwidth(), oks) == [0, 1, 0, 1]
    cue = finish(Bandwidth(), outcome(3, False))[0]
    assert (cue.tone, cue.message, cue.time) == ("correct", "Go deeper", 3.0)


def test_one_message_per_rep_first_failure_in_rule_order_wins():
    s = Continuous()
    depth_ok = outcome(1, True, "Good depth")
    lean = Event(
        1.0, "rule.trunk_lean", "rule.trunk_lean", {"ok": False, "rep": 1}, patient_message="Chest up"
    )
    valgus = Event(
        1.0, "rule.knee_valgus", "rule.knee_valgus", {"ok": False, "rep": 1}, patient_message="Knee out"
    )
    assert s.on_event(depth_ok) == [] and s.on_event(lean) == [] and s.on_event(valgus) == []
    (cue,) = s.on_event(rep_end(1))
    assert cue.message == "Chest up"
    # all checks passed: the first rule's praise
    assert [c.message for c in s.on_event(depth_ok) + s.on_event(rep_end(1))] == ["Good depth"]
    # a new rep's outcome closes a group whose rep.end never came
    s.on_event(outcome(2, False))
    assert [c.message for c in s.on_event(outcome(3, True))] == ["Go deeper"]
    # outcomes without a rep (balance windows) are decided at once
    assert len(s.on_event(Event(5.0, "rule.sway", "rule.sway", {"ok": False}, patient_message="Steady"))) == 1


def test_faded_gives_less_feedback_as_the_patient_succeeds():
    s = Faded(start=1.0, step=0.25, floor=0.25)
    got = released(s, [True] * 12)
    assert got[0] == 1 and sum(got[:4]) > sum(got[8:])  # frequency falls
    assert s.fraction == 0.25
    # misses raise the frequency again
    released(s, [False] * 3)
    assert s.fraction == 1.0


def test_summary_every_n_reps_counts_targets_and_names_the_main_fix():
    s = Summary(every=3)
    assert finish(s, outcome(0, True)) == []
    assert finish(s, outcome(1, False, "Go deeper")) == []
    (cue,) = finish(s, outcome(2, False, "Go deeper"))
    assert cue.message == "1 of 3 reps on target. Focus: Go deeper"


def test_self_controlled_releases_only_on_request_and_retention_never():
    s = SelfControlled()
    assert finish(s, outcome(0, False)) == []
    s.request()
    (cue,) = s.on_event(Event(1.0, "tick", "x"))
    assert cue.message == "Go deeper"
    assert released(Retention(), [True, False]) == [0, 0]


@pytest.mark.parametrize("bad", [dict(start=1.5), dict(step=-0.1), dict(floor=2)])
def test_faded_rejects_fractions_outside_0_1(bad):
    with pytest.raises(ConfigError, match=r"fraction in \[0, 1\]"):
        Faded(**bad)


def test_make_schedule_names_the_choices():
    assert make_schedule("bandwidth").name == "bandwidth"
    with pytest.raises(ConfigError, match="one of continuous, bandwidth"):
        make_schedule("sometimes")
    with pytest.raises(ConfigError):
        Summary(0)


# -- issue 8.8: remainders, windows, safety, requests; not judged is never a verdict ------------
def unjudged(rep):
    return Event(float(rep), "rep.unjudged", "rule.squat_depth", {"rep": rep}, patient_message="Keep going")


def window(t, ok):
    return Event(
        t, "rule.sway", "rule.sway", {"ok": ok}, patient_message="Steady" if ok else "Find a still point"
    )


def test_summary_reports_the_reps_left_after_the_last_full_group_at_the_end_of_the_set():
    s = Summary(every=5)
    cues = [c.message for i in range(12) for c in finish(s, outcome(i, i % 4 != 3))]
    assert cues == ["4 of 5 reps on target. Focus: Go deeper", "4 of 5 reps on target. Focus: Go deeper"]
    # reps 11 and 12 are said when the set ends (the engine calls end() when the session stops)
    assert [c.message for c in s.end(12.0)] == ["1 of 2 reps on target. Focus: Go deeper"]
    assert s.end(13.0) == []  # nothing owed twice
    three = Summary(every=5)
    for i in range(3):
        finish(three, outcome(i, True))
    assert [c.message for c in three.on_event(Event(3.5, "set.end", "drill"))] == ["3 of 3 reps on target"]


def test_summary_of_balance_windows_calls_them_windows():
    s = Summary(every=2)
    assert s.on_event(window(5.0, True)) == []
    (cue,) = s.on_event(window(10.0, False))
    assert cue.message == "1 of 2 windows on target. Focus: Find a still point"
    s.on_event(window(15.0, True))
    assert [c.message for c in s.end(16.0)] == ["1 of 1 window on target"]


def test_safety_cues_are_never_held_back_by_any_schedule():
    fall = Event(
        30.0, "rule.loss_of_balance", "rule.loss_of_balance", {"ok": False, "error": "loss_of_balance"},
        patient_message="Reset your stance",
    )  # fmt: skip
    flagged = Event(31.0, "rule.x", "rule.x", {"ok": False, "safety": True}, patient_message="Stop")
    for name in ("continuous", "bandwidth", "faded", "summary", "self-controlled", "retention"):
        s = make_schedule(name)
        for ev in (fall, flagged):
            (cue,) = s.on_event(ev)
            assert (cue.message, cue.tone, cue.time) == (ev.patient_message, "alert", ev.time), name


def test_a_rep_that_was_not_judged_is_neither_a_success_nor_a_correction():
    c = Continuous()
    assert c.on_event(unjudged(1)) == []
    (cue,) = c.on_event(rep_end(1))
    assert (cue.message, cue.tone) == ("Keep going", "info")
    # a rep with one judged check and one unjudged: the judged check speaks
    assert c.on_event(unjudged(2)) == [] and c.on_event(outcome(2, False)) == []
    assert [x.message for x in c.on_event(rep_end(2))] == ["Go deeper"]
    assert Bandwidth().on_event(unjudged(3)) + Bandwidth().on_event(rep_end(3)) == []
    f = Faded()
    before = f.fraction
    f.on_event(unjudged(1))
    f.on_event(rep_end(1))
    assert f.fraction == before  # the fading credit did not move
    s = Summary(every=3)
    finish(s, outcome(0, True))
    s.on_event(unjudged(1))
    s.on_event(rep_end(1))
    (cue,) = finish(s, outcome(2, False, "Go deeper"))
    assert cue.message == "1 of 2 reps on target, 1 not measured. Focus: Go deeper"


def test_self_controlled_answers_each_request_at_its_time_with_the_latest_verdict():
    s = SelfControlled()
    s.request(2.5)
    assert s.poll(2.0) == []
    (cue,) = s.poll(2.6)  # nothing judged yet: it says so rather than staying silent
    assert (cue.message, cue.time, cue.tone) == ("No rep finished yet", 2.5, "info")
    finish(s, outcome(3, False))
    s.request(4.0)
    s.request(5.0)
    assert [c.message for c in s.poll(4.5)] == ["Go deeper"]
    finish(s, outcome(4, True))
    assert [(c.message, c.time) for c in s.poll(6.0)] == [("Good", 5.0)]
    assert s.poll(7.0) == []  # each request answered once
    other = Continuous()
    other.request(1.0)
    assert other.poll(2.0) == []  # only the self-controlled schedule answers requests
    with pytest.raises(ConfigError, match="session time"):
        s.request(float("nan"))

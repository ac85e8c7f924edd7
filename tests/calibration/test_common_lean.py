"""The common-lean heading correction as a calibration step (nmre.calibration.imu.CommonLeanHeading): its
event and record entry when the trunk leans with the arm held against the side, a note for the therapist
when the first rep starts without it."""

from __future__ import annotations

import numpy as np
import pytest
from tests.dsp.test_upper_limb import _lean_session, quat

from nmre.calibration import Calibration
from nmre.calibration.imu import CommonLeanHeading
from nmre.core import kinds
from nmre.core.model import Block, Event
from nmre.dsp.upper_limb import HumeralElevation


def _run(follow: float, lean_deg: float = 12.0) -> tuple[HumeralElevation, CommonLeanHeading, list[Event]]:
    """The constructed session of tests/dsp/test_upper_limb.py (the arm hanging turned 55 deg about its long
    axis; a lean over 1-4 s; the first rep from 5 s) through the processor and the step, with rep.start at
    5.0 s raised once the streams have reached it."""
    t, trunk, arm, _ = _lean_session(follow, lean_deg)
    qt, qa = quat(trunk), quat(arm)
    proc = HumeralElevation("orient.trunk", "orient.arm")
    rec = Calibration()
    step = CommonLeanHeading(proc, record=rec)
    events: list[Event] = []
    rep_raised = False
    for i in range(0, t.shape[0], 7):
        sl = slice(i, i + 7)
        proc.process(Block("orient.trunk", t[sl].copy(), np.ascontiguousarray(qt[:, sl])))
        out = proc.process(Block("orient.arm", t[sl].copy(), np.ascontiguousarray(qa[:, sl])))
        if i + 7 >= 100 and i < 100:
            proc.set_calibration(None, None)  # the neutral pose, 0-1 s
        if i >= 100:
            step.push(out)
        if not rep_raised and t[sl][-1] >= 5.0:
            rep_raised = True
            step.on_event(Event(5.0, kinds.REP_START, "reps", {"rep": 1}))
        events += step.pop_events()
    return proc, step, events


def test_a_common_lean_raises_its_correction_and_enters_the_record() -> None:
    proc, step, events = _run(1.0)
    assert [e.kind for e in events] == [kinds.CALIBRATION_COMMON_LEAN]
    ev = events[0]
    assert abs(ev.payload["correction_deg"] + 55.0) < 0.5  # the arm's 55 deg turn at rest
    assert ev.payload["correction_deg"] == pytest.approx(proc.common_lean.correction_deg, abs=0.01)
    # the samples where the trunk was >= 6 deg from the vertical, inside the 1-4 s lean
    assert ev.payload["samples"] >= 20
    assert 1.0 < ev.payload["start"] < ev.payload["end"] < 4.0
    assert ev.payload["end"] <= ev.time < 5.0  # applied once the trunk was back upright, before the rep
    assert "heading" in ev.therapist_message and "-55." in ev.therapist_message
    assert step.done and step.done_at == ev.time
    entry = step.record.heading["orient.arm"]
    assert entry.correction_deg == ev.payload["correction_deg"] and entry.proximal == "orient.trunk"
    # stored with the session: the record's JSON and the events give it back
    back = Calibration.from_json(step.record.to_json())
    assert back.heading == step.record.heading
    assert Calibration.from_events(events).heading == step.record.heading


@pytest.mark.parametrize(("follow", "lean"), [(1.0, 0.0), (0.0, 12.0)])
def test_a_first_rep_without_the_lean_raises_the_not_calibrated_note(follow: float, lean: float) -> None:
    """No lean at all, or a lean with the arm left hanging (not taken): at rep 1 the therapist is told."""
    proc, step, events = _run(follow, lean)
    assert proc.common_lean.correction_deg is None
    assert [e.kind for e in events] == [kinds.CALIBRATION_FAILED]
    ev = events[0]
    assert ev.time == 5.0 and ev.payload["step"] == "common_lean" and ev.payload["samples"] < 20
    assert ev.therapist_message.startswith("Arm-trunk heading not calibrated")
    assert "less accurately while the trunk leans" in ev.therapist_message
    assert not step.record.heading and "heading" not in step.record.to_dict()


def test_a_record_without_a_heading_reads_and_writes_as_before() -> None:
    rec = Calibration()
    assert "heading" not in rec.to_dict() and rec.is_empty
    assert Calibration.from_json(rec.to_json()) == rec

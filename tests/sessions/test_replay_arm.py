"""Replay of the arm drills in other blocks: no event changes but ``detected_at`` (issue 10, point 3).

The humeral and girdle elevation pair each arm (scapula) sample with the trunk (humeral) sample at or before
its time, and the common-lean heading correction is found and applied at a sample, not a block: before, the
trunk's newest sample was held over each arm block and the humeral's over each scapula block, and a replay
in 0.5 s blocks flipped a shrug verdict (peak girdle elevation 11.5 vs 21.4 deg) and took another common
lean (150 vs 110 samples)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from nmre.core import kinds
from nmre.drills import build_drill
from nmre.engine import Engine
from nmre.feedback.sinks import MemorySink
from nmre.sessions import XdfRecorder
from nmre.sessions.replay import replay
from nmre.sim import MOVEMENTS, SimSource, simulate

#: The scaption kit without its EMG: the UT:LT ratio's envelope is not part of this fix (its rule is dropped).
SCAPTION_IMUS = ["imu:trunk", "imu:upper_arm", "imu:scapula"]
SESSIONS = {
    "shoulder_scaption": (
        {1: "insufficient_elevation", 2: "shoulder_shrug", 3: "trunk_compensation"},
        SCAPTION_IMUS,
    ),
    "pnf_d2_flexion": ({2: "incomplete_range", 3: "off_pattern"}, "full"),
}


@pytest.fixture(scope="module", params=sorted(SESSIONS))
def arm_recording(request, tmp_path_factory):
    drill = request.param
    errors, kit = SESSIONS[drill]
    sim = simulate(MOVEMENTS[drill](reps=5, errors=errors), seed=4, kit=kit, strap_deg=10.0)
    d = build_drill(drill, sim.streams)
    path = tmp_path_factory.mktemp("rec") / f"{drill}.xdf"
    meta = {"drill": {"name": d.name, "settings": d.settings}}
    Engine(
        [SimSource(sim, seed=4)], d.nodes, [MemorySink(), XdfRecorder(path, meta)], schedule=d.make_schedule()
    ).run()
    return drill, path


def _canon(events):
    return sorted(dataclasses.replace(e, detected_at=math.nan).to_json() for e in events)


def test_the_arm_drills_replayed_in_other_blocks_change_no_event_but_detected_at(arm_recording):
    drill, path = arm_recording
    small = replay(path, {"block_seconds": 0.05}).events
    large = replay(path, {"block_seconds": 0.5}).events
    judged = [e for e in small if e.kind.startswith(kinds.RULE) and "ok" in e.payload]
    assert len(judged) >= 10, [e.kind for e in small]
    assert any(not e.payload["ok"] for e in judged)  # the errors are found, so verdicts are at stake
    if drill == "shoulder_scaption":
        assert any(e.kind == kinds.rule("shrug") for e in judged)  # the girdle path is exercised
        assert [e for e in small if e.kind == "calibration.common_lean"]  # and the common lean found
    assert _canon(large) == _canon(small)
    assert [e.detected_at for e in large] != [e.detected_at for e in small]

"""The EMG-envelope drills give the same events in any split of the recording into blocks (issue 10, point 3).

The contraction level, the relaxation level, the EMG reference (the peak 1 s mean of an MVC) and the
muscle ratios over a rep (VMO:VL while the knee is near straight) are measured over the samples of a
unit by their times: a session recorded live from the simulator's packets and replayed in 0.05 s,
0.1 s, 0.5 s and 1.5 s blocks gives the same events except ``detected_at``; the EMG contraction session
gives them as recorded live too. (The seated knee extension's angle, an IMU chain, differs between the
live packets and any replay in blocks: its heading is aligned where both sensors' first orientations
arrive; not this test's subject.)
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from nmre.core import kinds
from nmre.core.clock import VirtualClock
from nmre.drills import build_drill, load_drill
from nmre.engine import Engine
from nmre.feedback.sinks import MemorySink
from nmre.sessions import XdfRecorder
from nmre.sessions.replay import replay
from nmre.sim import MOVEMENTS, SimSource, simulate

SESSIONS = {
    "emg_contraction": ({2: ("incomplete_relaxation",), 3: ("weak_contraction",)}, {"cycles": 4}),
    "knee_extension_seated": ({3: ("low_vmo_ratio",)}, {"reps": 4}),
}


def _canon(events):
    return sorted(dataclasses.replace(e, detected_at=math.nan).to_json() for e in events)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_emg_drills_replayed_in_other_blocks_change_no_event_but_detected_at(name, tmp_path):
    errors, cfg = SESSIONS[name]
    spec = load_drill(name)
    sim = simulate(MOVEMENTS[spec.movement](errors=errors, **cfg), seed=5)
    drill = build_drill(spec, sim.streams)
    path = tmp_path / f"{name}.xdf"
    meta = {"drill": {"name": drill.name, "settings": drill.settings}}
    mem = MemorySink()
    Engine([SimSource(sim, seed=5)], drill.nodes, [mem, XdfRecorder(path, meta)], clock=VirtualClock()).run()
    base = replay(path, {"block_seconds": 0.1}).events
    if name == "emg_contraction":  # and as recorded: the simulator's packets, as the session ran live
        assert _canon(replay(path).events) == _canon(mem.events) == _canon(base)
    outcomes = [e for e in base if kinds.is_outcome(e.kind) and "ok" in e.payload]
    if name == "emg_contraction":
        assert any(e.kind == "calibration.emg_reference" for e in base)
        assert sum(e.kind == "rule.level" for e in outcomes) >= 3 and any(
            e.kind == "rule.relax" for e in outcomes
        )
    else:
        ratio = [e for e in outcomes if e.kind == "rule.vmo_ratio"]
        assert len(ratio) >= 3 and any(not e.payload["ok"] for e in ratio)
    for block in (0.05, 0.5, 1.5):
        other = replay(path, {"block_seconds": block}).events
        assert _canon(other) == _canon(base), block

"""The optimised hot paths raise exactly the events of the unoptimised ones, in a whole session.

The unoptimised paths are kept as references: the engine's first dispatch (every
subscriber's ``pop_events`` after every push, every node on every event and
feedback refresh, every derived block's times checked), the quality monitor's
one-pass kernel counting block by block, the burst detector's sample-by-sample
kernel and the onset conditioning as a Pipeline of four processors. A session
run with all of them patched in must give the same event JSON, byte for byte, as
the session run as shipped: the squat drill on 8 ms updates, on BLE-sized packets,
and replayed from its recording in 1 s blocks.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import pytest

from nmre.core.model import Block
from nmre.drills import build_drill
from nmre.engine import Engine
from nmre.errors import NmreError
from nmre.feedback.schedule import is_safety
from nmre.sim import SimSource, SquatConfig, simulate

HERE = Path(__file__).resolve().parent


def _load(rel: str, name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / rel)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _dispatch(self, block: Block, now: float) -> None:
    for sink in self._block_sinks:
        sink.on_block(block)
    for node in self._subscribers.get(block.stream, ()):
        try:
            outs = node.push(block)
        except NmreError as exc:
            self._node_failed(node, block, exc, now)
            continue
        for ev in node.pop_events():
            self._emit(ev, now)
        for out in outs:
            self._dispatch(out, now)


def _emit(self, event, now: float) -> None:  # type: ignore[no-untyped-def]
    if not math.isfinite(event.detected_at):
        event = replace(event, detected_at=now)
    self.events.append(event)
    self.stats.events += 1
    if math.isfinite(event.time):
        self.stats.detection.add(max(0.0, event.detected_at - event.time))
    for sink in self.sinks:
        sink.on_event(event)
    for node in self.nodes:
        node.on_event(event)
        for ev in node.pop_events():
            self._emit(ev, now)
    self._due = [t for t in self._timed if t[2]()]
    if (self._held or any(node.waiting() for node in self.nodes)) and not is_safety(event):
        self._held.append(event)  # a rule owes a verdict: the schedule gets it in order later
        return
    for cue in self.schedule.on_event(event):
        self._release(cue, now)


def _publish_feedback(self, now: float, force: bool = False) -> None:
    from nmre.core.model import FeedbackState

    if not force and now - self._last_feedback < 0.01:
        return
    self._last_feedback = now
    signals = {}
    for node in self.nodes:
        for s in node.signals():
            signals[s.name] = s
    state = FeedbackState(time=now, signals=signals, cues=tuple(self._cues))
    self._feedback = state
    for sink in self.sinks:
        sink.on_feedback(state)


def _unoptimised(monkeypatch: pytest.MonkeyPatch) -> None:
    import nmre.dsp.emg as emg
    import nmre.engine.engine as eng
    import nmre.quality.monitor as qm
    from nmre.dsp import _onset_kernels
    from nmre.dsp.filters import SosFilter
    from nmre.dsp.pipeline import Pipeline
    from nmre.quality import _kernels as qk

    quality = _load("quality/test_kernel_reference.py", "_quality_reference")
    burst = _load("dsp/test_burst_reference.py", "_burst_reference")
    monkeypatch.setattr(eng.Engine, "_dispatch", _dispatch)
    monkeypatch.setattr(eng.Engine, "_emit", _emit)
    monkeypatch.setattr(eng.Engine, "_publish_feedback", _publish_feedback)
    monkeypatch.setattr(qk, "update", quality.reference_update)
    monkeypatch.setattr(qm, "_BATCH_BLOCKS", 1)
    monkeypatch.setattr(_onset_kernels, "burst_kernel", burst.reference_burst_kernel)

    def conditioner(n, fs, low, high, cutoff):  # type: ignore[no-untyped-def]
        return Pipeline(
            [
                SosFilter.bandpass(low, high, fs, n),
                emg.Tkeo(n),
                emg.Rectifier(n),
                SosFilter.lowpass(cutoff, fs, n),
            ]
        )

    monkeypatch.setattr(emg, "TkeoConditioner", conditioner)


@pytest.fixture(scope="module")
def squat():  # type: ignore[no-untyped-def]
    errors = {1: ("knee_valgus",), 3: {"shallow_squat": 60.0}, 4: ("late_vmo_onset",)}
    return simulate(SquatConfig(reps=6, errors=errors), seed=5, imu_rate=200, emg_rate=2000)


def _events(sim, source, tmp_path):  # type: ignore[no-untyped-def]
    from nmre.sessions import XdfRecorder
    from nmre.sessions.replay import replay

    if source == "replay":
        path = tmp_path / "s.xdf"
        rec = XdfRecorder(path, {"drill": {"name": "squat"}}, fsync=False)
        Engine([SimSource(sim, emg_block=16, imu_block=2)], [], [rec]).run()
        return [e.to_json() for e in replay(path, {"block_seconds": 1.0}).events]
    blocks = (16, 2) if source == "packets" else (200, 20)
    engine = Engine(
        [SimSource(sim, emg_block=blocks[0], imu_block=blocks[1])], build_drill("squat", sim.streams).nodes
    )
    engine.run()
    return [e.to_json() for e in engine.events]


@pytest.mark.parametrize("source", ["packets", "blocks", "replay"])
def test_the_session_raises_the_events_of_the_unoptimised_paths(squat, source, tmp_path, monkeypatch):
    fast = _events(squat, source, tmp_path)
    with monkeypatch.context() as m:
        _unoptimised(m)
        slow = _events(squat, source, tmp_path)
    kinds = {e.split('"kind":"')[1].split('"')[0] for e in fast}
    assert {"rep.end", "emg.onset", "feedback.cue", "calibration.neutral"} <= kinds, kinds
    assert any(k.startswith("rule.") for k in kinds), kinds
    assert fast == slow

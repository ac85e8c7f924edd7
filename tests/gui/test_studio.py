"""The studio's behaviour on the simulated body: controls, pause, a sensor dropping out, screenshots.

The engine runs in its worker thread as in a live session, on a stepped virtual
clock the test releases step by step (no wall-clock sleeps); the GUI's timer
callbacks are called after each step. Sound goes to a WAV file sink.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtGui, QtWidgets

from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, Event, StreamInfo
from nmre.gui.app import Studio, StudioOptions, build_sim_session
from nmre.gui.runner import RunState, SteppedClock

REPO = Path(__file__).resolve().parents[2]


class Dropout(Source):
    """A sensor out of range: blocks of ``stream`` arriving in [t0, t1) never come; the next says how many samples were lost."""

    def __init__(self, inner: Source, stream: str, t0: float, t1: float) -> None:
        self.inner, self.stream, self.t0, self.t1 = inner, stream, t0, t1
        self.lost = 0

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self.inner.streams

    def start(self, clock: Clock) -> None:
        self.inner.wake = self.wake
        self.inner.start(clock)

    def poll(self, now: float) -> list[Block]:
        out = []
        for b in self.inner.poll(now):
            if b.stream == self.stream and self.t0 <= b.arrival < self.t1:
                self.lost += b.n_samples
                continue
            if b.stream == self.stream and self.lost:
                b = Block(b.stream, b.times, b.values, b.seq, b.missing_before + self.lost, b.arrival)
                self.lost = 0
            out.append(b)
        return out

    def poll_events(self) -> list[Event]:
        return self.inner.poll_events()

    def next_arrival(self) -> float | None:
        return self.inner.next_arrival()

    @property
    def finished(self) -> bool:
        return self.inner.finished

    def stop(self) -> None:
        self.inner.stop()


@pytest.fixture
def studio_factory(qapp: QtWidgets.QApplication, tmp_path: Path) -> Iterator[Any]:
    made: list[Studio] = []

    def make(
        drill: str, wrapper: Any = None, schedule: str = "continuous", reps: int = 6
    ) -> tuple[Studio, SteppedClock]:
        clock = SteppedClock()
        session = build_sim_session(
            drill, seed=3, reps=reps, seconds=None, ble=False, clock=clock, source_wrapper=wrapper
        )
        opts = StudioOptions(sim=True, drill=drill, schedule=schedule, wav=str(tmp_path / f"{drill}.wav"))
        studio = Studio(session, opts, qapp)
        studio.dashboard.show()
        studio.patient.show()
        studio.start()
        made.append(studio)
        return studio, clock

    yield make
    for s in made:
        s.runner.stop()
        s.fast.stop()
        s.dash.stop()
        s.slow.stop()
        s.dashboard.close()
        s.patient.close()


def step(studio: Studio, clock: SteppedClock, t: float) -> None:
    """Let session time run to ``t``, wait for the engine to get there, run the GUI's timers once."""
    clock.release(t)
    deadline = time.monotonic() + 120  # a guard only: the engine usually gets there in milliseconds
    while not clock.wait_done(t, timeout=0.1):
        if not studio.runner.alive:  # the session ended before t
            break
        assert time.monotonic() < deadline, f"the engine did not reach {t} s"
    studio._frame()
    studio._tick()
    QtWidgets.QApplication.processEvents()


def device_state(studio: Studio, label_part: str) -> str:
    d = studio.dashboard.devices
    for r in range(d.rowCount()):
        if label_part in d.item(r, 0).text():
            return d.item(r, 1).text()
    raise AssertionError(f"no device row with {label_part!r}")


def test_a_dropout_shows_on_both_screens_pauses_its_feedback_and_resumes(studio_factory: Any) -> None:
    studio, clock = studio_factory("stance", wrapper=lambda src: Dropout(src, "imu.pelvis", 14.0, 17.0))
    step(studio, clock, 13.5)
    assert studio.patient.scene.overlay is None
    assert device_state(studio, "pelvis") == "streaming"
    assert studio.audio is not None and studio.audio.hold_reason is None
    # within a second of the last block: both screens say so and the tone is held
    step(studio, clock, 14.0 + 0.9)
    assert studio.patient.scene.overlay == "lost"
    assert "pelvis IMU" in studio.patient.scene.overlay_text
    assert math.isnan(studio.patient.scene.dot[0]), "no stale dot while the sensor is lost"
    assert device_state(studio, "pelvis") == "no data"
    warnings = [studio.dashboard.warnings.item(i).text() for i in range(studio.dashboard.warnings.count())]
    assert any("pelvis IMU" in w and "no data" in w for w in warnings)
    assert studio.audio.hold_reason is not None and "pelvis" in studio.audio.hold_reason
    # the sensor comes back: feedback resumes by itself
    step(studio, clock, 17.6)
    assert studio.patient.scene.overlay is None
    assert device_state(studio, "pelvis") == "streaming"
    assert studio.audio.hold_reason is None
    assert studio.ring.health["imu.pelvis"].missing > 0, "the lost samples are counted, not hidden"


def test_pause_stops_feedback_and_resume_brings_it_back(studio_factory: Any) -> None:
    studio, clock = studio_factory("squat", reps=8)
    step(studio, clock, 10.0)
    cues_before = studio.counters.on_target + studio.counters.corrections
    reps_before = studio.counters.reps
    assert cues_before >= 1
    studio.dashboard.actions_by_name["pause"].setChecked(True)  # the button (Space)
    step(studio, clock, 10.05)
    assert studio.runner.state is RunState.PAUSED
    assert studio.patient.scene.overlay == "paused"
    onsets_paused_from = len(studio.audio.synth.onsets())
    step(studio, clock, 24.0)
    assert studio.counters.reps > reps_before, "reps are still counted while paused"
    assert studio.counters.on_target + studio.counters.corrections == cues_before, "no feedback while paused"
    assert len(studio.audio.synth.onsets()) == onsets_paused_from, "no cue sounded while paused"
    studio.dashboard.actions_by_name["pause"].setChecked(False)
    step(studio, clock, 40.0)
    assert studio.counters.on_target + studio.counters.corrections > cues_before
    kinds_seen = [e.kind for e in studio.runner.engine.events]
    assert "session.pause" in kinds_seen and "session.resume" in kinds_seen


def test_target_controls_change_the_band_the_next_rep_is_judged_against(studio_factory: Any) -> None:
    studio, clock = studio_factory("squat", reps=6)
    t = 0.0
    while "squat_depth" not in studio.counters.last_rep and t < 30.0:  # the first rep judged (after the
        t += 1.0  # drill's calibration steps: a rep that began before them is not judged)
        step(studio, clock, t)
    first = studio.counters.last_rep["squat_depth"]
    assert (first["lo"], first["hi"]) == (75.0, 115.0) and first["ok"]
    lo_box, hi_box = studio.dashboard.target_editors["rule.squat_depth"]
    assert lo_box is not None and hi_box is not None
    lo_box.setValue(100.0)  # deeper than this subject squats
    step(studio, clock, t + 0.1)
    band = studio.dashboard.traces.bands["rule.squat_depth"]
    assert tuple(band.getRegion()) == (100.0, 115.0)
    step(studio, clock, t + 13.0)  # two reps later
    last = studio.counters.last_rep["squat_depth"]
    assert last["lo"] == 100.0 and last["ok"] is False and last["error"] == "shallow_squat"
    changes = [e for e in studio.runner.engine.events if e.kind == "settings.target"]
    assert changes and changes[0].payload["lo"] == 100.0 and changes[0].payload["old_lo"] == 75.0
    # a band the other way round is refused with one line, and the rule keeps its band
    studio.runner.set_target("rule.squat_depth", 120.0, 110.0)
    step(studio, clock, t + 13.1)
    refused = [e for e in studio.runner.engine.events if e.kind == "control.refused"]
    assert refused and "lo <= hi" in (refused[-1].therapist_message or "")
    assert studio.runner.targets[0].lo == 100.0


def test_marker_and_shortcuts(studio_factory: Any, qtbot: Any) -> None:
    studio, clock = studio_factory("squat", reps=3)
    step(studio, clock, 3.0)
    qtbot.keyClick(studio.dashboard, "m")  # the marker shortcut
    step(studio, clock, 3.5)
    assert studio.runner.markers == 1
    assert any(kind == "marker" for _, kind, _ in studio.counters.timeline)
    shortcuts = {name: a.shortcut().toString() for name, a in studio.dashboard.actions_by_name.items()}
    assert shortcuts["pause"] == "Space" and shortcuts["start"] == "F5" and shortcuts["marker"] == "M"


def _pixels(path: Path) -> np.ndarray:
    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    ptr = img.constBits()
    a = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return a.reshape(img.height(), -1, 4)[:, : img.width(), :3].copy()


@pytest.mark.slow
def test_screenshots_of_a_sim_session_are_neither_blank_nor_clipped(
    tmp_path: Path, qapp: QtWidgets.QApplication
) -> None:
    out = tmp_path / "shots"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmre",
            "studio",
            "--sim",
            "--seconds",
            "7",
            "--screenshot",
            str(out),
            "--no-sound",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nmre studio: squat" in proc.stderr
    for name, size in (("dashboard.png", (1600, 1000)), ("patient.png", (1280, 720))):
        px = _pixels(out / name)
        assert (px.shape[1], px.shape[0]) == size, name
        colours = np.unique(px.reshape(-1, 3)[::37], axis=0)
        assert len(colours) > 20, f"{name} looks blank ({len(colours)} colours)"
    patient = _pixels(out / "patient.png")
    # the patient view: a dark background with large bright type and coloured shapes
    level = patient.mean(axis=2)
    assert 0.4 < (level < 60).mean() < 0.97
    assert (level > 200).mean() > 0.003
    summary = json.loads((out / "summary.json").read_text())
    assert summary["drill"] == "squat" and summary["session_seconds"] >= 7.0
    assert summary["latency"]["visual_from_arrival"]["n"] > 0


def test_nothing_on_the_dashboard_is_clipped(studio_factory: Any) -> None:
    studio, clock = studio_factory("squat", reps=3)
    step(studio, clock, 8.0)
    d = studio.dashboard
    d.resize(1600, 1000)
    QtWidgets.QApplication.processEvents()
    for label in d.findChildren(QtWidgets.QLabel):
        if label.isVisible() and not label.wordWrap() and label.text():
            assert label.sizeHint().width() <= label.width() + 2, f"label clipped: {label.text()[:60]!r}"
    table = d.devices
    for r in range(table.rowCount()):
        for c in range(1, table.columnCount()):
            item = table.item(r, c)
            width = table.fontMetrics().horizontalAdvance(item.text())
            assert width <= table.columnWidth(c), f"device table cell clipped: {item.text()!r}"


def test_the_readiness_gate_holds_the_drill_until_the_therapist_overrides_it(studio_factory: Any) -> None:
    from nmre.quality import Corruption, FaultySource

    # an electrode off: the right leg's EMG reads a flat 0 mV for the whole session
    def flat_emg(src: Source) -> Source:
        return FaultySource(src, corrupt=[Corruption("emg.r", 0.0, 1e6, 0.0)])

    studio, clock = studio_factory("squat", wrapper=flat_emg, reps=6)
    step(studio, clock, 9.0)
    gate = studio.gate
    assert gate is not None and not gate.open
    state, waiting = gate.status()
    assert state.value == "failed" and "electrode" in waiting
    items = [studio.dashboard.calibration.item(i).text() for i in range(studio.dashboard.calibration.count())]
    assert any(t.startswith("readiness gate: failed") and "electrode" in t for t in items), items
    assert studio.dashboard.override.isEnabled()
    assert studio.counters.last_rep == {} and studio.counters.on_target == 0, "nothing judged before ready"
    assert (
        studio.patient.scene.overlay == "ready"
        and "checking the sensors" in studio.patient.scene.overlay_text
    )
    # the therapist decides to go on without EMG, and says why
    studio.override_readiness("")  # an empty reason is refused with one line
    assert "reason" in studio.dashboard.warnings.item(0).text()
    studio.override_readiness("EMG electrodes not used today")
    step(studio, clock, 24.0)
    assert gate.open and gate.status()[0].value == "overridden"
    assert "squat_depth" in studio.counters.last_rep, "reps are judged once the gate is open"
    assert not studio.dashboard.override.isEnabled()
    kinds_seen = [e.kind for e in studio.runner.engine.events]
    assert "readiness.fail" in kinds_seen and "readiness.override" in kinds_seen


def test_the_next_session_takes_the_drill_and_level_picked_in_the_window(
    qapp: QtWidgets.QApplication, tmp_path: Path
) -> None:
    clocks: dict[int, SteppedClock] = {}

    def factory(drill: str, level: int | None) -> Any:
        clock = SteppedClock()
        session = build_sim_session(drill, seed=3, reps=10, ble=False, clock=clock, level=level)
        clocks[id(session)] = clock
        return session

    opts = StudioOptions(sim=True, drill="squat", wav=str(tmp_path / "s.wav"))
    made: list[Studio] = []
    try:
        first = Studio(factory("squat", None), opts, qapp, factory=factory)
        made.append(first)
        seen: list[Studio] = []
        first.on_successor = seen.append
        d = first.dashboard
        assert d.drill.isEnabled() and d.level.isEnabled()
        levels = [d.level.itemText(i) for i in range(d.level.count())]
        assert levels[1:] == [f"{lv.level}: {lv.title}" for lv in first_levels("squat")]
        first.start()
        clock = clocks[id(first.session)]
        t = 0.0
        while not first.counters.sets and t < 90.0:  # the first set of 10 reps
            t += 2.0
            step(first, clock, t)
        suggestion = next(e for e in first.runner.engine.events if e.kind == "progression.suggestion")
        text = d.progression.text()
        assert suggestion.therapist_message and suggestion.therapist_message in text
        assert first.counters.set_lines and first.counters.set_lines[0] in text
        nxt = suggestion.payload["next_level"]
        assert d.use_level.isEnabled() and str(nxt) in d.use_level.text()
        d.actions_by_name["use_level"].trigger()  # Ctrl+N
        assert d.level.currentData() == nxt
        assert f"level {nxt}" in d.next_session.text(), "the window says what Start will do"
        first.stop()
        assert first.done
        d.actions_by_name["start"].trigger()  # F5 after Stop: the next session
        second = first.successor
        assert second is not None and seen == [second]
        made.append(second)
        assert second.session.drill == "squat" and second.session.level == nxt
        assert second.runner.state is RunState.RUNNING
        assert not first.dashboard.isVisible() and second.dashboard.isVisible()
        # before Start, another drill is picked: its levels fill the level picker, Start builds it
        second.stop()
        third = second.next_session()
        assert third is not None
        made.append(third)
        assert third.runner.state is RunState.READY
        i = third.dashboard.drill.findData("single_leg_stance")
        third.dashboard.drill.setCurrentIndex(i)
        lv = first_levels("single_leg_stance")
        assert third.dashboard.level.count() == 1 + len(lv)
        third.dashboard.level.setCurrentIndex(third.dashboard.level.findData(lv[-1].level))
        third.start()
        fourth = third.successor
        assert fourth is not None
        made.append(fourth)
        assert (fourth.session.drill, fourth.session.level) == ("single_leg_stance", lv[-1].level)
        assert fourth.runner.state is RunState.RUNNING
        assert third.summary is None, "a session replaced before Start saves nothing"
    finally:
        for s in made:
            s.runner.stop()
            for timer in (s.fast, s.dash, s.slow):
                timer.stop()
            s.dashboard.close()
            s.patient.close()


def first_levels(drill: str) -> Any:
    from nmre.drills import load_drill

    return load_drill(drill).levels


def test_every_control_has_a_keyboard_shortcut(studio_factory: Any) -> None:
    from nmre.gui.dashboard import SHORTCUT_HELP, SHORTCUTS

    studio, _clock = studio_factory("squat", reps=3)
    a = studio.dashboard.actions_by_name
    assert set(SHORTCUTS) == set(SHORTCUT_HELP) and set(SHORTCUTS) <= set(a)
    keys = [a[name].shortcut().toString() for name in SHORTCUTS]
    assert len(set(keys)) == len(keys), "no key does two things"
    for name in ("start", "pause", "stop", "marker", "feedback", "schedule", "targets", "override", "drill"):
        assert a[name].shortcut().toString() == SHORTCUTS[name], name
    a["targets"].trigger()  # Ctrl+T: the first target's box takes the keyboard
    QtWidgets.QApplication.processEvents()
    boxes = [b for pair in studio.dashboard.target_editors.values() for b in pair if b is not None]
    assert studio.dashboard.focusWidget() in (boxes[0], boxes[0].findChild(QtWidgets.QLineEdit))
    help_text = studio.dashboard.help_text()
    assert all(SHORTCUTS[k] in help_text for k in SHORTCUTS)


def _library() -> list[str]:
    from nmre.drills import list_drills

    return list_drills()


@pytest.mark.parametrize("drill", _library())
def test_every_drill_of_the_library_shows_its_picture_and_its_signals(
    studio_factory: Any, drill: str
) -> None:
    from nmre.drills import load_drill

    spec = load_drill(drill)
    studio, clock = studio_factory(drill, reps=4)
    studio.override_readiness("test: the simulated body is not asked to stand still first")
    dots = {}
    for t in (2.0, 4.0, 6.0, 8.0):
        step(studio, clock, t)
        dots[t] = studio.patient.scene.dot
    main = next((p for p in spec.feedback.picture if p.kind in ("gauge", "target")), None)
    scene = studio.patient.scene
    seg = spec.structure.segmenter
    expected_mode = (
        "gauge"
        if main is not None and main.kind == "gauge"
        else "los"
        if seg.kind == "targets"
        else "balance"
    )
    assert scene.mode == expected_mode
    assert scene.overlay is None, f"{drill}: {scene.overlay} {scene.overlay_text}"
    if expected_mode == "los":  # 8 s in: the first target shows once the drill's lead-in is over
        lead_in = float(seg.params["lead_in"])
        assert (scene.los_active == 0) == (lead_in < 8.0), f"{drill}: target shown {scene.los_active}"
        assert all(math.isfinite(v) for v in scene.dot), f"{drill}: the lean is shown as the dot"
        if lead_in > 4.0:  # standing still before the first target: the dot in the middle (its own centre),
            # far from the targets' ring (a lean as far as a target puts the dot at 0.82 / 0.45 = 1.8)
            assert math.hypot(*dots[4.0]) < 0.5, f"{drill}: the dot is off the middle at rest: {dots[4.0]}"
    elif expected_mode == "gauge":
        assert math.isfinite(scene.value), f"{drill}: the gauge shows a value"
        assert scene.lo is not None or scene.hi is not None, f"{drill}: the gauge shows its target zone"
    else:
        assert all(math.isfinite(v) for v in scene.dot), f"{drill}: the balance dot is shown"
    # every trace of the session tab has data in its window, inside the plot's visible range
    traces = studio.dashboard.traces
    studio._tick()
    shown = 0
    for (key, _i), curve in traces.curves.items():
        _x, y = curve.getData()
        assert y is not None and np.isfinite(y).any(), f"{drill}: {key} has no data"
        lo, hi = traces.plots[key].viewRange()[1]
        finite = y[np.isfinite(y)]
        assert lo <= float(np.median(finite)) <= hi, f"{drill}: {key} is off its scale ({lo:.3g}..{hi:.3g})"
        shown += 1
    assert shown >= 1
    # a band is drawn only in the signal's own unit (a hold time is no line on an angle)
    for key in traces.bands:
        rule = next(r for r in studio.runner.targets if r.name == key)
        stream, channel = next(
            (st, names[0]) for panel, k, st, names, _ in studio.trace_specs
            if panel is traces and traces.plots[k] is traces.plots[key]
        )  # fmt: skip
        info = studio.ring.infos[stream]
        unit = info.channels[info.channel_names.index(channel)].unit
        assert rule.unit == unit, f"{drill}: the band of {key} ({rule.unit}) on a signal in {unit}"


def test_a_full_warnings_list_still_shows_the_newest_first(studio_factory: Any) -> None:
    studio, clock = studio_factory("squat", reps=3)
    step(studio, clock, 1.0)
    for i in range(70):  # more than the list keeps
        studio.counters.add(Event(1.0, "stream.gap", "emg.r", {}, therapist_message=f"gap {i}"))
        studio._update_tables(1.0)
    top = studio.dashboard.warnings.item(0).text()
    assert top.endswith("gap 69"), top

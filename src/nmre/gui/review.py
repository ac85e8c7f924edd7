"""Reviewing a recording: ``nmre studio --replay FILE`` with a timeline to scrub.

The recording's raw streams go once through the drill it was recorded with (the
same engine, nodes and settings as live, on a virtual clock, in a few seconds
for a long session); a :class:`TapeSink` keeps every block, every event and the
feedback state as it was shown (thinned to 30 per second). The review window
is the studio's own two screens at a **cursor**: the dashboard's traces are the
10 s before it, the counts and the timeline are the events up to it, the
patient view shows the picture the patient saw then. Dragging the timeline
moves the cursor anywhere, backwards too (nothing is recomputed, so a scrub is
immediate and always shows what the session computed); Play runs it at the
recording's pace.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core.clock import VirtualClock
from nmre.core.interfaces import Sink
from nmre.core.model import Block, Event, FeedbackState, StreamInfo
from nmre.errors import ConfigError, RecordingError

__all__ = ["Tape", "TapeSink", "TapeView", "load_review"]

F64 = NDArray[np.float64]
#: Feedback states kept per second of session (the patient view at the cursor).
FEEDBACK_RATE = 30.0
#: A recording longer than this is refused for review (every sample is kept in memory).
MAX_SAMPLES = 200_000_000


class TapeView:
    """One stream of a tape with the interface of :class:`~nmre.gui.model.SampleRing`, read at the tape's cursor."""

    def __init__(self, tape: Tape, times: F64, values: F64) -> None:
        self.tape, self.times, self.values = tape, times, values

    def latest(self, seconds: float | None = None, rate: float = 0.0) -> tuple[F64, F64]:
        end = int(np.searchsorted(self.times, self.tape.cursor, side="right"))
        start = (
            0
            if seconds is None
            else int(np.searchsorted(self.times, self.tape.cursor - seconds, side="left"))
        )
        return self.times[start:end].copy(), self.values[:, start:end].copy()


class Tape:
    """Everything a session computed, by session time: streams, events, feedback states."""

    def __init__(
        self,
        infos: dict[str, StreamInfo],
        data: dict[str, tuple[F64, F64]],
        events: list[Event],
        feedback: list[FeedbackState],
    ) -> None:
        self.infos, self.data = infos, data
        self.events = sorted(events, key=lambda e: e.time if math.isfinite(e.time) else e.detected_at)
        self._event_times = [e.time if math.isfinite(e.time) else e.detected_at for e in self.events]
        self.feedback = feedback
        self._fb_times = [f.time for f in feedback]
        ends = [float(t[-1]) for t, _ in data.values() if t.size]
        self.duration = max(ends, default=0.0)
        self.cursor = 0.0

    def view(self, stream: str) -> TapeView:
        t, v = self.data[stream]
        return TapeView(self, t, v)

    def events_until(self, t: float) -> list[Event]:
        return self.events[: bisect.bisect_right(self._event_times, t)]

    def feedback_at(self, t: float) -> FeedbackState:
        i = bisect.bisect_right(self._fb_times, t) - 1
        return self.feedback[i] if i >= 0 else FeedbackState(t)


class TapeSink(Sink):
    """Keeps every block, event and (thinned) feedback state of a session in memory."""

    def __init__(self) -> None:
        self.infos: dict[str, StreamInfo] = {}
        self._blocks: dict[str, list[tuple[F64, F64]]] = {}
        self.events: list[Event] = []
        self.feedback: list[FeedbackState] = []
        self._samples = 0

    def open(self, streams: Sequence[StreamInfo]) -> None:
        for info in streams:
            self.infos[info.id] = info
            self._blocks.setdefault(info.id, [])

    def on_block(self, block: Block) -> None:
        if block.stream not in self._blocks or not block.n_samples:
            return
        self._samples += block.values.size
        if self._samples > MAX_SAMPLES:
            raise RecordingError(
                f"review: expected a recording of at most {MAX_SAMPLES:,} samples in all, got more "
                "(review a part with nmre replay --start/--stop)"
            )
        self._blocks[block.stream].append((block.times, block.values))

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def on_feedback(self, state: FeedbackState) -> None:
        if not self.feedback or state.time - self.feedback[-1].time >= 1.0 / FEEDBACK_RATE or state.cues:
            self.feedback.append(state)

    def tape(self) -> Tape:
        data = {}
        for sid, parts in self._blocks.items():
            info = self.infos[sid]
            if parts:
                data[sid] = (
                    np.concatenate([t for t, _ in parts]),
                    np.concatenate([v for _, v in parts], axis=1),
                )
            else:
                data[sid] = (np.zeros(0), np.zeros((info.n_channels, 0)))
        return Tape(dict(self.infos), data, self.events, self.feedback)


def _settings(spec: Any, recorded: Any) -> dict[str, Any] | None:
    """The recorded settings the drill file still has (a recording of an older file keeps what fits)."""
    if not isinstance(recorded, dict):
        return None
    known = set(spec.settings)
    return {k: v for k, v in recorded.items() if k in known and isinstance(v, (int, float, str, bool))}


def load_review(
    path: str | os.PathLike[str], drill: str | None = None, level: int | None = None
) -> tuple[Any, Tape]:
    """Read ``path``, run it through its drill (or ``drill``) once; the studio :class:`~nmre.gui.app.Session` and the tape."""
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.gui.app import Session, _load, presentation_for, sensor_spots
    from nmre.sessions import XdfReplaySource, read_xdf

    if not os.path.isfile(path):
        raise ConfigError(f"--replay: expected an XDF recording, got {os.fspath(path)!r} (no such file)")
    rec = read_xdf(path)
    meta = rec.metadata
    recorded = meta.get("drill")
    settings = None
    if isinstance(recorded, dict):  # {"name": ..., "settings": {...}} as nmre demo/studio --record write it
        settings = recorded.get("settings") if drill is None else None
        recorded = recorded.get("name")
    name = drill or recorded
    if not name:
        raise ConfigError(
            f"--replay {os.fspath(path)!r}: the recording does not say its drill; expected --drill NAME"
        )
    spec = _load(str(name))
    source = XdfReplaySource(rec)
    streams = list(source.streams)
    if level is None and isinstance(meta.get("level"), int):
        level = meta["level"]
    # the recorded targets (a setting the drill file no longer has is refused with one line)
    built = build_drill(spec, streams, level=level, settings=_settings(spec, settings))
    tape_sink = TapeSink()
    Engine([source], built.nodes, [tape_sink], clock=VirtualClock()).run()
    tape = tape_sink.tape()
    session = Session(
        sources=[],
        nodes=built.nodes,
        drill=spec.name,
        raw=streams,
        clock=VirtualClock(),
        presentation=presentation_for(spec, built.nodes, None, None),
        sensors=sensor_spots(spec, streams, built.settings),
        settings=dict(built.settings),
        level=level,
    )
    return session, tape


def review_window(session: Any, opts: Any, app: Any, tape: Tape) -> Any:
    """The studio's two windows on a recording, with a timeline to scrub (Qt; see the module notes)."""
    from PySide6 import QtCore, QtWidgets

    from nmre.gui.app import Studio
    from nmre.gui.model import Counters

    class Review(Studio):
        def __init__(self) -> None:
            super().__init__(session, opts, app, run_engine=False)
            self.tape = tape
            self.ring.open(list(tape.infos.values()))
            for sid in tape.data:
                self.ring.rings[sid] = tape.view(sid)  # type: ignore[assignment]
            bar = QtWidgets.QToolBar("timeline")
            bar.setMovable(False)
            self.dashboard.addToolBarBreak(QtCore.Qt.ToolBarArea.BottomToolBarArea)
            self.dashboard.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, bar)
            self.play_button = QtWidgets.QPushButton("Play")
            self.play_button.setCheckable(True)
            self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            self.slider.setRange(0, max(1, round(tape.duration * 10)))
            self.slider.setMinimumWidth(900)
            self.slider.setToolTip(
                "Drag to any moment of the recording (0.1 s steps; arrows move 0.1 s, PgUp/PgDn 5 s)"
            )
            self.slider.setPageStep(50)
            self.time_label = QtWidgets.QLabel()
            bar.addWidget(QtWidgets.QLabel(" Review "))
            bar.addWidget(self.play_button)
            bar.addWidget(self.slider)
            bar.addWidget(self.time_label)
            self.slider.valueChanged.connect(lambda v: self.seek(v / 10.0))
            self.play_button.toggled.connect(self.play)
            self.player = QtCore.QTimer(self)
            self.player.setInterval(max(1, round(1000.0 / opts.fps)))
            self.player.timeout.connect(self._advance)
            self._wall: float | None = None
            self.dashboard.setWindowTitle(f"nmre studio — review of {opts.replay}")
            for panel in (self.dashboard.traces, self.dashboard.raw_traces):
                last = panel.timeline or (list(panel.plots.values())[-1] if panel.plots else None)
                if last is not None:
                    last.setLabel("bottom", "seconds before the cursor")
            self.sound_note = "review: no sound"
            self.dashboard.sound_status.setText(self.sound_note)
            if not self.dashboard.target_editors:  # a review changes nothing: the recorded targets, to read
                from nmre.gui.runner import targets

                for t in targets(session.nodes):
                    unit = f" {t.unit}" if t.unit and t.unit not in ("1", "count") else ""
                    sides = [f"{w} {v:g}{unit}" for w, v in (("min", t.lo), ("max", t.hi)) if v is not None]
                    text = " · ".join(sides) or "set from the patient's own baseline"
                    self.dashboard.targets_form.addRow(t.label, QtWidgets.QLabel(f"{text} (as recorded)"))
            self.seek(0.0)

        # -- the cursor -------------------------------------------------------------
        def seek(self, t: float) -> None:
            t = min(max(0.0, float(t)), self.tape.duration)
            self.tape.cursor = t
            self.ring.feedback = self.tape.feedback_at(t)
            self.counters = Counters()
            for e in self.tape.events_until(t):
                self.counters.add(e)
            self._update_traces(t)
            self.patient.set_scene(self._scene(t))
            self._update_tables(t)
            self.time_label.setText(f" {t:6.1f} s of {self.tape.duration:.1f} s ")
            if round(t * 10) != self.slider.value():
                self.slider.blockSignals(True)
                self.slider.setValue(round(t * 10))
                self.slider.blockSignals(False)

        def play(self, on: bool) -> None:
            import time

            if on:
                if self.tape.cursor >= self.tape.duration:
                    self.seek(0.0)
                self._wall = time.perf_counter()
                self.player.start()
            else:
                self.player.stop()
            self.play_button.setText("Pause" if on else "Play")

        def _advance(self) -> None:
            import time

            now = time.perf_counter()
            step = now - (self._wall or now)
            self._wall = now
            self.seek(self.tape.cursor + step)
            if self.tape.cursor >= self.tape.duration:
                self.play_button.setChecked(False)

        # -- the studio's hooks ---------------------------------------------------------
        def start(self) -> None:
            self.play_button.toggle()

        def pause(self, paused: bool) -> None:
            self.play_button.setChecked(not paused)

        def stop(self) -> None:
            self.play_button.setChecked(False)

        def _patient_frame(self) -> None:
            pass  # the cursor decides what is shown

        def _dashboard_frame(self) -> None:
            pass

        def _tick(self) -> None:
            pass

        def _scene(self, now: float) -> Any:
            sc = super()._scene(self.tape.cursor)
            if sc.overlay == "ready":  # the runner never runs in a review
                sc.overlay, sc.overlay_text = None, ""
            return sc

        def _update_tables(self, now: float) -> None:
            super()._update_tables(self.tape.cursor)
            d = self.dashboard
            d.status.setText(
                f"review · cursor {self.tape.cursor:6.1f} s of {self.tape.duration:.1f} s · drill {self.session.drill}"
            )
            d.latency.setText(
                "review of a recording: the latencies and load were measured live (its summary)"
            )

        def device_rows(self) -> list[dict[str, Any]]:
            rows = []
            for sid, info in self.tape.infos.items():
                if sid not in self.ring.health:
                    continue
                t, _ = self.tape.data[sid]
                rows.append(
                    {
                        "sensor": self.ring.health[sid].label,
                        "stream": sid,
                        "device": info.device,
                        "state": "recorded",
                        "battery": None,
                        "signal": "–",
                        "loss_percent": 0.0,
                        "latency_ms": None,
                        "reconnects": 0,
                        "samples": int(t.size),
                    }
                )
            return rows

    return Review()

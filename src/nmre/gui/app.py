"""``nmre studio``: the controller that wires a session to the therapist's dashboard and the patient view.

Threads: the engine runs in a worker thread (:class:`~nmre.gui.runner.SessionRunner`);
BLE in its own; audio in PortAudio's callback. This module runs on the Qt main
thread only: two timers pull from the session model, a fast one (the display
rate: traces and the patient picture) and a slow one (5 Hz: tables, counters,
health, latency figures). No Qt object is touched from another thread.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from nmre.core.clock import Clock, RealClock
from nmre.core.interfaces import Sink, Source
from nmre.core.model import StreamInfo, StreamKind
from nmre.errors import ConfigError, NmreError, expected
from nmre.feedback.audio import AudioSink, AudioUnavailable, PortAudioSink, WavFileSink
from nmre.feedback.schedule import SCHEDULES
from nmre.feedback.sonify import Sonification
from nmre.gui.body import SensorSpot
from nmre.gui.dashboard import Dashboard
from nmre.gui.model import Counters, RingSink, decimate, latency_summary, signal_sources
from nmre.gui.patient import PatientScene, PatientView
from nmre.gui.runner import RunState, SessionRunner

__all__ = ["Presentation", "Session", "Studio", "StudioOptions", "build_sim_session", "run_studio"]

#: A pseudonymous patient id: letters, digits, '-' and '_', 1-32 characters (never a name with spaces).
PATIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: How long the patient view keeps one message, session s.
MESSAGE_SECONDS = 4.0
#: Seconds of signal the dashboard's traces show.
WINDOW = 10.0


@dataclass
class StudioOptions:
    """What ``nmre studio`` runs."""

    sim: bool = False
    replay: str | None = None
    drill: str = "squat"
    seed: int = 1
    reps: int = 10
    seconds: float | None = None
    screenshot: str | None = None
    schedule: str = "continuous"
    patient: str | None = None
    sound: bool = True
    audio_device: str | None = None
    wav: str | None = None
    fps: float = 60.0
    large_text: bool = False
    view: str = "session"  # session | raw


@dataclass
class Presentation:
    """How a drill is shown to the patient and sonified (until drill files carry their own display hints)."""

    picture: str  # gauge | balance
    signal: str
    title: str = ""
    label: str = ""
    range_lo: float = 0.0
    range_hi: float = 100.0
    downward: bool = False
    dot_stream: str | None = None
    sonification: Sonification | None = None
    reps_total: int | None = None
    hold_target: float | None = None


@dataclass
class Session:
    """Everything a studio session is made of, before it runs."""

    sources: list[Source]
    nodes: list[Any]
    drill: str
    raw: list[StreamInfo]
    clock: Clock
    presentation: Presentation
    sensors: list[SensorSpot] = field(default_factory=list)
    until: float | None = None
    sim: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: Sinks the command line adds beside the studio's own (e.g. an LSL outlet, ``--lsl-out``).
    sinks: list[Sink] = field(default_factory=list)


# -- what each drill needs and shows ------------------------------------------------------
#: (kind, segment, muscle, side, required, purpose) of the built-in drills' sensors.
_KIT = {
    "squat": [
        ("imu", "trunk", None, "midline", True, "trunk lean"),
        ("imu", "thigh", None, "right", True, "knee angle (with the shank)"),
        ("imu", "shank", None, "right", True, "knee angle (with the thigh)"),
        ("emg", None, "vmo", "right", False, "VMO onset before VL"),
        ("emg", None, "vl", "right", False, "VMO onset before VL"),
    ],
    "stance": [("imu", "pelvis", None, "midline", True, "sway (a trunk IMU also does)")],
}


def sensor_spots(drill: str, streams: Sequence[StreamInfo]) -> list[SensorSpot]:
    """The drill's sensors, each marked present, missing or (absent and) optional."""
    out = []
    for kind, segment, muscle, side, required, purpose in _KIT.get(drill, []):
        present = False
        for s in streams:
            if s.kind.value != kind:
                continue
            if muscle is not None:
                present = present or any(
                    c.placement is not None and c.placement.muscle == muscle for c in s.channels
                )
            else:
                present = present or (s.placement is not None and s.placement.segment == segment)
        if drill == "stance" and not present:  # the trunk sensor stands in for the pelvis
            present = any(
                s.kind is StreamKind.IMU and s.placement is not None and s.placement.segment == "trunk"
                for s in streams
            )
        status = "present" if present else ("missing" if required else "optional")
        out.append(SensorSpot(kind, segment, muscle, side, status, purpose))
    return out


def presentation_for(
    drill: str, nodes: Sequence[Any], reps: int | None, duration: float | None
) -> Presentation:
    if drill == "squat":
        return Presentation(
            "gauge",
            "peak knee flexion",
            label="Knee bend",
            range_lo=0.0,
            range_hi=130.0,
            downward=True,
            sonification=Sonification("peak knee flexion", mode="level", lo_range=0.0, hi_range=120.0),
            reps_total=reps,
        )
    return Presentation(
        "balance",
        "sway",
        title="Stand on your right leg",
        sonification=Sonification("sway", mode="error"),
        hold_target=duration,
    )


def build_sim_session(
    drill: str = "squat",
    seed: int = 1,
    reps: int = 10,
    seconds: float | None = None,
    *,
    ble: bool = True,
    clock: Clock | None = None,
    source_wrapper: Any = None,
) -> Session:
    """The simulated body doing ``drill``: on emulated BLE boards (``ble``, real clock) or as a scheduled source."""
    from nmre.demo import DEFAULT_SQUAT_ERRORS, _ble_source, _stance_errors
    from nmre.drills import DRILLS, build_drill
    from nmre.sim import SimSource, SquatConfig, StanceConfig, simulate

    if drill not in DRILLS:
        raise ConfigError("drill: " + expected(f"one of {', '.join(DRILLS)}", drill))
    if drill == "squat":
        cfg: Any = SquatConfig(reps=reps, errors={k: v for k, v in DEFAULT_SQUAT_ERRORS.items() if k < reps})
    else:
        duration = seconds if seconds is not None else 40.0
        cfg = StanceConfig(duration=duration, errors=_stance_errors(duration))
    sim = simulate(cfg, seed=seed)
    built = build_drill(drill, sim.streams)
    source: Source
    if ble:
        source, _boards = _ble_source(sim, seed)
        clock = clock or RealClock()
        until = seconds if seconds is not None else sim.duration + 1.0
    else:
        source = SimSource(sim, seed=seed)
        until = seconds
    if source_wrapper is not None:
        source = source_wrapper(source)
    clock = clock or RealClock()
    pres = presentation_for(
        drill, built.nodes, reps if drill == "squat" else None, sim.duration if drill == "stance" else None
    )
    return Session(
        sources=[source],
        nodes=built.nodes,
        drill=drill,
        raw=list(source.streams),
        clock=clock,
        presentation=pres,
        sensors=sensor_spots(drill, source.streams),
        until=until,
        sim=sim,
        settings=dict(built.settings),
    )


class _Latency:
    """Per-frame latency: for every raw block first shown in a frame, paint end minus its arrival (and sample time)."""

    def __init__(self, ring: RingSink, now: Any) -> None:
        self.ring, self.now = ring, now
        self.index = 0
        self.from_arrival: list[float] = []
        self.from_sample: list[float] = []
        self.frame_times: list[float] = []

    def painted(self) -> None:
        t = self.now()
        self.frame_times.append(time.perf_counter())
        self.index, arrival, sample = self.ring.arrivals.since(self.index)
        if arrival.size:
            self.from_arrival.extend((t - arrival).tolist())
            self.from_sample.extend((t - sample).tolist())
            if len(self.from_arrival) > 200_000:
                del self.from_arrival[:100_000], self.from_sample[:100_000]

    def fps(self, window: float = 2.0) -> float:
        ft = self.frame_times
        if len(ft) < 2:
            return 0.0
        cut = ft[-1] - window
        recent = [x for x in ft[-1000:] if x >= cut]
        if len(self.frame_times) > 10_000:
            del self.frame_times[:5000]
        return (
            (len(recent) - 1) / (recent[-1] - recent[0])
            if len(recent) > 1 and recent[-1] > recent[0]
            else 0.0
        )


class Studio(QtCore.QObject):
    """The controller: a session, its runner, the two windows and the timers."""

    def __init__(self, session: Session, opts: StudioOptions, app: QtWidgets.QApplication) -> None:
        super().__init__()
        self.session, self.opts, self.app = session, opts, app
        pres = session.presentation
        self.raw_ids = [s.id for s in session.raw]
        self.ring = RingSink(self.raw_ids)
        self.counters = Counters()
        self.audio: AudioSink | None = None
        self.sound_note = ""
        sinks: list[Sink] = [self.ring]
        if opts.wav:
            self.audio = WavFileSink(opts.wav, sonification=pres.sonification)
            self.sound_note = f"sound written to {opts.wav}"
        elif opts.sound:
            try:
                self.audio = PortAudioSink(
                    session.clock.now, sonification=pres.sonification, device=opts.audio_device
                )
                self.sound_note = f"sound: {self.audio.device_name}"  # type: ignore[attr-defined]
            except AudioUnavailable as error:
                self.sound_note = f"no sound: {error}"
        else:
            self.sound_note = "sound off (--no-sound)"
        if self.audio is not None:
            sinks.append(self.audio)
        sinks.extend(session.sinks)
        self.runner = SessionRunner(
            session.sources,
            session.nodes,
            sinks,
            session.clock,
            schedule=opts.schedule,
            until=session.until,
            on_pause=self.audio.set_paused if self.audio is not None else None,
        )
        self.deps = signal_sources(session.nodes, self.raw_ids)
        if (
            pres.picture == "balance" and pres.dot_stream is None
        ):  # outputs are named once the engine bound the nodes
            pres.dot_stream = next(
                (str(n.output) for n in session.nodes if str(getattr(n, "output", "")).startswith("sway.")),
                None,
            )
        self.started_wall: float | None = None
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        self.done = False
        self.summary: dict[str, Any] | None = None
        self.error: str | None = None
        self._lost: dict[str, bool] = {}

        self.dashboard = Dashboard()
        self.patient = PatientView()
        self.patient.set_large_text(opts.large_text)
        self.vis = _Latency(self.ring, session.clock.now)
        self.dash_lat = _Latency(self.ring, session.clock.now)
        self.patient.on_painted = self.vis.painted
        self.dashboard.traces.widget.painted = self.dash_lat.painted
        self.dashboard.raw_traces.widget.painted = self.dash_lat.painted
        self._build_dashboard()
        self._wire_controls()
        self.fast = QtCore.QTimer(self)
        self.fast.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.fast.timeout.connect(self._frame)
        self.slow = QtCore.QTimer(self)
        self.slow.timeout.connect(self._tick)

    # -- set-up --------------------------------------------------------------------
    def _build_dashboard(self) -> None:
        d, s = self.dashboard, self.session
        from nmre.drills import DRILLS

        d.drill.addItems(list(DRILLS))
        d.drill.setCurrentText(s.drill)
        d.drill.setEnabled(False)  # a session runs one drill; the picker is for the next one
        d.level.addItem("default")
        d.schedule.addItems(list(SCHEDULES))
        d.schedule.setCurrentText(self.opts.schedule)
        if self.opts.patient:
            d.patient.setEditText(self.opts.patient)
        d.sound_status.setText(self.sound_note)
        d.body.set_spots(s.sensors, s.drill)
        d.setup_list.setText(_setup_text(s.sensors))
        # traces: each watched signal with its band, then the sway, EMG envelopes, the timeline
        self.trace_specs: list[
            tuple[Any, str, str, list[str], float]
        ] = []  # (panel, plot key, stream, channels, offset)
        infos = {i.id: i for i in s.raw}
        for n in s.nodes:
            stream, channel = getattr(n, "stream", None), getattr(n, "channel", None)
            if isinstance(stream, str) and isinstance(channel, str):
                key = n.name
                lo, hi = getattr(n, "lo", None), getattr(n, "hi", None)
                d.traces.add_plot(
                    key,
                    f"{getattr(n, 'label', key)}  ({stream}:{channel})",
                    "",
                    [channel],
                    height=3,
                    y_range=_angle_range(lo, hi),
                )
                d.traces.set_band(key, lo, hi)
                self.trace_specs.append((d.traces, key, stream, [channel], 0.0))
        pres = s.presentation
        if pres.dot_stream:
            d.traces.add_plot("sway", f"Sway ({pres.dot_stream})", "m/s²", ["acc_ap", "acc_ml"], height=3)
            self.trace_specs.append((d.traces, "sway", pres.dot_stream, ["acc_ap", "acc_ml"], 0.0))
        for n in s.nodes:
            out = getattr(n, "output", "")
            if isinstance(out, str) and out.endswith(".envelope"):
                src = n.inputs[0].removesuffix(".clean")
                names = [c.name for c in infos[src].channels] if src in infos else ["ch"]
                d.traces.add_plot(out, f"EMG envelope ({out})", "mV", names, height=2)
                self.trace_specs.append((d.traces, out, out, names, 0.0))
        d.traces.add_timeline()
        for info in s.raw:
            if info.kind is StreamKind.EMG:
                names = [c.name for c in info.channels]
                d.raw_traces.add_plot(
                    info.id, f"raw EMG ({info.id}), channels stacked 1 mV apart", "mV", names, height=3
                )
                self.trace_specs.append((d.raw_traces, info.id, info.id, names, 1.0))
            elif info.kind in (StreamKind.IMU, StreamKind.ACC):
                d.raw_traces.add_plot(
                    info.id,
                    f"{info.id} acceleration",
                    "m/s²",
                    ["acc_x", "acc_y", "acc_z"],
                    height=2,
                    y_range=(-20.0, 20.0),
                )
                self.trace_specs.append((d.raw_traces, info.id, info.id, ["acc_x", "acc_y", "acc_z"], 0.0))
        d.tabs.setCurrentIndex(1 if self.opts.view == "raw" else 0)
        for t in self.runner.targets:
            d.add_target_editor(t.name, t.label, t.unit, t.lo, t.hi, self._apply_target)
        self._rows: dict[str, list[int]] = {}

    def _wire_controls(self) -> None:
        a = self.dashboard.actions_by_name
        a["start"].triggered.connect(self.start)
        a["pause"].toggled.connect(self.pause)
        a["stop"].triggered.connect(self.stop)
        a["marker"].triggered.connect(lambda: self.runner.marker())
        a["feedback"].triggered.connect(lambda: self.runner.request_feedback())
        a["mute"].toggled.connect(lambda on: self.audio.set_mute(on) if self.audio else None)
        a["large_text"].toggled.connect(self.patient.set_large_text)
        self.dashboard.volume.valueChanged.connect(
            lambda v: self.audio.set_volume(v / 100.0) if self.audio else None
        )
        self.dashboard.schedule.currentTextChanged.connect(self._schedule_changed)

    # -- controls ------------------------------------------------------------------
    def start(self) -> None:
        if self.runner.state is not RunState.READY:
            return
        pid = self.dashboard.patient.currentText().strip()
        if pid and not PATIENT_ID.match(pid):
            self._warn(
                f"patient id: expected a pseudonymous id such as P-0042 (letters, digits, - and _), got {pid!r}"
            )
            return
        self.started_wall = time.perf_counter()
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        self.runner.start()
        self.fast.start(max(1, round(1000.0 / self.opts.fps)))
        self.slow.start(200)

    def pause(self, paused: bool) -> None:
        self.runner.pause(paused)
        self._frame()

    def stop(self) -> None:
        if self.runner.state in (RunState.RUNNING, RunState.PAUSED):
            self.runner.stop()
        self._finish()

    def _apply_target(self, name: str, lo: float | None, hi: float | None) -> None:
        try:
            self.runner.set_target(name, lo, hi)
        except ConfigError as error:
            self._warn(str(error))
            return
        key = name
        if key in self.dashboard.traces.plots:
            self.dashboard.traces.set_band(key, lo, hi)

    def _schedule_changed(self, name: str) -> None:
        if self.runner.state in (RunState.RUNNING, RunState.PAUSED):
            self.runner.set_schedule(name)

    def _warn(self, text: str) -> None:
        self.counters.warnings.append((self.session.clock.now(), text))
        self.dashboard.warnings.insertItem(0, text)

    # -- timers ----------------------------------------------------------------------
    def _frame(self) -> None:
        """Fast timer: traces and the patient picture."""
        now = self.session.clock.now()
        for e in self.ring.pop_events():
            self.counters.add(e)
        self._update_health(now)
        if self.dashboard.isVisible():
            self._update_traces(now)
        self.patient.set_scene(self._scene(now))

    def _tick(self) -> None:
        """Slow timer: tables, counters, latency; the end of the session."""
        try:
            self.runner.check()
        except NmreError as error:
            self.error = f"session stopped: {error}"
            self._warn(self.error)
        except Exception as error:  # a bug in the engine thread: show it, keep the windows
            self.error = f"session failed: {type(error).__name__}: {error}"
            self._warn(self.error)
        now = self.session.clock.now()
        self._update_tables(now)
        self.dashboard.traces.rescale()
        self.dashboard.raw_traces.rescale()
        if (
            not self.runner.alive
            and self.runner.state in (RunState.STOPPED, RunState.FAILED)
            and not self.done
        ):
            self._frame()
            self._finish()

    def _update_health(self, now: float) -> None:
        pres = self.session.presentation
        running = self.runner.state in (RunState.RUNNING, RunState.PAUSED) and not self.done
        # a stream that never sent anything is still connecting, not lost
        lost = {sid: running and h.blocks > 0 and h.lost(now) for sid, h in self.ring.health.items()}
        for sid, is_lost in lost.items():
            if is_lost != self._lost.get(sid, False):
                h = self.ring.health[sid]
                self._warn(
                    f"{now:6.1f} s  {h.label}: {'no data — feedback that depends on it is paused' if is_lost else 'data back — feedback resumes'}"
                )
        self._lost = lost
        # the feedback shown depends on these raw streams (all of them when the graph does not say)
        deps = self.deps.get(pres.signal) or set(self.raw_ids)
        gone = [self.ring.health[s].label for s in sorted(deps) if lost.get(s)]
        reason = ("no data from " + ", ".join(gone)) if gone else None
        if self.audio is not None and reason != self.audio.hold_reason:
            self.audio.hold(reason)
        self.lost_reason = reason

    def _update_traces(self, now: float) -> None:
        d = self.dashboard
        traces = d.traces if d.tabs.currentIndex() == 0 else d.raw_traces
        t0, t1 = max(0.0, now - WINDOW), max(WINDOW, now)
        width = max(200, traces.widget.width())
        for panel, key, stream, names, offset in self.trace_specs:
            if panel is not traces:
                continue
            ring = self.ring.rings.get(stream)
            info = self.ring.infos.get(stream)
            if ring is None or info is None:
                continue
            rows = self._rows.get(key)
            if rows is None:
                ch = info.channel_names
                rows = [ch.index(n) if n in ch else 0 for n in names]
                self._rows[key] = rows
            t, v = ring.latest(WINDOW, info.rate)
            t, v = decimate(t, v[rows], 2 * width)
            for i in range(len(rows)):
                curve = traces.curves.get((key, i))
                if curve is not None:
                    curve.setData(t, v[i] + offset * i if offset else v[i], skipFiniteCheck=True)
        traces.set_window(t0, t1)
        d.traces.set_timeline(self.counters.timeline)

    def _scene(self, now: float) -> PatientScene:
        pres, c = self.session.presentation, self.counters
        fb = self.ring.feedback
        sig = fb.signals.get(pres.signal)
        sc = PatientScene(mode=pres.picture, title=pres.title, label=pres.label)
        if pres.reps_total is not None:
            sc.reps, sc.reps_total = c.reps, pres.reps_total
        if pres.picture == "gauge":
            sc.range_lo, sc.range_hi, sc.downward = pres.range_lo, pres.range_hi, pres.downward
            if sig is not None:
                sc.value, sc.lo, sc.hi, sc.unit = sig.value, sig.lo, sig.hi, sig.unit
        else:
            limit = sig.hi if sig is not None else None
            scale = limit if (limit is not None and math.isfinite(limit) and limit > 0) else 0.1
            sc.zone = 1.0 if limit is not None and math.isfinite(limit) else None
            ring = self.ring.rings.get(pres.dot_stream or "")
            info = self.ring.infos.get(pres.dot_stream or "")
            if ring is not None and info is not None:
                t, v = ring.latest(2.0, info.rate)
                if t.size:
                    sc.dot = (-float(v[1, -1]) / scale, float(v[0, -1]) / scale)
                    sc.trail = np.vstack([-v[1] / scale, v[0] / scale])[:, :: max(1, t.size // 80)]
            if pres.hold_target is not None:
                sc.hold, sc.hold_target = min(now, pres.hold_target), pres.hold_target
        if c.message and now - c.message_time <= MESSAGE_SECONDS:
            sc.message, sc.tone = c.message, c.message_tone
        state = self.runner.state
        if state is RunState.READY:
            sc.overlay, sc.overlay_text = "ready", "The session starts when your therapist presses Start"
        elif state is RunState.PAUSED:
            sc.overlay = "paused"
        elif getattr(self, "lost_reason", None):
            sc.overlay, sc.overlay_text = "lost", self.lost_reason or ""
            sc.value, sc.dot = math.nan, (math.nan, math.nan)
            sc.trail = np.zeros((2, 0))
        elif self.done:
            sc.overlay = "done"
        return sc

    def _update_tables(self, now: float) -> None:
        d, c = self.dashboard, self.counters
        # devices
        rows = list(self.ring.health.values())
        d.devices.setRowCount(len(rows))
        info = {}
        src = self.session.sources[0]
        if hasattr(src, "device_info"):
            try:
                info = src.device_info()
            except Exception:  # not started yet
                info = {}
        counters = src.counters() if hasattr(src, "counters") else {}
        for r, h in enumerate(rows):
            dev = self.ring.infos[h.stream].device or ""
            di = info.get(dev, {})
            if self.done:
                state = "ended"
            elif self._lost.get(h.stream):
                state = "no data"
            else:
                state = "streaming" if h.blocks else str(di.get("status", "connecting"))
            reconn = max(0, int(counters.get(dev, {}).get("connects", 1)) - 1) if counters else 0
            values = [
                h.label,
                state,
                f"{di['battery']} %" if di.get("battery") is not None else "–",
                f"{100 * h.loss:.1f} %",
                f"{1e3 * h.latency:.0f} ms" if math.isfinite(h.latency) else "–",
                str(reconn),
            ]
            for col, text in enumerate(values):
                item = d.devices.item(r, col)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    d.devices.setItem(r, col, item)
                item.setText(text)
                if col == 0:
                    item.setToolTip(f"{h.stream} on {dev or 'no device'}")
                if col == 1:
                    item.setForeground(QtGui.QColor("#D55E00" if state == "no data" else "#1A1A1A"))
        # calibration: nodes that say what they wait for
        d.calibration.clear()
        for n in self.session.nodes:
            status = getattr(n, "status", None)
            if callable(status):
                try:
                    st, waiting = status()
                    d.calibration.addItem(f"{getattr(n, 'name', 'step')}: {st} — {waiting}")
                except Exception:
                    pass
            elif hasattr(n, "done") and str(getattr(n, "name", "")).startswith("calibration."):
                d.calibration.addItem(
                    "neutral pose: done"
                    if n.done
                    else "neutral pose: waiting for 1 s of stillness of every IMU"
                )
        for t, text in c.calibration[-5:]:
            d.calibration.addItem(f"{t:6.1f} s  {text}")
        # counters and metrics
        errs = ", ".join(f"{k} ×{v}" for k, v in sorted(c.errors.items())) or "none"
        d.counters.setText(
            f"<span style='font-size:28pt;font-weight:bold'>{c.reps}</span> reps"
            + (f" of {self.session.presentation.reps_total}" if self.session.presentation.reps_total else "")
            + f"<br>on target <b>{c.on_target}</b> · corrections <b>{c.corrections}</b> · not judged <b>{c.unjudged}</b>"
            + f"<br>holds <b>{c.holds}</b> · markers <b>{self.runner.markers}</b><br>errors: {errs}"
        )
        d.metrics.setRowCount(len(c.last_rep))
        for r, (name, p) in enumerate(sorted(c.last_rep.items())):
            v = p.get("value")
            unit = p.get("unit", "")
            band = _band_text(p.get("lo"), p.get("hi"), unit)
            cells = [name + ("" if p.get("ok") else "  ✗"), "–" if v is None else f"{v:.1f} {unit}", band]
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if not p.get("ok"):
                    item.setForeground(QtGui.QColor("#D55E00"))
                d.metrics.setItem(r, col, item)
        # warnings (newest first)
        if d.warnings.count() != len(c.warnings):
            d.warnings.clear()
            for t, text in reversed(c.warnings):
                d.warnings.addItem(text if text.lstrip()[:1].isdigit() else f"{t:6.1f} s  {text}")
        # latency and load
        lat = self.latency()
        d.latency.setText(
            f"visual p95 <b>{_ms(lat['visual_from_arrival']['p95'])}</b> (target ≤ 60 ms) · "
            f"audio p95 <b>{_ms(lat['audio']['cue_from_arrival']['p95'] if lat['audio'] else None)}</b> (≤ 30 ms)<br>"
            f"patient view {lat['patient_fps']:.0f} frames/s · dashboard {lat['dashboard_fps']:.0f} frames/s · "
            f"CPU {lat['cpu_percent']:.0f} % of one core"
        )
        state = self.runner.state.value
        d.status.setText(
            f"session {now:6.1f} s · {state} · schedule {self.runner.schedule.name} · drill {self.session.drill}"
            + (f" · {self.error}" if self.error else "")
        )

    # -- measurements and the end -------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        wall = max(1e-9, time.perf_counter() - self.wall0)
        return {
            "visual_from_arrival": latency_summary(self.vis.from_arrival),
            "visual_from_sample": latency_summary(self.vis.from_sample),
            "dashboard_from_arrival": latency_summary(self.dash_lat.from_arrival),
            "audio": self.audio.latency() if self.audio is not None else None,
            "patient_fps": self.vis.fps(),
            "dashboard_fps": self.dash_lat.fps(),
            "cpu_percent": 100.0 * (time.process_time() - self.cpu0) / wall,
        }

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        c = self.counters
        st = self.runner.engine.stats
        self.summary = {
            "nmre_studio": 1,
            "drill": self.session.drill,
            "patient": self.dashboard.patient.currentText().strip() or None,
            "session_seconds": round(st.session_seconds, 3),
            "reps": c.reps,
            "on_target": c.on_target,
            "corrections": c.corrections,
            "not_judged": c.unjudged,
            "errors": dict(c.errors),
            "markers": self.runner.markers,
            "warnings": [text for _, text in c.warnings],
            "latency": self.latency(),
            "sound": self.sound_note,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in self.session.settings.items()},
        }
        self.dashboard.status.setText(self.dashboard.status.text() + " · session ended")
        self.fast.stop()
        self.patient.set_scene(self._scene(self.session.clock.now()))

    def screenshots(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Save the dashboard and the patient view as PNG files in ``folder``; returns their paths."""
        out = Path(folder)
        self._update_tables(self.session.clock.now())
        self.app.processEvents()
        paths = [out / "dashboard.png", out / "patient.png"]
        for widget, path in ((self.dashboard, paths[0]), (self.patient, paths[1])):
            if not widget.grab().save(str(path)):
                raise ConfigError(f"--screenshot: could not write {path}")
        return paths


def _setup_text(spots: Sequence[SensorSpot]) -> str:
    lines = []
    for i, s in enumerate(spots, 1):
        mark = {
            "present": "✓",
            "missing": "<b style='color:#D55E00'>missing</b>",
            "optional": "optional, absent",
        }[s.status]
        what = "EMG electrodes" if s.kind == "emg" else "IMU"
        lines.append(f"{i}. {what} on the {s.where} — {s.purpose} ({mark})")
    return "<br>".join(lines) or "no sensors listed for this drill"


def _angle_range(lo: float | None, hi: float | None) -> tuple[float, float] | None:
    """A fixed scale for a watched angle: from 0 (or below the band) to 1.5 x its far edge."""
    edge = max(v for v in (lo, hi, 0.0) if v is not None)
    if edge <= 0:
        return None
    low = min(0.0, lo) if lo is not None else 0.0
    return (low - 0.05 * edge, 1.5 * edge)


def _band_text(lo: Any, hi: Any, unit: str) -> str:
    if lo is None and hi is None:
        return "–"
    if lo is None:
        return f"≤ {hi:g} {unit}"
    if hi is None:
        return f"≥ {lo:g} {unit}"
    return f"{lo:g}–{hi:g} {unit}"


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f} ms"


def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or os.environ.get(
        "QT_QPA_PLATFORM"
    ) not in (None, "")


def place_patient_window(app: QtWidgets.QApplication, patient: QtWidgets.QWidget) -> str:
    """Full screen on a second monitor when there is one; otherwise a window. Returns what was done."""
    screens = app.screens()
    if len(screens) > 1:
        second = screens[1]
        patient.setGeometry(second.geometry())
        handle = patient.windowHandle()
        if handle is not None:
            handle.setScreen(second)
        patient.showFullScreen()
        return f"patient view full screen on {second.name()}"
    patient.resize(1280, 720)
    patient.show()
    return "one screen: the patient view is a window (drag it to the patient's screen)"


def run_studio(opts: StudioOptions, session: Session | None = None) -> int:
    """Run the studio; returns the exit status."""
    if opts.screenshot is not None:
        folder = Path(opts.screenshot)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--screenshot: expected a folder, got the file {str(folder)!r}")
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"--screenshot: expected a writable folder, got {str(folder)!r}")
    if opts.patient is not None and not PATIENT_ID.match(opts.patient):
        raise ConfigError(
            "--patient: "
            + expected("a pseudonymous id such as P-0042 (letters, digits, - and _)", opts.patient)
        )
    if not _display_available():
        if opts.screenshot is None:
            print(
                "nmre studio: no display (DISPLAY and WAYLAND_DISPLAY unset): the windows run offscreen and show nothing; "
                "use --screenshot DIR to see them",
                file=sys.stderr,
            )
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if session is None:
        if opts.replay is not None:
            raise ConfigError(
                "--replay: recordings cannot be replayed yet (the XDF replay source is not built)"
            )
        if not opts.sim:
            raise ConfigError(
                "live sensors: expected --sim for now (live device selection comes with the device panel's connect)"
            )
        until = None if opts.seconds is None else opts.seconds + 1.0  # the pictures are taken at --seconds
        session = build_sim_session(opts.drill, opts.seed, opts.reps, until, ble=True)
    from nmre.dsp import warmup

    warmup()  # compile or load kernels before the session clock starts
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    studio = Studio(session, opts, app)
    studio.dashboard.show()
    where = place_patient_window(app, studio.patient)
    print(f"nmre studio: {where}; {studio.sound_note}", file=sys.stderr)
    if isinstance(session.clock, RealClock):
        session.clock.restart()
    studio.start()
    if opts.screenshot is not None or opts.seconds is not None:
        finished = QtCore.QTimer()
        finished.setInterval(100)

        shots: list[Path] = []

        def check() -> None:
            # the pictures are taken while the session still runs (at --seconds), or at its end
            due = opts.seconds is not None and session.clock.now() >= opts.seconds
            if opts.screenshot is not None and not shots and (due or studio.done):
                studio._frame()
                shots.extend(studio.screenshots(opts.screenshot))
            if due and not studio.done:
                studio.stop()
            if studio.done:
                if opts.screenshot is not None:
                    _write_summary(Path(opts.screenshot) / "summary.json", studio.summary)
                app.quit()

        finished.timeout.connect(check)
        finished.start()
    app.exec()
    if studio.runner.alive:
        studio.runner.stop()
    if studio.summary is not None:
        _print_summary(studio.summary)
    return 1 if studio.error else 0


def _write_summary(path: Path, summary: dict[str, Any] | None) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")


def _print_summary(s: dict[str, Any]) -> None:
    lat = s["latency"]
    audio = lat["audio"]["cue_from_arrival"]["p95"] if lat.get("audio") else None
    print(
        f"nmre studio: {s['drill']}, {s['session_seconds']:.1f} s, {s['reps']} reps, on target {s['on_target']}, "
        f"corrections {s['corrections']}, not judged {s['not_judged']}; visual latency p95 "
        f"{_ms(lat['visual_from_arrival']['p95'])}, audio p95 {_ms(audio)}; "
        f"{lat['patient_fps']:.0f} frames/s; CPU {lat['cpu_percent']:.0f} % of one core",
        file=sys.stderr,
    )

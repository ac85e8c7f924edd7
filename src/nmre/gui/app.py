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
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from nmre.gui.runner import RunState, SessionRunner, behind_readiness, inner

__all__ = ["Presentation", "Session", "Studio", "StudioOptions", "build_sim_session", "run_studio"]

#: A pseudonymous patient id: letters, digits, '-' and '_', 1-32 characters (never a name with spaces).
PATIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: How long the patient view keeps one message, session s.
MESSAGE_SECONDS = 4.0
#: How often (s) a thread holding the GIL is asked to hand it over (CPython's default: 0.005).
SWITCH_INTERVAL = 0.001
#: Seconds of signal the dashboard's traces show.
WINDOW = 10.0

#: Builds the session of a drill at a level (the next session chosen in the window).
SessionFactory = Callable[[str, "int | None"], "Session"]


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
    schedule: str | None = None  # None: the drill file's schedule
    patient: str | None = None
    sound: bool = True
    audio_device: str | None = None
    wav: str | None = None
    fps: float = 60.0  # the patient view (and events, stream health)
    dashboard_fps: float = 30.0  # the dashboard's traces
    large_text: bool = False
    view: str = "session"  # session | raw
    bumble: str | None = (
        None  # a Bumble HCI transport (an emulator process) instead of the OS Bluetooth stack
    )
    wear: tuple[str, ...] = ()  # live sensors: NAME=SEGMENT[.SIDE][:MUSCLE,...] (nmre.gui.live)
    level: int | None = None  # the drill's progression level
    record: str | None = None  # an XDF recording of the session (raw streams, events, feedback, metadata)
    override_readiness: str | None = None  # open the readiness gate at the start, for this reason (recorded)
    store: str | None = (
        None  # the session store (path or URL); None: NMRE_STORE or the default, when a patient is set
    )
    drill_given: bool = True  # False: --drill was not on the command line (a review takes the recording's)


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
    counter: str | None = None  # the drill file's counter signal (its label), e.g. "Reps", "Windows"
    #: The gauge's band is judged per unit (rep, hold, transition) on this statistic of the signal over the unit
    #: ("max", "min"; None: its value now): between units the gauge shows the level without judging it.
    per_unit: bool = False
    stat: str | None = None
    #: Limits of stability (a ``targets`` segmenter): the lean's front-back signal (the dot's y; ``signal`` is
    #: its side-to-side x, positive to the left) and the limits (deg forward, backward, lateral; target %).
    dot_y: str | None = None
    los: dict[str, float] | None = None


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
    level: int | None = None  # the drill file's progression level (None: the file's own targets)


# -- what each drill needs and shows (from its drill file) -----------------------------------
#: Movements whose gauge grows downwards (the body goes down as the angle grows).
DOWNWARD_MOVEMENTS = ("squat", "forward_lunge", "sit_to_stand")


def _spec(drill: Any) -> Any:
    from nmre.drills import DrillSpec, load_drill

    return drill if isinstance(drill, DrillSpec) else load_drill(drill)


def _side(spec: Any, settings: Mapping[str, Any] | None = None, streams: Sequence[StreamInfo] = ()) -> str:
    """The drill's working side: as set, else the side of the sided sensors worn, else right."""
    side = (settings or {}).get("side")
    if side is None and "side" in spec.settings:
        side = spec.settings["side"].value
    if side in ("left", "right"):
        return str(side)
    segments = {g for sensor in spec.sensors if sensor.side == "drill" for g in sensor.segments}
    worn = [
        s.placement.side.value
        for s in streams
        if s.placement is not None and s.placement.segment in segments and s.placement.side is not None
    ]
    return "left" if worn and all(w == "left" for w in worn) else "right"


def sensor_spots(
    drill: Any, streams: Sequence[StreamInfo], settings: Mapping[str, Any] | None = None
) -> list[SensorSpot]:
    """The drill file's sensors, each marked present, missing or (absent and) optional, on the body map."""
    spec = _spec(drill)
    work_side = _side(spec, settings, streams)
    out = []
    for sensor in spec.sensors:
        side = work_side if sensor.side == "drill" else sensor.side
        sided = side in ("left", "right")

        def side_ok(p: Any, sided: bool = sided, side: str = side) -> bool:
            return not sided or (p is not None and p.side is not None and p.side.value == side)

        purpose, where = sensor.purpose, sensor.where
        if sensor.muscles:
            for m in sensor.muscles:
                present = any(
                    s.kind is StreamKind.EMG
                    and any(
                        c.placement is not None and c.placement.muscle == m and side_ok(c.placement)
                        for c in s.channels
                    )
                    for s in streams
                )
                status = "present" if present else ("missing" if sensor.required else "optional")
                out.append(SensorSpot("emg", None, m, side if sided else None, status, purpose, where))
            continue
        present = any(
            s.kind in sensor.kinds
            and s.placement is not None
            and (not sensor.segments or s.placement.segment in sensor.segments)
            and side_ok(s.placement)
            for s in streams
        )
        status = "present" if present else ("missing" if sensor.required else "optional")
        kind = (
            "imu"
            if StreamKind.IMU in sensor.kinds or StreamKind.ACC in sensor.kinds
            else sensor.kinds[0].value
        )
        segment = sensor.segments[0] if sensor.segments else None
        out.append(SensorSpot(kind, segment, None, side if sided else "midline", status, purpose, where))
    return out


def presentation_for(
    drill: Any, nodes: Sequence[Any], reps: int | None, duration: float | None
) -> Presentation:
    """How the drill file's feedback is shown and sounded: its first gauge or target picture, its counter, its sound."""
    spec = _spec(drill)
    fb = spec.feedback
    pictures = list(fb.picture)
    main = next((p for p in pictures if p.kind in ("gauge", "target")), None)
    counter = next((p for p in pictures if p.kind == "counter"), None)
    snd = fb.sound
    sonify = snd if snd is not None and snd.kind == "sonify" and snd.signal else None
    sonification = None
    if sonify is not None:
        name = f"sound {sonify.signal}"
        if sonify.dead_zone is not None:  # silent inside the tolerance, rising with the distance beyond it
            lo, hi = sonify.dead_zone
            full = None
            if sonify.range is not None:
                full = max(lo - sonify.range[0], sonify.range[1] - hi)
            sonification = Sonification(
                name, mode="error", dead_zone=(lo, hi), full_scale=full if full and full > 0 else None
            )
        else:
            r = sonify.range or (None, None)
            sonification = Sonification(name, mode="level", lo_range=r[0], hi_range=r[1])
    counter_label = counter.label if counter is not None and counter.label else None
    if main is not None and main.kind == "gauge":
        rng = sonify.range if sonify is not None and sonify.signal == main.signal and sonify.range else None
        scale = (rng[0], rng[1] + 10.0) if rng else (0.0, 100.0)
        if rng is None:  # no sound range to borrow: from 0 to 1.3 x the far edge of the target band
            band = next((r for r in spec.rules if r.id == main.band_from), None)
            edges = [abs(v) for v in (getattr(band, "lo", None), getattr(band, "hi", None)) if v is not None]
            edges = [v for v in edges if math.isfinite(v) and v > 0]
            if edges:
                scale = (0.0, 1.3 * max(edges))
        label = main.label or main.signal or ""
        band_rule = next((r for r in spec.rules if r.id == main.band_from), None)
        params = getattr(band_rule, "params", None) or {}
        return Presentation(
            "gauge",
            label,
            label=label,
            range_lo=scale[0],
            range_hi=scale[1],
            downward=spec.movement in DOWNWARD_MOVEMENTS,
            sonification=sonification,
            reps_total=reps if reps is not None else spec.structure.per_set,
            counter=counter_label,
            title=spec.title,
            per_unit=band_rule is not None and params.get("during") == "unit",
            stat=params.get("stat") if params.get("stat") in ("max", "min") else None,
        )
    seg = spec.structure.segmenter
    if seg.kind == "targets" and main is not None:  # limits of stability: 8 targets, the lean as the dot
        trace = next((p for p in pictures if p.kind == "trace" and p.signal), None)
        params = {k: float(seg.params[k]) for k in ("forward", "backward", "lateral", "target_percent")}
        return Presentation(
            "los",
            main.label or main.signal or "",
            title=spec.title,
            sonification=sonification,
            counter=counter_label,
            dot_y=(trace.label or trace.signal) if trace is not None else None,
            los=params,
        )
    return Presentation(
        "balance",
        main.label if main is not None and main.label else "sway",
        title=spec.title,
        sonification=sonification,
        hold_target=duration,
        counter=counter_label,
    )


def _load(drill: str) -> Any:
    from nmre.drills import load_drill

    return load_drill(drill)  # a name, an alias or a .toml file; ConfigError names what exists


def build_sim_session(
    drill: str = "squat",
    seed: int = 1,
    reps: int = 10,
    seconds: float | None = None,
    *,
    ble: bool = True,
    clock: Clock | None = None,
    source_wrapper: Any = None,
    level: int | None = None,
) -> Session:
    """The simulated body doing ``drill`` (at ``level``: the level's conditions go to the simulator too).

    On emulated BLE boards (``ble``, real clock) or as a scheduled source.
    """
    from nmre.demo import DemoOptions, _count_field, _timed, sim_config
    from nmre.drills import build_drill
    from nmre.sim import MOVEMENTS, SimSource, simulate

    spec = _load(drill)
    lv = next((x for x in spec.levels if x.level == level), None)
    if level is not None and lv is None:
        have = f"1 to {len(spec.levels)}" if spec.levels else "none (this drill has no levels)"
        raise ConfigError("--level: " + expected(f"a level of the drill {spec.name} ({have})", level))
    cls = MOVEMENTS.get(spec.movement)
    if cls is None:
        raise ConfigError(
            f"--sim: expected a drill whose movement the simulator performs ({', '.join(MOVEMENTS)}), "
            f"got {spec.name} ({spec.movement})"
        )
    # the movement with the demo's errors (one unit with each error the drill reports; a stance's sway episode
    # and loss of balance), at the level's conditions
    counted = not _timed(cls)
    count = _count_field(cls)
    cfg, _errors = sim_config(
        spec,
        DemoOptions(
            drill=spec.name,
            level=level,
            reps=reps if counted and count != "rounds" else None,
            seconds=None if counted else (seconds if seconds is not None else 40.0),
            side=_side(spec) if getattr(cls, "sided", False) else None,
        ),
    )
    sim = simulate(cfg, seed=seed)
    built = build_drill(spec, sim.streams, level=level)
    source: Source
    until: float | None
    carried = _emg_boards(sim) if ble else None
    if ble and carried is None:
        print(
            f"nmre studio: the simulated kit of {spec.name} does not fit the emulated boards (at most 4 IMUs, "
            "one EMG stream each): the simulated body is streamed without BLE",
            file=sys.stderr,
        )
        ble = False
    if ble:
        source, _boards = _ble_source(sim, seed, carried)
        clock = clock or RealClock()
        until = seconds if seconds is not None else sim.duration + 1.0
    else:
        source = SimSource(sim, seed=seed)
        until = seconds
    if source_wrapper is not None:
        source = source_wrapper(source)
    clock = clock or RealClock()
    pres = presentation_for(spec, built.nodes, reps if counted else None, None if counted else sim.duration)
    return Session(
        sources=[source],
        nodes=built.nodes,
        drill=spec.name,
        raw=list(source.streams),
        clock=clock,
        presentation=pres,
        sensors=sensor_spots(spec, source.streams, built.settings),
        until=until,
        sim=sim,
        settings=dict(built.settings),
        level=level,
    )


def _emg_boards(sim: Any) -> dict[str, str] | None:
    """Which emulated board (named by its IMU stream) carries each simulated EMG stream; None if they do not fit.

    An EMG stream rides on the IMU board of its segment when the ids say it (``emg.arm.r`` on
    ``imu.upper_arm.r``), else on the thigh board of its side (``emg.r`` on ``imu.thigh.r``), else on a free one.
    """
    imus = [s.id for s in sim.streams if s.kind is StreamKind.IMU]
    emgs = [s.id for s in sim.streams if s.kind is StreamKind.EMG]
    if len(imus) > 4 or len(emgs) > len(imus):
        return None
    out: dict[str, str] = {}
    for e in emgs:
        parts = e.split(".")[1:]  # emg.r -> [r]; emg.arm.r -> [arm, r]
        side = parts[-1] if parts and parts[-1] in ("l", "r") else ""
        seg = parts[0] if len(parts) > 1 else ""
        free = [i for i in imus if i not in out]
        pick = next((i for i in free if seg and seg in i and i.endswith("." + side)), None)
        pick = pick or next((i for i in free if i == f"imu.thigh.{side}"), None)
        pick = pick or next((i for i in free if side and i.endswith("." + side)), None)
        pick = pick or (free[0] if free else None)
        if pick is None:
            return None
        out[pick] = e
    return out


def _ble_source(sim: Any, seed: int, carried: Mapping[str, str] | None) -> tuple[Source, list[Any]]:
    """The simulated body worn by emulated nmre boards (one per IMU, EMG as ``carried`` says), over bleak + Bumble."""
    from bumble.link import LocalLink

    from nmre.acquisition.ble import BleConfig, BleSource
    from nmre.sim.devices.nmre_device import simulated_boards

    link = LocalLink()  # type: ignore[no-untyped-call]
    boards, specs = simulated_boards(sim, link, emg=carried)
    config = BleConfig(backend="bumble", bumble_link=link, emulated=boards, seed=seed)
    return BleSource(specs, config), boards


def ble_config(bumble: str | None) -> Any:
    """The radio: the OS Bluetooth stack, or a Bumble HCI transport (``tcp-client:127.0.0.1:PORT``)."""
    from nmre.acquisition.ble import BleConfig

    return BleConfig(backend="bumble", bumble_transport=bumble) if bumble else BleConfig()


def build_live_session(
    drill: str,
    wears: Sequence[Any],
    config: Any,
    seconds: float | None = None,
    *,
    clock: Clock | None = None,
    level: int | None = None,
) -> Session:
    """Sensors on the radio (``config``), worn as ``wears`` say (:mod:`nmre.gui.live`), doing ``drill``."""
    from nmre.acquisition.ble import BleSource
    from nmre.drills import build_drill
    from nmre.gui.live import device_specs

    spec = _load(drill)
    source = BleSource(device_specs(wears), config)
    streams = list(source.streams)
    spots = sensor_spots(spec, streams)
    missing = [s.where for s in spots if s.status == "missing"]
    if missing:
        raise ConfigError(
            f"drill {drill}: expected sensors on the {', '.join(missing)} (see the setup guide), "
            f"got {', '.join(w.text for w in wears)}"
        )
    built = build_drill(spec, streams, level=level)
    pres = presentation_for(spec, built.nodes, None, None)
    return Session(
        sources=[source],
        nodes=built.nodes,
        drill=spec.name,
        raw=streams,
        clock=clock or RealClock(),
        presentation=pres,
        sensors=spots,
        until=seconds,
        settings=dict(built.settings),
        level=level,
    )


class _Latency:
    """Per-frame latency: for every raw block first shown in a frame, paint end minus its arrival (and sample time)."""

    def __init__(self, ring: RingSink, now: Any) -> None:
        self.ring, self.now = ring, now
        self.index = 0
        self.from_arrival: list[float] = []
        self.from_sample: list[float] = []
        self.frame_times: list[float] = []
        self.frames = 0
        self.skipped = 0  # frames whose picture would have been the same (not painted)
        self.first_frame = math.nan

    #: How many of the latest latencies the live figures use (about 10 s of raw blocks of a full kit).
    recent = 10_000

    def painted(self) -> None:
        t = self.now()
        wall = time.perf_counter()
        if not self.frames:
            self.first_frame = wall
        self.frames += 1
        self.frame_times.append(wall)
        self.index, arrival, sample = self.ring.arrivals.since(self.index)
        if arrival.size:
            self.from_arrival.extend((t - arrival).tolist())
            self.from_sample.extend((t - sample).tolist())
            if len(self.from_arrival) > 200_000:
                del self.from_arrival[:100_000], self.from_sample[:100_000]

    def unchanged(self) -> None:
        """A frame that did not need painting: the picture on screen already shows what arrived."""
        t = self.now()
        self.index, arrival, sample = self.ring.arrivals.since(self.index)
        if arrival.size:
            self.from_arrival.extend((t - arrival).tolist())
            self.from_sample.extend((t - sample).tolist())
        self.skipped += 1
        self.frame_times.append(time.perf_counter())  # a frame on time, as far as the eye can tell

    def mean_fps(self) -> float:
        """Frames per second over the whole session so far."""
        n = self.frames + self.skipped
        if n < 2 or not self.frame_times:
            return 0.0
        span = self.frame_times[-1] - self.first_frame
        return (n - 1) / span if span > 0 else 0.0

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

    def __init__(
        self,
        session: Session,
        opts: StudioOptions,
        app: QtWidgets.QApplication,
        *,
        run_engine: bool = True,
        factory: SessionFactory | None = None,
    ) -> None:
        super().__init__()
        self.session, self.opts, self.app = session, opts, app
        #: Builds the next session (drill, level) when the therapist picks another in the window.
        self.factory = factory
        #: The studio of the next session once it replaced this one; ``on_successor`` hears of it.
        self.successor: Studio | None = None
        self.on_successor: Callable[[Studio], None] | None = None
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
                portaudio = PortAudioSink(
                    session.clock.now, sonification=pres.sonification, device=opts.audio_device
                )
                self.audio = portaudio
                self.sound_note = f"sound: {portaudio.device_name}"
            except AudioUnavailable as error:
                self.sound_note = f"no sound: {error}"
        else:
            self.sound_note = "sound off (--no-sound)"
        if self.audio is not None:
            sinks.append(self.audio)
        sinks.extend(session.sinks)
        # the drill runs behind the signal-readiness gate (the therapist may override it, with a reason)
        self.gate: Any = None
        if run_engine:
            session.nodes, self.gate = behind_readiness(session.nodes, self.raw_ids)
        if opts.record:
            sinks.append(_recorder(opts, session))
        self.runner = SessionRunner(
            session.sources if run_engine else [],
            session.nodes if run_engine else [],
            sinks,
            session.clock,
            schedule=opts.schedule or _load(session.drill).feedback.schedule.kind,
            until=session.until,
            on_pause=self.audio.set_paused if self.audio is not None else None,
        )
        self.deps = signal_sources([inner(n) for n in session.nodes], self.raw_ids)
        if (
            pres.picture == "balance" and pres.dot_stream is None
        ):  # outputs are named once the engine bound the nodes
            pres.dot_stream = next(
                (
                    str(inner(n).output)
                    for n in session.nodes
                    if str(getattr(inner(n), "output", "")).startswith("sway.")
                ),
                None,
            )
        self._los_trail: deque[tuple[float, float, float]] = deque()
        self._los_lean: deque[tuple[float, float, float]] = deque()  # (time, left, forward) as shown
        self._los_centre: tuple[float, float] = (0.0, 0.0)
        self._los_centre_cue: float | None = None
        self.started_wall: float | None = None
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        self.done = False
        self.summary: dict[str, Any] | None = None
        self.error: str | None = None
        self._lost: dict[str, bool] = {}

        self.store: Any = None
        self.saved_session: int | None = None
        self.all_events: list[Any] = []  # every event, for the store (the engine keeps a bounded list)
        target = opts.store or os.environ.get("NMRE_STORE")
        if run_engine and (target or opts.patient):
            from nmre.sessions.store import open_store

            try:  # before the session starts: a store that cannot be written is one line now, not data lost later
                self.store = open_store(target)
                self.store.preflight()
            except NmreError as error:
                raise ConfigError(f"--store: {error}") from None
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
        self.fast.timeout.connect(self._patient_frame)
        self.dash = QtCore.QTimer(self)  # the dashboard's traces: their own (lower) rate
        self.dash.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.dash.setSingleShot(True)  # re-armed for the next due time: a steady rate, no drift
        self.dash.timeout.connect(self._dashboard_tick)
        self._dash_due = 0.0
        self.slow = QtCore.QTimer(self)
        self.slow.timeout.connect(self._tick)

    # -- set-up --------------------------------------------------------------------
    def _build_dashboard(self) -> None:
        d, s = self.dashboard, self.session
        from nmre.drills import list_drills

        names = list_drills()
        if s.drill not in names:  # a drill file given by path
            names.append(s.drill)
        for name in names:
            d.drill.addItem(name, name)
            try:
                sp = _load(name)
                d.drill.setItemData(
                    d.drill.count() - 1, f"{sp.title}: {sp.summary}", QtCore.Qt.ItemDataRole.ToolTipRole
                )
            except NmreError:
                pass
        d.drill.setCurrentIndex(max(0, d.drill.findData(s.drill)))
        self._fill_levels(s.drill, s.level)
        # a session runs one drill at one level; the pickers choose the next session (Start after Stop,
        # or at once before Start); without a way to build another session (a review) they only show
        d.drill.setEnabled(self.factory is not None)
        d.level.setEnabled(self.factory is not None)
        d.drill.currentIndexChanged.connect(self._drill_chosen)
        d.level.currentIndexChanged.connect(lambda _i: self._show_next())
        d.schedule.addItems(list(SCHEDULES))
        d.schedule.setCurrentText(self.runner.schedule.name)
        if self.store is not None:
            for row in self.store.patients():
                d.patient.addItem(row.id)
                d.patient.setItemData(
                    d.patient.count() - 1,
                    f"{row.sessions} session(s), last {row.last_session or '–'}",
                    QtCore.Qt.ItemDataRole.ToolTipRole,
                )
            d.patient.setToolTip(
                f"Pseudonymous patient id; the summary is saved to {getattr(self.store, 'where', 'the store')}"
            )
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
        # one plot per watched signal, titled by the rules that judge it; a rule's band is drawn on it once
        # the signal's unit is known and is the rule's (a hold time in s is no line on an angle in deg)
        by_signal: dict[tuple[str, str], str] = {}
        self._pending_bands: list[tuple[str, str, str, Any]] = []  # (rule key, stream, channel, rule)
        self._banded: set[str] = set()
        for n in map(inner, s.nodes):
            stream, channel = getattr(n, "stream", None), getattr(n, "channel", None)
            if isinstance(stream, str) and isinstance(channel, str):
                key = n.name
                label = str(getattr(n, "label", key))
                first = by_signal.get((stream, channel))
                if first is None:
                    by_signal[(stream, channel)] = key
                    d.traces.add_plot(key, f"{label}  ({stream}:{channel})", "", [channel], height=3)
                    self.trace_specs.append((d.traces, key, stream, [channel], 0.0))
                else:
                    plot = d.traces.plots[first]
                    plot.setTitle(f"{label}; {plot.titleLabel.text}", size="10pt")
                    d.traces.plots[key] = plot  # the rule's band goes on the signal's plot
                self._pending_bands.append((key, stream, channel, n))
        # the signals the patient's pictures follow that no rule plot shows (the lean of a weight shift)
        for n in map(inner, s.nodes):
            watched = getattr(n, "watched", None)
            if not callable(watched):
                continue
            for label, stream, channel in watched():
                if (
                    (stream, channel) in by_signal
                    or label.startswith("sound ")
                    or stream == s.presentation.dot_stream  # the sway plot shows both of its channels
                ):
                    continue
                key = f"feedback:{label}"
                by_signal[(stream, channel)] = key
                d.traces.add_plot(key, f"{label}  ({stream}:{channel})", "", [channel], height=3)
                self.trace_specs.append((d.traces, key, stream, [channel], 0.0))
        pres = s.presentation
        #: the (stream, channel) of the signal the patient's gauge shows
        self._gauge_source = next(
            (
                (stream, channel)
                for n in map(inner, s.nodes)
                if callable(getattr(n, "watched", None))
                for label, stream, channel in n.watched()
                if label == pres.signal
            ),
            None,
        )
        if pres.dot_stream:
            d.traces.add_plot("sway", f"Sway ({pres.dot_stream})", "m/s²", ["acc_ap", "acc_ml"], height=3)
            self.trace_specs.append((d.traces, "sway", pres.dot_stream, ["acc_ap", "acc_ml"], 0.0))
        for n in map(inner, s.nodes):
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
        d.traces.set_span(WINDOW)
        d.raw_traces.set_span(WINDOW)
        d.tabs.setCurrentIndex(1 if self.opts.view == "raw" else 0)
        for t in self.runner.targets:
            d.add_target_editor(t.name, t.label, t.unit, t.lo, t.hi, self._apply_target)
        self._rows: dict[str, list[int]] = {}
        self._cal_lines: list[tuple[str, bool]] = []
        self._metric_rows: list[tuple[tuple[str, str, str], bool]] = []
        self._warn_key: tuple[int, Any] = (0, None)
        self._ticks = 0

    def _wire_controls(self) -> None:
        a = self.dashboard.actions_by_name
        a["start"].triggered.connect(self.start)
        a["pause"].toggled.connect(self.pause)
        a["stop"].triggered.connect(self.stop)
        a["marker"].triggered.connect(lambda: self.runner.marker())
        a["feedback"].triggered.connect(lambda: self.runner.request_feedback())
        self.dashboard.override.clicked.connect(self._ask_override)
        a["mute"].toggled.connect(lambda on: self.audio.set_mute(on) if self.audio else None)
        a["large_text"].toggled.connect(self.patient.set_large_text)
        self.dashboard.volume.valueChanged.connect(
            lambda v: self.audio.set_volume(v / 100.0) if self.audio else None
        )
        self.dashboard.schedule.currentTextChanged.connect(self._schedule_changed)
        self.dashboard.use_level.clicked.connect(self.use_suggested_level)

    # -- the drill, the level and the next session ----------------------------------------
    def _fill_levels(self, drill: str, level: int | None) -> None:
        d = self.dashboard
        d.level.blockSignals(True)
        d.level.clear()
        d.level.addItem("file's targets", None)
        try:
            levels = _load(drill).levels
        except NmreError:
            levels = ()
        for lv in levels:
            d.level.addItem(f"{lv.level}: {lv.title}", lv.level)
            d.level.setItemData(d.level.count() - 1, lv.about or lv.title, QtCore.Qt.ItemDataRole.ToolTipRole)
        d.level.setCurrentIndex(max(0, d.level.findData(level)) if level is not None else 0)
        d.level.blockSignals(False)

    def _drill_chosen(self, _index: int) -> None:
        drill = self.dashboard.drill.currentData()
        if isinstance(drill, str):
            self._fill_levels(drill, self.session.level if drill == self.session.drill else None)
        self._show_next()

    def chosen(self) -> tuple[str, int | None]:
        """The drill and level the pickers show (the next session's, when they differ from this one)."""
        drill = self.dashboard.drill.currentData()
        level = self.dashboard.level.currentData()
        return (
            drill if isinstance(drill, str) else self.session.drill,
            int(level) if isinstance(level, int) else None,
        )

    def _show_next(self) -> None:
        """Say what Start will do when the pickers differ from the session that runs."""
        drill, level = self.chosen()
        if (drill, level) == (self.session.drill, self.session.level):
            self.dashboard.next_session.setText("")
            return
        at = "the file's targets" if level is None else f"level {level}"
        when = "at Start" if self.runner.state is RunState.READY or self.done else "after Stop, at Start"
        self.dashboard.next_session.setText(f"next session: {drill}, {at} ({when})")

    def use_suggested_level(self) -> None:
        """The progression suggestion's level into the level picker (for the next session)."""
        nxt = self.counters.next_level
        if nxt is None:
            return
        i = self.dashboard.level.findData(nxt)
        if i >= 0:
            self.dashboard.level.setCurrentIndex(i)

    def next_session(self) -> Studio | None:
        """A new session with the drill and level chosen, in new windows where these were; this one closes.

        Returns the new studio (also given to ``on_successor``), or ``None`` with a warning when the
        session cannot be built (the message says why) or this studio cannot build sessions.
        """
        if self.factory is None:
            self._warn("next session: this studio cannot start another session (a review)")
            return None
        drill, level = self.chosen()
        try:
            session = self.factory(drill, level)
        except NmreError as error:
            self._warn(f"next session: {error}")
            return None
        opts = replace(
            self.opts,
            drill=drill,
            level=level,
            override_readiness=None,
            record=_next_record(self.opts.record),
            patient=self.dashboard.patient.currentText().strip() or self.opts.patient,
            large_text=self.dashboard.actions_by_name["large_text"].isChecked(),
            schedule=None,  # the new drill file's schedule
        )
        new = Studio(session, opts, self.app, factory=self.factory)
        new.dashboard.setGeometry(self.dashboard.geometry())
        new.dashboard.volume.setValue(self.dashboard.volume.value())
        if self.dashboard.actions_by_name["mute"].isChecked():
            new.dashboard.actions_by_name["mute"].setChecked(True)
        new.dashboard.show()
        if self.patient.isFullScreen():
            screen = self.patient.screen()
            new.patient.setScreen(screen)
            new.patient.setGeometry(screen.geometry())
            new.patient.showFullScreen()
        else:
            new.patient.setGeometry(self.patient.geometry())
            new.patient.show()
        self.close()
        self.successor = new
        if self.on_successor is not None:
            self.on_successor(new)
        return new

    def close(self) -> None:
        """Stop the session (if it runs), the timers and the sound; close both windows."""
        started = self.runner.state is not RunState.READY
        if self.runner.state in (RunState.RUNNING, RunState.PAUSED) or self.runner.alive:
            self.runner.stop()
        if started and not self.done:
            self._finish()
        for timer in (self.fast, self.dash, self.slow):
            timer.stop()
        self.dashboard.close()
        self.patient.close()

    # -- controls ------------------------------------------------------------------
    def start(self) -> None:
        if self.done or (
            self.runner.state is RunState.READY and self.chosen() != (self.session.drill, self.session.level)
        ):
            if self.factory is not None and self.successor is None:
                new = self.next_session()  # Start after Stop, or before Start with another drill or level
                if new is not None:
                    new.start()
            return
        if self.runner.state is not RunState.READY:
            return
        pid = self.dashboard.patient.currentText().strip()
        if pid and not PATIENT_ID.match(pid):
            self._warn(
                f"patient id: expected a pseudonymous id such as P-0042 (letters, digits, - and _), got {pid!r}"
            )
            return
        if isinstance(self.session.clock, RealClock):
            self.session.clock.restart()  # session time 0 is the therapist's Start
        self.started_wall = time.perf_counter()
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        self.runner.start()
        if self.opts.override_readiness:
            self.override_readiness(self.opts.override_readiness)
        self.fast.start(max(1, round(1000.0 / self.opts.fps)))
        self._dash_due = time.perf_counter()
        self.dash.start(0)
        self.slow.start(200)

    def pause(self, paused: bool) -> None:
        self.runner.pause(paused)
        self._frame()

    def stop(self) -> None:
        if self.runner.state in (RunState.RUNNING, RunState.PAUSED):
            self.runner.stop()
        self._finish()

    def _ask_override(self) -> None:
        reason, ok = QtWidgets.QInputDialog.getText(
            self.dashboard, "Override readiness gate", "Why start although the signals are not ready?"
        )
        if ok:
            self.override_readiness(reason)

    def override_readiness(self, reason: str) -> None:
        """The therapist opens the readiness gate, with a reason (recorded as readiness.override)."""
        if self.gate is None:
            self._warn("readiness override: this session has no readiness gate")
            return
        try:
            self.runner.override_readiness(self.gate, reason)
        except ConfigError as error:
            self._warn(str(error))

    def _apply_target(self, name: str, lo: float | None, hi: float | None) -> None:
        try:
            self.runner.set_target(name, lo, hi)
        except ConfigError as error:
            self._warn(str(error))
            return
        if name in self._banded:
            self.dashboard.traces.set_band(name, lo, hi)

    def _draw_bands(self) -> None:
        """Each rule's band on its signal's plot, once the engine has told the signal's unit."""
        still = []
        for key, stream, channel, rule in self._pending_bands:
            info = self.ring.infos.get(stream)
            if info is None or channel not in info.channel_names:
                still.append((key, stream, channel, rule))
                continue
            unit = info.channels[info.channel_names.index(channel)].unit
            plot = self.dashboard.traces.plots.get(key)
            if plot is not None and unit and not plot.getAxis("left").labelText:
                plot.setLabel("left", unit)  # the signal's own unit (the plot was made before it was known)
            if _same_unit(unit, str(getattr(rule, "unit", unit))):
                self.dashboard.traces.set_band(key, getattr(rule, "lo", None), getattr(rule, "hi", None))
                self._banded.add(key)
        self._pending_bands = still

    def _schedule_changed(self, name: str) -> None:
        if self.runner.state in (RunState.RUNNING, RunState.PAUSED):
            self.runner.set_schedule(name)

    def _warn(self, text: str) -> None:
        self.counters.warnings.append((self.session.clock.now(), text))
        self.dashboard.warnings.insertItem(0, text)

    # -- timers ----------------------------------------------------------------------
    def _frame(self) -> None:
        """Both windows now (the end of a session, a screenshot, a test step)."""
        self._patient_frame()
        self._dashboard_frame()

    def _patient_frame(self) -> None:
        """Fast timer (the display rate): events, stream health and the patient picture."""
        now = self.session.clock.now()
        for e in self.ring.pop_events():
            self.counters.add(e)
            self.all_events.append(e)
        self._update_health(now)
        if not self.patient.set_scene(self._scene(now)):
            self.vis.unchanged()  # what the new blocks would show is on screen already

    def _dashboard_tick(self) -> None:
        """The dashboard's frames at a steady ``--dashboard-fps``: each is due one period after the last was
        due (not after it was drawn), so a late timer does not lower the rate; far behind, it skips ahead."""
        self._dashboard_frame()
        period = 1.0 / self.opts.dashboard_fps
        now = time.perf_counter()
        self._dash_due += period
        if self._dash_due < now - period:  # more than a frame behind (a busy machine): no burst to catch up
            self._dash_due = now + period
        if not self.done:
            self.dash.start(max(0, int((self._dash_due - now) * 1000.0)))

    def _dashboard_frame(self) -> None:
        """The dashboard's timer: the traces of the visible tab (hidden ones and a minimised window cost nothing)."""
        if self.dashboard.isVisible() and not self.dashboard.isMinimized():
            self._update_traces(self.session.clock.now())

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
        self._refresh(now)
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
            t, v = decimate(t, v[rows], width)  # a min and a max per 2 px
            x = t - now
            for i in range(len(rows)):
                curve = traces.curves.get((key, i))
                if curve is not None:
                    curve.setData(x, v[i] + offset * i if offset else v[i], skipFiniteCheck=True)
        if traces is d.traces:
            d.traces.set_timeline(self.counters.timeline, now)

    def _judge_gauge(self, sc: PatientScene, pres: Presentation, now: float) -> None:
        """What the gauge's colour and word judge. The band is a per-unit rule's, which judges the unit's peak
        (or its value during a hold), so the gauge judges only while a unit is under way and, for a peak, the
        peak since the unit began (from the signal's samples). Standing between squats is not "Lower" (it read
        so under a "Good depth" cue) and coming up from a good squat is not "Lower" either."""
        if not pres.per_unit:
            return
        c = self.counters
        if not c.unit_open:
            sc.judged = math.nan  # the level without a verdict
            return
        sc.judged = sc.value
        src = self._gauge_source
        info = self.ring.infos.get(src[0]) if src is not None else None
        ring = self.ring.rings.get(src[0]) if src is not None else None
        if pres.stat is None or info is None or ring is None or src is None:
            return
        names = [ch.name for ch in info.channels]
        if src[1] not in names:
            return
        t, v = ring.latest(max(0.0, now - c.unit_start) + 0.1, info.rate)
        x = v[names.index(src[1])][t >= c.unit_start]
        x = x[np.isfinite(x)]
        if x.size:
            peak = float(x.max() if pres.stat == "max" else x.min())
            if math.isfinite(sc.value):
                peak = max(peak, sc.value) if pres.stat == "max" else min(peak, sc.value)
            sc.judged = peak

    def _scene(self, now: float) -> PatientScene:
        pres, c = self.session.presentation, self.counters
        fb = self.ring.feedback
        sig = fb.signals.get(pres.signal)
        sc = PatientScene(mode=pres.picture, title=pres.title, label=pres.label)
        count = fb.signals.get(pres.counter) if pres.counter else None
        if count is not None and math.isfinite(count.value):  # the drill file's counter: units in this set
            sc.reps, sc.count_label = int(count.value), pres.counter or "Rep"
            sc.reps_total = int(count.hi) if count.hi is not None and math.isfinite(count.hi) else None
        elif pres.reps_total is not None:
            sc.reps, sc.reps_total = c.reps, pres.reps_total
        if pres.picture == "gauge":
            sc.range_lo, sc.range_hi, sc.downward = pres.range_lo, pres.range_hi, pres.downward
            if sig is not None:
                sc.value, sc.lo, sc.hi, sc.unit = sig.value, sig.lo, sig.hi, sig.unit
                self._judge_gauge(sc, pres, now)
        elif pres.picture == "los":
            self._los_scene(sc, now)
        else:
            limit = sig.hi if sig is not None else None
            if limit is None:  # the zone: the sway rule's limit (the patient's own envelope once measured)
                limit = next(
                    (
                        v.hi
                        for v in fb.signals.values()
                        if v.unit in ("m/s^2", "m/s²") and v.hi is not None and v.name != pres.signal
                    ),
                    None,
                )
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
        elif self.gate is not None and not self.gate.open and not self.done:
            sc.overlay, sc.overlay_text = "ready", "Stand still: your therapist is checking the sensors"
            sc.value, sc.dot, sc.message = math.nan, (math.nan, math.nan), ""
        elif getattr(self, "lost_reason", None):
            sc.overlay, sc.overlay_text = "lost", self.lost_reason or ""
            sc.value, sc.dot = math.nan, (math.nan, math.nan)
            sc.trail = np.zeros((2, 0))
        elif self.done:
            sc.overlay = "done"
        return sc

    def _los_scene(self, sc: PatientScene, now: float) -> None:
        """Limits of stability: the lean as the dot, scaled so that leaning as far as the target (its share of
        the limit of stability in that direction) puts the dot on the target's ring; the targets in 8
        directions, the one shown now highlighted, those reached in this set ticked."""
        pres, fb, c = self.session.presentation, self.ring.feedback, self.counters
        assert pres.los is not None
        x_sig = fb.signals.get(pres.signal)
        y_sig = fb.signals.get(pres.dot_y or "")
        left = x_sig.value if x_sig is not None else math.nan  # frontal lean, positive to the left
        fwd = y_sig.value if y_sig is not None else math.nan
        sc.zone = 1.0
        if math.isfinite(left) and math.isfinite(fwd):
            self._los_lean.append((now, left, fwd))
        while self._los_lean and self._los_lean[0][0] < now - 3.0:
            self._los_lean.popleft()
        # the centre, as the rules take it: the mean lean over the 0.5 s before the target appeared (before the
        # first target: over the last 2 s of quiet standing), so that a sensor's tilt on the sternum or the
        # patient's own posture does not put the dot off the middle
        if c.los_cue is not None and c.los_cue != self._los_centre_cue:
            pts = [(lt, fw) for t, lt, fw in self._los_lean if c.los_cue - 0.5 <= t <= c.los_cue]
            if pts:
                self._los_centre = (float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts])))
                self._los_centre_cue = c.los_cue
        elif c.los_cue is None and self._los_lean:
            recent = [(lt, fw) for t, lt, fw in self._los_lean if t >= now - 2.0]
            self._los_centre = (
                float(np.mean([p[0] for p in recent])),
                float(np.mean([p[1] for p in recent])),
            )
        left, fwd = left - self._los_centre[0], fwd - self._los_centre[1]
        if math.isfinite(left) and math.isfinite(fwd):
            right = -left
            angle = math.degrees(math.atan2(right, fwd))
            reach = _los_limit(angle, pres.los) * pres.los["target_percent"] / 100.0
            r = math.hypot(right, fwd) / reach * LOS_RING if reach > 0 else 0.0
            a = math.atan2(right, fwd)
            sc.dot = (r * math.sin(a), r * math.cos(a))
            self._los_trail.append((now, *sc.dot))
        while self._los_trail and self._los_trail[0][0] < now - 2.0:
            self._los_trail.popleft()
        if len(self._los_trail) > 1:
            sc.trail = np.array([[p[1] for p in self._los_trail], [p[2] for p in self._los_trail]])
        sc.los_active, sc.los_reached = c.los_active, tuple(sorted(c.los_reached))

    def _refresh(self, now: float) -> None:
        """What the slow timer redraws: the target bands still to draw, the tables, the plots' scales."""
        if self._pending_bands:
            self._draw_bands()
        self._update_tables(now)
        self.dashboard.traces.rescale()
        self.dashboard.raw_traces.rescale()

    def _update_tables(self, now: float) -> None:
        d, c = self.dashboard, self.counters
        # devices
        rows = self.device_rows()
        if d.devices.rowCount() != len(rows):
            d.devices.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = [
                row["sensor"],
                row["state"],
                "–" if row["battery"] is None else f"{row['battery']} %",
                row["signal"],
                f"{row['loss_percent']:.1f} %",
                "–" if row["latency_ms"] is None else f"{row['latency_ms']:.0f} ms",
                str(row["reconnects"]),
            ]
            for col, text in enumerate(values):
                item = d.devices.item(r, col)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    d.devices.setItem(r, col, item)
                if item.text() == text:
                    continue
                item.setText(text)
                if col == 0:
                    item.setToolTip(f"{row['stream']} on {row['device'] or 'no device'}")
                if col in (1, 3):
                    bad = text in ("no data", "bad", "failed")
                    item.setForeground(QtGui.QColor("#D55E00" if bad else "#1A1A1A"))
        # calibration: each step's state and what it waits for (status() of nmre.calibration's steps)
        lines: list[tuple[str, bool]] = []  # (text, needs attention)
        for n in self.session.nodes:
            status = getattr(n, "status", None)
            if not callable(status):
                continue
            try:
                st, waiting = status()
            except Exception:  # a step that cannot say yet
                continue
            state = getattr(st, "value", str(st))
            name = _STEP_NAMES.get(
                str(getattr(n, "step", getattr(n, "name", "step"))), getattr(n, "name", "step")
            )
            done = state in ("done", "overridden")
            text = f"{name}: {state}" + ("" if done and waiting.startswith("nothing") else f" — {waiting}")
            lines.append((text, state == "failed" or (state == "waiting" and n is self.gate)))
        lines += [(f"{t:6.1f} s  {text}", False) for t, text in c.calibration[-5:]]
        if lines != self._cal_lines:  # rebuilt only when a step moved (a list repaint is not free)
            self._cal_lines = lines
            d.calibration.clear()
            for text, attention in lines:
                entry = QtWidgets.QListWidgetItem(text)
                if attention:
                    entry.setForeground(QtGui.QColor("#D55E00"))
                d.calibration.addItem(entry)
        gate_closed = self.gate is not None and not self.gate.open and not self.done
        d.override.setEnabled(gate_closed and self.runner.state in (RunState.RUNNING, RunState.PAUSED))
        # counters and metrics
        errs = ", ".join(f"{k} ×{v}" for k, v in sorted(c.errors.items())) or "none"
        _set_text(
            d.counters,
            self._count_line()
            + f"<br>on target <b>{c.on_target}</b> · corrections <b>{c.corrections}</b> · not judged <b>{c.unjudged}</b>"
            + f"<br>holds <b>{c.holds}</b> · sets <b>{c.sets}</b> · markers <b>{self.runner.markers}</b><br>errors: {errs}",
        )
        self._update_progression()
        metrics = []
        for name, p in sorted(c.last_rep.items()):
            v = p.get("value")
            unit = _unit_text(str(p.get("unit", "")))
            band = _band_text(p.get("lo"), p.get("hi"), unit)
            cells = (name + ("" if p.get("ok") else "  ✗"), "–" if v is None else f"{_num(v)} {unit}", band)
            metrics.append((cells, bool(p.get("ok"))))
        if metrics != self._metric_rows:  # a new verdict (at most a few per second)
            self._metric_rows = metrics
            d.metrics.setRowCount(len(metrics))
            for r, (cells, ok) in enumerate(metrics):
                for col, text in enumerate(cells):
                    item = QtWidgets.QTableWidgetItem(text)
                    if not ok:
                        item.setForeground(QtGui.QColor("#D55E00"))
                    d.metrics.setItem(r, col, item)
        # warnings (newest first)
        key = (len(c.warnings), c.warnings[-1] if c.warnings else None)
        if key != self._warn_key:
            self._warn_key = key
            d.warnings.clear()
            for t, text in reversed(c.warnings):
                d.warnings.addItem(text if text.lstrip()[:1].isdigit() else f"{t:6.1f} s  {text}")
        # latency and load: once a second (the percentiles are over the last 10 s)
        self._ticks += 1
        if self._ticks % 5 != 1 and not self.done:
            return
        lat = self.latency(recent=True)
        _set_text(
            d.latency,
            f"visual p95 <b>{_ms(lat['visual_from_arrival']['p95'])}</b> (target ≤ 60 ms) · "
            f"audio p95 <b>{_ms(lat['audio']['cue_from_arrival']['p95'] if lat['audio'] else None)}</b> (≤ 30 ms)<br>"
            f"patient view {lat['patient_fps']:.0f} frames/s · dashboard {lat['dashboard_fps']:.0f} frames/s · "
            f"CPU {lat['cpu_percent']:.0f} % of one core",
        )
        state = self.runner.state.value
        _set_text(
            d.status,
            f"session {now:6.1f} s · {state} · schedule {self.runner.schedule.name} · drill {self.session.drill}"
            + (f" · {self.error}" if self.error else ""),
        )

    def _update_progression(self) -> None:
        """Each finished set and the latest progression suggestion; the button takes its level."""
        d, c = self.dashboard, self.counters
        level = self.session.level
        lines = [f"level {level}" if level is not None else "the drill file's targets"]
        lines += c.set_lines[-3:]
        if c.suggestion:
            colour = {"advance": "#009E73", "step_back": "#D55E00"}.get(c.decision, "#1A1A1A")
            lines.append(f"<b style='color:{colour}'>Suggestion:</b> {c.suggestion}")
        elif not c.set_lines:
            lines.append("a suggestion follows each set")
        _set_text(d.progression, "<br>".join(lines))
        nxt = c.next_level
        can = self.factory is not None and nxt is not None and nxt != self.chosen()[1]
        d.use_level.setEnabled(can)
        d.use_level.setText(f"Use level {nxt} next" if nxt is not None else "Use the suggested level next")

    def _count_line(self) -> str:
        """The big number of the Counts box: the drill file's counter (units in this set), else reps."""
        pres, fb = self.session.presentation, self.ring.feedback
        count = fb.signals.get(pres.counter) if pres.counter else None
        big = "<span style='font-size:28pt;font-weight:bold'>{}</span> {}"
        if count is not None and math.isfinite(count.value):
            of = f" of {count.hi:g}" if count.hi is not None else ""
            return (
                big.format(int(count.value), (pres.counter or "").lower())
                + of
                + " (in this set"
                + (f"; {self.counters.reps} reps in all" if self.counters.reps else "")
                + ")"
            )
        return big.format(self.counters.reps, "reps") + (f" of {pres.reps_total}" if pres.reps_total else "")

    def device_rows(self) -> list[dict[str, Any]]:
        """One row per raw stream: its sensor, device, state, battery, signal, loss, latency, reconnects."""
        src: Any = self.session.sources[0] if self.session.sources else None
        info: dict[str, Any] = {}
        counters: dict[str, Any] = {}
        try:
            info = src.device_info() if hasattr(src, "device_info") else {}
            counters = src.counters() if hasattr(src, "counters") else {}
        except Exception:  # not started yet
            info, counters = {}, {}
        out = []
        for h in self.ring.health.values():
            dev = self.ring.infos[h.stream].device or ""
            di = info.get(dev, {})
            if self.done:
                state = "ended"
            elif self._lost.get(h.stream):
                state = "no data"
            else:
                state = "streaming" if h.blocks else str(di.get("status", "connecting"))
            out.append(
                {
                    "sensor": h.label,
                    "stream": h.stream,
                    "device": dev or None,
                    "state": state,
                    "battery": di.get("battery"),
                    "signal": "–" if not h.blocks else ("bad" if h.bad else "ok"),
                    "loss_percent": round(100 * h.loss, 2),
                    "latency_ms": round(1e3 * h.latency, 1) if math.isfinite(h.latency) else None,
                    "reconnects": max(0, int(counters.get(dev, {}).get("connects", 1)) - 1)
                    if dev in counters
                    else 0,
                }
            )
        return out

    # -- measurements and the end -------------------------------------------------------
    def latency(self, recent: bool = False) -> dict[str, Any]:
        """Latency, frame rates and CPU; ``recent``: the latencies of about the last 10 s (the live figures)."""
        wall = max(1e-9, time.perf_counter() - self.wall0)

        def tail(v: list[float], lat: _Latency) -> Sequence[float]:
            return v[-lat.recent :] if recent else v

        return {
            "visual_from_arrival": latency_summary(tail(self.vis.from_arrival, self.vis)),
            "visual_from_sample": latency_summary(tail(self.vis.from_sample, self.vis)),
            "dashboard_from_arrival": latency_summary(tail(self.dash_lat.from_arrival, self.dash_lat)),
            "audio": self.audio.latency() if self.audio is not None else None,
            "patient_fps": self.vis.fps(),
            "dashboard_fps": self.dash_lat.fps(),
            "patient_fps_mean": self.vis.mean_fps(),
            "patient_frames": {"painted": self.vis.frames, "unchanged": self.vis.skipped},
            "dashboard_fps_mean": self.dash_lat.mean_fps(),
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
            "devices": self.device_rows(),
            "latency": self.latency(),
            "sound": self.sound_note,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in self.session.settings.items()},
        }
        self._save_to_store()
        self.dashboard.status.setText(self.dashboard.status.text() + " · session ended")
        self.fast.stop()
        self.dash.stop()
        self.patient.set_scene(self._scene(self.session.clock.now()))

    def _save_to_store(self) -> None:
        """The end-of-session summary and the session's events into the store, under the patient's id."""
        assert self.summary is not None
        pid = self.summary.get("patient")
        if not pid or not PATIENT_ID.match(str(pid)):
            self.summary["store"] = "not saved: no patient id"
            return
        for e in self.ring.pop_events():  # the last events of the session
            self.counters.add(e)
            self.all_events.append(e)
        try:
            if self.store is None:
                from nmre.sessions.store import open_store

                self.store = open_store(self.opts.store or os.environ.get("NMRE_STORE"))
            self.saved_session = self.store.save_session(
                str(pid),
                self.all_events,
                drill=self.session.drill,
                settings=self.summary.get("settings"),
                duration=self.summary.get("session_seconds"),
                recording=os.path.abspath(self.opts.record) if self.opts.record else None,
                level=None if self.session.level is None else str(self.session.level),
                schedule=self.runner.schedule.name,
                summary=self.summary,
            )
            self.summary["store"] = (
                f"saved as session {self.saved_session} in {getattr(self.store, 'where', 'the store')}"
            )
        except NmreError as error:  # the session's record stays in summary.json and the recording
            self.summary["store"] = f"not saved: {error}"
            self._warn(f"session not saved to the store: {error}")

    def screenshots(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Save the dashboard and the patient view as PNG files in ``folder``; returns their paths."""
        out = Path(folder)
        # as the screens are a moment later: the slow timer's bands, tables and scales (a screenshot taken
        # before its first tick showed every angle plot on its initial 0..1 scale, the traces clipped)
        self._refresh(self.session.clock.now())
        self.app.processEvents()
        paths = [out / "dashboard.png", out / "patient.png"]
        for widget, path in ((self.dashboard, paths[0]), (self.patient, paths[1])):
            if not widget.grab().save(str(path)):
                raise ConfigError(f"--screenshot: could not write {path}")
        return paths


#: How the calibration list names the steps.
_STEP_NAMES = {
    "readiness": "readiness gate",
    "neutral": "neutral pose",
    "calibration.neutral": "neutral pose",
    "rest": "EMG rest",
    "emg_rest": "EMG rest",
    "reference": "EMG reference",
    "emg_reference": "EMG reference (MVC)",
    "neutral_pose": "neutral pose",
    "long_axis": "functional (long axis)",
    "travel_heading": "back sensor heading (first step)",
    "common_lean": "arm-trunk heading (trunk lean)",
    "template": "template rep",
}


def _set_text(label: QtWidgets.QLabel, text: str) -> None:
    """A label's new text, only when it changed (a rich-text label lays itself out again on every set)."""
    if label.text() != text:
        label.setText(text)


def _next_record(path: str | None) -> str | None:
    """The next session's recording beside the last one: S.xdf -> S-2.xdf -> S-3.xdf (never overwritten)."""
    if path is None:
        return None
    p = Path(path)
    m = re.match(r"^(.*)-(\d+)$", p.stem)
    stem, n = (m.group(1), int(m.group(2)) + 1) if m else (p.stem, 2)
    while (p.parent / f"{stem}-{n}{p.suffix}").exists():
        n += 1
    return str(p.parent / f"{stem}-{n}{p.suffix}")


def _setup_text(spots: Sequence[SensorSpot]) -> str:
    """The setup guide in words; where a sensor goes is spelled out for the ones still to be placed."""
    lines = []
    for i, s in enumerate(spots, 1):
        mark = {
            "present": "✓",
            "missing": "<b style='color:#D55E00'>missing</b>",
            "optional": "optional, absent",
        }[s.status]
        what = "EMG electrodes" if s.kind == "emg" else "IMU"
        place = f"<br>&nbsp;&nbsp;&nbsp;<i>{s.placement}</i>" if s.placement and s.status != "present" else ""
        lines.append(f"{i}. {what} on the {s.where} — {s.purpose} ({mark}){place}")
    return "<br>".join(lines) or "no sensors listed for this drill"


#: Where the limits-of-stability targets sit in the patient picture, in its zone units (0.82 of the outer
#: ring, whose zone edge is at 0.45 of it: nmre.gui.patient).
LOS_RING = 0.82 / 0.45


def _los_limit(angle: float, los: Mapping[str, float]) -> float:
    """The limit of stability (deg of lean) toward ``angle`` (deg from forward toward the right): the ellipse
    through the forward, backward and lateral limits (NeuroCom's theoretical limits, 8 / 4.5 / 8 deg)."""
    a = math.radians(angle)
    ap = los["forward"] if math.cos(a) >= 0 else los["backward"]
    return 1.0 / math.sqrt((math.cos(a) / ap) ** 2 + (math.sin(a) / los["lateral"]) ** 2)


def _same_unit(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        return {"°": "deg", "degrees": "deg", "m/s²": "m/s^2"}.get(u.strip(), u.strip())

    return norm(a) == norm(b)


def _num(v: Any) -> str:
    """A measured value as a therapist reads it: 91.2, 7, 0.0964 (three significant digits below 10)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return "–"
    if abs(x) >= 10 or x == 0:
        return f"{x:.1f}".removesuffix(".0")
    return f"{x:.3g}"


def _unit_text(unit: str) -> str:
    if unit in ("", "1", "count"):  # a ratio or a count has no unit to show
        return ""
    return unit.replace("^2", "²").replace("deg", "°")


def _band_text(lo: Any, hi: Any, unit: str) -> str:
    if lo is None and hi is None:
        return "–"
    if lo is None:
        return f"≤ {_num(hi)} {unit}"
    if hi is None:
        return f"≥ {_num(lo)} {unit}"
    return f"{_num(lo)}–{_num(hi)} {unit}"


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
        patient.setScreen(second)  # before the window exists: it is created on that screen
        patient.setGeometry(second.geometry())
        patient.showFullScreen()
        handle = patient.windowHandle()
        if handle is not None and handle.screen() is not second:
            handle.setScreen(second)
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
    _load(opts.drill)  # a wrong drill name is one line before any window opens
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
    factory: SessionFactory | None = None
    if session is None:
        if opts.replay is not None:
            return _run_review(opts)
        until = None if opts.seconds is None else opts.seconds + 1.0  # the pictures are taken at --seconds
        if opts.sim:
            session = build_sim_session(opts.drill, opts.seed, opts.reps, until, ble=True, level=opts.level)

            def sim_factory(drill: str, level: int | None) -> Session:
                return build_sim_session(drill, opts.seed, opts.reps, until, ble=True, level=level)

            factory = sim_factory

        else:
            live = _live_session(opts, until)
            if live is None:
                return 1  # the therapist closed the device picker
            session, wears = live
            config = ble_config(opts.bumble)

            def live_factory(drill: str, level: int | None) -> Session:
                return build_live_session(drill, wears, config, until, level=level)

            factory = live_factory
    from nmre.dsp import warmup

    warmup()  # compile or load kernels before the session clock starts
    # the engine, BLE and GUI threads share the GIL: hand it over every 1 ms rather than CPython's 5 ms, so a
    # block (and the cue it causes) never waits a whole dashboard frame of Python behind the painting thread
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    first = Studio(session, opts, app, factory=factory)
    current = [first]  # the therapist may run session after session in the window

    def follow(new: Studio) -> None:
        current[0] = new
        new.on_successor = follow

    first.on_successor = follow
    studio = first
    studio.dashboard.show()
    where = place_patient_window(app, studio.patient)
    print(f"nmre studio: {where}; {studio.sound_note}", file=sys.stderr)
    studio.start()
    if opts.screenshot is not None or opts.seconds is not None:
        finished = QtCore.QTimer()
        finished.setInterval(100)

        shots: list[Path] = []

        def check() -> None:
            studio = current[0]
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
    studio = current[0]
    if studio.runner.alive:
        studio.runner.stop()
    if studio.summary is not None:
        _print_summary(studio.summary)
    return 1 if studio.error else 0


def _recorder(opts: StudioOptions, session: Session) -> Sink:
    """The session's XDF recording (``--record FILE``): raw streams, events, feedback; drill and targets as metadata."""
    from nmre.sessions import XdfRecorder

    folder = os.path.dirname(os.path.abspath(opts.record or ""))
    if not os.path.isdir(folder) or os.path.isdir(opts.record or ""):
        raise ConfigError(f"--record: expected a file path in an existing folder, got {opts.record!r}")
    meta = {
        "drill": {"name": session.drill, "settings": session.settings},
        "level": session.level,
        "patient": opts.patient,
        "schedule": opts.schedule,
        "studio": {"sim": opts.sim, "seed": opts.seed if opts.sim else None},
    }
    return XdfRecorder(opts.record or "", meta, raw=[s.id for s in session.raw])


def _run_review(opts: StudioOptions) -> int:
    """``--replay FILE``: the recording through its drill once, then both windows at a cursor to scrub."""
    from nmre.gui.review import load_review, review_window

    assert opts.replay is not None
    session, tape = load_review(opts.replay, None if opts.drill_given is False else opts.drill, opts.level)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    review = review_window(session, opts, app, tape)
    review.dashboard.show()
    where = place_patient_window(app, review.patient)
    print(
        f"nmre studio: review of {opts.replay} ({tape.duration:.1f} s, drill {session.drill}); {where}",
        file=sys.stderr,
    )
    if opts.seconds is not None or opts.screenshot is not None:
        review.seek(opts.seconds if opts.seconds is not None else tape.duration)
        app.processEvents()
        if opts.screenshot is not None:
            review.screenshots(opts.screenshot)
            c = review.counters
            _write_summary(
                Path(opts.screenshot) / "summary.json",
                {
                    "nmre_studio": 1,
                    "review": str(opts.replay),
                    "drill": session.drill,
                    "cursor": review.tape.cursor,
                    "duration": tape.duration,
                    "reps": c.reps,
                    "on_target": c.on_target,
                    "corrections": c.corrections,
                    "not_judged": c.unjudged,
                    "errors": dict(c.errors),
                },
            )
        return 0
    app.exec()
    return 0


def _live_session(opts: StudioOptions, until: float | None) -> tuple[Session, list[Any]] | None:
    """Live sensors: from ``--wear``, or picked in the device dialog (scan, say where each is worn, connect)."""
    from nmre.gui.live import parse_wears

    config = ble_config(opts.bumble)
    if opts.wear:
        wears = parse_wears(opts.wear)
        return build_live_session(opts.drill, wears, config, until, level=opts.level), list(wears)
    if opts.screenshot is not None or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        raise ConfigError(
            "live sensors: expected --wear NAME=SEGMENT[.SIDE][:MUSCLE,...] for each board "
            "(no one is at the screen to pick them), got none; or use --sim"
        )
    from nmre.gui.devices import DevicePicker

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    picker = DevicePicker(opts.drill, config, sensor_spots(opts.drill, []))
    if picker.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    assert app is not None
    return build_live_session(opts.drill, picker.wears, config, until, level=opts.level), list(picker.wears)


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

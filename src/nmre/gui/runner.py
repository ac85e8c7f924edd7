"""The engine in a worker thread, and the way the GUI's controls reach it.

The GUI never touches the engine's objects from its own thread: a control
(pause, a marker, a new target, a schedule, feedback on request) is queued on
the :class:`ControlSource` and applied by the engine thread at its next poll,
which also records it as an event, so the session's record says when the
therapist did what. Errors in the engine thread are kept and raised to the GUI
at its next :meth:`SessionRunner.check` instead of vanishing.

:class:`SteppedClock` is a virtual clock that a test (or a replay with a
timeline) releases step by step: the engine runs in its thread exactly as in a
live session, but session time moves only as far as it is allowed to.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from nmre.core.clock import Clock, VirtualClock
from nmre.core.interfaces import Source
from nmre.core.model import Block, Cue, Event, StreamInfo
from nmre.engine import Engine
from nmre.errors import ConfigError, StateError, expected
from nmre.feedback.schedule import FeedbackSchedule, SelfControlled, make_schedule

__all__ = [
    "ControlSource",
    "GatedSchedule",
    "RunState",
    "SessionRunner",
    "SteppedClock",
    "Target",
    "behind_readiness",
    "inner",
    "targets",
]


def inner(node: Any) -> Any:
    """The node a :class:`~nmre.calibration.Gated` wrapper runs (the node itself otherwise)."""
    from nmre.calibration import Gated

    return node.node if isinstance(node, Gated) else node


def behind_readiness(nodes: Sequence[Any], raw: Sequence[str]) -> tuple[list[Any], Any]:
    """Put a drill behind the signal-readiness gate (contract §5): ``(nodes, gate)``.

    The quality monitor, the calibration steps and the signal processing (joint
    angles, EMG chains, sway: what the therapist watches while checking the signals)
    run from the start; rules, the rep segmenter, detectors, the feedback mapping and
    the progression wait until the gate has passed or the therapist overrode it. The
    gate checks the raw streams those gated nodes depend on (an EMG that only an
    unused rule would read does not block a balance drill).
    """
    from nmre.calibration import CalibrationStep, Gated, ReadinessGate
    from nmre.engine.nodes import ProcessorNode
    from nmre.quality import QualityMonitor

    if any(isinstance(n, (Gated, ReadinessGate)) for n in nodes):
        return list(nodes), next((n for n in nodes if isinstance(n, ReadinessGate)), None)
    from nmre.dsp.movement import RepSegmenter

    def free(n: Any) -> bool:
        # signal processing runs free (the dashboard shows it while the signals are checked);
        # what finds the units to judge (the rep segmenter) waits with the rules
        if isinstance(n, (QualityMonitor, CalibrationStep)):
            return True
        return isinstance(n, ProcessorNode) and not isinstance(n.processor, RepSegmenter)

    producer = {str(getattr(n, "output", "") or getattr(n, "name", "")): n for n in nodes}
    raw_set = set(raw)

    def roots(stream: str, seen: set[str]) -> set[str]:
        if stream in raw_set:
            return {stream}
        if stream not in producer:  # named only at bind: a derived id starts with its raw stream's
            base = max((r for r in raw_set if stream.startswith(r + ".")), key=len, default=None)
            return {base} if base is not None else set()
        if stream in seen:
            return set()
        seen.add(stream)
        out: set[str] = set()
        for s in getattr(producer[stream], "inputs", ()):
            out |= roots(s, seen)
        return out

    gated = [n for n in nodes if not free(n)]
    checked: set[str] = set()
    for n in gated:
        for s in getattr(n, "inputs", ()):
            checked |= roots(s, set())
    if not checked:
        return list(nodes), None
    gate = ReadinessGate([s for s in raw if s in checked])
    out: list[Any] = []
    for n in nodes:
        if free(n):
            out.append(n)
            if isinstance(n, QualityMonitor):
                out.append(gate)  # right after the monitor: it sees raw blocks before anything is judged
        else:
            out.append(Gated(n, gate))
    if gate not in out:
        out.insert(0, gate)
    return out, gate


class SteppedClock(VirtualClock):
    """A virtual clock whose time moves only up to what :meth:`release` allowed (thread-safe)."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__(start)
        self._allowed = start
        self._idle_at = -math.inf  # the allowed time at which the engine last had to wait
        self._cond = threading.Condition()

    def release(self, t: float) -> None:
        """Let session time run up to ``t``."""
        with self._cond:
            self._allowed = max(self._allowed, t)
            self._cond.notify_all()

    def open(self) -> None:
        """Let time run freely (the session is stopping)."""
        self.release(math.inf)

    def sleep_until(self, t: float, wake: threading.Event | None = None) -> float:
        with self._cond:
            while self._allowed < t:
                self._idle_at = self._allowed  # everything up to here is processed
                self._cond.notify_all()
                self._cond.wait(0.5)
            return self.advance_to(t)

    def wait_done(self, t: float, timeout: float = 60.0) -> bool:
        """Block until the engine has processed everything up to session time ``t`` (and waits for more)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle_at >= t, timeout)


class GatedSchedule(FeedbackSchedule):
    """A schedule the therapist can pause and swap during a session; forwards requests."""

    def __init__(self, inner: FeedbackSchedule) -> None:
        super().__init__()
        self.inner = inner
        self.paused = False
        self.name = inner.name

    def on_event(self, event: Event) -> list[Cue]:
        cues = self.inner.on_event(event)
        return [] if self.paused else cues

    def decide(self, outcome: Event) -> list[Cue]:  # not used: on_event delegates
        return []

    def swap(self, inner: FeedbackSchedule) -> None:
        self.inner = inner
        self.name = inner.name

    def request(self, time: float | None = None) -> None:
        """Feedback on request, forwarded to the schedule in force (only a self-controlled one answers)."""
        self.inner.request(time)

    def takes_requests(self) -> bool:
        """Whether the schedule in force answers the patient's requests (a self-controlled one)."""
        return isinstance(self.inner, SelfControlled)

    def poll(self, now: float) -> list[Cue]:
        cues = self.inner.poll(now)
        return [] if self.paused else cues

    def reset(self) -> None:
        self.inner.reset()


class Target:
    """An adjustable target band of one rule (``lo``/``hi`` attributes, either may be open)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.name = str(getattr(node, "name", "rule"))
        self.label = str(getattr(node, "label", self.name))
        self.unit = str(getattr(node, "unit", "") or getattr(node, "_unit", "") or "")

    @property
    def lo(self) -> float | None:
        v = getattr(self.node, "lo", None)
        return None if v is None else float(v)

    @property
    def hi(self) -> float | None:
        v = getattr(self.node, "hi", None)
        return None if v is None else float(v)

    def apply(self, lo: float | None, hi: float | None) -> None:
        """Set the band (engine thread only: the rule reads it there)."""
        for side, v in (("lo", lo), ("hi", hi)):
            if v is not None and not math.isfinite(v):
                raise ConfigError(f"target {self.label}: {side} " + expected("a finite number", v))
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"target {self.label}: expected lo <= hi, got {lo} > {hi}")
        if (self.node.lo is None) != (lo is None) or (self.node.hi is None) != (hi is None):
            raise ConfigError(
                f"target {self.label}: expected the same open sides (lo {self.node.lo}, hi {self.node.hi}), got ({lo}, {hi})"
            )
        self.node.lo, self.node.hi = lo, hi


def targets(nodes: Sequence[Any]) -> list[Target]:
    """The adjustable bands among a drill's nodes: rules with ``lo`` and ``hi`` attributes."""
    return [
        Target(inner(n))
        for n in nodes
        if hasattr(inner(n), "lo") and hasattr(inner(n), "hi") and getattr(n, "name", "").startswith("rule.")
    ]


class ControlSource(Source):
    """Carries the therapist's controls into the engine thread; has no streams and never holds the session open."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Callable[[float], Event | None]]] = deque()
        self._events: list[Event] = []
        self._now = 0.0

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return ()

    def start(self, clock: Clock) -> None:
        self._clock = clock

    def post(self, what: str, action: Callable[[float], Event | None]) -> None:
        """Queue ``action(now)`` for the engine thread; it returns the event recording it (or ``None``)."""
        self._queue.append((what, action))
        if self.wake is not None:
            self.wake.set()

    def poll(self, now: float) -> list[Block]:
        self._now = now
        while self._queue:
            what, action = self._queue.popleft()
            try:
                ev = action(now)
            except ConfigError as error:
                ev = Event(
                    now, "control.refused", "studio", {"control": what}, therapist_message=f"{what}: {error}"
                )
            if ev is not None:
                self._events.append(ev)
        return []

    def poll_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    @property
    def finished(self) -> bool:
        return True  # never keeps a session alive


class RunState(str, Enum):
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FAILED = "failed"


class SessionRunner:
    """Runs an :class:`~nmre.engine.Engine` in a worker thread; the GUI's controls go through :attr:`control`.

    Parameters
    ----------
    sources, nodes, sinks
        As for the engine (a :class:`ControlSource` is added to the sources).
    clock : Clock
        The session clock (real for live and ``--sim``, stepped in tests).
    schedule : str or FeedbackSchedule
        The feedback schedule at the start.
    until : float or None
        Session time at which to stop by itself.
    on_pause : callable or None
        Called with the pause state from the engine thread when it changes (the audio sink's pause).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        nodes: Sequence[Any],
        sinks: Sequence[Any],
        clock: Clock,
        schedule: str | FeedbackSchedule = "continuous",
        until: float | None = None,
        on_pause: Callable[[bool], None] | None = None,
    ) -> None:
        self.control = ControlSource()
        inner = make_schedule(schedule) if isinstance(schedule, str) else schedule
        self.schedule = GatedSchedule(inner)
        self.clock = clock
        self.engine = Engine([*sources, self.control], nodes, sinks, clock=clock, schedule=self.schedule)
        self.targets = targets(nodes)
        self.until = until
        self.on_pause = on_pause
        self.state = RunState.READY
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.markers = 0

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        if self.state is not RunState.READY:
            raise StateError(f"session: start needs state 'ready', but it is {self.state.value!r}")
        self.state = RunState.RUNNING
        self._thread = threading.Thread(target=self._run, name="nmre-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.engine.run(until=self.until)
        except BaseException as error:  # kept for the GUI thread: never dies silently
            self.error = error
            self.state = RunState.FAILED
            return
        if self.state is not RunState.FAILED:
            self.state = RunState.STOPPED

    def check(self) -> None:
        """Raise the engine thread's error, if it had one (call from the GUI's timer)."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the session and wait for the engine thread to close its sinks."""
        if self._thread is None:
            self.state = RunState.STOPPED
            return
        self.engine.stop()
        if isinstance(self.clock, SteppedClock):
            self.clock.open()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise StateError(f"session: the engine thread did not stop within {timeout} s")

    # -- controls (GUI thread; applied in the engine thread) -----------------------------
    def pause(self, paused: bool) -> None:
        if self.state not in (RunState.RUNNING, RunState.PAUSED):
            return
        self.state = RunState.PAUSED if paused else RunState.RUNNING

        def act(now: float) -> Event:
            self.schedule.paused = paused
            if self.on_pause is not None:
                self.on_pause(paused)
            kind = "session.pause" if paused else "session.resume"
            return Event(
                now, kind, "studio", {}, therapist_message="feedback paused" if paused else "feedback resumed"
            )

        self.control.post("pause", act)

    def marker(self, label: str = "") -> None:
        self.markers += 1
        n = self.markers
        text = label or f"marker {n}"
        self.control.post(
            "marker",
            lambda now: Event(now, "marker", "therapist", {"label": text, "n": n}, therapist_message=text),
        )

    def set_target(self, name: str, lo: float | None, hi: float | None) -> None:
        target = next((t for t in self.targets if t.name == name), None)
        if target is None:
            raise ConfigError(expected(f"a target among {', '.join(t.name for t in self.targets)}", name))

        def act(now: float) -> Event:
            old = (target.lo, target.hi)
            target.apply(lo, hi)
            return Event(
                now,
                "settings.target",
                "therapist",
                {"rule": name, "lo": lo, "hi": hi, "old_lo": old[0], "old_hi": old[1]},
                therapist_message=f"{target.label}: target {_band(lo, hi, target.unit)} (was {_band(*old, target.unit)})",
            )

        self.control.post(f"target {target.label}", act)

    def set_schedule(self, name: str) -> None:
        new = make_schedule(name)  # a bad name fails here, in the GUI thread, with one line

        def act(now: float) -> Event:
            old = self.schedule.name
            self.schedule.swap(new)
            return Event(
                now,
                "settings.schedule",
                "therapist",
                {"schedule": name, "old": old},
                therapist_message=f"feedback schedule {old} -> {name}",
            )

        self.control.post("schedule", act)

    def override_readiness(self, gate: Any, reason: str) -> None:
        """Open the readiness gate with the therapist's reason (applied and recorded in the engine thread)."""
        if not reason.strip():
            raise ConfigError("readiness override: " + expected("a reason in words", reason))

        def act(now: float) -> Event | None:
            try:
                gate.override(reason, by="therapist", time=now)
            except StateError as error:
                raise ConfigError(str(error)) from None
            return None  # the gate raises readiness.override itself

        self.control.post("readiness override", act)

    def request_feedback(self) -> None:
        def act(now: float) -> Event:
            took = self.schedule.takes_requests()
            self.schedule.request(now)
            return Event(
                now,
                "feedback.request",
                "patient",
                {"taken": took},
                therapist_message="feedback requested"
                + ("" if took else f" (the {self.schedule.name} schedule takes no requests)"),
            )

        self.control.post("feedback request", act)


def _band(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is None and hi is not None:
        return f"<= {hi:g} {unit}".rstrip()
    if hi is None and lo is not None:
        return f">= {lo:g} {unit}".rstrip()
    return f"{lo:g}-{hi:g} {unit}".rstrip()

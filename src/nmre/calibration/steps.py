"""What every calibration step has in common: a lifecycle, what it waits for, its events.

A step is a :class:`nmre.engine.Node`: it runs inside a session (live or replay) on
the streams it names and needs no scheduler to test — call :meth:`push` with
blocks. Its :class:`StepState` goes ``pending → waiting → recording → done`` (or
``failed``); :meth:`CalibrationStep.status` says where it is and, in words for the
therapist's screen, what it is waiting for. When it finishes it writes its result
into the :class:`~nmre.calibration.record.Calibration` it was given and raises
``calibration.<step>`` with the result as payload (``results``: key -> entry), so the
record can be rebuilt from a recording's events. A step given an earlier record's results
(:meth:`CalibrationStep.reuse`) finishes with them at once, its event saying ``reused: true``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np

from nmre.calibration.record import Calibration
from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, StateError, expected

__all__ = ["CalibrationSequence", "CalibrationStep", "Gated", "StepState"]


class StepState(str, Enum):
    """Lifecycle of a calibration step (values are the strings shown and recorded)."""

    PENDING = "pending"  # not started: waiting for start()
    WAITING = "waiting"  # started; waiting for its condition (stillness, rest, a contraction)
    RECORDING = "recording"  # collecting the data it needs
    DONE = "done"
    FAILED = "failed"
    OVERRIDDEN = "overridden"  # the readiness gate only: opened by the therapist


class CalibrationStep(Node):
    """Base class: lifecycle, timeout, events and the record (subclasses implement :meth:`_push`).

    Parameters
    ----------
    step : str
        The step's name: the event kind is ``calibration.<step>``.
    inputs : sequence of str
        Stream ids it consumes.
    record : Calibration, optional
        Where the result goes (a fresh one if not given: :attr:`record`).
    autostart : bool
        Start at once (headless sessions), or wait for :meth:`start` (the studio).
    timeout : float, optional
        Seconds after the first block seen once started; then the step fails with
        the reason it was still waiting for.
    """

    def __init__(
        self,
        step: str,
        inputs: Sequence[str],
        *,
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
    ) -> None:
        if timeout is not None and not (
            isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0
        ):
            raise ConfigError(
                f"calibration step {step!r}: timeout " + expected("seconds > 0 or None", timeout)
            )
        self.step = step
        self.kind = kinds.CALIBRATION + step
        self.name = self.kind
        self.inputs = tuple(inputs)
        self.record = record if record is not None else Calibration()
        self.autostart = autostart
        self.timeout = None if timeout is None else float(timeout)
        self.infos: dict[str, StreamInfo] = {}
        self._state = StepState.WAITING if autostart else StepState.PENDING
        self._waiting_for = self._initial_wait()
        self._started_at: float | None = None
        self._events: list[Event] = []
        self.failure: str | None = None
        #: Session time (a sample time) the step finished at, ``None`` until it is done.
        self.done_at: float | None = None
        self._seen: dict[str, float] = {}  # newest sample time seen per input
        #: Results of an earlier record this step finishes with instead of measuring (:meth:`reuse`).
        self.reused: dict[str, Any] | None = None
        self._reuse_settle = 0.0
        self._reuse_after: CalibrationStep | None = None
        self._first: dict[str, float] = {}
        self._newest: dict[str, float] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def _initial_wait(self) -> str:
        return "press start" if not self.autostart else "the first samples"

    @property
    def state(self) -> StepState:
        return self._state

    @property
    def done(self) -> bool:
        return self._state is StepState.DONE

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more will happen until :meth:`reset`."""
        return self._state in (StepState.DONE, StepState.FAILED, StepState.OVERRIDDEN)

    def status(self) -> tuple[StepState, str]:
        """``(state, waiting_for)``: what the step is doing and, in words, what it waits for."""
        return self._state, self._waiting_for

    def start(self) -> None:
        """Arm a pending step (the therapist pressed start); StateError if it already ran."""
        if self._state is not StepState.PENDING:
            raise StateError(f"{self.kind}: expected a pending step to start, but it is {self._state.value}")
        self._state = StepState.WAITING
        self._waiting_for = "the first samples"

    def reset(self) -> None:
        """Forget progress (the result already written to the record stays there; so does :meth:`reuse`)."""
        self._state = StepState.WAITING if self.autostart else StepState.PENDING
        self._waiting_for = self._initial_wait()
        self._started_at = None
        self._events = []
        self.failure = None
        self.done_at = None
        self._first, self._newest = {}, {}

    def reuse(
        self,
        results: Mapping[str, Any],
        *,
        settle: float = 0.0,
        after: CalibrationStep | None = None,
    ) -> None:
        """Finish with ``results`` (key -> record entry, from an earlier set's or session's record)
        instead of measuring them again.

        Once started, the step waits until every input stream has sent ``settle`` seconds of
        samples (its filters' start-up; 0 for a step that applies nothing to a filter) and
        ``after`` (a step whose result this one builds on) is done; at that sample time it
        applies the results as if it had measured them (:meth:`_apply_reused`), writes them
        into its record and raises ``calibration.<step>`` with ``reused: true``.
        """
        if not results:
            raise ConfigError(f"{self.kind}: expected results to reuse, got none")
        self.reused = dict(results)
        self._reuse_settle = float(settle)
        self._reuse_after = after
        self._waiting_for = self._initial_wait()

    def _apply_reused(self, time: float) -> dict[str, Any]:
        """Hand reused results to whatever the step calibrates; the event's extra payload (subclasses)."""
        return {}

    def _push_reused(self, block: Block) -> None:
        assert self.reused is not None
        t = block.times
        first = self._first.setdefault(block.stream, float(t[0]))
        if block.stream not in self._newest:  # the sample at which this stream has run `settle` s
            at = np.flatnonzero(t >= first + self._reuse_settle)
            if at.size:
                self._newest[block.stream] = float(t[at[0]])
        ready = all(s in self._newest for s in self.inputs)
        after = self._reuse_after
        if not ready or (after is not None and not after.done):
            what = f"{after.step} first" if ready and after is not None else "the first samples"
            if not ready and self._reuse_settle:
                what = f"the first {self._reuse_settle:g} s of every sensor"
            self._wait(f"{what} (reusing the calibration record)")
            return
        # a sample time, the same in any split of the streams into blocks
        done = max(self._newest[s] for s in self.inputs)
        if after is not None and after.done_at is not None:
            done = max(done, after.done_at)
        extra = self._apply_reused(done)
        self._finish(
            done,
            self.reused,
            {**extra, "reused": True},
            f"{self.step} reused from the calibration record (not measured again): "
            + ", ".join(sorted(self.reused)),
        )

    def _wait(self, what: str, recording: bool = False) -> None:
        self._waiting_for = what
        self._state = StepState.RECORDING if recording else StepState.WAITING

    def _finish(
        self,
        time: float,
        results: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        message: str = "",
    ) -> None:
        """Mark done; write results (key -> record entry) into the record; raise ``calibration.<step>``."""
        self._state = StepState.DONE
        self._waiting_for = "nothing: done"
        self.done_at = float(time)
        payload: dict[str, Any] = {"results": {k: v.to_dict() for k, v in results.items()}}
        payload.update(extra or {})
        ev = Event(
            time, self.kind, self.name, payload, therapist_message=message or f"{self.step} calibrated"
        )
        self.record.add_event(ev)
        self._events.append(ev)

    def _fail(self, time: float, reason: str) -> None:
        self._state = StepState.FAILED
        self.failure = reason
        self._waiting_for = f"nothing: failed ({reason})"
        self._events.append(
            Event(
                time,
                kinds.CALIBRATION_FAILED,
                self.name,
                {"step": self.step, "reason": reason},
                therapist_message=f"{self.step} calibration failed: {reason}",
            )
        )

    # -- Node --------------------------------------------------------------------------------

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for s in self.inputs:
            if s not in infos:
                known = ", ".join(sorted(infos)) or "none"
                raise ConfigError(f"{self.kind}: expected input stream {s!r}, known streams are: {known}")
            self.infos[s] = infos[s]
        self._bind()
        return []

    def _bind(self) -> None:
        """Check the input streams (subclasses)."""

    def reached(self) -> float:
        """Sample time up to which the step has seen every input (session s; inf once done)."""
        if self.done:
            return math.inf
        return min((self._seen.get(s, -math.inf) for s in self.inputs), default=math.inf)

    def push(self, block: Block) -> list[Block]:
        times = block.times
        n = times.shape[0]  # (not the n_samples property: a step sees every block of its first seconds)
        if n:
            t = float(times[n - 1])
            self._seen[block.stream] = t
        if self.finished or self._state is StepState.PENDING:
            self._observe(block)
            return []
        if n:
            if self._started_at is None:
                self._started_at = float(times[0])
            if self.reused is not None:
                self._push_reused(block)
                return []
            self._push(block)
            if not self.finished and self.timeout is not None and t - self._started_at >= self.timeout:
                self._fail(t, f"still waiting for {self._waiting_for} after {self.timeout:g} s")
        return []

    def _observe(self, block: Block) -> None:
        """Blocks seen while pending or finished (subclasses keep filters settled)."""

    def finish(self, time: float) -> None:
        """The session ended while the step was still running (started, neither done nor failed): it fails
        with what it was still waiting for (``calibration.failed``), so a session that ended during its
        calibration says why nothing that needed the step was judged, instead of saying nothing. A step
        never started (pending behind another) says nothing: the one it waited for has said it."""
        if self.finished or self._state is StepState.PENDING or self._started_at is None:
            return
        self._fail(
            time,
            f"the session ended at {time:g} s before it was done (still waiting for {self._waiting_for}); "
            "nothing that needs it was judged",
        )

    def route(self) -> Node | None:
        """``None`` once done with its events popped, unless the step still observes blocks after that
        (its :meth:`reached` is then infinite and its blocks change nothing): the engine stops pushing."""
        if (
            self._state is StepState.DONE
            and not self._events
            and type(self)._observe is CalibrationStep._observe
        ):
            return None
        return self

    def _push(self, block: Block) -> None:
        raise NotImplementedError

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out


class Gated(Node):
    """Runs ``node`` only from the sample time the ``gate`` opened (the readiness gate passed or was overridden).

    Samples and events before that time never reach the node, so a drill's rules and counters start
    on ready signals. The gate opens at a **sample time** (``gate.opened_at``: the end of the
    round of windows that passed), and streams do not arrive evenly: live, one inlet may deliver
    seconds of its samples before another stream's samples reach that time (LSL, a BLE radio that
    stalls). So while the gate is closed the node's blocks and events are held (the last
    :data:`HOLD` s of sample time, references only), and when it opens the node gets, in their
    order, every held or new sample and event at or after ``opened_at``. What the node sees then
    depends only on the samples, not on how they were cut into blocks or interleaved (a drill on
    live LSL streams gives the outcomes of the same recording on the virtual clock). A gate
    without ``opened_at`` passes whatever comes once it is open. ``bind``, outputs and events are
    the wrapped node's.
    """

    #: Seconds of sample time held per node while the gate is closed (a stream that runs further ahead
    #: of the slowest one loses its oldest held samples: its rule reports the stretch as without signal).
    HOLD = 5.0

    def __init__(self, node: Node, gate: Any) -> None:
        self.node, self.gate = node, gate
        self.inputs = node.inputs
        self.name = node.name
        self._clear()

    def _clear(self) -> None:
        self._held: deque[Block | Event] = deque()
        self._newest = -math.inf
        self._live = False  # open, and every input has passed the opening time: blocks go straight on
        self._behind: set[str] = set(self.inputs)  # inputs that may still send samples before it
        self._from: float | None = None

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        return self.node.bind(infos)

    def _hold(self, item: Block | Event) -> None:
        held = self._held
        held.append(item)
        if isinstance(item, Block) and item.times.shape[0]:
            self._newest = max(self._newest, float(item.times[-1]))
        while held and _last_time(held[0]) < self._newest - self.HOLD:
            held.popleft()

    def _start(self) -> float:
        at = getattr(self.gate, "opened_at", None)
        self._from = -math.inf if at is None else float(at)
        return self._from

    def _cut(self, block: Block, at: float) -> Block | None:
        """``block`` from ``at`` on (None if it ends before); notes the streams that have passed ``at``."""
        t = block.times
        n = t.shape[0]
        if not n:
            return block if block.stream not in self._behind else None
        if t[n - 1] < at:
            return None
        self._behind.discard(block.stream)
        self._live = not self._behind
        if t[0] >= at:
            return block
        i = int(np.searchsorted(t, at, side="left"))
        return Block(block.stream, t[i:], block.values[:, i:], block.seq, 0, block.arrival)

    def push(self, block: Block) -> list[Block]:
        if self._live:
            return self.node.push(block)
        if not self.gate.open:
            self._hold(block)
            return []
        at = self._from if self._from is not None else self._start()
        if not self._held:
            cut = self._cut(block, at)
            return self.node.push(cut) if cut is not None else []
        self._held.append(block)
        return self._release(at)

    def _release(self, at: float) -> list[Block]:
        """Hand the node what was held, from ``at`` on, in the order it came."""
        held, self._held = self._held, deque()
        out: list[Block] = []
        for item in held:
            if isinstance(item, Event):
                if item.time >= at:
                    self.node.on_event(item)
                continue
            cut = self._cut(item, at)
            if cut is not None:
                out += self.node.push(cut)
        return out

    def route(self) -> Node | None:
        """Once the gate is open and what it held is handed on (every input past the opening time), this
        wrapper only forwards: the engine pushes to the node it runs."""
        return self.node.route() if self._live else self

    def route_final(self) -> bool:
        """Live for good (until :meth:`reset`): the route is the node's, final when the node's is. The
        gate stays open once open (a :class:`~nmre.calibration.ReadinessGate` until its reset), so from
        then on this wrapper's events, times and verdicts are the node's (:meth:`Node.route_final`)."""
        return self._live and bool(self.gate.open) and self.node.route_final()

    def takes_event(self, kind: str) -> bool:
        """Every kind until live (what is held, and when the wrapper goes live, depends on every event);
        then the node's kinds (going live changes the route, so the engine asks again)."""
        return not self._live or self.node.takes_event(kind)

    def on_event(self, event: Event) -> None:
        if self._live:
            self.node.on_event(event)
            return
        if not self.gate.open:
            self._hold(event)
            return
        at = self._from if self._from is not None else self._start()
        if self.inputs:
            if self._held:
                self._hold(event)  # in order with the held blocks: handed on at the next block
            elif event.time >= at:
                self.node.on_event(event)
            return
        # a node of events alone (an onset-order rule): what was held goes on now, and so does all that follows
        self._held.append(event)
        self._release(at)
        self._live = True

    def pop_events(self) -> list[Event]:
        return self.node.pop_events()

    def finish(self, time: float) -> None:
        if self.gate.open:  # a drill that never started has nothing to close
            if self._held:  # opened with nothing of its own since: what was held still counts
                self._release(self._from if self._from is not None else self._start())
            self.node.finish(time)

    def on_time(self, now: float) -> None:
        if self.gate.open:  # a rule behind the gate judges its closed units as its streams come in
            self.node.on_time(now)

    def waiting(self) -> bool:
        return self.gate.open and self.node.waiting()

    def signals(self) -> list[Any]:
        return self.node.signals() if self.gate.open else []

    def reset(self) -> None:
        self.node.reset()
        self._clear()


class CalibratedFrom(Node):
    """Runs a processor node calibrated by a step from the step's **sample time** on (the neutral pose).

    A step finishes while the engine processes some block, and its calibration used to reach the
    processor from the next block it was given: with 0.1 s blocks the knee angle took the neutral
    pose from 1.4 s, with 3 s blocks from 3.0 s, so a replay in other blocks gave other angles (and
    rep 1 began 0.01 s earlier). Here, while the ``step`` runs, the node's input blocks are held
    (up to :data:`HOLD` s of sample time; older ones go on uncalibrated); the calibration the step
    hands over (``calibrate``, with ``at`` its sample time) is kept, and at the next block the held
    ones go to the node: samples of the driving input (the last, which gives the output its times)
    at or before ``at`` as they were, then the calibration, then the rest. If the step fails or is
    overridden they go on as they were. The node's output waits for the step (the pose is a second of
    standing still, before the drill); once the step is finished and nothing is held the engine
    pushes to the node itself (:meth:`route`). Before :attr:`step` is set (a drill without the
    step) nothing is held.
    """

    #: Seconds of sample time held at most while the step runs.
    HOLD = 10.0

    def __init__(self, node: Node, apply: Any) -> None:
        self.node, self._apply = node, apply
        self.inputs, self.name = node.inputs, node.name
        self.step: CalibrationStep | None = None
        self._held: deque[Block] = deque()
        self._cal: Any = None
        self._through = False  # the step finished and what it held went on: blocks go straight to the node

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        return self.node.bind(infos)

    def calibrate(self, cal: Any) -> None:
        """The step's result (``cal.at``: its sample time); applied where the held samples reach it."""
        if self.step is None or self._through:
            self._apply(cal)
        else:
            self._cal = cal

    def route(self) -> Node | None:
        return self.node.route() if self._through or self.step is None else self

    def route_final(self) -> bool:
        """Through for good (until :meth:`reset`): the route is the node's, final when the node's is."""
        return (self._through or self.step is None) and self.node.route_final()

    def push(self, block: Block) -> list[Block]:
        step = self.step
        if self._through or step is None:
            return self.node.push(block)
        held = self._held
        if not step.finished and self._cal is None:
            held.append(block)
            out: list[Block] = []
            t = block.times
            if t.shape[0]:  # a step that takes long: the oldest held samples go on as they are
                newest = float(t[t.shape[0] - 1])
                while held and _last_time(held[0]) < newest - self.HOLD:
                    out += self.node.push(held.popleft())
            return out
        held.append(block)
        return self._release()

    def _release(self) -> list[Block]:
        held, self._held = self._held, deque()
        cal, self._cal = self._cal, None
        self._through = True
        at = float(getattr(cal, "at", math.inf)) if cal is not None else math.inf
        driver = self.inputs[-1]
        out: list[Block] = []
        for b in held:
            if cal is not None and b.stream == driver:
                t = b.times
                n = t.shape[0]
                if n and t[n - 1] > at:
                    i = int(np.searchsorted(t, at, side="right"))
                    if i:
                        out += self.node.push(
                            Block(b.stream, t[:i], b.values[:, :i], b.seq, b.missing_before, b.arrival)
                        )
                    self._apply(cal)
                    cal = None
                    out += self.node.push(
                        Block(
                            b.stream, t[i:], b.values[:, i:], b.seq, 0 if i else b.missing_before, b.arrival
                        )
                    )
                    continue
            out += self.node.push(b)
        if cal is not None:
            self._apply(cal)
        return out

    def takes_event(self, kind: str) -> bool:
        return self.node.takes_event(kind)

    def on_event(self, event: Event) -> None:
        self.node.on_event(event)

    def pop_events(self) -> list[Event]:
        return self.node.pop_events()

    def finish(self, time: float) -> None:
        if self._held:
            self._release()  # the session ends during the step: what was held is still processed
        self.node.finish(time)

    def reset(self) -> None:
        self.node.reset()
        self._held.clear()
        self._cal, self._through = None, False


def _last_time(item: Block | Event) -> float:
    if isinstance(item, Event):
        return item.time
    t = item.times
    return float(t[t.shape[0] - 1]) if t.shape[0] else -math.inf


class CalibrationSequence(Node):
    """Steps run one after the other; :meth:`status` is the current step's.

    Every step sees every block of its inputs (so its filters settle), but only the
    current one is armed: the next is started when the current one is done. A
    failed step stops the sequence (the therapist repeats it with :meth:`retry`).
    """

    def __init__(self, steps: Sequence[CalibrationStep], record: Calibration | None = None) -> None:
        if not steps:
            raise ConfigError("calibration sequence: expected at least one step, got none")
        self.steps = list(steps)
        self.record = record if record is not None else self.steps[0].record
        for s in self.steps:
            s.record = self.record
        self.inputs = tuple(dict.fromkeys(i for s in self.steps for i in s.inputs))
        self.name = "calibration"
        self._index = 0
        for s in self.steps[1:]:
            s.autostart = False
            s.reset()

    @property
    def current(self) -> CalibrationStep | None:
        return self.steps[self._index] if self._index < len(self.steps) else None

    @property
    def done(self) -> bool:
        return self._index >= len(self.steps)

    def status(self) -> tuple[StepState, str]:
        cur = self.current
        if cur is None:
            return StepState.DONE, "nothing: all steps done"
        state, what = cur.status()
        return state, f"{cur.step}: {what}"

    def retry(self) -> None:
        """Restart the current (failed) step."""
        cur = self.current
        if cur is None or cur.state is not StepState.FAILED:
            raise StateError(
                "calibration sequence: expected a failed step to retry, got "
                + ("none (all done)" if cur is None else cur.state.value)
            )
        cur.autostart = True
        cur.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for s in self.steps:
            s.bind(infos)
        return []

    def push(self, block: Block) -> list[Block]:
        for s in self.steps:
            if block.stream in s.inputs:
                s.push(block)
        cur = self.current
        while cur is not None and cur.done:
            self._index += 1
            cur = self.current
            if cur is not None and cur.state is StepState.PENDING:
                cur.start()
        return []

    def takes_event(self, kind: str) -> bool:
        return any(s.takes_event(kind) for s in self.steps)

    def on_event(self, event: Event) -> None:
        for s in self.steps:
            s.on_event(event)

    def pop_events(self) -> list[Event]:
        out: list[Event] = []
        for s in self.steps:
            out += s.pop_events()
        return out

    def reset(self) -> None:
        self._index = 0
        for i, s in enumerate(self.steps):
            s.autostart = i == 0
            s.reset()

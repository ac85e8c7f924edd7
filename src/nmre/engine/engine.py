"""The engine: sources → nodes (processors, derivations, rules) → feedback schedule → sinks.

Every arriving block is processed at once (never on a UI timer). On a
:class:`~nmre.core.VirtualClock` the engine jumps from one scheduled arrival to
the next, so a run is deterministic and as fast as the CPU allows; on a
:class:`~nmre.core.RealClock` it paces itself to wall time and waits for live
sources to wake it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from nmre.core import kinds
from nmre.core.clock import Clock, VirtualClock
from nmre.core.interfaces import Sink, Source
from nmre.core.model import (
    Block,
    Cue,
    Event,
    FeedbackState,
    SignalState,
    StreamInfo,
    _checked,  # what vouch_times sets (inlined in the hot path)
)
from nmre.engine.nodes import Node, ProcessorNode
from nmre.engine.stats import RunningStats
from nmre.errors import ConfigError, NmreError, StateError
from nmre.feedback.schedule import Continuous, FeedbackSchedule, is_safety

__all__ = ["Engine", "EngineState", "EngineStats"]

#: How often (session seconds) the feedback state's live signal values are refreshed.
FEEDBACK_PERIOD = 0.01
#: Longest wait for live sources before the engine checks for a stop request (seconds).
LIVE_POLL = 0.005


def _popper(node: Node) -> Any:
    """``node.pop_events``, or ``None`` when it can never return an event (skipped on the hot path)."""
    if type(node).pop_events is Node.pop_events:
        return None
    if isinstance(node, ProcessorNode) and type(node).pop_events is ProcessorNode.pop_events:
        # what ProcessorNode.pop_events calls, without its layer
        return None if node._silent else node.processor.pop_events
    return node.pop_events


class EngineState(Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass
class EngineStats:
    """What the engine measured about itself during a run.

    ``cost`` is wall time spent processing each arriving block (all nodes, rules
    and sinks it triggered); ``transport`` is arrival minus the block's last
    sample time (session clock); ``detection`` is an event's ``detected_at``
    minus its ``time``.
    """

    blocks: int = 0
    samples: int = 0
    events: int = 0
    cost: RunningStats = field(default_factory=RunningStats)
    transport: RunningStats = field(default_factory=RunningStats)
    detection: RunningStats = field(default_factory=RunningStats)
    session_seconds: float = 0.0
    wall_seconds: float = 0.0


class Engine:
    """Wires sources, nodes, a feedback schedule and sinks on one clock.

    Parameters
    ----------
    sources : sequence of Source
        Where blocks come from (simulator, BLE devices, a recording).
    nodes : sequence of Node
        Processing steps in the order they should see each block.
    sinks : sequence of Sink
        Consumers of blocks, events and feedback state.
    clock : Clock, optional
        Session clock; a fresh :class:`VirtualClock` by default.
    schedule : FeedbackSchedule, optional
        Decides which rule outcomes become cues for the patient
        (default :class:`~nmre.feedback.schedule.Continuous`).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        nodes: Sequence[Node] = (),
        sinks: Sequence[Sink] = (),
        clock: Clock | None = None,
        schedule: FeedbackSchedule | None = None,
    ) -> None:
        if not sources:
            raise ConfigError("engine: expected at least one source, got none")
        self.sources = list(sources)
        self.nodes = list(nodes)
        self.sinks = list(sinks)
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.schedule: FeedbackSchedule = schedule if schedule is not None else Continuous()
        self.state = EngineState.CREATED
        self.stats = EngineStats()
        self.events: list[Event] = []
        self.infos: dict[str, StreamInfo] = {}
        self._subscribers: dict[str, list[Node]] = defaultdict(list)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._feedback = FeedbackState(time=0.0)
        self._cues: deque[Cue] = deque(maxlen=8)  # the latest cues, as the feedback state shows them
        self._last_feedback = -math.inf
        self._failures: dict[str, tuple[int, float]] = {}
        self._last_time: dict[str, float] = {}  # per raw stream: the last sample time let through
        # only sinks that override on_block see blocks (the recorder does; text sinks do not)
        self._block_sinks = [k for k in self.sinks if type(k).on_block is not Sink.on_block]
        self._bind()

    # -- set-up -------------------------------------------------------------------
    def _bind(self) -> None:
        for src in self.sources:
            for info in src.streams:
                if info.id in self.infos:
                    raise ConfigError(f"engine: stream id {info.id!r} is produced twice; expected unique ids")
                self.infos[info.id] = info
        for node in self.nodes:
            for out in node.bind(dict(self.infos)):
                if out.id in self.infos:
                    raise ConfigError(f"engine: node {node.name!r} emits {out.id!r}, which already exists")
                self.infos[out.id] = out
            for stream in node.inputs:
                self._subscribers[stream].append(node)
        # the hot path's view of the graph (docs/performance.md): per stream, each subscriber's push and
        # its pop_events, or None where the node can never hold events (the base class's, or a
        # ProcessorNode around a processor that raises none); the nodes that react to events or publish
        # signals, so an event or a feedback refresh visits only those
        # A node may hand its blocks to another (a wrapper to the node it runs) or stop taking them (a
        # calibration step that is done): Node.route, asked now and after every event (_reroute).
        self._routes: dict[str, list[tuple[Node, Any, Any]]] = {}
        self._routed = [n for n in self.nodes if type(n).route is not Node.route]
        self._route_to: dict[int, Node | None] = {}
        # per event kind, the nodes that take it (Node.takes_event): their on_event (None where the
        # class has none) and pop_events (None where it can hold no events), in node order; made at
        # the first event of a kind and again after a route changed (_reroute)
        self._listeners = [
            (n, n.on_event if type(n).on_event is not Node.on_event else None, _popper(n)) for n in self.nodes
        ]
        self._listeners = [x for x in self._listeners if x[1] is not None or x[2] is not None]
        self._by_kind: dict[str, list[tuple[Any, Any]]] = {}
        self._signalling = [n for n in self.nodes if type(n).signals is not Node.signals]
        self._signallers = list(self._signalling)  # each, or the node its route runs (_reroute)
        # nodes with an on_time hook, and those of them that owe a verdict now (asked after each event,
        # when a unit can close, so a source block costs one test while none waits)
        self._timed_nodes = [n for n in self.nodes if type(n).on_time is not Node.on_time]
        self._timed = [(n.on_time, _popper(n), n.waiting) for n in self._timed_nodes]
        self._due: list[tuple[Any, Any, Any]] = []
        self._reroute(force=True)
        # events kept from the schedule while a node owes a verdict (see _emit), and the order
        # verdicts of one time reach it in: their rules' order, as when none waits
        self._held: list[Event] = []
        self._rank = {n.name: i for i, n in enumerate(self.nodes)}
        self._finishers = [(n, n.pop_events) for n in self.nodes if type(n).finish is not Node.finish]

    def _reroute(self, force: bool = False) -> None:
        """Rebuild the per-stream routes if a node's :meth:`Node.route` changed (or ``force``).

        A dispatch under way keeps iterating the routes it started with: those call the nodes
        themselves, which do what their route would (a wrapper checks its gate; a finished step
        ignores the block), so where the change lands changes no output.
        """
        changed = force
        to = self._route_to
        for n in self._routed:
            r = n.route()
            if to.get(id(n), n) is not r:
                to[id(n)] = r
                changed = True
        if not changed:
            return
        # a route that is final (None, or a wrapper forwarding for good) is no longer asked after events;
        # a wrapper's final route to another node also takes its events and times (Node.route_final)
        keep = []
        for n in self._routed:
            r = to.get(id(n), n)
            if r is not None and not n.route_final():
                keep.append(n)
            elif r is not None and r is not n:
                self._stand_in(n, r)
        self._routed = keep
        self._by_kind = {}  # a node's kinds change only with its route (Node.takes_event)
        routes: dict[str, list[tuple[Node, Any, Any]]] = {}
        for stream, nodes in self._subscribers.items():
            entries = []
            for n in nodes:
                r = to.get(id(n), n)
                if r is not None:
                    entries.append((n, r.push, _popper(r)))
            routes[stream] = entries
        self._routes = routes
        # a node routed to another (a wrapper to the node it runs) publishes what that one does; one that
        # takes no more blocks (None) still publishes its own
        self._signallers = [n if (r := to.get(id(n), n)) is None else r for n in self._signalling]
        # a wrapper routed to a node that publishes nothing (a gated ProcessorNode) costs no call per refresh
        self._signallers = [n for n in self._signallers if type(n).signals is not Node.signals]

    def _stand_in(self, n: Node, r: Node) -> None:
        """``r`` (``n``'s final route) in ``n``'s place for events and times: the same calls, one layer less."""
        self._listeners = [
            (r, r.on_event if type(r).on_event is not Node.on_event else None, _popper(r)) if x[0] is n else x
            for x in self._listeners
        ]
        self._listeners = [x for x in self._listeners if x[1] is not None or x[2] is not None]
        if any(x is n for x in self._timed_nodes):
            on_time = type(r).on_time is not Node.on_time
            self._timed_nodes = [r if x is n else x for x in self._timed_nodes if x is not n or on_time]
            self._timed = [(x.on_time, _popper(x), x.waiting) for x in self._timed_nodes]

    @property
    def feedback(self) -> FeedbackState:
        """The latest feedback state (safe to read from any thread: replaced atomically)."""
        return self._feedback

    def stop(self) -> None:
        """Ask a running engine to stop after the current block (thread-safe)."""
        self._stop.set()
        self._wake.set()

    # -- the loop -----------------------------------------------------------------
    def run(self, until: float | None = None) -> EngineStats:
        """Run the session until every source is finished, ``until`` (session s), or :meth:`stop`."""
        if self.state is not EngineState.CREATED:
            raise StateError(f"engine: run() needs state 'created', but the engine is {self.state.value!r}")
        self.state = EngineState.RUNNING
        wall0 = time.perf_counter()
        opened: list[Sink] = []
        started: list[Source] = []
        try:
            infos = list(self.infos.values())
            for sink in self.sinks:
                sink.open(infos)
                opened.append(sink)
            for src in self.sources:
                src.wake = self._wake
                src.start(self.clock)
                started.append(src)
            self._loop(until)
        except BaseException:
            self._shut_down(started, opened, wall0)  # the error in flight is the one to report
            raise
        failure = self._shut_down(started, opened, wall0)
        if failure is not None:
            raise failure
        return self.stats

    def _shut_down(self, started: list[Source], opened: list[Sink], wall0: float) -> BaseException | None:
        """Stop every started source and close every opened sink, even if one fails; return the first failure."""
        failure: BaseException | None = None
        for src in reversed(started):
            try:
                src.stop()
            except Exception as exc:
                failure = failure or exc
        now = self.clock.now()
        if (self._timed or self._held) and len(opened) == len(self.sinks):
            try:  # the sources are done: units still waiting for a stream are judged as they are
                self._on_time(now, math.inf)
                self._release_held(now)
            except Exception as exc:
                failure = failure or exc
        if started:
            try:  # nodes close what is open (a set stopped part-way: set.end with partial)
                # the last sample time let through, not the clock: the same in any split into blocks
                last = max(self._last_time.values(), default=-math.inf)
                self._finish_nodes(last if math.isfinite(last) else now)
                if self._held:
                    self._release_held(now)
            except Exception as exc:
                failure = failure or exc
        if opened:
            try:  # the set ends with the session: the schedule releases what it still owes
                for cue in self.schedule.end(now):
                    self._release(cue, now)
            except Exception as exc:
                failure = failure or exc
            self._publish_feedback(now, force=True)
        for sink in opened:
            try:
                sink.close()
            except Exception as exc:
                failure = failure or exc
        self.state = EngineState.STOPPED
        self.stats.session_seconds = self.clock.now()
        self.stats.wall_seconds = time.perf_counter() - wall0
        return failure

    def _loop(self, until: float | None) -> None:
        clock = self.clock
        sources = self.sources
        stop = self._stop
        while not stop.is_set():
            nxt: float | None = None
            for s in sources:
                t = s.next_arrival()
                if t is not None and (nxt is None or t < nxt):
                    nxt = t
            if clock.is_virtual:
                if nxt is None:
                    if all(s.finished for s in self.sources):
                        break
                    raise StateError(
                        "engine: a virtual clock needs scheduled sources, but a live source has no next arrival"
                    )
                if until is not None and nxt > until:
                    clock.sleep_until(until)
                    break
                now = clock.sleep_until(nxt)
            else:
                if all(s.finished for s in self.sources):
                    break
                target = clock.now() + LIVE_POLL if nxt is None else min(nxt, clock.now() + LIVE_POLL)
                if until is not None:
                    target = min(target, until)
                now = clock.sleep_until(target, self._wake)
                if until is not None and now >= until:
                    self._poll_all(now)
                    break
            self._poll_all(now)

    def _poll_all(self, now: float) -> None:
        # the per-block hot path: plain attribute access, no properties, no numpy scalars
        stats = self.stats
        perf = time.perf_counter
        for cue in self.schedule.poll(now):  # feedback the patient asked for
            self._release(cue, now)
        dispatch = self._dispatch
        # bound list.append each (RunningStats.adder): two values per block without a Python call
        transport, cost = stats.transport.adder(), stats.cost.adder()
        last_time = self._last_time
        never = -math.inf
        for src in self.sources:
            for ev in src.poll_events():
                self._emit(ev, now)
            for block in src.poll(now):
                t0 = perf()
                times = block.times
                n = times.shape[0]
                if n:
                    last = last_time.get(block.stream, never)
                    if times[0] < last:
                        self._time_went_back(block, last, now)
                        continue
                    end = float(times[n - 1])
                    last_time[block.stream] = end
                    stats.samples += n
                    arrival = block.arrival
                    if arrival == arrival:
                        transport(arrival - end)
                stats.blocks += 1
                dispatch(block, now)
                if self._due or self._held:
                    self._on_time(now)
                if now - self._last_feedback >= FEEDBACK_PERIOD:
                    self._publish_feedback(now)
                cost(perf() - t0)
        stats.transport.fold_if_full()
        stats.cost.fold_if_full()

    def _on_time(self, now: float, at: float | None = None) -> None:
        """The nodes that owe a verdict (every timed node at the end, ``at`` = inf) see the time."""
        for on_time, pop, _waiting in list(self._timed if at is not None else self._due):
            on_time(now if at is None else at)
            if pop is not None:
                events = pop()
                if events:
                    for ev in events:
                        self._emit(ev, now)
        self._due = [t for t in self._timed if t[2]()]
        if self._held and not self._due:
            self._release_held(now)

    def _release_held(self, now: float) -> None:
        """Hand the held events to the schedule as if no node had waited: by time, verdicts in rule order."""
        last = len(self.nodes)
        rank = self._rank

        def key(e: Event) -> tuple[float, int]:
            owed = e.kind.startswith("rule.") or kinds.is_unjudged(e.kind)
            return (e.time, rank.get(e.source, last) if owed else last)

        held, self._held = sorted(self._held, key=key), []
        for ev in held:
            self._schedule(ev, now)

    def _dispatch(self, block: Block, now: float) -> None:
        for sink in self._block_sinks:
            sink.on_block(block)
        routes = self._routes.get(block.stream)
        if not routes:
            return
        times = block.times
        checked = _checked
        for node, push, pop in routes:
            # vouch_times, inlined: a block's times are checked, so blocks derived with the same times skip it
            checked[0] = times
            try:
                outs = push(block)
            except NmreError as exc:  # bad input for this node: say so, keep the session going
                self._node_failed(node, block, exc, now)
                continue
            if pop is not None:
                events = pop()
                if events:
                    for ev in events:
                        self._emit(ev, now)
            for out in outs:
                self._dispatch(out, now)

    def _finish_nodes(self, now: float) -> None:
        """Call each node's :meth:`Node.finish` in node order and emit what it queued (once per run).

        ``now``: the session's last sample time (of any stream), the time a stopped set ends at.
        """
        finishers, self._finishers = self._finishers, []
        for node, pop in finishers:
            try:
                node.finish(now)
            except NmreError as exc:  # a node that cannot close: say so, let the others close
                self._emit(
                    Event(
                        now,
                        kinds.ENGINE_NODE_ERROR,
                        node.name,
                        {"stage": "finish", "error": type(exc).__name__},
                        therapist_message=f"{node.name} could not close at the session's end: {exc}",
                    ),
                    now,
                )
            for ev in pop():
                self._emit(ev, now)

    def _time_went_back(self, block: Block, last: float, now: float) -> None:
        """A source block starting before the stream's previous one: not processed, said as an event."""
        first = float(block.times[0])
        self._emit(
            Event(
                first,
                kinds.STREAM_TIME_ERROR,
                block.stream,
                {"stream": block.stream, "first": first, "previous_last": last, "samples": block.n_samples},
                therapist_message=f"{block.stream}: {block.n_samples} samples starting at {first:.4f} s, before "
                f"the stream's last sample at {last:.4f} s: left out (time must not go back)",
            ),
            now,
        )

    def _node_failed(self, node: Node, block: Block, exc: NmreError, now: float) -> None:
        """Record a node's refusal of a block as an event (the first, then at most one per second)."""
        count, last = self._failures.get(node.name, (0, -math.inf))
        count += 1
        self._failures[node.name] = (count, now if now - last >= 1.0 else last)
        if now - last >= 1.0:
            t = block.end_time if block.n_samples else now
            self._emit(
                Event(
                    t,
                    kinds.ENGINE_NODE_ERROR,
                    node.name,
                    {"stream": block.stream, "error": type(exc).__name__, "count": count},
                    therapist_message=f"{node.name} skipped a block of {block.stream!r}: {exc}",
                ),
                now,
            )

    def _emit(self, event: Event, now: float) -> None:
        if not math.isfinite(event.detected_at):
            event = replace(event, detected_at=now)
        self.events.append(event)
        self.stats.events += 1
        if math.isfinite(event.time):
            self.stats.detection.add(max(0.0, event.detected_at - event.time))
        for sink in self.sinks:
            sink.on_event(event)
        listeners = self._by_kind.get(event.kind)
        if listeners is None:
            listeners = self._takers(event.kind)
        for on_event, pop in listeners:
            if on_event is not None:
                on_event(event)
            if pop is not None:
                events = pop()
                if events:
                    for ev in events:
                        self._emit(ev, now)
        if self._timed:
            self._due = [t for t in self._timed if t[2]()]
        if self._routed:
            self._reroute()
        if (self._held or self._due) and not is_safety(event):
            # a rule waits for a stream to reach a unit's end: the schedule gets the unit's verdicts
            # and its end together, in the order they have when no rule waits (large blocks, a lagging
            # sensor); safety is never held
            self._held.append(event)
            return
        self._schedule(event, now)

    def _takers(self, kind: str) -> list[tuple[Any, Any]]:
        """The nodes that take events of ``kind``: (on_event, pop_events) each, in node order."""
        got = [(on, pop) for n, on, pop in self._listeners if n.takes_event(kind)]
        self._by_kind[kind] = got
        return got

    def _schedule(self, event: Event, now: float) -> None:
        for cue in self.schedule.on_event(event):
            self._release(cue, now)

    def _release(self, cue: Cue, now: float) -> None:
        """Show ``cue`` and record it as a ``feedback.cue`` event."""
        self._cues.append(cue)
        self._emit(
            Event(
                time=cue.time,
                kind=kinds.FEEDBACK_CUE,
                source=cue.rule,
                payload={"tone": cue.tone, "intensity": cue.intensity, "schedule": self.schedule.name},
                patient_message=cue.message,
                therapist_message=f"cue released by the {self.schedule.name} schedule",
            ),
            now,
        )
        self._publish_feedback(now, force=True)

    def _publish_feedback(self, now: float, force: bool = False) -> None:
        if not force and now - self._last_feedback < FEEDBACK_PERIOD:
            return
        self._last_feedback = now
        signals: dict[str, SignalState] = {}
        for node in self._signallers:
            for s in node.signals():
                signals[s.name] = s
        state = FeedbackState(time=now, signals=signals, cues=tuple(self._cues))
        self._feedback = state
        for sink in self.sinks:
            sink.on_feedback(state)

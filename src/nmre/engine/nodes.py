"""Nodes: the units the engine wires between sources and sinks.

A :class:`Node` consumes blocks of the streams it names in :attr:`Node.inputs`,
may emit blocks of new (derived) streams, may raise events, and may publish
watched signals for feedback. A single-stream :class:`~nmre.core.Processor` is
adapted with :class:`ProcessorNode`; multi-stream derivations (a joint angle
from two IMUs) and rules are nodes of their own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.core.ranges import channel_limits
from nmre.errors import ConfigError

__all__ = ["Node", "ProcessorNode"]

_NO_EVENTS: list[Event] = []  # shared and never appended to


class Node(ABC):
    """One step of the processing graph.

    Lifecycle: :meth:`bind` once (with the infos of every stream known so far),
    then :meth:`push` for each input block and :meth:`on_event` for each event,
    in session order, then :meth:`finish` once when the session ends. A node must be causal: its output for a block depends only
    on what it has seen so far.
    """

    #: Stream ids this node consumes.
    inputs: tuple[str, ...] = ()
    #: A short id used as the ``source`` of the events it raises.
    name: str = "node"

    @abstractmethod
    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        """Check the input streams and return the infos of the streams this node emits."""

    @abstractmethod
    def push(self, block: Block) -> list[Block]:
        """Consume one block of an input stream; return output blocks (possibly none)."""

    def on_event(self, event: Event) -> None:  # noqa: B027 - optional hook
        """React to an event raised elsewhere (e.g. a rep ended)."""

    def takes_event(self, kind: str) -> bool:
        """Whether :meth:`on_event` may do anything with an event of ``kind`` (change the node, queue events).

        The engine asks once per kind (again after a node's :meth:`route` changed) and hands each
        event only to the nodes that take its kind; after the event it pops only those nodes' events
        (a node queues events in its own calls: ``push``, ``on_event``, ``on_time``, ``finish``, and
        the engine pops them after that call). The answer may only go from ``True`` to ``False``, and
        then only when the node's route changes with it. Default: ``True`` when the class overrides
        :meth:`on_event` (every event, as before kinds were declared), else ``False``. A node whose
        ``on_event`` ignores most kinds says which it uses (docs/performance.md: in a replay most
        events are EMG onsets, offsets and bursts, which only the onset-timing rules read).
        """
        return type(self).on_event is not Node.on_event

    def on_time(self, now: float) -> None:  # noqa: B027 - optional hook
        """Every source block has gone through the graph up to ``now`` (session s; ``inf`` at the end).

        For a node that waits for several streams to reach a time (a rule judging a unit once the
        block of each stream covering it has arrived); its events are popped after the call.
        """

    def waiting(self) -> bool:
        """Whether the node still owes an event for a unit that has ended (its verdict).

        While any node does, the engine hands the feedback schedule no ``rep.end`` or
        ``set.end``, so the verdicts of one rep are grouped as they are with small blocks.
        """
        return False

    def pop_events(self) -> list[Event]:
        """Events raised since the last call."""
        return []

    def finish(self, time: float) -> None:  # noqa: B027 - optional hook
        """The session ended (stopped, or its sources ran out): close what is open.

        ``time`` is the session's last sample time (of any stream), so it does not depend on
        how the streams were cut into blocks.

        Called once by the engine, in node order, after the last block; events the node
        queues here (a partial set's ``set.end``, a judgement it was still waiting for)
        are popped and emitted like any other, before the sinks close.
        """

    def signals(self) -> list[SignalState]:
        """Watched signals this node publishes for feedback (latest value, target zone)."""
        return []

    def route(self) -> Node | None:
        """The node whose :meth:`push` and :meth:`pop_events` take this node's input blocks now.

        The engine asks once it is wired and again after every event (docs/performance.md):
        ``self`` by default; a wrapper that only forwards may return the node it runs (a
        :class:`~nmre.calibration.Gated` node once its gate is open); ``None`` once no further
        block can change what the node does, reports or holds (a calibration step that is done),
        and the engine stops pushing blocks to it. A node returns ``None`` only while it holds no
        events, and only for good: nothing brings it back without an event.
        """
        return self

    def route_final(self) -> bool:
        """Whether :meth:`route` now returns the same for the rest of the run (until :meth:`reset`); the
        engine then stops asking it after events. By default: when the class keeps :meth:`Node.route`
        (always ``self``). A ``None`` route is final by its contract; a wrapper that forwards for good
        (a :class:`~nmre.calibration.Gated` node gone live) says so when the node it runs does.

        A final route to another node means that node also stands for this one from now on: the
        engine calls its ``on_event``, ``on_time``, ``waiting`` and ``pop_events`` instead (a wrapper
        that forwards blocks for good forwards those too, with the same results)."""
        return type(self).route is Node.route

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget all state."""


def require(infos: Mapping[str, StreamInfo], stream: str, who: str) -> StreamInfo:
    """Return ``infos[stream]`` or raise a ConfigError naming the node and the known streams."""
    try:
        return infos[stream]
    except KeyError:
        known = ", ".join(sorted(infos)) or "none"
        raise ConfigError(f"{who}: expected input stream {stream!r}, known streams are: {known}") from None


class ProcessorNode(Node):
    """Runs a :class:`~nmre.core.Processor` and emits one derived stream.

    Parameters
    ----------
    processor : Processor
        The streaming processor.
    input : str or sequence of str
        Id(s) of the input stream(s). With several inputs (a joint angle from a
        proximal and a distal orientation) every block of any input goes to
        ``processor.process`` in arrival order, and the output info is derived
        from the **last** input (the one that drives the output rate).
    output : str, optional
        Id of the derived stream. Default: the id the processor gives it
        (``processor.output_info``). Name outputs in the processor where it can:
        a different id here costs a renamed copy of every output block.
    """

    def __init__(self, processor: Processor, input: str | Sequence[str], output: str | None = None) -> None:
        self.processor = processor
        self.inputs = (input,) if isinstance(input, str) else tuple(input)
        if not self.inputs:
            raise ConfigError(f"processor for {output!r}: expected at least one input stream, got none")
        self.output = output or ""
        self.name = output or f"{type(processor).__name__}({', '.join(self.inputs)})"
        self._silent = type(processor).pop_events is Processor.pop_events

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for stream in self.inputs:
            info = require(infos, stream, f"processor {self.name}")
        set_limits = getattr(self.processor, "set_input_limits", None)
        if set_limits is not None and len(self.inputs) == 1:
            # beyond these a sample cannot have come from the sensor: the processor keeps it out of its state
            set_limits(channel_limits(info)[1])
        out = self.processor.output_info(info)
        if not self.output:
            self.output = self.name = out.id
        return [replace(out, id=self.output, device=None)]

    def push(self, block: Block) -> list[Block]:
        out = self.processor.process(block)
        if out.stream != self.output:
            out = Block(self.output, out.times, out.values, out.seq, out.missing_before, out.arrival)
        return [out] if out.times.shape[0] or out.missing_before else []

    def pop_events(self) -> list[Event]:
        if self._silent:  # the processor never raises events: skip the call (hot path)
            return _NO_EVENTS
        return self.processor.pop_events()

    def reset(self) -> None:
        self.processor.reset()

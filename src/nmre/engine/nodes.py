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

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.errors import ConfigError

__all__ = ["Node", "ProcessorNode"]


class Node(ABC):
    """One step of the processing graph.

    Lifecycle: :meth:`bind` once (with the infos of every stream known so far),
    then :meth:`push` for each input block and :meth:`on_event` for each event,
    in session order. A node must be causal: its output for a block depends only
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

    def pop_events(self) -> list[Event]:
        """Events raised since the last call."""
        return []

    def signals(self) -> list[SignalState]:
        """Watched signals this node publishes for feedback (latest value, target zone)."""
        return []

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
    """Runs a single-stream :class:`~nmre.core.Processor` on one input and emits one derived stream.

    Parameters
    ----------
    processor : Processor
        The streaming processor.
    input : str
        Id of the input stream.
    output : str
        Id of the derived stream (its info comes from ``processor.output_info``
        with the id replaced).
    """

    def __init__(self, processor: Processor, input: str, output: str) -> None:
        self.processor = processor
        self.inputs = (input,)
        self.output = output
        self.name = output

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        info = require(infos, self.inputs[0], f"processor for {self.output!r}")
        out = self.processor.output_info(info)
        from dataclasses import replace

        return [replace(out, id=self.output, device=None)]

    def push(self, block: Block) -> list[Block]:
        out = self.processor.process(block)
        if out.stream != self.output:
            out = Block(self.output, out.times, out.values, out.seq, out.missing_before, out.arrival)
        return [out] if out.n_samples or out.missing_before else []

    def pop_events(self) -> list[Event]:
        return self.processor.pop_events()

    def reset(self) -> None:
        self.processor.reset()

"""The small interfaces at each seam: sources in, processors in the middle, sinks out.

Each is a short abstract class; concrete backends (simulator, BLE, replay,
console, Qt, audio, recorder) implement it. Front objects hold a backend rather
than inheriting from it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from nmre.core.clock import Clock
from nmre.core.model import Block, Event, FeedbackState, StreamInfo

__all__ = ["Processor", "Sink", "Source"]


class Source(ABC):
    """Something that produces blocks: a simulator, BLE devices, a recording.

    Lifecycle: ``start(clock)`` → repeated ``poll(now)`` → ``stop()``.
    A *scheduled* source (simulator, replay) knows when its next block arrives
    and says so through :meth:`next_arrival`; a *live* source returns ``None``
    there and sets :attr:`wake` when data arrives.
    """

    #: Set by live sources when new data is ready (the engine waits on it).
    wake: threading.Event | None = None

    @property
    @abstractmethod
    def streams(self) -> Sequence[StreamInfo]:
        """The streams this source produces."""

    @abstractmethod
    def start(self, clock: Clock) -> None:
        """Begin producing data on ``clock``'s session time."""

    @abstractmethod
    def poll(self, now: float) -> list[Block]:
        """Blocks that have arrived by session time ``now``, oldest first."""

    def poll_events(self) -> list[Event]:
        """Events the source itself raised (gaps, disconnects, malformed packets)."""
        return []

    def next_arrival(self) -> float | None:
        """Session time of the next block for scheduled sources; ``None`` for live ones."""
        return None

    @property
    def finished(self) -> bool:
        """``True`` once no more data will come."""
        return False

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop producing data and release resources."""


class Processor(ABC):
    """A stateful, causal, streaming transform of one stream: ``process(block) -> block``.

    Processing a signal in any split into blocks (including empty and
    one-sample blocks) gives exactly the output of one call on the whole signal.
    A chain of processors is itself a processor (:class:`nmre.dsp.Pipeline`).
    """

    @abstractmethod
    def process(self, block: Block) -> Block:
        """Consume ``block``; return the output samples for the same time span."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all state, as if newly constructed."""

    def output_info(self, info: StreamInfo) -> StreamInfo:
        """Describe the output stream for input ``info`` (default: unchanged)."""
        return info

    def pop_events(self) -> list[Event]:
        """Events raised since the last call (e.g. a NaN burst was flagged). Default: none."""
        return []


class Sink(ABC):
    """Consumes what the engine produces: blocks (recorder), events and feedback state."""

    def open(self, streams: Sequence[StreamInfo]) -> None:  # noqa: B027 - optional hook
        """Called once before the session with every raw and derived stream."""

    def on_block(self, block: Block) -> None:  # noqa: B027 - optional hook
        """Called for every raw and derived block, in processing order."""

    @abstractmethod
    def on_event(self, event: Event) -> None:
        """Called for every event, in order."""

    def on_feedback(self, state: FeedbackState) -> None:  # noqa: B027 - optional hook
        """Called with the latest feedback state whenever it changes."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Called once after the session."""

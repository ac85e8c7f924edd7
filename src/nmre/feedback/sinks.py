"""Text sinks: JSON lines for machines (an event log), memory for tests and summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from nmre.core.interfaces import Sink
from nmre.core.model import Event, StreamInfo

__all__ = ["JsonLinesSink", "MemorySink"]


class MemorySink(Sink):
    """Keeps every event (and optionally every block) in lists; for tests and summaries."""

    def __init__(self, keep_blocks: bool = False) -> None:
        self.events: list[Event] = []
        self.streams: list[StreamInfo] = []
        self.keep_blocks = keep_blocks
        self.blocks: list[object] = []

    def open(self, streams: Sequence[StreamInfo]) -> None:
        self.streams = list(streams)

    def on_block(self, block: object) -> None:
        if self.keep_blocks:
            self.blocks.append(block)

    def on_event(self, event: Event) -> None:
        self.events.append(event)


class JsonLinesSink(Sink):
    """Writes every event as one deterministic JSON line, flushed at once.

    Events are a few per second, so each is flushed as it comes: a crash loses
    none that were raised before it.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def on_event(self, event: Event) -> None:
        self.out.write(event.to_json() + "\n")
        self.out.flush()

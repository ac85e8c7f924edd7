"""Text sinks: JSON lines for machines (an event log), memory for tests and summaries."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from nmre.core.interfaces import Sink
from nmre.core.model import Event, StreamInfo
from nmre.errors import StateError

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

    Parameters
    ----------
    out : text stream or path
        A stream to write to (left open), or a file path, opened when the
        session opens the sink and closed when it closes it.
    """

    def __init__(self, out: TextIO | str | os.PathLike[str]) -> None:
        self._path = None if hasattr(out, "write") else os.fspath(out)
        self.out: TextIO | None = None if self._path is not None else out  # type: ignore[assignment]

    def open(self, streams: Sequence[StreamInfo]) -> None:
        if self._path is not None:
            self.out = open(self._path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def on_event(self, event: Event) -> None:
        if self.out is None:
            raise StateError("JsonLinesSink: events arrived before the session opened the sink")
        self.out.write(event.to_json() + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._path is not None and self.out is not None:
            self.out.close()
            self.out = None

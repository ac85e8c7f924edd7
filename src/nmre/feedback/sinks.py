"""Text sinks: a per-rep console line for people, JSON lines for machines, memory for tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from nmre.core.interfaces import Sink
from nmre.core.model import Event, StreamInfo

__all__ = ["ConsoleSink", "JsonLinesSink", "MemorySink"]


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
    """Writes every event as one deterministic JSON line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def on_event(self, event: Event) -> None:
        self.out.write(event.to_json() + "\n")


class ConsoleSink(Sink):
    """Prints what the patient is told (cues) with the therapist's detail, one line each.

    ``kinds`` selects which events are printed (prefix match); cues always are.
    """

    def __init__(self, out: TextIO | None = None, kinds: Sequence[str] = ("stream.", "signal.")) -> None:
        self.out = out if out is not None else sys.stdout
        self.kinds = tuple(kinds)

    def on_event(self, event: Event) -> None:
        if event.kind == "feedback.cue":
            self.out.write(f"  {event.time:7.2f} s  patient hears: {event.patient_message}\n")
        elif event.kind.startswith(self.kinds):
            self.out.write(f"  {event.time:7.2f} s  [{event.kind}] {event.therapist_message or ''}\n")

"""A chain of processors that is itself a processor."""

from __future__ import annotations

from collections.abc import Iterable

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, StreamInfo
from nmre.errors import ConfigError

__all__ = ["Pipeline"]


class Pipeline(Processor):
    """Run processors one after another: ``Pipeline([guard, bandpass, envelope])``.

    ``process`` feeds each stage's output block to the next; ``reset`` resets
    every stage; ``output_info`` chains the stages' descriptions; ``pop_events``
    collects every stage's events in stage order. Streaming equals batch for the
    pipeline whenever it does for every stage.

    Parameters
    ----------
    stages : iterable of Processor
        The stages, first to last. An empty pipeline passes blocks through.
    """

    def __init__(self, stages: Iterable[Processor]) -> None:
        self.stages: tuple[Processor, ...] = tuple(stages)
        for i, s in enumerate(self.stages):
            if not isinstance(s, Processor):
                raise ConfigError(f"expected a Processor at pipeline stage {i}, got {type(s).__name__}")

    def process(self, block: Block) -> Block:
        for stage in self.stages:
            block = stage.process(block)
        return block

    def set_input_limits(self, limits: object) -> None:
        """Per-channel input limits (see :mod:`nmre.dsp._protect`) for the first stage; the others screen
        what they get with the generic limit."""
        first = getattr(self.stages[0], "set_input_limits", None) if self.stages else None
        if first is not None:
            first(limits)

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def output_info(self, info: StreamInfo) -> StreamInfo:
        for stage in self.stages:
            info = stage.output_info(info)
        return info

    def pop_events(self) -> list[Event]:
        events: list[Event] = []
        for stage in self.stages:
            events.extend(stage.pop_events())
        return events

    def __len__(self) -> int:
        return len(self.stages)

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(type(s).__name__ for s in self.stages)}])"

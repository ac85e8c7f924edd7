"""The core data model, the session clock and the seams between layers."""

from nmre.core.clock import Clock, RealClock, VirtualClock
from nmre.core.interfaces import Processor, Sink, Source
from nmre.core.model import (
    Block,
    Channel,
    Cue,
    Event,
    FeedbackState,
    Placement,
    SignalState,
    StreamInfo,
)

__all__ = [
    "Block",
    "Channel",
    "Clock",
    "Cue",
    "Event",
    "FeedbackState",
    "Placement",
    "Processor",
    "RealClock",
    "SignalState",
    "Sink",
    "Source",
    "StreamInfo",
    "VirtualClock",
]

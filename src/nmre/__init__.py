"""nmre: an open, hardware-independent biofeedback engine for neuromuscular re-education.

Wearable IMU and surface-EMG sensors (or the body simulator) stream into a
numba-accelerated DSP core that detects movement-pattern errors as they happen
and drives real-time feedback.
"""

from nmre.core import (
    Block,
    Channel,
    Clock,
    Cue,
    Event,
    FeedbackState,
    Placement,
    Processor,
    RealClock,
    SignalState,
    Sink,
    Source,
    StreamInfo,
    VirtualClock,
)
from nmre.core.model import Side, StreamKind
from nmre.errors import NmreError

__version__ = "0.1.0"

__all__ = [
    "Block",
    "Channel",
    "Clock",
    "Cue",
    "Event",
    "FeedbackState",
    "NmreError",
    "Placement",
    "Processor",
    "RealClock",
    "Side",
    "SignalState",
    "Sink",
    "Source",
    "StreamInfo",
    "StreamKind",
    "VirtualClock",
    "__version__",
]

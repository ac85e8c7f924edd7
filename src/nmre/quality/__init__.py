"""nmre.quality: how good the data was, per stream and per rep, hold or window.

:class:`QualityMonitor` is a node on every raw stream (missing samples against
the nominal rate, bad samples, gaps, clock faults; fixed memory). Rules hold a
:class:`QualityGate` with their :class:`QualityNeeds` and ask it before they
judge: a span whose inputs fall short is reported as not judged (``rep.unjudged``
and kin) with the reason for the therapist and a neutral word for the patient.
:class:`FaultySource` loses packets and corrupts samples on purpose, for tests.
"""

from nmre.quality.faults import Corruption, FaultySource
from nmre.quality.gate import NEUTRAL, QualityGate
from nmre.quality.monitor import QualityMonitor, SpanQuality, StreamHealth
from nmre.quality.needs import MAX_BAD, MAX_GAP, MAX_MISSING, NEEDS_SOURCES, QualityNeeds

__all__ = [
    "MAX_BAD",
    "MAX_GAP",
    "MAX_MISSING",
    "NEEDS_SOURCES",
    "NEUTRAL",
    "Corruption",
    "FaultySource",
    "QualityGate",
    "QualityMonitor",
    "QualityNeeds",
    "SpanQuality",
    "StreamHealth",
]

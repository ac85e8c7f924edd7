"""nmre.sessions: sessions that last.

* :class:`XdfRecorder` records a session to XDF (a sink with its own writer thread);
  :func:`read_xdf` reads any XDF file back, damaged or not; :func:`recover` makes a
  truncated or corrupted recording whole.
* :class:`XdfReplaySource` replays a recording's raw streams through the same engine.
"""

from nmre.sessions.recorder import XdfRecorder, software_metadata
from nmre.sessions.recover import RecoveryReport, recover
from nmre.sessions.source import ScaledClock, XdfReplaySource
from nmre.sessions.xdf import Problem, Recording, XdfStream, read_xdf

__all__ = [
    "Problem",
    "Recording",
    "RecoveryReport",
    "ScaledClock",
    "XdfRecorder",
    "XdfReplaySource",
    "XdfStream",
    "read_xdf",
    "recover",
    "software_metadata",
]

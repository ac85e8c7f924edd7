"""Pieces shared by drills: finding streams by placement, orientation nodes.

``NeutralPoseCalibration`` moved to :mod:`nmre.calibration` (calibration as data);
it is re-exported here so existing imports keep working.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nmre.calibration.imu import NeutralPoseCalibration
from nmre.core.model import StreamInfo, StreamKind
from nmre.dsp.orientation import BiasCorrectedOrientation, GyroBias, Madgwick
from nmre.engine.nodes import ProcessorNode
from nmre.errors import ConfigError

__all__ = ["STILL_GYRO", "NeutralPoseCalibration", "find_stream", "orientation_node"]


def find_stream(
    streams: Sequence[StreamInfo], kind: StreamKind, segment: str | None = None, drill: str = ""
) -> StreamInfo:
    """The stream of ``kind`` placed on ``segment`` (any placement if ``None``); ConfigError if absent."""
    for s in streams:
        if s.kind is kind and (
            segment is None or (s.placement is not None and s.placement.segment == segment)
        ):
            return s
    have = ", ".join(
        f"{s.id} ({s.kind.value}{', ' + s.placement.describe() if s.placement else ''})" for s in streams
    )
    where = f" on the {segment}" if segment else ""
    raise ConfigError(f"{drill} drill: expected an {kind.value} stream{where}, got streams: {have or 'none'}")


#: Stillness threshold on the raw gyro norm. A worn MEMS gyro's bias alone can
#: reach 2 deg/s per axis (3.5 deg/s in norm), so Fusion's 3 deg/s would never see
#: the sensor as still; squats turn segments at tens of deg/s.
STILL_GYRO = math.radians(6.0)


def orientation_node(
    info: StreamInfo,
    beta: float = 0.1,
    still_time: float = 1.0,
    name: str | None = None,
    memory: float = 0.0,
) -> ProcessorNode:
    """Gyro-bias removal at rest (``memory`` s of still runs pooled, :class:`GyroBias`), then Madgwick
    orientation: ``imu.X`` → ``orient.X`` (or ``name``)."""
    seg = info.id.split(".", 1)[1] if "." in info.id else info.id
    out = name or f"orient.{seg}"
    chain = BiasCorrectedOrientation(
        GyroBias(info.rate, gyro_threshold=STILL_GYRO, still_time=still_time, memory=memory),
        Madgwick(info.rate, beta=beta, name=out),
    )
    return ProcessorNode(chain, info.id, out)  # the filter already names it so: no copy

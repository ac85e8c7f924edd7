"""Single-leg stance: sway inside the patient's envelope, and loss of balance.

Sensor: an IMU on the pelvis (at L5, as in Mancini et al. 2012, "ISway"); the
trunk IMU is used instead when no pelvis sensor is present. Sway: tilt-corrected,
3.5 Hz low-passed horizontal acceleration, metrics per 5 s window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from nmre.core.model import StreamInfo, StreamKind
from nmre.drills import Drill
from nmre.drills._common import find_stream
from nmre.dsp.balance import Sway
from nmre.engine.nodes import Node, ProcessorNode
from nmre.errors import ConfigError
from nmre.quality import QualityGate, QualityMonitor, QualityNeeds
from nmre.rules.balance_rules import BalanceLossRule, SwayRule

__all__ = ["build_stance"]


def build_stance(
    streams: Sequence[StreamInfo],
    *,
    window: float = 5.0,
    factor: float = 1.6,
    shock: float = 3.0,
    quality: QualityNeeds | None = None,
) -> Drill:
    """Build the balance drill; ``window`` s per sway window, envelope ``factor`` × baseline.

    Sway windows are gated by data quality (``quality``, default
    :class:`~nmre.quality.QualityNeeds`): a window with too much missing or bad
    IMU data is reported as ``window.unjudged``. Loss of balance is never gated.
    """
    try:
        imu = find_stream(streams, StreamKind.IMU, "pelvis", "stance")
    except ConfigError:
        imu = find_stream(streams, StreamKind.IMU, "trunk", "stance")
    sway_id = f"sway.{imu.id.split('.', 1)[-1]}"
    needs = quality or QualityNeeds()
    monitor = QualityMonitor(streams)
    nodes: list[Node] = [
        monitor,
        ProcessorNode(Sway(imu.rate, window=window, name=sway_id), imu.id),
        BalanceLossRule(imu.id, shock=shock),
        SwayRule(sway_id, factor=factor, gate=QualityGate(monitor, (imu.id,), needs)),
    ]
    return Drill(
        "stance", nodes, {"window": window, "factor": factor, "shock": shock, "quality": asdict(needs)}
    )

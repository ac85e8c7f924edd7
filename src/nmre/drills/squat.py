"""Bodyweight squat: depth in a target band, trunk lean and knee valgus limits, VMO before VL.

Sensors: IMUs on the trunk (sternum), right thigh and right shank (pelvis
optional); surface EMG with VMO and VL channels (optional: without them the
timing rule is left out). Derived signals: segment orientations (gyro bias
removed at rest, Madgwick β = 0.1), knee flexion / valgus (YXZ Cardan angles of
shank relative to thigh), trunk inclination, EMG envelopes, EMG onsets.
Reps are found on knee flexion with hysteresis (start 25°, end 15°).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

import numpy as np

from nmre.core.model import Side, StreamInfo, StreamKind
from nmre.drills import Drill
from nmre.drills._common import NeutralPoseCalibration, find_stream, orientation_node
from nmre.dsp.emg import EmgChain, OnsetDetector, Rectifier, Tkeo
from nmre.dsp.filters import SosFilter
from nmre.dsp.guard import Guard
from nmre.dsp.joints import JointAngle, TrunkInclination
from nmre.dsp.movement import RepSegmenter
from nmre.dsp.pipeline import Pipeline
from nmre.engine.nodes import Node, ProcessorNode
from nmre.quality import QualityGate, QualityMonitor, QualityNeeds
from nmre.rules.emg_rules import OnsetNode, OnsetOrderRule
from nmre.rules.rep_rules import RepBandRule

__all__ = ["build_squat"]


def build_squat(
    streams: Sequence[StreamInfo],
    *,
    depth: tuple[float, float] = (75.0, 115.0),
    max_trunk_lean: float = 40.0,
    max_valgus: float = 7.0,
    max_vmo_lag: float = 0.03,
    quality: QualityNeeds | None = None,
) -> Drill:
    """Build the squat drill. Angles in degrees; ``max_vmo_lag`` in seconds.

    Every rule is gated by data quality (``quality``: the needs, default
    :class:`~nmre.quality.QualityNeeds`): a rep whose raw IMU (or EMG) data over
    the rep falls short is reported as ``rep.unjudged``, not judged.
    """
    thigh = find_stream(streams, StreamKind.IMU, "thigh", "squat")
    shank = find_stream(streams, StreamKind.IMU, "shank", "squat")
    trunk = find_stream(streams, StreamKind.IMU, "trunk", "squat")
    needs = quality or QualityNeeds()
    monitor = QualityMonitor(streams)
    knee_gate = QualityGate(monitor, (thigh.id, shank.id), needs)
    trunk_gate = QualityGate(monitor, (trunk.id,), needs)
    nodes: list[Node] = [monitor] + [orientation_node(s) for s in (trunk, thigh, shank)]
    o_trunk, o_thigh, o_shank = (n.output for n in nodes[1:])  # type: ignore[attr-defined]
    knee = "angle.knee.r"
    joint = JointAngle(o_thigh, o_shank, side=Side.RIGHT, name=knee)
    lean = TrunkInclination(name="angle.trunk")

    def calibrate(cal: dict[str, np.ndarray]) -> None:
        joint.set_calibration(proximal=cal[thigh.id], distal=cal[shank.id])
        lean.set_calibration(cal[trunk.id])

    nodes.append(NeutralPoseCalibration((trunk.id, thigh.id, shank.id), calibrate))
    nodes.append(ProcessorNode(joint, (o_thigh, o_shank), knee))
    nodes.append(ProcessorNode(lean, o_trunk, "angle.trunk"))
    rules: list[Node] = [
        RepBandRule(
            "squat_depth",
            knee,
            "flexion",
            lo=depth[0],
            hi=depth[1],
            stat="max",
            reps_from="reps",
            label="peak knee flexion",
            below="Go a little deeper",
            above="Not quite so deep",
            good="Good depth",
            error_below="shallow_squat",
            error_above="too_deep",
            gate=knee_gate,
        ),
        RepBandRule(
            "knee_valgus",
            knee,
            "abduction",
            hi=max_valgus,
            stat="max",
            reps_from="reps",
            label="peak knee valgus",
            above="Push your knee out over your toes",
            good="Knee in line",
            error_above="knee_valgus",
            gate=knee_gate,
        ),
        RepBandRule(
            "trunk_lean",
            "angle.trunk",
            "sagittal",
            hi=max_trunk_lean,
            stat="max",
            reps_from="reps",
            label="peak trunk lean",
            above="Keep your chest up",
            good="Chest up",
            error_above="excessive_trunk_lean",
            gate=trunk_gate,
        ),
    ]
    emg = [s for s in streams if s.kind is StreamKind.EMG]
    if emg:
        e = emg[0]
        muscles = [c.placement.muscle if c.placement and c.placement.muscle else c.name for c in e.channels]
        n = e.n_channels
        # NaN, saturated or flat-lined samples are flagged and held before any filter sees them
        clean = f"{e.id}.clean"
        guard = Guard(
            n, stuck_samples=max(2, int(0.05 * e.rate)), channel_names=muscles, merge=0.25, name=clean
        )
        nodes.append(ProcessorNode(guard, e.id))
        envelope = f"{e.id}.envelope"
        nodes.append(ProcessorNode(EmgChain(n, e.rate, name=envelope), clean, envelope))
        if "vmo" in muscles and "vl" in muscles:
            cond = Pipeline(
                [
                    SosFilter.bandpass(20.0, 450.0, e.rate, n),
                    Tkeo(n),
                    Rectifier(n),
                    SosFilter.lowpass(30.0, e.rate, n),
                ]
            )
            onsets = OnsetNode(
                clean, cond, OnsetDetector(n, e.rate, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.1)
            )
            nodes.append(onsets)
            rules.append(
                OnsetOrderRule(
                    "vmo_timing",
                    early="vl",
                    late="vmo",
                    max_lag=max_vmo_lag,
                    reps_from="reps",
                    onsets_from=onsets.name,
                    error="late_vmo_onset",
                    # an onset can hide in a hole longer than the timing tolerance itself
                    gate=QualityGate(
                        monitor, (e.id,), replace(needs, max_gap=min(needs.max_gap, max_vmo_lag))
                    ),
                )
            )
    # rules see each angle block before the segmenter closes the rep on it
    nodes += rules
    nodes.append(
        ProcessorNode(
            RepSegmenter(25.0, 15.0, min_duration=0.8, min_amplitude=20.0, name="reps"), knee, "reps"
        )
    )
    return Drill(
        "squat",
        nodes,
        {
            "depth": depth,
            "max_trunk_lean": max_trunk_lean,
            "max_valgus": max_valgus,
            "max_vmo_lag": max_vmo_lag,
            "quality": asdict(needs),
        },
    )

"""nmre.dsp: streaming, causal, numba-compiled signal processing.

Every processor follows :class:`nmre.core.Processor` (``process(block) -> block``,
``reset()``), keeps its state as plain arrays, and is checked against an
independent implementation in the tests. Call :func:`warmup` before a
session so compilation (or loading the on-disk cache) never happens during one.
"""

from nmre.dsp.balance import ELLIPSE95, Sway, SwayMetrics, sway_metrics
from nmre.dsp.dtw import OpenEndDtw, Spring, subsequence_match
from nmre.dsp.emg import (
    FEATURE_NAMES,
    ContractionDetector,
    EmgChain,
    EmgFeatures,
    LinearEnvelope,
    MovingRms,
    Normalizer,
    OnsetDetector,
    Rectifier,
    Tkeo,
    cci_falconer_winter,
    cci_rudolph,
    emg_features,
    robust_baseline,
)
from nmre.dsp.filters import (
    SosFilter,
    design_sos,
    group_delay,
    notch_sos,
    passband_delay,
    sosfilt,
    sosfilt_zi,
)
from nmre.dsp.guard import Guard
from nmre.dsp.inclination import AccInclination, acc_inclination
from nmre.dsp.joints import JointAngle, TrunkInclination, heading_alignment, joint_angles, segment_calibration
from nmre.dsp.movement import RepSegmenter, dimensionless_jerk, ldlj, sparc
from nmre.dsp.onset import quiet_baseline
from nmre.dsp.orientation import FusionAhrs, GyroBias, Madgwick
from nmre.dsp.pipeline import Pipeline
from nmre.dsp.stability import DIRECTIONS, LosMetrics, los_metrics
from nmre.dsp.transitions import SitToStand

__all__ = [
    "DIRECTIONS",
    "ELLIPSE95",
    "FEATURE_NAMES",
    "AccInclination",
    "ContractionDetector",
    "EmgChain",
    "EmgFeatures",
    "FusionAhrs",
    "Guard",
    "GyroBias",
    "JointAngle",
    "LinearEnvelope",
    "LosMetrics",
    "Madgwick",
    "MovingRms",
    "Normalizer",
    "OnsetDetector",
    "OpenEndDtw",
    "Pipeline",
    "Rectifier",
    "RepSegmenter",
    "SitToStand",
    "SosFilter",
    "Spring",
    "Sway",
    "SwayMetrics",
    "Tkeo",
    "TrunkInclination",
    "acc_inclination",
    "cci_falconer_winter",
    "cci_rudolph",
    "design_sos",
    "dimensionless_jerk",
    "emg_features",
    "group_delay",
    "heading_alignment",
    "joint_angles",
    "ldlj",
    "los_metrics",
    "notch_sos",
    "passband_delay",
    "quiet_baseline",
    "robust_baseline",
    "segment_calibration",
    "sosfilt",
    "sosfilt_zi",
    "sparc",
    "subsequence_match",
    "sway_metrics",
    "warmup",
]


def warmup() -> None:
    """Compile (or load from the on-disk cache) every kernel a session uses.

    Runs each processor once on a few synthetic samples. Costs seconds on a
    first run after installation, tens of milliseconds afterwards.
    """
    import numpy as np

    from nmre.core.model import Block
    from nmre.dsp.emg import warmup as emg_warmup
    from nmre.dsp.orientation import BiasCorrectedOrientation

    emg_warmup()
    n = 8
    t = np.arange(n) / 100.0
    imu = np.zeros((6, n))
    imu[2] = 9.81
    imu[3] = 0.01
    blk = Block("imu", t, imu)
    for proc in (
        GyroBias(100.0),
        Madgwick(100.0),
        FusionAhrs(100.0),
        Sway(100.0),
        BiasCorrectedOrientation(GyroBias(100.0), Madgwick(100.0)),  # its one-call path
    ):
        proc.process(blk)
    q = Block("q", t, np.vstack([np.ones(n), np.zeros((3, n))]))
    ja = JointAngle("p", "d")
    ja.process(Block("p", t, q.values))
    ja.process(Block("d", t, q.values))
    TrunkInclination().process(q)
    bad = q.values.copy()
    bad[0, 0] = np.nan  # a bad sample: the screened path (the kernels without their one-call check)
    ja = JointAngle("p", "d")
    ja.process(Block("p", t, bad))
    ja.process(Block("d", t, bad))
    TrunkInclination().process(Block("q", t, bad))
    Guard(4).process(Block("emg", t, bad))
    knee = np.vstack([np.linspace(0, 40, n), np.zeros((2, n))])
    for x in (knee, np.where(np.isnan(bad[:3]), np.nan, knee)):  # the one-call path, then the screened one
        RepSegmenter(25.0, 15.0, rate=100.0).process(Block("a", t, x))
    RepSegmenter(25.0, 15.0).process(Block("a", t, np.linspace(0, 40, n)[None, :]))
    AccInclination(100.0).process(Block("acc", t, imu[:3].copy()))
    SitToStand(100.0).process(Block("acc", t, imu[:3].copy()))
    from nmre.dsp.bursts import steepest_rise
    from nmre.dsp.upper_limb import path_distance

    steepest_rise(np.ones(200), 1000.0)  # an onset's burst search

    path_distance(np.ones((3, 2)) / np.sqrt(3.0), np.ones((3, 3)) / np.sqrt(3.0))

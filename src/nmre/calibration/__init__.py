"""nmre.calibration: calibration as data — steps that run in a session, one record that keeps their results.

Each step is a node (it runs live or on a replay, and is called from Python with
``push(block)``), exposes ``status() -> (state, waiting_for)`` for the studio, raises
``calibration.<step>`` (``readiness.pass`` / ``readiness.fail`` / ``readiness.override``
for the gate) and writes its result into a :class:`Calibration` record, which
serialises to JSON, is stored with the session and is given back to a drill so a
replay reuses it:

* :class:`ReadinessGate` — baseline noise, mains interference, saturation, electrode
  off, sensor not still; blocks the drill (:class:`Gated`) until it passes or the
  therapist overrides it with a reason;
* :class:`EmgRestBaseline` — the EMG rest baseline over a stretch verified quiet;
* :class:`EmgReference` — MVC, sub-maximal or contralateral reference;
* :class:`NeutralPoseCalibration` — each IMU's vertical from the neutral pose;
* :class:`LongAxisCalibration` — the rotation about each segment's long axis from a
  flexion/extension movement;
* :class:`TemplateCapture` — a demonstrated repetition for DTW comparison;
* :class:`CalibrationSequence` — steps one after the other.
"""

from nmre.calibration.emg import (
    CONDITIONINGS,
    MVC_WINDOW,
    EmgReference,
    EmgRestBaseline,
    envelope_chain,
    timing_chain,
)
from nmre.calibration.imu import STILL_GYRO, LongAxisCalibration, NeutralPoseCalibration
from nmre.calibration.readiness import (
    EMG_LIMITS,
    IMU_LIMITS,
    EmgLimits,
    ImuLimits,
    ReadinessGate,
    emg_readiness,
    imu_readiness,
    mains_component,
)
from nmre.calibration.record import Calibration, EmgRest, ReadinessResult, SegmentPose, Template
from nmre.calibration.record import EmgReference as EmgReferenceResult
from nmre.calibration.steps import CalibratedFrom, CalibrationSequence, CalibrationStep, Gated, StepState
from nmre.calibration.template import TemplateCapture

__all__ = [
    "CONDITIONINGS",
    "EMG_LIMITS",
    "IMU_LIMITS",
    "MVC_WINDOW",
    "STILL_GYRO",
    "CalibratedFrom",
    "Calibration",
    "CalibrationSequence",
    "CalibrationStep",
    "EmgLimits",
    "EmgReference",
    "EmgReferenceResult",
    "EmgRest",
    "EmgRestBaseline",
    "Gated",
    "ImuLimits",
    "LongAxisCalibration",
    "NeutralPoseCalibration",
    "ReadinessGate",
    "ReadinessResult",
    "SegmentPose",
    "StepState",
    "Template",
    "TemplateCapture",
    "emg_readiness",
    "envelope_chain",
    "imu_readiness",
    "mains_component",
    "timing_chain",
]

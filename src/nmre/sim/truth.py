"""Ground truth: what the simulated subject really did. An output, never read by detectors."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["GroundTruth", "RepTruth", "WindowTruth"]


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


@dataclass(frozen=True, slots=True)
class RepTruth:
    """One squat repetition.

    Times are session seconds; angles degrees; ``vmo_vl_onset_ms`` is VMO onset
    minus VL onset (positive = VMO late). ``errors`` lists the injected error kinds.
    """

    index: int
    start: float
    bottom: float
    end: float
    peak_knee_flexion_deg: float
    peak_trunk_lean_deg: float
    peak_valgus_deg: float
    peak_hip_flexion_deg: float
    vl_onset: float
    vmo_onset: float
    vmo_vl_onset_ms: float
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WindowTruth:
    """One time window of single-leg stance with the same injected errors.

    ``pelvis_acc_rms`` is the horizontal RMS of the pelvis sensor's true linear
    acceleration (gravity and tilt removed), m/s^2; ``sway_rms_mm`` the horizontal
    RMS displacement of the pelvis sensor about its mean, mm; ``peak_trunk_tilt_deg``
    the largest inclination of the trunk from vertical; ``touchdown`` the time the
    raised foot touched down (loss of balance), else ``nan``.
    """

    start: float
    end: float
    errors: tuple[str, ...]
    sway_scale: float
    pelvis_acc_rms: float
    sway_rms_mm: float
    peak_trunk_tilt_deg: float
    touchdown: float


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Ground truth of a simulated session: ``reps`` for a squat set, ``windows`` for stance."""

    exercise: str
    duration: float
    reps: tuple[RepTruth, ...] = ()
    windows: tuple[WindowTruth, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite floats become ``None``)."""
        return _plain(asdict(self))  # type: ignore[no-any-return]

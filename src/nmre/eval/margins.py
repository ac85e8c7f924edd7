"""Each quantity's stated accuracy: the margin around a tolerance inside which a verdict is not scored.

A rule's verdict can only be as right as its measurement. Units whose true value
lies within the margin of the tolerance are reported apart ("agreement inside
the margin"); precision and recall are scored on the others. A margin is a
claim about the measurement, stated here with its reason, and checked by the
suite: the 95th percentile of the measurement error on clean target sessions
must not exceed it (target ``accuracy``), so a margin cannot quietly hide a
measurement that got worse. Margins are never tuned until verdicts pass.
"""

from __future__ import annotations

from nmre.eval.model import Margin

__all__ = ["MARGINS", "margin_for"]

MARGINS: dict[str, Margin] = {
    "knee_flexion_peak": Margin(
        5.0,
        "IMU sagittal knee angles agree with optical motion capture within about 5 deg RMS "
        "(Poitras et al., Sensors 19:1555, 2019, systematic review); 5 deg is also the usual "
        "minimal detectable change of a knee goniometer",
    ),
    "knee_valgus_peak": Margin(
        3.0,
        "frontal-plane knee angle from two IMUs: strap rotation about the long axis leaks flexion "
        "into valgus (about sin(rotation) x flexion); nmre calibrates the tilt but not that rotation",
    ),
    "trunk_lean_peak": Margin(
        5.0,
        "trunk inclination from one IMU, accelerometer-referenced (Madgwick beta 0.1): "
        "a few degrees during dynamic movement",
    ),
    "vmo_vl_onset_lag": Margin(
        20.0,
        "surface-EMG onset detectors have a standard deviation of about 15 ms against visual "
        "onsets (reference/dsp.md 1.4; Hodges & Bui 1996); a difference of two onsets about 20 ms",
    ),
    "sway_rms": Margin(
        0.008,
        "sway RMS over a 5 s window of a personal envelope (1.6 x the first two windows): "
        "the envelope itself is estimated from 10 s of sway",
    ),
    "loss_of_balance": Margin(
        0.25,
        "a touchdown is a shock within a quarter of a second of the foot landing",
    ),
}


def margin_for(quantity: str) -> Margin:
    """The stated margin of ``quantity`` (a zero margin, said so, for a quantity without one)."""
    m = MARGINS.get(quantity)
    if m is None:
        return Margin(0.0, f"no stated accuracy for {quantity!r} yet: every unit is scored")
    return m

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

_IMU_SAGITTAL = (
    "IMU sagittal joint angles agree with optical motion capture within about 5 deg RMS (Poitras et al., "
    "Sensors 19:1555, 2019, systematic review); 5 deg is also the usual minimal detectable change of a goniometer"
)
_IMU_FRONTAL = (
    "frontal-plane joint angle from two IMUs: errors are larger than in the sagittal plane (Poitras 2019); "
    "strap rotation about the long axis leaks flexion into it (about sin(rotation) x flexion)"
)
_INCLINATION = (
    "inclination of one segment from one IMU (accelerometer-referenced orientation): 1-3 deg during slow "
    "movement, more during fast movement"
)
_TIMING = (
    "a duration between two threshold crossings of a slowly changing signal: each crossing moves by the "
    "signal's accuracy divided by its rate of change, about 0.1 s at the speeds of these exercises; two of them"
)
_AMPLITUDE = (
    "a ratio of mean EMG envelopes over one rep: a surface-EMG amplitude estimate over a few seconds has a "
    "relative error of several percent up to about 10 % (amplitude estimation variance, e.g. Clancy & Hogan, "
    "IEEE TBME 42:203, 1995), so a ratio of two of them about 0.1"
)

MARGINS: dict[str, Margin] = {
    "knee_flexion_peak": Margin(5.0, _IMU_SAGITTAL),
    "knee_flexion_min": Margin(5.0, _IMU_SAGITTAL + " (or a goniometer's reading)"),
    "hip_flexion_peak": Margin(5.0, _IMU_SAGITTAL),
    "shoulder_elevation_peak": Margin(
        5.0, "humerothoracic elevation from two IMUs: the same order as other IMU joint angles (Poitras 2019)"
    ),
    "knee_valgus_peak": Margin(3.0, _IMU_FRONTAL),
    "hip_abduction_peak": Margin(4.0, _IMU_FRONTAL + "; abduction ranges are larger than valgus ranges"),
    "trunk_lean_peak": Margin(5.0, _INCLINATION),
    "trunk_flexion_peak": Margin(5.0, _INCLINATION + " (accelerometer alone in sit-to-stand)"),
    "trunk_lateral_lean_peak": Margin(3.0, _INCLINATION),
    "pelvic_obliquity_peak": Margin(2.0, _INCLINATION + "; the pelvis moves slowly and little"),
    "pelvic_drop_peak": Margin(2.0, _INCLINATION + "; the pelvis moves slowly and little"),
    "scapular_elevation_peak": Margin(
        3.0, "shoulder-girdle elevation from a scapula and a trunk IMU over a moving scapula: a few degrees"
    ),
    "vmo_vl_onset_lag": Margin(
        20.0,
        "surface-EMG onset detectors have a standard deviation of about 15 ms against visual "
        "onsets (reference/dsp.md 1.4; Hodges & Bui 1996); a difference of two onsets about 20 ms",
    ),
    "vmo_vl_ratio": Margin(0.1, _AMPLITUDE),
    "ut_lt_ratio": Margin(0.1, _AMPLITUDE),
    "contraction_level": Margin(
        5.0,
        "EMG level in % of the reference contraction: the amplitude estimate's relative error "
        "(up to about 10 %, Clancy & Hogan 1995) at targets of 30-60 % of the reference",
    ),
    "relax_level": Margin(
        2.0,
        "EMG level at rest in % of the reference: the noise floor and its fluctuation "
        "are a few % of a reference contraction",
    ),
    "template_distance": Margin(
        0.05,
        "mean angle (rad) between the rep's arm path and the demonstrated one, both measured by the same "
        "strapped IMUs: the strap's fixed offset largely cancels, the orientation filter's error (2-5 deg against "
        "optical capture, Poitras 2019) and the demonstration's own rep-to-rep variation stay: about 3 deg",
    ),
    "sparc": Margin(
        0.1,
        "SPARC of the gyroscope's angular speed (valid on gyroscope data, Melendez-Calderon et al. 2021): "
        "on a two-sub-movement minimum-jerk profile, white noise of 2 % of the peak speed and the movement's "
        "onset/offset moved by 0.2 s change SPARC by less than 0.02 (computed with nmre.dsp.movement.sparc, "
        "fc 10 Hz, threshold 0.05); 0.1 leaves room for the filter and the segment's orientation",
    ),
    "hold_time": Margin(0.25, _TIMING),
    "rep_duration": Margin(0.25, _TIMING),
    "movement_time": Margin(0.25, _TIMING + " (the movement's onset and offset at 5 % of its peak speed)"),
    "rep_active_time": Margin(0.25, _TIMING + " (the time a rep spends past the segmenter's threshold)"),
    "transition_duration": Margin(0.25, _TIMING + " (sit-to-stand: from an accelerometer alone)"),
    "reaction_time": Margin(
        0.1,
        "a movement onset (5 % of the lean's peak speed) from a minimum-jerk lean fitted to the whole "
        "primary lean: 0.03 s on a 1 s lean, the sway's share more on slow leans",
    ),
    "max_excursion": Margin(
        5.0,
        "the furthest lean toward the target in % of the target's lean (75 % of NeuroCom's limits: 6 deg "
        "forward and sideways, 3.4 deg backward). A clinician reads the LOS report in whole per cent and "
        "decides 'reached the target' to a few per cent; 5 % is 0.3 deg of a 6 deg lean (0.17 deg backward), "
        "the order of one IMU's inclination over a slow lean held for seconds once its centre is taken "
        "before the cue (docs/calibration.md: the low-gain filter leaves 0.035 deg RMS in the 0.5-2 Hz band; "
        "the 0.5 s centre carries the quiet sway). A claim about the lean angle, not fitted to the suite",
    ),
    "directional_control": Margin(
        5.0,
        "NeuroCom's directional control, (on - off) / on of the lean path, in points of %: healthy adults "
        "score 75-90 and the tolerance is 65, so a curved path and a straight one are told apart by about "
        "10 points; a measurement good to 5 points keeps that decision. Path length adds every wobble of the "
        "measured lean (noise and sway across the direction count as 'off'), so it reads low rather than high; "
        "a sensor turned on the trunk puts part of every lean across (13 deg: 22 points) unless its heading is "
        "taken out (docs/calibration.md)",
    ),
    "movement_velocity": Margin(
        0.5,
        "mean lean velocity between 5 % and 95 % of the primary lean (NeuroCom's definition): each crossing "
        "moves by about 0.05 s of a 1.5-2 s lean and the path picks up the sway, about 15 % of the 3-4 deg/s "
        "of healthy older adults (Clark, Rose and Fujimoto 1997), so 0.5 deg/s",
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

"""The quantities rules measure, with their units: the names drill files, the simulator's truth and eval share.

A rule in a drill file names the quantity it measures (``quantity =
"knee_flexion_peak"``) and states its tolerance in the quantity's unit
(``unit = "deg"``); a file giving another unit is rejected. The simulator's
ground truth gives the true value of the same quantity per rep, hold, window,
transition or target (``/work/coord/contract.md`` §2).

``lo``/``hi`` are the physically possible range: a tolerance outside it (a
negative hold time, a ratio below 0) is impossible and rejected when a file
is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["QUANTITIES", "Quantity"]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured quantity: its unit, possible range and a short description."""

    name: str
    unit: str
    about: str
    lo: float = -math.inf
    hi: float = math.inf


def _q(name: str, unit: str, about: str, lo: float = -math.inf, hi: float = math.inf) -> Quantity:
    return Quantity(name, unit, about, lo, hi)


_ALL = (
    # joint and segment angles (deg)
    _q("knee_flexion_peak", "deg", "largest knee flexion during the rep", -30.0, 180.0),
    _q("knee_flexion_min", "deg", "smallest knee flexion during the rep (full extension is 0)", -30.0, 180.0),
    _q(
        "knee_valgus_peak", "deg", "largest knee valgus (frontal-plane abduction) during the rep", -90.0, 90.0
    ),
    _q("hip_flexion_peak", "deg", "largest hip flexion during the rep", -90.0, 180.0),
    _q("hip_abduction_peak", "deg", "largest hip abduction during the rep", -90.0, 90.0),
    _q("pelvic_obliquity_peak", "deg", "largest pelvic obliquity (hip hike) during the rep", -90.0, 90.0),
    _q("pelvic_drop_peak", "deg", "largest contralateral pelvic drop during the rep", -90.0, 90.0),
    _q("trunk_lean_peak", "deg", "largest forward trunk inclination during the rep", -90.0, 180.0),
    _q("trunk_lateral_lean_peak", "deg", "largest sideways trunk lean during the rep", -90.0, 90.0),
    _q("trunk_flexion_peak", "deg", "largest trunk flexion during a transition", -90.0, 180.0),
    _q("shoulder_elevation_peak", "deg", "largest arm elevation relative to the trunk", 0.0, 180.0),
    _q("scapular_elevation_peak", "deg", "largest scapular elevation (shrug) during the rep", -90.0, 90.0),
    # EMG
    _q("vmo_vl_ratio", "1", "VMO:VL mean envelope ratio over the rep", 0.0),
    _q("ut_lt_ratio", "1", "upper:lower trapezius mean envelope ratio over the rep", 0.0),
    _q("vmo_vl_onset_lag", "ms", "VMO onset minus VL onset (positive: VMO late)", -2000.0, 2000.0),
    _q("onset_lag", "ms", "onset of one muscle minus another's", -2000.0, 2000.0),
    _q("cocontraction", "%", "co-contraction index of two muscles over the rep", 0.0, 100.0),
    _q("contraction_level", "%", "mean envelope during the contraction, % of the reference", 0.0),
    _q("relax_level", "%", "mean envelope during the rest, % of the reference", 0.0),
    # time
    _q("hold_time", "s", "longest time the position or contraction was held", 0.0),
    _q("rep_duration", "s", "duration of the rep", 0.0),
    _q(
        "movement_time",
        "s",
        "duration of the movement around the rep, from its onset to its offset: the first and last instants its "
        "speed is at least 5 % of the rep's peak speed (Teasdale et al. 1993)",
        0.0,
    ),
    _q(
        "rep_active_time",
        "s",
        "time of the rep out of the segmenter's rest band: from the last sample at rest (at or past its end "
        "threshold) before the rep to the first one back at rest (the segmenter's start and end)",
        0.0,
    ),
    _q("phase_duration", "s", "duration of one phase of the rep (to or from its peak)", 0.0),
    _q("transition_duration", "s", "duration of a sit-to-stand or stand-to-sit transition", 0.0),
    # movement quality
    _q(
        "sparc",
        "1",
        "spectral arc length of the rep's speed (0 = smoothest, more negative = jerkier)",
        -math.inf,
        0.0,
    ),
    _q("ldlj", "1", "log dimensionless jerk of the rep's velocity (more negative = jerkier)"),
    _q("template_distance", "1", "DTW distance from the template rep, per template sample", 0.0),
    _q("symmetry_index", "%", "left/right difference over their mean", 0.0, 200.0),
    # balance
    _q("sway_rms", "m/s^2", "RMS horizontal acceleration of the trunk/pelvis over a window", 0.0),
    _q("sway_path", "m/s^2", "path length of the horizontal acceleration over a window", 0.0),
    _q("sway_area95", "m^2/s^4", "95 % prediction-ellipse area of the horizontal acceleration", 0.0),
    _q("loss_of_balance", "m/s^2", "touchdown shock: | |acc| - g | when the raised foot lands", 0.0),
    # limits of stability, per target
    _q("reaction_time", "s", "cue to the start of the lean toward the target", 0.0),
    _q("movement_velocity", "deg/s", "mean lean velocity toward the target", 0.0),
    _q("max_excursion", "%", "largest lean toward the target, % of the target distance", 0.0),
    _q("directional_control", "%", "on-axis minus off-axis excursion, % of on-axis excursion", -100.0, 100.0),
)

#: Every quantity by name (read-only).
QUANTITIES: Mapping[str, Quantity] = MappingProxyType({q.name: q for q in _ALL})

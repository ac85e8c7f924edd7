"""What the simulator knows by name: true quantities (with units) and movement errors (with ranges).

These are the names of ``/work/coord/contract.md`` §2: a drill's rule names the
``quantity`` it measures, the simulator's ground truth gives its true value under
the same name, and an error label names the quantity it moves.

Each error is *graded*: its severity is the true value of its quantity in that
quantity's unit (``{3: {"shallow_squat": 62.0}}`` means rep 4's true
``knee_flexion_peak`` is 62 deg). Without a value the severity is drawn uniformly
from the error's ``drawn`` range: what the error looks like in patients, chosen
from physiology and the cited literature, never from a drill's tolerance.
``limits`` of a quantity are the values the body model can realise; an explicit
severity must lie within them (it may sit on the normal side of a tolerance: eval
draws severities across each tolerance).

How each quantity is computed from the kinematics and activations is written in
``docs/simulator.md`` ("Truth definitions"); eval compares against exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ERRORS", "QUANTITIES", "ErrorSpec", "Quantity"]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A true quantity: name, unit, the values the body model can realise, a one-line definition."""

    name: str
    unit: str
    limits: tuple[float, float]
    definition: str


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """A movement error the simulator can inject, graded by the true value of ``quantity``.

    ``drawn`` is the range a severity is drawn from when none is given (a factor of
    the subject's own normal value when ``relative``); ``source`` says where it comes from.
    """

    label: str
    quantity: str
    drawn: tuple[float, float]
    source: str
    relative: bool = False

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity].unit

    @property
    def limits(self) -> tuple[float, float]:
        """The values an explicit severity may take: what the body model can realise."""
        return QUANTITIES[self.quantity].limits


# fmt: off
#: Every true quantity by name.
QUANTITIES: Mapping[str, Quantity] = MappingProxyType({q.name: q for q in (Quantity(*item) for item in (
    ("knee_flexion_peak", "deg", (0.0, 140.0), "largest knee flexion over the rep (shank relative to thigh, Cardan Y-X'-Z'')"),
    ("knee_flexion_min", "deg", (0.0, 90.0), "smallest knee flexion over the rep (at the top of an extension)"),
    ("knee_valgus_peak", "deg", (-15.0, 30.0), "largest knee valgus (medial knee) over the rep"),
    ("hip_flexion_peak", "deg", (-20.0, 120.0), "largest hip flexion (thigh relative to pelvis) over the rep"),
    ("hip_abduction_peak", "deg", (-10.0, 50.0), "largest hip abduction of the moving leg (thigh relative to pelvis)"),
    ("trunk_lean_peak", "deg", (-10.0, 80.0), "largest forward inclination of the trunk from vertical (sagittal)"),
    ("trunk_flexion_peak", "deg", (0.0, 90.0), "largest forward inclination of the trunk from vertical in a transition"),
    ("trunk_lateral_lean_peak", "deg", (0.0, 35.0), "largest sideways inclination of the trunk from vertical (frontal)"),
    ("pelvic_obliquity_peak", "deg", (-5.0, 25.0), "largest rise of the moving side of the pelvis (hip hike) in the world"),
    ("pelvic_drop_peak", "deg", (-5.0, 25.0), "largest drop of the swing side of the pelvis in the world"),
    ("shoulder_elevation_peak", "deg", (10.0, 180.0), "largest angle between the humerus and the trunk's downward axis"),
    ("scapular_elevation_peak", "deg", (0.0, 45.0), "largest shoulder-girdle (clavicular) elevation above neutral"),
    ("scapular_upward_rotation_peak", "deg", (0.0, 80.0), "largest rotation of the scapula relative to the trunk about its AP axis"),
    ("vmo_vl_onset_lag", "ms", (-200.0, 200.0), "VMO onset minus VL onset (positive: VMO late)"),
    ("vmo_vl_ratio", "1", (0.1, 3.0), "mean VMO EMG amplitude over the rep / mean VL EMG amplitude"),
    ("ut_lt_ratio", "1", (0.2, 6.0), "mean UT EMG amplitude over the rep / mean LT EMG amplitude"),
    ("hold_time", "s", (0.2, 60.0), "duration of a hold (see docs/simulator.md per movement)"),
    ("rep_duration", "s", (0.8, 30.0), "movement onset to movement end of the rep"),
    ("movement_time", "s", (0.5, 30.0), "first to last instant the rep's elevation speed is at least 5 % of its peak (Teasdale et al. 1993)"),
    ("rep_active_time", "s", (0.3, 30.0), "time the moving knee spends out of the rest band over the rep (past the movement's `rest_band_deg`)"),
    ("contraction_level", "%", (1.0, 100.0), "mean EMG amplitude over the hold plateau, % of the reference contraction"),
    ("relax_level", "%", (0.0, 50.0), "mean EMG amplitude over the rest after a hold, % of the reference contraction"),
    ("transition_duration", "s", (0.8, 12.0), "movement onset to offset of a sit-to-stand or stand-to-sit transition (5 % of each component's peak speed)"),
    ("template_distance", "1", (0.0, 2.0), "DTW distance of the rep's arm trajectory from the normal pattern"),
    ("sparc", "1", (-15.0, -1.0), "spectral arc length of the forearm's angular speed over the rep"),
    ("sway_rms", "m/s^2", (0.001, 3.0), "RMS of the tilt-corrected horizontal acceleration of the sway sensor"),
    ("sway_path", "m/s^2", (0.0, 1000000.0), "path length of the tilt-corrected horizontal acceleration"),
    ("sway_area95", "m^2/s^4", (0.0, 1000.0), "area of the 95% prediction ellipse of the horizontal acceleration"),
    ("loss_of_balance", "s", (0.0, 200000.0), "time the raised foot touched down"),
    ("reaction_time", "s", (0.2, 5.0), "target cue to movement onset"),
    ("movement_velocity", "deg/s", (0.5, 40.0), "mean centre-of-mass lean velocity between 5% and 95% of the primary excursion"),
    ("max_excursion", "%", (10.0, 130.0), "largest lean towards the target, % of the target's lean"),
    ("directional_control", "%", (0.0, 100.0), "(on-target path - off-target path) / on-target path, x 100"),
))})

#: Every error label by name.
ERRORS: Mapping[str, ErrorSpec] = MappingProxyType({e.label: e for e in (
    ErrorSpec("shallow_squat", "knee_flexion_peak", (40.0, 65.0), "a partial squat; normal squats reach 80-110 deg (design choice, clinical.md §2)"),
    ErrorSpec("too_deep", "knee_flexion_peak", (120.0, 135.0), "past the prescribed depth: a full (deep) squat reaches 120-140 deg of knee flexion; a deep lunge, the back knee near the floor and the front knee far over the toes, 120-140 deg (design choice)"),
    ErrorSpec("knee_valgus", "knee_valgus_peak", (10.0, 20.0), "Herrington 2014 (frontal plane projection in squats); design choice for the span"),
    ErrorSpec("excessive_trunk_lean", "trunk_lean_peak", (45.0, 60.0), "forward trunk lean at depth; normal bodyweight squats 20-35 deg (design choice)"),
    ErrorSpec("late_vmo_onset", "vmo_vl_onset_lag", (40.0, 100.0), "VMO delay relative to VL in anterior knee pain: heterogeneous, tens of ms (Chester et al. 2008, BMC Musculoskelet Disord 9:64)"),
    ErrorSpec("low_vmo_ratio", "vmo_vl_ratio", (0.45, 0.75), "VMO:VL about 1:1 in healthy knees, reduced in PFP (clinical.md §2.2)"),
    ErrorSpec("incomplete_extension", "knee_flexion_min", (15.0, 35.0), "an extension lag of 15-35 deg (quadriceps lag after knee surgery; design choice)"),
    ErrorSpec("short_hold", "hold_time", (0.8, 2.5), "holds far shorter than prescribed (5-10 s, clinical.md §2.3; design choice)"),
    ErrorSpec("fast_tempo", "rep_active_time", (0.8, 1.4), "a rep thrown up and dropped: out of the rest band for about 1 s instead of the 3-7 s of the prescribed slow tempo (design choice)"),
    ErrorSpec("insufficient_flexion", "knee_flexion_peak", (40.0, 65.0), "normal standing knee flexion reaches 90-120 deg (design choice)"),
    ErrorSpec("hip_compensation", "hip_flexion_peak", (20.0, 40.0), "the thigh swings forward instead of staying vertical (design choice)"),
    ErrorSpec("insufficient_abduction", "hip_abduction_peak", (10.0, 20.0), "normal active standing abduction 25-40 deg (design choice)"),
    ErrorSpec("hip_hike", "pelvic_obliquity_peak", (6.0, 14.0), "quadratus lumborum substitution raises the moving side (design choice)"),
    ErrorSpec("trunk_lateral_lean", "trunk_lateral_lean_peak", (10.0, 22.0), "Trendelenburg-type lean of the trunk over the stance leg (design choice)"),
    ErrorSpec("insufficient_elevation", "shoulder_elevation_peak", (60.0, 100.0), "painful-arc range; normal scaption reaches 120-160 deg (design choice)"),
    ErrorSpec("ut_dominance", "ut_lt_ratio", (1.8, 3.0), "UT/LT ratios well above 1 in subacromial pain (Huang 2013 JEK, clinical.md §2.5)"),
    ErrorSpec("shoulder_shrug", "scapular_elevation_peak", (18.0, 30.0), "clavicular elevation in a shrug; normal 5-12 deg over the range (Ludewig et al. 2009)"),
    ErrorSpec("trunk_compensation", "trunk_lateral_lean_peak", (8.0, 18.0), "the trunk leans away from the arm to add elevation (design choice)"),
    ErrorSpec("weak_contraction", "contraction_level", (10.0, 25.0), "a contraction well below a 30-50 % reference target (clinical.md §2.1; design choice)"),
    ErrorSpec("incomplete_relaxation", "relax_level", (8.0, 20.0), "residual activity after the contraction; relaxed muscle reads near the noise floor"),
    ErrorSpec("slow_transition", "transition_duration", (3.5, 6.0), "healthy adults 1.5-2.5 s per transition (design choice)"),
    ErrorSpec("excessive_trunk_flexion", "trunk_flexion_peak", (60.0, 80.0), "normal peak trunk flexion 30-50 deg when rising (design choice)"),
    ErrorSpec("shallow_lunge", "knee_flexion_peak", (40.0, 65.0), "a forward lunge normally reaches 85-100 deg of front-knee flexion (design choice)"),
    ErrorSpec("pelvic_drop", "pelvic_drop_peak", (6.0, 12.0), "contralateral pelvic drop (Trendelenburg sign; design choice)"),
    ErrorSpec("incomplete_range", "shoulder_elevation_peak", (70.0, 110.0), "the diagonal stops short of full elevation (normal 140-170 deg; design choice)"),
    ErrorSpec("off_pattern", "template_distance", (0.15, 0.4), "the hand leaves the diagonal (a frontal-plane raise instead; design choice)"),
    ErrorSpec("jerky", "sparc", (-6.0, -3.5), "tremor-like sub-movements lower SPARC (Balasubramanian et al. 2015)"),
    ErrorSpec("too_fast", "movement_time", (1.5, 2.5), "an arm rep rushed: 1.5-2.5 s from the movement's onset to its offset instead of the 4 s or more of a controlled rep, 2 s up and 2 s back (design choice)"),
    ErrorSpec("too_slow", "movement_time", (13.0, 18.0), "an arm rep dragged out: 13-18 s from onset to offset, beyond the 3-12 s of a controlled rep (design choice)"),
    ErrorSpec("excessive_sway", "sway_rms", (2.0, 4.0), "2-4 times the subject's own sway in that stance (Neville et al. 2015: RMS rises 25-fold from quiet stance to tandem eyes closed on foam)", relative=True),
    ErrorSpec("loss_of_balance", "loss_of_balance", (0.0, 0.0), "an event: its value is the touchdown time"),
    ErrorSpec("slow_reaction", "reaction_time", (1.2, 2.0), "healthy LOS reaction time 0.6-0.9 s (NeuroCom LOS norms; design choice)"),
    ErrorSpec("slow_movement", "movement_velocity", (0.8, 1.5), "a hesitant lean, 3-5 s to the target: half or less of the 3-5 deg/s at which healthy older adults lean to targets at their limits (Clark, Rose and Fujimoto 1997); within a trial of 7 s a 6 deg target is reached no slower than about 1.7 deg/s, a backward one about 1 deg/s (design choice)"),
    ErrorSpec("short_excursion", "max_excursion", (40.0, 70.0), "the lean stops well short of the target (design choice)"),
    ErrorSpec("poor_directional_control", "directional_control", (35.0, 60.0), "a curved path to the target; healthy 75-90 % (design choice)"),
)})
# fmt: on

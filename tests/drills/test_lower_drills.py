"""The lower-limb drills and EMG contraction training on the simulated body, and calibration as data.

Each session is simulated with errors injected into some records and the rest done well; a verdict is
right when it agrees with the body's true value of the rule's quantity against the rule's tolerance
(the simulator's ground truth, never read by the drill). The oracles are computed here from the truth.
"""

from __future__ import annotations

import json
import math

import pytest

from nmre.core import kinds
from nmre.core.clock import VirtualClock
from nmre.drills import build_drill, load_drill
from nmre.engine import Engine
from nmre.errors import ConfigError
from nmre.feedback.sinks import MemorySink
from nmre.sim import MOVEMENTS, SimSource, simulate

UNIT_END = {"rep": kinds.REP_END, "hold": kinds.HOLD_END}


def run(name, errors, *, seed=3, strap=0.0, kit="full", level=None, **cfg):
    spec = load_drill(name)
    config = MOVEMENTS[spec.movement](errors=errors, **cfg)
    sim = simulate(config, seed=seed, kit=kit, strap_deg=strap)
    drill = build_drill(spec, sim.streams, level=level)
    mem = MemorySink()
    Engine([SimSource(sim, seed=seed)], drill.nodes, [mem], clock=VirtualClock()).run()
    return spec, sim, drill, mem.events


def judged(spec, sim, events):
    """Per true record: (rule id, verdict ok, truly ok) for every outcome of the unit overlapping it most."""
    unit = spec.structure.unit
    ends = [e for e in events if e.kind == UNIT_END[unit]]
    out = {}
    for rec in sim.truth.of(unit):
        best = max(ends, key=lambda e: min(e.payload["end"], rec.end) - max(e.payload["start"], rec.start))
        if min(best.payload["end"], rec.end) - max(best.payload["start"], rec.start) <= 0:
            out[rec.index] = None  # not found
            continue
        k = best.payload[unit]
        rows = []
        for e in events:
            if not (kinds.is_outcome(e.kind) and "ok" in e.payload and e.payload.get(unit) == k):
                continue
            r = spec.rule(e.kind[5:])
            true = rec.quantities.get(r.quantity)
            truly = None
            if true is not None and math.isfinite(true):
                truly = (r.lo is None or true >= r.lo) and (r.hi is None or true <= r.hi)
            rows.append((r.id, e.payload["ok"], truly, e.payload.get("error")))
        out[rec.index] = rows
    return out


def assert_agrees_with_the_body(spec, sim, events, injected):
    table = judged(spec, sim, events)
    assert all(v is not None for v in table.values()), table  # every record found as a unit
    for i, rows in table.items():
        flagged = {err for _, ok, _, err in rows if not ok}
        for rid, ok, truly, _err in rows:
            if truly is not None:
                assert ok == truly, (i, rid, ok, truly, sim.truth.of(spec.structure.unit)[i].quantities)
        for label in injected.get(i, ()):
            assert label in flagged, (i, label, rows)
        if i not in injected:
            assert not flagged or all(t is False for _, ok, t, _ in rows if not ok), (i, rows)


LOWER = {
    "knee_extension_seated": {2: ("incomplete_extension",), 4: ("short_hold",), 6: ("low_vmo_ratio",)},
    "knee_flexion_standing": {2: ("insufficient_flexion",), 5: ("hip_compensation",)},
    "hip_abduction_standing": {2: ("insufficient_abduction",), 4: ("hip_hike",), 6: ("trunk_lateral_lean",)},
    "forward_lunge": {2: ("shallow_lunge",), 4: ("knee_valgus",), 6: ("pelvic_drop",), 7: ("excessive_trunk_lean",)},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LOWER))
@pytest.mark.parametrize("side", ["right", "left"])
def test_lower_limb_drills_find_their_errors_on_either_side_and_flag_no_clean_rep(name, side):
    spec, sim, drill, events = run(name, LOWER[name], reps=8, side=side, seed=4)
    assert drill.side == side  # from the placements of the sensors worn, never assumed
    assert_agrees_with_the_body(spec, sim, events, LOWER[name])


@pytest.mark.parametrize("name", ["squat", "forward_lunge"])
def test_knee_valgus_with_straps_rotated_15_deg_is_measured_through_the_long_axis_calibration(name):
    errors = {3: ("knee_valgus",), 5: {"knee_valgus": 12.0}}
    spec, sim, drill, events = run(name, errors, reps=7, strap=15.0, seed=5)
    step = drill.step("long_axis")
    assert step is not None and step.done and drill.calibration.long_axis  # stored in the record
    about = next(e for e in events if e.kind == "calibration.long_axis").payload["long_axis_deg"]
    assert max(abs(v) for v in about.values()) > 5.0  # the straps really were rotated about the long axis
    valgus = [e for e in events if e.kind == "rule.knee_valgus"]
    truth = {r.index: r.quantities["knee_valgus_peak"] for r in sim.truth.reps}
    ends = {e.payload["rep"]: e for e in events if e.kind == kinds.REP_END}
    for e in valgus:  # every judged rep within 3 deg of the body (eval's margin for valgus)
        rec = min(sim.truth.reps, key=lambda r: abs(r.end - ends[e.payload["rep"]].payload["end"]))
        assert abs(e.payload["value"] - truth[rec.index]) < 3.0, (e.payload["rep"], e.payload["value"], truth)
    assert_agrees_with_the_body(spec, sim, [e for e in events], {3: ("knee_valgus",), 5: ("knee_valgus",)})


@pytest.mark.parametrize("name", ["squat", "forward_lunge"])
def test_reps_before_the_long_axis_calibration_are_not_judged_with_the_reason(name):
    *_, events = run(name, {}, reps=3, strap=15.0, seed=5)
    first = [e for e in events if e.kind == kinds.REP_UNJUDGED and e.payload["rep"] == 1]
    assert "rule.knee_valgus" in {e.payload["rule"] for e in first}
    done = next(e for e in events if e.kind == "calibration.long_axis")
    for e in first:
        if e.payload["rule"] == "rule.knee_valgus":
            assert e.payload["reason"] == (
                f"long_axis calibration was done at {done.time:.1f} s, after this unit started"
            )
            assert e.patient_message == "Keep going"  # never a valgus correction
    steps = [e.kind for e in events if e.kind.startswith("calibration.")]
    # the lunge's travel heading (the pelvis sensor) is done during the first step, before the long axis
    extra = ["calibration.travel_heading"] if name == "forward_lunge" else []
    assert steps[0] == "calibration.neutral" and sorted(steps[1:]) == sorted(
        ["calibration.long_axis", *extra]
    )


def test_lunge_pelvis_sensor_heading_from_the_first_step_and_pelvis_level_waits_for_it():
    """The sacrum sensor strapped turned about the vertical (gravity cannot show it): travel_heading finds
    the turn from the first step forward, the inclination takes it, and only the pelvis rule waits for it."""
    import math

    import numpy as np

    _, sim, drill, events = run("forward_lunge", {}, reps=3, strap=15.0, seed=102)
    done = next(e for e in events if e.kind == "calibration.travel_heading")
    pelvis = next(s for s in done.payload["long_axis_deg"])
    m = sim.mounting[pelvis]  # sensor frame relative to the segment
    turned = math.degrees(math.atan2(m[1, 0], m[0, 0]))  # the sensor's turn on the pelvis about the vertical
    assert abs(turned) > 5.0 and abs(done.payload["long_axis_deg"][pelvis] + turned) < 1.0
    waits = {r.id: [s.step for s in getattr(r.gate, "steps", ())] for r in drill.rules}
    assert waits["pelvis_level"] == ["neutral", "travel_heading"]
    assert "travel_heading" not in waits["trunk_lean"] + waits["lunge_depth"] + waits["knee_valgus"]
    judged = {e.payload.get("rep") for e in events if e.kind == "rule.pelvis_level"}
    assert 1 in judged and np.isfinite(done.time) and done.time < 3.0  # before the first rep started


def test_flexion_rules_do_not_wait_for_the_long_axis_calibration():
    """Depth, its symmetry and the trunk lean are judged on the squat's first rep (the calibration movement);
    only the valgus, a frontal-plane angle the strap rotation corrupts, waits for it."""
    _, _, drill, events = run("squat", {}, reps=3, strap=15.0, seed=5)
    waits = {r.id: [s.step for s in getattr(r.gate, "steps", ())] for r in drill.rules}
    assert waits["knee_valgus"] == ["neutral", "long_axis"]
    assert waits["squat_depth"] == ["neutral"] and waits["trunk_lean"] == ["neutral"]
    assert waits["vmo_timing"] == []  # EMG: no IMU step concerns it
    judged_first = {e.kind for e in events if kinds.is_outcome(e.kind) and e.payload.get("rep") == 1}
    assert {"rule.squat_depth", "rule.trunk_lean"} <= judged_first and "rule.knee_valgus" not in judged_first


def test_a_rep_that_ends_before_the_long_axis_step_is_done_says_not_done_yet(tmp_path):
    """A calibration movement too small for the step (min_rotation far above what a squat turns): the
    valgus is never judged, the reason says the step is not done and what it still waits for."""
    from nmre.drills import library_path

    text = (library_path() / "squat.toml").read_text()
    p = tmp_path / "squat.toml"
    p.write_text(text.replace("min_rotation = 50.0", "min_rotation = 5000.0"))
    assert p.read_text() != text
    sim = simulate(MOVEMENTS["squat"](reps=3), seed=2, strap_deg=15.0)
    drill = build_drill(load_drill(p), sim.streams)
    mem = MemorySink()
    Engine([SimSource(sim, seed=2)], drill.nodes, [mem], clock=VirtualClock()).run()
    valgus = [
        e for e in mem.events if e.kind == kinds.REP_UNJUDGED and e.payload["rule"] == "rule.knee_valgus"
    ]
    assert len(valgus) == 3 and not [e for e in mem.events if e.kind == "rule.knee_valgus"]
    for e in valgus:
        assert e.payload["reason"].startswith("long_axis calibration not done yet by the end of this unit (")
        assert "bend and straighten" in e.payload["reason"]  # what it still waits for
    assert len([e for e in mem.events if e.kind == "rule.squat_depth"]) == 3
    told = {e.patient_message for e in mem.events if e.kind == kinds.FEEDBACK_CUE}
    assert "Push your knee out over your toes" not in told


def _squat_valgus_errors(path, mounting, seed):
    """Valgus read minus the body's true peak on every good rep, and the valgus cues given to good reps."""
    spec = load_drill(path)
    sim = simulate(MOVEMENTS["squat"](reps=8, errors={3: ("knee_valgus",)}), seed=seed, mounting=mounting)
    drill = build_drill(spec, sim.streams)
    mem = MemorySink()
    Engine([SimSource(sim, seed=seed)], drill.nodes, [mem], clock=VirtualClock()).run()
    ends = {e.payload["rep"]: e.payload for e in mem.events if e.kind == kinds.REP_END}
    errors, false_alarms, found = [], [], []
    for e in mem.events:
        if e.kind != "rule.knee_valgus":
            continue
        end = ends[e.payload["rep"]]
        rec = max(sim.truth.reps, key=lambda r: min(end["end"], r.end) - max(end["start"], r.start))
        if rec.errors:
            found.append(not e.payload["ok"])
            continue
        errors.append(e.payload["value"] - rec.quantities["knee_valgus_peak"])
        if not e.payload["ok"]:
            false_alarms.append(e.payload["rep"])
    return errors, false_alarms, found


@pytest.mark.parametrize("seed", [2, 5])
def test_squat_valgus_with_the_thigh_strapped_15_deg_round_its_long_axis(tmp_path, seed):
    """The thigh sensor turned -15 deg about the thigh's long axis (the sense that reads knee flexion as
    valgus). Measured: with the long-axis step every good rep's valgus reads -2.6 to -1.1 deg from the
    body's (seeds 2, 5; the functional axis of the shank, strapped straight, comes out 2-3 deg off); with
    the neutral pose only, +6.2 to +6.7 deg and every good rep is told to push the knee out."""
    from nmre.drills import library_path

    mount = {"imu.thigh.r": (0.0, 0.0, -15.0)}
    errors, false_alarms, found = _squat_valgus_errors(library_path() / "squat.toml", mount, seed)
    assert len(errors) == 6  # reps 2-8 but the injected one: every good rep after the calibration judged
    assert max(abs(x) for x in errors) < 3.0, errors  # eval's valgus margin (docs/eval.md)
    assert false_alarms == [] and found == [True]
    # without the long-axis step the same straps read valgus where there is none
    text = (library_path() / "squat.toml").read_text()
    neutral = text.replace('{ step = "long_axis", min_rotation = 50.0 }', "").replace(
        '"neutral_pose", ]', '"neutral_pose"]'
    )
    assert neutral != text
    p = tmp_path / "squat_neutral_only.toml"
    p.write_text(neutral)
    errors, false_alarms, _ = _squat_valgus_errors(p, mount, seed)
    assert min(errors) > 5.0 and len(false_alarms) == len(errors), errors


@pytest.mark.parametrize(("muscle", "side"), [("vmo", "right"), ("bf", "left"), ("ut", "right")])
def test_emg_contraction_on_any_muscle_takes_muscle_and_side_from_the_placement(muscle, side):
    errors = {2: ("weak_contraction",), 4: ("short_hold",), 6: ("incomplete_relaxation",)}
    spec, sim, drill, events = run("emg_contraction", errors, cycles=8, muscle=muscle, side=side, seed=6)
    level = next(r for r in drill.rules if r.id == "level")
    assert level.muscle == muscle  # the electrodes' placement named it
    assert drill.calibration.reference(sim.streams[0].id) is not None  # the reference calibration
    # both steps run on the same stream, each when its moment comes (here the reference contraction first)
    assert sorted(e.kind for e in events if e.kind.startswith("calibration.")) == [
        "calibration.emg_reference",
        "calibration.emg_rest",
    ]
    assert_agrees_with_the_body(spec, sim, events, errors)
    cues = [e.patient_message for e in events if e.kind == kinds.CYCLE_CUE]
    assert "Contract and hold" in cues and "Relax" in cues  # work/rest cycles cued


def test_the_rest_after_the_last_contraction_is_judged_when_the_session_ends():
    # the patient lets go after the last hold and the session ends: no next rise closes that rest
    _, sim, _, events = run("emg_contraction", {2: ("incomplete_relaxation",)}, cycles=3, seed=6)
    relax = [e for e in events if e.kind == "rule.relax"]
    assert [e.payload["rest"] for e in relax] == [1, 2, 3]
    assert [e.payload["ok"] for e in relax] == [True, True, False]
    last = sim.truth.of("hold")[-1]
    assert relax[-1].payload["start"] == pytest.approx(last.end, abs=0.5)
    assert relax[-1].payload["value"] == pytest.approx(last.quantities["relax_level"], abs=2.0)


def test_emg_contraction_before_the_reference_is_not_judged_and_says_why():
    spec = load_drill("emg_contraction")
    config = MOVEMENTS["emg_contraction"](cycles=2)
    sim = simulate(config, seed=1)
    drill = build_drill(spec, sim.streams)
    ref = drill.step("emg_reference")
    state, _ = ref.status()
    assert state.value == "waiting" and drill.calibration.reference(sim.streams[0].id) is None
    assert drill.readiness is not None and not drill.readiness.open


def test_a_drill_that_cannot_run_names_the_missing_sensor_and_where_it_goes():
    sim = simulate(MOVEMENTS["standing_hip_abduction"](reps=1), seed=1, kit=["thigh"])
    with pytest.raises(
        ConfigError, match=r"missing an IMU on the pelvis \(for the hip angle.*over the sacrum"
    ):
        build_drill("hip_abduction_standing", sim.streams)


def test_the_calibration_record_is_data_stored_with_the_session_and_rebuilt_from_its_events():
    from nmre.calibration import Calibration

    _, _, drill, events = run("forward_lunge", {}, reps=3, seed=2)
    rec = drill.calibration
    again = Calibration.from_json(rec.to_json())
    assert set(again.neutral) == set(rec.neutral) and set(again.long_axis) == set(rec.long_axis)
    rebuilt = Calibration.from_events(events)
    assert json.loads(rebuilt.to_json())["long_axis"] == json.loads(rec.to_json())["long_axis"]
    assert rec.readiness is not None  # the readiness gate's pass is in the record too


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('calibration = ["readiness", "neutral_pose"]', 'calibration = ["readiness", "long_axis"]',
         r"neutral_pose before long_axis"),
        ('calibration = ["readiness", "neutral_pose"]', 'calibration = ["readiness", "calibrate_everything"]',
         r"\[calibration\[1\]\] step: expected one of readiness, emg_rest"),
        ('calibration = ["readiness", "neutral_pose"]', 'calibration = ["readiness", {step = "neutral_pose", duration = -1.0}]',
         r"\[calibration\[1\]\] duration: expected a number >= 0.1 s"),
        ('calibration = ["readiness", "neutral_pose"]', 'calibration = ["neutral_pose", "neutral_pose"]',
         r"each calibration step named once"),
    ],
)  # fmt: skip
def test_a_bad_calibration_list_is_one_clear_error(tmp_path, old, new, message):
    from nmre.drills import library_path

    text = (library_path() / "hip_abduction_standing.toml").read_text()
    assert old in text
    p = tmp_path / "x.toml"
    p.write_text(text.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_drill(p)


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_drop_of_the_moving_side_is_not_called_a_hip_hitch(side):
    """The pelvis rule measures the moving side's rise (frontal = side_up): a drop of that side reads
    negative, so the patient is never told "don't hitch the hip up" about a drop; a hitch still is."""
    errors = {2: {"hip_hike": -5.0}, 4: {"hip_hike": 8.0}}
    _, sim, _, events = run("hip_abduction_standing", errors, reps=5, side=side, seed=4)
    level = {e.payload["rep"]: e for e in events if e.kind == kinds.rule("pelvis_level")}
    ends = {e.payload["rep"]: e.payload["end"] for e in events if e.kind == kinds.REP_END}
    by_truth = {min(sim.truth.reps, key=lambda r: abs(r.end - end)).index: rep for rep, end in ends.items()}
    drop, hitch = level[by_truth[2]], level[by_truth[4]]
    assert drop.payload["ok"] and drop.payload["value"] < 2.0, drop.payload
    assert not hitch.payload["ok"] and hitch.payload["error"] == "hip_hike", hitch.payload


@pytest.mark.parametrize("side", ["right", "left"])
def test_standing_knee_flexion_is_calibrated_on_both_feet_and_reads_the_knee_as_the_body_bends_it(side):
    """The drill asks for the neutral pose on both feet with the knees straight (a pose of known knee
    angle), the simulated patient does so before shifting onto the stance leg, and the knee's flexion
    reads the body's: every peak within 2 deg. On one leg the neutral pose took the hanging 5 deg for 0 and
    every peak read about 5 deg low (docs/eval.md)."""
    spec, sim, _, events = run("knee_flexion_standing", {}, reps=4, side=side, seed=6, strap=10.0)
    step = next(c for c in spec.calibration_steps if c.step == "neutral_pose")
    assert "both feet" in step.params["pose"] and "straight" in step.params["pose"]
    done = next(e for e in events if e.kind == "calibration.neutral")
    assert done.time < sim.config.stand  # taken on both feet, before the shift onto the stance leg
    bend = {e.payload["rep"]: e.payload["value"] for e in events if e.kind == kinds.rule("knee_bend")}
    ends = {e.payload["rep"]: e.payload["end"] for e in events if e.kind == kinds.REP_END}
    assert len(bend) == 4
    for rep, value in bend.items():
        rec = min(sim.truth.reps, key=lambda r: abs(r.end - ends[rep]))
        assert abs(value - rec.quantities["knee_flexion_peak"]) < 2.0, (rep, value, rec.quantities)

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


# The squat runs the neutral pose only: with the long-axis step its first rep (the calibration movement)
# is never judged and, under heavy loss, no rep is judged for want of the calibration rather than for the
# loss (issue 8's tests); its valgus with straps rotated 15 deg stays an eval miss (docs/eval.md).
@pytest.mark.parametrize("name", ["forward_lunge"])
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


def test_reps_before_the_long_axis_calibration_are_not_judged_with_the_reason():
    *_, events = run("forward_lunge", {}, reps=3, strap=15.0, seed=5)
    first = [e for e in events if e.kind == kinds.REP_UNJUDGED and e.payload["rep"] == 1]
    assert "rule.knee_valgus" in {e.payload["rule"] for e in first}
    assert all(
        "long_axis calibration" in e.payload["reason"]
        for e in first
        if e.payload["rule"] == "rule.knee_valgus"
    )
    assert [e.kind for e in events if e.kind.startswith("calibration.")][:2] == [
        "calibration.neutral",
        "calibration.long_axis",
    ]


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

    text = (library_path() / "knee_flexion_standing.toml").read_text()
    assert old in text
    p = tmp_path / "x.toml"
    p.write_text(text.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_drill(p)

"""The arm drills (shoulder_scaption, pnf_d2_flexion): side and muscles from the placement, what is missing
and where it goes, and a short simulated session of each with its errors found and no clean rep flagged."""

from __future__ import annotations

import pytest

from nmre.core import kinds
from nmre.core.model import Channel, Placement, Side, StreamInfo, StreamKind
from nmre.drills import build_drill, load_drill, synthetic_kit
from nmre.errors import ConfigError


def left_arm_kit(drill: str) -> list[StreamInfo]:
    return synthetic_kit(load_drill(drill), sides=("left",))


@pytest.mark.parametrize("drill", ["shoulder_scaption", "pnf_d2_flexion"])
def test_a_left_arm_placement_builds_a_left_arm_drill(drill: str) -> None:
    kit = left_arm_kit(drill)
    d = build_drill(drill, kit)
    assert d.side == "left" and not d.bilateral and not d.skipped
    # every stream a rule reads is the left arm's (or the trunk's), never a right one
    raw = {s for r in d.rules for s in (r.gate.streams if r.gate else ())}
    assert raw and all(".r" not in s for s in raw)
    used = {s.id for s in kit if any(s.id in (r.gate.streams if r.gate else ()) for r in d.rules)}
    assert any(s.endswith(".l") for s in used)
    # infos bind: the drill wires on this kit as the engine would
    infos = {s.id: s for s in kit}
    for node in d.nodes:
        for out in node.bind(dict(infos)):
            infos[out.id] = out
    assert any(k.startswith("angle.shoulder.l") for k in infos)


def test_scaption_ratio_reads_the_muscles_of_the_placement_whatever_the_channel_order() -> None:
    spec = load_drill("shoulder_scaption")
    kit = [s for s in synthetic_kit(spec, sides=("left",)) if s.kind is not StreamKind.EMG]
    side = Placement(side=Side.LEFT)
    ch = (
        Channel("ch1", "mV", Placement(muscle="lt", side=Side.LEFT)),
        Channel("ch2", "mV", Placement(muscle="sa", side=Side.LEFT)),
        Channel("ch3", "mV", Placement(muscle="ut", side=Side.LEFT)),
    )
    kit.append(StreamInfo("emg.shoulder.l", StreamKind.EMG, ch, 1000.0, side))
    d = build_drill(spec, kit)
    ratio = next(r for r in d.rules if r.id == "ut_lt")
    infos = {s.id: s for s in kit}
    for node in d.nodes:
        for out in node.bind(dict(infos)):
            infos[out.id] = out
    assert ratio._rows == (2, 0)  # ut is the third channel, lt the first


def test_a_drill_that_cannot_run_names_the_missing_sensor_and_where_it_goes() -> None:
    spec = load_drill("shoulder_scaption")
    only_trunk = [s for s in synthetic_kit(spec) if s.placement and s.placement.segment == "trunk"]
    with pytest.raises(ConfigError) as exc:
        build_drill(spec, only_trunk)
    msg = str(exc.value)
    assert "upper arm" in msg and "midway between shoulder and elbow" in msg
    assert "\n" not in msg


def test_optional_sensors_missing_drop_their_rules_with_the_reason() -> None:
    spec = load_drill("shoulder_scaption")
    kit = [s for s in synthetic_kit(spec, sides=("right",)) if s.kind is StreamKind.IMU]
    kit = [s for s in kit if not (s.placement and s.placement.segment == "scapula")]
    d = build_drill(spec, kit)
    skipped = {s.rule: s.reason for s in d.skipped}
    assert set(skipped) == {"shrug", "ut_lt"}
    assert "scapula" in skipped["shrug"] and "EMG of ut and lt" in skipped["ut_lt"]
    assert {r.id for r in d.rules} == {"elevation", "trunk_lean", "tempo"}

    pnf = load_drill("pnf_d2_flexion")
    kit = [s for s in synthetic_kit(pnf, sides=("right",)) if s.placement.segment != "forearm"]
    d = build_drill(pnf, kit)
    assert [s.rule for s in d.skipped] == ["smoothness"] and "forearm" in d.skipped[0].reason


def _session(drill: str, config, seed: int = 4):
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import SimSource, simulate

    sim = simulate(config, seed=seed, strap_deg=10.0)
    d = build_drill(drill, sim.streams)
    sink = MemorySink()
    Engine([SimSource(sim, seed=seed)], d.nodes, [sink], schedule=d.make_schedule()).run()
    flagged: dict[int, set[str]] = {}
    for e in sink.events:
        if e.kind.startswith(kinds.RULE) and "ok" in e.payload and not e.payload["ok"]:
            start = e.payload["start"]
            tr = next(r for r in sim.truth.reps if r.start - 0.5 <= start <= r.end)
            flagged.setdefault(tr.index, set()).add(e.payload["error"])
    return sim, flagged


def test_scaption_on_the_simulator_finds_its_errors_and_flags_no_clean_rep() -> None:
    from nmre.sim import MOVEMENTS

    errors = {1: "insufficient_elevation", 2: "shoulder_shrug", 3: "ut_dominance", 4: "trunk_compensation"}
    sim, flagged = _session("shoulder_scaption", MOVEMENTS["shoulder_scaption"](reps=6, errors=errors))
    for i, label in errors.items():
        assert label in flagged.get(i, set()), (i, label, flagged)
    clean = [r.index for r in sim.truth.reps if not r.errors]
    assert clean and not any(flagged.get(i) for i in clean), flagged


def test_pnf_on_the_simulator_finds_its_errors_and_flags_no_clean_rep() -> None:
    from nmre.sim import MOVEMENTS

    errors = {2: "incomplete_range", 3: "off_pattern", 4: {"jerky": -5.5}}  # -5.5: accelerometer past 16 g
    sim, flagged = _session("pnf_d2_flexion", MOVEMENTS["pnf_d2_flexion"](reps=6, errors=errors))
    for i, label in ((2, "incomplete_range"), (3, "off_pattern"), (4, "jerky")):
        assert label in flagged.get(i, set()), (i, label, flagged)
    clean = [r.index for r in sim.truth.reps if not r.errors]
    assert clean and not any(flagged.get(i) for i in clean), flagged


def test_pnf_template_is_a_calibration_step_recorded_then_reused_by_a_later_session() -> None:
    from nmre.calibration import Calibration, TemplateCapture
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import MOVEMENTS, SimSource, simulate

    cfg = MOVEMENTS["pnf_d2_flexion"](reps=3)
    sim = simulate(cfg, seed=7)
    d = build_drill("pnf_d2_flexion", sim.streams)
    caps = [s for s in d.steps if isinstance(s, TemplateCapture)]
    assert len(caps) == 1 and caps[0].status()[1]  # what it waits for, in words
    sink = MemorySink()
    Engine([SimSource(sim, seed=7)], d.nodes, [sink]).run()
    tpl = d.calibration.templates["pattern"]
    assert tpl.channels == ["elevation", "plane"] and tpl.array.shape[0] == 2
    first = sim.truth.reps[0]
    assert first.start - 0.5 <= tpl.start and tpl.end <= first.end + 0.5  # the first rep is the template
    pattern = [e for e in sink.events if e.source == "rule.pattern"]
    assert pattern[0].kind == kinds.REP_UNJUDGED and pattern[0].payload["rep"] == 1
    assert all(e.payload.get("ok") for e in pattern[1:]) and len(pattern) == 3

    # stored with the session (JSON) and given back: no capture, the first rep is judged
    record = Calibration.from_dict(d.calibration.to_dict())
    sim2 = simulate(MOVEMENTS["pnf_d2_flexion"](reps=2, errors={0: "off_pattern"}), seed=7)
    d2 = build_drill("pnf_d2_flexion", sim2.streams, calibration=record)
    caps2 = [s for s in d2.steps if isinstance(s, TemplateCapture)]
    assert len(caps2) == 1 and caps2[0].reused is not None  # nothing to capture: the record's template
    sink2 = MemorySink()
    Engine([SimSource(sim2, seed=7)], d2.nodes, [sink2]).run()
    # reuse is said (as for every reused step), and the new session's record holds the same template
    ev = [e for e in sink2.events if e.kind == kinds.CALIBRATION_TEMPLATE]
    assert len(ev) == 1 and ev[0].payload["reused"] is True, ev
    assert ev[0].time < sim2.truth.reps[0].end  # before the first rep is judged
    assert d2.calibration.templates["pattern"].to_dict() == tpl.to_dict()
    out = [e for e in sink2.events if e.kind == kinds.rule("pattern")]
    assert [e.payload["rep"] for e in out] == [1, 2]
    assert out[0].payload["error"] == "off_pattern" and out[1].payload["ok"]


@pytest.mark.parametrize(("gain", "within"), [(None, True), (0.1, False)])
def test_scaption_s_movement_time_holds_its_margin_with_the_drill_s_filter_gain(gain, within) -> None:
    """The arm's movement time against the body's (onset to offset at 5 % of the elevation's peak speed):
    with the drill's Madgwick gain (0.033) every rep is within 0.1 s; with 0.1 the filters follow the arm's
    acceleration at the start and end of the raise and the movement reads 0.15-0.3 s long."""
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import MOVEMENTS, SimSource, simulate

    sim = simulate(MOVEMENTS["shoulder_scaption"](reps=4), seed=4, strap_deg=10.0)
    settings = {} if gain is None else {"signals.shoulder.gain": gain}
    d = build_drill("shoulder_scaption", sim.streams, settings=settings)
    assert any(n.name.endswith("@0.033") for n in d.nodes) == (gain is None)
    sink = MemorySink()
    Engine([SimSource(sim, seed=4)], d.nodes, [sink], schedule=d.make_schedule()).run()
    got = [e.payload for e in sink.events if e.kind == kinds.rule("tempo")]
    assert len(got) == 4
    err = [
        p["value"]
        - next(r for r in sim.truth.reps if r.start - 0.5 <= p["start"] <= r.end).quantities["movement_time"]
        for p in got
    ]
    assert all(abs(e) < 0.1 for e in err) == within, err
    if not within:
        assert min(err) > 0.1


@pytest.mark.parametrize(("neutral", "within"), [(True, True), (False, False)])
def test_pnf_takes_the_neutral_pose_by_the_side_and_reads_the_peak_as_the_body_reaches_it(
    neutral, within, tmp_path
) -> None:
    """The drill asks for the neutral pose with the arm hanging by the side (a pose of known shoulder angle),
    the simulated patient holds it before bringing the hand to the opposite hip, and the sensors' tilt on
    their segments is taken out of the elevation: every peak within 2 deg of the body's (1.0-1.2), with the
    arm sensor strapped on tilted by 5 deg. Without the step the tilt enters every peak (4.6-4.7 deg here;
    docs/eval.md: p95 7.5 deg in the suite)."""
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import MOVEMENTS, SimSource, simulate

    mounting = {"imu.upper_arm.r": (0.0, -5.0, 10.0)}  # 5 deg of tilt on the arm, 10 about its long axis
    sim = simulate(MOVEMENTS["pnf_d2_flexion"](reps=3), seed=4, mounting=mounting)
    from nmre.drills import library_path

    spec = load_drill("pnf_d2_flexion")
    step = next(c for c in spec.calibration_steps if c.step == "neutral_pose")
    assert "by your side" in step.params["pose"]
    if not neutral:  # the drill as it was: the template alone
        text = (library_path() / "pnf_d2_flexion.toml").read_text()
        a = text.index("calibration = [")
        b = text.index("]\n", text.index('"template"', a)) + 2
        path = tmp_path / "pnf.toml"
        path.write_text(text[:a] + 'calibration = ["template"]\n' + text[b:])
        spec = load_drill(path)
    d = build_drill(spec, sim.streams)
    sink = MemorySink()
    Engine([SimSource(sim, seed=4)], d.nodes, [sink], schedule=d.make_schedule()).run()
    done = [e for e in sink.events if e.kind == "calibration.neutral"]
    if neutral:
        assert len(done) == 1 and done[0].time < sim.config.neutral  # taken by the side, before the reach
    got = [e.payload for e in sink.events if e.kind == kinds.rule("range")]
    assert len(got) == 3
    err = [
        p["value"]
        - next(r for r in sim.truth.reps if r.start - 0.5 <= p["start"] <= r.end).quantities[
            "shoulder_elevation_peak"
        ]
        for p in got
    ]
    assert all(abs(e) < 2.0 for e in err) == within, err
    if not within:
        assert min(err) > 3.0, err  # the arm sensor's tilt, in every peak


@pytest.mark.parametrize(("bend", "within"), [(12.0, True), (0.0, False)])
def test_scaption_reads_a_trunk_compensation_rep_s_elevation_after_the_common_lean(bend, within) -> None:
    """The drill asks for the neutral pose and then a lean of the trunk with the arm against the side; the
    simulated patient does both (``bend_deg``), and the arm's elevation in reps with the trunk leaning 12-14
    deg reads within 2 deg of the body's. Skipping the lean leaves the relative heading the neutral pose
    cannot see (the simulated arm hangs turned 55 deg about its long axis), and those reps read 8 deg high
    or more (docs/eval.md)."""
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import MOVEMENTS, SimSource, simulate

    spec = load_drill("shoulder_scaption")
    step = next(c for c in spec.calibration_steps if c.step == "common_lean")
    assert "lean your trunk" in step.params["movement"] and "against your side" in step.params["movement"]
    errors = {1: {"trunk_compensation": 13.0}, 2: {"trunk_compensation": 12.0}}
    sim = simulate(
        MOVEMENTS["shoulder_scaption"](reps=3, errors=errors, bend_deg=bend), seed=4, strap_deg=10.0
    )
    d = build_drill(spec, sim.streams)
    sink = MemorySink()
    Engine([SimSource(sim, seed=4)], d.nodes, [sink], schedule=d.make_schedule()).run()
    got = {e.payload["rep"]: e.payload for e in sink.events if e.kind == kinds.rule("elevation")}
    assert len(got) == 3
    err = {}
    for p in got.values():
        rec = next(r for r in sim.truth.reps if r.start - 0.5 <= p["start"] <= r.end)
        err[rec.index] = p["value"] - rec.quantities["shoulder_elevation_peak"]
    leaning = [err[1], err[2]]
    assert all(abs(e) < 2.0 for e in leaning) == within, err
    if not within:
        assert min(leaning) > 8.0, err
    # the correction is raised and recorded (or, without the lean, the therapist told at rep 1); no verdict waits
    lean_ev = [e for e in sink.events if e.kind == kinds.CALIBRATION_COMMON_LEAN]
    note = [e for e in sink.events if e.kind == kinds.CALIBRATION_FAILED]
    first_rep = min(e.time for e in sink.events if e.kind == kinds.REP_START)
    proc = d.step("common_lean").humeral
    if within:
        assert len(lean_ev) == 1 and not note
        assert lean_ev[0].payload["correction_deg"] == round(proc.common_lean.correction_deg, 2)
        assert lean_ev[0].time < first_rep
        assert set(d.calibration.heading) == {proc.arm}
    else:
        assert not lean_ev and len(note) == 1 and note[0].time == first_rep
        assert note[0].payload["step"] == "common_lean" and not d.calibration.heading
        assert "heading not calibrated" in note[0].therapist_message

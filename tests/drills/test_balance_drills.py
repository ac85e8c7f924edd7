"""The balance and transfer drills: quiet stance (mCTSIB), tandem stance, sit-to-stand, limits of stability.

Each runs on the simulator from its file; sit-to-stand counts every transition from one
accelerometer; a drill that cannot run names the missing sensor and where it goes.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from nmre.core import kinds
from nmre.core.clock import VirtualClock
from nmre.demo import DemoOptions, run_demo, sim_config
from nmre.drills import build_drill, check_drill, load_drill, target_plan
from nmre.engine import Engine
from nmre.errors import ConfigError
from nmre.feedback.sinks import MemorySink
from nmre.sim import MOVEMENTS, SimSource, simulate

DRILLS = ("quiet_stance", "tandem_stance", "sit_to_stand", "limits_of_stability")


def run(drill, sim, level=None):
    d = build_drill(drill, sim.streams, level=level)
    sink = MemorySink()
    Engine([SimSource(sim, seed=1)], d.nodes, [sink], clock=VirtualClock()).run()
    return d, sink.events


@pytest.mark.parametrize("name", DRILLS)
def test_every_tolerance_has_a_source_and_the_file_has_picture_sound_schedule_levels(name):
    spec, _ = check_drill(name)
    assert all(r.source and len(r.source) > 40 for r in spec.rules)
    fb = spec.feedback
    assert fb.picture and fb.sound is not None and fb.schedule.kind
    assert len(spec.levels) >= 3 and (spec.progression.advance and spec.progression.step_back)


@pytest.mark.parametrize("name", ["quiet_stance", "tandem_stance"])
def test_stance_levels_are_the_four_mctsib_conditions_the_simulator_performs(name):
    spec = load_drill(name)
    got = []
    for lv in spec.levels:
        cfg, _ = sim_config(spec, DemoOptions(drill=name, level=lv.level))
        got.append((cfg.eyes_closed, cfg.foam))
    assert got == [(False, False), (True, False), (False, True), (True, True)]
    if name == "quiet_stance":
        assert [sim_config(spec, DemoOptions(drill=name, level=n))[0].condition for n in (1, 2, 3, 4)] == [
            "eo_firm",
            "ec_firm",
            "eo_foam",
            "ec_foam",
        ]


@pytest.mark.parametrize("kit", [["acc:pelvis"], ["acc:trunk"], ["imu:trunk"]])
def test_stance_runs_on_one_trunk_or_pelvis_sensor(kit):
    cfg = MOVEMENTS["quiet_stance"](duration=20.0)
    sim = simulate(cfg, seed=4, kit=kit)
    d, events = run("quiet_stance", sim)
    windows = [e for e in events if e.kind == "rule.sway"]
    assert not d.skipped and len(windows) == 4 - 2  # 4 windows of 5 s, the first two make the baseline
    assert all(e.payload["ok"] for e in windows)  # a clean trial: no correction


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("kit", ["acc:pelvis", "acc:trunk"])
def test_sit_to_stand_counts_every_transition_from_one_accelerometer(seed, kit):
    errors = {1: {"slow_transition": None}, 2: {"excessive_trunk_flexion": None}, 4: {"slow_transition": 5.5}}
    sim = simulate(
        MOVEMENTS["sit_to_stand"](transitions=6, errors=errors), seed=seed, kit=[kit], strap_deg=15.0
    )
    assert [s.kind.value for s in sim.streams] == ["acc"]  # no gyroscope
    d, events = run("sit_to_stand", sim)
    ends = [e for e in events if e.kind == kinds.TRANSITION_END]
    truth = sim.truth.transitions
    assert len(ends) == len(truth)  # every transition counted, none extra
    for e, tr in zip(ends, truth, strict=True):
        p = e.payload
        assert p["direction"] == tr.label  # sit_to_stand / stand_to_sit
        assert p["transition"] == tr.index + 1
        assert abs(p["start"] - tr.start) < 0.6 and abs(p["end"] - tr.end) < 0.9
        assert p["transition_duration"] == pytest.approx(p["end"] - p["start"])
        # the body's movement time (onset to offset at 5 % of the peak speed, docs/simulator.md): near the
        # 3 s tolerance the detector reads it within eval's 0.25 s margin (it read 0.15 s short of the exact
        # span, end - start); a much slower one reads short by more (5.5-5.8 s: 0.4-0.7 s; docs/eval.md), and
        # is still told to be quicker (below)
        true = tr.quantities["transition_duration"]
        assert true > 4.0 or abs(p["transition_duration"] - true) < 0.2, (tr.index, true, p)
    slow = [e for e in events if e.kind == "rule.transition_duration" and not e.payload["ok"]]
    assert sorted(e.payload["transition"] for e in slow) == [2, 5]
    if kit == "acc:pelvis":  # trunk flexion needs a trunk sensor: skipped, with the reason
        assert [s.rule for s in d.skipped] == ["trunk_flexion"] and "trunk" in d.skipped[0].reason
    else:
        bent = [
            e.payload["transition"] for e in events if e.kind == "rule.trunk_flexion" and not e.payload["ok"]
        ]
        assert bent == [3]


def test_limits_of_stability_targets_come_from_the_drill_and_the_body_follows_them():
    plan = target_plan("limits_of_stability")
    assert [t.direction for t in plan[:8]] == [
        "forward",
        "forward_right",
        "right",
        "backward_right",
        "backward",
        "backward_left",
        "left",
        "forward_left",
    ]
    assert [t.cue for t in plan[:3]] == [5.0, 13.0, 21.0] and plan[8].cue == 5.0 + 8 * 8.0 + 30.0
    # oracle: 75 % of the NeuroCom ellipse (8 deg forward, 4.5 backward, 8 sideways)
    assert plan[0].distance == pytest.approx(6.0) and plan[4].distance == pytest.approx(0.75 * 4.5)
    d45 = 1 / math.sqrt((math.cos(math.pi / 4) / 8) ** 2 + (math.sin(math.pi / 4) / 8) ** 2)
    assert plan[1].distance == pytest.approx(0.75 * d45)
    assert target_plan("limits_of_stability", level=3)[0].distance == pytest.approx(0.9 * 8.0)
    cfg, _ = sim_config(
        load_drill("limits_of_stability"), DemoOptions(drill="limits_of_stability", errors={})
    )
    sim = simulate(cfg, seed=2, kit="minimal")
    assert [r.start for r in sim.truth.targets] == [t.cue for t in plan]
    assert target_plan("squat") == []


def test_a_drill_that_cannot_run_names_the_missing_sensor_and_where_it_goes():
    pelvis_only = simulate(MOVEMENTS["limits_of_stability"](), seed=1, kit=["imu:pelvis"]).streams
    with pytest.raises(ConfigError, match=r"missing an IMU on the trunk \(for the lean .*\): on the sternum"):
        build_drill("limits_of_stability", pelvis_only)
    thigh = simulate(MOVEMENTS["quiet_stance"](duration=5.0), seed=1, kit=["imu:thigh"]).streams
    with pytest.raises(
        ConfigError, match=r"missing an IMU or an accelerometer on the pelvis or the trunk.*sacrum"
    ):
        build_drill("quiet_stance", thigh)
    with pytest.raises(
        ConfigError, match=r"missing an accelerometer or IMU on the pelvis or the trunk .*sacrum"
    ):
        build_drill("sit_to_stand", thigh)


#: Misses measured today, kept visible (strict: the test fails once they are fixed, so the entry goes).
KNOWN_MISSES: dict[str, str] = {}  # seeds 3 and 4 of limits_of_stability miss: docs/calibration.md


@pytest.mark.parametrize("name", DRILLS)
def test_the_demo_finds_the_injected_errors_and_flags_no_clean_unit(name, request):
    if name in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=True))
    s = run_demo(DemoOptions(drill=name, seed=1)).summary
    assert s["verdict"] == "match", {k: v for k, v in s["errors"].items() if v["missed"] or v["false_alarms"]}
    assert any(m["injected"] for m in s["errors"].values())  # errors were injected and found
    if name in ("sit_to_stand", "limits_of_stability"):
        assert s["reps_detected"] == s["reps_in_truth"] > 0 and not s["reps_not_detected"]


def test_the_demo_cli_exit_code():
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmre",
            "demo",
            "--drill",
            "tandem_stance",
            "--level",
            "2",
            "--kit",
            "minimal",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "MISMATCH" not in ok.stdout, ok.stdout + ok.stderr

"""The demo runs headless inside the suite, as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nmre.demo import DemoOptions, run_demo

ALL_ERRORS = {
    1: ("knee_valgus",),
    2: ("shallow_squat",),
    4: ("excessive_trunk_lean",),
    5: ("shallow_squat",),
    7: ("late_vmo_onset",),
    8: ("shallow_squat",),
}


def nmre(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=timeout
    )


def test_default_demo_json_finds_every_shallow_rep_and_flags_no_clean_rep():
    proc = nmre("demo", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    m = s["errors"]["shallow_squat"]
    assert m["injected"] == [3, 6, 9]
    assert m["detected"] == [3, 6, 9] and m["missed"] == [] and m["false_alarms"] == []
    assert s["reps_detected"] == s["reps_in_truth"] == 10
    flagged = [r["rep"] for r in s["reps"] if r["detected_errors"]]
    assert flagged == [3, 6, 9]  # no clean rep flagged for anything
    # detected values and the simulator's truth side by side
    rep3 = s["reps"][2]
    assert rep3["truth"]["errors"] == ["shallow_squat"]
    assert abs(rep3["checks"]["squat_depth"]["value"] - rep3["truth"]["peak_knee_flexion_deg"]) < 3.0
    assert s["feedback"][2]["message"] == "Go a little deeper"
    assert s["latency_ms"]["detection"]["n"] > 0


@pytest.mark.parametrize("seed", [1, 9, 16])
def test_every_injected_error_kind_is_found_without_false_alarms(seed):
    s = run_demo(DemoOptions(seed=seed, errors=ALL_ERRORS)).summary
    for kind in ("shallow_squat", "knee_valgus", "excessive_trunk_lean", "late_vmo_onset"):
        m = s["errors"][kind]
        assert m["missed"] == [] and m["false_alarms"] == [], (kind, m)
        assert m["detected"] == [r + 1 for r, k in ALL_ERRORS.items() if kind in k]


def test_same_seed_same_events_byte_for_byte_and_another_seed_differs():
    a = run_demo(DemoOptions(reps=4, seed=5))
    b = run_demo(DemoOptions(reps=4, seed=5))
    c = run_demo(DemoOptions(reps=4, seed=6))
    ja = "\n".join(e.to_json() for e in a.events)
    assert ja == "\n".join(e.to_json() for e in b.events)
    assert ja != "\n".join(e.to_json() for e in c.events)
    strip = lambda s: {k: v for k, v in s.items() if k != "_wall"}  # noqa: E731 - wall time is the only varying part
    assert json.dumps(strip(a.summary), sort_keys=True) == json.dumps(strip(b.summary), sort_keys=True)


def test_human_output_has_one_line_per_rep_and_a_summary():
    proc = nmre("demo", "--reps", "4", "--inject", "2:shallow_squat", "--schedule", "bandwidth")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    reps = [ln for ln in lines if ln.lstrip().startswith("rep ")]
    assert len(reps) == 4  # exactly one line per rep
    assert " FIX " in reps[1] and '"Go a little deeper"' in reps[1] and "depth" in reps[1] and "!" in reps[1]
    assert "(silent: on target)" in reps[0]  # bandwidth schedule: silent inside the tolerance
    assert any("shallow_squat" in ln and "all found" in ln for ln in lines)


def test_stance_demo_finds_the_sway_episode_and_the_loss_of_balance():
    s = run_demo(DemoOptions(exercise="stance", seed=3)).summary
    assert s["errors"]["excessive_sway"]["missed"] == []
    assert s["errors"]["loss_of_balance"]["detected"] and not s["errors"]["loss_of_balance"]["false_alarms"]
    assert next(w["ok"] for w in s["windows"] if w["check"] == "sway") is True


# seed 3 showed a false sway alarm (window 25-30 s just above its envelope) on the first simulator;
# the simulated subjects of sim v2 no longer reproduce it (issue 8.9, drills' scoring, still applies)
def test_stance_demo_seed_3_has_no_false_sway_alarm():
    s = run_demo(DemoOptions(exercise="stance", seed=3)).summary
    assert s["errors"]["excessive_sway"]["false_alarms"] == []


def test_seconds_stops_the_session_early():
    s = run_demo(DemoOptions(reps=10, seconds=16.0)).summary
    assert s["session_seconds"] == 16.0
    assert 1 <= s["reps_detected"] < 10
    # the comparison covers what the body did before the cut: rep 3 (shallow) is in, 6 and 9 are not
    assert s["reps_detected"] == s["reps_in_truth"] and s["reps_not_detected"] == []
    assert s["errors"]["shallow_squat"] == {
        "injected": [3],
        "detected": [3],
        "missed": [],
        "false_alarms": [],
    }


def test_realtime_paces_to_wall_time():
    s = run_demo(DemoOptions(reps=1, seconds=1.0, realtime=True)).summary
    assert s["clock"] == "real"
    # the session clock starts when the clock is made, just before the run: allow those few ms
    assert s["_wall"]["seconds"] >= 0.95  # a virtual run of the same takes a few hundredths


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["demo", "--reps", "0"], "expected a whole number >= 1, got '0'"),
        (["demo", "--reps", "ten"], "expected a whole number >= 1, got 'ten'"),
        (["demo", "--exercise", "swim"], "invalid choice: 'swim'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--seconds", "-3"], "expected a number of seconds > 0"),
        (["demo", "--schedule", "sometimes"], "invalid choice: 'sometimes'"),
        (["demo", "--inject", "99:shallow_squat"], "expected a rep between 1 and 10, got 99"),
        (["demo", "--inject", "3:flying"], "expected an error among shallow_squat"),
        (["demo", "--inject", "three"], "expected REP:ERROR"),
        (["demo", "--exercise", "stance", "--inject", "2:knee_valgus"], "is judged over time"),
        (
            ["demo", "--exercise", "stance", "--inject", "15-25:knee_valgus"],
            "expected an error among excessive_sway",
        ),
        (["demo", "--drill", "no_such_drill"], "no_such_drill"),
        (["demo", "--drill", "squat", "--level", "9"], "expected a level among 1, 2, 3, got 9"),
        (["demo", "--drill", "squat", "--exercise", "stance"], "expected --drill or --exercise, not both"),
        (["demo", "--request-at", "5"], "expected it with --schedule self-controlled"),
        (
            ["demo", "--request-at", "-1", "--schedule", "self-controlled"],
            "expected a session time in seconds >= 0",
        ),
        (["demo", "--reps", "1001"], "expected 1 to 1000"),
        (["demo", "--exercise", "stance", "--seconds", "9000"], "at most 7200 s"),
        (["demo", "--set", "squat_depth.bogus=3"], "squat_depth.bogus"),
        (["demo", "--exercise", "stance", "--seconds", "1"], "StanceConfig.duration"),
        (["demo", "--events", "/nonexistent-dir/events.jsonl"], "--events: expected an existing folder"),
        (["dance"], "invalid choice: 'dance'"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(args, needle):
    proc = nmre(*args, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


class Corrupt:
    """Wraps a source and spoils one stream's samples in a time range (NaN, or a rail value)."""

    def __init__(self, inner, stream, t0, t1, value):
        self.inner, self.stream, self.t0, self.t1, self.value = inner, stream, t0, t1, value
        self.wake = None

    @property
    def streams(self):
        return self.inner.streams

    @property
    def finished(self):
        return self.inner.finished

    def start(self, clock):
        self.inner.start(clock)

    def stop(self):
        self.inner.stop()

    def next_arrival(self):
        return self.inner.next_arrival()

    def poll_events(self):
        return self.inner.poll_events()

    def poll(self, now):
        from nmre import Block

        out = []
        for b in self.inner.poll(now):
            if b.stream == self.stream:
                bad = (b.times >= self.t0) & (b.times < self.t1)
                if bad.any():
                    v = b.values.copy()
                    v[:, bad] = self.value
                    b = Block(b.stream, b.times, v, b.seq, b.missing_before, b.arrival)
            out.append(b)
        return out


# a NaN burst, an EMG channel stuck at a rail, or a finite value no electrode can give (issue 8: one
# sample of 1e200 passed the squat drill's Guard, which had no full-scale limit, and no onset was found
# for the rest of the session)
@pytest.mark.parametrize("value", [float("nan"), 5.0, 1e200])
def test_a_burst_of_bad_emg_is_flagged_once_and_does_not_poison_the_session(value):
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.feedback import MemorySink
    from nmre.sim import SimSource, SquatConfig, simulate

    sim = simulate(SquatConfig(reps=6, errors={4: ("late_vmo_onset",)}), seed=2)
    rep2 = sim.truth.reps[1]
    src = Corrupt(SimSource(sim, seed=2), "emg.r", rep2.start + 0.5, rep2.start + 1.0, value)
    sink = MemorySink()
    Engine([src], build_drill("squat", sim.streams).nodes, [sink]).run()
    bad = [e for e in sink.events if e.kind == "signal.bad"]
    back = [e for e in sink.events if e.kind == "signal.recovered"]
    assert {e.payload["channel"] for e in bad} == {"vmo", "vl", "bf", "gmed"}
    assert len(bad) == 4 and len(back) == 4  # one start and one end per channel, not one per packet
    assert all(e.payload["count"] >= 0.45 * 2000 for e in back)
    # the reps after the burst are judged as if nothing had happened
    timing = {e.payload["rep"]: e for e in sink.events if e.kind == "rule.vmo_timing"}
    assert [timing[r].payload["ok"] for r in (3, 4, 5, 6)] == [True, True, False, True]  # rep 5 is late
    assert all(abs(timing[r].payload["value"]) < 30 for r in (3, 4, 6))


@pytest.mark.slow
def test_ble_demo_runs_through_bleak_and_emulated_boards_end_to_end():
    """``nmre demo --ble``: the body worn by emulated nmre boards, streamed over bleak + Bumble in real time."""
    proc = nmre("demo", "--ble", "--reps", "2", "--inject", "2:shallow_squat", "--json", timeout=180)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["transport"] == "ble-emulated" and s["clock"] == "real"
    assert len(s["ble"]["boards"]) == 4
    assert s["errors"]["shallow_squat"] == {
        "injected": [2],
        "detected": [2],
        "missed": [],
        "false_alarms": [],
    }
    assert s["reps_detected"] == 2
    kinds = {e["kind"] for e in s["stream_events"]}
    assert "device.connect" in kinds and "stream.gap" not in kinds  # four boards connected, nothing lost


def test_sensors_strapped_on_tilted_are_calibrated_at_the_neutral_pose():
    """Sensors 9-11 deg off their segments would read as valgus and trunk lean; the neutral pose removes it."""
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.feedback import MemorySink
    from nmre.sim import SimSource, SquatConfig, simulate

    mounting = {"imu.thigh.r": (5, 10, 0), "imu.shank.r": (-5, 8, 3), "imu.trunk": (0, 10, 5)}
    sim = simulate(
        SquatConfig(reps=5, errors={2: ("shallow_squat",), 3: ("knee_valgus",)}), seed=4, mounting=mounting
    )
    sink = MemorySink()
    Engine([SimSource(sim, seed=4)], build_drill("squat", sim.streams).nodes, [sink]).run()
    (cal,) = [e for e in sink.events if e.kind == "calibration.neutral"]
    assert all(8.0 < tilt < 12.5 for tilt in cal.payload["tilt_deg"].values())
    failed = {
        (e.payload["rep"], e.payload["error"])
        for e in sink.events
        if e.kind.startswith("rule.") and not e.payload["ok"]
    }
    assert failed == {(3, "shallow_squat"), (4, "knee_valgus")}
    for e in sink.events:
        if e.kind == "rule.trunk_lean":
            truth = sim.truth.reps[e.payload["rep"] - 1].peak_trunk_lean_deg
            assert abs(e.payload["value"] - truth) < 3.0


def test_events_file_is_byte_identical_for_the_same_seed(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        proc = nmre("demo", "--reps", "3", "--seed", "11", "--events", str(path))
        assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b.read_bytes()
    lines = [json.loads(x) for x in a.read_text().splitlines()]
    kinds = {x["kind"] for x in lines}
    assert {"rep.start", "rep.end", "rule.squat_depth", "feedback.cue", "calibration.neutral"} <= kinds
    assert all(x["detected_at"] >= x["time"] for x in lines)


# -- any drill, levels, requests, honest scoring (issues 7.9, 8.8, 8.9) ------------------------------------
def _simulated_drills():
    from nmre.drills import list_drills, load_drill
    from nmre.sim import MOVEMENTS

    return [n for n in list_drills() if load_drill(n).movement in MOVEMENTS]


#: Drills whose demo misses today, with why (strict: the test says when one is fixed). Not hidden: listed.
KNOWN_MISSES = {
    # issue 9's reaction-time miss (docs/eval.md, "limits_of_stability with the slow leans"): target 6's slow lean
    # (4.5 s, true reaction 0.99 s) is read 1.2 s and told to start sooner; the sway hides a slow lean's start
    "limits_of_stability": "a slow lean's reaction time read late (the sway hides its start): false alarm at 6",
}


@pytest.mark.parametrize("name", _simulated_drills())
def test_every_library_drill_runs_from_its_name_and_finds_its_injected_errors(name, request):
    """Every shipped drill the simulator performs: its default errors found, no clean unit flagged."""
    if name in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=True))
    s = run_demo(DemoOptions(drill=name, seed=2)).summary
    assert s["errors"], name  # something was injected and judged
    assert s["verdict"] == "match", (s["errors"], s["reps_not_detected"], s["reps_unmatched"])


def test_a_drill_runs_from_a_copied_file(tmp_path):
    from nmre.drills import library_path

    text = (library_path() / "squat.toml").read_text().replace("lo = 75.0", "lo = 70.0")
    path = tmp_path / "my_squat.toml"
    path.write_text(text)
    proc = nmre("demo", "--drill", str(path), "--reps", "4", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["drill"]["settings"]["squat_depth.lo"] == 70.0


def test_a_level_runs_the_levels_settings_and_the_verdicts_follow_the_body():
    """Level 1 (mini squat, 45-75 deg): the simulated subject still squats to about 90 deg, which is too deep
    for that level; every such rep is told so, and that is right against the body (no false alarm)."""
    s = run_demo(DemoOptions(drill="squat", level=1, reps=4, seed=3)).summary
    assert s["drill"]["level"] == 1 and s["drill"]["settings"]["squat_depth.hi"] == 75.0
    assert s["errors"]["too_deep"]["false_alarms"] == [] and s["errors"]["too_deep"]["missed"] == []
    assert s["verdict"] == "match"


def test_without_a_level_the_drill_reports_its_base_level():
    s = run_demo(DemoOptions(reps=10, seed=1)).summary  # one full set of the file's 10
    assert s["drill"]["level"] == 2  # squat.toml: level 2 ("Bodyweight squat") changes nothing
    assert [p["level"] for p in s["progression"]] == [2]


def test_requests_answer_in_a_self_controlled_session():
    quiet = run_demo(DemoOptions(reps=4, seed=1, schedule="self-controlled")).summary
    asked = run_demo(DemoOptions(reps=4, seed=1, schedule="self-controlled", requests=(9.0,))).summary
    assert len(asked["feedback"]) > len(quiet["feedback"])
    assert any(f["time"] >= 9.0 for f in asked["feedback"])


def test_a_flag_that_grazes_an_injected_window_is_a_false_alarm():
    from nmre.demo import matches

    assert not matches(10.0, 15.0, 14.99, 25.0)  # 0.01 s of a 5 s window
    assert matches(15.0, 20.0, 15.0, 25.0) and matches(31.0, 31.0, 30.0, 34.0)
    assert matches(14.0, 19.0, 15.0, 25.0)  # 4 of 5 s


def test_the_demo_exits_1_when_what_it_detected_does_not_match_the_truth():
    # a tolerance nobody can meet: every rep is flagged, and the body really is outside it: a match
    proc = nmre(
        "demo", "--reps", "3", "--set", "squat_depth.lo=130", "--set", "squat_depth.hi=135", timeout=120
    )
    assert proc.returncode == 0 and "verdict: what was detected matches" in proc.stdout, proc.stdout[-800:]
    # no EMG worn: the late VMO of rep 2 cannot be found; the demo says so and exits 1
    proc = nmre("demo", "--reps", "3", "--kit", "minimal", "--inject", "2:late_vmo_onset", timeout=120)
    assert proc.returncode == 1, proc.stdout[-800:]
    assert "MISMATCH" in proc.stdout and "not checked: vmo_timing: EMG of vmo and vl" in proc.stdout


def test_request_at_releases_the_latest_verdict_at_each_requested_time_and_nothing_else():
    proc = nmre("demo", "--reps", "4", "--schedule", "self-controlled", "--request-at", "2,9", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    r = run_demo(DemoOptions(reps=4, schedule="self-controlled", requests=(2.0, 9.0)))
    cues = [e for e in r.events if e.kind == "feedback.cue"]
    rep_ends = [e.time for e in r.events if e.kind == "rep.end"]
    assert len(cues) == 2  # one answer per request, no cue otherwise
    assert cues[0].time == 2.0 and cues[0].patient_message == "No rep finished yet"  # before rep 1 ended
    assert rep_ends[0] < 9.0 and cues[1].time == 9.0 and cues[1].patient_message != "No rep finished yet"
    assert s["reps_detected"] == 4


def test_request_at_with_another_schedule_is_one_line_and_nothing_on_stdout():
    proc = nmre("demo", "--request-at", "3", timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "--request-at: expected it with --schedule self-controlled" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_minimal_kit_injects_no_default_error_that_no_worn_sensor_can_see():
    s = run_demo(DemoOptions(drill="shoulder_scaption", kit="minimal", seed=1)).summary
    assert "shoulder_shrug" not in s["errors"] and any("shrug" in x for x in s["skipped_rules"])
    assert s["verdict"] == "match"


@pytest.mark.parametrize(("reps", "groups"), [(12, [5, 5, 2]), (3, [3])])
def test_a_summary_session_reports_every_rep_including_those_after_the_last_full_group(reps, groups):
    """Issue 8: with ``--schedule summary`` (every 5 reps), ``--reps 12`` said nothing of reps 11-12 and
    ``--reps 3`` nothing at all. Every rep is now in exactly one summary, the last one said when the set
    or the session ends, after the last rep."""
    r = run_demo(DemoOptions(reps=reps, seed=1, schedule="summary"))
    cues = [e for e in r.events if e.kind == "feedback.cue"]
    said = [int(c.patient_message.split(" reps on target")[0].split(" of ")[1]) for c in cues]
    assert said == groups, [c.patient_message for c in cues]
    last_rep = max(e.time for e in r.events if e.kind == "rep.end")
    assert cues[-1].time >= last_rep


def test_a_summary_stance_session_speaks_of_windows_and_says_the_loss_of_balance_at_once():
    """Issue 8: the stance drill's summary spoke of "reps" for time windows and held back the
    loss-of-balance cue until the next summary."""
    r = run_demo(DemoOptions(exercise="stance", seed=1, schedule="summary"))
    cues = [e for e in r.events if e.kind == "feedback.cue"]
    falls = [e for e in r.events if e.kind == "rule.loss_of_balance" and not e.payload["ok"]]
    assert falls
    for f in falls:  # said when it happened, as it happened
        assert [(c.time, c.patient_message) for c in cues if c.time == f.time] == [
            (f.time, f.patient_message)
        ]
    summaries = [c.patient_message for c in cues if c.time not in {f.time for f in falls}]
    assert summaries and all("window" in m and " rep" not in m for m in summaries), summaries


def test_window_scoring_judges_an_uninjected_flag_against_the_bodys_true_value() -> None:
    """A sway flag where nothing was injected is a false alarm only when the body's true sway was inside the
    limit the rule used by more than the quantity's stated accuracy (the 1 h stance flagged its own natural
    sway above the patient's limit 18 times, true values 0.0999-0.11 against 0.0946, and was scored mismatch)."""
    from types import SimpleNamespace

    from nmre.core.model import Event
    from nmre.demo import _match_windows
    from nmre.eval.margins import margin_for
    from nmre.sim.truth import Episode, TruthRecord

    limit = 0.0946
    near = margin_for("sway_rms").value
    values = {0: 0.06, 1: 0.30, 2: 0.11, 3: limit - near / 2, 4: limit - 2 * near}
    records = [
        TruthRecord("window", i, 5.0 * i, 5.0 * i + 5.0, quantities={"sway_rms": v})
        for i, v in values.items()
    ]
    truth = SimpleNamespace(records=records, episodes=(Episode("excessive_sway", 5.0, 10.0, 0.3),))

    def flag(i: int) -> Event:
        payload = {"error": "excessive_sway", "quantity": "sway_rms", "hi": limit, "lo": None, "ok": False}
        payload.update(start=5.0 * i, end=5.0 * i + 4.99)
        return Event(5.0 * i + 4.99, "rule.sway", "rule.sway", payload=payload)

    out = _match_windows(truth, [flag(1), flag(2), flag(3), flag(4)])["excessive_sway"]
    assert out["detected"] == [[5.0, 9.99]]
    assert out["outside_tolerance_uninjected"] == [[10.0, 14.99]]
    assert out["within_margin_uninjected"] == [[15.0, 19.99]]
    assert out["false_alarms"] == [[20.0, 24.99]]
    assert out["missed"] == []

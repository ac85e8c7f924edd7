"""Drill files: every shipped drill loads and builds; every broken file is rejected naming file, table, field, expectation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nmre.drills import build_drill, check_drill, library_path, list_drills, load_drill, synthetic_kit
from nmre.errors import ConfigError

SQUAT = (library_path() / "squat.toml").read_text()


def variant(tmp_path: Path, old: str, new: str, name: str = "my_squat.toml") -> Path:
    """The squat file with ``old`` replaced by ``new`` (which must occur), written to ``tmp_path/name``."""
    assert old in SQUAT, old
    p = tmp_path / name
    p.write_text(SQUAT.replace(old, new, 1))
    return p


@pytest.mark.parametrize("name", list_drills())
def test_every_shipped_drill_checks(name):
    spec, drill = check_drill(name)
    assert spec.name == name and drill.nodes and drill.rules
    assert all(r.source for r in spec.rules)  # every tolerance says where it comes from


def test_a_copied_file_loads_by_path_and_changes_take_effect(tmp_path):
    p = variant(tmp_path, "lo = 75.0", "lo = 80.0")
    spec = load_drill(p)
    assert spec.rule("squat_depth").lo == 80.0
    assert load_drill(str(p)).settings["squat_depth.lo"].value == 80.0


# (old text, new text, what the one-line error must say)
BROKEN = [
    (
        "hi = 115.0\nerror_below",
        "hi = 115.0 x\nerror_below",
        r"my_squat\.toml: expected valid TOML, got a syntax error",
    ),
    (
        'kind = "band"',
        'kind = "bandwidth"',
        r"\[rules\[0\]\] kind: expected a rule kind \(.*band.*\), got 'bandwidth'",
    ),
    (
        'quantity = "knee_flexion_peak"\nsignal',
        "signal",
        r"\[rules\[0\]\] quantity: expected this field \(it is required\)",
    ),
    (
        'stat = "max"\nunit = "deg"\nlo = 75.0',
        'stat = "max"\nunit = "deg"\ncolour = "red"\nlo = 75.0',
        r"\[rules\[0\]\] colour: expected a known field \(.*\), got 'an unknown field'",
    ),
    (
        'unit = "deg"\nlo = 75.0',
        'unit = "rad"\nlo = 75.0',
        r"\[rules\[0\]\] unit: expected 'deg' \(the unit of knee_flexion_peak\), got 'rad'",
    ),
    (
        "hi = 30.0",
        "hi = -30000.0",
        r"\[rules\[3\]\] hi: expected a vmo_vl_onset_lag tolerance of -2000 to 2000 ms .*got -30000",
    ),
    (
        "lo = 75.0\nhi = 115.0",
        "lo = 115.0\nhi = 75.0",
        r"\[rules\[0\]\] lo: expected lo <= hi \(75 deg\).*impossible, got 115",
    ),
    (
        'signal = "knee.flexion"\nstat',
        'signal = "knee.bend"\nstat',
        r"\[rules\[0\]\] signal: expected a channel of 'knee' \(flexion, abduction, rotation\), got 'knee.bend'",
    ),
    (
        'late = "vmo"',
        'late = "gmed"',
        r"\[rules\[3\]\] late: expected a muscle of signal 'onsets' \(vmo, vl\), got 'gmed'",
    ),
    (
        'segment = "thigh"',
        'segment = "thighs"',
        r"\[sensors\[1\]\] segment: expected one of pelvis, trunk, .*got 'thighs'",
    ),
    (
        '"squat_depth.lo" = 45.0',
        '"squat_depth.low" = 45.0',
        r"\[levels\[0\]\.settings\] squat_depth\.low: expected a setting of this drill .*got 'an unknown setting'",
    ),
    (
        '"squat_depth.lo" = 45.0',
        '"squat_depth.lo" = 95.0',
        r"levels\[0\]\.settings\]: expected squat_depth\.lo <= squat_depth\.hi, got lo=95 > hi=75",
    ),
    (
        "min_duration = 0.8",
        "min_duration = -0.8",
        r"\[structure\.segmenter\] min_duration: expected a number >= 0 s \(it cannot be negative\), got -0\.8",
    ),
    (
        "start = 25.0",
        "start = 10.0",
        r"\[structure\.segmenter\] start: expected a start threshold above end \(15\) \(hysteresis\), got 10",
    ),
    (
        "k_off = 4.0",
        "k_off = 9.0",
        r"\[signals\.onsets\] k_off: expected a threshold <= k_on \(8\) \(hysteresis\), got 9",
    ),
    (
        "schema = 1",
        "schema = 2",
        r"\(top level\) schema: expected 1 \(the drill file format this nmre reads\), got 2",
    ),
    (
        'band_from = "squat_depth"',
        'band_from = "depth"',
        r"\[feedback\.picture\[0\]\] band_from: expected a rule id of this drill .*got 'depth'",
    ),
    (
        "at_least = 0.8",
        "at_least = 80",
        r"\[progression\.advance\[0\]\] at_least: expected a fraction between 0 and 1",
    ),
    (
        "[levels.conditions]\nresistance = 0.3",
        "[levels.conditions]\nresistance = 3.0",
        r"\[levels\[2\]\.conditions\] resistance: expected a number from 0 to 1 \(.*\), got 3\.0",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_a_broken_file_is_rejected_naming_file_table_field_and_expectation(tmp_path, old, new, message):
    p = variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        check_drill(p)
    text = str(err.value)
    assert re.search(message, text), text
    assert "\n" not in text
    assert text.startswith("my_squat.toml: ") or "drill 'squat'" in text


def test_a_setting_the_drill_does_not_have_is_a_config_error_naming_the_drills_settings():
    kit = synthetic_kit(load_drill("squat"))
    with pytest.raises(ConfigError) as err:
        build_drill("squat", kit, settings={"max_valgus": 9.0})
    text = str(err.value)
    assert (
        "expected one of the drill's settings (squat_depth.lo, squat_depth.hi" in text
        and "'max_valgus'" in text
    )
    with pytest.raises(ConfigError, match=r"squat_depth\.lo: expected a finite number in deg, got 'deep'"):
        build_drill("squat", kit, settings={"squat_depth.lo": "deep"})
    with pytest.raises(
        ConfigError, match=r"expected squat_depth\.lo <= squat_depth\.hi, got lo=120 > hi=115"
    ):
        build_drill("squat", kit, settings={"squat_depth.lo": 120.0})
    with pytest.raises(ConfigError, match=r"level: expected a level of the drill \(1 to 3\), got 7"):
        build_drill("squat", kit, level=7)
    d = build_drill("squat", kit, level=1, settings={"knee_valgus.hi": 9.0})
    assert d.settings["squat_depth.lo"] == 45.0 and d.settings["knee_valgus.hi"] == 9.0
    rules = {r.id: r for r in d.rules}
    assert rules["squat_depth"].lo == 45.0 and rules["knee_valgus"].hi == 9.0


def test_a_drill_that_cannot_run_says_what_is_missing_and_where_it_goes():
    spec = load_drill("squat")
    kit = [s for s in synthetic_kit(spec, sides=("left",)) if "shank" not in s.id]
    assert spec.missing_sensors(kit) == [
        "an IMU on the left shank (for the knee angle, with the thigh sensor): on the front of the shin, below the knee"
    ]
    with pytest.raises(
        ConfigError,
        match=r"drill 'squat' cannot run: missing an IMU on the left shank .*connected: imu on midline trunk",
    ):
        build_drill(spec, kit)


def test_side_and_muscles_come_from_the_placement_and_a_missing_optional_sensor_drops_its_rule():
    spec = load_drill("squat")
    left = synthetic_kit(spec, sides=("left",))
    d = build_drill(spec, left)
    assert d.side == "left" and not d.bilateral
    assert any(n.name == "angle.knee.l" for n in d.nodes)
    no_emg = [s for s in left if s.kind.value != "emg"]
    d = build_drill(spec, no_emg)
    assert [r.id for r in d.rules] == ["squat_depth", "knee_valgus", "trunk_lean"]
    assert [s.rule for s in d.skipped] == ["vmo_timing", "depth_symmetry"]
    assert "EMG of vmo and vl" in d.skipped[0].reason and "bilateral kit" in d.skipped[1].reason
    both = synthetic_kit(spec)
    d = build_drill(spec, both, settings={"side": "left"})
    assert d.side == "left" and d.bilateral
    assert "depth_symmetry" in [r.id for r in d.rules]  # a bilateral kit adds the symmetry rule


def nmre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=120)


def test_cli_lists_shows_and_checks(tmp_path):
    proc = nmre("drills")
    assert proc.returncode == 0 and [ln.split()[0] for ln in proc.stdout.splitlines()] == list_drills()
    proc = nmre("drills", "show", "squat")
    assert proc.returncode == 0 and "tolerance 75-115 deg" in proc.stdout and "source: " in proc.stdout
    proc = nmre("drills", "show", "squat", "--toml")
    p = tmp_path / "copy.toml"
    p.write_text(proc.stdout.replace("hi = 7.0", "hi = 8.0"))
    proc = nmre("drills", "check", str(p))
    assert proc.returncode == 0 and proc.stdout.startswith("copy.toml: ok: drill 'squat'"), (
        proc.stdout + proc.stderr
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["drills", "show", "nope"], "expected a drill name ("),
        (["drills", "check", "/nonexistent/x.toml"], "or a .toml file, got '/nonexistent/x.toml'"),
        (["drills", "frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, needle):
    proc = nmre(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cli_check_of_a_broken_file_is_one_line_and_exit_2(tmp_path):
    p = variant(tmp_path, 'unit = "deg"\nlo = 75.0', 'unit = "rad"\nlo = 75.0')
    proc = nmre("drills", "check", str(p))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "nmre drills: my_squat.toml: [rules[0]] unit: expected 'deg' (the unit of knee_flexion_peak), got 'rad'"
    )


def test_a_name_is_a_library_name_even_when_a_folder_of_that_name_is_in_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "squat").mkdir()
    (tmp_path / "single_leg_stance").write_text("not a drill")
    monkeypatch.chdir(tmp_path)
    assert load_drill("squat").path == str(library_path() / "squat.toml")
    assert load_drill("single_leg_stance").name == "single_leg_stance"
    with pytest.raises(ConfigError, match=r"or a \.toml file, got 'squat/'"):
        load_drill("squat/")  # a separator makes it a path, and that path is not a file
    p = variant(tmp_path, "lo = 75.0", "lo = 80.0", name="squat.toml")
    assert load_drill("squat.toml").rule("squat_depth").lo == 80.0  # .toml: the file here
    assert load_drill(Path("squat.toml")).rule("squat_depth").lo == 80.0 and p.exists()


@pytest.mark.parametrize("path", sorted(library_path().glob("*.toml")), ids=lambda p: p.name)
def test_every_file_in_the_library_folder_checks_by_path(path):
    spec, drill = check_drill(path)
    assert spec.path == str(path) and drill.rules
    assert all(r.source.strip() for r in spec.rules)
    assert spec.feedback.picture and spec.feedback.sound is not None
    assert spec.name == path.stem


def test_emg_band_stays_below_nyquist_for_slow_devices():
    """A Myo armband samples at 200 Hz: the 20-450 Hz band stops at 90 Hz instead of refusing the stream."""
    from nmre.drills._signals import EMG_BAND, emg_band

    assert emg_band(2000.0) == EMG_BAND == (20.0, 450.0)
    assert emg_band(1000.0) == (20.0, 450.0)
    assert emg_band(200.0) == (20.0, 90.0)

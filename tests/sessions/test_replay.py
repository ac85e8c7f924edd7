"""Replay: the same engine, deterministic, block-size independent, what-if settings, archives."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import subprocess
import sys

import pytest

from nmre.errors import ConfigError
from nmre.sessions import read_xdf
from nmre.sessions.metrics import outcomes
from nmre.sessions.replay import ReplaySettings, parse_overrides, replay, replay_file, what_if


def nmre(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=timeout
    )


def _canon(events):
    """Events without ``detected_at``, in a canonical order (events of different streams interleave by block)."""
    rows = [dataclasses.replace(e, detected_at=math.nan).to_json() for e in events]
    return sorted(rows)


def test_replay_as_recorded_gives_the_recorded_events_exactly(squat_recording):
    path, events = squat_recording
    res = replay(path)
    assert res.drill == "squat"
    assert [e.to_json() for e in res.events] == [e.to_json() for e in events]  # detected_at included


@pytest.mark.parametrize("block", [0.02, 0.05, 0.25, 0.5, 0.77, 1.0, 1.5, 2.0, 3.0])
def test_the_replay_block_size_changes_no_event_but_detected_at(squat_recording, block):
    path, _ = squat_recording
    base = replay(path, {"block_seconds": 0.1}).events
    other = replay(path, {"block_seconds": block}).events
    assert len(outcomes(base)) == 15  # 4 reps x 4 rules, but rep 1's valgus (the long-axis movement)
    assert _canon(other) == _canon(base)
    assert [e.detected_at for e in other] != [e.detected_at for e in base]


def test_a_recording_with_derived_streams_replays_from_its_raw_streams(squat_sim, tmp_path):
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sessions import XdfRecorder
    from nmre.sim import SimSource

    p = tmp_path / "with-derived.xdf"
    drill = build_drill("squat", squat_sim.streams)
    mem = MemorySink()
    meta = {"drill": {"name": "squat", "settings": drill.settings}}
    Engine([SimSource(squat_sim)], drill.nodes, [mem, XdfRecorder(p, meta, derived=True)]).run()
    rec = read_xdf(p)
    assert {"angle.knee.r", "angle.trunk", "orient.thigh.r"} <= {s.name for s in rec.by_role("derived")}
    res = replay(rec)
    assert [e.to_json() for e in res.events] == [e.to_json() for e in mem.events]


def test_what_if_a_stricter_depth_band_flips_exactly_the_reps_between_the_old_and_new_limit(squat_recording):
    path, events = squat_recording
    depth = {o.index: o.value for o in outcomes(events) if o.rule == "squat_depth"}
    new_lo = sorted(v for v in depth.values() if v >= 75)[1] + 0.01  # between the 2nd and 3rd deepest-enough
    res = replay(path, {"overrides": {"squat_depth.lo": new_lo}})
    diffs = what_if(events, res.events)
    flipped = sorted(d.index for d in diffs if d.rule == "squat_depth" and d.verdict_changed)
    assert flipped == sorted(r for r, v in depth.items() if 75 <= v < new_lo)
    assert all(d.before.ok and not d.after.ok and d.after.error == "shallow_squat" for d in diffs)
    assert all(d.before.value == d.after.value for d in diffs)  # same movement, another verdict
    assert res.drill_settings["overrides"] == {"squat_depth.lo": {"before": 75.0, "after": new_lo}}


def test_set_names_the_valid_settings(squat_recording):
    path, _ = squat_recording
    listing = r"expected one of the drill's settings \(squat_depth\.lo, squat_depth\.hi"
    with pytest.raises(ConfigError, match=listing + r".*got 'depth\.lo'"):
        replay(path, {"overrides": {"depth.lo": 80.0}})
    with pytest.raises(ConfigError, match=listing + r".*got 'squat_depth\.low'"):
        replay(path, {"overrides": {"squat_depth.low": 80.0}})
    with pytest.raises(ConfigError, match=r"RULE\.PARAM=VALUE"):
        parse_overrides(["squat_depth.lo"])
    with pytest.raises(ConfigError, match=listing + r".*got 'squat_depth'"):
        replay(path, {"overrides": parse_overrides(["squat_depth=80"])})
    with pytest.raises(ConfigError, match=r"squat_depth\.lo"):
        replay(path, {"overrides": parse_overrides(["squat_depth.lo=deep"])})
    assert parse_overrides(["knee_valgus.hi=none", "side=left"]) == {"knee_valgus.hi": None, "side": "left"}


def test_paced_replay_gives_the_same_events(squat_recording):
    path, events = squat_recording
    res = replay(path, {"speed": 40.0})
    assert _canon(res.events) == _canon(events)


def test_replay_file_is_a_plain_picklable_function_of_file_and_settings(squat_recording):
    path, _events = squat_recording
    fn = pickle.loads(pickle.dumps(replay_file))
    row = fn(str(path), {"block_seconds": 0.5})
    assert pickle.loads(pickle.dumps(row)) == row
    assert row["reps"] == 4 and row["squat_depth.n"] == 4 and row["error.shallow_squat"] == 1
    assert row["patient"] == "P-0001" and row["drill"] == "squat"
    assert all(isinstance(v, (str, int, float, type(None))) for v in row.values())
    with pytest.raises(ConfigError, match="expected keys among"):
        ReplaySettings.from_mapping({"blocks": 1})


def test_cli_replay_json_is_byte_identical_twice_and_what_if_prints_the_differences(
    squat_recording, tmp_path
):
    path, _ = squat_recording
    a = nmre("replay", str(path), "--speed", "max", "--json")
    b = nmre("replay", str(path), "--speed", "max", "--json")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc["metrics"]["reps"] == 4 and doc["drill"] == "squat"
    w = nmre("replay", str(path), "--set", "squat_depth.hi=80")
    assert w.returncode == 0, w.stderr
    assert "what if: squat_depth.hi 115.0 -> 80.0" in w.stdout
    assert "* rep" in w.stdout and "-> FIX" in w.stdout
    out = tmp_path / "again.xdf"
    r = nmre("replay", str(path), "--record", str(out))
    assert r.returncode == 0 and read_xdf(out).complete
    assert read_xdf(out).metadata["replay_of"]["file"] == "squat.xdf"  # its name and checksum, not its folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "depth.lo=80"], "expected one of the drill's settings (squat_depth.lo, squat_depth.hi"),
        (["--set", "squat_depth.x=80"], "got 'squat_depth.x'"),
        (["--speed", "fast"], "expected 'max' or a number > 0"),
        (["--speed", "0"], "expected 'max' or a number > 0"),
        (["--drill", "cartwheel"], "expected a drill name"),
        (["--block", "-1"], "expected a number of seconds > 0"),
        (["--schedule", "sometimes"], "expected one of continuous"),
    ],
)
def test_cli_replay_bad_options_get_one_line_and_status_2(squat_recording, args, message):
    proc = nmre("replay", str(squat_recording[0]), *args)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_truncated_recording_replays_what_is_intact(squat_recording, tmp_path):
    data = squat_recording[0].read_bytes()
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    proc = nmre("replay", str(cut))
    assert proc.returncode == 0, proc.stderr
    assert "ends inside a" in proc.stderr and "replaying what is intact" in proc.stderr
    assert "rep   1" in proc.stdout


def test_an_archive_becomes_one_table_and_a_bad_file_is_a_row_with_its_reason(squat_recording, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "archive"
    (folder / "p1").mkdir(parents=True)
    (folder / "p1" / "a.xdf").write_bytes(squat_recording[0].read_bytes())
    (folder / "b.xdf").write_bytes(squat_recording[0].read_bytes())
    (folder / "broken.xdf").write_text("not xdf")
    stem = tmp_path / "metrics"
    proc = nmre("replay", str(folder), "--table", str(stem), "--block", "0.5")
    assert proc.returncode == 1  # one file failed: said, and the others went on
    assert "FAILED" in proc.stdout and "broken.xdf" in proc.stdout and "not an XDF file" in proc.stdout
    table = pq.read_table(str(stem) + ".parquet").to_pylist()
    assert [r["file"].rsplit("/", 1)[1] for r in table] == ["b.xdf", "broken.xdf", "a.xdf"]
    good = [r for r in table if not r["error"]]
    assert [r["reps"] for r in good] == [4, 4] and good[0]["squat_depth.mean"] == good[1]["squat_depth.mean"]
    csv_text = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_text[0].startswith("file,error,drill") and len(csv_text) == 4
    none = nmre("replay", str(tmp_path / "nothing-here"))
    assert none.returncode == 2 and "expected a readable XDF file" in none.stderr

"""``nmre demo --record`` and ``nmre recover`` as a user runs them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

pyxdf = pytest.importorskip("pyxdf")


def nmre(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=timeout
    )


def test_demo_record_writes_a_file_pyxdf_opens_and_recover_leaves_it_alone(tmp_path, caplog):
    path = tmp_path / "a.xdf"
    proc = nmre("demo", "--reps", "3", "--record", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["recording"] == str(path)
    with caplog.at_level(logging.WARNING, logger="pyxdf"):
        streams, _ = pyxdf.load_xdf(str(path))
    # no "Stream 6: Segments and clock-segments differ" (the string streams had no ClockOffset)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    names = {s["info"]["name"][0] for s in streams}
    assert {"emg.r", "imu.thigh.r", "imu.shank.r", "imu.trunk", "nmre.events", "nmre.metadata"} <= names
    meta = json.loads(
        next(s for s in streams if s["info"]["name"][0] == "nmre.metadata")["time_series"][0][0]
    )
    assert meta["drill"]["name"] == "squat" and meta["demo"]["seed"] == 1
    ok = nmre("recover", str(path))
    assert ok.returncode == 0 and "complete, nothing to recover" in ok.stdout
    # cut it short: recover says where and what it kept, and the result opens in pyxdf
    data = path.read_bytes()
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(data[: len(data) // 3])
    rep = nmre("recover", str(cut), "--json")
    assert rep.returncode == 0, rep.stderr
    r = json.loads(rep.stdout)
    assert r["problems"] and r["problems"][0]["offset"] > 0 and r["backup"].endswith(".damaged")
    streams, _ = pyxdf.load_xdf(str(cut))
    assert all("footer" in s for s in streams)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recover", "{tmp}/missing.xdf"], "expected a readable XDF file"),
        (["recover", "{tmp}/text.xdf"], "not an XDF file: expected the 4 bytes 'XDF:' at byte 0"),
        (["demo", "--reps", "1", "--record", "{tmp}/no/such/dir/a.xdf"], "expected an existing folder"),
        (["demo", "--reps", "1", "--record", "{tmp}"], "expected a file path, got the directory"),
    ],
)
def test_bad_files_get_one_line_and_status_2(tmp_path, args, message):
    (tmp_path / "text.xdf").write_text("just text")
    proc = nmre(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

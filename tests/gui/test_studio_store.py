"""The studio and the session store: the patient list comes from it, the end-of-session summary goes into it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmre.sessions.store import open_store

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO / "src"))


@pytest.mark.slow
def test_a_session_is_saved_under_the_patients_id_with_its_summary(tmp_path: Path) -> None:
    store_path = tmp_path / "clinic.sqlite"
    with open_store(store_path) as store:
        store.add_patient("P-0007")  # already known: listed in the picker
    out = tmp_path / "shots"
    cmd = [sys.executable, "-m", "nmre", "studio", "--sim", "--seconds", "9", "--no-sound"]
    cmd += ["--patient", "P-0042", "--store", str(store_path), "--screenshot", str(out)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["patient"] == "P-0042" and summary["store"].startswith("saved as session")
    with open_store(store_path, writable=False) as store:
        assert {p.id for p in store.patients()} == {"P-0007", "P-0042"}
        (row,) = store.sessions("P-0042")
        assert row.drill == "squat" and row.duration == pytest.approx(summary["session_seconds"], abs=0.01)
        assert row.summary["reps"] == summary["reps"] >= 1
        reps = store.reps(row.id)
        assert len(reps) >= summary["reps"] - 1, "the reps' checks are stored with the session"


def test_a_store_that_cannot_be_written_is_one_line_before_the_session(tmp_path: Path) -> None:
    bad = tmp_path / "no" / "such" / "folder" / "s.sqlite"
    cmd = [sys.executable, "-m", "nmre", "studio", "--sim", "--seconds", "2", "--patient", "P-1"]
    cmd += ["--store", str(bad), "--screenshot", str(tmp_path / "shots"), "--no-sound"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--store" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

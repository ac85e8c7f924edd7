"""A store that cannot take the session stops ``nmre studio`` with one line before the patient starts (issue 10)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nmre.sessions.store import SCHEMA_VERSION, open_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def _studio(store: Path, shots: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "nmre", "studio", "--sim", "--seconds", "2"]
    cmd += ["--patient", "P-1", "--store", str(store), "--screenshot", str(shots), "--no-sound"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.parametrize("case", ["full disk", "read-only path", "newer schema"])
def test_a_store_that_cannot_take_the_session_stops_the_studio_before_it_starts(
    case: str, mounted, tmp_path: Path
) -> None:
    if case == "full disk":
        store = mounted("2m") / "store.sqlite"
        said = "expected at least 64 MiB free on its disk"
    elif case == "read-only path":

        def prepare(where: Path) -> None:
            with open_store(where / "store.sqlite") as s:
                s.add_patient("P-1")

        store = mounted("80m", read_only=True, prepare=prepare) / "store.sqlite"
        said = "expected a writable database, got a read-only file system"
    else:
        store = tmp_path / "future.sqlite"
        with sqlite3.connect(store) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        said = f"newer than this nmre reads ({SCHEMA_VERSION}): upgrade nmre"
    shots = tmp_path / "shots"
    proc = _studio(store, shots)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (shots / "summary.json").exists()  # no session ran: nothing the patient did is lost

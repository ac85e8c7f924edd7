"""Recorded sessions shared by the sessions tests (made once per test session: recording costs seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmre.drills import build_drill
from nmre.engine import Engine
from nmre.feedback.sinks import MemorySink
from nmre.sessions import XdfRecorder
from nmre.sim import SimSource, SquatConfig, simulate


@pytest.fixture(scope="session")
def squat_sim():
    return simulate(SquatConfig(reps=4, errors={1: ("shallow_squat",)}), seed=5)


@pytest.fixture(scope="session")
def squat_recording(squat_sim, tmp_path_factory) -> tuple[Path, list]:
    """A 4-rep squat session (rep 2 shallow) recorded live from packets, and the events it raised."""
    path = tmp_path_factory.mktemp("rec") / "squat.xdf"
    drill = build_drill("squat", squat_sim.streams)
    mem = MemorySink()
    meta = {"drill": {"name": drill.name, "settings": drill.settings}, "patient": "P-0001"}
    Engine([SimSource(squat_sim)], drill.nodes, [mem, XdfRecorder(path, meta)]).run()
    return path, mem.events


@pytest.fixture
def mounted(tmp_path):
    """``mounted(size, read_only=False)``: a real tmpfs of ``size`` (a full disk, or a read-only one).

    Needs root with CAP_SYS_ADMIN (as on the project's machines and CI); skipped elsewhere.
    """
    import subprocess

    mounts = []

    def make(size: str = "2m", read_only: bool = False, prepare=None):
        where = tmp_path / f"mnt{len(mounts)}"
        where.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "none", str(where)], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip() or 'not root'})")
        mounts.append(where)
        if prepare is not None:
            prepare(where)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        return where

    yield make
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)

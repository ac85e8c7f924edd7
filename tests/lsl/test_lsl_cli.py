"""``nmre studio --lsl-in ... --lsl-out``: a lab's LSL stream drives the studio, nmre's events go back out on LSL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
from tests.lsl.conftest import unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _lab_pelvis(name: str, stop: threading.Event) -> None:
    """The simulated pelvis IMU of a stance trial in g and deg/s, pushed in 20 ms chunks as it is 'measured'."""
    from nmre.sim import StanceConfig, simulate

    sim = simulate(StanceConfig(duration=60.0), seed=3)
    t, v = sim.data["imu.pelvis"]
    info = pylsl.StreamInfo(name, "IMU", 6, 100.0, "float32", f"{name}-sid")
    info.set_channel_labels(["AccX", "AccY", "AccZ", "GyroX", "GyroY", "GyroZ"])
    info.set_channel_units(["g"] * 3 + ["deg/s"] * 3)
    out = pylsl.StreamOutlet(info)
    scale = np.array([1 / 9.80665] * 3 + [180 / np.pi] * 3)[:, None]
    t0 = pylsl.local_clock()
    for k in range(0, t.shape[0], 2):
        if stop.wait(max(0.0, t0 + t[k + 1] - pylsl.local_clock())):  # a live device's pace
            return
        out.push_chunk(np.ascontiguousarray((v[:, k : k + 2] * scale).T), float(t0 + t[k + 1]))


def test_the_studio_runs_a_drill_on_an_lsl_stream_and_publishes_its_events(tmp_path: Path) -> None:
    name, prefix = unique("LabPelvis"), unique("nmreout")
    stop = threading.Event()
    lab = threading.Thread(target=_lab_pelvis, args=(name, stop), daemon=True)
    lab.start()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cmd = [
        sys.executable,
        "-m",
        "nmre",
        "studio",
        "--drill",
        "stance",
        "--lsl-in",
        f"name={name},placement=pelvis.m",
        "--lsl-out",
        prefix,
        "--seconds",
        "7",
        "--screenshot",
        str(tmp_path),
        "--no-sound",
    ]
    studio = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        found = pylsl.resolve_byprop("name", f"{prefix}.events", 1, 120.0)
        assert found, "the studio's event outlet did not appear"
        inlet = pylsl.StreamInlet(found[0], recover=False)
        inlet.open_stream(10)
        kinds: list[str] = []
        deadline = time.monotonic() + 120
        while "sway.window" not in kinds and time.monotonic() < deadline and studio.poll() is None:
            values, _ = inlet.pull_chunk(timeout=0.2)
            kinds.extend(json.loads(v[0])["kind"] for v in values)
        _, err = studio.communicate(timeout=120)
    finally:
        stop.set()
        if studio.poll() is None:
            studio.kill()
    assert studio.returncode == 0, err
    assert "sway.window" in kinds
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["session_seconds"] >= 7.0
    # the lab's pusher runs in this (shared, loaded) test process: a stall of it may pause feedback, but then
    # the data must come back; no other warning is acceptable
    lost = [w for w in summary["warnings"] if "no data" in w]
    back = [w for w in summary["warnings"] if "data back" in w]
    assert len(lost) == len(back) and len(lost) + len(back) == len(summary["warnings"]), summary["warnings"]
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_a_missing_lsl_stream_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmre",
            "studio",
            "--lsl-in",
            "name=nobody-streams-this",
            "--lsl-timeout",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "nmre studio: no LSL stream matches name='nobody-streams-this' within 0.5 s (LSL scope "
        f"file={os.environ['LSLAPICFG']}); is its outlet running on this network?"
    )


def test_a_bad_lsl_in_option_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nmre", "studio", "--lsl-in", "name=x,colour=red"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2 and "keys name, type" in out.stderr and "Traceback" not in out.stderr

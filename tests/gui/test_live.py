"""Live sensors in the studio: the wear notation, the device picker's real scan, a session over a transport.

The radio is Bumble: an in-process air for the picker's scan, and a separate
emulator process (``python -m nmre.sim.devices.server --body``) reached over a
TCP HCI transport for the whole session, the path a real dongle takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtWidgets

from nmre.core.model import Side, StreamKind
from nmre.errors import ConfigError
from nmre.gui.live import device_specs, parse_wear, parse_wears

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nmre-0", "NAME=SEGMENT"),
        ("=trunk", "NAME=SEGMENT"),
        ("nmre-0=knee", "segment: expected one of pelvis"),
        ("nmre-0=thigh", "expected a side for the thigh"),
        ("nmre-0=thigh.up", "side: expected left, right or midline"),
        ("nmre-0=thigh.r:biceps", "muscles: expected a list of MUSCLE[.SIDE]"),
        ("nmre-0=thigh.r:vmo,vmo", "each muscle once"),
        ("nmre-0=thigh.r:vmo.x", "muscles: expected"),
    ],
)
def test_a_bad_wear_is_one_line_naming_what_was_expected(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.").replace("[", r"\[")) as info:
        parse_wear(text)
    assert "\n" not in str(info.value)


def test_wears_become_placed_streams() -> None:
    wears = parse_wears(["a=thigh.right:vmo,vl", "b=pelvis:gmed.left", "c=trunk"])
    assert [w.text for w in wears] == ["a=thigh.right:vmo,vl", "b=pelvis:gmed.left", "c=trunk"]
    specs = device_specs(wears)
    infos = specs[0].config["stream_infos"]  # type: ignore[attr-defined]
    assert infos["imu"].placement.segment == "thigh" and infos["imu"].placement.side is Side.RIGHT
    assert [c.placement.muscle for c in infos["emg"].channels] == ["vmo", "vl"]
    left = specs[1].config["stream_infos"]["emg"]  # type: ignore[attr-defined]
    assert left.channels[0].placement.side is Side.LEFT and left.kind is StreamKind.EMG
    assert "emg" not in specs[2].config["stream_infos"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="each device once"):
        parse_wears(["a=trunk", "a=pelvis"])
    with pytest.raises(ConfigError, match="one board per segment and side"):
        parse_wears(["a=thigh.r", "b=thigh.right"])


def test_the_device_picker_scans_the_air_and_says_where_each_board_is_worn(qtbot: Any) -> None:
    from bumble.link import LocalLink

    from nmre.acquisition.ble import BleConfig
    from nmre.gui.app import sensor_spots
    from nmre.gui.devices import DevicePicker
    from nmre.sim.devices import emulated_fleet

    link = LocalLink()
    config = BleConfig(backend="bumble", bumble_link=link, emulated=emulated_fleet(link))
    picker = DevicePicker("squat", config, sensor_spots("squat", []))
    qtbot.addWidget(picker)
    picker.scan()  # a real scan through bleak's Bumble backend, in a worker thread
    qtbot.waitUntil(lambda: picker.scan_button.isEnabled(), timeout=30_000)
    boards = {picker.table.item(r, 0).text() for r in range(picker.table.rowCount())}
    assert boards == {"nmre-L", "nmre-R"}, picker.message.text()
    assert "other device" in picker.message.text()  # the Myo, Polar ... are heard but not offered
    # the first two of the drill's IMU places are proposed; the therapist adds the EMG muscles
    picker.table.cellWidget(0, 4).setText("vmo, vl")
    picker.connect_devices()
    assert picker.result() == QtWidgets.QDialog.DialogCode.Accepted
    places = sorted(w.text.split("=")[1] for w in picker.wears)
    assert places == ["thigh.right", "trunk:vmo,vl"] or places == ["thigh.right:vmo,vl", "trunk"]
    # a wrong muscle stays in the dialog with the reason
    picker.table.cellWidget(0, 4).setText("quads")
    picker.connect_devices()
    assert "muscles" in picker.message.text()


@pytest.fixture
def body_server() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmre.sim.devices.server", "--port", "0", "--body", "stance"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            pytest.fail(f"emulator exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        yield json.loads(line)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.terminate()
        proc.wait(20)


@pytest.mark.slow
def test_a_live_session_over_a_transport_fills_the_device_panel(
    body_server: dict[str, Any], tmp_path: Path
) -> None:
    wears = [f"--wear={d['name']}={d['wear']}" for d in body_server["devices"]]
    assert any(w.endswith("=pelvis") for w in wears)
    out = tmp_path / "shots"
    cmd = [sys.executable, "-m", "nmre", "studio", "--bumble", f"tcp-client:127.0.0.1:{body_server['port']}"]
    cmd += [*wears, "--drill", "stance", "--seconds", "6", "--screenshot", str(out), "--no-sound"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["sensor"]: r for r in summary["devices"]}
    pelvis = rows["pelvis IMU"]
    assert pelvis["device"] == "nmre-0" and pelvis["state"] == "ended"
    assert pelvis["battery"] is not None and 0 <= pelvis["battery"] <= 100
    assert pelvis["signal"] == "ok" and pelvis["loss_percent"] < 5.0
    assert pelvis["latency_ms"] is not None and pelvis["latency_ms"] > 0
    assert summary["session_seconds"] >= 6.0 and summary["latency"]["visual_from_arrival"]["n"] > 0


def test_live_without_a_radio_or_a_wear_is_a_clear_line(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO / "src"))
    base = [sys.executable, "-m", "nmre", "studio", "--seconds", "1", "--screenshot", str(tmp_path)]
    proc = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "expected --wear" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*base, "--wear", "nmre-0=thigh"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2 and "expected a side for the thigh" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

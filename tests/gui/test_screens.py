"""Real windows on a virtual X server: the patient view goes full screen on the second monitor when there is one.

Xvfb (installed by scripts/setup-system.sh) runs with two X screens (a
dual-head workstation: the patient's monitor beside the therapist's; Qt 6
sees each as a screen), or with one; the studio's own placement code runs in a subprocess on the xcb
platform (real X11 windows) and reports where the patient window ended up.
Without a display at all the studio says so in one line and runs offscreen.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not installed (scripts/setup-system.sh)"
)

PLACE = """
import json, sys
from PySide6 import QtWidgets
from nmre.gui.app import place_patient_window
from nmre.gui.patient import PatientView
app = QtWidgets.QApplication(sys.argv[:1])
view = PatientView()
what = place_patient_window(app, view)
for _ in range(50):
    app.processEvents()
handle = view.windowHandle()
g = view.frameGeometry()
print(json.dumps({
    "what": what,
    "screens": [[s.name(), s.geometry().x(), s.geometry().y(), s.geometry().width(), s.geometry().height()] for s in app.screens()],
    "screen": app.screens().index(handle.screen()) if handle else None,
    "full": view.isFullScreen(),
    "geometry": [g.x(), g.y(), g.width(), g.height()],
}))
"""


@contextlib.contextmanager
def xvfb(*screens: str) -> Iterator[str]:
    r, w = os.pipe()
    cmd = ["Xvfb", "-displayfd", str(w), "-nolisten", "tcp"]
    for i, size in enumerate(screens):
        cmd += ["-screen", str(i), size]
    proc = subprocess.Popen(cmd, pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            number = f.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def place(display: str) -> dict[str, object]:
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(
        [sys.executable, "-c", PLACE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_with_a_second_monitor_the_patient_view_fills_it() -> None:
    with xvfb("1600x1000x24", "1280x720x24") as display:
        got = place(display)
    assert len(got["screens"]) == 2, got  # type: ignore[arg-type]
    second = got["screens"][1]  # type: ignore[index]
    assert got["full"] is True and got["screen"] == 1, got
    assert got["geometry"][2:] == second[3:], f"not covering the second screen: {got}"  # type: ignore[index]
    assert "full screen on" in str(got["what"])


def test_with_one_monitor_the_patient_view_is_a_window_and_says_so() -> None:
    with xvfb("1600x1000x24") as display:
        got = place(display)
    assert len(got["screens"]) == 1 and got["full"] is False  # type: ignore[arg-type]
    assert "one screen" in str(got["what"])


def test_without_a_display_the_studio_says_so_and_runs_offscreen(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmre",
            "studio",
            "--sim",
            "--drill",
            "stance",
            "--seconds",
            "3",
            "--no-sound",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no display" in proc.stderr and "offscreen" in proc.stderr and "Traceback" not in proc.stderr
    assert "nmre studio: single_leg_stance" in proc.stderr  # the session ran to its end

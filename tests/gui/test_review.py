"""Reviewing a recording with a timeline to scrub: what the screens show at the cursor is what the session computed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtWidgets

from nmre.core import kinds
from nmre.gui.app import StudioOptions
from nmre.gui.review import load_review, review_window

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO / "src"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "squat.xdf"
    proc = subprocess.run(
        [sys.executable, "-m", "nmre", "demo", "--exercise", "squat", "--reps", "5", "--record", str(path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path


def test_scrubbing_shows_the_session_as_it_was_at_the_cursor(
    recording: Path, qapp: QtWidgets.QApplication
) -> None:
    session, tape = load_review(recording)
    assert session.drill == "squat" and tape.duration > 10.0
    rep_ends = [e.time for e in tape.events if e.kind == kinds.REP_END]
    assert len(rep_ends) == 5, "the recording went through its drill: every rep found again"
    review = review_window(session, StudioOptions(replay=str(recording), sound=False), qapp, tape)
    review.dashboard.show()
    review.patient.show()
    try:
        mid = 0.5 * (rep_ends[1] + rep_ends[2])
        review.seek(mid)
        assert review.counters.reps == 2
        assert review.slider.value() == round(mid * 10)
        # the traces end at the cursor, not at the end of the recording
        knee = review.dashboard.traces.curves[("rule.squat_depth", 0)]
        x, _ = knee.getData()
        assert x is not None and x.size and -0.05 <= float(np.nanmax(x)) <= 0.0
        # the patient picture is the feedback state the patient saw then
        shown = tape.feedback_at(mid)
        assert review.ring.feedback is shown and review.patient.scene.overlay is None
        # back to the start: nothing counted yet; the slider moves the cursor too
        review.slider.setValue(10)
        assert review.tape.cursor == pytest.approx(1.0) and review.counters.reps == 0
        review.seek(tape.duration)
        assert review.counters.reps == 5
        assert review.counters.on_target + review.counters.corrections >= 1
        # Play from the end starts again at the beginning and runs at the recording's pace
        review.play_button.setChecked(True)
        assert review.tape.cursor == 0.0
        qapp.processEvents()
        review.play_button.setChecked(False)
    finally:
        review.dashboard.close()
        review.patient.close()


@pytest.mark.slow
def test_the_command_reviews_a_recording_and_refuses_what_is_not_one(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "shots"
    cmd = [sys.executable, "-m", "nmre", "studio", "--replay", str(recording)]
    proc = subprocess.run(
        [*cmd, "--seconds", "6", "--screenshot", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cursor"] == 6.0 and summary["drill"] == "squat"
    assert (out / "dashboard.png").stat().st_size > 10_000 and (out / "patient.png").stat().st_size > 5_000
    bad = tmp_path / "notes.xdf"
    bad.write_text("not a recording\n")
    for path, words in ((tmp_path / "missing.xdf", "no such file"), (bad, "XDF")):
        proc = subprocess.run(
            [sys.executable, "-m", "nmre", "studio", "--replay", str(path), "--screenshot", str(out)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr[-1500:]
        assert words in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_the_patient_gauge_judges_a_rep_by_its_peak_and_says_nothing_between_reps(
    recording: Path, qapp: QtWidgets.QApplication
) -> None:
    """Standing between squats the gauge said "Lower" in orange under the "Good depth" cue, and coming up from a
    good squat it said "Lower" again: the band is the peak's (squat_depth: max knee flexion over the rep)."""
    from nmre.gui.patient import _direction, _inside

    session, tape = load_review(recording)
    starts = [e.time for e in tape.events if e.kind == kinds.REP_START]
    ends = [e for e in tape.events if e.kind == kinds.REP_END]
    depth = {e.payload["rep"]: e.payload for e in tape.events if e.kind == "rule.squat_depth"}
    assert session.presentation.per_unit and session.presentation.stat == "max"
    review = review_window(session, StudioOptions(replay=str(recording), sound=False), qapp, tape)
    try:
        # between rep 1 and rep 2: the level, no verdict
        review.seek(0.5 * (ends[0].time + starts[1]))
        sc = review.patient.scene
        assert not review.counters.unit_open and math.isnan(sc.judged) and sc.value < sc.lo
        assert _inside(sc.judged, sc.lo, sc.hi) is None
        # on the way up from rep 1, whose peak was in the band: judged on that peak, not on the knee now
        assert depth[1]["ok"]
        review.seek(ends[0].time - 0.08)
        sc = review.patient.scene
        assert review.counters.unit_open and sc.value < sc.lo
        assert sc.judged == pytest.approx(ends[0].payload["peak"], abs=1.0)
        assert _inside(sc.judged, sc.lo, sc.hi) is True
        # on the way down in rep 2, before the band: the direction to go
        review.seek(starts[1] + 0.3)
        sc = review.patient.scene
        assert review.counters.unit_open and sc.judged < sc.lo and _direction(sc, sc.judged) == "Lower"
    finally:
        review.dashboard.close()
        review.patient.close()


def test_a_review_screenshot_shows_the_units_scales_and_recorded_targets(
    recording: Path, qapp: QtWidgets.QApplication, tmp_path: Path
) -> None:
    """Screenshots taken before the slow timer's first tick showed every angle plot on its 0..1 start scale
    with no unit, and the targets panel of a review was empty."""
    session, tape = load_review(recording)
    review = review_window(session, StudioOptions(replay=str(recording), sound=False), qapp, tape)
    try:
        review.seek(0.5 * tape.duration)
        review.screenshots(tmp_path)
        knee = review.dashboard.traces.plots["rule.squat_depth"]
        assert knee.getAxis("left").labelText == "deg"
        lo, hi = knee.viewRange()[1]
        assert lo < 10.0 and hi > 80.0  # the knee's range (0-90 deg) and the 75-115 deg band, not 0..1
        form = review.dashboard.targets_form
        rows = [
            form.itemAt(i, QtWidgets.QFormLayout.ItemRole.FieldRole).widget().text()
            for i in range(form.rowCount())
        ]
        assert any(r.startswith("min 75 deg · max 115 deg") for r in rows), rows
        assert all(r.endswith("(as recorded)") for r in rows)
    finally:
        review.dashboard.close()
        review.patient.close()

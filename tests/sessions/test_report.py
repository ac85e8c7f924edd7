"""Reports: pages that render, are neither blank nor clipped, and say what the session did."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nmre.core.model import Event
from nmre.errors import ConfigError, StoreError
from nmre.sessions.report import mdc95, progress_data, progress_report, session_data, session_report
from nmre.sessions.store import open_store


def nmre(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=180, cwd=cwd
    )


def _pages(pdf, tmp_path):
    """The PDF's pages rendered to PNG by poppler (an independent renderer), as RGB arrays."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils, installed by scripts/setup-system.sh) is not on this machine")
    from PIL import Image

    stem = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(stem)], check=True)
    files = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def _check_pages(pages):
    for k, img in enumerate(pages, start=1):
        ink = (img < 200).any(axis=2)
        h, w = ink.shape
        body = ink[int(0.12 * h) : int(0.95 * h)]  # below the page's title: the content
        assert body.mean() > 0.003, f"page {k} is blank ({body.mean():.4f} of its body inked)"
        mh, mw = int(0.02 * h), int(0.025 * w)
        edges = np.concatenate(
            [ink[:mh].ravel(), ink[-mh:].ravel(), ink[:, :mw].ravel(), ink[:, -mw:].ravel()]
        )
        assert not edges.any(), f"page {k}: something is drawn into the page margin (clipped)"


def _check_figures(data):
    """Every figure's drawn extent lies inside its page (matplotlib's own layout)."""
    import matplotlib.pyplot as plt

    from nmre.sessions.report import _pages as figures

    for k, fig in enumerate(figures(data), start=1):
        fig.canvas.draw()
        tight = fig.get_tightbbox(fig.canvas.get_renderer())
        w, h = fig.get_size_inches()
        assert tight.x0 >= 0 and tight.y0 >= 0 and tight.x1 <= w and tight.y1 <= h, (
            f"figure {k} spills: {tight}"
        )
        plt.close(fig)


def test_a_session_report_from_a_recording(squat_recording, tmp_path):
    path, _ = squat_recording
    data = session_data(path)
    assert {t.signal for t in data.traces} == {
        "angle.knee.r:flexion",
        "angle.knee.r:abduction",
        "angle.trunk:sagittal",
    }
    assert len(data.reps) == 4 and [r.ok for r in data.reps].count(False) == 1
    assert {q["stream"] for q in data.quality} >= {"emg.r", "imu.thigh.r"} and all(
        q["missing"] == 0 for q in data.quality
    )
    html_path, pdf_path = session_report(data, tmp_path / "r")
    text = Path(html_path).read_text(encoding="utf-8")
    assert text.count("<tr class='fix'>") == 1 and text.count("<tr class='ok'>") == 3
    assert "Go a little deeper" in text and "shallow_squat" in text and "emg.r" in text
    pages = _pages(pdf_path, tmp_path)
    assert len(pages) == 4  # summary, signals, errors over time + feedback, reps
    _check_pages(pages)
    _check_figures(data)


def test_a_stored_session_whose_recording_is_gone_still_reports(squat_recording, tmp_path):
    copy = tmp_path / "moved.xdf"
    copy.write_bytes(squat_recording[0].read_bytes())
    with open_store(tmp_path / "s.sqlite") as store:
        sid = store.save_recording(copy)
        store.add_note("knee sore", session=sid)
        copy.unlink()
        data = session_data(store=store, session=sid)
    assert not data.traces and len(data.reps) == 4 and data.patient == "P-0001"
    assert any("not there any more" in n for n in data.notes) and any("knee sore" in n for n in data.notes)
    _, pdf = session_report(data, tmp_path / "gone")
    _check_pages(_pages(pdf, tmp_path))


def test_a_balance_session_reports_windows_and_what_was_not_judged(tmp_path):
    from nmre.demo import DemoOptions, run_demo

    path = tmp_path / "stance.xdf"
    run_demo(DemoOptions(exercise="stance", seconds=40.0, record=str(path)))
    data = session_data(path)
    assert any(r.unit == "window" and r.ok is False for r in data.reps)
    assert any("not judged" in n for n in session_report_notes(data))
    _, pdf = session_report(data, tmp_path / "st")
    _check_pages(_pages(pdf, tmp_path))


def session_report_notes(data):
    return data.notes + [f"not judged: {u}" for r in data.reps for u in r.unjudged]


def _outcome(t, rep, value, lo=75.0):
    return [
        Event(t - 1, "rep.start", "reps", {"rep": rep}),
        Event(t, "rep.end", "reps", {"rep": rep, "start": t - 1, "end": t}),
        Event(
            t,
            "rule.squat_depth",
            "rule.squat_depth",
            {
                "ok": value >= lo,
                "value": value,
                "rep": rep,
                "lo": lo,
                "hi": 115.0,
                "unit": "deg",
                "error": None if value >= lo else "shallow_squat",
            },
        ),
    ]


def _store_with_sessions(tmp_path, series):
    store = open_store(tmp_path / "p.sqlite")
    for k, values in enumerate(series):
        events = [e for i, v in enumerate(values) for e in _outcome(2.0 + 3 * i, i + 1, v)]
        store.save_session("P-0009", events, drill="squat", started=f"2026-0{k + 1}-01T10:00:00+00:00")
    return store


def test_progress_marks_changes_beyond_mdc95_from_the_patients_own_reps(tmp_path):
    series = [[80, 82, 78, 81], [81, 79, 83, 80], [90, 92, 88, 91]]  # the third session is deeper
    store = _store_with_sessions(tmp_path, series)
    p = progress_data(store, "P-0009")
    (t,) = p.trends
    assert t.rule == "squat_depth" and t.means == [float(np.mean(s)) for s in series]
    # independent: pooled within-session SD, then 1.96 * SD * sqrt(1/k1 + 1/k2)
    sw = math.sqrt(sum(np.var(s, ddof=1) for s in series) / len(series))
    assert t.sem_single == pytest.approx(sw)
    mdc = 1.96 * sw * math.sqrt(1 / 4 + 1 / 4)
    assert mdc == pytest.approx(mdc95(sw / 2))  # = 1.96 * sqrt(2) * SEM of a 4-rep mean
    assert [c["mdc95"] for c in t.changes] == pytest.approx([mdc, mdc])
    assert [c["exceeds"] for c in t.changes] == [False, True]
    assert t.changes[1]["exceeds_first"] is True
    html_path, pdf = progress_report(p, tmp_path / "prog")
    assert "exceeds" in Path(html_path).read_text(encoding="utf-8")
    _check_pages(_pages(pdf, tmp_path))
    store.close()


def test_progress_with_a_published_sem(tmp_path):
    store = _store_with_sessions(tmp_path, [[80, 82], [84, 85]])
    p = progress_data(store, "P-0009", published_sem={"squat_depth": (1.0, "a published value")})
    (t,) = p.trends
    assert t.sem_source == "a published value" and t.changes[0]["mdc95"] == pytest.approx(1.96 * math.sqrt(2))
    assert t.changes[0]["exceeds"] is True  # 3.5 deg > 2.77 deg
    with pytest.raises(StoreError, match="no patient"):
        progress_data(store, "P-404")
    with pytest.raises(ConfigError, match="expected one of P-0009's drills"):
        progress_data(store, "P-0009", drill="stance")
    store.close()


def test_cli_report_and_progress(squat_recording, tmp_path):
    db = str(tmp_path / "c.sqlite")
    assert nmre("sessions", "--store", db, "--save", str(squat_recording[0])).returncode == 0
    r = nmre("report", "1", "--store", db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "session-1.pdf").is_file() and (tmp_path / "session-1.html").is_file()
    f = nmre("report", str(squat_recording[0]), "--out", str(tmp_path / "file"))
    assert f.returncode == 0 and (tmp_path / "file.pdf").is_file()
    pr = nmre("progress", "P-0001", "--store", db, "--out", str(tmp_path / "prog"))
    assert pr.returncode == 0, pr.stderr
    for args, msg in (
        (["report", "7", "--store", db], "no session 7"),
        (["report", str(tmp_path / "none.xdf")], "expected a recording, got no file"),
        (["progress", "P-404", "--store", db], "no patient 'P-404'"),
        (["progress", "P-0001", "--store", db, "--sem", "depth"], "expected CHECK=VALUE"),
        (["report", "1", "--store", db, "--out", str(tmp_path / "no" / "x")], "expected a writable folder"),
    ):
        bad = nmre(*args)
        assert bad.returncode == 2, (args, bad.stdout)
        assert msg in bad.stderr and "Traceback" not in bad.stderr

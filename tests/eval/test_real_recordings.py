"""Real recordings (issue 9.5): the drills count what a person counts on the UCI goniometer traces.

The person's counts (``nmre.eval.real.UCI_BY_EYE``, written up in docs/eval-uci.md) are checked here
twice: against the raw trace with a plain hysteresis count (so the written numbers cannot drift from
the data), and against the drills replaying the imported recordings.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nmre.eval.real import ANGLE_AGREEMENT, MYO_BY_EYE, UCI_BY_EYE, ByEye, data_dir, run_myo, run_uci

DOC = Path(__file__).resolve().parents[2] / "docs" / "eval-uci.md"
UCI = data_dir() / "uci-lower-limb"


def _raw(name: str) -> np.ndarray:
    return np.loadtxt(UCI / f"{name}.txt", skiprows=7)[:, 4]


def _excursions(angle: np.ndarray, seated: bool) -> list[float]:
    """Extreme angle of each excursion away from rest, by a plain two-threshold count on the raw trace.

    Seated extension goes from bent (55-88 deg) towards straight: an excursion starts below 35 deg
    and ends above 45; standing flexion goes from straight up to 90-120: starts above 60, ends below 40.
    """
    out: list[float] = []
    inside, extreme = False, 0.0
    for a in angle:
        enter = a < 35.0 if seated else a > 60.0
        leave = a > 45.0 if seated else a < 40.0
        if not inside and enter:
            inside, extreme = True, a
        elif inside:
            extreme = min(extreme, a) if seated else max(extreme, a)
            if leave:
                out.append(float(extreme))
                inside = False
    if inside:
        out.append(float(extreme))
    return out


@pytest.mark.parametrize("eye", UCI_BY_EYE, ids=lambda e: e.file)
def test_the_person_s_count_holds_on_the_raw_trace(eye: ByEye) -> None:
    got = _excursions(_raw(eye.file), seated=eye.quantity == "knee_flexion_min")
    assert len(got) == eye.count
    np.testing.assert_allclose(got, eye.extremes, atol=1.5)


@pytest.mark.parametrize("eye", UCI_BY_EYE, ids=lambda e: e.file)
def test_each_panel_read_by_eye_holds_one_rep_and_its_numeric_check(eye: ByEye) -> None:
    """The panels the person read (one rep each): the raw extreme inside each is the doc's numeric check."""
    angle = _raw(eye.file)
    t = np.arange(angle.shape[0]) / 1000.0
    seated = eye.quantity == "knee_flexion_min"
    assert len(eye.spans) == eye.count
    row = next(line for line in DOC.read_text().splitlines() if line.startswith(f"| {eye.file} |"))
    checked = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", row.split("|")[5])]
    extremes = []
    for a, b in eye.spans:
        seg = angle[(t >= a) & (t < b)]
        assert len(_excursions(seg, seated)) == 1, f"{eye.file} {a}-{b} s: not exactly one rep"
        extremes.append(float(seg.min() if seated else seg.max()))
    np.testing.assert_allclose(extremes, checked, atol=0.051)
    np.testing.assert_allclose(extremes, eye.extremes, atol=1.0)  # by eye to about 1 deg


def test_the_documented_counts_are_the_ones_held() -> None:
    text = DOC.read_text()
    for eye in UCI_BY_EYE:
        row = next(line for line in text.splitlines() if line.startswith(f"| {eye.file} |"))
        assert f"**{eye.count}**" in row
        nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", row.split("|")[4])]
        assert nums == list(eye.extremes)


@pytest.mark.parametrize("eye", UCI_BY_EYE, ids=lambda e: e.file)
def test_the_drill_counts_what_the_person_counts(eye: ByEye) -> None:
    r = run_uci(eye)
    if not r.ran:
        pytest.skip(r.reason)
    assert r.count == eye.count, f"{eye.drill} counted {r.count} reps, a person counts {eye.count}"
    assert len(r.values) == eye.count, f"{eye.quantity} reported for {len(r.values)} of {eye.count} reps"
    worst = max(abs(a - b) for a, b in zip(r.values, eye.extremes, strict=True))
    assert worst <= ANGLE_AGREEMENT, f"{eye.quantity} {r.values} vs by eye {list(eye.extremes)}"


@pytest.mark.xfail(
    strict=True,
    reason="emg_contraction counts 0 contractions in the 2.5 s, 200 Hz LibEMG Myo recording where a person counts 1 "
    "(issue 9.5 miss): the drill counts on the envelope in % of its reference contraction, and the recording is "
    "shorter than the calibration the drill asks for (1 s readiness, 2 s of quiet rest: the recording has 0.95 s, "
    "then a reference contraction held 2.5 s: its burst lasts 0.5 s). The readiness gate no longer fails it "
    "(it read the Myo's counts as millivolts: '2000 uV of noise, electrode loose')",
)
def test_the_myo_recording_replays_through_the_contraction_drill() -> None:
    r = run_myo()
    if not r.ran:
        pytest.skip(r.reason)
    assert r.count == MYO_BY_EYE.count
    assert abs(r.values[0] - MYO_BY_EYE.extremes[0]) <= 0.1

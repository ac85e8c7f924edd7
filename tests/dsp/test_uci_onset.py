"""Real data: quadriceps EMG onset relative to knee-extension onset (UCI "EMG dataset in Lower Limb").

Recomputes the finding of docs/emg-onset-uci.md with the streaming nmre processors.
Run this file as a script to print the per-rep table:
``.venv/bin/python tests/dsp/test_uci_onset.py``.

Data: Sanchez & Sotelo, UCI Machine Learning Repository, CC BY 4.0 (see shared/data/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from nmre.core.model import Block
from nmre.dsp.emg import ContractionDetector, EmgChain, LinearEnvelope, OnsetDetector, Rectifier, Tkeo
from nmre.dsp.filters import SosFilter
from nmre.dsp.guard import Guard
from nmre.dsp.pipeline import Pipeline

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "uci-lower-limb"
FS = 1000.0  # Hz, EMG and (resampled) goniometer
BLOCK = 20  # samples per streamed block (20 ms)
MUSCLES = {"VM": 2, "RF": 0}  # file columns: RF, BF, VM, ST, goniometer
K_ON, K_OFF = 5.0, 2.0
SEARCH = (-0.5, 0.5)  # s around movement onset in which the first EMG onset is taken


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(emg (2, n) mV rows VM, RF; knee angle (n,) deg) of ``<name>.txt``."""
    d = np.loadtxt(DATA / f"{name}.txt", skiprows=7)
    return np.ascontiguousarray(d[:, list(MUSCLES.values())].T), d[:, 4]


def extension_onsets(angle: np.ndarray) -> np.ndarray:
    """Sample indices where each knee extension starts (offline reference from the goniometer).

    Angle low-passed (Butterworth 2nd order, 6 Hz, zero-phase), differentiated; an
    extension is a run of velocity below -20 deg/s over which the knee extends by
    more than 20 deg; its onset is the last sample before the velocity peak where
    the speed was below 5 % of that peak.
    """
    sm = signal.sosfiltfilt(signal.butter(2, 6.0, fs=FS, output="sos"), angle)
    v = np.gradient(sm) * FS
    moving = (v < -20.0).astype(int)
    starts = np.flatnonzero(np.diff(moving) == 1) + 1
    ends = np.flatnonzero(np.diff(moving) == -1) + 1
    out = []
    for s in starts:
        later = ends[ends > s]
        if not later.size or angle[s] - angle[later[0]] < 20.0:
            continue
        peak = s + int(np.argmin(v[s : later[0]]))
        o = peak
        while o > 0 and v[o] < 0.05 * v[peak]:
            o -= 1
        out.append(o)
    return np.array(out, dtype=int)


def emg_onsets(emg: np.ndarray, rest_end: int) -> list[np.ndarray]:
    """Onset times (s) per muscle from the streaming nmre chain, fed in BLOCK-sample blocks.

    Guard → band-pass 20–450 Hz → TKEO → rectify → 2nd-order low-pass 30 Hz, then an
    OnsetDetector (k_on 5, k_off 2, T_on 25 ms, T_off 50 ms, gaps ≤ 2 ms) whose
    baseline (median, 1.4826·MAD) comes from the conditioned rest signal from 0.2 s to ``rest_end``.
    """
    n_ch, n = emg.shape
    cond = Pipeline(
        [
            Guard(n_ch),
            SosFilter.bandpass(20.0, 450.0, FS, n_ch),
            Tkeo(n_ch),
            Rectifier(n_ch),
            LinearEnvelope(n_ch, FS, 30.0),
        ]
    )
    times = np.arange(n) / FS
    c = np.concatenate(
        [
            cond.process(Block("emg", times[i : i + BLOCK], emg[:, i : i + BLOCK])).values
            for i in range(0, n, BLOCK)
        ],
        axis=1,
    )
    det = OnsetDetector(n_ch, FS, k_on=K_ON, k_off=K_OFF, t_on=0.025, t_off=0.05, max_gap=0.002)
    det.calibrate(c[:, 200:rest_end])
    for i in range(0, n, BLOCK):
        det.process(Block("emg", times[i : i + BLOCK], c[:, i : i + BLOCK]))
    events = det.pop_events()
    return [
        np.array([e.time for e in events if e.kind == "emg.onset" and e.payload["channel"] == ch])
        for ch in range(n_ch)
    ]


def onset_lags(name: str) -> dict[str, list[float]]:
    """Per muscle, EMG onset minus extension onset (ms) for every rep (nan: no onset in SEARCH)."""
    emg, angle = load(name)
    moves = extension_onsets(angle)
    onsets = emg_onsets(emg, int(moves[0] - 0.3 * FS))
    out: dict[str, list[float]] = {}
    for ch, muscle in enumerate(MUSCLES):
        lags = []
        for m in moves / FS:
            o = onsets[ch][(onsets[ch] >= m + SEARCH[0]) & (onsets[ch] <= m + SEARCH[1])]
            lags.append(round(float(o[0] - m) * 1000.0, 1) if o.size else float("nan"))
        out[muscle] = lags
    return out


#: Contractions of the muscles that do each movement, counted by a person on the traces
#: (docs/emg-onset-uci.md, "Counting contractions"): file -> {column: count}.
PERSON_COUNTS = {
    "5Nsen": {"RF": 4, "VM": 4},
    "3Asen": {"RF": 4, "VM": 4},
    "5Npie": {"BF": 5, "ST": 5},
    "3Apie": {"BF": 3, "ST": 3},
}
COLUMNS = {"RF": 0, "BF": 1, "VM": 2, "ST": 3}


def contraction_counts(name: str, cal_start: float, **settings: float) -> dict[str, int]:
    """Contractions per muscle: EmgChain 6 Hz envelope -> ContractionDetector (defaults), 20 ms blocks.

    The detector is calibrated on the envelope from ``cal_start`` to ``cal_start + 1`` s (wherever that
    falls: rest, a contraction, a ramp), then the whole recording is replayed through it, as a replay
    with a stored calibration record does.
    """
    d = np.loadtxt(DATA / f"{name}.txt", skiprows=7)
    x = np.ascontiguousarray(d[:, :4].T)
    t = np.arange(x.shape[1]) / FS
    env = EmgChain(4, FS).process(Block("emg", t, x)).values
    det = ContractionDetector(4, FS, **settings)  # type: ignore[arg-type]
    a, b = int(cal_start * FS), int((cal_start + 1.0) * FS)
    det.calibrate(env[:, a:b])
    for i in range(0, x.shape[1], BLOCK):
        det.process(Block("emg", t[i : i + BLOCK], env[:, i : i + BLOCK]))
    return {m: int(det.count[c]) for m, c in COLUMNS.items()}


needs_data = pytest.mark.skipif(
    not (DATA / "5Nsen.txt").exists(), reason=f"UCI lower-limb recordings not found at {DATA}"
)


@needs_data
def test_goniometer_segmentation_finds_every_extension() -> None:
    assert len(extension_onsets(load("5Nsen")[1])) == 4
    assert len(extension_onsets(load("3Asen")[1])) == 4


@needs_data
def test_normal_subject_vm_and_rf_precede_extension() -> None:
    lags = onset_lags("5Nsen")
    for muscle in ("VM", "RF"):
        lag = np.array(lags[muscle])
        assert np.sum((lag >= -150.0) & (lag <= -40.0)) == 4, (muscle, lag)  # 4 of 4 reps, 40–150 ms early


@needs_data
def test_knee_abnormality_subject_rf_lags_and_vm_precedes_extension() -> None:
    lags = onset_lags("3Asen")
    rf = np.array(lags["RF"])
    assert np.sum(rf > 100.0) >= 3, rf  # RF turns on > 100 ms after extension onset in >= 3 of 4 reps
    vm = np.array(lags["VM"])
    assert np.sum((vm >= -300.0) & (vm <= -40.0)) >= 3, vm  # VM still precedes, 40–300 ms early, in >= 3 of 4


@needs_data
@pytest.mark.parametrize("name", sorted(PERSON_COUNTS))
def test_contraction_counts_match_a_person_wherever_the_calibration_second_falls(name: str) -> None:
    for cal_start in (0.3, 1.3, 2.3, 3.3, 4.3):  # rest, the first contraction, ramps, rest between reps
        got = contraction_counts(name, cal_start)
        assert {m: got[m] for m in PERSON_COUNTS[name]} == PERSON_COUNTS[name], (name, cal_start, got)


@needs_data
def test_a_fixed_baseline_is_what_made_the_count_depend_on_luck() -> None:
    """The same detector with its baseline frozen at the calibration gets counts wrong on some windows."""
    wrong = 0
    for name, truth in PERSON_COUNTS.items():
        for cal_start in (0.3, 1.3, 2.3, 3.3, 4.3):
            got = contraction_counts(name, cal_start, horizon=None)  # type: ignore[arg-type]
            wrong += sum(got[m] != n for m, n in truth.items())
    assert wrong >= 10


if __name__ == "__main__":
    for name in PERSON_COUNTS:
        for cal_start in (0.3, 1.3, 2.3, 3.3, 4.3):
            print(
                name,
                cal_start,
                contraction_counts(name, cal_start),
                "fixed baseline:",
                contraction_counts(name, cal_start, horizon=None),
            )  # type: ignore[arg-type]
    for name in ("5Nsen", "3Asen"):
        lags = onset_lags(name)
        for muscle, lag in lags.items():
            a = np.array(lag)
            print(f"{name} {muscle}: {lag}  mean {np.nanmean(a):.0f} ms, SD {np.nanstd(a, ddof=1):.0f} ms")

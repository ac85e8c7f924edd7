"""Onset / contraction detection: a slow reference, detecta, streaming == batch, robustness, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from nmre.core.model import Block, Channel, StreamInfo, StreamKind
from nmre.dsp.emg import EmgChain
from nmre.dsp.onset import ContractionDetector, OnsetDetector, quiet_baseline, robust_baseline
from nmre.errors import ConfigError, InputError, StateError

FS = 1000.0


def _block(x: np.ndarray, fs: float = FS, t0: int = 0) -> Block:
    return Block("s", (t0 + np.arange(x.shape[1])) / fs, x)


def _stream(det: OnsetDetector, x: np.ndarray, sizes: list[int], fs: float = FS) -> tuple[np.ndarray, list]:
    ys, ev, i = [], [], 0
    for size in [*sizes, x.shape[1]]:
        j = min(x.shape[1], i + size)
        ys.append(det.process(Block("s", np.arange(i, j) / fs, x[:, i:j].copy())).values)
        ev += [e for e in det.pop_events() if e.kind != "dsp.bad_input"]  # NaN inputs are said (test_poison)
        i = j
        if i >= x.shape[1]:
            break
    return np.concatenate(ys, axis=1), ev


# --- slow, obviously correct reference of the whole algorithm ----------------------------------


def reference_bursts(
    x: np.ndarray,
    fs: float,
    *,
    k_on: float,
    k_off: float,
    n_on: int,
    n_off: int,
    max_gap: int,
    baseline: tuple[float, float] | None,
    sub_w: int | None,
    hcap: int,
    factor: float,
    confirm: int = 1,
    max_drop: float = 1e4,
    on_level: float = -math.inf,
    off_level: float = -math.inf,
    f_on: float = 0.0,
    f_off: float = 0.0,
    ref_fixed: float | None = None,
    sm_w: int = 1,
) -> list[tuple[str, int, int]]:
    """One channel, sample by sample, with lists and np.median: (kind, run start, decision) per event."""
    mu, sd = baseline if baseline is not None else (math.nan, math.nan)
    history: list[tuple[float, float]] = []
    running_peak = 0.0
    seen: list[float] = []
    events: list[tuple[str, int, int]] = []
    active = False
    run: list[int] = []  # sample indices of the candidate run (hits and tolerated dips)
    dips = 0
    for i, v in enumerate(x):
        seen.append(v if math.isfinite(v) else 0.0)
        if ref_fixed is None and (f_on > 0 or f_off > 0):
            last = seen[-sm_w:]
            running_peak = max(running_peak, sum(last) / len(last))
        ref = ref_fixed if ref_fixed is not None else (running_peak if (f_on > 0 or f_off > 0) else 0.0)
        on = mu + k_on * sd if math.isfinite(mu) else -math.inf
        off = mu + k_off * sd if math.isfinite(mu) else -math.inf
        on, off = max(on, on_level), max(off, off_level)
        if math.isfinite(on):
            on, off = max(on, f_on * ref), max(off, f_off * ref)
            hit = (v > on) if not active else (v < off)
            if hit:
                run.append(i)
                dips = 0
                if len(run) >= (n_off if active else n_on):
                    events.append(("offset" if active else "onset", run[0], i))
                    active = not active
                    run, dips = [], 0
            elif run:
                dips += 1
                if dips > max_gap:
                    run, dips = [], 0
                else:
                    run.append(i)
        if sub_w is not None and (i + 1) % sub_w == 0:
            w = x[i + 1 - sub_w : i + 1][:: max(1, int(fs // 250))]  # the kept samples of the sub-window
            if np.all(np.isfinite(w)):
                m = float(np.median(w))
                history.append((m, 1.4826 * float(np.median(np.abs(w - m)))))
            else:
                history.append((math.inf, math.nan))
            history = history[-hcap:]
            distinct = sorted({h[0] for h in history})
            if len(distinct) < confirm or not math.isfinite(distinct[confirm - 1]):
                continue
            best = next(h for h in history if h[0] == distinct[confirm - 1])
            if best[0] <= 0 or (math.isfinite(mu) and best[0] * max_drop < mu):
                continue  # a dead signal, not rest
            if (
                not math.isfinite(mu)
                or best[0] * factor < mu
                or (len(history) == hcap and best[0] > factor * mu)
            ):
                mu, sd = best
    return events


def _bursty(rng: np.random.Generator, n: int, n_bursts: int) -> np.ndarray:
    c = np.abs(rng.normal(0.0, 1.0, n)) + 0.5
    for start in rng.integers(0, n - 300, n_bursts):
        c[start : start + rng.integers(5, 300)] += rng.uniform(2, 20)
    return c


CASES = {
    "fixed baseline": dict(baseline=(1.0, 0.5), horizon=None),
    "tracked from nothing": dict(baseline=None, horizon=0.4, baseline_window=0.1),
    "tracked from a bad calibration": dict(baseline=(6.0, 1.0), horizon=0.3, baseline_window=0.05),
    "levels + running peak": dict(
        baseline=(1.0, 0.5),
        horizon=0.5,
        baseline_window=0.1,
        on_fraction=0.3,
        off_fraction=0.1,
        peak_window=0.03,
    ),
    "fixed reference": dict(
        baseline=None, horizon=0.2, baseline_window=0.05, reference=20.0, on_fraction=0.2
    ),
    "absolute levels only": dict(horizon=None, on_level=4.0, off_level=2.0),
    "floor confirmed twice": dict(baseline=(6.0, 1.0), horizon=0.3, baseline_window=0.05, confirm=2),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", range(4))
def test_detector_matches_slow_reference(case: str, seed: int) -> None:
    kw = dict(CASES[case])
    rng = np.random.default_rng(seed)
    n = 4000
    x = _bursty(rng, n, 12)
    x[rng.integers(0, n, 5)] = np.nan  # NaN samples are dips and spoil their sub-window
    det = OnsetDetector(1, FS, k_on=3.0, k_off=1.5, t_on=0.01, t_off=0.02, max_gap=0.003, **kw)  # type: ignore[arg-type]
    y, ev = _stream(det, x[None, :], [])
    base = kw.get("baseline")
    sub_w = None if kw.get("horizon") is None else round(kw["baseline_window"] * FS)  # type: ignore[operator]
    hcap = 1 if kw.get("horizon") is None else round(kw["horizon"] / kw["baseline_window"])  # type: ignore[operator]
    ref = reference_bursts(
        x,
        FS,
        k_on=3.0,
        k_off=1.5,
        n_on=10,
        n_off=20,
        max_gap=3,
        baseline=base,  # type: ignore[arg-type]
        sub_w=sub_w,
        hcap=hcap,
        factor=2.0,
        confirm=kw.get("confirm", 1),  # type: ignore[arg-type]
        on_level=kw.get("on_level", -math.inf),  # type: ignore[arg-type]
        off_level=kw.get("off_level", -math.inf),  # type: ignore[arg-type]
        f_on=kw.get("on_fraction", 0.0),  # type: ignore[arg-type]
        f_off=kw.get("off_fraction", 0.0),  # type: ignore[arg-type]
        ref_fixed=kw.get("reference"),  # type: ignore[arg-type]
        sm_w=round(kw.get("peak_window", 0.25) * FS),  # type: ignore[operator]
    )
    got = [(e.kind.split(".")[1], round(e.time * FS), round(e.detected_at * FS)) for e in ev]
    assert got == ref
    assert len(ref) >= 6
    state = np.zeros(n)
    for kind, _, k in ref:
        state[k:] = 1.0 if kind == "onset" else 0.0
    assert np.array_equal(y[0], state)
    for on, off in zip(ev[::2], ev[1::2], strict=False):
        assert off.payload["duration"] == pytest.approx(off.time - on.time)
        i0, i1 = round(on.time * FS), round(off.detected_at * FS)
        assert off.payload["peak"] == np.nanmax(
            x[i0 : i1 + 1]
        )  # the largest sample until the offset was decided


def test_detector_agrees_with_detecta_on_clean_bursts() -> None:
    """detecta.detect_onset (M. Duarte) merges gaps <= n_below and drops runs shorter than n_above.

    With one threshold, no tolerated dips and t_off = n_below + 1 samples the state machine
    does the same on bursts that are either long (>= n_above) or isolated short twitches."""
    detecta = pytest.importorskip("detecta")
    rng = np.random.default_rng(3)
    n_above, n_below = 25, 8
    x = np.zeros(8000)
    t = 100
    while t < 7800:
        if rng.uniform() < 0.3:  # an isolated twitch, shorter than n_above
            t += n_below + 1
            x[t : t + int(rng.integers(1, n_above))] = rng.uniform(2.0, 5.0)
            t += n_above + n_below + 1
            continue
        length = int(rng.integers(n_above, 150))
        x[t : t + length] = rng.uniform(2.0, 5.0)
        t += length + int(rng.integers(1, 2 * n_below))  # about half the gaps merge
    det = OnsetDetector(
        1,
        FS,
        k_on=0.0,
        k_off=0.0,
        t_on=n_above / FS,
        t_off=(n_below + 1) / FS,
        max_gap=0.0,
        baseline=(1.5, 0.0),
        horizon=None,
    )
    _, ev = _stream(det, x[None, :], [])
    ons = [round(e.time * FS) for e in ev if e.kind == "emg.onset"]
    offs = [round(e.time * FS) for e in ev if e.kind == "emg.offset"]
    ref = detecta.detect_onset(x, threshold=1.5, n_above=n_above, n_below=n_below)
    assert len(ref) > 20
    assert ons == list(ref[:, 0])
    assert offs == list(ref[: len(offs), 1] + 1)  # our offset is the first sample back at rest
    assert len(offs) in (len(ref), len(ref) - 1)


# --- streaming == batch ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 400), max_size=30),
    case=st.sampled_from(sorted(CASES)),
    seed=st.integers(0, 3),
)
def test_streaming_equals_one_call(sizes: list[int], case: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.stack([_bursty(rng, 3000, 8), _bursty(rng, 3000, 8)])
    kw = CASES[case]
    one = OnsetDetector(2, FS, t_on=0.01, t_off=0.03, **kw)  # type: ignore[arg-type]
    many = OnsetDetector(2, FS, t_on=0.01, t_off=0.03, **kw)  # type: ignore[arg-type]
    y1, e1 = _stream(one, x, [])
    y2, e2 = _stream(many, x, sizes)
    assert np.array_equal(y1, y2)
    assert [e.to_dict() for e in e1] == [e.to_dict() for e in e2]
    assert np.array_equal(one.thresholds[0], many.thresholds[0], equal_nan=True)


def test_default_settings_are_the_documented_ones() -> None:
    """Defaults as the class documents them (reference/dsp.md §1.4): on at mu + 3 sigma held 25 ms, off
    at mu + 2 sigma (k_off < k_on: hysteresis) held 50 ms, dips of up to 2 ms inside a run."""
    mu, sigma = 1.0, 0.5
    det = OnsetDetector(1, FS, baseline=(mu, sigma), horizon=None)
    on, off = det.thresholds
    assert (on[0], off[0]) == (mu + 3.0 * sigma, mu + 2.0 * sigma)
    x = np.full(1000, mu)
    x[200:500] = mu + 3.5 * sigma  # above on from sample 200
    x[210:212] = mu + 2.5 * sigma  # a 2 ms dip below on inside the qualifying run: tolerated
    x[500:] = mu + 1.5 * sigma  # below off from sample 500
    _, ev = _stream(det, x[None, :], [])
    assert [(e.kind, round(e.time * FS), round(e.detected_at * FS)) for e in ev] == [
        ("emg.onset", 200, 200 + 25 - 1),  # decided when the run spans 25 samples (25 ms)
        ("emg.offset", 500, 500 + 50 - 1),  # 50 samples (50 ms) below off
    ]


def test_reset_forgets_the_session_but_keeps_the_calibration() -> None:
    rng = np.random.default_rng(1)
    x = np.stack([_bursty(rng, 3000, 8)])
    det = ContractionDetector(1, FS, baseline=(1.0, 0.3))
    a = _stream(det, x, [])
    det.reset()
    assert det.count[0] == 0 and det.mu is not None and det.mu[0] == 1.0
    b = _stream(det, x, [])
    assert np.array_equal(a[0], b[0]) and [e.to_dict() for e in a[1]] == [e.to_dict() for e in b[1]]


# --- the count does not depend on where the calibration fell -------------------------------------


def synthetic_emg(seed: int, fs: float = 1000.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Raw EMG (1, n) mV with 5 contractions, low-level pre-activity before the first, slow ramps.

    Band-limited Gaussian noise (20-450 Hz) times an amplitude profile, plus white amplifier
    noise of 5 uV RMS. Rest 0-2.5 s; pre-activity at 4 % of the contraction level from 2.5 s;
    contractions of 1.5-3 s whose rise and fall are linear ramps of 0.4-1.0 s, plateaus
    varying +-30 % (fatigue, effort) with 3 Hz tremor-like modulation; 1.5-3 s of rest between.
    Returns the signal and the true (start, end) of each contraction (ramp start, ramp end).
    """
    rng = np.random.default_rng(seed)
    n = int(36 * fs)  # five contractions end by 4.5 + 5 * 4 + 4 * 3 = 36.5 s at the latest: trimmed below
    t = np.arange(n) / fs
    amp = np.zeros(n)
    truth = []
    start = 4.0 + rng.uniform(0, 0.5)
    level = 0.25 * rng.uniform(0.7, 1.3)
    amp[(t >= 2.5) & (t < start)] = 0.04 * level  # pre-activity before the first burst
    for _ in range(5):
        rise, fall = rng.uniform(0.4, 1.0, 2)
        hold = rng.uniform(1.0, 2.0)
        a = level * rng.uniform(0.7, 1.3)
        end = start + rise + hold + fall
        seg = (t >= start) & (t < end)
        tt = t[seg] - start
        prof = np.minimum.reduce([tt / rise, np.ones_like(tt), (rise + hold + fall - tt) / fall])
        amp[seg] = np.maximum(amp[seg], a * prof * (1 + 0.15 * np.sin(2 * np.pi * 3 * tt)))
        truth.append((start, end))
        start = end + rng.uniform(1.5, 3.0)
    sos = signal.butter(4, [20, 450], "band", fs=fs, output="sos")
    carrier = signal.sosfilt(sos, rng.standard_normal(n + 500))[500:]
    carrier /= carrier.std()
    raw = carrier * amp + rng.normal(0, 0.005, n)
    keep = int((truth[-1][1] + 1.0) * fs)
    return raw[None, :keep], truth


def _from(x: np.ndarray, t0: float, step: int = 20) -> list[Block]:
    """``x`` from ``t0`` s on, in blocks of ``step`` samples, on the session clock."""
    i0 = int(t0 * FS)
    return [
        Block("s", np.arange(i, min(i + step, x.shape[1])) / FS, x[:, i : i + step])
        for i in range(i0, x.shape[1], step)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_contraction_count_does_not_move_with_the_calibration_window(seed: int) -> None:
    """Calibrate on one second, then run: at rest, at rest a second later, on the pre-activity,
    on the pre-activity and the first ramp. The count is the same and right every time; only the
    first onset may move (pre-activity is activity when the baseline was taken at rest)."""
    raw, truth = synthetic_emg(seed)
    env = EmgChain(1, FS).process(_block(raw)).values
    counts = []
    for cal_start in (0.5, 1.5, 2.5, 3.5):
        det = ContractionDetector(1, FS)
        det.calibrate(env[:, int(cal_start * FS) : int((cal_start + 1.0) * FS)])
        ev = []
        for b in _from(env, cal_start + 1.0):
            det.process(b)
            ev += det.pop_events()
        counts.append(int(det.count[0]))
        onsets = [e.time for e in ev if e.kind == "emg.onset"]
        assert 2.4 < onsets[0] < truth[0][1]  # from the pre-activity (2.5 s) on
        for (s, e), o in zip(truth[1:], onsets[1:], strict=True):
            assert s - 0.05 < o < e  # every later onset inside its contraction (a ramp crosses late)
    assert counts == [len(truth)] * 4, counts


@pytest.mark.parametrize("seed", range(4))
def test_onset_count_on_the_timing_path_does_not_move_with_the_calibration_window(seed: int) -> None:
    from nmre.dsp.emg import LinearEnvelope, Rectifier, Tkeo
    from nmre.dsp.filters import SosFilter
    from nmre.dsp.pipeline import Pipeline

    raw, truth = synthetic_emg(seed)
    cond = Pipeline(
        [SosFilter.bandpass(20.0, 450.0, FS, 1), Tkeo(1), Rectifier(1), LinearEnvelope(1, FS, 30.0)]
    )
    c = cond.process(_block(raw)).values
    counts = []
    for cal_start in (0.5, 1.5, 2.5, 3.5):
        det = OnsetDetector(1, FS, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.25, max_gap=0.01)
        det.calibrate(c[:, int(cal_start * FS) : int((cal_start + 1.0) * FS)])
        n = 0
        for b in _from(c, cal_start + 1.0, 16):
            det.process(b)
            n += sum(e.kind == "emg.onset" for e in det.pop_events())
        counts.append(n)
    assert counts == [len(truth)] * 4, counts


def test_a_calibration_on_a_contraction_is_corrected_by_the_first_quiet_stretch() -> None:
    raw, truth = synthetic_emg(0)
    env = EmgChain(1, FS).process(_block(raw)).values
    s = truth[0][0]
    fixed = ContractionDetector(1, FS, horizon=None)
    fixed.calibrate(env[:, int((s + 0.5) * FS) : int((s + 1.5) * FS)])  # the patient was not at rest
    tracked = ContractionDetector(1, FS)
    tracked.calibrate(env[:, int((s + 0.5) * FS) : int((s + 1.5) * FS)])
    _stream(fixed, env, [])
    _stream(tracked, env, [])
    assert fixed.count[0] < len(truth) and tracked.count[0] == len(truth)


def test_a_dropout_held_flat_by_a_guard_is_not_taken_for_rest() -> None:
    """After a guard holds a dropout, the conditioned signal decays to ~0: that is no floor."""
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(0, 1, (1, 6000))) + 1.0
    x[0, 2000:3000] = 1e-12 * np.exp(-np.arange(1000) / 10.0)  # what a TKEO path gives for held input
    x[0, 4000:4300] += 8.0  # a real burst afterwards
    det = OnsetDetector(1, FS, baseline=(1.5, 0.6))
    _, ev = _stream(det, x, [])
    assert det.mu is not None and det.mu[0] == 1.5  # the baseline never dropped to the dead stretch
    assert [e.kind for e in ev] == ["emg.onset", "emg.offset"] and abs(ev[0].time - 4.0) < 0.01


def test_quiet_baseline_picks_the_quietest_window_and_measures_the_spread() -> None:
    rng = np.random.default_rng(2)
    x = np.abs(rng.normal(0, 1, (2, 3000))) + 1.0
    x[0, 1000:2000] += 10.0  # a contraction in the middle of channel 0's "rest"
    mu, sigma, spread = quiet_baseline(x, FS, 0.5)
    seg = x[0, :3000].reshape(6, 500)
    j = int(np.argmin(np.median(seg, axis=1)))
    assert mu[0] == np.median(seg[j])
    assert sigma[0] == pytest.approx(1.4826 * np.median(np.abs(seg[j] - mu[0])))
    assert spread[0] > 5 and spread[1] < 1.2
    m2, s2 = robust_baseline(x[1:, :500])
    assert m2[0] == np.median(x[1, :500]) and s2[0] > 0


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: OnsetDetector(1, FS, k_on=2.0, k_off=3.0), ConfigError),
        (lambda: OnsetDetector(1, FS, k_on=-1.0, k_off=-2.0), ConfigError),
        (lambda: OnsetDetector(1, FS, on_fraction=0.1, off_fraction=0.2), ConfigError),
        (lambda: OnsetDetector(1, FS, on_level=1.0), ConfigError),
        (lambda: OnsetDetector(1, FS, on_level=1.0, off_level=2.0), ConfigError),
        (lambda: OnsetDetector(1, FS, reference=0.0, on_fraction=0.2), ConfigError),
        (lambda: OnsetDetector(2, FS, reference=[1.0, 2.0, 3.0]), ConfigError),
        (lambda: OnsetDetector(1, FS, t_on=0.0), ConfigError),
        (lambda: OnsetDetector(1, FS, t_off=math.nan), ConfigError),
        (lambda: OnsetDetector(1, FS, max_gap=-0.1), ConfigError),
        (lambda: OnsetDetector(1, FS, horizon=0.1, baseline_window=0.5), ConfigError),
        (lambda: OnsetDetector(1, FS, rebaseline=1.0), ConfigError),
        (lambda: OnsetDetector(1, FS, confirm=0), ConfigError),
        (lambda: OnsetDetector(1, FS, confirm=61), ConfigError),
        (lambda: OnsetDetector(1, FS, max_drop=1.5), ConfigError),
        (lambda: OnsetDetector(0, FS), ConfigError),
        (lambda: OnsetDetector(1, 0.0), ConfigError),
        (lambda: OnsetDetector(1, FS, horizon=None).process(_block(np.zeros((1, 3)))), StateError),
        (lambda: OnsetDetector(1, FS, baseline=(np.nan, 1.0)), InputError),
        (lambda: OnsetDetector(2, FS).calibrate(np.ones((3, 100))), InputError),
        (lambda: OnsetDetector(2, FS).process(_block(np.zeros((3, 10)))), InputError),
        (lambda: quiet_baseline(np.ones((1, 100)), FS, 0.5), InputError),
        (lambda: quiet_baseline(np.full((1, 1000), np.nan), FS, 0.5), InputError),
    ],
)
def test_bad_configuration(call, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        call()


def test_without_a_baseline_it_decides_nothing_until_its_first_sub_window() -> None:
    det = ContractionDetector(1, FS)
    x = np.full((1, 499), 50.0)
    y = det.process(_block(x)).values
    assert not y.any() and det.pop_events() == [] and np.isnan(det.thresholds[0][0])
    det.process(_block(np.ones((1, 1)), t0=499))
    assert np.isfinite(det.thresholds[0][0])


def test_output_info_names_the_state_stream() -> None:
    info = StreamInfo(
        "emg.r.envelope", StreamKind.ENVELOPE, (Channel("vmo", "mV"), Channel("vl", "mV")), 1000.0
    )
    out = ContractionDetector(2, FS).output_info(info)
    assert (
        out.id == "emg.r.envelope.active"
        and out.channel_names == ("vmo", "vl")
        and out.channels[0].unit == "1"
    )


# --- onsets at a fraction of each burst's own peak -----------------------------------------------


def _two_muscles(seed: int, lag: float = 0.05) -> tuple[np.ndarray, list[float]]:
    """Raw EMG (2, n): muscle 0 strong, muscle 1 a third of it, same 0.3 s minimum-jerk rise, muscle 1
    ``lag`` s later, both with pre-activity at 20 % of their level over the 0.4 s before; 4 bursts."""
    rng = np.random.default_rng(seed)
    n = int(14 * FS)
    t = np.arange(n) / FS
    amp = np.zeros((2, n))
    starts = [2.0, 5.0, 8.0, 11.0]

    def mjp(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0, 1)
        return u**3 * (10 - 15 * u + 6 * u**2)

    for s0 in starts:
        for ch, (level, d) in enumerate(((0.3, 0.0), (0.1, lag))):
            on = s0 + d
            pre = 0.2 * level * mjp((t - (on - 0.4)) / 0.4)
            burst = level * mjp((t - on) / 0.3)
            off = 1 - mjp((t - (s0 + 1.5)) / 0.2)
            amp[ch] = np.maximum(amp[ch], np.maximum(pre, burst) * off)
    sos = signal.butter(4, [20, 450], "band", fs=FS, output="sos")
    car = signal.sosfilt(sos, rng.standard_normal((2, n + 500)), axis=1)[:, 500:]
    car /= car.std(axis=1, keepdims=True)
    return car * amp + rng.normal(0, 0.003, (2, n)), starts


def test_onsets_at_half_the_own_peak_amplitude_keep_the_lag_between_muscles_of_different_strength() -> None:
    """Three subjects x 4 bursts, the weaker muscle 50 ms later, slow rises and pre-activity (TKEO path)."""
    from nmre.calibration import timing_chain

    def lags(seed: int, **kw: float) -> np.ndarray:
        raw, starts = _two_muscles(seed)
        c = timing_chain(2, FS).process(_block(raw)).values
        det = OnsetDetector(2, FS, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.25, max_gap=0.01, **kw)
        det.calibrate(c[:, 200:1200])
        _, ev = _stream(det, c, [16] * 900)
        on = [[e.time for e in ev if e.kind == "emg.onset" and e.payload["channel"] == ch] for ch in (0, 1)]
        assert len(on[0]) == len(on[1]) == len(starts)
        return np.array(on[1]) - np.array(on[0]) - 0.05

    threshold = np.concatenate([lags(s) for s in range(3)])
    # TKEO is energy (amplitude squared): a quarter of the peak is half the peak amplitude
    half = np.concatenate([lags(s, peak_fraction=0.25) for s in range(3)])
    assert abs(half.mean()) < 0.01 and np.abs(half).max() < 0.045, half  # unbiased, EMG's own spread
    assert threshold.mean() > 0.03, threshold  # a threshold puts the weaker muscle's onset late


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(0, 400), max_size=30))
def test_refined_onsets_stream_like_one_call(sizes: list[int]) -> None:
    rng = np.random.default_rng(4)
    x = np.stack([_bursty(rng, 3000, 8), _bursty(rng, 3000, 8)])
    kw = dict(t_on=0.01, t_off=0.03, baseline=(1.0, 0.5), peak_fraction=0.4, rise_window=0.05)
    _, e1 = _stream(OnsetDetector(2, FS, **kw), x, [])  # type: ignore[arg-type]
    _, e2 = _stream(OnsetDetector(2, FS, **kw), x, sizes)  # type: ignore[arg-type]
    assert [e.to_dict() for e in e1] == [e.to_dict() for e in e2] and len(e1) > 4
    for e in e1:
        if e.kind == "emg.onset":
            assert e.time <= e.payload["threshold_time"] + 0.05 and e.detected_at >= e.time

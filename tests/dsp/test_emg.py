"""EMG processors: naive references, streaming == batch, oracles, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from nmre.core.model import Block, Channel, StreamInfo, StreamKind
from nmre.dsp.emg import (
    FEATURE_NAMES,
    EmgChain,
    EmgFeatures,
    LinearEnvelope,
    MovingRms,
    Normalizer,
    OnsetDetector,
    Rectifier,
    Tkeo,
    cci_falconer_winter,
    cci_rudolph,
    emg_features,
    robust_baseline,
)
from nmre.dsp.filters import SosFilter, design_sos, notch_sos
from nmre.dsp.pipeline import Pipeline
from nmre.errors import ConfigError, InputError, StateError

FS = 1000.0
ORACLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "libemg-oracle"


def _block(x: np.ndarray, fs: float = FS, t0: int = 0) -> Block:
    return Block("s", (t0 + np.arange(x.shape[1])) / fs, x)


def _emg(n_ch: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burst = (np.arange(n) % 700 > 300).astype(float)
    return rng.standard_normal((n_ch, n)) * (0.05 + burst) + 0.3


# --- naive references -------------------------------------------------------------------------


def naive_moving_rms(x: np.ndarray, w: int) -> np.ndarray:
    sq = np.concatenate([np.zeros((x.shape[0], w - 1)), x**2], axis=1)
    return np.sqrt(
        np.array([[sq[c, i : i + w].mean() for i in range(x.shape[1])] for c in range(x.shape[0])])
    )


def naive_tkeo_delayed(x: np.ndarray) -> np.ndarray:
    p = np.concatenate([np.zeros((x.shape[0], 2)), x], axis=1)  # p[i+2] = x[i]
    out = np.empty_like(x)
    for i in range(x.shape[1]):  # y[i] = psi[i-1] = x[i-1]^2 - x[i-2] x[i]
        out[:, i] = p[:, i + 1] ** 2 - p[:, i] * p[:, i + 2]
    return out


def naive_onsets(
    c: np.ndarray, on: float, off: float, n_on: int, n_off: int, gap: int
) -> list[tuple[str, int, int]]:
    """(kind, first sample of the run, decision sample) by brute-force search of every start."""

    def first_run(start: int, hit) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
        need = n_on if hit is above else n_off
        for s in range(start, len(c)):
            if not hit(c[s]):
                continue
            last_hit = s
            for k in range(s, len(c)):
                if hit(c[k]):
                    last_hit = k
                    if k - s + 1 >= need:
                        return s, k
                elif k - last_hit > gap:
                    break
        return None

    def above(v: float) -> bool:
        return v > on

    def below(v: float) -> bool:
        return v < off

    out: list[tuple[str, int, int]] = []
    i, active = 0, False
    while True:
        r = first_run(i, below if active else above)
        if r is None:
            return out
        out.append(("offset" if active else "onset", r[0], r[1]))
        i, active = r[1] + 1, not active


# --- envelopes, TKEO ----------------------------------------------------------------------------


def test_rectifier() -> None:
    x = np.array([[-1.5, 0.0, 2.0], [3.0, -0.0, -4.0]])
    assert np.array_equal(Rectifier(2).process(_block(x)).values, np.abs(x))


@pytest.mark.parametrize("window", [0.001, 0.01, 0.1])
def test_moving_rms_matches_naive(window: float) -> None:
    x = _emg(3, 1500, 1)
    proc = MovingRms(3, FS, window)
    np.testing.assert_allclose(
        proc.process(_block(x)).values, naive_moving_rms(x, proc.window_samples), rtol=1e-12
    )
    assert proc.delay == pytest.approx((proc.window_samples - 1) / 2 / FS)


def test_moving_rms_does_not_drift_over_a_long_session() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 200_000)) * 1e3
    x[:, -300:] = 1e-3  # tiny tail after huge values: a drifting running sum would show here
    y = MovingRms(1, FS, 0.1).process(_block(x)).values
    np.testing.assert_allclose(y[:, -100:], 1e-3, rtol=1e-9)


def test_linear_envelope_equals_scipy_on_rectified_signal() -> None:
    x = _emg(2, 2000, 3)
    sos = design_sos("lowpass", 6.0, FS, 2)
    proc = LinearEnvelope(2, FS, 6.0)
    assert np.array_equal(proc.process(_block(x)).values, signal.sosfilt(sos, np.abs(x), axis=-1))
    assert proc.delay == pytest.approx(0.0375, abs=2e-4)


def test_tkeo_matches_naive_and_is_delayed_one_sample() -> None:
    x = _emg(2, 300, 4)
    y = Tkeo(2).process(_block(x)).values
    assert np.array_equal(y, naive_tkeo_delayed(x))
    assert y[0, 0] == 0.0 and y[0, 1] == x[0, 0] ** 2
    # psi of a sinusoid A sin(w n) is A^2 sin^2(w) (Kaiser 1990)
    a, w = 2.0, 0.3
    s = a * np.sin(w * np.arange(200))[None, :]
    np.testing.assert_allclose(Tkeo(1).process(_block(s)).values[0, 5:], a**2 * np.sin(w) ** 2, rtol=1e-9)


# --- the chain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["linear", "rms"])
@pytest.mark.parametrize("notch", [None, 50.0])
def test_chain_equals_pipeline_of_parts_and_scipy(envelope: str, notch: float | None) -> None:
    fs = 2000.0
    x = _emg(8, 4000, 5)
    norm = Normalizer(np.linspace(0.5, 2.0, 8), "mvc")
    chain = EmgChain(8, fs, notch=notch, envelope=envelope, normalizer=norm)  # type: ignore[arg-type]
    env_stage = [LinearEnvelope(8, fs)] if envelope == "linear" else [Rectifier(8), MovingRms(8, fs, 0.1)]
    pipe = Pipeline([SosFilter(chain.pre_sos, 8, fs), *env_stage, norm])
    y = chain.process(_block(x, fs)).values
    assert np.array_equal(y, pipe.process(_block(x, fs)).values)
    bp = design_sos("bandpass", (20, 450), fs, 2)
    if notch:
        bp = np.vstack([bp, notch_sos(notch, fs, 30.0)])
    rect = np.abs(signal.sosfilt(bp, x, axis=-1))
    if envelope == "linear":
        env = signal.sosfilt(design_sos("lowpass", 6.0, fs, 2), rect, axis=-1)
        assert np.array_equal(y, env * (100.0 / norm.reference)[:, None])
    else:
        np.testing.assert_allclose(
            y, naive_moving_rms(rect, 200) * (100 / norm.reference)[:, None], rtol=1e-10
        )


def test_chain_output_info_and_delay() -> None:
    info = StreamInfo("emg.r", StreamKind.EMG, (Channel("vmo", "mV"), Channel("vl", "mV")), 2000.0)
    chain = EmgChain(2, 2000.0, normalizer=Normalizer([1.0, 2.0]))
    out = chain.output_info(info)
    assert (
        out.kind is StreamKind.ENVELOPE
        and out.channels[1].unit == "%MVC"
        and out.channel_names == ("vmo", "vl")
    )
    assert chain.delay == pytest.approx(0.0375, abs=2e-4)
    assert EmgChain(2, 2000.0, envelope="rms", window=0.1).delay == pytest.approx(0.04975)
    bp = design_sos("bandpass", (20, 450), 2000.0, 2)
    _, gd = signal.group_delay((*signal.sos2tf(bp),), w=[60.0, 100.0], fs=2000.0)
    np.testing.assert_allclose(chain.group_delay([60.0, 100.0]), gd / 2000.0, rtol=1e-8)
    assert 0.0 < chain.bandpass_delay < 0.002


# --- streaming == batch for every processor ----------------------------------------------------


def _processors() -> dict[str, object]:
    return {
        "rectifier": lambda: Rectifier(3),
        "rms": lambda: MovingRms(3, FS, 0.013),
        "linear": lambda: LinearEnvelope(3, FS),
        "tkeo": lambda: Tkeo(3),
        "normalizer": lambda: Normalizer([1.0, 2.0, 4.0]),
        "chain_linear": lambda: EmgChain(3, FS, notch=50.0),
        "chain_rms": lambda: EmgChain(3, FS, envelope="rms", window=0.017),
        "onset": lambda: OnsetDetector(3, FS, baseline=(0.3, 0.05)),
        "features": lambda: EmgFeatures(3, FS, 40, 7),
    }


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(_processors())),
    sizes=st.lists(st.integers(min_value=0, max_value=90), max_size=30),
    seed=st.integers(0, 2**31),
)
def test_streaming_equals_batch(feed, name: str, sizes: list[int], seed: int) -> None:  # type: ignore[no-untyped-def]
    x = _emg(3, 1400, seed)
    proc = _processors()[name]()  # type: ignore[operator]
    whole = proc.process(_block(x))
    whole_events = [e.to_dict() for e in proc.pop_events()]
    proc.reset()
    parts = feed(proc, x, sizes)
    assert np.array_equal(np.concatenate([b.values for b in parts], axis=1), whole.values)
    assert np.array_equal(np.concatenate([b.times for b in parts]), whole.times)
    assert [e.to_dict() for e in proc.pop_events()] == whole_events


# --- normalisation -------------------------------------------------------------------------------


def test_normalizer_from_recording_uses_peak_500ms_rms() -> None:
    t = np.arange(5000) / FS
    amp = np.array([[0.2], [1.0]])
    x = amp * np.sin(2 * np.pi * 50 * t)[None, :] * (t > 2.0)  # rest, then a steady contraction
    norm = Normalizer.from_recording(x, FS, method="submax", metadata={"trial": "rvc-1"})
    np.testing.assert_allclose(norm.reference, amp[:, 0] / np.sqrt(2), rtol=1e-3)
    assert norm.metadata["method"] == "submax" and norm.metadata["window_s"] == 0.5
    assert norm.metadata["trial"] == "rvc-1" and norm.unit == "%RVC"
    y = norm.process(_block(np.tile(norm.reference[:, None], (1, 4)))).values
    np.testing.assert_allclose(y, 100.0)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: Normalizer([1.0, 0.0]), InputError),
        (lambda: Normalizer([1.0, np.nan]), InputError),
        (lambda: Normalizer([1.0], method="max"), ConfigError),  # type: ignore[arg-type]
        (lambda: Normalizer.from_recording(np.zeros((1, 10)), FS), InputError),
        (lambda: EmgChain(2, FS, normalizer=Normalizer([1.0])), InputError),
        (lambda: EmgChain(2, FS, envelope="peak"), ConfigError),  # type: ignore[arg-type]
        (lambda: EmgChain(2, FS, band=(20.0, 600.0)), ConfigError),
        (lambda: MovingRms(2, FS, 0.0), ConfigError),
        (lambda: MovingRms(0, FS), ConfigError),
        (lambda: Tkeo(2.5), ConfigError),  # type: ignore[arg-type]
        (lambda: OnsetDetector(1, FS, k_on=2.0, k_off=3.0), ConfigError),
        (lambda: OnsetDetector(1, FS, horizon=None).process(_block(np.zeros((1, 3)))), StateError),
        (lambda: EmgFeatures(1, FS, 1, 1), ConfigError),
        (lambda: EmgFeatures(1, FS, 10, 1, features=["MAV", "HIST"]), ConfigError),
        (lambda: cci_rudolph(np.ones(3), np.ones(4)), InputError),
        (lambda: robust_baseline(np.array([[1.0, np.nan, 2.0]])), InputError),
    ],
)
def test_bad_configuration(call, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        call()


@pytest.mark.parametrize("name", sorted(_processors()))
@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (np.zeros((2, 5)), "n_channels=3"),
        (np.zeros((3, 5), dtype=complex), "complex128"),
        (np.zeros((3, 5), dtype=object), "object"),
    ],
)
def test_bad_block_values(name: str, values: np.ndarray, needle: str) -> None:
    proc = _processors()[name]()  # type: ignore[operator]
    with pytest.raises(InputError, match=r"expected .*float64") as err:
        proc.process(Block("emg", np.arange(5) / FS, values))
    assert needle in str(err.value)


@pytest.mark.parametrize("name", sorted(_processors()))
def test_integer_input_is_converted(name: str) -> None:
    xi = (_emg(3, 300, 9) * 100).astype(np.int32)
    a, b = _processors()[name](), _processors()[name]()  # type: ignore[operator]
    ya = a.process(Block("emg", np.arange(300) / FS, xi)).values
    assert np.array_equal(ya, b.process(_block(xi.astype(np.float64))).values)


# --- onset detection --------------------------------------------------------------------------


def test_robust_baseline_ignores_spikes() -> None:
    rng = np.random.default_rng(6)
    rest = rng.normal(1.0, 0.1, (2, 4000))
    rest[:, ::100] = 50.0  # 1 % spikes
    mu, sigma = robust_baseline(rest)
    np.testing.assert_allclose(mu, 1.0, atol=0.01)
    np.testing.assert_allclose(sigma, 0.1, rtol=0.1)
    assert np.allclose(mu, np.median(rest, axis=1))


@pytest.mark.parametrize("seed", range(6))
def test_onsets_match_naive_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    c = np.abs(rng.normal(0, 1, (2, n)))
    for ch in range(2):
        for start in rng.integers(0, n - 200, 6):
            c[ch, start : start + rng.integers(5, 150)] += rng.uniform(2, 6)
    mu, sigma, k_on, k_off = 0.5, 0.5, 3.0, 1.5
    det = OnsetDetector(
        2, FS, k_on=k_on, k_off=k_off, t_on=0.01, t_off=0.02, max_gap=0.003, baseline=(mu, sigma)
    )
    act = det.process(_block(c)).values
    events = det.pop_events()
    # the oracle's thresholds come from the baseline and the multipliers (Hodges & Bui: mu + k * sigma),
    # never from the detector under test: a detector that ignored k_off (no hysteresis) must fail here
    on, off = mu + k_on * sigma, mu + k_off * sigma
    assert on == 2.0 and off == 1.25
    np.testing.assert_array_equal(det.thresholds[0], [on, on])  # the 3 s stayed inside the baseline in use
    np.testing.assert_array_equal(det.thresholds[1], [off, off])
    hysteresis_matters = False
    for ch in range(2):
        ref = naive_onsets(c[ch], on, off, 10, 20, 3)
        hysteresis_matters |= naive_onsets(c[ch], on, on, 10, 20, 3) != ref
        got = [
            (e.kind.split(".")[1], round(e.time * FS), round(e.detected_at * FS))
            for e in events
            if e.payload["channel"] == ch
        ]
        assert got == ref
        assert len(ref) > 2
        state = np.zeros(n)
        for kind, _, k in ref:
            state[k:] = 1.0 if kind == "onset" else 0.0
        assert np.array_equal(act[ch], state)
    assert hysteresis_matters  # the signal tells a single threshold from two


def test_onsets_on_synthetic_bursts_with_known_times() -> None:
    fs = 2000.0
    rng = np.random.default_rng(7)
    n = int(6 * fs)
    starts = np.array([1.0, 2.5, 4.0])
    gain = np.full(n, 0.01)
    for s in starts:
        gain[int(s * fs) : int((s + 0.6) * fs)] = 0.5
    raw = (rng.standard_normal(n) * gain)[None, :]
    chain = EmgChain(1, fs, envelope="linear", cutoff=30.0)
    env = chain.process(_block(raw, fs)).values
    det = OnsetDetector(1, fs)
    det.calibrate(env[:, int(0.2 * fs) : int(0.9 * fs)])
    det.process(_block(env, fs))
    ev = det.pop_events()
    onsets = np.array([e.time for e in ev if e.kind == "emg.onset"])
    offsets = np.array([e.time for e in ev if e.kind == "emg.offset"])
    assert onsets.shape == (3,) and offsets.shape == (3,)
    assert np.all(np.abs(onsets - starts) < 0.01)  # within 10 ms of the true burst start
    assert np.all((offsets > starts + 0.6) & (offsets < starts + 0.7))
    # decision when the run spans n_on = 50 samples: 49 sample periods after its first sample
    assert all(e.detected_at - e.time == pytest.approx(49 / fs) for e in ev if e.kind == "emg.onset")


# --- co-contraction -----------------------------------------------------------------------------


def test_cci_hand_computed() -> None:
    a = np.array([10.0, 20.0, 30.0, 0.0])
    b = np.array([20.0, 20.0, 10.0, 0.0])
    # FW: 2*(10+20+10+0) / (30+40+40+0) * 100 = 80/110*100
    assert cci_falconer_winter(a, b) == pytest.approx(800 / 11)
    # Rudolph: mean(0.5*30, 1*40, (1/3)*40, 0) = (15 + 40 + 13.333.. + 0) / 4
    assert cci_rudolph(a, b) == pytest.approx((15 + 40 + 40 / 3) / 4)
    assert cci_falconer_winter(a, a) == pytest.approx(100.0)
    assert cci_falconer_winter(a, np.zeros(4)) == 0.0
    assert np.isnan(cci_falconer_winter(np.zeros(3), np.zeros(3)))
    assert cci_rudolph(np.zeros(3), np.zeros(3)) == 0.0
    both = cci_falconer_winter(np.stack([a, a]), np.stack([b, a]))
    np.testing.assert_allclose(both, [800 / 11, 100.0])


# --- features --------------------------------------------------------------------------------


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_features_match_libemg_matlab_oracle(feature: str) -> None:
    if not (ORACLE / "emg_data_myo.csv").exists():
        pytest.skip(f"LibEMG oracle data not found at {ORACLE}")
    x = np.loadtxt(ORACLE / "emg_data_myo.csv", delimiter=",").T
    ref = np.loadtxt(ORACLE / f"matlab_{feature}.csv", delimiter=",").T  # (n_ch, n_windows)
    got = emg_features(x, 1000.0, 200, 25, [feature])[0]
    assert got.shape == ref.shape == (8, 13)
    np.testing.assert_allclose(got, ref, rtol=0.01)


def test_features_match_numpy_on_random_windows() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 300))
    w, inc = 50, 20
    got = emg_features(x, FS, w, inc)
    nfft = 64
    for k, s in enumerate(range(0, 300 - w + 1, inc)):
        win = x[:, s : s + w]
        p = np.abs(np.fft.rfft(win, nfft)[:, : nfft // 2]) ** 2
        f = np.arange(nfft // 2) * FS / nfft
        d = np.diff(win)
        ref = {
            "MAV": np.abs(win).mean(1),
            "RMS": np.sqrt((win**2).mean(1)),
            "WL": np.abs(d).sum(1),
            "ZC": (win[:, 1:] * win[:, :-1] < 0).sum(1),
            "SSC": ((win[:, 1:-1] - win[:, :-2]) * (win[:, 1:-1] - win[:, 2:]) >= 0).sum(1),
            "WAMP": (np.abs(d) > 2e-3).sum(1),
            "MNF": (p * f).sum(1) / p.sum(1),
            "MDF": f[np.argmax(np.cumsum(p, 1) >= p.sum(1, keepdims=True) / 2, axis=1)],
            "IAV": np.abs(win).sum(1),
        }
        for i, name in enumerate(FEATURE_NAMES):
            np.testing.assert_allclose(got[i, :, k], ref[name], rtol=1e-9, err_msg=name)


def test_feature_output_block_layout() -> None:
    proc = EmgFeatures(2, FS, 10, 5, features=["RMS", "ZC"])
    out = proc.process(_block(np.ones((2, 24))))
    assert out.values.shape == (4, 3) and np.allclose(out.times, np.array([9, 14, 19]) / FS)
    assert np.array_equal(out.values[:2], np.ones((2, 3))) and np.array_equal(
        out.values[2:], np.zeros((2, 3))
    )
    info = StreamInfo("e", StreamKind.EMG, (Channel("a", "mV"), Channel("b", "mV")), FS)
    assert proc.output_info(info).channel_names == ("RMS:a", "RMS:b", "ZC:a", "ZC:b")


def test_warmup_runs_every_kernel() -> None:
    from nmre.dsp.emg import warmup

    warmup()  # raises if any kernel fails to compile or run with the live dtypes


def test_onsets_on_neurokit_simulated_emg() -> None:
    """Loose oracle (reference/dsp.md §6.1): neurokit2's emg_simulate places 3 bursts of 1 s
    after quiet periods of (10 - 3) / 4 = 1.75 s, so the true onsets are 1.75, 4.5 and 7.25 s."""
    nk = pytest.importorskip("neurokit2")
    fs = 1000
    x = nk.emg_simulate(duration=10, sampling_rate=fs, burst_number=3, random_state=42)[None, :]
    cond = Pipeline([SosFilter.bandpass(20, 450, fs, 1), Tkeo(1), Rectifier(1), LinearEnvelope(1, fs, 30.0)])
    c = cond.process(_block(x, fs)).values
    det = OnsetDetector(1, fs)
    det.calibrate(c[:, 200:1000])
    det.process(_block(c, fs))
    ev = det.pop_events()
    onsets = np.array([e.time for e in ev if e.kind == "emg.onset"])
    offsets = np.array([e.time for e in ev if e.kind == "emg.offset"])
    np.testing.assert_allclose(onsets, [1.75, 4.5, 7.25], atol=0.01)
    np.testing.assert_allclose(offsets, [2.75, 5.5, 8.25], atol=0.12)  # envelope decay delays the offset
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.emg_process(x[0], sampling_rate=fs)
    # neurokit's zero-phase amplitude filters put its onsets ~50 ms early; agree within 75 ms
    np.testing.assert_allclose(onsets, np.asarray(info["EMG_Onsets"]) / fs, atol=0.075)

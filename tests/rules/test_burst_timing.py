"""Onset order timed on each muscle's main burst, on constructed EMG with low-level pre-activity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from rulekit import rep_events
from scipy import signal

from nmre.core import kinds
from nmre.core.model import Block, Channel, Event, Placement, Side, StreamInfo, StreamKind
from nmre.dsp.bursts import steepest_rise
from nmre.dsp.emg import OnsetDetector, TkeoConditioner
from nmre.errors import ConfigError
from nmre.rules import Episodes, OnsetNode, OnsetOrderRule

FS = 2000.0


def naive_rise(x: np.ndarray, w: int) -> tuple[int, float]:
    """The obviously correct reference: every sample's ratio, by loops."""
    best, at = -math.inf, -1
    for k in range(w, x.shape[0] - w + 1):
        before = sum(x[k - w : k])
        r = sum(x[k : k + w]) / before if before > 0 else 0.0
        if r > best:
            best, at = r, k
    return at, best


@pytest.mark.parametrize("seed", range(5))
def test_steepest_rise_equals_the_naive_ratio_of_adjacent_window_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, 400) * np.r_[np.ones(200), np.full(200, 1 + 5 * rng.uniform())]
    x[:30] = 0.0  # windows of nothing before: no ratio (not a division by zero)
    k, r = steepest_rise(x, 1000.0, window=0.02, smooth=0.0)
    kn, rn = naive_rise(x, 20)
    assert k == kn and r == pytest.approx(rn, rel=1e-9)


def test_steepest_rise_finds_the_burst_not_the_pre_activity_and_ignores_amplitude() -> None:
    fs = 1000.0
    t = np.arange(0.0, 3.0, 1 / fs)
    pre = 3.0 * np.clip((t - 0.5) / 0.4, 0.0, 1.0)  # rest 1, pre-activity to 4 over 0.4 s (a 4x rise)
    burst = 100.0 * np.clip((t - 1.2) / 0.02, 0.0, 1.0) + 400.0 * np.clip((t - 1.25) / 1.0, 0.0, 1.0)
    x = 1.0 + pre + burst
    k, r = steepest_rise(x, fs)
    assert abs(t[k] - 1.2) <= 0.01 and r > 10.0
    for scale in (1e-6, 7.0):  # a weaker or stronger muscle: same sample
        assert steepest_rise(scale * x, fs)[0] == k
    assert steepest_rise(x[:50], fs) == (-1, pytest.approx(math.nan, nan_ok=True))
    with pytest.raises(ConfigError, match="window > 0"):
        steepest_rise(x, fs, window=0.0)


# -- two muscles, one with pre-activity that crosses the rest threshold --------------------------------


def emg_info() -> StreamInfo:
    ch = tuple(Channel(m, "mV", Placement(muscle=m, side=Side.RIGHT)) for m in ("vmo", "vl"))
    return StreamInfo("emg.r", StreamKind.EMG, ch, FS, Placement(side=Side.RIGHT))


REPS = [(3.0, 40.0), (7.0, -10.0), (11.0, 0.0), (15.0, 75.0)]  # (VL burst onset s, VMO lag ms)


def two_muscles(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw EMG (2, n) mV: 5 uV noise; VL pre-activity (30 uV, reached over 0.4 s) before each burst, VMO
    none; bursts rise in 30 ms to 0.1 mV (VMO 0.05 mV: a weaker muscle) and ramp on to 3x over 1 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 19.0, 1 / FS)
    amp = np.zeros((2, t.shape[0]))
    for on_vl, lag in REPS:
        for row, on, top, pre in ((1, on_vl, 0.1, 0.03), (0, on_vl + lag / 1e3, 0.05, 0.0)):
            ramp = np.clip((t - on) / 0.03, 0.0, 1.0) * (1 + 2 * np.clip((t - on) / 1.0, 0.0, 1.0))
            off = (t < on + 1.6).astype(float)
            amp[row] += (top * ramp + pre * np.clip((t - (on - 0.4)) / 0.4, 0.0, 1.0)) * off
    sos = signal.butter(4, [20, 450], "band", fs=FS, output="sos")
    car = signal.sosfilt(sos, rng.standard_normal((2, t.shape[0] + 1000)), axis=1)[:, 1000:]
    car /= car.std(axis=1, keepdims=True)
    return t, car * amp + rng.normal(0.0, 0.005, amp.shape)


def onset_lags(
    burst: tuple[float, float] | None, block: int = 16, settle: float = 0.3
) -> tuple[list[float], list[Event]]:
    info = emg_info()
    node = OnsetNode(
        info.id,
        TkeoConditioner(2, FS, 20.0, 450.0, 30.0),
        OnsetDetector(2, FS, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.1),
        settle=settle,
        burst=burst,
    )
    rule = OnsetOrderRule(
        "vmo_timing", early="vl", late="vmo", onsets_from=node.name, quantity="vmo_vl_onset_lag",
        unit="ms", episodes=Episodes.reps(), hi=30.0,
    )  # fmt: skip
    node.bind({info.id: info})
    rule.bind({info.id: info})
    t, x = two_muscles()
    reps = [rep_events(k, on + 0.05, on + 1.8, peak_time=on + 1.0) for k, (on, _) in enumerate(REPS, 1)]
    due = sorted([e for pair in reps for e in pair], key=lambda e: e.time)
    out: list[Event] = []
    seen: list[Event] = []
    for i in range(0, t.shape[0], block):
        b = Block(info.id, t[i : i + block], np.ascontiguousarray(x[:, i : i + block]))
        node.push(b)
        evs = node.pop_events()
        while due and due[0].time <= float(b.times[-1]):
            evs.append(due.pop(0))
        for ev in evs:
            seen.append(ev)
            rule.on_event(ev)
            out += rule.pop_events()
        rule.on_time(float(b.times[-1]))
        out += rule.pop_events()
    node.finish(float(t[-1]))
    for ev in node.pop_events():
        rule.on_event(ev)
    rule.on_time(math.inf)
    out += rule.pop_events()
    lags = [float(e.payload["value"]) for e in out if e.kind == "rule.vmo_timing"]
    return lags, seen


def test_pre_activity_crossing_the_rest_threshold_is_not_the_burst() -> None:
    true = [lag for _, lag in REPS]
    lags, seen = onset_lags((0.1, 1.0))
    assert len(lags) == len(REPS)
    assert np.max(np.abs(np.subtract(lags, true))) <= 15.0, lags  # the detector's own SD is ~15 ms
    bursts = [e for e in seen if e.kind == kinds.EMG_BURST]
    assert {e.payload["muscle"] for e in bursts} == {"vmo", "vl"} and all(
        e.payload["rise"] > 5 for e in bursts
    )
    base = next(e for e in seen if e.kind == kinds.EMG_BASELINE)
    assert base.payload["timing"] == "burst"
    # the rest threshold alone times VL in its pre-activity: every lag read hundreds of ms late
    threshold, _ = onset_lags(None)
    assert np.min(np.subtract(threshold, true)) > 100.0, threshold


@pytest.mark.parametrize("block", [1, 7, 200, 2500])
def test_burst_timing_does_not_depend_on_the_block_size(block: int) -> None:
    ref, _ = onset_lags((0.1, 1.0), block=16)
    lags, _ = onset_lags((0.1, 1.0), block=block)
    assert lags == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("settle", [0.3, 1.3, 1.8])
def test_the_lags_do_not_move_with_the_rest_window(settle: float) -> None:
    """Issue 7.5: nothing by luck. The 1.2 s rest window a second later, or ending in 0.4 s of the VL's
    pre-activity (from 2.6 s, settle 1.8): the first crossing may move, the burst it is timed on does not."""
    ref, _ = onset_lags((0.1, 1.0))
    lags, _ = onset_lags((0.1, 1.0), settle=settle)
    assert lags == pytest.approx(ref, abs=1.0)


def test_a_burst_search_span_must_make_sense() -> None:
    info = emg_info()
    with pytest.raises(ConfigError, match="burst"):
        OnsetNode(info.id, TkeoConditioner(2, FS, 20.0, 450.0, 30.0), OnsetDetector(2, FS), burst=(0.1, 0.0))


@pytest.mark.parametrize("burst", [None, (0.1, 0.3)])
def test_a_sample_beyond_the_detector_limit_is_reported_and_the_node_goes_on(
    burst: tuple[float, float] | None,
) -> None:
    """A raw spike whose conditioned value passes the detector's input limit: the detector's screen raises
    ``dsp.bad_input`` (no channel, so no muscle); the node hands it on and keeps detecting, never a KeyError."""
    info = emg_info()
    node = OnsetNode(
        info.id, TkeoConditioner(2, FS, 20.0, 450.0, 30.0), OnsetDetector(2, FS), settle=0.3, burst=burst
    )
    node.bind({info.id: info})
    t, x = two_muscles()
    x = x.copy()
    x[0, int(2.0 * FS)] = 1e9  # after the rest baseline (0.3 + 1 s), before the first burst
    seen: list[Event] = []
    for i in range(0, t.shape[0], 16):
        node.push(Block(info.id, t[i : i + 16], np.ascontiguousarray(x[:, i : i + 16])))
        seen += node.pop_events()
    bad = [e for e in seen if e.kind == kinds.DSP_BAD_INPUT]
    assert bad and all("muscle" not in e.payload for e in bad)
    later = [e for e in seen if e.kind == kinds.EMG_ONSET and e.time > 2.5]
    assert {e.payload["muscle"] for e in later} == {"vmo", "vl"}  # detection went on after the spike


@pytest.mark.parametrize("seed", range(6))
def test_the_rise_kernel_gives_the_numpy_version_bit_for_bit(seed: int) -> None:
    from nmre.dsp.bursts import _steepest_rise_numpy

    rng = np.random.default_rng(seed)
    fs = (2000.0, 1000.0, 1111.0)[seed % 3]
    for n in (int(0.1 * fs), 500, 901, 1500):
        x = rng.exponential(1.0, n) * np.r_[np.ones(n // 2), np.full(n - n // 2, 1 + 9 * rng.uniform())]
        x[: rng.integers(0, n // 4)] = 0.0  # windows of nothing: no ratio
        x[rng.integers(0, n, 5)] *= 1e6  # outliers: large cumulative sums, cancellation
        for window, smooth in ((0.05, 0.025), (0.02, 0.0), (0.03, 0.0105), (0.05, 0.0005)):
            got = steepest_rise(x, fs, window, smooth)
            want = _steepest_rise_numpy(x, fs, window, smooth)
            assert got[0] == want[0] and (got[1] == want[1] or (math.isnan(got[1]) and math.isnan(want[1])))
            assert type(got[0]) is int and type(got[1]) is float


@pytest.mark.parametrize("seed", range(4))
def test_burst_search_span_equals_the_boolean_selection_of_the_whole_kept_history(seed: int) -> None:
    """The span a burst search takes (found per kept block by bisection on the blocks' first and last
    times, whole blocks taken without a search) is exactly the samples ``lo <= t <= hi`` of everything kept."""
    rng = np.random.default_rng(seed)
    node = OnsetNode("emg", TkeoConditioner(2, FS, 20.0, 450.0, 30.0), OnsetDetector(2, FS), burst=(0.3, 0.4))
    t_all = np.arange(4000) / FS
    x_all = rng.normal(size=(2, 4000))
    cuts = np.unique(np.r_[0, np.sort(rng.integers(1, 4000, 120)), 4000])
    for a, b in itertools.pairwise(cuts):
        node._keep(t_all[a:b], x_all[:, a:b])
    node._keep(t_all[:0], x_all[:, :0])  # an empty block keeps nothing
    for lo, hi in [(-1.0, 0.1), (0.3, 0.7), (0.5, 0.5), (t_all[777], t_all[1900]), (1.9, 5.0), (3.0, 2.0)]:
        for c in (0, 1):
            t, x = node._span(c, lo, hi)
            sel = (t_all >= lo) & (t_all <= hi)
            np.testing.assert_array_equal(t, t_all[sel])
            np.testing.assert_array_equal(x, x_all[c, sel])

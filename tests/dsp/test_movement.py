"""Repetition segmentation, SPARC and LDLJ."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core.model import Block
from nmre.dsp.movement import RepSegmenter
from nmre.errors import ConfigError, InputError

FS = 100.0


def _squats(peaks: list[float], durations: list[float], rest: float = 1.0) -> tuple[np.ndarray, list[tuple]]:
    """Knee flexion (deg): rest at 5 deg, then raised-cosine reps; returns signal and true (start, peak_t, end)."""
    parts = [np.full(int(rest * FS), 5.0)]
    truth = []
    t = rest
    for p, d in zip(peaks, durations, strict=True):
        n = round(d * FS)
        ph = np.arange(n) / n
        parts.append(5.0 + (p - 5.0) * 0.5 * (1 - np.cos(2 * np.pi * ph)))
        truth.append((t, t + d / 2, t + d))
        t += d
        parts.append(np.full(int(rest * FS), 5.0))
        t += rest
    return np.concatenate(parts)[None, :], truth


def _blk(x: np.ndarray, t0: float = 0.0) -> Block:
    return Block("knee", t0 + np.arange(x.shape[1]) / FS, np.ascontiguousarray(x))


def test_counts_reps_and_reports_peaks() -> None:
    x, truth = _squats([90, 60, 100], [2.0, 1.5, 3.0])
    seg = RepSegmenter(30.0, 10.0, min_duration=0.5, min_amplitude=20.0, name="squat")
    out = seg.process(_blk(x))
    ev = seg.pop_events()
    assert [e.kind for e in ev] == ["rep.start", "rep.end"] * 3
    ends = [e for e in ev if e.kind == "rep.end"]
    assert [e.payload["rep"] for e in ends] == [1, 2, 3]
    assert all(e.source == "squat" for e in ev)
    for e, (t0, tp, t1), p, d in zip(ends, truth, [90, 60, 100], [2.0, 1.5, 3.0], strict=True):
        assert e.payload["peak"] == pytest.approx(p, abs=0.01)
        assert e.payload["peak_time"] == pytest.approx(tp, abs=1 / FS)
        # the raised cosine leaves / re-enters the rest band (<= 10 deg) this long after / before the bounds
        lag = d * math.acos(1 - 2 * 5 / (p - 5)) / (2 * math.pi)
        assert e.payload["start"] == pytest.approx(t0 + lag, abs=1 / FS)
        assert e.time == pytest.approx(t1 - lag, abs=1 / FS)
        assert e.payload["duration"] == pytest.approx(e.payload["end"] - e.payload["start"])
    assert out.values[1, -1] == 3 and seg.count == 3
    assert out.values[0].max() == 1 and out.values[0, -1] == 0


def test_rejects_short_small_and_long_candidates() -> None:
    x, _ = _squats([90, 35, 90, 90], [0.3, 2.0, 2.0, 8.0])
    seg = RepSegmenter(30.0, 10.0, min_duration=0.5, max_duration=5.0, min_amplitude=40.0)
    seg.process(_blk(x))
    ev = seg.pop_events()
    kinds = [(e.kind, e.payload.get("reason")) for e in ev if e.kind != "rep.start"]
    assert kinds == [
        ("rep.rejected", "too short"),
        ("rep.rejected", "too small"),
        ("rep.end", None),
        ("rep.rejected", "too long"),
    ]
    assert seg.count == 1
    # rejected candidates reuse the next rep number
    assert [e.payload["rep"] for e in ev if e.kind == "rep.start"] == [1, 1, 1, 2]


def test_amplitude_is_measured_from_the_reps_start_not_from_zero() -> None:
    """min_amplitude applies to the peak minus the value where the rep left the rest band."""
    x, _ = _squats([48.0, 55.0], [2.0, 2.0])
    start_thr, end_thr, min_amp = 30.0, 10.0, 40.0
    seg = RepSegmenter(start_thr, end_thr, min_duration=0.5, min_amplitude=min_amp)
    seg.process(_blk(x))
    got = [e.kind for e in seg.pop_events() if e.kind != "rep.start"]
    v = x[0]
    want = []
    for up in np.flatnonzero((v[1:] >= start_thr) & (v[:-1] < start_thr)) + 1:
        rest = np.flatnonzero(v[:up] <= end_thr)[-1]  # the last sample in the rest band before the rise
        down = up + np.flatnonzero(v[up:] <= end_thr)[0]
        peak = v[up:down].max()
        assert peak >= min_amp  # measured from 0 both would pass
        want.append("rep.end" if peak - v[rest] >= min_amp else "rep.rejected")
    assert got == want == ["rep.rejected", "rep.end"]


def test_downward_reps() -> None:
    x, _ = _squats([90, 90], [2.0, 2.0])
    seg = RepSegmenter(-30.0, -10.0, direction=-1)
    seg.process(_blk(-x))
    ends = [e for e in seg.pop_events() if e.kind == "rep.end"]
    assert len(ends) == 2 and ends[0].payload["peak"] == pytest.approx(-90, abs=0.01)


def test_nan_samples_do_not_change_state() -> None:
    x, _ = _squats([90], [2.0])
    y = x.copy()
    y[0, 150:160] = np.nan
    a, b = RepSegmenter(30, 10), RepSegmenter(30, 10)
    a.process(_blk(x))
    b.process(_blk(y))
    ea, eb = a.pop_events(), b.pop_events()
    assert [e.kind for e in eb if e.kind == "dsp.bad_input"] == ["dsp.bad_input"]  # said once
    assert [e.to_json() for e in ea] == [e.to_json() for e in eb if e.kind != "dsp.bad_input"]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_streaming_equals_batch(data: st.DataObject, feed: Callable[..., list[Block]]) -> None:
    x, _ = _squats([90, 35, 70, 90], [2.0, 2.0, 0.3, 1.2])
    whole = RepSegmenter(30, 10, min_amplitude=40, rate=FS, history=5.0)
    w = whole.process(Block("s", np.arange(x.shape[1]) / FS, x)).values
    we = whole.pop_events()
    seg = RepSegmenter(30, 10, min_amplitude=40, rate=FS, history=5.0)
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2, 5, 33, 101]), min_size=1, max_size=40))
    parts = feed(seg, x, sizes, fs=FS)
    np.testing.assert_array_equal(np.hstack([p.values for p in parts]), w)
    assert [e.to_json() for e in seg.pop_events()] == [e.to_json() for e in we]


def test_bad_input_and_config() -> None:
    seg = RepSegmenter(30, 10)
    with pytest.raises(InputError, match="float64"):
        seg.process(Block("k", np.zeros(3), np.zeros((1, 3), dtype=np.float32)))
    with pytest.raises(InputError, match="at least 3 channel"):
        RepSegmenter(30, 10, channel=2).process(Block("k", np.zeros(3), np.zeros((2, 3))))
    with pytest.raises(ConfigError, match="above"):
        RepSegmenter(10, 30)
    with pytest.raises(ConfigError):
        RepSegmenter(30, 10, direction=0)
    with pytest.raises(ConfigError):
        RepSegmenter(30, math.nan)
    with pytest.raises(ConfigError):
        RepSegmenter(30, 10, min_duration=2, max_duration=1)


def test_reset_and_constant_signal() -> None:
    seg = RepSegmenter(30, 10)
    out = seg.process(_blk(np.full((1, 500), 50.0)))  # starts high: one rep begins, never ends
    assert out.values[0, -1] == 1 and seg.count == 0
    assert [e.kind for e in seg.pop_events()] == ["rep.start"]
    seg.reset()
    assert not seg.in_rep and seg.count == 0 and seg.pop_events() == []


# --- smoothness -----------------------------------------------------------------------------

from nmre.dsp.movement import dimensionless_jerk, ldlj, sparc  # noqa: E402


def _gauss() -> np.ndarray:
    t = np.arange(-1, 1, 0.01)
    return np.exp(-5 * t**2)


def test_golden_values_of_the_reference_implementation() -> None:
    # doctest values of siva82kb/smoothness (Balasubramanian et al. 2015), dsp.md §4.1
    v = _gauss()
    assert sparc(v, 100.0) == pytest.approx(-1.41403, abs=5e-6)
    assert dimensionless_jerk(v, 100.0) == pytest.approx(-335.74684, abs=5e-6)
    assert ldlj(v, 100.0) == pytest.approx(-5.81636, abs=5e-6)


def test_minimum_jerk_profile_dimensionless_jerk_is_720_over_peak_squared() -> None:
    # v(τ) = 30τ²(1-τ)², peak 1.875, ∫ (v'')² dτ = 720 over a unit duration: DJ = -720 / 1.875² = -204.8
    # (the discrete sum misses the two end samples, about 2 * 60² / n of the 720)
    n = 20000
    tau = (np.arange(n) + 0.5) / n
    v = 30 * tau**2 * (1 - tau) ** 2
    assert dimensionless_jerk(v, float(n)) == pytest.approx(-204.8, rel=1e-3)
    assert ldlj(v, float(n)) == pytest.approx(-math.log(204.8), abs=1e-3)


def test_smoothness_invariances_and_ordering() -> None:
    v = _gauss()
    assert sparc(3.7 * v, 100.0) == pytest.approx(sparc(v, 100.0), abs=1e-12)  # amplitude
    assert ldlj(3.7 * v, 100.0) == pytest.approx(ldlj(v, 100.0), abs=1e-12)
    # a velocity vector along a fixed direction has the same smoothness as its speed
    vec = np.vstack([0.6 * v, 0.8 * v])
    assert sparc(vec, 100.0) == pytest.approx(sparc(v, 100.0), abs=1e-12)
    assert ldlj(vec, 100.0) == pytest.approx(ldlj(v, 100.0), abs=1e-12)
    # two sub-movements are less smooth than one
    t = np.arange(-1, 1, 0.01)
    bumpy = np.exp(-20 * (t - 0.4) ** 2) + np.exp(-20 * (t + 0.4) ** 2)
    assert sparc(bumpy, 100.0) < sparc(v, 100.0)
    assert ldlj(bumpy, 100.0) < ldlj(v, 100.0)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros(50), "non-zero"),
        (np.array([1.0, np.nan, 1.0, 2.0]), "finite"),
        (np.array([1.0]), "at least"),
        (np.zeros((2, 2, 2)), "shape"),
    ],
)
def test_smoothness_bad_input(x: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sparc(x, 100.0)
    with pytest.raises(InputError, match=match):
        ldlj(x, 100.0)


def test_per_rep_smoothness_in_payload() -> None:
    x, _ = _squats([90, 90], [2.0, 2.0])
    y = x.copy()
    y[0, 400:600] += 3.0 * np.sin(2 * np.pi * 4.0 * np.arange(200) / FS)  # tremor in the second rep
    seg = RepSegmenter(30, 10, rate=FS)
    seg.process(_blk(y))
    ends = [e for e in seg.pop_events() if e.kind == "rep.end"]
    smooth, jerky = ends
    # the payload equals the batch functions on the rep's samples
    t = np.arange(y.shape[1]) / FS
    sel = (t >= smooth.payload["start"]) & (t <= smooth.payload["end"])
    v = np.diff(y[0, sel]) * FS
    assert smooth.payload["sparc"] == sparc(np.abs(v), FS) and smooth.payload["ldlj"] == ldlj(v, FS)
    assert jerky.payload["sparc"] < smooth.payload["sparc"] and jerky.payload["ldlj"] < smooth.payload["ldlj"]
    # a rep longer than the history has no smoothness
    seg2 = RepSegmenter(30, 10, rate=FS, history=1.0)
    seg2.process(_blk(x))
    assert all(math.isnan(e.payload["sparc"]) for e in seg2.pop_events() if e.kind == "rep.end")
    with pytest.raises(ConfigError):
        RepSegmenter(30, 10, rate=0.0)


def test_position_speed_is_the_filtered_derivative_and_keeps_the_movement() -> None:
    """Oracle: the analytic speed of a minimum-jerk raise (140 deg in 2 s: peak 131.25 deg/s). With 0.1 deg
    of white noise the filtered speed keeps the peak within 3 % and the rest below 2.5 % of the peak (half
    the 5 % of a movement onset), up to the ends of the series; a lost sample widens the step and makes no spike; short input is differentiated as it is."""
    from nmre.dsp.movement import position_speed

    rng = np.random.default_rng(1)
    t = np.arange(0.0, 6.0, 0.01)
    u = np.clip((t - 2.0) / 2.0, 0.0, 1.0)
    x = 140.0 * (10 * u**3 - 15 * u**4 + 6 * u**5)
    true = 140.0 * 30 * u**2 * (1 - u) ** 2 / 2.0
    v = position_speed(t, x + rng.normal(0.0, 0.1, t.shape))
    assert v.max() == pytest.approx(true.max(), rel=0.03)
    assert v[t < 1.5].max() < 0.025 * true.max() and v[t > 4.6].max() < 0.025 * true.max()
    keep = np.ones(t.shape, dtype=bool)
    keep[[250, 251, 300]] = False  # three samples lost mid-movement
    w = position_speed(t[keep], x[keep])
    assert np.max(np.abs(w - true[keep])) < 0.05 * true.max()
    assert np.array_equal(
        position_speed(t[:5], x[:5] + np.arange(5.0)), np.abs(np.gradient(x[:5] + np.arange(5.0), t[:5]))
    )
    with pytest.raises(ConfigError, match="cutoff"):
        position_speed(t, x, cutoff=80.0)

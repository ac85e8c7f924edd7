"""QualityMonitor against a brute-force oracle computed here from the samples that were delivered."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core.model import IMU_CHANNELS, Block, Channel, StreamInfo, StreamKind
from nmre.errors import ConfigError
from nmre.quality import QualityMonitor, QualityNeeds

RATE = 100.0
IMU = StreamInfo("imu.a", StreamKind.IMU, IMU_CHANNELS, RATE)
BIN = 0.02  # the monitor's resolution: the span's edges may move by one bin each


def monitor(*infos: StreamInfo) -> QualityMonitor:
    m = QualityMonitor(list(infos) or [IMU])
    m.bind({i.id: i for i in (infos or (IMU,))})
    return m


def deliver(m: QualityMonitor, t: np.ndarray, v: np.ndarray, keep: np.ndarray, packet: int = 2) -> None:
    """Packets of ``packet`` samples; samples with ``keep`` False never arrive (missing_before says so)."""
    owed = 0
    for a in range(0, t.shape[0], packet):
        k = keep[a : a + packet]
        if not k.all():
            owed += int((~k).sum())
        if k.any():
            m.push(Block("imu.a", t[a : a + packet][k], v[:, a : a + packet][:, k], a, owed))
            owed = 0


def oracle(t: np.ndarray, keep: np.ndarray, t0: float, t1: float) -> tuple[float, float]:
    """(fraction missing, longest gap) over [t0, t1] from the delivered sample times, by brute force."""
    got = t[keep]
    inside = got[(got >= t0) & (got <= t1)]
    expected = (t1 - t0) * RATE
    missing = max(0.0, 1.0 - inside.shape[0] / expected)
    edges = np.concatenate([[t0], inside, [t1]])
    gaps = np.diff(edges)
    # a gap between two samples only counts when it is longer than 1.5 sample periods (a sample is missing)
    before = got[got < t0]
    after = got[got > t1]
    pts = np.concatenate([before[-1:], inside, after[:1]])
    d = np.diff(pts)
    longest = 0.0
    for a, b, g in zip(pts[:-1], pts[1:], d, strict=True):
        if g > 1.5 / RATE:
            longest = max(longest, min(b, t1) - max(a, t0))
    del gaps
    return missing, longest


def test_clean_stream_is_judgeable_with_nothing_missing():
    m = monitor()
    t = np.arange(1000) / RATE
    deliver(m, t, np.random.default_rng(0).normal(size=(6, 1000)), np.ones(1000, bool))
    q = m.span("imu.a", 1.0, 8.0)
    assert q.fraction_missing < 0.01 and q.fraction_bad == 0 and q.longest_gap == 0 and q.clock_ok
    assert m.judge(["imu.a"], 1.0, 8.0) is None


def test_a_one_second_hole_is_missing_and_a_gap_and_the_reason_says_both():
    m = monitor()
    t = np.arange(1000) / RATE
    keep = np.ones(1000, bool)
    keep[200:300] = False  # 2.00 to 2.99 s never arrive
    deliver(m, t, np.ones((6, 1000)) + np.arange(1000) * 1e-3, keep)
    q = m.span("imu.a", 1.0, 4.0)
    miss, longest = oracle(t, keep, 1.0, 4.0)
    assert miss == pytest.approx(1 / 3, abs=0.01)
    assert q.fraction_missing == pytest.approx(miss, abs=2 * BIN * RATE / 300)
    assert q.longest_gap == pytest.approx(longest, abs=1e-9) and longest == pytest.approx(1.01)
    why = m.judge(["imu.a"], 1.0, 4.0)
    assert "33% of samples missing (limit 10%)" in why and "no samples for 1.01 s (limit 0.25 s)" in why
    assert m.judge(["imu.a"], 4.0, 9.0) is None  # judging resumes when the data is good again
    assert m.health("imu.a").missing == 100  # exact count from missing_before


@settings(max_examples=40, deadline=None)
@given(
    loss=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**16),
    t0=st.floats(0.5, 4.0),
    length=st.floats(0.5, 5.0),
)
def test_missing_fraction_and_longest_gap_match_the_brute_force_oracle(loss, seed, t0, length):
    rng = np.random.default_rng(seed)
    n = 1000
    t = np.arange(n) / RATE
    keep = np.repeat(rng.uniform(size=n // 2) >= loss, 2)  # whole 2-sample packets are lost
    m = monitor()
    deliver(m, t, rng.normal(size=(6, n)), keep)
    t1 = t0 + length
    q = m.span("imu.a", t0, t1)
    miss, longest = oracle(t, keep, t0, t1)
    tol = 2 * BIN * RATE / (length * RATE) + 0.02
    assert q.fraction_missing == pytest.approx(miss, abs=tol)
    assert q.longest_gap == pytest.approx(longest, abs=1e-9)


def test_bad_samples_by_reason_on_the_worst_channel():
    info = StreamInfo(
        "emg.x", StreamKind.EMG, (Channel("vmo", "mV"), Channel("vl", "mV", full_scale=2.5)), 1000.0
    )
    m = QualityMonitor([info])
    rng = np.random.default_rng(1)
    t = np.arange(2000) / 1000.0
    v = rng.normal(scale=0.1, size=(2, 2000))
    v[0, 100:110] = np.nan  # 10 non-finite
    v[0, 200:205] = 1e300  # 5 beyond the unit's limit (10 mV)
    v[1, 300:340] = 2.5  # 40 at the device's rail: saturated (and stuck after 0.05 s? no: 40 < 50)
    v[:, 1000:1200] = v[:, 999:1000]  # the whole vector frozen for 0.2 s: stuck from the 50th sample
    for a in range(0, 2000, 16):
        m.push(Block("emg.x", t[a : a + 16], v[:, a : a + 16]))
    q = m.span("emg.x", 0.0, 0.5)
    assert q.bad == {"nonfinite": 10, "beyond_full_scale": 5, "saturated": 40}
    assert q.worst_channel == "vl" and q.fraction_bad == pytest.approx(40 / 500, abs=0.01)
    s = m.span("emg.x", 0.9, 1.3)
    stuck_n = round(0.05 * 1000)
    assert s.bad == {"stuck": 2 * (201 - stuck_n + 1)}  # samples 999..1199 repeat; both channels flagged
    assert "bad samples" in m.judge(["emg.x"], 0.9, 1.3)


def test_a_stream_that_went_silent_is_missing_from_its_last_sample_on():
    other = StreamInfo("imu.b", StreamKind.IMU, IMU_CHANNELS, RATE)
    m = monitor(IMU, other)
    t = np.arange(1000) / RATE
    v = np.random.default_rng(2).normal(size=(6, 1000))
    for a in range(0, 1000, 2):
        m.push(Block("imu.b", t[a : a + 2], v[:, a : a + 2]))
        if t[a] < 3.0:
            m.push(Block("imu.a", t[a : a + 2], v[:, a : a + 2]))
    q = m.span("imu.a", 2.0, 6.0)
    assert q.fraction_missing == pytest.approx(0.75, abs=0.02)
    assert q.longest_gap == pytest.approx(3.0, abs=0.02)
    # a stream never seen at all is entirely missing
    m2 = monitor(IMU, other)
    for a in range(0, 1000, 2):
        m2.push(Block("imu.b", t[a : a + 2], v[:, a : a + 2]))
    assert m2.span("imu.a", 2.0, 6.0).fraction_missing == 1.0


def test_samples_still_in_transit_are_not_missing():
    other = StreamInfo("imu.b", StreamKind.IMU, IMU_CHANNELS, RATE)
    m = monitor(IMU, other)
    t = np.arange(500) / RATE
    v = np.random.default_rng(3).normal(size=(6, 500))
    m.push(Block("imu.b", t, v))
    m.push(Block("imu.a", t[:490], v[:, :490]))  # the last 0.1 s of imu.a are on their way
    assert m.span("imu.a", 2.0, 4.99).fraction_missing < 0.01
    assert m.judge(["imu.a"], 2.0, 4.99) is None


def test_times_that_do_not_advance_make_the_clock_unhealthy():
    m = monitor()
    t = np.arange(200) / RATE
    v = np.random.default_rng(4).normal(size=(6, 200))
    m.push(Block("imu.a", t[:100], v[:, :100]))
    m.push(Block("imu.a", t[90:200], v[:, 90:200]))  # ten samples again: not counted, flagged
    q = m.span("imu.a", 0.0, 1.99)
    assert not q.clock_ok and q.clock_faults == 10
    assert "did not advance" in m.judge(["imu.a"], 0.0, 1.99)
    assert m.judge(["imu.a"], 0.0, 1.99, QualityNeeds(clock=False)) is None


def test_memory_is_fixed_by_the_horizon_not_the_session_length():
    m = QualityMonitor([IMU], horizon=10.0)
    t = np.arange(100_000) / RATE  # 1000 s
    v = np.random.default_rng(5).normal(size=(6, 100_000))
    before = sum(a.nbytes for a in vars(m._streams["imu.a"]).values() if isinstance(a, np.ndarray))
    for a in range(0, 100_000, 50):
        m.push(Block("imu.a", t[a : a + 50], v[:, a : a + 50]))
    after = sum(a.nbytes for a in vars(m._streams["imu.a"]).values() if isinstance(a, np.ndarray))
    assert before == after
    assert m.span("imu.a", 995.0, 999.0).fraction_missing < 0.01
    old = m.span("imu.a", 100.0, 104.0)
    assert not old.covered


@pytest.mark.parametrize(
    "kw",
    [
        {"max_missing": 1.5},
        {"max_missing": -0.1},
        {"max_bad": math.nan},
        {"max_gap": 0},
        {"max_gap": math.nan},
        {"clock": "yes"},
        {"max_missing": True},
    ],
)
def test_needs_reject_values_that_are_not_fractions_or_seconds(kw):
    with pytest.raises(ConfigError, match="quality needs"):
        QualityNeeds(**kw)


def test_needs_from_a_drill_table_name_unknown_keys():
    assert QualityNeeds.from_mapping({"max_gap": 0.5}).max_gap == 0.5
    with pytest.raises(ConfigError, match="max_gapp"):
        QualityNeeds.from_mapping({"max_gapp": 0.5})


def test_unknown_stream_and_bad_span_are_config_errors():
    m = monitor()
    with pytest.raises(ConfigError, match=r"imu\.zz"):
        m.span("imu.zz", 0, 1)
    with pytest.raises(ConfigError, match="t0 <= t1"):
        m.span("imu.a", 2, 1)
    with pytest.raises(ConfigError, match="expected stream"):
        QualityMonitor([IMU]).bind({})

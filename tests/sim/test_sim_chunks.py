"""Chunked generation: any chunking of a session gives the bytes of the whole, and nothing holds the session."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core import VirtualClock
from nmre.sim import SimSource, SquatConfig, StanceConfig, simulate
from nmre.sim.devices.nmre_device import signal_from_arrays, signal_from_simulation
from nmre.sim.emg import PAGE
from nmre.sim.generate import IMU_PAGE

KIT = ["pelvis", "acc:trunk", "thigh.r", "emg:vmo", "emg:vl", "emg:ut"]


@pytest.fixture(scope="module")
def sim():
    return simulate(SquatConfig(reps=4), seed=13, kit=KIT, mains_hz=50, motion_artifacts=6.0)


@settings(max_examples=30, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 40_000), max_size=12),
    sid=st.sampled_from(["imu.pelvis", "acc.trunk", "emg.r", "emg.arm.r"]),
)
def test_reading_in_any_chunks_equals_the_whole(sim, cuts, sid):
    t_all, v_all = sim.data[sid]
    n = t_all.shape[0]
    edges = sorted({0, n, *(c % (n + 1) for c in cuts)})
    parts_t, parts_v = [], []
    for a, b in itertools.pairwise(edges):
        t, v = sim.read(sid, a, b)
        parts_t.append(t)
        parts_v.append(v)
    assert np.concatenate(parts_t).tobytes() == t_all.tobytes()
    assert np.concatenate(parts_v, axis=1).tobytes() == v_all.tobytes()


def test_a_fresh_simulation_read_backwards_gives_the_same_bytes():
    """Pages are pure functions of (seed, stream, page): the order of generation does not matter."""
    cfg = SquatConfig(reps=3)
    a = simulate(cfg, seed=3)
    b = simulate(cfg, seed=3)
    for sid in ("emg.r", "imu.thigh.r"):
        n = a.n_samples(sid)
        size = PAGE if sid.startswith("emg") else IMU_PAGE
        pages = [b.read(sid, p, min(p + size, n))[1] for p in reversed(range(0, n, size))]
        assert np.concatenate(pages[::-1], axis=1).tobytes() == a.data[sid][1].tobytes()


def test_emg_pages_join_without_a_seam(sim):
    """The carrier of page p continues page p-1's filter: no step in the signal's statistics at the joins."""
    _, v = sim.data["emg.r"]
    d = np.diff(v[1])
    joins = np.arange(PAGE, v.shape[1], PAGE) - 1
    assert np.max(np.abs(d[joins])) < 6 * np.std(d)


def test_the_source_serves_the_data_of_the_whole(sim):
    src = SimSource(sim, loss=0.05, dropouts=[("imu.thigh.r", 3.0, 5.0)])
    src.start(VirtualClock())
    blocks = src.poll(1e9)
    for info in sim.streams:
        t, v = sim.data[info.id]
        mine = [b for b in blocks if b.stream == info.id]
        for b in mine:
            assert np.array_equal(b.times, t[b.seq : b.seq + b.n_samples])
            assert np.array_equal(b.values, v[:, b.seq : b.seq + b.n_samples])
    thigh = [b for b in blocks if b.stream == "imu.thigh.r"]
    assert not any(3.0 <= b.times[0] < 5.0 for b in thigh)  # the dropout
    after = next(b for b in thigh if b.times[0] >= 5.0)
    assert after.missing_before >= 200 - 2  # 2 s at 100 Hz announced in one gap


def test_dropouts_are_checked():
    from nmre.errors import ConfigError

    sim = simulate(StanceConfig(duration=3.0), seed=1)
    with pytest.raises(ConfigError, match=r"a stream among imu\.pelvis"):
        SimSource(sim, dropouts=[("imu.foot.r", 1.0, 2.0)])
    with pytest.raises(ConfigError, match="start < end"):
        SimSource(sim, dropouts=[("imu.pelvis", 2.0, 1.0)])


def test_a_board_playing_the_simulation_in_chunks_plays_the_arrays(sim):
    chunked = signal_from_simulation(sim, "emg.r", "imu.pelvis")
    whole = signal_from_arrays(sim.data["emg.r"], sim.data["imu.pelvis"])
    rng = np.random.default_rng(0)
    for stream, rate, n in (
        ("emg", 2000.0, sim.n_samples("emg.r")),
        ("imu", 100.0, sim.n_samples("imu.pelvis")),
    ):
        for start in (0.0, 3.3, (n - 5) / rate, 2.5 * n / rate):  # including a wrap round the end
            t = start + np.arange(20) / rate + rng.uniform(-0.2, 0.2, 20) / rate
            assert np.array_equal(chunked(stream, t), whole(stream, t))

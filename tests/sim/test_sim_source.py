"""SimSource: every sample once, in arrival order, on a BLE-like schedule."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core import Source, VirtualClock
from nmre.errors import ConfigError, InputError, StateError
from nmre.sim import SimSource, SquatConfig, StanceConfig, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(SquatConfig(reps=2), seed=2)


def drain(src: SimSource) -> list:
    clock = VirtualClock()
    src.start(clock)
    blocks = []
    while not src.finished:
        nxt = src.next_arrival()
        assert nxt is not None
        clock.advance_to(nxt)
        got = src.poll(clock.now())
        assert got and got[0].arrival == nxt  # next_arrival is exactly the next block's arrival
        blocks.extend(got)
    assert src.next_arrival() is None
    return blocks


def test_is_a_source(sim):
    src = SimSource(sim)
    assert isinstance(src, Source)
    assert [s.id for s in src.streams] == [s.id for s in sim.streams]


def test_serves_every_sample_exactly_once_in_arrival_order(sim):
    blocks = drain(SimSource(sim))
    arrivals = np.array([b.arrival for b in blocks])
    assert np.all(np.diff(arrivals) >= 0)
    for info in sim.streams:
        mine = [b for b in blocks if b.stream == info.id]
        t, v = sim.data[info.id]
        assert np.array_equal(np.concatenate([b.times for b in mine]), t)
        assert np.array_equal(np.concatenate([b.values for b in mine], axis=1), v)
        assert [b.seq for b in mine] == list(np.cumsum([0] + [b.n_samples for b in mine[:-1]]))
        size = 16 if info.kind.value == "emg" else 2
        assert all(b.n_samples == size for b in mine[:-1]) and 1 <= mine[-1].n_samples <= size
        for b in mine:
            assert b.missing_before == 0
            assert b.arrival >= b.end_time
            assert b.values.shape == (info.n_channels, b.n_samples)


def test_latency_follows_connection_events(sim):
    ci = 0.015
    blocks = drain(SimSource(sim, conn_interval=ci))
    for sid in ("emg.r", "imu.thigh.r"):
        mine = [b for b in blocks if b.stream == sid]
        lat = np.array([b.arrival - b.end_time for b in mine])
        assert lat.min() >= 0.001  # processing delay
        assert lat.max() < ci + 0.001 + 0.005  # at most one interval plus processing and jitter
        assert 0.004 < lat.mean() < 0.013  # about half an interval on average
        arr = np.array([b.arrival for b in mine])
        phase = (arr - arr[0] + ci / 2) % ci - ci / 2  # arrivals cluster at the link's connection events
        assert np.std(phase) < 0.001
        # several EMG packets (8 ms each) share one connection event
        if sid == "emg.r":
            assert len(np.unique(np.round(arr, 2))) < len(arr)


def test_poll_before_the_next_arrival_returns_nothing(sim):
    src = SimSource(sim)
    src.start(VirtualClock())
    nxt = src.next_arrival()
    assert src.poll(nxt - 1e-6) == []
    assert src.next_arrival() == nxt
    assert len(src.poll(nxt)) >= 1
    assert not src.finished
    assert len(src.poll(math.inf)) + 1 <= src.n_blocks
    assert src.finished and src.poll(1e9) == []


@functools.cache
def _small():
    sim = simulate(SquatConfig(reps=1, lead_in=0.5, lead_out=0.5), seed=1)
    return sim, [(b.stream, b.seq, b.arrival) for b in drain(SimSource(sim))]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 0.5), min_size=1, max_size=60))
def test_any_polling_schedule_serves_the_same_blocks(steps):
    sim, ref = _small()
    src = SimSource(sim)
    src.start(VirtualClock())
    got, now = [], 0.0
    for s in steps:
        now += s
        got.extend((b.stream, b.seq, b.arrival) for b in src.poll(now))
    got.extend((b.stream, b.seq, b.arrival) for b in src.poll(math.inf))
    assert got == ref


def test_transport_is_seeded(sim):
    a = [b.arrival for b in drain(SimSource(sim, seed=5))]
    b = [b.arrival for b in drain(SimSource(sim, seed=5))]
    c = [b.arrival for b in drain(SimSource(sim, seed=6))]
    assert a == b and a != c


def test_block_sizes_are_parameters():
    sim = simulate(StanceConfig(duration=3.0), seed=1, imu_rate=200.0, emg_rate=1000.0)
    blocks = drain(SimSource(sim, emg_block=10, imu_block=4, conn_interval=0.0075))
    sizes = {b.stream: b.n_samples for b in blocks[:50]}
    assert sizes["emg.r"] == 10 and sizes["imu.pelvis"] == 4
    assert sum(b.n_samples for b in blocks if b.stream == "emg.r") == sim.data["emg.r"][0].shape[0]


def test_blocks_are_contiguous_copies_and_the_simulation_is_read_only(sim):
    src = SimSource(sim)
    src.start(VirtualClock())
    block = src.poll(1.0)[0]
    assert block.values.flags.c_contiguous and block.values.dtype == np.float64
    before = sim.data[block.stream][1][0, block.seq]
    block.values[0, 0] = before + 1.0
    assert sim.data[block.stream][1][0, block.seq] == before
    with pytest.raises(ValueError):
        sim.data["emg.r"][1][0, 0] = 1.0


def test_lifecycle_errors_name_the_state(sim):
    src = SimSource(sim)
    with pytest.raises(StateError, match="expected state running, got idle"):
        src.poll(0.0)
    src.start(VirtualClock())
    with pytest.raises(StateError, match="expected state idle, got running"):
        src.start(VirtualClock())
    with pytest.raises(InputError, match="expected a session time"):
        src.poll(math.nan)
    src.stop()
    with pytest.raises(StateError, match="got stopped"):
        src.poll(1.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"emg_block": 0}, "emg_block expected an integer > 0"),
        ({"imu_block": 2.5}, "imu_block expected an integer > 0"),
        ({"conn_interval": 0.0}, "conn_interval expected a finite number > 0"),
        ({"conn_interval": math.nan}, "conn_interval expected a finite number > 0"),
        ({"processing": -1.0}, "processing expected a finite number >= 0"),
        ({"seed": -2}, "seed expected an integer >= 0"),
        ({"loss": 1.0}, "loss expected a probability"),
    ],
)
def test_bad_parameters_raise_config_error(sim, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SimSource(sim, **kwargs)


def test_rejects_what_is_not_a_simulation():
    with pytest.raises(ConfigError, match="expected a Simulation"):
        SimSource({"data": {}})  # type: ignore[arg-type]


def test_lost_packets_are_reported_as_missing_samples(sim):
    full = drain(SimSource(sim))
    lossy = drain(SimSource(sim, loss=0.1))
    assert 0.8 * 0.9 * len(full) < len(lossy) < len(full)
    served = {(b.stream, b.seq): b.arrival for b in full}
    for info in sim.streams:
        mine = [b for b in lossy if b.stream == info.id]
        n = sim.data[info.id][0].shape[0]
        expect_seq = 0
        for b in mine:
            assert b.seq == expect_seq + b.missing_before  # the gap is announced, never filled
            assert served[(b.stream, b.seq)] == b.arrival  # losses do not move the other packets
            np.testing.assert_array_equal(b.values, sim.data[info.id][1][:, b.seq : b.seq + b.n_samples])
            expect_seq = b.seq + b.n_samples
        assert sum(b.n_samples + b.missing_before for b in mine) <= n
        assert any(b.missing_before > 0 for b in mine)

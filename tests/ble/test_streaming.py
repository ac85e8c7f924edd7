"""Streaming through BleakClient over Bumble into BleSession, on virtual loop time (looptime)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from nmre.acquisition.ble import BleSession
from nmre.sim.devices.base import LinkTiming

from .conftest import bumble_config, boards, session_clock, specs

# Few no-op cycles per virtual time step: the emulated radio advances time thousands of times a second.
pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio, pytest.mark.looptime(noop_cycles=3)]


async def collect(session: BleSession, seconds: float) -> list:
    """Poll the session once a (virtual) second, like an engine would."""
    blocks = []
    for _ in range(round(seconds)):
        await asyncio.sleep(1.0)
        blocks += session.outbox.poll()
    return blocks


@pytest.mark.slow
async def test_sixty_seconds_from_three_boards_lossless(link) -> None:
    devices = boards(link, 3, timing=LinkTiming(interval=0.015, max_packets=4, jitter=0.002))
    clock = session_clock()
    t0 = asyncio.get_running_loop().time() - clock()
    async with BleSession(specs(devices), bumble_config(link, devices), time_fn=clock) as session:
        assert session.errors == {}
        blocks = await collect(session, 60.0)
    counters = session.counters()
    for dev in devices:
        for key, rate in (("emg", 2000), ("imu", 100)):
            sid = f"{dev.name}.{key}"
            mine = [b for b in blocks if b.stream == sid]
            seqs = np.concatenate([b.seq + np.arange(b.n_samples) for b in mine])
            assert seqs[0] == 0
            np.testing.assert_array_equal(seqs, np.arange(seqs.size))  # nothing lost, nothing twice
            assert sum(b.missing_before for b in mine) == 0
            assert counters[sid]["duplicates"] == 0
            assert seqs.size >= rate * 59
            times = np.concatenate([b.times for b in mine])
            truth = dev.start_time + (dev.first_sample[key] + seqs) / rate - t0
            converged = times > 10.0
            err = np.abs(times[converged] - truth[converged])
            assert err.max() < 1e-3, f"{sid}: max error {err.max() * 1e3:.3f} ms"

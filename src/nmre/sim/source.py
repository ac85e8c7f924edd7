"""Serve a :class:`~nmre.sim.simulation.Simulation` as blocks on the session clock, like BLE sensors would.

Transport model
---------------
Each stream comes from its own (simulated) BLE peripheral. The sensor fills a
packet of ``block`` samples; the packet is ready ``processing`` seconds after
its last sample and is sent at the next *connection event* of that link
(events every ``conn_interval`` seconds, at a seeded phase per link), then
reaches the host after a small exponentially distributed jitter. This is the
latency structure of BLE notifications (Bluetooth Core Specification v5.3,
Vol 6 Part B §4.5.1, connection events; Gomez, Oller & Paradells, Sensors
12:11734, 2012). A packet never overtakes the previous one of its stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, StreamInfo, StreamKind
from nmre.errors import ConfigError, InputError, StateError, expected
from nmre.sim.scenario import child_rng
from nmre.sim.simulation import Simulation

__all__ = ["SimSource", "SourceState"]

F64 = NDArray[np.float64]


class SourceState(StrEnum):
    """Lifecycle of a :class:`SimSource`."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPED = "stopped"


def _positive(name: str, value: object, integer: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if not integer else int)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:  # type: ignore[arg-type]
        raise ConfigError(
            f"SimSource: {name} "
            + expected("a finite number > 0" if not integer else "an integer > 0", value)
        )
    return float(value)  # type: ignore[arg-type]


class SimSource(Source):
    """A scheduled :class:`nmre.core.Source` that serves a simulation's streams packet by packet.

    Parameters
    ----------
    sim : Simulation
        What to serve.
    seed : int, optional
        Seed of the transport model (default: the simulation's seed).
    emg_block : int
        Samples per EMG packet.
    imu_block : int
        Samples per IMU packet.
    conn_interval : float
        BLE connection interval, s.
    processing : float
        Delay from a packet's last sample to it being ready to send, s.
    jitter : float
        Mean of the exponential delivery jitter after the connection event, s.
    loss : float
        Probability that a packet is lost on the link (default 0: none). A lost
        packet is never served; the next served block of that stream says how many
        samples were lost in ``missing_before``. Losses come from their own seeded
        generator, so the arrival times of the other packets do not change.

    Notes
    -----
    Every block has ``seq`` = index of its first sample, ``missing_before = 0`` (unless
    ``loss`` > 0) and ``arrival`` >= the time of its last sample. :meth:`poll` returns all blocks with
    ``arrival <= now`` ordered by arrival, then stream order, then ``seq``.
    """

    def __init__(
        self,
        sim: Simulation,
        seed: int | None = None,
        emg_block: int = 16,
        imu_block: int = 2,
        conn_interval: float = 0.015,
        processing: float = 0.001,
        jitter: float = 0.0003,
        loss: float = 0.0,
    ) -> None:
        if not isinstance(sim, Simulation):
            raise ConfigError("SimSource: " + expected("a Simulation", type(sim).__name__))
        blocks = {
            StreamKind.EMG: int(_positive("emg_block", emg_block, True)),
            StreamKind.IMU: int(_positive("imu_block", imu_block, True)),
        }
        ci = _positive("conn_interval", conn_interval)
        if not (isinstance(processing, (int, float)) and math.isfinite(processing) and processing >= 0):
            raise ConfigError("SimSource: processing " + expected("a finite number >= 0", processing))
        _positive("jitter", jitter)
        if not (isinstance(loss, (int, float)) and 0.0 <= loss < 1.0):
            raise ConfigError("SimSource: loss " + expected("a probability in [0, 1)", loss))
        seed = sim.seed if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError("SimSource: seed " + expected("an integer >= 0", seed))
        seed = int(seed)
        self._sim = sim
        self._state = SourceState.IDLE
        self._clock: Clock | None = None
        arrival, stream, start, stop, missing = [], [], [], [], []
        for k, info in enumerate(sim.streams):
            t = sim.data[info.id][0]
            n, b = t.shape[0], blocks[info.kind]
            first = np.arange(0, n, b)
            last = np.minimum(first + b, n) - 1
            rng = child_rng(seed, f"source.{info.id}")
            phase = rng.uniform(0.0, ci)
            ready = t[last] + processing
            event = phase + np.ceil((ready - phase) / ci) * ci
            arr = np.maximum.accumulate(event + rng.exponential(jitter, first.shape[0]))
            kept = child_rng(seed, f"source.{info.id}.loss").uniform(size=first.shape[0]) >= loss
            first, last, arr = first[kept], last[kept], arr[kept]
            arrival.append(arr)
            stream.append(np.full(first.shape[0], k))
            start.append(first)
            stop.append(last + 1)
            missing.append(first - np.concatenate([[0], last[:-1] + 1]))
        arr_all, str_all, start_all = np.concatenate(arrival), np.concatenate(stream), np.concatenate(start)
        order = np.lexsort((start_all, str_all, arr_all))
        self._arrival = arr_all[order]
        self._stream = str_all[order]
        self._start = start_all[order]
        self._stop = np.concatenate(stop)[order]
        self._missing = np.concatenate(missing)[order]
        self._next = 0

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self._sim.streams

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def n_blocks(self) -> int:
        """Total number of blocks this source serves."""
        return int(self._arrival.shape[0])

    def start(self, clock: Clock) -> None:
        if self._state is not SourceState.IDLE:
            raise StateError(f"SimSource.start: expected state idle, got {self._state.value}")
        self._clock = clock
        self._state = SourceState.RUNNING

    def poll(self, now: float) -> list[Block]:
        if self._state is not SourceState.RUNNING:
            raise StateError(f"SimSource.poll: expected state running, got {self._state.value}")
        if not isinstance(now, (int, float)) or math.isnan(now):
            raise InputError("SimSource.poll: " + expected("a session time in seconds", now))
        end = int(np.searchsorted(self._arrival, now, side="right"))
        out = []
        for i in range(self._next, max(end, self._next)):
            info = self._sim.streams[self._stream[i]]
            t, v = self._sim.data[info.id]
            a, b = int(self._start[i]), int(self._stop[i])
            # a fresh contiguous packet, as a decoder would produce (the simulation stays untouched)
            values = np.ascontiguousarray(v[:, a:b])
            arrival = float(self._arrival[i])
            gap = int(self._missing[i])
            out.append(Block(info.id, t[a:b].copy(), values, seq=a, missing_before=gap, arrival=arrival))
        self._next = max(end, self._next)
        return out

    def next_arrival(self) -> float | None:
        if self._next >= self._arrival.shape[0]:
            return None
        return float(self._arrival[self._next])

    @property
    def finished(self) -> bool:
        return self._next >= self._arrival.shape[0]

    def stop(self) -> None:
        self._state = SourceState.STOPPED

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

Faults: ``loss`` drops packets at random (each stream has its own seeded
generator, so the other packets' arrivals do not change); ``dropouts`` silence
a stream over a span (a sensor out of range). Both show in the next served
block's ``missing_before``.

Chunks
------
The schedule is generated in pages of :data:`SCHEDULE_PAGE` packets per stream and
merged across streams with a heap; the samples of each packet are read from the
simulation's chunked generator when it is served. Memory does not grow with the
session's length.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, StreamInfo, StreamKind
from nmre.errors import ConfigError, InputError, StateError, expected
from nmre.sim.rng import child_rng
from nmre.sim.simulation import Simulation

__all__ = ["SCHEDULE_PAGE", "SimSource", "SourceState"]

F64 = NDArray[np.float64]

#: Packets per stream whose schedule is generated at once.
SCHEDULE_PAGE = 2048


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


@dataclass(frozen=True, slots=True)
class _Link:
    index: int
    info: StreamInfo
    n: int  # samples
    block: int  # samples per packet
    phase: float


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
        Samples per IMU (and ACC) packet.
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
    dropouts : sequence of (stream id, start, end)
        Spans (session seconds) during which a stream sends nothing: every packet with
        a sample in ``[start, end)`` is lost.

    Notes
    -----
    Every block has ``seq`` = index of its first sample, ``missing_before = 0`` (unless
    packets were lost) and ``arrival`` >= the time of its last sample. :meth:`poll`
    returns all blocks with ``arrival <= now`` ordered by arrival, then stream order,
    then ``seq``.
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
        dropouts: Sequence[tuple[str, float, float]] = (),
    ) -> None:
        if not isinstance(sim, Simulation):
            raise ConfigError("SimSource: " + expected("a Simulation", type(sim).__name__))
        blocks = {
            StreamKind.EMG: int(_positive("emg_block", emg_block, True)),
            StreamKind.IMU: int(_positive("imu_block", imu_block, True)),
        }
        blocks[StreamKind.ACC] = blocks[StreamKind.IMU]
        self._ci = _positive("conn_interval", conn_interval)
        if not (isinstance(processing, (int, float)) and math.isfinite(processing) and processing >= 0):
            raise ConfigError("SimSource: processing " + expected("a finite number >= 0", processing))
        self._processing = float(processing)
        self._jitter = _positive("jitter", jitter)
        if not (isinstance(loss, (int, float)) and not isinstance(loss, bool) and 0.0 <= loss < 1.0):
            raise ConfigError("SimSource: loss " + expected("a probability in [0, 1)", loss))
        self._loss = float(loss)
        seed = sim.seed if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError("SimSource: seed " + expected("an integer >= 0", seed))
        self._seed = int(seed)
        ids = [s.id for s in sim.streams]
        self._dropouts: dict[str, list[tuple[float, float]]] = {}
        if isinstance(dropouts, (str, bytes)) or not isinstance(dropouts, Sequence):
            raise ConfigError(
                "SimSource: dropouts " + expected("a sequence of (stream id, start, end)", dropouts)
            )
        for item in dropouts:
            ok = isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3
            if not ok or item[0] not in ids:
                raise ConfigError(
                    "SimSource: dropouts "
                    + expected("(stream id, start, end) with a stream among " + ", ".join(ids), item)
                )
            a, b = item[1], item[2]
            if (
                not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    for x in (a, b)
                )
                or b <= a
            ):
                raise ConfigError("SimSource: dropouts " + expected("finite times with start < end", item))
            self._dropouts.setdefault(item[0], []).append((float(a), float(b)))
        self._sim = sim
        self._state = SourceState.IDLE
        self._clock: Clock | None = None
        self._links = []
        for k, info in enumerate(sim.streams):
            phase = float(child_rng(self._seed, f"source.{info.id}").uniform(0.0, self._ci))
            self._links.append(_Link(k, info, sim.n_samples(info.id), blocks[info.kind], phase))
        self._reset_schedule()

    # -- schedule -------------------------------------------------------------------------
    def _packets(self, link: _Link) -> Iterator[tuple[float, int, int, int]]:
        """(arrival, first sample, stop sample, missing before) of every served packet of a link, in order."""
        n, b, rate = link.n, link.block, link.info.rate
        total = -(-n // b)
        last_arrival = -math.inf
        expected_next = 0
        spans = self._dropouts.get(link.info.id, [])
        for q in range(-(-total // SCHEDULE_PAGE)):
            idx = np.arange(q * SCHEDULE_PAGE, min((q + 1) * SCHEDULE_PAGE, total))
            first = idx * b
            last = np.minimum(first + b, n) - 1
            ready = last / rate + self._processing
            event = link.phase + np.ceil((ready - link.phase) / self._ci) * self._ci
            jit = child_rng(self._seed, f"source.{link.info.id}.{q}").exponential(self._jitter, idx.shape[0])
            arr = np.maximum.accumulate(np.maximum(event + jit, last_arrival))
            last_arrival = float(arr[-1])
            kept = (
                child_rng(self._seed, f"source.{link.info.id}.loss.{q}").uniform(size=idx.shape[0])
                >= self._loss
            )
            for a, e in spans:
                kept &= ~((first / rate < e) & (last / rate >= a))
            for i in np.flatnonzero(kept):
                f = int(first[i])
                yield float(arr[i]), f, int(last[i]) + 1, f - expected_next
                expected_next = int(last[i]) + 1

    def _reset_schedule(self) -> None:
        self._iters = [self._packets(link) for link in self._links]
        self._heap: list[tuple[float, int, int, int, int]] = []
        for link, it in zip(self._links, self._iters, strict=True):
            self._push(link.index, it)

    def _push(self, k: int, it: Iterator[tuple[float, int, int, int]]) -> None:
        nxt = next(it, None)
        if nxt is not None:
            arrival, a, b, missing = nxt
            heapq.heappush(self._heap, (arrival, k, a, b, missing))

    # -- Source -----------------------------------------------------------------------------
    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self._sim.streams

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def n_blocks(self) -> int:
        """Total number of blocks this source serves (counted by walking the schedule)."""
        return sum(sum(1 for _ in self._packets(link)) for link in self._links)

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
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            arrival, k, a, b, missing = heapq.heappop(heap)
            self._push(k, self._iters[k])
            info = self._links[k].info
            t, v = self._sim.read(info.id, a, b)  # fresh arrays, as a decoder would produce
            out.append(Block(info.id, t, v, seq=a, missing_before=missing, arrival=arrival))
        return out

    def next_arrival(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    @property
    def finished(self) -> bool:
        return not self._heap

    def stop(self) -> None:
        self._state = SourceState.STOPPED

"""BLE acquisition path vs a bare bleak notification callback, both over the Bumble backend.

Three measurements, each side by side in this process:

1. **Sustained notifications/s end to end**: an emulated nmre board blasts
   pre-timed packets over an in-process Bumble air (7.5 ms connection events,
   no per-event limit that matters); nmre = ``BleSession`` (stamp, enqueue,
   decode, clock model, block in the outbox), peer = ``BleakClient.start_notify``
   with a callback that appends the bytes to a list. Time per notification.
2. **Per-notification cost of the acquisition path without the radio**:
   recorded packets fed to the session's callback-plus-drain step vs the bare
   callback's ``list.append``.
3. **Notification → block available latency** (median), real time, with the
   BLE loop in its own thread: nmre = ``BleSource`` (consumer waits on
   ``wake`` and polls), peer = bare callback → ``queue.SimpleQueue`` → consumer
   thread ``get()``.
"""

from __future__ import annotations

import asyncio
import queue
import statistics
import threading
import time
from typing import Any

from bleak import BleakClient
from bumble.link import LocalLink

from _harness import Comparison
from nmre.acquisition.ble import BleConfig, BleSession, BleSource, DeviceSpec
from nmre.acquisition.bumble_backend import BumbleCentral, BumbleClientBackend
from nmre.acquisition.profiles.nmre_profile import NmreProfile, parse_info
from nmre.core.clock import RealClock
from nmre.sim.devices.base import LinkTiming
from nmre.sim.devices.nmre_device import NmreDevice, _Stream

BLAST_TIMING = LinkTiming(interval=0.0075, max_packets=10_000, queue_limit=1_000_000)


class Blaster(NmreDevice):
    """An nmre board that queues ``count`` consecutive EMG packets at once when asked to stream."""

    def __init__(self, name: str, count: int, **kwargs: Any) -> None:
        super().__init__(name, imu=False, **kwargs)
        self.count = count

    async def _produce(self, stream: _Stream) -> None:
        n = self.samples_per_packet(stream.rate, stream.n_channels)
        for _ in range(self.count):
            k = stream.next_k
            self.send(stream.char, self.encode_packet(stream.key, k, n), n, k)
            stream.next_k = k + n
        await asyncio.Event().wait()  # keep "streaming" until stopped


async def _bare(count: int) -> tuple[float, list[bytes]]:
    link = LocalLink()
    got: list[bytes] = []
    done = asyncio.Event()

    def callback(_char: Any, data: bytearray) -> None:
        got.append(bytes(data))
        if len(got) == count:
            done.set()

    async with (
        Blaster("blast", count, link=link, timing=BLAST_TIMING) as board,
        BumbleCentral(link=link) as central,
        BleakClient(board.address, backend=BumbleClientBackend, bumble_central=central) as client,
    ):
        profile = NmreProfile({"imu": False})
        t0 = time.perf_counter()
        await profile.start(client, callback)
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - t0
    return elapsed / count, got


async def _nmre(count: int) -> float:
    link = LocalLink()
    board = Blaster("blast", count, link=link, timing=BLAST_TIMING)
    config = BleConfig(backend="bumble", bumble_link=link, emulated=[board])
    spec = DeviceSpec("nmre", name="blast", config={"imu": False})
    session = BleSession([spec], config, time_fn=time.perf_counter)
    await session.start()
    try:
        t0 = time.perf_counter()
        packets = 0
        while packets < count:
            await asyncio.wait_for(session.wait_data(), 60)
            packets += len(session.outbox.poll())
        return (time.perf_counter() - t0) / count
    finally:
        await session.stop()


def _offline_cost(packets: list[bytes]) -> tuple[float, float]:
    """Per packet: callback + drain of a BleSession vs a bare append (no radio)."""
    link = LocalLink()
    board = NmreDevice("blast", link=link, imu=False)
    session = BleSession(
        [DeviceSpec("nmre", name="blast", config={"imu": False})], BleConfig(), time_fn=time.perf_counter
    )
    device = session.devices[0]  # private on purpose: the radio-free hot path
    device.profile.configure(parse_info(board._info_value()))
    device.refresh_streams()
    char = "204b0004-38b4-4f84-9573-72f0077c524f"

    def fresh() -> None:
        # Replayed packets would be duplicates for the clock model: start each round afresh (not timed).
        device.profile._unwrap.clear()  # type: ignore[attr-defined]
        device.profile.configure(parse_info(board._info_value()))  # type: ignore[attr-defined]
        for stream in device.streams.values():
            stream.clock = None

    def nmre_path() -> None:
        for data in packets:
            device.inbox.append((time.perf_counter(), char, data))
            session._drain()
        session.outbox.poll()

    sink: list[tuple[float, bytes]] = []

    def bare_path() -> None:
        for data in packets:
            sink.append((time.perf_counter(), bytes(data)))
        sink.clear()

    def best(fn: Any, setup: Any = None) -> float:
        times = []
        for _ in range(5):
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) / len(packets)

    return best(nmre_path, fresh), best(bare_path)


def _latency_nmre(seconds: float) -> float:
    link = LocalLink()
    board = NmreDevice("lat", link=link, imu=False, timing=LinkTiming(interval=0.0075))
    config = BleConfig(backend="bumble", bumble_link=link, emulated=[board])
    source = BleSource(
        [DeviceSpec("nmre", name="lat", config={"imu": False})], config, time_fn=time.perf_counter
    )
    lat: list[float] = []
    source.start(RealClock())
    try:
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            if not source.wake.wait(1.0):
                continue
            source.wake.clear()
            now = time.perf_counter()
            lat += [now - b.arrival for b in source.poll(now)]
    finally:
        source.stop()
    return statistics.median(lat)


def _latency_bare(seconds: float) -> float:
    q: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
    lat: list[float] = []

    def consumer() -> None:
        while (item := q.get()) is not None:
            lat.append(time.perf_counter() - item[0])

    async def radio() -> None:
        link = LocalLink()
        async with (
            NmreDevice("lat", link=link, imu=False, timing=LinkTiming(interval=0.0075)) as board,
            BumbleCentral(link=link) as central,
            BleakClient(board.address, backend=BumbleClientBackend, bumble_central=central) as client,
        ):
            await NmreProfile({"imu": False}).start(
                client, lambda _c, d: q.put((time.perf_counter(), bytes(d)))
            )
            await asyncio.sleep(seconds)

    worker = threading.Thread(target=consumer)
    worker.start()
    thread = threading.Thread(target=lambda: asyncio.run(radio()))
    thread.start()
    thread.join()
    q.put(None)
    worker.join()
    return statistics.median(lat)


def run(quick: bool) -> list[Comparison]:
    count = 1000 if quick else 4000
    bare_per, packets = asyncio.run(_bare(count))
    nmre_per = asyncio.run(_nmre(count))
    offline_nmre, offline_bare = _offline_cost(packets)
    seconds = 1.0 if quick else 3.0
    lat_nmre = _latency_nmre(seconds)
    lat_bare = _latency_bare(seconds)
    work = f"1 notification (4 ch x {(len(packets[0]) - 12) // 8} EMG samples), {count} sustained"
    return [
        Comparison(
            "ble sustained, per notification (Bumble)",
            nmre_per,
            "bare bleak callback",
            bare_per,
            work + f"; nmre {1 / nmre_per:,.0f}/s, bare {1 / bare_per:,.0f}/s",
            target="radio stack dominates: ratio near 1",
        ),
        Comparison(
            "ble acquisition step per notification",
            offline_nmre,
            "list.append in callback",
            offline_bare,
            "stamp+enqueue+decode+clock model+block, no radio",
            target="< 50 us",
        ),
        Comparison(
            "notification -> block available (median)",
            lat_nmre,
            "callback -> SimpleQueue -> thread",
            lat_bare,
            f"real time, {seconds:.0f} s at 2 kHz x 4 ch, 7.5 ms CI",
            target="< 2 ms",
        ),
    ]

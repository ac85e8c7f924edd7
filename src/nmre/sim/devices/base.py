"""A framework for emulated BLE peripherals on Bumble.

An :class:`EmulatedDevice` is a real BLE peripheral on a Bumble controller: it
advertises a name and service UUIDs, serves a GATT database built from a
declarative list of :class:`ServiceSpec`, answers reads and writes, and sends
notifications and indications. Centrals reach it through any Bumble "air": an
in-process :class:`bumble.link.LocalLink` (tests) or a separate emulator
process (:mod:`nmre.sim.devices.server`).

Two things make it behave like hardware rather than a mock:

* a **connection-event scheduler** (:class:`LinkTiming`): data packets queued
  with :meth:`EmulatedDevice.send` leave only at connection events, at most
  ``max_packets`` per event, with optional jitter. Bumble itself does not pace
  notifications, so the pacing is done with ``asyncio.sleep`` — under
  ``looptime`` a minute of streaming costs a second of wall time;
* **fault injection** (:class:`FaultPlan`): drop, duplicate, corrupt (flip or
  truncate bytes), stall, disconnect with a reason, stop advertising for a
  while. Faults are seeded and every one is written to :attr:`EmulatedDevice.faults`
  with its ground truth (how many samples a lost packet carried), so tests can
  compare what the receiver reported with what really happened.

A device family subclasses :class:`EmulatedDevice`, returns its GATT layout from
:meth:`EmulatedDevice.services`, reacts to writes in the characteristics'
``on_write`` handlers, and produces data with :meth:`EmulatedDevice.send`
(typically from a task started with :meth:`EmulatedDevice.spawn` when the host
asks it to stream). Errors raised in spawned tasks are kept and re-raised by
:meth:`EmulatedDevice.stop` and :meth:`EmulatedDevice.check`, never lost.

Example
-------
>>> class Thermo(EmulatedDevice):                                  # doctest: +SKIP
...     kind = "thermo"
...     def services(self):
...         return [ServiceSpec(SVC, (CharSpec(TEMP, "read,notify", b"\\x00"),))]
>>> link = LocalLink()                                              # doctest: +SKIP
>>> async with Thermo("Thermo-1", link=link):                       # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from bumble import gatt, hci
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from nmre.errors import ConfigError, DeviceError, StateError, expected

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "AttRefusal",
    "CharSpec",
    "DeviceState",
    "EmulatedDevice",
    "FaultLog",
    "FaultPlan",
    "FaultRecord",
    "LinkTiming",
    "ServiceSpec",
    "enable_data_length_extension",
    "random_static_address",
]

logger = logging.getLogger(__name__)

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"

_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"

#: HCI reason "remote user terminated connection".
REMOTE_USER_TERMINATED = 0x13
#: Reasons a device may give in HCI_Disconnect (Core spec Vol 4 Part E 7.1.6): authentication
#: failure, remote user terminated / low resources / power off, unsupported remote feature,
#: unacceptable connection parameters, pairing with unit key not supported.
DISCONNECT_REASONS = frozenset({0x05, 0x13, 0x14, 0x15, 0x1A, 0x29, 0x3B})

WriteHandler = Callable[[bytes], Coroutine[Any, Any, None] | None]
ReadHandler = Callable[[], bytes]


class AttRefusal(DeviceError):
    """Raised by a write handler to refuse a write with an ATT error code.

    Parameters
    ----------
    code : int
        ATT error code (e.g. ``0x0D`` invalid attribute value length,
        ``0x80``–``0x9F`` application errors).
    message : str
        What was wrong, for the device's log.
    """

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"ATT error 0x{code:02X}")
        self.code = code


@dataclass(frozen=True, slots=True)
class CharSpec:
    """One characteristic of an emulated device.

    Parameters
    ----------
    uuid : str
        Full 128-bit UUID string.
    properties : str
        Comma-separated bleak/Bumble property names: ``read``, ``write``,
        ``write_without_response``, ``notify``, ``indicate``.
    value : bytes
        Initial value (returned by reads unless ``on_read`` is given).
    on_write : callable or None
        ``on_write(data)`` (plain or async) called on every write; raise
        :class:`AttRefusal` to answer with an ATT error.
    on_read : callable or None
        ``on_read() -> bytes`` computing the value at read time.
    """

    uuid: str
    properties: str
    value: bytes = b""
    on_write: WriteHandler | None = None
    on_read: ReadHandler | None = None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One primary service: its UUID and characteristics."""

    uuid: str
    characteristics: tuple[CharSpec, ...]


@dataclass(frozen=True, slots=True)
class LinkTiming:
    """How the emulated link paces data packets.

    Parameters
    ----------
    interval : float
        Connection interval, seconds (7.5 ms to 50 ms here; BLE allows up to 4 s).
    max_packets : int
        At most this many data packets leave per connection event.
    jitter : float
        Each event is delayed by a uniform random ``[0, jitter)`` seconds.
    queue_limit : int
        Packets the device buffers while the link cannot keep up; older packets
        are dropped (and logged as ``"overflow"``) beyond it.
    """

    interval: float = 0.015
    max_packets: int = 6
    jitter: float = 0.0
    queue_limit: int = 2048

    def __post_init__(self) -> None:
        if not 0.0075 <= self.interval <= 0.050:
            raise ConfigError(expected("a connection interval in [0.0075, 0.050] s", self.interval))
        if self.max_packets < 1:
            raise ConfigError(expected("max_packets >= 1", self.max_packets))
        if not 0 <= self.jitter < self.interval:
            raise ConfigError(expected("0 <= jitter < interval", self.jitter))
        if self.queue_limit < 1:
            raise ConfigError(expected("queue_limit >= 1", self.queue_limit))


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Faults injected into a device's data packets and link, reproducibly.

    Probabilities apply per data packet (control responses are never faulted).
    Times are seconds since the device started (:meth:`EmulatedDevice.now`).

    Parameters
    ----------
    drop, duplicate, corrupt : float
        Probability that a data packet is dropped, sent twice, or corrupted.
    corrupt_mode : {"flip", "truncate", "mixed"}
        Flip one random byte (XOR with a non-zero mask), cut 1..n-1 bytes off
        the end, or pick either at random.
    stalls : sequence of (start, duration)
        The link sends nothing during these windows; packets queue up.
    disconnects : sequence of (time, reason)
        The device drops the connection with this HCI_Disconnect reason
        (one of :data:`DISCONNECT_REASONS`, e.g. 0x13 user terminated, 0x15 power off) at this time.
    advertising_off : float
        After a forced disconnect the device stays silent this long, seconds,
        before it advertises again.
    seed : int
        Seed of the fault random generator.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    corrupt_mode: str = "mixed"
    stalls: tuple[tuple[float, float], ...] = ()
    disconnects: tuple[tuple[float, int], ...] = ()
    advertising_off: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"fault {name}: " + expected("a probability in [0, 1]", p))
        if self.corrupt_mode not in ("flip", "truncate", "mixed"):
            raise ConfigError(expected("corrupt_mode 'flip', 'truncate' or 'mixed'", self.corrupt_mode))
        for _, reason in self.disconnects:
            if reason not in DISCONNECT_REASONS:
                raise ConfigError(
                    "fault disconnect: "
                    + expected(f"an HCI_Disconnect reason in {sorted(DISCONNECT_REASONS)}", reason)
                )
        if self.advertising_off < 0:
            raise ConfigError(expected("advertising_off >= 0 s", self.advertising_off))


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One injected fault with its ground truth.

    ``kind`` is one of ``"drop"``, ``"duplicate"``, ``"corrupt"``, ``"overflow"``,
    ``"stall"``, ``"disconnect"``, ``"flushed"`` (packets queued or produced
    when the link went down, never sent), ``"advertising_off"``; device families
    add their own (the nmre board logs ``"outage"``: samples not streamed while
    disconnected). Packets a device sent just before the *central* dropped the
    link are lost without a record (the device cannot know). ``samples`` is how many samples the
    affected packet(s) carried; ``seq`` the sequence number of the first one
    when the device family has one.
    """

    time: float
    kind: str
    char: str | None = None
    samples: int = 0
    seq: int | None = None
    detail: str = ""


@dataclass
class FaultLog:
    """Ground truth of everything a device's :class:`FaultPlan` did."""

    records: list[FaultRecord] = field(default_factory=list)

    def add(self, record: FaultRecord) -> None:
        self.records.append(record)
        logger.debug("fault injected: %s", record)

    def of(self, *kinds: str) -> list[FaultRecord]:
        """Records of the given kinds, in order."""
        return [r for r in self.records if r.kind in kinds]

    def samples(self, *kinds: str) -> int:
        """Total samples carried by packets of the given kinds."""
        return sum(r.samples for r in self.of(*kinds))


@dataclass(slots=True)
class _Packet:
    char: str
    data: bytes
    samples: int
    seq: int | None


class DeviceState(str, Enum):
    """Lifecycle of an emulated device."""

    CREATED = "created"
    ADVERTISING = "advertising"
    CONNECTED = "connected"
    SILENT = "silent"  # neither connected nor advertising (fault or explicit)
    STOPPED = "stopped"


def random_static_address(name: str) -> str:
    """A random static BLE address derived deterministically from ``name``."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] |= 0xC0  # the two top bits of a random static address are 1
    return ":".join(f"{b:02X}" for b in digest)


def enable_data_length_extension(controller: Controller, octets: int = 251) -> None:
    """Let an emulated controller carry ``octets``-byte LE ACL packets (BLE 4.2 data length extension).

    Bumble's emulated controller defaults to 27-byte packets, so a 244-byte
    notification would cross the emulated air as ten fragments.
    """
    controller.le_acl_data_packet_length = octets
    controller.acl_data_packet_length = octets
    controller.supported_max_tx_octets = octets
    controller.suggested_max_tx_octets = octets


def _properties(text: str) -> gatt.Characteristic.Properties:
    props = gatt.Characteristic.Properties(0)
    for word in text.replace("|", ",").split(","):
        word = word.strip().upper()
        if word:
            try:
                props |= gatt.Characteristic.Properties[word]
            except KeyError:
                raise ConfigError(expected("a characteristic property name", word)) from None
    return props


class EmulatedDevice(ABC):
    """A BLE peripheral emulated on a Bumble controller.

    Parameters
    ----------
    name : str
        Advertised local name (sent in the scan response).
    link : LocalLink or None
        The in-process air to attach to; ``None`` creates a private one
        (available as :attr:`link`).
    address : str or None
        Random static address; derived from ``name`` when ``None``.
    timing : LinkTiming
        Connection-event pacing of data packets.
    faults : FaultPlan
        Faults to inject.
    battery : int
        Battery level reported by the standard Battery Service, percent.
    advertising_interval : float
        Advertising interval in milliseconds (20 ms keeps connects fast in tests).

    Notes
    -----
    Lifecycle: ``CREATED`` → :meth:`start` → ``ADVERTISING`` ⇄ ``CONNECTED``
    (``SILENT`` while a fault keeps it quiet) → :meth:`stop` → ``STOPPED``.
    Use it as an async context manager. All methods must run on the event loop
    that started it.
    """

    #: Family name, matching the acquisition profile's ``kind``.
    kind: ClassVar[str] = "generic"

    def __init__(
        self,
        name: str,
        *,
        link: LocalLink | None = None,
        address: str | None = None,
        timing: LinkTiming | None = None,
        faults: FaultPlan | None = None,
        battery: int = 87,
        advertising_interval: float = 20.0,
    ) -> None:
        self.name = name
        self.link = link if link is not None else LocalLink()
        self.address = address or random_static_address(name)
        self.timing = timing or LinkTiming()
        self.plan = faults or FaultPlan()
        self.faults = FaultLog()
        self.battery = battery
        self.advertising_interval = advertising_interval
        self.state = DeviceState.CREATED
        self.connection: Connection | None = None
        self._rng = random.Random(self.plan.seed)
        self._queue: deque[_Packet] = deque()
        self._queue_event = asyncio.Event()
        self._attrs: dict[str, gatt.Characteristic[bytes]] = {}
        self._values: dict[str, bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []
        self._t0 = math.nan
        self._stall_until = -math.inf
        self._silent_until = -math.inf
        self._bumble: Device | None = None
        self._controller: Controller | None = None
        #: Data packets sent so far (after faults), for tests and benchmarks.
        self.packets_sent = 0

    # -- what a family defines -------------------------------------------------

    @abstractmethod
    def services(self) -> list[ServiceSpec]:
        """The GATT layout (without the Battery Service, which is added here)."""

    def advertised_services(self) -> list[str]:
        """Service UUIDs put in the advertisement (default: the first service)."""
        specs = self.services()
        return [specs[0].uuid] if specs else []

    async def on_connected(self) -> None:  # noqa: B027 - optional hook
        """Called when a central connects."""

    async def on_disconnected(self, reason: int) -> None:  # noqa: B027 - optional hook
        """Called when the link goes down (either side); stop streaming here."""

    # -- lifecycle ---------------------------------------------------------------

    def now(self) -> float:
        """Seconds since :meth:`start` on the event loop's clock."""
        return asyncio.get_running_loop().time() - self._t0

    @property
    def start_time(self) -> float:
        """Loop time at which the device started (its boot instant)."""
        return self._t0

    async def start(self) -> None:
        """Power on, build the GATT server and start advertising."""
        if self.state is not DeviceState.CREATED:
            raise StateError(f"device {self.name!r}: cannot start in state {self.state.value}")
        self._t0 = asyncio.get_running_loop().time()
        self._controller = Controller(f"ctrl-{self.name}", link=self.link, public_address=self.address)
        enable_data_length_extension(self._controller)
        device = Device(
            name=self.name,
            address=hci.Address(self.address),
            host=Host(self._controller, AsyncPipeSink(self._controller)),
        )
        self._bumble = device
        device.add_services(self._build_services())
        device.on(device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self.spawn(self._scheduler())
        for at, reason in self.plan.disconnects:
            self.spawn(self._disconnect_at(at, reason))
        for at, duration in self.plan.stalls:
            self.spawn(self._stall_at(at, duration))
        await self._advertise()

    async def stop(self) -> None:
        """Disconnect, stop advertising, cancel tasks; re-raise any task error."""
        if self.state is DeviceState.STOPPED:
            return
        if self.state is DeviceState.CREATED:
            raise StateError(f"device {self.name!r}: cannot stop in state {self.state.value}")
        self.state = DeviceState.STOPPED
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        device = self._bumble
        assert device is not None
        connection = self.connection
        if connection is not None:
            try:
                await connection.disconnect(REMOTE_USER_TERMINATED)
            except Exception:
                logger.debug("disconnect at stop failed", exc_info=True)
        if device.is_advertising:
            await device.stop_advertising()
        if self._controller is not None and self._controller in self.link.controllers:
            self.link.remove_controller(self._controller)
        self.check()

    async def __aenter__(self) -> EmulatedDevice:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def check(self) -> None:
        """Re-raise the first error a background task of this device raised."""
        if self._errors:
            raise DeviceError(f"emulated device {self.name!r} failed: {self._errors[0]!r}") from self._errors[
                0
            ]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned by the device; its errors are kept for :meth:`check`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            logger.error("emulated device %s: task failed", self.name, exc_info=exc)
            self._errors.append(exc)

    # -- data path -----------------------------------------------------------------

    def send(self, char: str, data: bytes, samples: int = 0, seq: int | None = None) -> None:
        """Queue a data notification for the next connection events.

        Parameters
        ----------
        char : str
            UUID of a notifying characteristic of this device.
        data : bytes
            Notification payload (at most ATT_MTU - 3 bytes reach the central).
        samples : int
            Samples the packet carries (ground truth for the fault log).
        seq : int or None
            Sequence number of its first sample, if the family has one.
        """
        if self.connection is None:
            # Produced while the link is down (before the producer learnt of it): never sent.
            self.faults.add(
                FaultRecord(self.now(), "flushed", char.lower(), samples, seq, "produced while down")
            )
            return
        if len(self._queue) >= self.timing.queue_limit:
            old = self._queue.popleft()
            self.faults.add(FaultRecord(self.now(), "overflow", old.char, old.samples, old.seq))
        self._queue.append(_Packet(char.lower(), bytes(data), samples, seq))
        self._queue_event.set()

    async def indicate(self, char: str, data: bytes) -> None:
        """Send an indication now (control-point responses); never faulted."""
        if self.connection is None:
            return
        await self._server().indicate_subscriber(self.connection, self._attrs[char.lower()], bytes(data))

    async def notify(self, char: str, data: bytes) -> None:
        """Send a notification now, bypassing the scheduler and faults."""
        if self.connection is None:
            return
        await self._server().notify_subscriber(self.connection, self._attrs[char.lower()], bytes(data))

    def set_value(self, char: str, value: bytes) -> None:
        """Set the value later reads of ``char`` return."""
        self._values[char.lower()] = bytes(value)

    @property
    def mtu(self) -> int:
        """ATT MTU of the current connection (23 when not connected)."""
        return int(self.connection.att_mtu) if self.connection is not None else 23

    @property
    def max_payload(self) -> int:
        """Largest notification payload the current connection carries, bytes."""
        return self.mtu - 3

    def queued(self) -> int:
        """Packets waiting for a connection event."""
        return len(self._queue)

    # -- link control (faults and tests) --------------------------------------------

    async def disconnect(self, reason: int = REMOTE_USER_TERMINATED, silent_for: float = 0.0) -> None:
        """Drop the connection with HCI ``reason``; stay silent ``silent_for`` s before advertising."""
        connection = self.connection
        if connection is None:
            return
        self._silent_until = self.now() + silent_for
        self.faults.add(FaultRecord(self.now(), "disconnect", detail=f"reason 0x{reason:02X}"))
        if silent_for > 0:
            self.faults.add(FaultRecord(self.now(), "advertising_off", detail=f"{silent_for} s"))
        # Stop sending at once: packets handed to a link being torn down would vanish unlogged.
        self.connection = None
        await connection.disconnect(reason)

    async def _disconnect_at(self, at: float, reason: int) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))
        await self.disconnect(reason, self.plan.advertising_off)

    async def _stall_at(self, at: float, duration: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))
        self.faults.add(FaultRecord(self.now(), "stall", detail=f"{duration} s"))
        self._stall_until = self.now() + duration

    async def _advertise(self) -> None:
        device = self._bumble
        assert device is not None
        if self.state is DeviceState.STOPPED:
            return
        structures = [(AdvertisingData.FLAGS, bytes([0x06])), *self._uuid_ad_structures()]
        # Legacy advertising carries 31 bytes; the name goes in whole if it fits,
        # else shortened (the scan response always has it whole).
        room = 31 - sum(2 + len(v) for _, v in structures) - 2
        name = self.name.encode()
        if len(name) <= room:
            structures.append((AdvertisingData.COMPLETE_LOCAL_NAME, name))
        elif room > 0:
            structures.append((AdvertisingData.SHORTENED_LOCAL_NAME, name[:room]))
        adv = AdvertisingData(structures)
        scan_response = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
        await device.start_advertising(
            advertising_data=bytes(adv),
            scan_response_data=bytes(scan_response),
            advertising_interval_min=self.advertising_interval,
            advertising_interval_max=self.advertising_interval,
        )
        self.state = DeviceState.ADVERTISING

    def _uuid_ad_structures(self) -> list[tuple[int, bytes]]:
        short, long = b"", b""
        for text in self.advertised_services():
            text = text.lower()
            if text.startswith("0000") and text.endswith(_BASE_UUID_TAIL):
                short += int(text[4:8], 16).to_bytes(2, "little")  # a Bluetooth SIG 16-bit UUID
            else:
                long += UUID(text).to_bytes(force_128=True)
        out: list[tuple[int, bytes]] = []
        if short:
            out.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, short))
        if long:
            out.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, long))
        return out

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.state = DeviceState.CONNECTED
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self.spawn(self.on_connected())

    def _on_disconnection(self, reason: int) -> None:
        self.connection = None  # (already None after a disconnect() of ours)
        flushed: dict[str, list[_Packet]] = {}
        for packet in self._queue:
            flushed.setdefault(packet.char, []).append(packet)
        self._queue.clear()
        for char, packets in flushed.items():
            self.faults.add(
                FaultRecord(
                    self.now(),
                    "flushed",
                    char,
                    sum(p.samples for p in packets),
                    packets[0].seq,
                    f"{len(packets)} packets queued when the link went down",
                )
            )
        if self.state is DeviceState.STOPPED:
            return
        self.state = DeviceState.SILENT
        self.spawn(self._after_disconnection(reason))

    async def _after_disconnection(self, reason: int) -> None:
        await self.on_disconnected(reason)
        wait = self._silent_until - self.now()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.state is DeviceState.SILENT and self.connection is None:
            await self._advertise()

    async def _scheduler(self) -> None:
        """Connection events: every interval (+ jitter) send up to ``max_packets`` packets."""
        timing = self.timing
        loop = asyncio.get_running_loop()
        next_event = loop.time()
        while True:
            if not self._queue:
                self._queue_event.clear()
                await self._queue_event.wait()
                # Data waits for the next event on the connection's grid.
                now = loop.time()
                if next_event < now:
                    next_event += math.ceil((now - next_event) / timing.interval) * timing.interval
            delay = next_event - loop.time()
            if timing.jitter:
                delay += self._rng.uniform(0.0, timing.jitter)
            if delay > 0:
                await asyncio.sleep(delay)
            next_event += timing.interval
            if self.now() < self._stall_until or self.connection is None:
                continue
            for _ in range(min(timing.max_packets, len(self._queue))):
                await self._transmit(self._queue.popleft())

    async def _transmit(self, packet: _Packet) -> None:
        plan = self.plan
        rng = self._rng
        now = self.now()
        data = packet.data
        if plan.drop and rng.random() < plan.drop:
            self.faults.add(FaultRecord(now, "drop", packet.char, packet.samples, packet.seq))
            return
        copies = 1
        if plan.duplicate and rng.random() < plan.duplicate:
            copies = 2
            self.faults.add(FaultRecord(now, "duplicate", packet.char, packet.samples, packet.seq))
        if plan.corrupt and rng.random() < plan.corrupt and len(data) > 1:
            data, how = self._corrupt(data)
            self.faults.add(FaultRecord(now, "corrupt", packet.char, packet.samples, packet.seq, how))
        connection = self.connection
        if connection is None:
            self.faults.add(
                FaultRecord(now, "flushed", packet.char, packet.samples, packet.seq, "link went down")
            )
            return
        attr = self._attrs[packet.char]
        for _ in range(copies):
            await self._server().notify_subscriber(connection, attr, data)
            self.packets_sent += 1

    def _corrupt(self, data: bytes) -> tuple[bytes, str]:
        rng = self._rng
        mode = self.plan.corrupt_mode
        if mode == "mixed":
            mode = rng.choice(("flip", "truncate"))
        if mode == "flip":
            i = rng.randrange(len(data))
            mask = rng.randrange(1, 256)
            out = bytearray(data)
            out[i] ^= mask
            return bytes(out), f"flip byte {i} ^ 0x{mask:02X}"
        cut = rng.randrange(1, len(data))
        return data[: len(data) - cut], f"truncate {cut} bytes"

    # -- GATT database ----------------------------------------------------------------

    def _server(self) -> Any:
        assert self._bumble is not None
        return self._bumble.gatt_server

    def _build_services(self) -> list[gatt.Service]:
        specs = [*self.services(), self._battery_service()]
        out = []
        for spec in specs:
            chars = [self._build_char(c) for c in spec.characteristics]
            out.append(gatt.Service(spec.uuid, chars))
        return out

    def _battery_service(self) -> ServiceSpec:
        return ServiceSpec(
            BATTERY_SERVICE_UUID,
            (CharSpec(BATTERY_LEVEL_UUID, "read,notify", on_read=lambda: bytes([self.battery])),),
        )

    def _build_char(self, spec: CharSpec) -> gatt.Characteristic[bytes]:
        key = spec.uuid.lower()
        self._values[key] = spec.value

        def read(_connection: Connection) -> bytes:
            return spec.on_read() if spec.on_read is not None else self._values[key]

        async def write(_connection: Connection, value: bytes) -> None:
            if spec.on_write is None:
                self._values[key] = bytes(value)
                return
            try:
                result = spec.on_write(bytes(value))
                if asyncio.iscoroutine(result):
                    await result
            except AttRefusal as refusal:
                logger.info("device %s refused write to %s: %s", self.name, key, refusal)
                raise ATT_Error(refusal.code, message=str(refusal)) from None

        permissions = gatt.Characteristic.Permissions.READABLE | gatt.Characteristic.Permissions.WRITEABLE
        char: gatt.Characteristic[bytes] = gatt.Characteristic(
            spec.uuid,
            _properties(spec.properties),
            permissions,
            gatt.CharacteristicValue(read=read, write=write),
        )
        self._attrs[key] = char
        return char

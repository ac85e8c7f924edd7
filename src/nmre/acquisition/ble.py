"""The BLE acquisition manager: devices in, session-clock blocks and events out.

Layers, from the radio up:

* **bleak** (public API only) talks to the devices; the backend — the
  operating system's stack or :mod:`nmre.acquisition.bumble_backend` — is
  chosen by :class:`BleConfig` and nothing else;
* a :class:`~nmre.acquisition.profiles.base.DeviceProfile` per device knows
  its commands and packet format;
* :class:`BleSession` runs in one asyncio loop. Notification callbacks stamp
  the arrival time and append ``(arrival, char, bytes)`` to an inbox —
  nothing heavier; a drain step scheduled right after (``call_soon``) decodes,
  puts samples on the session clock with a per-stream
  :class:`~nmre.acquisition.timing.StreamClock`, and hands blocks to an
  :class:`Outbox`. A supervisor task per device connects, starts the
  profile, and reconnects with bounded, jittered exponential backoff;
* :class:`Outbox` is the bounded, thread-safe hand-off to the engine: a slow
  consumer never blocks the loop; overflow drops the oldest blocks and counts
  them (and says so with a ``source.overflow`` event);
* :class:`BleSource` is the :class:`nmre.core.Source` the engine polls: it
  runs a :class:`BleSession` on its own loop in its own thread.

Events (``nmre.core.Event``, ``source`` = stream id or device label):
``stream.gap`` once per outage (payload ``missing``: samples known to be lost, ``seconds``,
``device``), ``stream.loss`` about once a second while scattered packets are lost (``lost``,
``losses``, ``seconds``, running ``fraction``; :mod:`nmre.acquisition.gaps`; exact counts in
:meth:`BleSession.counters`),
``stream.malformed`` (``count``, ``error``), ``device.connect``,
``device.disconnect`` (``reason``), ``device.reconnect`` (``outage`` seconds,
``attempts``), ``device.error`` (``message``; the device is given up, the others
keep streaming), ``source.overflow`` (``dropped_blocks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakBluetoothNotAvailableError, BleakError

from nmre.acquisition.bumble_backend import BumbleCentral, BumbleClientBackend, BumbleScannerBackend
from nmre.acquisition.gaps import GapReporter
from nmre.acquisition.profiles import Decoded, DeviceProfile, profile_classes
from nmre.acquisition.timing import StreamClock
from nmre.core import kinds
from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, Event, StreamInfo
from nmre.errors import ConfigError, DeviceError, NmreError, ProtocolError, StateError, expected

__all__ = [
    "BleConfig",
    "BleSession",
    "BleSource",
    "DeviceSpec",
    "DeviceStatus",
    "EmulatedPeripheral",
    "Outbox",
    "ReconnectPolicy",
    "ScanResult",
    "SessionState",
    "scan",
    "scan_async",
]

logger = logging.getLogger(__name__)

MAX_DEVICES = 4


class EmulatedPeripheral(Protocol):
    """What the session needs of an emulated device it hosts (``nmre.sim.devices``)."""

    name: str
    address: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Bounded, jittered exponential backoff between connection attempts.

    Delay before attempt ``n`` (1-based) is ``min(max_delay, initial * factor**(n-1))``
    times a uniform factor in ``[1 - jitter, 1 + jitter]``. ``max_attempts`` of
    ``None`` retries for as long as the session runs.
    """

    initial: float = 0.1
    factor: float = 2.0
    max_delay: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.factor >= 1 and self.max_delay >= self.initial):
            raise ConfigError(expected("initial > 0, factor >= 1, max_delay >= initial", self))
        if not 0 <= self.jitter < 1:
            raise ConfigError(expected("0 <= jitter < 1", self.jitter))

    def delay(self, attempt: int, rng: random.Random) -> float:
        # the exponent is capped: factor ** attempt overflows a float after ~1000 failed attempts
        base = min(self.max_delay, self.initial * self.factor ** min(max(0, attempt - 1), 60))
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class BleConfig:
    """Where the radio is and how hard to try. Production code changes nothing else.

    Parameters
    ----------
    backend : {"os", "bumble"}
        ``"os"``: bleak's platform backend (BlueZ, CoreBluetooth, WinRT).
        ``"bumble"``: :mod:`nmre.acquisition.bumble_backend` on ``bumble_link``
        or ``bumble_transport``.
    bumble_transport : str or None
        Bumble HCI transport moniker, e.g. ``"tcp-client:127.0.0.1:9100"``
        (an emulator process, :mod:`nmre.sim.devices.server`) or ``"usb:0"``.
    bumble_link : object or None
        An in-process ``bumble.link.LocalLink`` (tests, ``--sim``).
    emulated : sequence of EmulatedPeripheral
        Emulated devices on ``bumble_link`` that the session starts and stops on its own loop.
    connect_timeout : float
        Seconds for one connection attempt (scan + connect + profile start).
    reconnect : ReconnectPolicy
        Backoff between attempts.
    outbox_blocks : int
        Blocks the hand-off to the engine holds before it drops the oldest.
    seed : int
        Seed of the backoff jitter.
    """

    backend: str = "os"
    bumble_transport: str | None = None
    bumble_link: Any = None
    emulated: Sequence[EmulatedPeripheral] = ()
    connect_timeout: float = 10.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    outbox_blocks: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in ("os", "bumble"):
            raise ConfigError(expected("backend 'os' or 'bumble'", self.backend))
        if self.backend == "bumble" and (self.bumble_link is None) == (self.bumble_transport is None):
            raise ConfigError(
                "backend 'bumble': expected exactly one of bumble_link or bumble_transport, "
                f"got link={self.bumble_link!r}, transport={self.bumble_transport!r}"
            )
        if self.emulated and self.bumble_link is None:
            raise ConfigError("emulated devices need backend 'bumble' with a bumble_link")
        if self.outbox_blocks < 1:
            raise ConfigError(expected("outbox_blocks >= 1", self.outbox_blocks))


@dataclass(frozen=True)
class DeviceSpec:
    """One device to stream from.

    Parameters
    ----------
    kind : str
        Profile kind (``"nmre"``, ``"myo"``, ``"polar"``, ``"movesense"``).
    address : str or None
        BLE address (a UUID on macOS). Either ``address`` or ``name``.
    name : str or None
        Advertised name to look for when no address is given.
    config : mapping
        Profile configuration (rates, channels, stream prefix ...).
    label : str or None
        How messages and stream ids name the device; default ``name`` or ``address``.
    """

    kind: str
    address: str | None = None
    name: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if self.address is None and self.name is None:
            raise ConfigError(f"device of kind {self.kind!r}: expected an address or a name, got neither")

    @property
    def display(self) -> str:
        return self.label or self.name or str(self.address)


class SessionState(str, Enum):
    """Lifecycle of a :class:`BleSession` / :class:`BleSource`."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class DeviceStatus(str, Enum):
    """Where one device is."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


class Outbox:
    """Bounded, thread-safe hand-off of blocks and events from the BLE loop to the engine.

    ``put_*`` never blocks: when ``max_blocks`` are waiting the oldest block is
    dropped and counted in :attr:`dropped_blocks` / :attr:`dropped_samples`.
    """

    def __init__(self, max_blocks: int, wake: threading.Event | None = None) -> None:
        self.max_blocks = max_blocks
        self.wake = wake if wake is not None else threading.Event()
        self._lock = threading.Lock()
        self._blocks: deque[Block] = deque()
        self._events: list[Event] = []
        self.dropped_blocks = 0
        self.dropped_samples = 0
        self._overflowing = False

    def put_block(self, block: Block) -> None:
        with self._lock:
            if len(self._blocks) >= self.max_blocks:
                old = self._blocks.popleft()
                self.dropped_blocks += 1
                self.dropped_samples += old.n_samples
                if not self._overflowing:
                    self._overflowing = True
                    self._events.append(
                        Event(
                            old.arrival,
                            kinds.SOURCE_OVERFLOW,
                            old.stream,
                            {"dropped_blocks": self.dropped_blocks},
                            therapist_message="the engine is not keeping up; BLE blocks were dropped",
                        )
                    )
                    logger.warning("BLE outbox full (%d blocks): dropping the oldest", self.max_blocks)
            else:
                self._overflowing = False
            self._blocks.append(block)
        self.wake.set()

    def put_event(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
        self.wake.set()

    def poll(self, now: float = math.inf) -> list[Block]:
        """Blocks that arrived by session time ``now``, oldest first."""
        out: list[Block] = []
        with self._lock:
            blocks = self._blocks
            while blocks and not blocks[0].arrival > now:
                out.append(blocks.popleft())
        return out

    def poll_events(self) -> list[Event]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def pending(self) -> int:
        with self._lock:
            return len(self._blocks)


@dataclass
class _Stream:
    info: StreamInfo
    clock: StreamClock | None = None
    last_end: float = math.nan
    samples: int = 0
    missing: int = 0
    duplicates: int = 0
    gaps: GapReporter | None = None  # outages and scattered-loss summaries (nmre.acquisition.gaps)


class _DeviceLink:
    """One device: its profile, streams, counters and supervisor task."""

    def __init__(self, spec: DeviceSpec, profile: DeviceProfile) -> None:
        self.spec = spec
        self.profile = profile
        self.label = spec.display
        self.status = DeviceStatus.CONNECTING
        self.client: BleakClient | None = None
        self.streams: dict[str, _Stream] = {}
        self.inbox: deque[tuple[float, str, bytes]] = deque()
        self.disconnected = asyncio.Event()
        self.ready = asyncio.Event()  # set once streaming or failed
        self.error: str | None = None
        self.malformed = 0
        self.connects = 0
        self.address: str | None = spec.address
        self.battery: int | None = None
        self.mtu = 23
        self.refresh_streams()

    def refresh_streams(self) -> None:
        infos = self.profile.streams(self.label)
        for key, info in infos.items():
            if key in self.streams:
                self.streams[key].info = info
            else:
                self.streams[key] = _Stream(info)


class BleSession:
    """BLE acquisition on the running asyncio loop (use :class:`BleSource` from other threads).

    Parameters
    ----------
    devices : sequence of DeviceSpec
        Up to four devices.
    config : BleConfig
        Backend and policies.
    time_fn : callable
        Session time in seconds, used to stamp arrivals (loop time minus an
        origin under ``looptime``; ``Clock.now`` in a live session).
    outbox : Outbox or None
        Where blocks and events go (a new one by default).
    profiles : mapping or None
        Kind → profile class; :func:`nmre.acquisition.profiles.profile_classes` by default.

    Notes
    -----
    ``async with BleSession(...) as s:`` starts it and waits until every
    device streams or has failed (failures are ``device.error`` events and
    :attr:`errors`); leaving the block stops the devices' streams and disconnects.
    """

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        config: BleConfig,
        *,
        time_fn: Callable[[], float],
        outbox: Outbox | None = None,
        profiles: Mapping[str, type[DeviceProfile]] | None = None,
    ) -> None:
        if not 1 <= len(devices) <= MAX_DEVICES:
            raise ConfigError(expected(f"1 to {MAX_DEVICES} devices", len(devices)))
        classes = dict(profiles) if profiles is not None else profile_classes()
        self.config = config
        self.time_fn = time_fn
        self.outbox = outbox or Outbox(config.outbox_blocks)
        self.state = SessionState.CREATED
        self.devices: list[_DeviceLink] = []
        for spec in devices:
            cls = classes.get(spec.kind)
            if cls is None:
                raise ConfigError(
                    f"device {spec.display!r}: " + expected(f"a kind in {sorted(classes)}", spec.kind)
                )
            profile = cls(spec.config)
            if hasattr(profile, "device"):
                profile.device = spec.display
            self.devices.append(_DeviceLink(spec, profile))
        labels = [d.label for d in self.devices]
        if len(set(labels)) != len(labels):
            raise ConfigError(expected("distinct device labels", labels))
        self._central: BumbleCentral | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rng = random.Random(config.seed)
        self._drain_scheduled = False
        self._data = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Unexpected errors of background tasks (raised again by :meth:`check`).
        self.failures: list[BaseException] = []

    # -- lifecycle -----------------------------------------------------------------

    @property
    def streams(self) -> list[StreamInfo]:
        return [s.info for d in self.devices for s in d.streams.values()]

    @property
    def errors(self) -> dict[str, str]:
        """Device label → why it was given up."""
        return {d.label: d.error for d in self.devices if d.error is not None}

    def status(self) -> dict[str, DeviceStatus]:
        return {d.label: d.status for d in self.devices}

    async def start(self, wait: bool = True) -> None:
        """Start emulated devices (if any), open the radio, connect every device."""
        if self.state is not SessionState.CREATED:
            raise StateError(f"BLE session: cannot start in state {self.state.value}")
        self.state = SessionState.RUNNING
        self._loop = asyncio.get_running_loop()
        started: list[EmulatedPeripheral] = []
        try:
            for peripheral in self.config.emulated:
                await peripheral.start()
                started.append(peripheral)
            if self.config.backend == "bumble":
                central = BumbleCentral(link=self.config.bumble_link, transport=self.config.bumble_transport)
                try:
                    await central.open()
                except OSError as error:
                    raise DeviceError(_radio_unavailable(self.config, error)) from error
                self._central = central
        except BaseException:
            self.state = SessionState.STOPPED
            for peripheral in started:
                with contextlib.suppress(Exception):
                    await peripheral.stop()
            raise
        for device in self.devices:
            task = self._loop.create_task(self._supervise(device), name=f"ble:{device.label}")
            task.add_done_callback(self._task_done)
            self._tasks.append(task)
        if wait:
            await self.wait_ready()

    async def wait_ready(self) -> None:
        """Wait until every device streams or has been given up."""
        await asyncio.gather(*(d.ready.wait() for d in self.devices))
        self.check()

    async def stop(self) -> None:
        """Stop streaming (profile stop), disconnect, close the radio, stop emulated devices."""
        if self.state is not SessionState.RUNNING:
            if self.state is SessionState.STOPPED:
                return
            raise StateError(f"BLE session: cannot stop in state {self.state.value}")
        self.state = SessionState.STOPPED
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for device in self.devices:
            await self._close_client(device, send_stop=True)
            device.status = DeviceStatus.STOPPED
        self._drain()
        if self._central is not None:
            await self._central.close()
        for peripheral in self.config.emulated:
            await peripheral.stop()
        self.check()

    async def __aenter__(self) -> BleSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def check(self) -> None:
        """Raise the first unexpected error a background task hit (they never vanish)."""
        if self.failures:
            raise DeviceError(f"BLE acquisition failed: {self.failures[0]!r}") from self.failures[0]

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("BLE task %s failed", task.get_name(), exc_info=exc)
            self.failures.append(exc)
            for device in self.devices:
                device.ready.set()

    # -- bleak plumbing -------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        if self.config.backend == "bumble":
            return {"backend": BumbleClientBackend, "bumble_central": self._central}
        return {}

    def _scanner_kwargs(self) -> dict[str, Any]:
        if self.config.backend == "bumble":
            return {"backend": BumbleScannerBackend, "bumble_central": self._central}
        return {}

    async def _resolve(self, device: _DeviceLink, timeout: float) -> BLEDevice:
        """Hear the device advertise before connecting (a connect to an absent device would
        hold the radio's single pending-connection slot and starve the other devices)."""
        kwargs = self._scanner_kwargs()
        if device.spec.address is not None:
            found = await BleakScanner.find_device_by_address(device.spec.address, timeout=timeout, **kwargs)
            what = f"address {device.spec.address}"
        else:
            found = await BleakScanner.find_device_by_name(str(device.spec.name), timeout=timeout, **kwargs)
            what = f"name {device.spec.name!r}"
        if found is None:
            raise BleakError(f"{device.label}: no device with {what} advertised within {timeout} s")
        device.address = found.address
        return found

    async def _connect(self, device: _DeviceLink) -> None:
        """One attempt: find, connect, start the profile. Raises on failure."""
        timeout = self.config.connect_timeout
        target = await self._resolve(device, timeout)
        client = BleakClient(
            target,
            disconnected_callback=lambda _c: self._on_disconnected(device),
            timeout=timeout,
            **self._client_kwargs(),
        )
        device.disconnected.clear()
        await client.connect()
        device.client = client

        def on_notify(sender: BleakGATTCharacteristic, data: bytearray) -> None:
            # Hot path: stamp, enqueue, schedule one drain. Nothing heavier.
            device.inbox.append((self.time_fn(), sender.uuid, bytes(data)))
            if not self._drain_scheduled:
                self._drain_scheduled = True
                asyncio.get_running_loop().call_soon(self._drain)

        await device.profile.start(client, on_notify)
        device.refresh_streams()
        device.mtu = client.mtu_size
        device.battery = await device.profile.battery(client)

    def _on_disconnected(self, device: _DeviceLink) -> None:
        device.disconnected.set()

    async def _close_client(self, device: _DeviceLink, *, send_stop: bool) -> None:
        client, device.client = device.client, None
        if client is None:
            return
        if send_stop and client.is_connected:
            try:
                await asyncio.wait_for(device.profile.stop(client), self.config.connect_timeout)
            except (TimeoutError, NmreError, BleakError) as error:
                logger.warning("%s: stop command failed: %s", device.label, error)
        with contextlib.suppress(BleakError, asyncio.TimeoutError):
            await client.disconnect()

    async def _supervise(self, device: _DeviceLink) -> None:
        """Connect, stream until the link drops, reconnect with backoff; give up on device errors."""
        policy = self.config.reconnect
        attempts = 0
        down_since: float | None = None
        while True:
            device.status = DeviceStatus.CONNECTING if device.connects == 0 else DeviceStatus.RECONNECTING
            try:
                attempts += 1
                await asyncio.wait_for(self._connect(device), self.config.connect_timeout)
            except DeviceError as error:
                await self._close_client(device, send_stop=False)
                self._give_up(device, str(error))
                return
            except (TimeoutError, BleakError, OSError) as error:
                await self._close_client(device, send_stop=False)
                if device.connects == 0 and _no_radio(error):  # retrying will not conjure a radio
                    self._give_up(device, f"{device.label}: {_radio_unavailable(self.config, error)}")
                    return
                if policy.max_attempts is not None and attempts >= policy.max_attempts:
                    self._give_up(
                        device, f"{device.label}: could not connect after {attempts} attempts ({error})"
                    )
                    return
                delay = policy.delay(attempts, self._rng)
                logger.info(
                    "%s: connect attempt %d failed (%s); retry in %.2f s",
                    device.label,
                    attempts,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            now = self.time_fn()
            device.connects += 1
            device.status = DeviceStatus.STREAMING
            if down_since is None:
                self.outbox.put_event(
                    Event(now, kinds.DEVICE_CONNECT, device.label, {"address": device.address})
                )
            else:
                self.outbox.put_event(
                    Event(
                        now,
                        kinds.DEVICE_RECONNECT,
                        device.label,
                        {"outage": now - down_since, "attempts": attempts},
                        therapist_message=f"{device.label} reconnected after {now - down_since:.1f} s",
                    )
                )
            attempts = 0
            device.ready.set()
            await device.disconnected.wait()
            down_since = self.time_fn()
            device.status = DeviceStatus.RECONNECTING
            device.client = None
            self.outbox.put_event(
                Event(
                    down_since,
                    kinds.DEVICE_DISCONNECT,
                    device.label,
                    {},
                    patient_message="A sensor lost its connection",
                    therapist_message=f"{device.label} disconnected; reconnecting",
                )
            )
            await asyncio.sleep(policy.delay(1, self._rng))

    def _give_up(self, device: _DeviceLink, message: str) -> None:
        logger.error("giving up on %s: %s", device.label, message)
        device.status = DeviceStatus.FAILED
        device.error = message
        self.outbox.put_event(
            Event(
                self.time_fn(),
                kinds.DEVICE_ERROR,
                device.label,
                {"message": message},
                therapist_message=message,
            )
        )
        device.ready.set()

    # -- decode step -------------------------------------------------------------------

    def _drain(self) -> None:
        """Decode and stamp everything in the inboxes (runs right after the callbacks)."""
        self._drain_scheduled = False
        try:
            self._drain_inboxes()
        except Exception as error:
            logger.error("BLE decode step failed", exc_info=error)
            self.failures.append(error)
            self.outbox.wake.set()
        self._data.set()

    async def wait_data(self) -> None:
        """Wait until the next decode step has run (new blocks or events may be in the outbox)."""
        self._data.clear()
        await self._data.wait()
        self.check()

    def _drain_inboxes(self) -> None:
        for device in self.devices:
            inbox = device.inbox
            while inbox:
                arrival, char, data = inbox.popleft()
                try:
                    decoded = device.profile.decode(char, data)
                except ProtocolError as error:
                    self._malformed(device, arrival, error)
                    continue
                for d in decoded:
                    self._emit(device, d, arrival)

    def _malformed(self, device: _DeviceLink, arrival: float, error: ProtocolError) -> None:
        device.malformed += 1
        logger.info("%s: malformed packet #%d: %s", device.label, device.malformed, error)
        self.outbox.put_event(
            Event(
                arrival,
                kinds.STREAM_MALFORMED,
                device.label,
                {"count": device.malformed, "error": str(error)},
            )
        )

    def _emit(self, device: _DeviceLink, decoded: Decoded, arrival: float) -> None:
        stream = device.streams.get(decoded.stream)
        if stream is None:
            self._malformed(
                device,
                arrival,
                ProtocolError(f"{device.label}: samples for unknown stream {decoded.stream!r}"),
            )
            return
        values = decoded.values
        n = int(values.shape[1])
        if stream.clock is None:
            stream.clock = StreamClock(
                stream.info.rate,
                has_seq=decoded.seq is not None,
                has_device_time=decoded.device_time is not None,
            )
        stamped = stream.clock.stamp(n, arrival, seq=decoded.seq, device_time=decoded.device_time)
        if stamped.duplicate:
            stream.duplicates += 1
            return
        if stream.gaps is None:
            stream.gaps = GapReporter(stream.info.id, stream.info.rate)
        stream.missing += stamped.missing_before
        for event in stream.gaps.packet(
            float(stamped.times[0]) if n else arrival,
            n,
            stamped.missing_before,
            {"device": device.label, "after": stream.last_end},
        ):
            self.outbox.put_event(event)
        stream.samples += n
        if n:
            stream.last_end = float(stamped.times[-1])
        self.outbox.put_block(
            Block(
                stream.info.id,
                np.asarray(stamped.times, dtype=np.float64),
                np.ascontiguousarray(values, dtype=np.float64),
                stamped.seq_first,
                stamped.missing_before,
                arrival,
            )
        )

    # -- queries -----------------------------------------------------------------------

    def device_info(self) -> dict[str, dict[str, Any]]:
        """Per device label: status, address, kind, ATT MTU, battery (%, at the last connect), error."""
        return {
            d.label: {
                "status": d.status.value,
                "address": d.address,
                "kind": d.spec.kind,
                "mtu": d.mtu,
                "battery": d.battery,
                "error": d.error,
            }
            for d in self.devices
        }

    async def read_battery(self, label: str) -> int | None:
        """Read the battery level of a connected device now, percent (``None`` if it has none)."""
        device = next((d for d in self.devices if d.label == label), None)
        if device is None:
            raise ConfigError(expected(f"a device label in {[d.label for d in self.devices]}", label))
        if device.client is None:
            raise StateError(f"device {label!r}: cannot read the battery in state {device.status.value}")
        device.battery = await device.profile.battery(device.client)
        return device.battery

    def counters(self) -> dict[str, dict[str, int]]:
        """Per stream id: samples delivered, missing, duplicates; per device: malformed, connects."""
        out: dict[str, dict[str, int]] = {}
        for d in self.devices:
            out[d.label] = {"malformed": d.malformed, "connects": d.connects}
            for s in d.streams.values():
                out[s.info.id] = {
                    "samples": s.samples,
                    "missing": s.missing,
                    "duplicates": s.duplicates,
                    "losses": s.gaps.losses if s.gaps else 0,
                    "outages": s.gaps.outages if s.gaps else 0,
                }
        return out


class BleSource(Source):
    """The engine's view of BLE devices: a :class:`BleSession` on its own loop and thread.

    Parameters
    ----------
    devices : sequence of DeviceSpec
        Up to four devices.
    config : BleConfig
        Backend (``"os"`` or ``"bumble"``) and policies.
    time_fn : callable or None
        Session time for arrival stamps; ``clock.now`` of :meth:`start` by default.
    start_timeout : float
        Seconds :meth:`start` waits for every device to stream or fail. Devices
        still connecting then keep trying in the background (a ``device.waiting``
        event says which); :meth:`start` raises only if no device streams.

    Notes
    -----
    ``start(clock)`` returns once every device streams or was given up
    (``device.error`` events and :attr:`errors` say why; the others stream on).
    An unexpected error in the BLE thread is raised by the next :meth:`poll`.
    """

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        config: BleConfig,
        *,
        time_fn: Callable[[], float] | None = None,
        start_timeout: float = 60.0,
        profiles: Mapping[str, type[DeviceProfile]] | None = None,
    ) -> None:
        self.wake = threading.Event()
        self._devices = list(devices)
        self._config = config
        self._time_fn = time_fn
        self._profiles = profiles
        self._start_timeout = start_timeout
        self.outbox = Outbox(config.outbox_blocks, self.wake)
        self.session: BleSession | None = None
        self.state = SessionState.CREATED
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop_requested: asyncio.Event | None = None
        self._error: BaseException | None = None
        # Build a session now so that stream descriptions exist before start.
        self._preview = BleSession(devices, config, time_fn=lambda: 0.0, profiles=profiles)

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return (self.session or self._preview).streams

    @property
    def errors(self) -> dict[str, str]:
        return self.session.errors if self.session is not None else {}

    def start(self, clock: Clock) -> None:
        if self.state is not SessionState.CREATED:
            raise StateError(f"BleSource: cannot start in state {self.state.value}")
        self.state = SessionState.RUNNING
        if self.wake is not None:
            self.outbox.wake = self.wake  # the engine may hand its own event in before start
        time_fn = self._time_fn or clock.now
        self.session = BleSession(
            self._devices, self._config, time_fn=time_fn, outbox=self.outbox, profiles=self._profiles
        )
        self._thread = threading.Thread(target=self._run, name="nmre-ble", daemon=True)
        self._thread.start()
        if not self._started.wait(self._start_timeout + 30):
            raise DeviceError(f"BLE acquisition did not start within {self._start_timeout + 30} s")
        self._raise_if_failed()
        status = self.session.status()
        if DeviceStatus.STREAMING not in status.values():
            details = "; ".join(
                f"{label}: {self.session.errors.get(label, st.value)}" for label, st in status.items()
            )
            self.stop()
            raise DeviceError(f"no BLE device is streaming ({details})")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            logger.error("BLE thread failed", exc_info=error)
            self._error = error
        finally:
            self._started.set()
            self.wake.set()

    async def _main(self) -> None:
        session = self.session
        assert session is not None
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        await session.start(wait=False)
        try:
            await asyncio.wait_for(session.wait_ready(), self._start_timeout)
        except TimeoutError:
            waiting = [label for label, st in session.status().items() if st is not DeviceStatus.STREAMING]
            message = f"still connecting after {self._start_timeout} s: {', '.join(waiting)} (retrying in the background)"
            logger.warning("BLE: %s", message)
            self.outbox.put_event(
                Event(
                    session.time_fn(),
                    kinds.DEVICE_WAITING,
                    "ble",
                    {"devices": waiting},
                    therapist_message=message,
                )
            )
        self._started.set()
        try:
            await self._stop_requested.wait()
        finally:
            await session.stop()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            raise DeviceError(f"BLE acquisition thread failed: {error}") from error
        if self.session is not None:
            self.session.check()

    def poll(self, now: float) -> list[Block]:
        self._raise_if_failed()
        return self.outbox.poll(now)

    def poll_events(self) -> list[Event]:
        return self.outbox.poll_events()

    def counters(self) -> dict[str, dict[str, int]]:
        return self.session.counters() if self.session is not None else {}

    def device_info(self) -> dict[str, dict[str, Any]]:
        """See :meth:`BleSession.device_info`."""
        return self.session.device_info() if self.session is not None else {}

    def read_battery(self, label: str, timeout: float = 10.0) -> int | None:
        """Read a device's battery level now (blocks up to ``timeout`` s on the BLE thread)."""
        if self.session is None or self._loop is None or self.state is not SessionState.RUNNING:
            raise StateError(f"BleSource: cannot read a battery in state {self.state.value}")
        future = asyncio.run_coroutine_threadsafe(self.session.read_battery(label), self._loop)
        return future.result(timeout)

    def stop(self) -> None:
        if self.state is not SessionState.RUNNING:
            if self.state is SessionState.STOPPED:
                return
            raise StateError(f"BleSource: cannot stop in state {self.state.value}")
        self.state = SessionState.STOPPED
        loop, stop = self._loop, self._stop_requested
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise DeviceError("BLE thread did not stop within 30 s")
        self._raise_if_failed()

    def __enter__(self) -> BleSource:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.state is SessionState.RUNNING:
            self.stop()


def _no_radio(error: BaseException) -> bool:
    """Whether ``error`` says there is no Bluetooth stack to talk to (not a device problem)."""
    if isinstance(error, BleakBluetoothNotAvailableError):
        return True
    return isinstance(error, OSError) and not isinstance(error, TimeoutError)


def _radio_unavailable(config: BleConfig, error: BaseException) -> str:
    where = (
        "the operating system's Bluetooth stack (BlueZ/D-Bus, CoreBluetooth or WinRT)"
        if config.backend == "os"
        else f"the Bumble air ({config.bumble_transport or 'in-process link'})"
    )
    return f"Bluetooth is not available through {where}: {error!r} (for emulated sensors use --sim)"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One advertising device: name, address, RSSI (dBm) and the profile kind it matches (or ``None``)."""

    name: str | None
    address: str
    rssi: int
    kind: str | None
    service_uuids: tuple[str, ...] = ()


async def scan_async(
    timeout: float,
    config: BleConfig,
    *,
    profiles: Mapping[str, type[DeviceProfile]] | None = None,
) -> list[ScanResult]:
    """Scan for ``timeout`` seconds on the running loop; emulated devices in ``config`` are started and stopped.

    Returns every device heard, sorted by (kind is None, name, address); ``kind``
    is the first profile whose :meth:`DeviceProfile.matches` accepts the advertisement.
    """
    classes = dict(profiles) if profiles is not None else profile_classes()
    central: BumbleCentral | None = None
    started: list[EmulatedPeripheral] = []
    try:
        for peripheral in config.emulated:
            await peripheral.start()
            started.append(peripheral)
        kwargs: dict[str, Any] = {}
        if config.backend == "bumble":
            central = BumbleCentral(link=config.bumble_link, transport=config.bumble_transport)
            try:
                await central.open()
            except OSError as error:
                central = None
                raise DeviceError(_radio_unavailable(config, error)) from error
            kwargs = {"backend": BumbleScannerBackend, "bumble_central": central}
        try:
            found = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
        except (BleakError, OSError) as error:
            if isinstance(error, TimeoutError) or not _no_radio(error):
                raise
            raise DeviceError(_radio_unavailable(config, error)) from error
    finally:
        if central is not None:
            await central.close()
        for peripheral in started:
            await peripheral.stop()
    out = []
    for ble_device, adv in found.values():
        name = adv.local_name or ble_device.name
        kind = next((k for k, cls in classes.items() if cls.matches(name, adv.service_uuids)), None)
        out.append(ScanResult(name, ble_device.address, int(adv.rssi), kind, tuple(adv.service_uuids)))
    out.sort(key=lambda r: (r.kind is None, r.name or "", r.address))
    return out


def scan(
    timeout: float,
    config: BleConfig | None = None,
    *,
    profiles: Mapping[str, type[DeviceProfile]] | None = None,
) -> list[ScanResult]:
    """Blocking :func:`scan_async` on a fresh event loop (for ``nmre scan``). Default config: the OS backend."""
    return asyncio.run(scan_async(timeout, config or BleConfig(), profiles=profiles))

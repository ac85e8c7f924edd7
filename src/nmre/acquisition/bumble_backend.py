"""A bleak backend over Google Bumble: ``BleakClient``/``BleakScanner`` on an emulated or remote radio.

bleak lets a program pass its own backend class (``BleakClient(...,
backend=BumbleClientBackend, bumble_central=central)``); every public bleak
call then reaches a Bumble host instead of the operating system's stack. The
radio ("air") the Bumble host talks to is chosen by configuration only:

* an in-process :class:`bumble.link.LocalLink` shared with emulated devices
  (:mod:`nmre.sim.devices`) — the default test setup;
* an HCI transport moniker such as ``"tcp-client:127.0.0.1:9100"`` reaching a
  separate emulator process (:mod:`nmre.sim.devices.server`), or any other
  Bumble transport (``usb:0``, ``serial:/dev/ttyACM0``) for a real controller.

Like an operating-system stack, the backend requests an ATT MTU of 247 right
after connecting and discovers all services, characteristics and descriptors.

All objects here belong to the asyncio loop that opened the central.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import hci
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from nmre.errors import ConfigError, DeviceError, StateError, expected

__all__ = ["DEFAULT_MTU", "BumbleCentral", "BumbleClientBackend", "BumbleScannerBackend"]

logger = logging.getLogger(__name__)

#: ATT MTU requested on every connection (244-byte notification payloads).
DEFAULT_MTU = 247

_PROPERTY_NAMES = {
    Characteristic.Properties.BROADCAST: "broadcast",
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
    Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}

_UUID_AD_TYPES = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def uuid_str(u: UUID) -> str:
    """A Bumble UUID as bleak's lowercase 128-bit string."""
    h = bytes(reversed(u.to_bytes(force_128=True))).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Bumble transport schemes nmre has a use for, and what follows the colon.
TRANSPORTS = {
    "tcp-client": "HOST:PORT",
    "tcp-server": "HOST:PORT",
    "udp": "LOCAL_HOST:LOCAL_PORT,REMOTE_HOST:REMOTE_PORT",
    "ws-client": "ws://HOST:PORT",
    "ws-server": "HOST:PORT",
    "serial": "DEVICE[,SPEED]",
    "usb": "INDEX or VID:PID",
    "pyusb": "INDEX or VID:PID",
    "hci-socket": "INDEX",
    "vhci": "[PATH]",
    "unix": "PATH",
    "android-emulator": "[HOST:PORT]",
    "android-netsim": "[HOST:PORT]",
    "file": "PATH",
    "pty": "[PATH]",
}


def check_transport(spec: str) -> str:
    """``spec`` if it is a Bumble transport moniker nmre can use, else a ConfigError naming the expected form.

    Checks the scheme and, for TCP, the host and port; whether the other end is
    there is only known when the transport is opened (a :class:`DeviceError` then).
    """
    forms = ", ".join(f"{k}:{v}" for k, v in TRANSPORTS.items())
    scheme, sep, rest = spec.partition(":")
    if not spec.strip() or scheme not in TRANSPORTS:
        raise ConfigError("Bumble transport: " + expected(f"one of {forms}", spec))
    if scheme in ("tcp-client", "tcp-server"):
        host, colon, port = rest.rpartition(":")
        ok = bool(sep and colon and host and port.isdigit() and 0 < int(port) <= 65535)
        if not ok:
            raise ConfigError(
                "Bumble transport: " + expected(f"{scheme}:HOST:PORT with a port 1..65535", spec)
            )
    elif scheme not in ("vhci", "pty", "android-emulator", "android-netsim") and not rest:
        raise ConfigError("Bumble transport: " + expected(f"{scheme}:{TRANSPORTS[scheme]}", spec))
    return spec


class BumbleCentral:
    """A Bumble host acting as BLE central on one air, shared by scanners and clients.

    Parameters
    ----------
    link : LocalLink or None
        In-process air (emulated devices attach to the same link).
    transport : str or None
        Bumble HCI transport moniker (``"tcp-client:127.0.0.1:9100"``) when the
        controller lives elsewhere. Exactly one of ``link`` and ``transport``.
    address : str
        The central's own random static address.

    Notes
    -----
    Use as an async context manager, on the loop that will use it. Connects are
    serialised (Bumble allows one pending LE connection at a time).
    """

    def __init__(
        self,
        *,
        link: LocalLink | None = None,
        transport: str | None = None,
        address: str = "F0:6E:6D:72:65:01",
    ) -> None:
        if (link is None) == (transport is None):
            raise ConfigError(expected("exactly one of link= or transport=", (link, transport)))
        self.link = link
        self.transport_spec = transport
        self.address = address
        self._device: Device | None = None
        self._transport: Transport | None = None
        self._controller: Controller | None = None
        self._connect_lock = asyncio.Lock()
        self._scan_listeners: dict[object, Callable[[Advertisement], None]] = {}
        self._scanning = False

    @property
    def device(self) -> Device:
        if self._device is None:
            raise StateError("Bumble central: not open (state closed)")
        return self._device

    async def open(self) -> None:
        """Power on the Bumble host on its air."""
        if self._device is not None:
            raise StateError("Bumble central: cannot open, already open")
        if self.link is not None:
            self._controller = Controller("nmre-central", link=self.link, public_address=self.address)
            # Modern controllers negotiate the data length extension (251-byte LE packets).
            self._controller.le_acl_data_packet_length = 251
            self._controller.acl_data_packet_length = 251
            self._controller.supported_max_tx_octets = 251
            self._controller.suggested_max_tx_octets = 251
            host = Host(self._controller, AsyncPipeSink(self._controller))
            device = Device(name="nmre", address=hci.Address(self.address), host=host)
        else:
            assert self.transport_spec is not None
            scheme = self.transport_spec.partition(":")[0]
            what = (
                f"cannot open the Bumble transport {self.transport_spec!r} (expected a Bluetooth controller "
                + (f"at {scheme}:{TRANSPORTS[scheme]})" if scheme in TRANSPORTS else "there)")
            )
            try:
                self._transport = await open_transport(self.transport_spec)
            except (OSError, ValueError, OverflowError) as exc:  # refused, no such device, bad address
                raise DeviceError(
                    f"{what}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"{what}: {exc}"
                ) from None
            except Exception as exc:  # the transport's own errors (USB, serial) are not NmreErrors
                raise DeviceError(f"{what}: {type(exc).__name__}: {exc}") from None
            device = Device.with_hci(
                "nmre", hci.Address(self.address), self._transport.source, self._transport.sink
            )
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await device.power_on()
        self._device = device

    async def close(self) -> None:
        """Disconnect everything and power off."""
        device = self._device
        if device is None:
            return
        self._device = None
        for connection in list(device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        if self._scanning:
            with contextlib.suppress(Exception):
                await device.stop_scanning()
            self._scanning = False
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self.link is not None and self._controller in self.link.controllers:
            assert self._controller is not None
            self.link.remove_controller(self._controller)

    async def __aenter__(self) -> BumbleCentral:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, address: str, timeout: float) -> Connection:
        """Connect to the peripheral at ``address`` (waits while it is not advertising)."""
        async with self._connect_lock:
            try:
                return await self.device.connect(hci.Address(address), timeout=timeout)
            except hci.HCI_Error as error:
                raise BleakError(f"could not connect to {address}: {error}") from error
            except TimeoutError:
                raise BleakDeviceNotFoundError(
                    address, f"device {address} not found within {timeout} s"
                ) from None

    async def add_scan_listener(self, listener: Callable[[Advertisement], None]) -> Callable[[], Any]:
        """Start scanning (if not already) and call ``listener`` for every advertisement."""
        token = object()
        self._scan_listeners[token] = listener
        if not self._scanning:
            self._scanning = True
            await self.device.start_scanning(active=True, filter_duplicates=False)

        async def remove() -> None:
            self._scan_listeners.pop(token, None)
            if not self._scan_listeners and self._scanning and self._device is not None:
                self._scanning = False
                await self._device.stop_scanning()

        return remove

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._scan_listeners.values()):
            listener(advertisement)


def _advertisement_data(advertisement: Advertisement) -> tuple[str | None, AdvertisementData]:
    data = advertisement.data
    name_raw = data.get(AdvertisingData.COMPLETE_LOCAL_NAME, raw=True) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME, raw=True
    )
    name = bytes(name_raw).decode(errors="replace") if isinstance(name_raw, (bytes, bytearray)) else None
    uuids: list[str] = []
    for ad_type in _UUID_AD_TYPES:
        for value in data.get_all(ad_type):
            for u in value if isinstance(value, list) else [value]:
                s = uuid_str(u)
                if s not in uuids:
                    uuids.append(s)
    manufacturer: dict[int, bytes] = {}
    for value in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA):
        company, payload = value
        manufacturer[int(company)] = bytes(payload)
    service_data: dict[str, bytes] = {}
    for ad_type in (
        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
        AdvertisingData.SERVICE_DATA_32_BIT_UUID,
        AdvertisingData.SERVICE_DATA_128_BIT_UUID,
    ):
        for value in data.get_all(ad_type):
            u, payload = value
            service_data[uuid_str(u)] = bytes(payload)
    tx = data.get(AdvertisingData.TX_POWER_LEVEL)
    adv = AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=int(tx) if isinstance(tx, int) else None,
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )
    return name, adv


class BumbleScannerBackend(BaseBleakScanner):
    """``BaseBleakScanner`` over a :class:`BumbleCentral` (pass ``bumble_central=`` to ``BleakScanner``)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        bumble_central: BumbleCentral | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        if bumble_central is None:
            raise ConfigError("BumbleScannerBackend: expected a bumble_central= keyword argument, got none")
        self._central = bumble_central
        self._remove: Callable[[], Any] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._remove = await self._central.add_scan_listener(self._on_advertisement)

    async def stop(self) -> None:
        if self._remove is not None:
            await self._remove()
            self._remove = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        name, adv = _advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = str(advertisement.address).split("/")[0]
        device = self.create_or_update_device(address, address, name, advertisement, adv)
        self.call_detection_callbacks(device, adv)


def _protocol_error(error: ATT_Error) -> BleakGATTProtocolError:
    return BleakGATTProtocolError(int(error.error_code))


class BumbleClientBackend(BaseBleakClient):
    """``BaseBleakClient`` over a :class:`BumbleCentral` (pass ``bumble_central=`` to ``BleakClient``).

    Parameters
    ----------
    address_or_ble_device : BLEDevice or str
        Peripheral address (``"C9:1C:A1:73:1B:E0"``) or a device from a scan.
    bumble_central : BumbleCentral
        The central to connect through.
    mtu : int
        ATT MTU requested after connecting (default 247).
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        bumble_central: BumbleCentral | None = None,
        mtu: int = DEFAULT_MTU,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        if bumble_central is None:
            raise ConfigError("BumbleClientBackend: expected a bumble_central= keyword argument, got none")
        self._central = bumble_central
        self._requested_mtu = mtu
        self._name = (
            address_or_ble_device.name
            if isinstance(address_or_ble_device, BLEDevice) and address_or_ble_device.name
            else self.address
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._closing = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            logger.info("Bumble backend: pairing before connect is not supported; connecting without it")
        timeout = float(kwargs.get("timeout", self._timeout))
        connection = await self._central.connect(self.address, timeout)
        self._closing = False
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            await asyncio.wait_for(self._setup(peer), timeout)
        except BaseException:
            await self.disconnect()
            raise

    async def _setup(self, peer: Peer) -> None:
        await peer.request_mtu(self._requested_mtu)
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        connection = peer.connection
        for service in peer.services:
            await peer.discover_characteristics(service=service)
            bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for char in service.characteristics:
                await peer.discover_descriptors(char)
                props = [name for flag, name in _PROPERTY_NAMES.items() if char.properties & flag]
                bleak_char = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    uuid_str(char.uuid),
                    props,  # type: ignore[arg-type]
                    lambda: int(connection.att_mtu) - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, uuid_str(desc.type), bleak_char)
                    )
        self.services = collection

    def _on_disconnection(self, reason: int) -> None:
        solicited = self._closing
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        logger.debug("Bumble backend: %s disconnected (reason 0x%02X)", self.address, reason)
        if not solicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        done = asyncio.get_running_loop().create_future()

        def on_done(*_: object) -> None:
            if not done.done():
                done.set_result(None)

        connection.once(connection.EVENT_DISCONNECTION, on_done)
        connection.once(connection.EVENT_DISCONNECTION_FAILURE, on_done)
        try:
            await connection.disconnect()
        except hci.HCI_Error:
            logger.debug("disconnect: link already down", exc_info=True)
            on_done()
        await asyncio.wait_for(done, self._timeout)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the Bumble backend does not pair (nmre sensors need no bonding)")

    async def unpair(self) -> None:
        raise NotImplementedError("the Bumble backend does not pair (nmre sensors need no bonding)")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"Not connected to {self.address}")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        try:
            return bytearray(await peer.read_value(characteristic.obj))
        except ATT_Error as error:
            raise _protocol_error(error) from error

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        try:
            return bytearray(await peer.read_value(descriptor.obj))
        except ATT_Error as error:
            raise _protocol_error(error) from error

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        peer = self._require_peer()
        try:
            await peer.write_value(characteristic.obj, bytes(data), with_response=response)
        except ATT_Error as error:
            raise _protocol_error(error) from error

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        peer = self._require_peer()
        try:
            await peer.write_value(descriptor.obj, bytes(data), with_response=True)
        except ATT_Error as error:
            raise _protocol_error(error) from error

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = subscriber
        try:
            await peer.subscribe(proxy, subscriber, prefer_notify=True)
        except ATT_Error as error:
            self._subscribers.pop(characteristic.handle, None)
            raise _protocol_error(error) from error

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        try:
            await peer.unsubscribe(characteristic.obj, subscriber)
        except ATT_Error as error:
            raise _protocol_error(error) from error

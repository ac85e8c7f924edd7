"""The seam between the BLE transport and one kind of sensor.

A :class:`DeviceProfile` knows one device family's GATT layout, commands and
packet format. The transport (``nmre.acquisition.ble``) connects through
bleak's public API, hands the profile a :class:`GattLink` (a ``BleakClient``
satisfies it), and passes every notification's bytes to :meth:`decode`.
The profile never touches timing beyond reporting what the device sent: the
clock model (``nmre.acquisition.timing``) turns ``Decoded`` into session-time
blocks and gap events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import StreamInfo

__all__ = ["Decoded", "DeviceProfile", "GattLink", "NotifyCallback"]

NotifyCallback = Callable[[Any, bytearray], Awaitable[None] | None]


class GattLink(Protocol):
    """The part of ``bleak.BleakClient``'s public API a profile may use."""

    async def write_gatt_char(
        self, char_specifier: Any, data: bytes | bytearray, response: bool | None = None
    ) -> None: ...

    async def read_gatt_char(self, char_specifier: Any) -> bytearray: ...

    async def start_notify(self, char_specifier: Any, callback: NotifyCallback) -> None: ...

    async def stop_notify(self, char_specifier: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Decoded:
    """Samples decoded from one notification, before they are put on the session clock.

    Parameters
    ----------
    stream : str
        The profile's local stream key (one of the keys of :meth:`DeviceProfile.streams`).
    values : ndarray, shape (n_channels, n_samples), float64
        Sample values in SI units (m/s^2, rad/s, uT, mV).
    seq : int or None
        Device sample counter of the first sample (unwrapped), when the device
        sends sequence numbers; ``None`` otherwise.
    device_time : ndarray, shape (n_samples,), float64, or None
        Per-sample device time in seconds, when the device sends timestamps.
    """

    stream: str
    values: NDArray[np.float64]
    seq: int | None = None
    device_time: NDArray[np.float64] | None = None


class DeviceProfile(ABC):
    """One device family: GATT layout, commands, decoding."""

    #: Short family name used in configs and ``nmre scan`` ("myo", "polar", "movesense", "nmre").
    kind: ClassVar[str]
    #: Service UUIDs that identify the family in advertisements or after discovery.
    service_uuids: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})

    @classmethod
    @abstractmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        """Whether an advertisement (local name, advertised service UUIDs) is this family."""

    @abstractmethod
    def streams(self, device: str) -> dict[str, StreamInfo]:
        """Local stream key → StreamInfo for a device named ``device`` with this configuration."""

    @abstractmethod
    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        """Configure the device, subscribe to its data characteristics and start streaming.

        Raise :class:`nmre.errors.DeviceError` naming the device, what was asked
        and what came back if the device refuses or is not what it claims.
        """

    @abstractmethod
    async def stop(self, link: GattLink) -> None:
        """Stop streaming (devices such as Polar keep streaming otherwise)."""

    @abstractmethod
    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        """Decode one notification. Raise :class:`nmre.errors.ProtocolError` on malformed bytes."""

    async def battery(self, link: GattLink) -> int | None:
        """Battery level in percent via the standard Battery Service, if present."""
        try:
            raw = await link.read_gatt_char("00002a19-0000-1000-8000-00805f9b34fb")
        except Exception:  # not every device has the battery service
            return None
        return int(raw[0]) if raw else None

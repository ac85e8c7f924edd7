"""The ACME knee goniometer: one knee-flexion angle at 100 Hz over BLE.

Packet (one notification of the data characteristic): little-endian ``uint16``
sample counter of the first sample, then ``int16`` flexion angles in 0.01 deg.
Start streaming by writing ``01`` to the control characteristic, stop with ``00``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nmre.acquisition.profiles import Decoded, DeviceProfile, GattLink, NotifyCallback
from nmre.core.model import Channel, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ProtocolError

SERVICE_UUID = "a5e10000-0000-4000-8000-00000000ac3e"
DATA_UUID = "a5e10001-0000-4000-8000-00000000ac3e"
CONTROL_UUID = "a5e10002-0000-4000-8000-00000000ac3e"
RATE = 100.0


class AcmeGonioProfile(DeviceProfile):
    """ACME goniometer across the knee (``side`` in the configuration: ``left`` or ``right``)."""

    kind: ClassVar[str] = "acme_gonio"
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._last: int | None = None
        self._turns = 0

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        return SERVICE_UUID in {u.lower() for u in service_uuids} or (name or "").startswith("ACME-G")

    def streams(self, device: str) -> dict[str, StreamInfo]:
        side = Side(self.config.get("side", "right"))
        info = StreamInfo(
            f"angle.knee.{side.value[0]}",
            StreamKind.ANGLE,
            (Channel("flexion", "deg"),),
            RATE,
            Placement(segment="knee", side=side),
            device,
        )
        return {"knee": info}

    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        await link.start_notify(DATA_UUID, on_notify)
        await link.write_gatt_char(CONTROL_UUID, b"\x01", response=True)

    async def stop(self, link: GattLink) -> None:
        await link.write_gatt_char(CONTROL_UUID, b"\x00", response=True)

    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        if len(data) < 4 or len(data) % 2:
            raise ProtocolError(f"ACME goniometer: expected 2 + 2n bytes (n >= 1), got {len(data)}")
        (raw,) = struct.unpack_from("<H", data)
        if self._last is not None and raw < self._last and self._last - raw > 0x8000:
            self._turns += 1  # the 16-bit counter wrapped
        self._last = raw
        seq = raw + self._turns * 0x10000
        angles = np.frombuffer(bytes(data[2:]), dtype="<i2").astype(np.float64) * 0.01
        return [Decoded("knee", angles[None, :], seq=seq)]

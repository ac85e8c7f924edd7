"""Movesense sensors running the GATT SensorData Protocol (GSP) app.

Source: the GSP specification (movesense.com/docs/esw/gatt_sensordata_protocol,
from Movesense document GD-77) and the Movesense API resource descriptions
(``/Meas/Acc``, ``/Meas/IMU6``, ``/Meas/IMU9``, ``/Meas/ECG``); see
``reference/ble-devices.md`` §1.3. Written from those descriptions.

Protocol summary
----------------
* Service ``34802252-7185-4d5d-b431-630e7050e8f0``; command characteristic
  ``34800001-…`` (write), data characteristic ``34800002-…`` (notify).
* Commands ``[command, client reference ≠ 0, data…]``: HELLO 0, SUBSCRIBE 1
  + ASCII resource path (``/Meas/IMU6/104``), UNSUBSCRIBE 2 (by reference).
* Notifications ``[1 = COMMAND_RESULT, ref, u16 LE HTTP status]`` and
  ``[2 = DATA, ref, payload]``. Measurement payloads are ``u32 LE timestamp
  (ms on the sensor clock, of the first sample)`` followed by float32 arrays:
  Acc ``N × (x, y, z)``; IMU6 ``acc[N], gyro[N]``; IMU9 ``acc[N], gyro[N],
  magn[N]`` [hedge: order as the API yaml lists the fields]. ECG is
  ``u32 timestamp + N × int32`` samples.

Units reported: acc m/s^2 (as sent), gyro rad/s (sent in deg/s), magnetic
field µT (as sent), ECG mV (sent as int32 counts; ``ecg_mv_per_count`` in the
configuration, default 1e-3, i.e. counts read as µV [hedge: check your firmware]).

A payload too long for one notification is split by newer firmware into DATA
and a DATA_PART2 (type 3) continuation [third-party: the Node GSP client's notes];
a DATA whose samples are not whole is held until its DATA_PART2 arrives.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.base import Decoded, DeviceProfile, GattLink, NotifyCallback
from nmre.core.model import Channel, StreamInfo, StreamKind
from nmre.errors import DeviceError, ProtocolError, expected

__all__ = [
    "COMMAND_UUID",
    "DATA_UUID",
    "ECG_RATES",
    "IMU_RATES",
    "SERVICE_UUID",
    "Command",
    "MovesenseProfile",
    "decode_measurement",
    "resource_path",
]

SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"
ADVERTISED_UUID = "0000fdf3-0000-1000-8000-00805f9b34fb"

IMU_RATES = (13, 26, 52, 104, 208, 416, 833, 1666)
ECG_RATES = (125, 128, 200, 250, 256, 500, 512)
TIME_WRAP_MS = 1 << 32
HEADER = 2 + 4  # type, ref, u32 timestamp


class Command(IntEnum):
    HELLO = 0
    SUBSCRIBE = 1
    UNSUBSCRIBE = 2


class Notification(IntEnum):
    COMMAND_RESULT = 1
    DATA = 2
    DATA_PART2 = 3


#: floats per sample for each resource (ECG: int32 per sample).
_WIDTH = {"Acc": 3, "IMU6": 6, "IMU9": 9, "ECG": 1}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    501: "Not Implemented",
    507: "Insufficient Storage",
}


def resource_path(resource: str, rate: int) -> str:
    """``/Meas/<resource>/<rate>`` as GSP's SUBSCRIBE wants it."""
    return f"/Meas/{resource}/{int(rate)}"


def decode_measurement(
    resource: str, payload: bytes | bytearray, device: str = "movesense"
) -> tuple[int, NDArray[np.float64]]:
    """Decode a DATA payload (after type and reference bytes).

    Returns
    -------
    timestamp_ms : int
        Sensor time of the first sample, ms (wraps at 2**32).
    values : ndarray, shape (n_channels, n_samples), float64
        As sent: acc m/s^2, gyro deg/s, magn µT; ECG int32 counts. Channel order
        acc x, y, z, gyro x, y, z, magn x, y, z (as many as the resource has).
    """
    width = _WIDTH.get(resource)
    if width is None:
        raise ProtocolError(f"{device}: " + expected("a resource Acc, IMU6, IMU9 or ECG", resource))
    if len(payload) < 4:
        raise ProtocolError(
            f"{device}: {resource} data " + expected(">= 4 bytes (u32 timestamp)", len(payload))
        )
    (ts,) = struct.unpack_from("<I", payload)
    body = bytes(payload[4:])
    stride = 4 * width
    if not body or len(body) % stride:
        raise ProtocolError(
            f"{device}: {resource} data "
            + expected(f"a timestamp + a multiple of {stride} sample bytes", len(payload))
        )
    n = len(body) // stride
    if resource == "ECG":
        return ts, np.frombuffer(body, dtype="<i4").astype(np.float64)[None, :]
    flat = np.frombuffer(body, dtype="<f4").astype(np.float64)
    # arrays follow each other: acc[N] then gyro[N] then magn[N], each N x 3
    parts = [flat[i * 3 * n : (i + 1) * 3 * n].reshape(n, 3).T for i in range(width // 3)]
    return ts, np.concatenate(parts, axis=0)


@dataclass
class _Subscription:
    key: str
    resource: str
    rate: int
    ref: int
    last_ms: int = -1  # unwrapped ms of the previous packet's first sample
    next_s: float = math.nan  # expected device time of the next packet's first sample, s
    pending: bytes | None = None  # first part of a payload split over DATA + DATA_PART2


_CH = {
    "acc": (("acc_x", "m/s^2"), ("acc_y", "m/s^2"), ("acc_z", "m/s^2")),
    "gyr": (("gyr_x", "rad/s"), ("gyr_y", "rad/s"), ("gyr_z", "rad/s")),
    "mag": (("mag_x", "uT"), ("mag_y", "uT"), ("mag_z", "uT")),
}


class MovesenseProfile(DeviceProfile):
    """Movesense GSP streaming.

    Configuration keys (all optional): ``subscriptions``: ``{"imu6"|"imu9"|"acc"|"ecg": rate}``
    (default ``{"imu6": 104}``); ``ecg_mv_per_count`` (default 1e-3); ``stream_prefix``
    (stream ids ``"<prefix>.imu"``, ``".mag"``, ``".acc"``, ``".ecg"``; default the device
    name); ``command_timeout`` (s, default 5).
    """

    kind: ClassVar[str] = "movesense"
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.device = "movesense"
        self._results: dict[int, asyncio.Queue[int]] = {}
        self._subs: dict[int, _Subscription] = {}

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return bool(uuids & {SERVICE_UUID, ADVERTISED_UUID}) or bool(
            name and str(name).startswith("Movesense")
        )

    def subscriptions(self) -> list[_Subscription]:
        """Configured subscriptions with their client references (1, 2, …)."""
        chosen = self.config.get("subscriptions") or {"imu6": 104}
        out = []
        for ref, (key, rate) in enumerate(dict(chosen).items(), start=1):
            resource = {"imu6": "IMU6", "imu9": "IMU9", "acc": "Acc", "ecg": "ECG"}.get(str(key).lower())
            if resource is None:
                raise DeviceError(
                    f"{self.device}: " + expected("subscriptions among imu6, imu9, acc, ecg", key)
                )
            out.append(_Subscription(str(key).lower(), resource, int(rate), ref))
        return out

    def streams(self, device: str) -> dict[str, StreamInfo]:
        self.device = device
        prefix = str(self.config.get("stream_prefix", device))
        out: dict[str, StreamInfo] = {}

        def add(key: str, kind: StreamKind, chans: tuple[tuple[str, str], ...], rate: int) -> None:
            out[key] = StreamInfo(
                f"{prefix}.{key}", kind, tuple(Channel(n, u) for n, u in chans), float(rate), device=device
            )

        for sub in self.subscriptions():
            if sub.resource in ("IMU6", "IMU9"):
                add("imu", StreamKind.IMU, _CH["acc"] + _CH["gyr"], sub.rate)
            if sub.resource == "IMU9":
                add("mag", StreamKind.MAG, _CH["mag"], sub.rate)
            if sub.resource == "Acc":
                add("acc", StreamKind.ACC, _CH["acc"], sub.rate)
            if sub.resource == "ECG":
                add("ecg", StreamKind.ECG, (("ecg", "mV"),), sub.rate)
        return out

    # -- commands ------------------------------------------------------------------

    def _times(self, sub: _Subscription, ms: int, n: int) -> NDArray[np.float64]:
        """Per-sample device time, s. The ms timestamp is quantised to 1 ms, coarser than
        a sample at high rates, so a packet that continues the previous one within
        2.5 ms is placed on the continued grid, pulled a tenth of the way to its own
        timestamp (a phase-locked loop that follows the sensor's real rate)."""
        t = ms * 1e-3
        if math.isfinite(sub.next_s) and abs(t - sub.next_s) <= 2.5e-3:
            t = sub.next_s + 0.1 * (t - sub.next_s)
        sub.next_s = t + n / sub.rate
        return t + np.arange(n) / sub.rate

    def _router(self, on_notify: NotifyCallback) -> NotifyCallback:
        def route(sender: Any, data: bytearray) -> Any:
            if len(data) >= 4 and data[0] == Notification.COMMAND_RESULT:
                queue = self._results.get(data[1])
                if queue is not None:
                    queue.put_nowait(int.from_bytes(data[2:4], "little"))
                return None
            return on_notify(sender, data)

        return route

    async def command(
        self, link: GattLink, command: Command, ref: int, data: bytes = b"", what: str = ""
    ) -> int:
        """Write one GSP command and wait for its COMMAND_RESULT; return the status.

        Raises
        ------
        DeviceError
            No result within ``command_timeout`` or a status other than 200.
        """
        queue = self._results.setdefault(ref, asyncio.Queue())
        while not queue.empty():
            queue.get_nowait()
        request = bytes([command, ref]) + data
        label = f"{command.name} {what}".strip()
        await link.write_gatt_char(COMMAND_UUID, request, response=True)
        timeout = float(self.config.get("command_timeout", 5.0))
        try:
            status = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            raise DeviceError(
                f"{self.device}: asked {label} ({request.hex(' ')}), got no result within {timeout} s"
            ) from None
        if status != 200:
            reason = _REASONS.get(status, "")
            raise DeviceError(
                f"{self.device}: asked {label} ({request.hex(' ')}), device answered status {status} {reason}".rstrip()
            )
        return status

    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        self._subs.clear()
        await link.start_notify(DATA_UUID, self._router(on_notify))
        for sub in self.subscriptions():
            path = resource_path(sub.resource, sub.rate)
            await self.command(link, Command.SUBSCRIBE, sub.ref, path.encode("ascii"), path)
            self.configure(sub.ref)

    def configure(self, ref: int) -> None:
        """Expect DATA for the configured subscription with client reference ``ref`` (what start() sets up).

        DATA for a reference not configured raises :class:`ProtocolError`.
        """
        for sub in self.subscriptions():
            if sub.ref == ref:
                self._subs[ref] = sub
                return
        raise DeviceError(f"{self.device}: " + expected("a configured subscription reference", ref))

    async def stop(self, link: GattLink) -> None:
        errors = []
        for ref, sub in list(self._subs.items()):
            try:
                await self.command(link, Command.UNSUBSCRIBE, ref, b"", resource_path(sub.resource, sub.rate))
            except DeviceError as error:
                errors.append(str(error))
            del self._subs[ref]
        if errors:
            raise DeviceError("; ".join(errors))

    # -- decoding ------------------------------------------------------------------

    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        if char_uuid.lower() != DATA_UUID:
            raise ProtocolError(f"{self.device}: notification from unexpected characteristic {char_uuid}")
        if len(data) < 2:
            raise ProtocolError(
                f"{self.device}: notification " + expected(">= 2 bytes (type, reference)", len(data))
            )
        kind, ref = data[0], data[1]
        if kind == Notification.COMMAND_RESULT:
            return []
        if kind not in (Notification.DATA, Notification.DATA_PART2):
            raise ProtocolError(
                f"{self.device}: "
                + expected("a DATA or DATA_PART2 notification (type 2 or 3)", f"type {kind}")
            )
        sub = self._subs.get(ref)
        if sub is None:
            raise ProtocolError(f"{self.device}: DATA " + expected("a subscribed reference", ref))
        if kind == Notification.DATA_PART2:
            if sub.pending is None:
                raise ProtocolError(
                    f"{self.device}: DATA_PART2 for reference {ref} " + expected("a first part", "none")
                )
            payload, sub.pending = sub.pending + bytes(data[2:]), None
        else:
            payload = bytes(data[2:])
            stale, sub.pending = sub.pending, None
            if len(payload) >= 4 and (len(payload) - 4) % (4 * _WIDTH[sub.resource]):
                sub.pending = payload  # not whole samples: the rest follows as DATA_PART2
            if stale is not None:
                raise ProtocolError(
                    f"{self.device}: DATA for reference {ref}: "
                    + expected(
                        "DATA_PART2 to complete the previous packet", f"{len(stale)} bytes left unfinished"
                    )
                )
            if sub.pending is not None:
                return []
        ts, values = decode_measurement(sub.resource, payload, self.device)
        n = values.shape[1]
        ms = ts if sub.last_ms < 0 else sub.last_ms + ((ts - sub.last_ms) % TIME_WRAP_MS)
        if sub.last_ms >= 0 and ms - sub.last_ms > TIME_WRAP_MS // 2:  # behind: duplicate or reordered
            ms -= TIME_WRAP_MS
        sub.last_ms = max(sub.last_ms, ms)
        device_time = self._times(sub, ms, n)
        if sub.resource == "ECG":
            scale = float(self.config.get("ecg_mv_per_count", 1e-3))
            return [Decoded("ecg", values * scale, None, device_time)]
        if sub.resource == "Acc":
            return [Decoded("acc", values, None, device_time)]
        imu = values[:6].copy()  # acc m/s^2, gyro deg/s → rad/s
        imu[3:6] *= math.pi / 180.0
        out = [Decoded("imu", imu, None, device_time)]
        if sub.resource == "IMU9":
            out.append(Decoded("mag", values[6:9], None, device_time))
        return out

"""Thalmic Myo armband: 8-channel EMG at 200 Hz and a 50 Hz IMU.

Source: the public GATT specification ``thalmiclabs/myo-bluetooth:myohw.h``
(Apache-2.0), cross-checked with the community decoders named in
``reference/ble-devices.md`` §1.1. Written from those descriptions.

Protocol summary
----------------
* UUIDs ``d506XXXX-a904-deb9-4748-2c7f4a124842``; command characteristic
  0x0401 (write), IMU data 0x0402 (notify, 20 bytes), EMG data 0x0105,
  0x0205, 0x0305, 0x0405 (notify, 16 bytes each).
* Commands are ``[command, payload size, payload…]``: ``set_mode`` =
  ``01 03 <emg mode> <imu mode> <classifier mode>``, ``set_sleep_mode`` =
  ``09 01 <0 normal | 1 never sleep>``.
* EMG notification: two consecutive samples of 8 int8 channels. The four
  characteristics together carry one 200 Hz stream (a round robin).
* IMU notification: 10 little-endian int16 (the header's "big-endian" comment
  is wrong; every working decoder reads little-endian): quaternion w, x, y, z
  (/16384), accelerometer x, y, z (/2048 g), gyroscope x, y, z (/16 deg/s).
* No sequence numbers and no timestamps: the clock model reconstructs sample
  times from arrival times (``nmre.acquisition.timing``).

Units reported
--------------
* EMG: the Myo's raw signed 8-bit counts (unit ``"count"``). The device
  publishes no scale to volts. With ``emg_mv_per_count`` in the configuration
  the counts are multiplied by it and the unit becomes ``"mV"``.
* IMU: m/s^2 and rad/s; the orientation stream is the unit quaternion w, x, y, z.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.base import Decoded, DeviceProfile, GattLink, NotifyCallback
from nmre.core.model import Channel, StreamInfo, StreamKind
from nmre.errors import DeviceError, ProtocolError, expected

__all__ = [
    "ACC_SCALE",
    "COMMAND_UUID",
    "CONTROL_SERVICE_UUID",
    "EMG_DATA_UUIDS",
    "EMG_RATE",
    "GYRO_SCALE",
    "IMU_DATA_UUID",
    "IMU_RATE",
    "QUAT_SCALE",
    "EmgMode",
    "ImuMode",
    "MyoProfile",
    "decode_emg",
    "decode_imu",
    "myo_uuid",
    "set_mode",
    "set_sleep_mode",
]


def myo_uuid(short: int) -> str:
    """Full Myo UUID for a 16-bit short id."""
    return f"d506{short:04x}-a904-deb9-4748-2c7f4a124842"


CONTROL_SERVICE_UUID = myo_uuid(0x0001)
INFO_UUID = myo_uuid(0x0101)
FIRMWARE_UUID = myo_uuid(0x0201)
COMMAND_UUID = myo_uuid(0x0401)
IMU_SERVICE_UUID = myo_uuid(0x0002)
IMU_DATA_UUID = myo_uuid(0x0402)
EMG_SERVICE_UUID = myo_uuid(0x0005)
EMG_DATA_UUIDS = tuple(myo_uuid(s) for s in (0x0105, 0x0205, 0x0305, 0x0405))

EMG_RATE = 200.0
IMU_RATE = 50.0
EMG_CHANNELS = 8
EMG_PACKET = 16
IMU = struct.Struct("<10h")
QUAT_SCALE = 16384.0  # counts per unit
ACC_SCALE = 2048.0  # counts per g
GYRO_SCALE = 16.0  # counts per deg/s
G = 9.80665


class Command(IntEnum):
    """Command ids (first byte written to the command characteristic)."""

    SET_MODE = 0x01
    VIBRATE = 0x03
    DEEP_SLEEP = 0x04
    SET_SLEEP_MODE = 0x09
    UNLOCK = 0x0A


class EmgMode(IntEnum):
    NONE = 0x00
    FILTERED = 0x02
    RAW = 0x03


class ImuMode(IntEnum):
    NONE = 0x00
    DATA = 0x01
    EVENTS = 0x02
    ALL = 0x03
    RAW = 0x04


def set_mode(emg: int, imu: int, classifier: int = 0) -> bytes:
    """``set_mode`` command bytes."""
    return bytes([Command.SET_MODE, 3, emg, imu, classifier])


def set_sleep_mode(never_sleep: bool) -> bytes:
    """``set_sleep_mode`` command bytes (never sleep keeps the band awake while streaming)."""
    return bytes([Command.SET_SLEEP_MODE, 1, 1 if never_sleep else 0])


def decode_emg(data: bytes | bytearray, device: str = "myo") -> NDArray[np.int8]:
    """Two 8-channel EMG samples, shape (8, 2), int8 counts."""
    if len(data) != EMG_PACKET:
        raise ProtocolError(
            f"{device}: EMG notification " + expected(f"{EMG_PACKET} bytes (2 samples x 8 int8)", len(data))
        )
    return np.frombuffer(bytes(data), dtype=np.int8).reshape(2, EMG_CHANNELS).T


def decode_imu(
    data: bytes | bytearray, device: str = "myo"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One IMU sample: quaternion (4,) and acc m/s^2 + gyro rad/s (6,)."""
    if len(data) != IMU.size:
        raise ProtocolError(
            f"{device}: IMU notification " + expected(f"{IMU.size} bytes (10 x int16)", len(data))
        )
    v = np.array(IMU.unpack(bytes(data)), dtype=np.float64)
    quat = v[0:4] / QUAT_SCALE
    acc = v[4:7] * (G / ACC_SCALE)
    gyro = v[7:10] * (math.pi / 180.0 / GYRO_SCALE)
    return quat, np.concatenate([acc, gyro])


class MyoProfile(DeviceProfile):
    """Thalmic Myo: EMG + IMU streaming.

    Configuration keys (all optional): ``emg_mode`` (``"raw"`` default, or
    ``"filtered"``), ``imu`` (bool, default true), ``emg_mv_per_count`` (float;
    report EMG in mV with this scale instead of raw counts), ``emg_names``
    (8 channel names), ``stream_prefix`` (stream ids ``"<prefix>.emg"``,
    ``"<prefix>.imu"``, ``"<prefix>.quat"``; default the device name).
    """

    kind: ClassVar[str] = "myo"
    service_uuids: ClassVar[tuple[str, ...]] = (CONTROL_SERVICE_UUID,)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.device = "myo"

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return CONTROL_SERVICE_UUID in uuids or bool(name and str(name).lower().startswith("myo"))

    def _imu(self) -> bool:
        return bool(self.config.get("imu", True))

    def _emg_scale(self) -> float | None:
        scale = self.config.get("emg_mv_per_count")
        return None if scale is None else float(scale)

    def streams(self, device: str) -> dict[str, StreamInfo]:
        self.device = device
        prefix = str(self.config.get("stream_prefix", device))
        names = list(self.config.get("emg_names") or [f"emg{i}" for i in range(EMG_CHANNELS)])
        if len(names) != EMG_CHANNELS:
            raise DeviceError(f"{device}: emg_names " + expected("8 names", names))
        unit = "count" if self._emg_scale() is None else "mV"
        out = {
            "emg": StreamInfo(
                f"{prefix}.emg",
                StreamKind.EMG,
                tuple(Channel(str(n), unit) for n in names),
                EMG_RATE,
                device=device,
            )
        }
        if self._imu():
            out["imu"] = StreamInfo(
                f"{prefix}.imu",
                StreamKind.IMU,
                tuple(
                    Channel(n, u)
                    for n, u in (
                        ("acc_x", "m/s^2"),
                        ("acc_y", "m/s^2"),
                        ("acc_z", "m/s^2"),
                        ("gyr_x", "rad/s"),
                        ("gyr_y", "rad/s"),
                        ("gyr_z", "rad/s"),
                    )
                ),
                IMU_RATE,
                device=device,
            )
            out["quat"] = StreamInfo(
                f"{prefix}.quat",
                StreamKind.ORIENTATION,
                tuple(Channel(n, "1") for n in ("qw", "qx", "qy", "qz")),
                IMU_RATE,
                device=device,
            )
        return out

    def _modes(self) -> tuple[int, int]:
        name = str(self.config.get("emg_mode", "raw")).upper()
        try:
            emg = EmgMode[name]
        except KeyError:
            raise DeviceError(
                f"{self.device}: " + expected("emg_mode 'raw' or 'filtered'", name.lower())
            ) from None
        return emg, ImuMode.DATA if self._imu() else ImuMode.NONE

    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        emg, imu = self._modes()
        await self._write(link, set_sleep_mode(True), "set_sleep_mode(never)")
        for uuid in EMG_DATA_UUIDS:
            await link.start_notify(uuid, on_notify)
        if imu:
            await link.start_notify(IMU_DATA_UUID, on_notify)
        await self._write(link, set_mode(emg, imu), "set_mode")

    async def stop(self, link: GattLink) -> None:
        await self._write(link, set_mode(EmgMode.NONE, ImuMode.NONE), "set_mode(off)")
        await self._write(link, set_sleep_mode(False), "set_sleep_mode(normal)")

    async def _write(self, link: GattLink, command: bytes, what: str) -> None:
        try:
            await link.write_gatt_char(COMMAND_UUID, command, response=True)
        except DeviceError:
            raise
        except Exception as error:
            raise DeviceError(
                f"{self.device}: command {what} ({command.hex(' ')}) was refused: {error}"
            ) from error

    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        char = char_uuid.lower()
        if char in EMG_DATA_UUIDS:
            counts = decode_emg(data, self.device).astype(np.float64)
            scale = self._emg_scale()
            return [Decoded("emg", counts if scale is None else counts * scale)]
        if char == IMU_DATA_UUID:
            quat, imu = decode_imu(data, self.device)
            return [Decoded("imu", imu[:, None]), Decoded("quat", quat[:, None])]
        raise ProtocolError(f"{self.device}: notification from unexpected characteristic {char_uuid}")

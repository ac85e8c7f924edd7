"""The open nmre sensor profile: decoder and commands for do-it-yourself EMG + IMU boards.

The byte layout is specified in ``docs/nmre-sensor-profile.md``; this module
is its reference decoder. Summary:

* service ``204b0001-38b4-4f84-9573-72f0077c524f`` with a control point
  (write + indicate), an info characteristic (read), an EMG data and an IMU
  data characteristic (notify); battery through the standard Battery Service;
* data packet = 10-byte header (type, channels, samples, flags, u16 sample
  counter, u32 device time in µs) + int16 samples (sample-major) + CRC-16;
* all integers little-endian.
"""

from __future__ import annotations

import asyncio
import binascii
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.base import Decoded, DeviceProfile, GattLink, NotifyCallback
from nmre.core.model import IMU_CHANNELS as MODEL_IMU_CHANNELS
from nmre.core.model import Channel, StreamInfo, StreamKind
from nmre.errors import DeviceError, ProtocolError, expected

__all__ = [
    "CONTROL_POINT_UUID",
    "EMG_DATA_UUID",
    "IMU_DATA_UUID",
    "INFO_UUID",
    "SERVICE_UUID",
    "DeviceInfo",
    "NmreProfile",
    "Opcode",
    "PacketType",
    "Status",
    "crc16",
    "parse_info",
]


def _uuid(short: int) -> str:
    return f"204b{short:04x}-38b4-4f84-9573-72f0077c524f"


SERVICE_UUID = _uuid(0x0001)
CONTROL_POINT_UUID = _uuid(0x0002)
INFO_UUID = _uuid(0x0003)
EMG_DATA_UUID = _uuid(0x0004)
IMU_DATA_UUID = _uuid(0x0005)

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBBBHI")  # type, n_channels, n_samples, flags, seq, t_first_us
HEADER_SIZE = HEADER.size  # 10
CRC_SIZE = 2
RESPONSE_CODE = 0x80
INFO = struct.Struct("<BBBBHHfffHH")  # 24 bytes
EMG_RATES = (500, 1000, 2000)  # bit i of the supported-rates mask
IMU_RATES = (50, 100, 200, 400)
SEQ_MODULUS = 1 << 16
TIME_WRAP_US = 1 << 32
MAX_EMG_CHANNELS = 8
IMU_CHANNELS = 6


class PacketType(IntEnum):
    """First byte of a data packet."""

    EMG = 0x01
    IMU = 0x02


class Opcode(IntEnum):
    """Control-point commands."""

    GET_CONFIG = 0x01
    SET_RATES = 0x02
    START = 0x03
    STOP = 0x04


class Status(IntEnum):
    """Control-point response codes."""

    SUCCESS = 0x00
    UNKNOWN_OPCODE = 0x01
    INVALID_LENGTH = 0x02
    INVALID_PARAMETER = 0x03
    UNSUPPORTED_RATE = 0x04
    INVALID_STATE = 0x05
    HARDWARE_FAULT = 0x06


#: Stream bits of START/STOP.
STREAM_EMG = 0x01
STREAM_IMU = 0x02


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Contents of the info characteristic (and of a GET_CONFIG response).

    Scales convert int16 counts to SI units: mV, m/s^2, rad/s per LSB.
    """

    version: int
    max_emg_channels: int
    emg_mask: int
    imu_present: bool
    emg_rate: int
    imu_rate: int
    emg_scale: float
    acc_scale: float
    gyro_scale: float
    emg_rates_mask: int
    imu_rates_mask: int

    @property
    def emg_channels(self) -> tuple[int, ...]:
        """Indices of the active EMG channels (bits of ``emg_mask``)."""
        return tuple(i for i in range(MAX_EMG_CHANNELS) if self.emg_mask >> i & 1)

    @property
    def supported_emg_rates(self) -> tuple[int, ...]:
        return tuple(r for i, r in enumerate(EMG_RATES) if self.emg_rates_mask >> i & 1)

    @property
    def supported_imu_rates(self) -> tuple[int, ...]:
        return tuple(r for i, r in enumerate(IMU_RATES) if self.imu_rates_mask >> i & 1)

    def to_bytes(self) -> bytes:
        return INFO.pack(
            self.version,
            self.max_emg_channels,
            self.emg_mask,
            0x01 if self.imu_present else 0x00,
            self.emg_rate,
            self.imu_rate,
            self.emg_scale,
            self.acc_scale,
            self.gyro_scale,
            self.emg_rates_mask,
            self.imu_rates_mask,
        )


def parse_info(data: bytes | bytearray, device: str = "device") -> DeviceInfo:
    """Parse the 24-byte info value; raise :class:`ProtocolError` if it is not one."""
    if len(data) != INFO.size:
        raise ProtocolError(f"{device}: info characteristic " + expected(f"{INFO.size} bytes", len(data)))
    v = INFO.unpack(bytes(data))
    info = DeviceInfo(v[0], v[1], v[2], bool(v[3] & 1), v[4], v[5], v[6], v[7], v[8], v[9], v[10])
    if info.version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{device}: " + expected(f"nmre profile version {PROTOCOL_VERSION}", info.version)
        )
    if not 1 <= info.max_emg_channels <= MAX_EMG_CHANNELS:
        raise ProtocolError(f"{device}: " + expected("1..8 EMG channels", info.max_emg_channels))
    return info


@dataclass
class _Unwrap:
    """Per-stream unwrapping of the 16-bit sample counter and 32-bit µs clock."""

    rate: float
    seq: int = -1  # unwrapped counter of the last packet's first sample
    t_us: int = -1  # unwrapped device time of the last packet's first sample, µs

    def __call__(self, seq16: int, t32: int) -> tuple[int, int]:
        if self.t_us < 0:
            self.seq, self.t_us = seq16, t32
            return seq16, t32
        t = self.t_us + ((t32 - self.t_us) % TIME_WRAP_US)
        if t - self.t_us > TIME_WRAP_US // 2:  # behind: a duplicate or a reordered packet
            t -= TIME_WRAP_US
        # Expected counter from the device clock resolves 16-bit wraps over long gaps.
        guess = self.seq + round((t - self.t_us) * 1e-6 * self.rate)
        seq = seq16 + SEQ_MODULUS * round((guess - seq16) / SEQ_MODULUS)
        if seq >= self.seq:
            self.seq, self.t_us = seq, t
        return seq, t


class NmreProfile(DeviceProfile):
    """Decoder and commands for the open nmre sensor profile.

    Configuration keys (all optional):

    ``emg_rate`` (Hz, one of 500/1000/2000), ``imu_rate`` (Hz, one of
    50/100/200/400), ``emg_channels`` (sequence of channel indices 0..7),
    ``emg_names`` (channel names), ``emg`` / ``imu`` (bool, stream them;
    default true when the board has them), ``stream_prefix`` (stream ids are
    ``"<prefix>.emg"``/``"<prefix>.imu"``; default the device name),
    ``stream_infos`` (``{"emg": StreamInfo, "imu": StreamInfo}`` used as the
    streams' descriptions — id, channel names, placement — with the rate set
    to the device's), ``command_timeout`` (s, default 5).
    """

    kind: ClassVar[str] = "nmre"
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.info: DeviceInfo | None = None
        self.device = "nmre device"
        self._responses: asyncio.Queue[bytes] | None = None
        self._unwrap: dict[str, _Unwrap] = {}
        self._scales: dict[str, NDArray[np.float64]] = {}
        self._n_channels: dict[str, int] = {}
        self._started_mask = 0

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        return SERVICE_UUID in (u.lower() for u in service_uuids)

    # -- streams ---------------------------------------------------------------

    def _emg_channels(self) -> tuple[int, ...]:
        if "emg_channels" in self.config:
            return tuple(int(c) for c in self.config["emg_channels"])
        if self.info is not None:
            return self.info.emg_channels
        return (0, 1, 2, 3)

    def _emg_enabled(self) -> bool:
        present = self.info.emg_mask != 0 if self.info is not None else True
        return bool(self.config.get("emg", present)) and present

    def _imu_enabled(self) -> bool:
        present = self.info.imu_present if self.info is not None else True
        return bool(self.config.get("imu", present)) and present

    def streams(self, device: str) -> dict[str, StreamInfo]:
        prefix = str(self.config.get("stream_prefix", device))
        channels = self._emg_channels()
        names = self.config.get("emg_names") or [f"emg{c}" for c in channels]
        if len(names) != len(channels):
            raise DeviceError(
                f"{device}: emg_names " + expected(f"{len(channels)} names for channels {channels}", names)
            )
        emg_rate = float(self.config.get("emg_rate", self.info.emg_rate if self.info else 2000))
        imu_rate = float(self.config.get("imu_rate", self.info.imu_rate if self.info else 100))
        out: dict[str, StreamInfo] = {}
        if self._emg_enabled():
            out["emg"] = StreamInfo(
                f"{prefix}.emg",
                StreamKind.EMG,
                tuple(Channel(str(n), "mV") for n in names),
                emg_rate,
                device=device,
            )
        if self._imu_enabled():
            out["imu"] = StreamInfo(
                f"{prefix}.imu",
                StreamKind.IMU,
                MODEL_IMU_CHANNELS,
                imu_rate,
                device=device,
            )
        given: Mapping[str, StreamInfo] = self.config.get("stream_infos") or {}
        for key, info in given.items():
            if key in out:
                if info.n_channels != out[key].n_channels:
                    raise DeviceError(
                        f"{device}: stream_infos[{key!r}] "
                        + expected(f"{out[key].n_channels} channels", info.n_channels)
                    )
                out[key] = replace(info, rate=out[key].rate, device=device)
        return out

    # -- commands ----------------------------------------------------------------

    def _on_control(self, _sender: Any, data: bytearray) -> None:
        if self._responses is not None:
            self._responses.put_nowait(bytes(data))

    async def command(self, link: GattLink, opcode: Opcode, params: bytes = b"") -> bytes:
        """Send one control-point command and return the response payload.

        Raises
        ------
        DeviceError
            The device answered with a status other than SUCCESS, or did not answer.
        """
        assert self._responses is not None, "command() before start()"
        request = bytes([opcode]) + params
        await link.write_gatt_char(CONTROL_POINT_UUID, request, response=True)
        timeout = float(self.config.get("command_timeout", 5.0))
        try:
            reply = await asyncio.wait_for(self._responses.get(), timeout)
        except TimeoutError:
            raise DeviceError(
                f"{self.device}: asked {opcode.name} ({request.hex(' ')}), got no response within {timeout} s"
            ) from None
        if len(reply) < 3 or reply[0] != RESPONSE_CODE or reply[1] != opcode:
            raise DeviceError(
                f"{self.device}: asked {opcode.name} ({request.hex(' ')}), "
                + expected(f"a response 80 {opcode:02x} <status>", reply.hex(" "))
            )
        if reply[2] != Status.SUCCESS:
            try:
                status = Status(reply[2]).name
            except ValueError:
                status = f"status 0x{reply[2]:02X}"
            raise DeviceError(
                f"{self.device}: asked {opcode.name} ({request.hex(' ')}), device answered {status}"
            )
        return reply[3:]

    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        self._responses = asyncio.Queue()
        try:
            raw = await link.read_gatt_char(INFO_UUID)
        except Exception as error:
            raise DeviceError(
                f"{self.device}: is not an nmre sensor: reading the info characteristic failed ({error})"
            ) from error
        info = parse_info(raw, self.device)
        await link.start_notify(CONTROL_POINT_UUID, self._on_control)
        emg_rate = int(self.config.get("emg_rate", info.emg_rate))
        imu_rate = int(self.config.get("imu_rate", info.imu_rate))
        channels = self.config.get("emg_channels")
        mask = info.emg_mask if channels is None else sum(1 << int(c) for c in channels)
        if mask == 0 and self.config.get("emg", False):
            raise DeviceError(f"{self.device}: asked for EMG, but the board reports no active EMG channel")
        if (emg_rate, imu_rate, mask) != (info.emg_rate, info.imu_rate, info.emg_mask):
            await self.command(link, Opcode.SET_RATES, struct.pack("<HHB", emg_rate, imu_rate, mask))
            info = parse_info(await self.command(link, Opcode.GET_CONFIG), self.device)
        self.configure(info)
        mask_streams = 0
        if self._emg_enabled():
            mask_streams |= STREAM_EMG
            await link.start_notify(EMG_DATA_UUID, on_notify)
        if self._imu_enabled():
            mask_streams |= STREAM_IMU
            await link.start_notify(IMU_DATA_UUID, on_notify)
        await self.command(link, Opcode.START, bytes([mask_streams]))
        self._started_mask = mask_streams

    def configure(self, info: DeviceInfo) -> None:
        """Take the device's configuration (scales, channels, rates) for decoding."""
        self.info = info
        n_emg = len(info.emg_channels)
        self._n_channels = {"emg": n_emg, "imu": IMU_CHANNELS}
        self._scales = {
            "emg": np.full((n_emg, 1), info.emg_scale),
            "imu": np.array([[info.acc_scale]] * 3 + [[info.gyro_scale]] * 3),
        }
        # Counters keep unwrapping across reconnects as long as the rates stay the same.
        for key, rate in (("emg", info.emg_rate), ("imu", info.imu_rate)):
            if key not in self._unwrap or self._unwrap[key].rate != rate:
                self._unwrap[key] = _Unwrap(rate)

    async def stop(self, link: GattLink) -> None:
        if self._started_mask:
            await self.command(link, Opcode.STOP, bytes([self._started_mask]))
            self._started_mask = 0

    # -- decoding -------------------------------------------------------------------

    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        char = char_uuid.lower()
        if char == EMG_DATA_UUID:
            key, want = "emg", PacketType.EMG
        elif char == IMU_DATA_UUID:
            key, want = "imu", PacketType.IMU
        else:
            raise ProtocolError(f"{self.device}: notification from unknown characteristic {char_uuid}")
        n = len(data)
        if n < HEADER_SIZE + CRC_SIZE:
            raise ProtocolError(f"{self.device} {key}: " + expected(">= 12 bytes", n))
        kind, n_ch, n_s, _flags, seq16, t32 = HEADER.unpack_from(data)
        if kind != want:
            raise ProtocolError(f"{self.device} {key}: " + expected(f"packet type 0x{want:02X}", kind))
        size = HEADER_SIZE + 2 * n_ch * n_s + CRC_SIZE
        if n != size:
            raise ProtocolError(
                f"{self.device} {key}: {n_ch} ch x {n_s} samples " + expected(f"{size} bytes", n)
            )
        (crc,) = struct.unpack_from("<H", data, n - CRC_SIZE)
        if crc != crc16(memoryview(data)[: n - CRC_SIZE]):
            raise ProtocolError(f"{self.device} {key}: CRC mismatch (packet corrupted)")
        want_ch = self._n_channels.get(key)
        if want_ch is not None and n_ch != want_ch:
            raise ProtocolError(f"{self.device} {key}: " + expected(f"{want_ch} channels", n_ch))
        counts = np.frombuffer(data, dtype="<i2", count=n_ch * n_s, offset=HEADER_SIZE)
        scale = self._scales.get(key)
        if scale is None or scale.shape[0] != n_ch:
            raise ProtocolError(f"{self.device} {key}: packet before the profile was started")
        values = counts.reshape(n_s, n_ch).T * scale
        unwrap = self._unwrap[key]
        seq, t_us = unwrap(seq16, t32)
        device_time = t_us * 1e-6 + np.arange(n_s) / unwrap.rate
        return [Decoded(key, values, seq, device_time)]

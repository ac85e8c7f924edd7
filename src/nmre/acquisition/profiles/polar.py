"""Polar H10 / Verity Sense over the Polar Measurement Data (PMD) service.

Sources: Polar BLE SDK (``polarofficial/polar-ble-sdk``), its
``technical_documentation/online_measurement.pdf`` and the Kotlin PMD client
(``BlePMDClient.kt``, ``PmdDataFrame.kt``, ``model/AccData.kt``,
``model/EcgData.kt``, ``model/GyrData.kt``); see
``reference/ble-devices.md`` §1.2. Written from those descriptions, not copied.

Protocol summary
----------------
* Control point ``FB005C81-…`` (write + indicate). Request
  ``[opcode, measurement type, settings…]``; every setting is
  ``[setting type, count, value…]`` little-endian. The reply is an indication
  ``F0 <opcode> <type> <status> <more> [parameters…]``.
* Data ``FB005C82-…`` (notify): ``type u8, timestamp u64 (ns since
  2000-01-01, of the LAST sample), frame type u8 (bit 7 = delta compressed),
  payload``.
* Raw frames: samples of ``channels × k`` bytes, signed little-endian.
  Compressed frames: one reference sample (``channels × 16`` bit), then blocks
  ``[bit width u8][sample count u8][count × channels × width bits, LSB first,
  signed]``, each delta added to the previous sample; the start reply may carry
  a FACTOR that scales the result.

Units reported (SI as nmre wants): ACC m/s^2 (device: mG), GYRO rad/s
(device: deg/s), MAG µT (device: Gauss [hedge: the SDK's magnetometer unit]),
ECG mV (device: µV).
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
    "CONTROL_POINT_UUID",
    "DATA_UUID",
    "SERVICE_UUID",
    "ControlResponse",
    "Measurement",
    "Opcode",
    "PolarProfile",
    "Setting",
    "Status",
    "decode_frame",
    "encode_settings",
    "parse_deltas",
    "parse_response",
    "parse_settings",
]

SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

RESPONSE_CODE = 0xF0
HEADER = struct.Struct("<BQB")  # measurement type, timestamp ns, frame type
HEADER_SIZE = HEADER.size  # 10
COMPRESSED = 0x80
G = 9.80665  # m/s^2 per g
#: Device epoch: 2000-01-01T00:00:00Z.
EPOCH_2000_UNIX = 946684800.0


class Opcode(IntEnum):
    """Control-point requests."""

    GET_MEASUREMENT_SETTINGS = 0x01
    REQUEST_MEASUREMENT_START = 0x02
    STOP_MEASUREMENT = 0x03
    GET_SDK_MODE_SETTINGS = 0x04
    GET_MEASUREMENT_STATUS = 0x05


class Measurement(IntEnum):
    """Measurement types (low 6 bits of a data frame's first byte)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6


class Setting(IntEnum):
    """Setting types of the TLVs in requests and replies."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


#: Bytes of one value of each setting type.
SETTING_SIZE = {
    Setting.SAMPLE_RATE: 2,
    Setting.RESOLUTION: 2,
    Setting.RANGE: 2,
    Setting.RANGE_MILLIUNIT: 4,
    Setting.CHANNELS: 1,
    Setting.FACTOR: 4,
    Setting.SECURITY: 16,
}


class Status(IntEnum):
    """Status byte of a control-point reply."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13


_KEYS = {Measurement.ECG: "ecg", Measurement.ACC: "acc", Measurement.GYRO: "gyro", Measurement.MAG: "mag"}
_BY_KEY = {v: k for k, v in _KEYS.items()}
_CHANNELS = {
    "ecg": (("ecg", "mV"),),
    "acc": (("acc_x", "m/s^2"), ("acc_y", "m/s^2"), ("acc_z", "m/s^2")),
    "gyro": (("gyr_x", "rad/s"), ("gyr_y", "rad/s"), ("gyr_z", "rad/s")),
    "mag": (("mag_x", "uT"), ("mag_y", "uT"), ("mag_z", "uT")),
}
_KINDS = {"ecg": StreamKind.ECG, "acc": StreamKind.ACC, "gyro": StreamKind.GYRO, "mag": StreamKind.MAG}
#: Device unit → SI factor per measurement (mG → m/s^2, deg/s → rad/s, Gauss → µT, µV → mV).
_SI = {
    Measurement.ECG: 1e-3,
    Measurement.ACC: G * 1e-3,
    Measurement.GYRO: math.pi / 180.0,
    Measurement.MAG: 100.0,
}

#: Default measurement settings per model (what the H10 / Verity Sense offer).
DEFAULTS: dict[str, dict[str, dict[str, int]]] = {
    "h10": {"ecg": {"rate": 130, "resolution": 14}, "acc": {"rate": 200, "resolution": 16, "range": 8}},
    "verity": {
        "acc": {"rate": 52, "resolution": 16, "range": 8},
        "gyro": {"rate": 52, "resolution": 16, "range": 2000},
    },
}


# --------------------------------------------------------------------------- settings


def encode_settings(settings: Mapping[Setting, int | float]) -> bytes:
    """Encode settings as PMD TLVs ``[type, 1, value LE]`` in ascending type order."""
    out = bytearray()
    for kind in sorted(settings):
        value = settings[kind]
        size = SETTING_SIZE[Setting(kind)]
        out += bytes([kind, 1])
        if kind == Setting.FACTOR:
            out += struct.pack("<f", float(value))
        else:
            out += int(value).to_bytes(size, "little")
    return bytes(out)


def parse_settings(data: bytes | bytearray, device: str = "polar") -> dict[Setting, tuple[int | float, ...]]:
    """Parse PMD setting TLVs into ``{setting: (value, ...)}``.

    Raises
    ------
    ProtocolError
        Unknown setting type or a TLV cut short.
    """
    out: dict[Setting, tuple[int | float, ...]] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise ProtocolError(f"{device}: settings " + expected("a [type, count] pair", data[i:].hex(" ")))
        try:
            kind = Setting(data[i])
        except ValueError:
            raise ProtocolError(f"{device}: settings " + expected("a setting type 0..6", data[i])) from None
        count, size = data[i + 1], SETTING_SIZE[kind]
        end = i + 2 + count * size
        if end > len(data):
            raise ProtocolError(
                f"{device}: setting {kind.name} " + expected(f"{count} x {size} bytes", len(data) - i - 2)
            )
        values: list[int | float] = []
        for j in range(count):
            chunk = bytes(data[i + 2 + j * size : i + 2 + (j + 1) * size])
            values.append(
                struct.unpack("<f", chunk)[0] if kind == Setting.FACTOR else int.from_bytes(chunk, "little")
            )
        out[kind] = tuple(values)
        i = end
    return out


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """A control-point reply ``F0 op type status more params``."""

    opcode: int
    measurement: int
    status: int
    more: bool
    parameters: bytes

    @property
    def status_name(self) -> str:
        try:
            return Status(self.status).name
        except ValueError:
            return f"status 0x{self.status:02X}"


def parse_response(data: bytes | bytearray, device: str = "polar") -> ControlResponse:
    """Parse a control-point indication; raise :class:`ProtocolError` if it is not a reply."""
    if len(data) < 4 or data[0] != RESPONSE_CODE:
        raise ProtocolError(
            f"{device}: control point "
            + expected("a reply F0 <op> <type> <status> [more] ...", bytes(data).hex(" "))
        )
    more = bool(data[4]) if len(data) > 4 else False
    return ControlResponse(data[1], data[2], data[3], more, bytes(data[5:]))


# --------------------------------------------------------------------------- frames


def parse_deltas(
    payload: bytes | bytearray | memoryview, channels: int, ref_bits: int, device: str = "polar"
) -> NDArray[np.int64]:
    """Decode a delta-compressed PMD payload into integer samples.

    Parameters
    ----------
    payload : bytes
        Reference sample (``channels × ceil(ref_bits/8)`` bytes, signed LE) followed
        by blocks ``[bit width][sample count][packed signed deltas, LSB first]``.
    channels : int
        Channels per sample.
    ref_bits : int
        Resolution of the reference sample, bits.

    Returns
    -------
    ndarray, shape (channels, n_samples), int64
        The reference sample followed by the accumulated deltas.
    """
    data = bytes(payload)
    ref_bytes = (ref_bits + 7) // 8
    i = channels * ref_bytes
    if len(data) < i:
        raise ProtocolError(
            f"{device}: compressed frame " + expected(f">= {i} bytes of reference sample", len(data))
        )
    ref = [
        int.from_bytes(data[c * ref_bytes : (c + 1) * ref_bytes], "little", signed=True)
        for c in range(channels)
    ]
    columns = [ref]
    current = list(ref)
    while i < len(data):
        if i + 2 > len(data):
            raise ProtocolError(
                f"{device}: compressed frame: delta block header " + expected("2 bytes", len(data) - i)
            )
        width, count = data[i], data[i + 1]
        if not 1 <= width <= 32:
            raise ProtocolError(f"{device}: compressed frame: " + expected("a delta bit width 1..32", width))
        n_bits = width * count * channels
        n_bytes = (n_bits + 7) // 8
        block = data[i + 2 : i + 2 + n_bytes]
        if len(block) < n_bytes:
            raise ProtocolError(
                f"{device}: compressed frame: {count} samples x {channels} ch x {width} bit "
                + expected(f"{n_bytes} bytes", len(block))
            )
        bits = int.from_bytes(block, "little")
        mask = (1 << width) - 1
        sign = 1 << (width - 1)
        pos = 0
        for _ in range(count):
            for c in range(channels):
                d = (bits >> pos) & mask
                pos += width
                current[c] += d - (d & sign) * 2  # two's complement of `width` bits
            columns.append(list(current))
        i += 2 + n_bytes
    return np.array(columns, dtype=np.int64).T.reshape(channels, len(columns))


def _raw(payload: bytes, channels: int, size: int, device: str, what: str) -> NDArray[np.int64]:
    step = channels * size
    if len(payload) % step:
        raise ProtocolError(
            f"{device}: {what} " + expected(f"a multiple of {step} bytes of samples", len(payload))
        )
    n = len(payload) // step
    flat = [
        int.from_bytes(payload[k * size : (k + 1) * size], "little", signed=True) for k in range(n * channels)
    ]
    return np.array(flat, dtype=np.int64).reshape(n, channels).T


def decode_frame(
    data: bytes | bytearray, factor: float = 1.0, device: str = "polar"
) -> tuple[Measurement, int, NDArray[np.float64]]:
    """Decode one PMD data frame into device units.

    Parameters
    ----------
    data : bytes
        The whole notification.
    factor : float
        FACTOR from the measurement's start reply (1.0 if none came).

    Returns
    -------
    measurement : Measurement
    timestamp_ns : int
        Device time of the last sample, ns since 2000-01-01.
    values : ndarray, shape (n_channels, n_samples), float64
        In the device's units: ECG µV, ACC mG, GYRO deg/s, MAG Gauss.

    Raises
    ------
    ProtocolError
        Truncated or malformed frame, or a measurement / frame type nmre does not decode.
    """
    if len(data) < HEADER_SIZE + 1:
        raise ProtocolError(
            f"{device}: data frame "
            + expected(f">= {HEADER_SIZE + 1} bytes (10-byte header + samples)", len(data))
        )
    mtype, ts, ftype = HEADER.unpack_from(data)
    try:
        meas = Measurement(mtype & 0x3F)
    except ValueError:
        raise ProtocolError(
            f"{device}: data frame " + expected("a known measurement type", f"0x{mtype:02X}")
        ) from None
    payload = bytes(data[HEADER_SIZE:])
    compressed, sub = bool(ftype & COMPRESSED), ftype & 0x7F
    what = f"{meas.name} frame type 0x{ftype:02X}"
    if meas is Measurement.ECG and not compressed and sub == 0:
        counts = _raw(payload, 1, 3, device, what)  # µV, 24-bit signed
        return meas, ts, counts.astype(np.float64)
    if meas is Measurement.ACC and not compressed and sub in (0, 1, 2):
        counts = _raw(payload, 3, sub + 1, device, what)  # mG
        return meas, ts, counts.astype(np.float64)
    if meas is Measurement.ACC and compressed and sub == 0:
        counts = parse_deltas(payload, 3, 16, device)  # G × factor
        return meas, ts, counts * (factor * 1000.0)
    if meas in (Measurement.ACC, Measurement.GYRO, Measurement.MAG) and compressed and sub in (0, 1):
        if meas is not Measurement.ACC and sub == 1:
            raise ProtocolError(f"{device}: {what} (float deltas) is not supported")
        counts = parse_deltas(payload, 3, 16, device)
        return meas, ts, counts * factor
    raise ProtocolError(f"{device}: " + expected("a supported measurement/frame type", what))


# --------------------------------------------------------------------------- profile


@dataclass
class _Active:
    measurement: Measurement
    rate: float
    factor: float = 1.0
    last_ts: int = -1  # ns of the last sample of the previous frame


class PolarProfile(DeviceProfile):
    """Polar H10 / Verity Sense PMD streaming.

    Configuration keys (all optional):

    ``model``: ``"h10"`` (default) or ``"verity"``, picks default measurements;
    ``measurements``: ``{"ecg"|"acc"|"gyro"|"mag": {"rate": Hz, "resolution": bits,
    "range": g or deg/s, "channels": n}}``; ``stream_prefix`` (stream ids are
    ``"<prefix>.acc"`` …; default the device name); ``command_timeout`` (s, default 5);
    ``check_settings`` (bool, default true: ask GET_MEASUREMENT_SETTINGS first and refuse
    a rate the device does not list, before asking it to start).

    Sample device times: the frame carries the time of its last sample; the others
    are spread evenly back to the previous frame's last sample, as the Polar SDK does,
    or back by the nominal period when there is no plausible previous frame.
    """

    kind: ClassVar[str] = "polar"
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.device = "polar"
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._active: dict[Measurement, _Active] = {}
        self._started: list[Measurement] = []

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        if SERVICE_UUID in (u.lower() for u in service_uuids):
            return True
        return bool(name) and str(name).startswith(("Polar H10", "Polar Sense", "Polar Verity"))

    def measurements(self) -> dict[str, dict[str, int]]:
        """Requested measurements, key → settings (``rate``, ``resolution``, ``range``, ``channels``)."""
        model = str(self.config.get("model", "h10")).lower()
        if model not in DEFAULTS:
            raise DeviceError(f"{self.device}: " + expected("model 'h10' or 'verity'", model))
        chosen = self.config.get("measurements") or DEFAULTS[model]
        out: dict[str, dict[str, int]] = {}
        for key, settings in chosen.items():
            if key not in _BY_KEY:
                raise DeviceError(
                    f"{self.device}: " + expected("measurements among ecg, acc, gyro, mag", key)
                )
            out[key] = {str(k): int(v) for k, v in dict(settings).items()}
        return out

    def streams(self, device: str) -> dict[str, StreamInfo]:
        self.device = device
        prefix = str(self.config.get("stream_prefix", device))
        return {
            key: StreamInfo(
                f"{prefix}.{key}",
                _KINDS[key],
                tuple(Channel(n, u) for n, u in _CHANNELS[key]),
                float(s["rate"]),
                device=device,
            )
            for key, s in self.measurements().items()
        }

    # -- commands ------------------------------------------------------------------

    def _on_control(self, _sender: Any, data: bytearray) -> None:
        if data and data[0] == RESPONSE_CODE:
            self._responses.put_nowait(bytes(data))
        # anything else (e.g. 0x01 "online measurement stopped") is a push, not a reply

    async def command(self, link: GattLink, request: bytes) -> ControlResponse:
        """Write one control-point request and wait for its reply.

        Raises
        ------
        DeviceError
            No reply within ``command_timeout``, or a reply with a status other than
            SUCCESS (the message names the device, the request bytes and the status).
        """
        while not self._responses.empty():
            self._responses.get_nowait()
        await link.write_gatt_char(CONTROL_POINT_UUID, request, response=True)
        timeout = float(self.config.get("command_timeout", 5.0))
        op = _op_name(request[0])
        try:
            raw = await asyncio.wait_for(self._responses.get(), timeout)
        except TimeoutError:
            raise DeviceError(
                f"{self.device}: asked {op} ({request.hex(' ')}), got no reply within {timeout} s"
            ) from None
        reply = parse_response(raw, self.device)
        if reply.opcode != request[0]:
            raise DeviceError(
                f"{self.device}: asked {op} ({request.hex(' ')}), "
                + expected(f"a reply to opcode 0x{request[0]:02X}", raw.hex(" "))
            )
        if reply.status != Status.SUCCESS:
            raise DeviceError(
                f"{self.device}: asked {op} ({request.hex(' ')}), device answered {reply.status_name} "
                f"({raw.hex(' ')})"
            )
        return reply

    @staticmethod
    def start_request(key: str, settings: Mapping[str, int]) -> bytes:
        """The REQUEST_MEASUREMENT_START bytes for a measurement key and its settings."""
        tlv: dict[Setting, int | float] = {Setting.SAMPLE_RATE: settings["rate"]}
        if "resolution" in settings:
            tlv[Setting.RESOLUTION] = settings["resolution"]
        if "range" in settings:
            tlv[Setting.RANGE] = settings["range"]
        if "channels" in settings:
            tlv[Setting.CHANNELS] = settings["channels"]
        return bytes([Opcode.REQUEST_MEASUREMENT_START, _BY_KEY[key]]) + encode_settings(tlv)

    async def start(self, link: GattLink, on_notify: NotifyCallback) -> None:
        self._responses = asyncio.Queue()
        self._active.clear()
        self._started.clear()
        await link.start_notify(CONTROL_POINT_UUID, self._on_control)
        await link.start_notify(DATA_UUID, on_notify)
        check = bool(self.config.get("check_settings", True))
        for key, settings in self.measurements().items():
            meas = _BY_KEY[key]
            if check:
                reply = await self.command(link, bytes([Opcode.GET_MEASUREMENT_SETTINGS, meas]))
                offered = parse_settings(reply.parameters, self.device)
                rates = offered.get(Setting.SAMPLE_RATE, ())
                if rates and settings["rate"] not in rates:
                    raise DeviceError(
                        f"{self.device}: asked {key.upper()} at {settings['rate']} Hz, "
                        f"device offers {', '.join(str(int(r)) for r in rates)} Hz"
                    )
            reply = await self.command(link, self.start_request(key, settings))
            factor = parse_settings(reply.parameters, self.device).get(Setting.FACTOR, (1.0,))[0]
            self.configure(key, float(settings["rate"]), float(factor))
            self._started.append(meas)

    def configure(self, key: str, rate: float, factor: float = 1.0) -> None:
        """Expect frames of measurement ``key`` at ``rate`` Hz scaled by ``factor`` (what start() sets up).

        Decoding a frame of a measurement not configured raises :class:`ProtocolError`.
        """
        meas = _BY_KEY[key]
        self._active[meas] = _Active(meas, float(rate), float(factor))

    async def stop(self, link: GattLink) -> None:
        """Send STOP for every measurement started (the H10 streams on otherwise)."""
        errors: list[str] = []
        for meas in list(self._started):
            try:
                await self.command(link, bytes([Opcode.STOP_MEASUREMENT, meas]))
            except DeviceError as error:
                errors.append(str(error))
            self._started.remove(meas)
        if errors:
            raise DeviceError("; ".join(errors))

    # -- decoding ------------------------------------------------------------------

    def decode(self, char_uuid: str, data: bytes | bytearray) -> list[Decoded]:
        if char_uuid.lower() != DATA_UUID:
            raise ProtocolError(f"{self.device}: notification from unexpected characteristic {char_uuid}")
        # the FACTOR depends on the measurement, so look at the type byte first
        active = next((a for m, a in self._active.items() if data and m == data[0] & 0x3F), None)
        factor = active.factor if active is not None else 1.0
        meas, ts, values = decode_frame(data, factor, self.device)
        if active is None:
            raise ProtocolError(
                f"{self.device}: {meas.name} frame, " + expected("a started measurement", "none")
            )
        n = values.shape[1]
        device_time = self._sample_times(active, ts, n)
        return [Decoded(_KEYS[meas], values * _SI[meas], None, device_time)]

    @staticmethod
    def _sample_times(active: _Active, ts: int, n: int) -> NDArray[np.float64]:
        """Device time of each sample, seconds since 2000-01-01."""
        nominal = n / active.rate * 1e9
        span = ts - active.last_ts
        if active.last_ts >= 0 and 0.9 * nominal <= span <= 1.1 * nominal:
            step = span / n
        else:
            step = 1e9 / active.rate
        active.last_ts = ts
        return (ts - step * np.arange(n - 1, -1, -1, dtype=np.float64)) * 1e-9


def _op_name(op: int) -> str:
    try:
        return Opcode(op).name
    except ValueError:
        return f"opcode 0x{op:02X}"

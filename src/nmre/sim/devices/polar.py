"""An emulated Polar H10 / Verity Sense: the PMD service, byte for byte.

Same UUIDs, properties and control-point behaviour as the real sensors
(``reference/ble-devices.md`` §1.2): GET_MEASUREMENT_SETTINGS answers with the
setting TLVs the model offers, REQUEST_MEASUREMENT_START checks every setting
and refuses what the model does not offer with the PMD error code (INVALID
SAMPLE RATE, INVALID RANGE, …; INVALID MTU before the MTU exchange), STOP
ends a measurement. Data frames carry the ns timestamp of their last sample
on the device's own (optionally drifting) clock and use the model's real
frame types: H10 ECG raw type 0 (24-bit µV), H10 ACC raw type 1 (int16 mG),
Verity ACC compressed type 1 (16-bit mG deltas), Verity GYRO compressed
type 0 (16-bit deltas × FACTOR deg/s, FACTOR sent in the start reply).

The values come from :class:`Playback` signals in SI units (for example the
body simulator's IMU stream), converted to device units and rounded; every
sample actually encoded is kept in :attr:`PolarDevice.encoded` so a test can
compare what the receiver decoded with what was sent.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.polar import (
    COMPRESSED,
    CONTROL_POINT_UUID,
    DATA_UUID,
    HEADER,
    HEADER_SIZE,
    RESPONSE_CODE,
    SERVICE_UUID,
    G,
    Measurement,
    Opcode,
    Setting,
    Status,
    encode_settings,
    parse_settings,
)
from nmre.errors import ConfigError, ProtocolError, expected
from nmre.sim.devices.base import CharSpec, EmulatedDevice, ServiceSpec

__all__ = ["MODELS", "ModelSpec", "Playback", "PolarDevice", "encode_deltas", "encode_frame", "signed_bits"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


# --------------------------------------------------------------------------- encoders


def signed_bits(values: I64) -> int:
    """Smallest two's-complement width (1..64 bits) holding every value."""
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def encode_deltas(samples: I64, ref_bits: int = 16, width: int | None = None, block: int = 255) -> bytes:
    """Delta-compress integer samples the way PMD compressed frames carry them.

    Parameters
    ----------
    samples : ndarray, shape (channels, n_samples), int
        First sample is the reference; it must fit ``ref_bits`` signed.
    ref_bits : int
        Resolution of the reference sample, bits (stored in ``ceil(ref_bits/8)`` bytes).
    width : int or None
        Delta bit width (1..32); ``None`` picks the smallest that fits each block.
    block : int
        Samples per delta block (1..255).

    Returns
    -------
    bytes
        Reference sample, then ``[width][count][packed deltas, LSB first]`` blocks.
    """
    s = np.asarray(samples, dtype=np.int64)
    channels, n = s.shape
    ref_bytes = (ref_bits + 7) // 8
    out = bytearray()
    for c in range(channels):
        out += int(s[c, 0]).to_bytes(ref_bytes, "little", signed=True)
    deltas = np.diff(s, axis=1)
    for start in range(0, n - 1, block):
        chunk = deltas[:, start : start + block]
        w = width if width is not None else signed_bits(chunk)
        if not 1 <= w <= 32 or signed_bits(chunk) > w:
            raise ConfigError(expected(f"deltas that fit {w} bits (1..32)", signed_bits(chunk)))
        count = chunk.shape[1]
        bits, pos, mask = 0, 0, (1 << w) - 1
        for k in range(count):
            for c in range(channels):
                bits |= (int(chunk[c, k]) & mask) << pos
                pos += w
        out += bytes([w, count]) + bits.to_bytes((pos + 7) // 8, "little")
    return bytes(out)


def encode_frame(measurement: int, timestamp_ns: int, frame_type: int, payload: bytes) -> bytes:
    """A PMD data frame: ``type, u64 timestamp of the last sample, frame type, payload``."""
    return HEADER.pack(measurement, timestamp_ns, frame_type) + payload


def _raw_payload(counts: I64, size: int) -> bytes:
    out = bytearray()
    for k in range(counts.shape[1]):
        for c in range(counts.shape[0]):
            out += int(counts[c, k]).to_bytes(size, "little", signed=True)
    return bytes(out)


# --------------------------------------------------------------------------- signals


class Playback:
    """A recorded signal played back at any time, looping at its end.

    Parameters
    ----------
    times : ndarray, shape (n_samples,), float64
        Sample times, seconds, increasing.
    values : ndarray, shape (n_channels, n_samples), float64
        Values in SI units (m/s^2, rad/s, µT, mV).
    """

    def __init__(self, times: F64, values: F64) -> None:
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.ndim != 1 or v.ndim != 2 or v.shape[1] != t.shape[0] or t.shape[0] < 2:
            raise ConfigError(expected("times (n,) and values (channels, n) with n >= 2", (t.shape, v.shape)))
        self.times, self.values = t, v
        self.span = float(t[-1] - t[0]) + float(t[1] - t[0])

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[0])

    def at(self, t: F64) -> F64:
        """Values at times ``t`` (seconds since the start), shape (n_channels, len(t))."""
        u = self.times[0] + np.mod(np.asarray(t, dtype=np.float64), self.span)
        return np.stack([np.interp(u, self.times, row) for row in self.values])


def constant(values: tuple[float, ...]) -> Playback:
    """A :class:`Playback` that always returns ``values``."""
    v = np.array(values, dtype=np.float64)[:, None]
    return Playback(np.array([0.0, 1.0]), np.repeat(v, 2, axis=1))


# --------------------------------------------------------------------------- models


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    """What a model offers for one measurement and how it frames it."""

    rates: tuple[int, ...]
    resolutions: tuple[int, ...]
    ranges: tuple[int, ...]
    channels: int
    frame_type: int
    factor: float = 1.0  # device unit per count in compressed frames
    samples_per_frame: int = 36


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A Polar model: name prefix and its measurements."""

    name: str
    measurements: Mapping[Measurement, MeasurementSpec] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "h10": ModelSpec(
        "Polar H10",
        {
            Measurement.ECG: MeasurementSpec((130,), (14,), (), 1, 0x00, samples_per_frame=73),
            Measurement.ACC: MeasurementSpec((25, 50, 100, 200), (16,), (2, 4, 8), 3, 0x01),
        },
    ),
    "verity": ModelSpec(
        "Polar Sense",
        {
            Measurement.ACC: MeasurementSpec((52,), (16,), (8,), 3, COMPRESSED | 0x01),
            Measurement.GYRO: MeasurementSpec(
                (52,), (16,), (250, 500, 1000, 2000), 3, COMPRESSED | 0x00, factor=2000.0 / 32768.0
            ),
        },
    ),
}

#: SI → device unit per measurement (m/s^2 → mG, rad/s → deg/s, µT → Gauss, mV → µV).
_TO_DEVICE = {
    Measurement.ECG: 1e3,
    Measurement.ACC: 1e3 / G,
    Measurement.GYRO: 180.0 / math.pi,
    Measurement.MAG: 0.01,
}
HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
#: Device clock default: 2019-01-01 (what an H10 reports until the time is set), ns since 2000-01-01.
DEFAULT_EPOCH_NS = 599_616_000 * 10**9


class PolarDevice(EmulatedDevice):
    """An emulated Polar H10 or Verity Sense.

    Parameters
    ----------
    name : str
        Advertised name (real ones look like ``"Polar H10 12345678"``).
    model : {"h10", "verity"}
    signals : mapping of str to Playback
        Values per measurement key (``"ecg"``, ``"acc"``, ``"gyro"``) in SI units;
        missing ones play a constant (ECG 0 mV, ACC 1 g up, GYRO 0). ``"acc"`` uses
        the first three channels, so an IMU stream (acc + gyro) can be passed as is;
        ``"gyro"`` wants the gyro rows.
    clock_ppm : float
        The device crystal runs fast by this many ppm (its timestamps drift).
    epoch_ns : int
        Device time at power-on, ns since 2000-01-01.
    **kwargs
        Passed to :class:`EmulatedDevice` (``link``, ``timing``, ``faults``, …).
    """

    kind: ClassVar[str] = "polar"

    def __init__(
        self,
        name: str = "Polar H10 0A1B2C3D",
        *,
        model: str = "h10",
        signals: Mapping[str, Playback] | None = None,
        clock_ppm: float = 0.0,
        epoch_ns: int = DEFAULT_EPOCH_NS,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if model not in MODELS:
            raise ConfigError(expected("model 'h10' or 'verity'", model))
        self.model = MODELS[model]
        self.signals = dict(signals or {})
        self.clock_ppm = clock_ppm
        self.epoch_ns = epoch_ns
        #: Every sample encoded, per measurement key: list of (timestamp_ns, counts (channels, n)).
        self.encoded: dict[str, list[tuple[int, I64]]] = {}
        #: Device time (s since start, :meth:`now`) of each measurement's first sample;
        #: sample k was taken ``k / rate / (1 + clock_ppm * 1e-6)`` later.
        self.first_sample_time: dict[str, float] = {}
        #: Control-point requests received, in order (bytes).
        self.requests: list[bytes] = []
        self._streams: dict[Measurement, asyncio.Task[None]] = {}

    @classmethod
    def from_simulation(cls, sim: Any, acc: str = "imu.trunk", **kwargs: Any) -> PolarDevice:
        """A Polar sensor playing a simulation's IMU stream ``acc`` as its accelerometer (and gyro)."""
        t, v = sim.data[acc]
        signals = {"acc": Playback(t, v[0:3]), "gyro": Playback(t, v[3:6])}
        return cls(signals=signals, **kwargs)

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharSpec(
                        CONTROL_POINT_UUID, "read,write,indicate", b"\x07\x00", on_write=self._on_control
                    ),
                    CharSpec(DATA_UUID, "notify"),
                ),
            )
        ]

    def advertised_services(self) -> list[str]:
        """Polar sensors advertise the standard Heart Rate service (the PMD UUID is found on discovery)."""
        return [HEART_RATE_SERVICE_UUID]

    def device_time_ns(self, t: float) -> int:
        """Device clock (ns since 2000) at ``t`` seconds after power-on."""
        return self.epoch_ns + round(t * (1.0 + self.clock_ppm * 1e-6) * 1e9)

    async def on_disconnected(self, reason: int) -> None:
        for task in self._streams.values():
            task.cancel()
        self._streams.clear()

    # -- control point -------------------------------------------------------------

    async def _on_control(self, data: bytes) -> None:
        self.requests.append(data)
        if len(data) < 2:
            await self._reply(data[0] if data else 0, 0, Status.INVALID_LENGTH)
            return
        op, mtype = data[0], data[1]
        try:
            meas = Measurement(mtype)
            spec = self.model.measurements[meas]
        except (ValueError, KeyError):
            await self._reply(
                op, mtype, Status.INVALID_MEASUREMENT_TYPE if op <= 3 else Status.INVALID_OP_CODE
            )
            return
        if op == Opcode.GET_MEASUREMENT_SETTINGS:
            await self._reply(op, mtype, Status.SUCCESS, self._offer(spec))
        elif op == Opcode.REQUEST_MEASUREMENT_START:
            await self._start(meas, spec, data[2:])
        elif op == Opcode.STOP_MEASUREMENT:
            task = self._streams.pop(meas, None)
            if task is None:
                await self._reply(op, mtype, Status.ALREADY_IN_STATE)
                return
            task.cancel()
            await self._reply(op, mtype, Status.SUCCESS)
        else:
            await self._reply(op, mtype, Status.INVALID_OP_CODE)

    @staticmethod
    def _offer(spec: MeasurementSpec) -> bytes:
        out = bytearray([Setting.SAMPLE_RATE, len(spec.rates)])
        for r in spec.rates:
            out += r.to_bytes(2, "little")
        out += bytes([Setting.RESOLUTION, len(spec.resolutions)])
        for r in spec.resolutions:
            out += r.to_bytes(2, "little")
        if spec.ranges:
            out += bytes([Setting.RANGE, len(spec.ranges)])
            for r in spec.ranges:
                out += r.to_bytes(2, "little")
        return bytes(out)

    async def _start(self, meas: Measurement, spec: MeasurementSpec, raw: bytes) -> None:
        op = Opcode.REQUEST_MEASUREMENT_START
        if self.mtu <= 23:
            await self._reply(op, meas, Status.INVALID_MTU)
            return
        try:
            settings = parse_settings(raw, self.name)
        except ProtocolError:
            await self._reply(op, meas, Status.INVALID_PARAMETER)
            return
        rate = settings.get(Setting.SAMPLE_RATE, (None,))[0]
        checks = (
            (rate, spec.rates, Status.INVALID_SAMPLE_RATE),
            (
                settings.get(Setting.RESOLUTION, (spec.resolutions[0],))[0],
                spec.resolutions,
                Status.INVALID_RESOLUTION,
            ),
            (
                settings.get(Setting.RANGE, (spec.ranges[0] if spec.ranges else None,))[0],
                spec.ranges or (None,),
                Status.INVALID_RANGE,
            ),
        )
        for value, allowed, status in checks:
            if value not in allowed:
                await self._reply(op, meas, status)
                return
        if meas in self._streams:
            await self._reply(op, meas, Status.ALREADY_IN_STATE)
            return
        params = encode_settings({Setting.FACTOR: spec.factor}) if spec.frame_type & COMPRESSED else b""
        await self._reply(op, meas, Status.SUCCESS, params)
        assert rate is not None
        self._streams[meas] = self.spawn(self._stream(meas, spec, int(rate)))

    async def _reply(self, op: int, mtype: int, status: Status, params: bytes = b"") -> None:
        await self.indicate(CONTROL_POINT_UUID, bytes([RESPONSE_CODE, op, mtype, status, 0]) + params)

    # -- data -------------------------------------------------------------------------

    def _frame_samples(self, spec: MeasurementSpec) -> int:
        room = self.max_payload - HEADER_SIZE
        if spec.frame_type & COMPRESSED:
            # reference sample + one block; deltas of sampled body signals fit 16 bits
            fit = (room - 2 * spec.channels - 2) * 8 // (16 * spec.channels) + 1
        else:
            fit = room // (spec.channels * (3 if spec.channels == 1 else 2))
        return max(1, min(spec.samples_per_frame, fit, 256))

    def _counts(self, meas: Measurement, spec: MeasurementSpec, t: F64) -> I64:
        key = {Measurement.ECG: "ecg", Measurement.ACC: "acc", Measurement.GYRO: "gyro"}[meas]
        play = self.signals.get(key)
        if play is None:
            play = constant(
                (0.0,) if meas is Measurement.ECG else (0.0, 0.0, G if meas is Measurement.ACC else 0.0)
            )
        device_units = play.at(t)[: spec.channels] * _TO_DEVICE[meas]  # an IMU stream's acc or gyro rows
        counts = np.rint(device_units / spec.factor).astype(np.int64)
        lim = (1 << 23) - 1 if spec.channels == 1 else (1 << 15) - 1
        return np.clip(counts, -lim - 1, lim)

    async def _stream(self, meas: Measurement, spec: MeasurementSpec, rate: int) -> None:
        key = {Measurement.ECG: "ecg", Measurement.ACC: "acc", Measurement.GYRO: "gyro"}[meas]
        sent = self.encoded.setdefault(key, [])
        period = 1.0 / rate / (1.0 + self.clock_ppm * 1e-6)  # seconds of loop time per sample
        t_start = self.now()
        self.first_sample_time[key] = t_start
        k = 0
        while True:
            n = self._frame_samples(spec)
            t = t_start + (k + np.arange(n)) * period
            wait = float(t[-1]) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            counts = self._counts(meas, spec, t)
            ts = self.device_time_ns(float(t[-1]))
            if spec.frame_type & COMPRESSED:
                payload = encode_deltas(counts, 16)
            else:
                payload = _raw_payload(counts, 3 if spec.channels == 1 else 2)
            sent.append((ts, counts))
            self.send(DATA_UUID, encode_frame(meas, ts, spec.frame_type, payload), samples=n)
            k += n

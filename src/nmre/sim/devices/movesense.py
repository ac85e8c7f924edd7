"""An emulated Movesense sensor running the GATT SensorData Protocol app.

Same service and characteristic UUIDs and properties as the GSP app
(``reference/ble-devices.md`` §1.3). The command characteristic takes HELLO,
SUBSCRIBE (``/Meas/Acc|IMU6|IMU9/<rate>``, ``/Meas/ECG/<rate>``) and
UNSUBSCRIBE; results come back on the data characteristic as
``[1, ref, u16 status]``: 200 OK, 404 for a path or rate the sensor does not
serve [hedge: the exact code of the real firmware for a bad rate], 507 when all
four subscription slots are taken, 400 for a malformed command. Data
notifications are ``[2, ref, u32 ms timestamp of the first sample, float32
arrays]`` (ECG: int32 samples), with as many samples per packet as the rate
calls for (rate / 13, at least 1); a packet longer than the ATT payload is
split into DATA and a ``[3, ref, rest]`` DATA_PART2 continuation (at most two
parts).

Signals are :class:`~nmre.sim.devices.polar.Playback` objects in SI units:
``"imu"`` 6 channels (acc m/s^2, gyro rad/s), ``"mag"`` 3 channels µT,
``"ecg"`` 1 channel mV (sent as int32 µV counts). Everything encoded is kept
in :attr:`MovesenseDevice.encoded`.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.movesense import (
    ADVERTISED_UUID,
    COMMAND_UUID,
    DATA_UUID,
    ECG_RATES,
    IMU_RATES,
    SERVICE_UUID,
    Command,
    Notification,
)
from nmre.sim.devices.base import CharSpec, EmulatedDevice, ServiceSpec
from nmre.sim.devices.polar import Playback, constant

__all__ = ["MovesenseDevice", "encode_measurement"]

G = 9.80665
MAX_SUBSCRIPTIONS = 4
F64 = NDArray[np.float64]


def encode_measurement(ref: int, timestamp_ms: int, values: F64, resource: str) -> bytes:
    """A DATA notification: ``[2, ref, u32 timestamp, samples]``.

    ``values`` is (n_channels, n_samples) in the units sent (acc m/s^2, gyro deg/s,
    magn µT; ECG int32 counts), channels acc x,y,z, gyro x,y,z, magn x,y,z.
    """
    head = bytes([Notification.DATA, ref]) + struct.pack("<I", timestamp_ms % (1 << 32))
    if resource == "ECG":
        return head + np.asarray(values[0], dtype="<i4").tobytes()
    parts = [np.asarray(values[i : i + 3].T, dtype="<f4").tobytes() for i in range(0, values.shape[0], 3)]
    return head + b"".join(parts)


def _result(ref: int, status: int) -> bytes:
    return bytes([Notification.COMMAND_RESULT, ref]) + status.to_bytes(2, "little")


class MovesenseDevice(EmulatedDevice):
    """An emulated Movesense sensor (GSP app).

    Parameters
    ----------
    name : str
        Advertised name (real ones: ``"Movesense 123456789012"``).
    signals : mapping of str to Playback
        ``"imu"`` (6 ch SI), ``"mag"`` (3 ch µT), ``"ecg"`` (1 ch mV).
    clock_ppm : float
        The sensor clock runs fast by this many ppm.
    boot_ms : int
        Sensor clock at power-on, ms (set near 2**32 to test the wrap).
    **kwargs
        Passed to :class:`EmulatedDevice`.
    """

    kind: ClassVar[str] = "movesense"

    def __init__(
        self,
        name: str = "Movesense 000000000001",
        *,
        signals: Mapping[str, Playback] | None = None,
        clock_ppm: float = 0.0,
        boot_ms: int = 1234,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.signals = dict(signals or {})
        self.clock_ppm = clock_ppm
        self.boot_ms = boot_ms
        #: Encoded packets per reference: list of (timestamp_ms, values as sent (channels, n)).
        self.encoded: dict[int, list[tuple[int, F64]]] = {}
        #: Per reference: time (s since start, :meth:`now`) of the first sample; sample k
        #: was taken ``k / rate / (1 + clock_ppm * 1e-6)`` later.
        self.first_sample_time: dict[int, float] = {}
        #: Commands written, in order.
        self.commands: list[bytes] = []
        self._subs: dict[int, asyncio.Task[None]] = {}

    @classmethod
    def from_simulation(cls, sim: Any, imu: str = "imu.thigh.r", **kwargs: Any) -> MovesenseDevice:
        """A Movesense sensor playing a simulation's IMU stream (acc m/s^2 + gyro rad/s)."""
        t, v = sim.data[imu]
        return cls(signals={"imu": Playback(t, v)}, **kwargs)

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (CharSpec(COMMAND_UUID, "write", on_write=self._on_command), CharSpec(DATA_UUID, "notify")),
            )
        ]

    def advertised_services(self) -> list[str]:
        return [ADVERTISED_UUID]

    def sensor_ms(self, t: float) -> int:
        """Sensor clock, ms, at ``t`` seconds after power-on (not wrapped)."""
        return self.boot_ms + math.floor(t * (1.0 + self.clock_ppm * 1e-6) * 1000.0)

    async def on_disconnected(self, reason: int) -> None:
        for task in self._subs.values():
            task.cancel()
        self._subs.clear()

    async def _on_command(self, data: bytes) -> None:
        self.commands.append(data)
        if len(data) < 2 or data[1] == 0:
            await self.notify(DATA_UUID, _result(data[1] if len(data) > 1 else 0, 400))
            return
        cmd, ref = data[0], data[1]
        if cmd == Command.HELLO:
            await self.notify(DATA_UUID, bytes([Notification.COMMAND_RESULT, ref]) + b"Hello")
        elif cmd == Command.SUBSCRIBE:
            await self._subscribe(ref, data[2:])
        elif cmd == Command.UNSUBSCRIBE:
            task = self._subs.pop(ref, None)
            if task is not None:
                task.cancel()
            await self.notify(DATA_UUID, _result(ref, 200 if task is not None else 404))
        else:
            await self.notify(DATA_UUID, _result(ref, 400))

    def _parse_path(self, raw: bytes) -> tuple[str, int] | None:
        try:
            parts = raw.decode("ascii").strip("/").split("/")
        except UnicodeDecodeError:
            return None
        if len(parts) != 3 or parts[0] != "Meas" or not parts[2].isdigit():
            return None
        resource, rate = parts[1], int(parts[2])
        if resource in ("Acc", "IMU6", "IMU9") and rate in IMU_RATES:
            return resource, rate
        if resource == "ECG" and rate in ECG_RATES:
            return resource, rate
        return None

    async def _subscribe(self, ref: int, raw: bytes) -> None:
        parsed = self._parse_path(raw)
        if parsed is None:
            await self.notify(DATA_UUID, _result(ref, 404))
            return
        if ref in self._subs or len(self._subs) >= MAX_SUBSCRIPTIONS:
            await self.notify(DATA_UUID, _result(ref, 507))
            return
        await self.notify(DATA_UUID, _result(ref, 200))
        self._subs[ref] = self.spawn(self._stream(ref, *parsed))

    def _sample(self, resource: str, t: F64) -> F64:
        if resource == "ECG":
            ecg = self.signals.get("ecg") or constant((0.0,))
            return np.rint(ecg.at(t)[:1] * 1000.0)  # mV → µV counts
        imu = (self.signals.get("imu") or constant((0.0, 0.0, G, 0.0, 0.0, 0.0))).at(t)
        acc = imu[:3]
        if resource == "Acc":
            out = acc
        else:
            out = np.concatenate([acc, imu[3:6] * 180.0 / math.pi])
            if resource == "IMU9":
                out = np.concatenate([out, (self.signals.get("mag") or constant((20.0, 0.0, -40.0))).at(t)])
        return out.astype(np.float32).astype(np.float64)  # what float32 carries

    async def _stream(self, ref: int, resource: str, rate: int) -> None:
        sent = self.encoded.setdefault(ref, [])
        width = {"Acc": 3, "IMU6": 6, "IMU9": 9, "ECG": 1}[resource]
        per_packet = max(1, rate // 13 if resource != "ECG" else rate // 16)
        # at most two notifications per packet: DATA + DATA_PART2
        per_packet = max(1, min(per_packet, (2 * self.max_payload - 8) // (4 * width)))
        period = 1.0 / rate / (1.0 + self.clock_ppm * 1e-6)
        t_start = self.now()
        self.first_sample_time[ref] = t_start
        k = 0
        while True:
            t = t_start + (k + np.arange(per_packet)) * period
            wait = float(t[-1]) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            values = self._sample(resource, t)
            ms = self.sensor_ms(float(t[0]))
            sent.append((ms, values))
            packet = encode_measurement(ref, ms, values, resource)
            room = self.max_payload
            if len(packet) <= room:
                self.send(DATA_UUID, packet, samples=per_packet)
            else:
                self.send(DATA_UUID, packet[:room], samples=per_packet)
                self.send(DATA_UUID, bytes([Notification.DATA_PART2, ref]) + packet[room:], samples=0)
            k += per_packet

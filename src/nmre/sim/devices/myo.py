"""An emulated Thalmic Myo armband, byte for byte.

The GATT layout of ``myohw.h`` (control, IMU, classifier and EMG services with
their UUIDs and properties), the command characteristic's ``set_mode`` and
``set_sleep_mode`` handling, and the real notification formats: EMG as two
8-channel int8 samples per 16-byte notification, round robin over the four
EMG characteristics at 200 Hz in total; IMU as 10 little-endian int16 at
50 Hz. Like the real band it sends no timestamps and no sequence numbers.

Signals come from :class:`~nmre.sim.devices.polar.Playback` objects in SI
units: EMG in mV (for example the body simulator's 2 kHz ``emg.r`` stream,
low-pass filtered and decimated to 200 Hz here) scaled by ``mv_per_count``
and clipped to int8; IMU acc m/s^2 + gyro rad/s. Everything encoded is kept
in :attr:`MyoDevice.encoded` for comparison with what a receiver decoded.

A write the band would not accept (wrong length, unknown mode) is refused
with an ATT error [hedge: the real band's exact error codes are not
documented; 0x0D "invalid attribute value length" and 0x13 "value not
allowed" are used].
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from nmre.acquisition.profiles.myo import (
    ACC_SCALE,
    COMMAND_UUID,
    CONTROL_SERVICE_UUID,
    EMG_DATA_UUIDS,
    EMG_RATE,
    EMG_SERVICE_UUID,
    FIRMWARE_UUID,
    GYRO_SCALE,
    IMU,
    IMU_DATA_UUID,
    IMU_RATE,
    IMU_SERVICE_UUID,
    INFO_UUID,
    QUAT_SCALE,
    Command,
    EmgMode,
    ImuMode,
    myo_uuid,
)
from nmre.errors import ConfigError, expected
from nmre.sim.devices.base import AttRefusal, CharSpec, EmulatedDevice, ServiceSpec
from nmre.sim.devices.polar import Playback, constant

__all__ = ["MyoDevice", "decimate_emg", "encode_emg", "encode_imu"]

G = 9.80665
ATT_INVALID_LENGTH = 0x0D
ATT_VALUE_NOT_ALLOWED = 0x13
MOTION_EVENT_UUID = myo_uuid(0x0502)
CLASSIFIER_SERVICE_UUID = myo_uuid(0x0003)
CLASSIFIER_EVENT_UUID = myo_uuid(0x0103)


def encode_emg(samples: NDArray[np.int64]) -> bytes:
    """16-byte EMG notification from two 8-channel samples, shape (8, 2), values in int8 range."""
    s = np.asarray(samples)
    if s.shape != (8, 2) or s.min() < -128 or s.max() > 127:
        raise ConfigError(expected("(8, 2) samples in -128..127", (s.shape, int(s.min()), int(s.max()))))
    return s.T.astype(np.int8).tobytes()


def encode_imu(counts: Sequence[int]) -> bytes:
    """20-byte IMU notification from 10 int16 counts (quat w,x,y,z, acc x,y,z, gyro x,y,z)."""
    return IMU.pack(*(int(c) for c in counts))


def decimate_emg(times: NDArray[np.float64], values: NDArray[np.float64], rate: float = EMG_RATE) -> Playback:
    """Low-pass (8th-order Butterworth at 0.4 × ``rate``) and resample EMG to ``rate``, as a Playback."""
    fs = 1.0 / float(np.median(np.diff(times)))
    sos = signal.butter(8, 0.4 * rate, fs=fs, output="sos")
    filtered = signal.sosfiltfilt(sos, values, axis=1)
    t = np.arange(times[0], times[-1], 1.0 / rate)
    return Playback(t, np.stack([np.interp(t, times, row) for row in filtered]))


class MyoDevice(EmulatedDevice):
    """An emulated Myo armband.

    Parameters
    ----------
    name : str
        Advertised name.
    emg : Playback or None
        EMG in mV, up to 8 channels (channel c → Myo channel c; others read 0).
    imu : Playback or None
        6 channels: acc m/s^2, gyro rad/s (default: at rest, 1 g along +z).
    quat : Playback or None
        Orientation quaternion w, x, y, z (default identity).
    mv_per_count : float
        EMG scale, mV per int8 count.
    clock_ppm : float
        The band's crystal runs fast by this many ppm (its 200 Hz is a little faster).
    **kwargs
        Passed to :class:`EmulatedDevice`.
    """

    kind: ClassVar[str] = "myo"

    def __init__(
        self,
        name: str = "Myo-sim",
        *,
        emg: Playback | None = None,
        imu: Playback | None = None,
        quat: Playback | None = None,
        mv_per_count: float = 0.01,
        clock_ppm: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if emg is not None and emg.n_channels > 8:
            raise ConfigError(expected("EMG with at most 8 channels", emg.n_channels))
        self.emg = emg
        self.imu = imu or constant((0.0, 0.0, G, 0.0, 0.0, 0.0))
        self.quat = quat or constant((1.0, 0.0, 0.0, 0.0))
        self.mv_per_count = mv_per_count
        self.clock_ppm = clock_ppm
        self.emg_mode = EmgMode.NONE
        self.imu_mode = ImuMode.NONE
        self.never_sleep = False
        #: Encoded samples in send order: "emg" → (8, 2) int arrays, "imu" → (10,) int arrays.
        self.encoded: dict[str, list[NDArray[np.int64]]] = {"emg": [], "imu": []}
        #: Time (s since start, :meth:`now`) of the first EMG / IMU sample (200 / 50 Hz after it).
        self.first_sample_time: dict[str, float] = {}
        #: Commands written, in order.
        self.commands: list[bytes] = []
        self._tasks_by_stream: dict[str, asyncio.Task[None]] = {}

    @classmethod
    def from_simulation(
        cls, sim: Any, emg: str = "emg.r", imu: str = "imu.shank.r", **kwargs: Any
    ) -> MyoDevice:
        """A Myo playing a simulation's EMG stream (decimated to 200 Hz) and IMU stream."""
        t, v = sim.data[imu]
        return cls(emg=decimate_emg(*sim.data[emg]), imu=Playback(t, v), **kwargs)

    def services(self) -> list[ServiceSpec]:
        info = bytes(20)
        firmware = (
            (1).to_bytes(2, "little")
            + (5).to_bytes(2, "little")
            + (1970).to_bytes(2, "little")
            + bytes([2, 0])
        )
        return [
            ServiceSpec(
                CONTROL_SERVICE_UUID,
                (
                    CharSpec(INFO_UUID, "read", info),
                    CharSpec(FIRMWARE_UUID, "read", firmware),
                    CharSpec(COMMAND_UUID, "write", on_write=self._on_command),
                ),
            ),
            ServiceSpec(
                IMU_SERVICE_UUID,
                (CharSpec(IMU_DATA_UUID, "notify"), CharSpec(MOTION_EVENT_UUID, "indicate")),
            ),
            ServiceSpec(CLASSIFIER_SERVICE_UUID, (CharSpec(CLASSIFIER_EVENT_UUID, "indicate"),)),
            ServiceSpec(EMG_SERVICE_UUID, tuple(CharSpec(u, "notify") for u in EMG_DATA_UUIDS)),
        ]

    async def on_disconnected(self, reason: int) -> None:
        self._stop_streams()
        self.emg_mode, self.imu_mode = EmgMode.NONE, ImuMode.NONE

    def _stop_streams(self, *keys: str) -> None:
        for key in keys or tuple(self._tasks_by_stream):
            task = self._tasks_by_stream.pop(key, None)
            if task is not None:
                task.cancel()

    # -- commands -------------------------------------------------------------------

    def _on_command(self, data: bytes) -> None:
        self.commands.append(data)
        if len(data) < 2 or len(data) != 2 + data[1]:
            raise AttRefusal(ATT_INVALID_LENGTH, f"command {data.hex(' ')}: header size does not match")
        cmd = data[0]
        if cmd == Command.SET_MODE:
            if data[1] != 3:
                raise AttRefusal(ATT_INVALID_LENGTH, "set_mode takes 3 bytes")
            try:
                emg, imu = EmgMode(data[2]), ImuMode(data[3])
            except ValueError:
                raise AttRefusal(ATT_VALUE_NOT_ALLOWED, f"set_mode {data.hex(' ')}: unknown mode") from None
            self._set_modes(emg, imu)
        elif cmd == Command.SET_SLEEP_MODE:
            if data[1] != 1 or data[2] > 1:
                raise AttRefusal(ATT_VALUE_NOT_ALLOWED, f"set_sleep_mode {data.hex(' ')}")
            self.never_sleep = data[2] == 1
        elif cmd not in (Command.VIBRATE, Command.DEEP_SLEEP, Command.UNLOCK, 0x07, 0x0B):
            raise AttRefusal(ATT_VALUE_NOT_ALLOWED, f"unknown command 0x{cmd:02X}")

    def _set_modes(self, emg: EmgMode, imu: ImuMode) -> None:
        self.emg_mode, self.imu_mode = emg, imu
        if emg in (EmgMode.RAW, EmgMode.FILTERED):
            if "emg" not in self._tasks_by_stream:
                self._tasks_by_stream["emg"] = self.spawn(self._emg_stream())
        else:
            self._stop_streams("emg")
        if imu in (ImuMode.DATA, ImuMode.ALL, ImuMode.RAW):
            if "imu" not in self._tasks_by_stream:
                self._tasks_by_stream["imu"] = self.spawn(self._imu_stream())
        else:
            self._stop_streams("imu")

    # -- data --------------------------------------------------------------------------

    async def _emg_stream(self) -> None:
        period = 1.0 / EMG_RATE / (1.0 + self.clock_ppm * 1e-6)
        t0 = self.now()
        self.first_sample_time["emg"] = t0
        k = 0
        while True:
            t = t0 + (k + np.arange(2)) * period
            wait = float(t[-1]) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            counts = np.zeros((8, 2), dtype=np.int64)
            if self.emg is not None:
                mv = self.emg.at(t)
                counts[: mv.shape[0]] = np.clip(np.rint(mv / self.mv_per_count), -128, 127).astype(np.int64)
            self.encoded["emg"].append(counts)
            char = EMG_DATA_UUIDS[(k // 2) % 4]
            self.send(char, encode_emg(counts), samples=2)
            k += 2

    async def _imu_stream(self) -> None:
        period = 1.0 / IMU_RATE / (1.0 + self.clock_ppm * 1e-6)
        t0 = self.now()
        self.first_sample_time["imu"] = t0
        k = 0
        while True:
            t = np.array([t0 + k * period])
            wait = float(t[0]) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            q = self.quat.at(t)[:, 0] * QUAT_SCALE
            v = self.imu.at(t)[:, 0]
            acc = v[:3] / G * ACC_SCALE
            gyro = v[3:6] * 180.0 / math.pi * GYRO_SCALE
            counts = np.clip(np.rint(np.concatenate([q, acc, gyro])), -32768, 32767).astype(np.int64)
            self.encoded["imu"].append(counts)
            self.send(IMU_DATA_UUID, encode_imu(counts.tolist()), samples=1)
            k += 1

"""A byte-exact emulated nmre sensor board (EMG front end + IMU) on Bumble.

Implements ``docs/nmre-sensor-profile.md`` from the device side: the info
characteristic, the control point (GET_CONFIG, SET_RATES, START, STOP with
their response codes) and the EMG and IMU data packets, built with ``struct``
from the spec (not with the decoder), so round-trip tests check both.

The board's sample clock runs from power-on: sample ``k`` of a stream is taken
at ``start_time + k / rate`` (loop time) and stamped ``k / rate`` seconds of
device time (times ``1 + clock_ppm * 1e-6`` to emulate a crystal error). Its
16-bit sample counter keeps counting while the board does not stream, so a
reconnect shows the outage as a jump; the samples never sent are logged as
``"outage"`` records in :attr:`EmulatedDevice.faults`.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.acquisition.profiles.nmre_profile import (
    CONTROL_POINT_UUID,
    EMG_DATA_UUID,
    EMG_RATES,
    IMU_DATA_UUID,
    IMU_RATES,
    INFO_UUID,
    MAX_EMG_CHANNELS,
    PROTOCOL_VERSION,
    RESPONSE_CODE,
    SERVICE_UUID,
    STREAM_EMG,
    STREAM_IMU,
    DeviceInfo,
    Opcode,
    PacketType,
    Status,
    crc16,
)
from nmre.errors import ConfigError, expected
from nmre.sim.devices.base import AttRefusal, CharSpec, EmulatedDevice, FaultRecord, ServiceSpec

__all__ = [
    "NmreDevice",
    "SignalFn",
    "signal_from_arrays",
    "signal_from_simulation",
    "simulated_boards",
    "synthetic_signal",
]

#: ``signal(stream, t) -> values``: ``stream`` is ``"emg"`` or ``"imu"``, ``t`` the
#: sample times in seconds since power-on, shape (n,); values in mV or
#: (m/s^2, rad/s), shape (n_channels, n).
SignalFn = Callable[[str, NDArray[np.float64]], NDArray[np.float64]]

_G = 9.80665


def synthetic_signal(n_emg: int) -> SignalFn:
    """A deterministic stand-in signal: EMG-like tones in mV, a slowly rocking IMU at rest."""
    freqs = 40.0 + 17.0 * np.arange(n_emg)[:, None]

    def signal(stream: str, t: NDArray[np.float64]) -> NDArray[np.float64]:
        if stream == "emg":
            burst = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t)
            return 0.3 * burst * np.sin(2 * np.pi * freqs * t + np.arange(n_emg)[:, None])
        rock = np.sin(2 * np.pi * 0.7 * t)
        return np.vstack(
            [
                0.8 * rock,
                0.2 * np.cos(2 * np.pi * 0.3 * t),
                _G + 0.3 * rock,
                0.5 * np.cos(2 * np.pi * 0.7 * t),
                0.1 * rock,
                -0.2 * rock,
            ]
        )

    return signal


def signal_from_arrays(
    emg: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    imu: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> SignalFn:
    """Play recorded or simulated ``(times, values)`` arrays through a board, looping at their end.

    ``emg`` values are ``(n_channels, n)`` in mV, ``imu`` values ``(6, n)`` in
    m/s^2 and rad/s, sampled regularly from ``times[0]``. A board sample at
    device time ``t`` takes the array sample nearest to ``t`` (modulo the length).
    For the body simulator: ``signal_from_arrays(sim.data["emg.r"], sim.data["imu.thigh.r"])``.
    """
    tables: dict[str, tuple[float, NDArray[np.float64]]] = {}
    for key, pair in (("emg", emg), ("imu", imu)):
        if pair is None:
            continue
        times, values = np.asarray(pair[0], dtype=np.float64), np.asarray(pair[1], dtype=np.float64)
        if times.ndim != 1 or values.ndim != 2 or values.shape[1] != times.shape[0] or times.shape[0] < 2:
            raise ConfigError(
                f"{key} arrays: "
                + expected("times (n,) and values (n_channels, n), n >= 2", (times.shape, values.shape))
            )
        tables[key] = ((times.shape[0] - 1) / (times[-1] - times[0]), values)
    fallback = synthetic_signal(np.asarray(emg[1]).shape[0] if emg is not None else 1)

    def signal(stream: str, t: NDArray[np.float64]) -> NDArray[np.float64]:
        if stream not in tables:
            return fallback(stream, t)
        rate, values = tables[stream]
        idx = np.rint(t * rate).astype(np.int64) % values.shape[1]
        return values[:, idx]

    return signal


def signal_from_simulation(sim: Any, emg: str | None = None, imu: str | None = None) -> SignalFn:
    """Play a body simulation's streams through a board, read in chunks, looping at the session's end.

    Like :func:`signal_from_arrays` (the array sample nearest to each board time, modulo
    the length), but the samples are read through :meth:`nmre.sim.Simulation.read`, so a
    board playing an hour-long session holds a few pages of it, never the session.
    ``emg`` and ``imu`` are stream ids of ``sim`` (``emg`` with up to the board's channels,
    ``imu`` a 6-channel IMU stream).
    """
    streams = {info.id: info for info in sim.streams}
    tables: dict[str, tuple[str, float, int]] = {}
    for key, sid in (("emg", emg), ("imu", imu)):
        if sid is None:
            continue
        if sid not in streams:
            raise ConfigError(
                f"{key} stream: " + expected("a stream of the simulation " + ", ".join(streams), sid)
            )
        tables[key] = (sid, float(streams[sid].rate), int(sim.n_samples(sid)))
    fallback = synthetic_signal(streams[emg].n_channels if emg is not None else 1)

    def signal(stream: str, t: NDArray[np.float64]) -> NDArray[np.float64]:
        if stream not in tables:
            return fallback(stream, t)
        sid, rate, n = tables[stream]
        idx = np.rint(np.asarray(t) * rate).astype(np.int64) % n
        order = np.sort(np.unique(idx))
        out = np.empty((streams[sid].n_channels, idx.shape[0]))
        # contiguous runs of wanted samples (two when a packet wraps round the session's end)
        cuts = np.flatnonzero(np.diff(order) > 1024) + 1
        for run in np.split(order, cuts):
            lo, hi = int(run[0]), int(run[-1]) + 1
            _, v = sim.read(sid, lo, hi)
            sel = (idx >= lo) & (idx < hi)
            out[:, sel] = v[:, idx[sel] - lo]
        return out

    return signal


@dataclass
class _Stream:
    key: str
    char: str
    packet_type: int
    rate: int
    n_channels: int
    scale: NDArray[np.float64]  # (n_channels, 1) physical units per LSB
    task: asyncio.Task[None] | None = None
    signal: SignalFn | None = None
    next_k: int = 0
    resume_k: int | None = None  # next sample when the link dropped while streaming


class NmreDevice(EmulatedDevice):
    """An emulated nmre sensor board.

    Parameters
    ----------
    name : str
        Advertised name (keep it <= 8 characters to fit the advertisement whole).
    emg_channels : int
        Active EMG channels at power-on (the board has ``max_emg_channels``).
    emg_rate, imu_rate : int
        Rates at power-on, Hz.
    imu : bool
        Whether the board has an IMU.
    signal : SignalFn or None
        What the electrodes and the IMU measure; :func:`synthetic_signal` by default.
    clock_ppm : float
        Device crystal error, parts per million.
    packet_duration : float
        A packet holds at most this much data, seconds (10 ms like a typical firmware).
    info_override : bytes or None
        Serve these bytes as the info value (a device that is not what it claims).
    **kwargs
        Passed to :class:`EmulatedDevice` (``link``, ``timing``, ``faults``, ``battery`` ...).
    """

    kind = "nmre"

    def __init__(
        self,
        name: str,
        *,
        emg_channels: int = 4,
        max_emg_channels: int = MAX_EMG_CHANNELS,
        emg_rate: int = 2000,
        imu_rate: int = 100,
        imu: bool = True,
        signal: SignalFn | None = None,
        clock_ppm: float = 0.0,
        packet_duration: float = 0.010,
        info_override: bytes | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.max_emg_channels = max_emg_channels
        self.emg_mask = (1 << emg_channels) - 1
        self.emg_rate = emg_rate
        self.imu_rate = imu_rate
        self.has_imu = imu
        self.signal = signal
        self.clock_ppm = clock_ppm
        self.packet_duration = packet_duration
        self.info_override = info_override
        self.emg_scale = 0.5e-3  # mV per LSB: +-16.4 mV range
        self.acc_scale = 16 * _G / 32768  # +-16 g
        self.gyro_scale = math.radians(2000.0) / 32768  # +-2000 deg/s
        self._streams: dict[str, _Stream] = {}
        #: Control-point requests received, as raw bytes (for tests).
        self.commands: list[bytes] = []
        #: Stream → counter of the first sample it ever streamed (ground truth for tests).
        self.first_sample: dict[str, int] = {}

    # -- GATT ------------------------------------------------------------------------

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharSpec(CONTROL_POINT_UUID, "write,indicate", on_write=self._on_control),
                    CharSpec(INFO_UUID, "read", on_read=self._info_value),
                    CharSpec(EMG_DATA_UUID, "notify"),
                    CharSpec(IMU_DATA_UUID, "notify"),
                ),
            )
        ]

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            version=PROTOCOL_VERSION,
            max_emg_channels=self.max_emg_channels,
            emg_mask=self.emg_mask,
            imu_present=self.has_imu,
            emg_rate=self.emg_rate,
            imu_rate=self.imu_rate,
            emg_scale=self.emg_scale,
            acc_scale=self.acc_scale,
            gyro_scale=self.gyro_scale,
            emg_rates_mask=(1 << len(EMG_RATES)) - 1,
            imu_rates_mask=(1 << len(IMU_RATES)) - 1,
        )

    def _info_value(self) -> bytes:
        if self.info_override is not None:
            return self.info_override
        # Written field by field from the spec table (not DeviceInfo.to_bytes).
        return struct.pack(
            "<BBBBHHfffHH",
            PROTOCOL_VERSION,
            self.max_emg_channels,
            self.emg_mask,
            1 if self.has_imu else 0,
            self.emg_rate,
            self.imu_rate,
            self.emg_scale,
            self.acc_scale,
            self.gyro_scale,
            0b111,
            0b1111,
        )

    # -- control point -------------------------------------------------------------------

    def _on_control(self, data: bytes) -> None:
        if not data:
            raise AttRefusal(0x0D, "empty control-point write")
        self.commands.append(data)
        status, payload = self._execute(data)
        self.spawn(self.indicate(CONTROL_POINT_UUID, bytes([RESPONSE_CODE, data[0], status]) + payload))

    def _streaming(self) -> bool:
        return any(s.task is not None for s in self._streams.values())

    def _execute(self, data: bytes) -> tuple[int, bytes]:
        op, params = data[0], data[1:]
        if op == Opcode.GET_CONFIG:
            return (Status.INVALID_LENGTH, b"") if params else (Status.SUCCESS, self._info_value())
        if op == Opcode.SET_RATES:
            if len(params) != 5:
                return Status.INVALID_LENGTH, b""
            emg_rate, imu_rate, mask = struct.unpack("<HHB", params)
            if self._streaming():
                return Status.INVALID_STATE, b""
            if emg_rate not in EMG_RATES or (self.has_imu and imu_rate not in IMU_RATES):
                return Status.UNSUPPORTED_RATE, b""
            if mask >> self.max_emg_channels:
                return Status.INVALID_PARAMETER, b""
            self.emg_rate, self.imu_rate, self.emg_mask = emg_rate, imu_rate, mask
            return Status.SUCCESS, b""
        if op in (Opcode.START, Opcode.STOP):
            if len(params) != 1:
                return Status.INVALID_LENGTH, b""
            which = params[0]
            if (
                which == 0
                or which & ~(STREAM_EMG | STREAM_IMU)
                or (which & STREAM_IMU and not self.has_imu)
                or (which & STREAM_EMG and op == Opcode.START and self.emg_mask == 0)
            ):
                return Status.INVALID_PARAMETER, b""
            keys = [k for bit, k in ((STREAM_EMG, "emg"), (STREAM_IMU, "imu")) if which & bit]
            for key in keys:
                if op == Opcode.START:
                    self._start_stream(key)
                else:
                    self._stop_stream(key, deliberate=True)
            return Status.SUCCESS, b""
        return Status.UNKNOWN_OPCODE, b""

    # -- streaming ---------------------------------------------------------------------

    def _stream(self, key: str) -> _Stream:
        n_emg = bin(self.emg_mask).count("1")
        if key == "emg":
            spec = _Stream(
                "emg",
                EMG_DATA_UUID,
                PacketType.EMG,
                self.emg_rate,
                n_emg,
                np.full((n_emg, 1), self.emg_scale),
            )
        else:
            scale = np.array([[self.acc_scale]] * 3 + [[self.gyro_scale]] * 3)
            spec = _Stream("imu", IMU_DATA_UUID, PacketType.IMU, self.imu_rate, 6, scale)
        old = self._streams.get(key)
        if old is not None:
            spec.resume_k = old.resume_k
        self._streams[key] = spec
        return spec

    def _start_stream(self, key: str) -> None:
        current = self._streams.get(key)
        if current is not None and current.task is not None:
            return
        stream = self._stream(key)
        stream.next_k = math.ceil(self.now() * stream.rate)
        self.first_sample.setdefault(key, stream.next_k)
        if stream.resume_k is not None:
            skipped = stream.next_k - stream.resume_k
            self.faults.add(FaultRecord(self.now(), "outage", stream.char, skipped, stream.resume_k))
            stream.resume_k = None
        stream.task = self.spawn(self._produce(stream))

    def _stop_stream(self, key: str, *, deliberate: bool) -> None:
        stream = self._streams.get(key)
        if stream is None or stream.task is None:
            return
        stream.task.cancel()
        stream.task = None
        stream.resume_k = None if deliberate else stream.next_k

    async def on_disconnected(self, reason: int) -> None:
        for key in list(self._streams):
            self._stop_stream(key, deliberate=False)

    def samples_per_packet(self, stream_rate: float, n_channels: int) -> int:
        """Samples per packet for the current MTU: what fits, at most ``packet_duration`` of data."""
        fit = (self.max_payload - 12) // (2 * n_channels)
        return max(1, min(255, fit, math.ceil(stream_rate * self.packet_duration)))

    def sample_time(self, stream: str, k: int | NDArray[np.int64]) -> float | NDArray[np.float64]:
        """Loop time at which sample ``k`` (unwrapped counter) of ``stream`` was taken — the truth."""
        rate = (
            self._streams[stream].rate
            if stream in self._streams
            else (self.emg_rate if stream == "emg" else self.imu_rate)
        )
        return self.start_time + np.asarray(k) / rate

    def encode_packet(self, stream: str, k: int, n: int) -> bytes:
        """The data packet of ``n`` samples of ``stream`` starting at sample counter ``k`` (spec §5)."""
        spec = self._streams[stream]
        if spec.signal is None:
            spec.signal = self.signal or synthetic_signal(spec.n_channels if stream == "emg" else 0)
        t = (k + np.arange(n)) / spec.rate
        values = np.asarray(spec.signal(stream, t), dtype=np.float64)
        counts = np.clip(np.rint(values / spec.scale), -32768, 32767).astype("<i2")
        t_us = round(k / spec.rate * 1e6 * (1.0 + self.clock_ppm * 1e-6)) % (1 << 32)
        body = struct.pack("<BBBBHI", spec.packet_type, spec.n_channels, n, 0, k & 0xFFFF, t_us)
        body += counts.T.tobytes()
        return body + struct.pack("<H", crc16(body))

    async def _produce(self, stream: _Stream) -> None:
        loop = asyncio.get_running_loop()
        rate = stream.rate
        while True:
            k = stream.next_k
            n = self.samples_per_packet(rate, stream.n_channels)
            delay = self.start_time + (k + n - 1) / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send(stream.char, self.encode_packet(stream.key, k, n), n, k)
            stream.next_k = k + n


def simulated_boards(
    sim: Any,
    link: Any,
    *,
    emg_on: str = "imu.thigh.r",
    emg_stream: str = "emg.r",
    emg: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> tuple[list[NmreDevice], list[Any]]:
    """Emulated nmre boards wearing a body simulation, and the device specs to stream from them.

    One board per simulated IMU stream (``nmre-0``, ``nmre-1`` ...); the board at
    ``emg_on`` also carries the EMG stream ``emg_stream`` (or, with ``emg``, each board named by an IMU
    stream id carries the EMG stream it maps to); the others are IMU-only.
    The specs (:class:`nmre.acquisition.ble.DeviceSpec`) keep the simulator's
    stream ids, channel names and placements, so ``BleSource`` produces the same
    streams as ``SimSource`` — through BLE. At most four IMUs (the manager's limit).

    Parameters
    ----------
    sim : nmre.sim.Simulation
        ``sim.streams`` and ``sim.data[stream_id] = (times, values)``.
    link : bumble.link.LocalLink
        The air the boards attach to.
    **kwargs
        Passed to every :class:`NmreDevice` (``timing``, ``faults`` ...).
    """
    from nmre.acquisition.ble import DeviceSpec

    infos = {info.id: info for info in sim.streams}
    imu_ids = [sid for sid, info in infos.items() if info.kind.value == "imu"]
    if len(imu_ids) > 4:
        raise ConfigError(expected("at most 4 IMU streams (one board each)", imu_ids))
    emg_rate, imu_rate = round(float(sim.emg_rate)), round(float(sim.imu_rate))
    if emg_rate not in EMG_RATES or imu_rate not in IMU_RATES:
        raise ConfigError(
            expected(
                f"simulated rates in the profile's sets EMG {EMG_RATES}, IMU {IMU_RATES}",
                (emg_rate, imu_rate),
            )
        )
    boards: list[NmreDevice] = []
    specs = []
    carried = dict(emg) if emg is not None else {emg_on: emg_stream}
    for i, imu_id in enumerate(imu_ids):
        emg_id = carried.get(imu_id, "")
        with_emg = emg_id in infos
        n_emg = infos[emg_id].n_channels if with_emg else 0
        board = NmreDevice(
            f"nmre-{i}",
            link=link,
            emg_channels=n_emg,
            emg_rate=emg_rate,
            imu_rate=imu_rate,
            signal=signal_from_simulation(sim, emg_id if with_emg else None, imu_id),
            **kwargs,
        )
        stream_infos = {"imu": infos[imu_id]}
        config: dict[str, Any] = {"emg": with_emg, "imu": True, "stream_infos": stream_infos}
        if with_emg:
            stream_infos["emg"] = infos[emg_id]
            config["emg_channels"] = tuple(range(n_emg))  # the channels the board streams (it has up to 8)
        boards.append(board)
        specs.append(DeviceSpec("nmre", name=board.name, config=config))
    return boards, specs

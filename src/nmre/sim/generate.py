"""Chunked generation of the simulated streams: any range of samples, on demand, in fixed pages.

Every stream is cut into pages of fixed sample counts (IMU/ACC: :data:`IMU_PAGE`,
EMG: :data:`nmre.sim.emg.PAGE`). A page is a pure function of the session's seed
and its index: its body kinematics are evaluated at the page's sample times, its
noise comes from a generator seeded by (stream, page), the EMG carrier joins the
previous page through a warm-up (:mod:`nmre.sim.emg`). So reading a session whole
or in any chunks gives the same bytes, and a long session is served with the
memory of a few pages.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import StreamInfo, StreamKind
from nmre.sim.emg import PAGE as EMG_PAGE
from nmre.sim.emg import Artifact, EmgModel, carrier_page, carrier_sos
from nmre.sim.imu import BodyState, ImuErrors, body_state
from nmre.sim.kit import Sensor
from nmre.sim.movements.base import Movement
from nmre.sim.rng import child_rng

__all__ = ["IMU_PAGE", "StreamGenerator"]

F64 = NDArray[np.float64]

#: Samples per IMU/ACC page.
IMU_PAGE = 1024
_KEEP = 3  # pages kept per cache


class StreamGenerator:
    """Serves sample ranges of every stream of a simulation, generating pages on demand.

    Parameters
    ----------
    movement : Movement
        The body's trajectories and activations.
    streams : sequence of StreamInfo
        The worn streams.
    sensors : sequence of Sensor
        The kit (segment of each IMU/ACC stream, side of each EMG site).
    seed : int
        Session seed.
    mounting : mapping of str to ndarray (3, 3)
        IMU/ACC stream id → sensor-to-segment rotation.
    imu_errors : ImuErrors
        Noise densities and bias ranges (times ``noise``).
    noise : float
        Factor on every sensor noise (IMU white noise, EMG noise floor).
    mains_hz : float or None
        Mains hum frequency on EMG.
    emg_model : EmgModel
        EMG spectrum and artefact model.
    artifacts : mapping of str to list of Artifact
        EMG stream id → motion artefacts.
    """

    def __init__(
        self,
        movement: Movement,
        streams: Sequence[StreamInfo],
        sensors: Sequence[Sensor],
        seed: int,
        mounting: Mapping[str, F64],
        imu_errors: ImuErrors,
        noise: float,
        mains_hz: float | None,
        emg_model: EmgModel,
        artifacts: Mapping[str, list[Artifact]],
    ) -> None:
        self.movement = movement
        self.seed = seed
        self.noise = noise
        self.mains_hz = mains_hz
        self.model = emg_model
        self.infos = {s.id: s for s in streams}
        self.duration = movement.duration
        self.n = {s.id: math.floor(self.duration * s.rate + 1e-9) + 1 for s in streams}
        self.segment: dict[str, str] = {}
        self.side: dict[str, str] = {}
        for sensor in sensors:
            if sensor.kind == "emg":
                self.side[sensor.stream_id] = sensor.side or "r"
            else:
                self.segment[sensor.stream_id] = sensor.segment or ""
        self.mounting = {sid: np.asarray(mounting.get(sid, np.eye(3))) for sid in self.segment}
        self.bias: dict[str, F64] = {}
        self.std: dict[str, F64] = {}
        for sid, info in self.infos.items():
            if info.kind not in (StreamKind.IMU, StreamKind.ACC):
                continue
            brng = child_rng(seed, f"{sid}.bias")
            sign = brng.choice([-1.0, 1.0], 6)
            mag = np.concatenate(
                [brng.uniform(*imu_errors.acc_bias, 3), np.radians(brng.uniform(*imu_errors.gyr_bias_dps, 3))]
            )
            dens = np.array([imu_errors.acc_noise_density] * 3 + [imu_errors.gyr_noise_density] * 3)
            k = info.n_channels
            self.bias[sid] = (sign * mag)[:k]
            self.std[sid] = (noise * math.sqrt(info.rate / 2.0) * dens)[:k]
        self._sos: dict[float, F64] = {}
        self._mains: dict[str, tuple[F64, F64]] = {}
        for sid, info in self.infos.items():
            if info.kind is StreamKind.EMG:
                mrng = child_rng(seed, f"{sid}.mains")
                self._mains[sid] = (mrng.uniform(0.0, 2 * np.pi, 2), mrng.uniform(0.5, 1.5, info.n_channels))
        self.artifacts = {sid: sorted(a, key=lambda x: x.time) for sid, a in artifacts.items()}
        self._art_times = {sid: np.array([a.time for a in arts]) for sid, arts in self.artifacts.items()}
        self._state_cache: OrderedDict[tuple[float, int], BodyState] = OrderedDict()
        self._page_cache: OrderedDict[tuple[str, int], F64] = OrderedDict()

    # -- public -------------------------------------------------------------------------
    def times(self, sid: str, a: int, b: int) -> F64:
        """Sample times (s) of samples ``a .. b-1`` of stream ``sid``: ``k / rate``."""
        return np.arange(a, b) / self.infos[sid].rate

    def read(self, sid: str, a: int, b: int) -> F64:
        """Values (n_channels, b - a) of samples ``a .. b-1`` of stream ``sid`` (a new array)."""
        info = self.infos[sid]
        b = min(b, self.n[sid])
        out = np.empty((info.n_channels, max(b - a, 0)))
        if b <= a:
            return out
        size = EMG_PAGE if info.kind is StreamKind.EMG else IMU_PAGE
        for p in range(a // size, (b - 1) // size + 1):
            page = self._page(sid, p)
            lo, hi = max(a, p * size), min(b, (p + 1) * size)
            out[:, lo - a : hi - a] = page[:, lo - p * size : hi - p * size]
        return out

    def state(self, rate: float, page: int) -> BodyState:
        """Error-free body state at the sample times of IMU page ``page`` at ``rate`` (cached)."""
        key = (rate, page)
        got = self._state_cache.get(key)
        if got is None:
            t = np.arange(page * IMU_PAGE, (page + 1) * IMU_PAGE) / rate
            segs = tuple(dict.fromkeys(self.segment.values())) or ("pelvis",)
            got = body_state(self.movement.pose, t, self.movement.body, segments=segs)
            self._state_cache[key] = got
            while len(self._state_cache) > _KEEP:
                self._state_cache.popitem(last=False)
        return got

    # -- pages --------------------------------------------------------------------------
    def _page(self, sid: str, p: int) -> F64:
        key = (sid, p)
        got = self._page_cache.get(key)
        if got is None:
            info = self.infos[sid]
            got = self._emg_page(sid, p) if info.kind is StreamKind.EMG else self._imu_page(sid, p)
            self._page_cache[key] = got
            while len(self._page_cache) > _KEEP * max(1, len(self.infos)):
                self._page_cache.popitem(last=False)
        return got

    def _imu_page(self, sid: str, p: int) -> F64:
        info = self.infos[sid]
        st = self.state(info.rate, p)
        seg = self.segment[sid]
        m = self.mounting[sid]
        acc = m.T @ st.force[seg]
        rows = [acc] if info.kind is StreamKind.ACC else [acc, m.T @ st.gyro[seg]]
        values = np.vstack(rows)
        k = info.n_channels
        noise = child_rng(self.seed, f"{sid}.noise.{p}").standard_normal((6, IMU_PAGE))[:k]
        return values + self.bias[sid][:, None] + self.std[sid][:, None] * noise

    def _emg_page(self, sid: str, p: int) -> F64:
        info = self.infos[sid]
        rate = info.rate
        sos = self._sos.get(rate)
        if sos is None:
            sos = self._sos[rate] = carrier_sos(rate, self.model)
        t = np.arange(p * EMG_PAGE, (p + 1) * EMG_PAGE) / rate
        side = self.side[sid]
        sub = self.movement.subject
        out = np.empty((info.n_channels, EMG_PAGE))
        floor_rms = self.model.baseline_rms if self.model.baseline_rms is not None else sub.emg_noise
        for i, ch in enumerate(info.channels):
            muscle = ch.placement.muscle if ch.placement and ch.placement.muscle else ch.name
            a = self.movement.activation(muscle, side, t)
            carrier = carrier_page(sos, self.seed, f"{sid}.carrier.{muscle}", p)
            floor = child_rng(self.seed, f"{sid}.baseline.{muscle}.{p}").standard_normal(EMG_PAGE)
            out[i] = sub.rms_at_full(muscle) * a * carrier + self.noise * floor_rms * floor
        if self.mains_hz is not None:
            phase, gains = self._mains[sid]
            hum = (
                np.sqrt(2)
                * self.model.mains_rms
                * (
                    np.sin(2 * np.pi * self.mains_hz * t + phase[0])
                    + 0.3 * np.sin(2 * np.pi * 3 * self.mains_hz * t + phase[1])
                )
            )
            out += gains[:, None] * hum[None, :]
        arts = self.artifacts.get(sid)
        if arts:
            times = self._art_times[sid]
            lo, hi = np.searchsorted(times, [t[0] - 2.0, t[-1]])
            for art in arts[lo:hi]:
                shape = art.evaluate(t)
                gains = child_rng(self.seed, f"{sid}.artifact.{art.time!r}").uniform(
                    0.3, 1.0, info.n_channels
                )
                out += gains[:, None] * shape[None, :]
        return out

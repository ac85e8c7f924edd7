"""Postural sway from a trunk or pelvis accelerometer (ISway style).

Processing follows Mancini et al. (2012), "ISway: a sensitive, valid and
reliable measure of postural control", J NeuroEng Rehabil 9:59, made causal
for streaming (dsp.md §3.2):

1. **Tilt correction** (Moe-Nilssen 1998, Clin Biomech 13:320): a slow
   estimate of gravity ``u`` in the sensor frame (first-order low-pass of the
   accelerometer, time constant ``gravity_tau``) defines the horizontal plane.
   AP is the sensor's x axis projected onto that plane, ML = ``u × AP`` (left);
   the horizontal acceleration components are ``a·AP`` and ``a·ML``.
2. **Low-pass**: causal 2nd-order Butterworth at ``cutoff`` (3.5 Hz) applied
   to AP and ML (a direct-form-II-transposed biquad).
3. **Metrics** (Prieto et al. 1996, IEEE TBME 43:956; Mancini 2012 Table 2) on
   the filtered AP/ML acceleration, in :func:`sway_metrics`: RMS per axis and
   total (about the mean), path length ``Σ‖Δa‖``, mean velocity
   ``path / T``, 95 % prediction-ellipse area ``π·χ²₀.₉₅(2)·√det Σ =
   18.82·√det Σ`` (Schubert & Kirchner 2014, Gait Posture 39:518), jerk
   ``½∫(ȧ_AP² + ȧ_ML²) dt`` and mean frequency ``path / (2π·MDIST·T)``.
   ``T = (n - 1) / fs`` is the span the path covers.

Units: accelerations m/s^2, path m/s^2, mean velocity m/s^3, area (m/s^2)^2,
jerk m^2/s^5, frequency Hz.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter

from nmre._numba import kernel
from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, nonfinite_event, out_block
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError, expected

__all__ = ["ELLIPSE95", "SWAY_CHANNELS", "Sway", "SwayMetrics", "sway_metrics"]

F64 = NDArray[np.float64]

#: π·χ²₀.₉₅(2) = 2π·ln 20 ≈ 18.8228: area factor of the 95 % prediction ellipse.
ELLIPSE95 = 2.0 * math.pi * math.log(20.0)
SWAY_CHANNELS = (Channel("acc_ap", "m/s^2"), Channel("acc_ml", "m/s^2"))

# session accumulator layout
S_N, S_MAP, S_MML, S_M2AP, S_M2ML, S_CAPML, S_PATH, S_JERK, S_PAP, S_PML, S_SIZE = range(11)
# filter/gravity state layout
F_G, F_INIT, F_ZAP, F_ZML, F_SIZE = 0, 3, 4, 6, 8


@dataclass(frozen=True, slots=True)
class SwayMetrics:
    """Sway metrics of one stretch of filtered AP/ML acceleration (see module notes for units)."""

    n: int
    duration: float
    rms_ap: float
    rms_ml: float
    rms: float
    mdist: float
    path: float
    mean_velocity: float
    area95: float
    jerk: float
    mean_frequency: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _from_moments(
    n: int, fs: float, var_ap: float, var_ml: float, cov: float, path: float, dsq: float, mdist: float
) -> SwayMetrics:
    T = (n - 1) / fs if n > 1 else 0.0
    det = max(var_ap * var_ml - cov * cov, 0.0)
    rms = math.sqrt(var_ap + var_ml)
    return SwayMetrics(
        n=n,
        duration=T,
        rms_ap=math.sqrt(var_ap),
        rms_ml=math.sqrt(var_ml),
        rms=rms,
        mdist=mdist,
        path=path,
        mean_velocity=path / T if T > 0 else math.nan,
        area95=ELLIPSE95 * math.sqrt(det),
        jerk=0.5 * dsq * fs,
        mean_frequency=path / (2.0 * math.pi * mdist * T) if T > 0 and mdist > 0 else math.nan,
    )


def sway_metrics(ap: ArrayLike, ml: ArrayLike, fs: float) -> SwayMetrics:
    """Sway metrics of AP and ML acceleration sampled at ``fs`` Hz (batch).

    Parameters
    ----------
    ap, ml : array_like, shape (n,)
        Horizontal accelerations, m/s^2 (already tilt-corrected and filtered).
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    SwayMetrics
        Variances and covariance are population (``1/n``) moments about the
        mean; ``mdist`` is the mean distance from the mean point.
    """
    a = np.asarray(ap, dtype=np.float64)
    m = np.asarray(ml, dtype=np.float64)
    if a.ndim != 1 or a.shape != m.shape or a.size < 2:
        raise InputError(expected("ap and ml of equal shape (n,), n >= 2", (np.shape(ap), np.shape(ml))))
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(m))):
        raise InputError(expected("finite ap and ml", "non-finite values"))
    if not (math.isfinite(fs) and fs > 0):
        raise InputError("fs: " + expected("a finite rate > 0 Hz", fs))
    da, dm = a - a.mean(), m - m.mean()
    path = float(np.sum(np.hypot(np.diff(a), np.diff(m))))
    dsq = float(np.sum(np.diff(a) ** 2 + np.diff(m) ** 2))
    return _from_moments(
        a.size,
        fs,
        float(np.mean(da * da)),
        float(np.mean(dm * dm)),
        float(np.mean(da * dm)),
        path,
        dsq,
        float(np.mean(np.hypot(da, dm))),
    )


@kernel
def _sway_kernel(acc: F64, alpha: float, sos: F64, fstate: F64, sess: F64, out: F64) -> int:
    """Tilt-correct, low-pass and accumulate session moments (Welford) for one block."""
    b0, b1, b2, a1, a2 = sos[0], sos[1], sos[2], sos[4], sos[5]
    skipped = 0
    for i in range(acc.shape[1]):
        ax, ay, az = acc[0, i], acc[1, i], acc[2, i]
        if not (math.isfinite(ax) and math.isfinite(ay) and math.isfinite(az)):
            skipped += 1
            out[0, i] = np.nan
            out[1, i] = np.nan
            continue
        if fstate[F_INIT] == 0.0:
            fstate[F_G], fstate[F_G + 1], fstate[F_G + 2] = ax, ay, az
            fstate[F_INIT] = 1.0
        else:
            fstate[F_G] += alpha * (ax - fstate[F_G])
            fstate[F_G + 1] += alpha * (ay - fstate[F_G + 1])
            fstate[F_G + 2] += alpha * (az - fstate[F_G + 2])
        gx, gy, gz = fstate[F_G], fstate[F_G + 1], fstate[F_G + 2]
        gn = math.sqrt(gx * gx + gy * gy + gz * gz)
        if gn == 0.0:
            ux, uy, uz = 0.0, 0.0, 1.0
        else:
            ux, uy, uz = gx / gn, gy / gn, gz / gn
        # AP = sensor x projected on the horizontal plane; ML = u x AP
        px, py, pz = 1.0 - ux * ux, -ux * uy, -ux * uz
        pn = math.sqrt(px * px + py * py + pz * pz)
        if pn == 0.0:
            px, py, pz = 0.0, 0.0, 0.0
        else:
            px, py, pz = px / pn, py / pn, pz / pn
        mx = uy * pz - uz * py
        my = uz * px - ux * pz
        mz = ux * py - uy * px
        h_ap = ax * px + ay * py + az * pz
        h_ml = ax * mx + ay * my + az * mz
        # biquad, direct form II transposed, per axis
        y_ap = b0 * h_ap + fstate[F_ZAP]
        fstate[F_ZAP] = b1 * h_ap - a1 * y_ap + fstate[F_ZAP + 1]
        fstate[F_ZAP + 1] = b2 * h_ap - a2 * y_ap
        y_ml = b0 * h_ml + fstate[F_ZML]
        fstate[F_ZML] = b1 * h_ml - a1 * y_ml + fstate[F_ZML + 1]
        fstate[F_ZML + 1] = b2 * h_ml - a2 * y_ml
        out[0, i] = y_ap
        out[1, i] = y_ml
        # session accumulators
        n = sess[S_N] + 1.0
        if n > 1.0:
            d0 = y_ap - sess[S_PAP]
            d1 = y_ml - sess[S_PML]
            sess[S_PATH] += math.sqrt(d0 * d0 + d1 * d1)
            sess[S_JERK] += d0 * d0 + d1 * d1
        dap = y_ap - sess[S_MAP]
        dml = y_ml - sess[S_MML]
        sess[S_MAP] += dap / n
        sess[S_MML] += dml / n
        sess[S_M2AP] += dap * (y_ap - sess[S_MAP])
        sess[S_M2ML] += dml * (y_ml - sess[S_MML])
        sess[S_CAPML] += dap * (y_ml - sess[S_MML])
        sess[S_N] = n
        sess[S_PAP] = y_ap
        sess[S_PML] = y_ml
    return skipped


@kernel
def _ring_put(y: F64, ring: F64, ptr: NDArray[np.int64]) -> None:
    """Append the finite columns of ``y`` (3, n: ap, ml, time) to ``ring`` (3, W); ``ptr = [next, count]``."""
    w = ring.shape[1]
    for i in range(y.shape[1]):
        if math.isfinite(y[0, i]):
            ring[0, ptr[0]] = y[0, i]
            ring[1, ptr[0]] = y[1, i]
            ring[2, ptr[0]] = y[2, i]
            ptr[0] = (ptr[0] + 1) % w
            if ptr[1] < w:
                ptr[1] += 1


@protected("nan", reports_nonfinite=True)
class Sway(Processor):
    """Streaming ISway-style sway from a trunk/pelvis accelerometer.

    Input: a block whose first three rows are the accelerometer (m/s^2, sensor
    frame with x anterior), e.g. a 6-channel IMU stream. Output: the
    tilt-corrected, low-passed horizontal acceleration, rows ``acc_ap``
    (forward +) and ``acc_ml`` (left +), m/s^2, one sample per input sample
    (NaN where the input was not finite; such samples are skipped and flagged
    with a ``"dsp.nonfinite"`` event).

    Metrics: :attr:`session` gives the metrics accumulated since the start or
    the last :meth:`reset` (Welford moments; ``mdist`` and ``mean_frequency``
    there use the RMS distance, because the exact mean distance needs the
    final mean). Every ``hop`` seconds, once ``window`` seconds of finite
    samples are available, an event ``"sway.window"`` carries the exact
    :func:`sway_metrics` of the last ``window`` seconds in its payload.

    Parameters
    ----------
    rate : float
        Sampling rate, Hz.
    cutoff : float
        Low-pass cut-off, Hz, default 3.5.
    gravity_tau : float
        Time constant of the gravity estimate, s, default 20. Sway at ``f`` Hz
        leaks into the estimate (and out of the output) by about
        ``1 / (2π f τ)``: 2 % at 0.4 Hz for 20 s. Longer is more faithful but
        slower to follow a change of posture.
    window, hop : float
        Window length and hop, s (defaults 10 and ``window``).
    name : str, optional
        Output stream id (default input id + ``".sway"``).
    """

    def __init__(
        self,
        rate: float,
        cutoff: float = 3.5,
        gravity_tau: float = 20.0,
        window: float = 10.0,
        hop: float | None = None,
        name: str | None = None,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError("rate: " + expected("a finite rate > 0 Hz", rate))
        if not (0 < cutoff < rate / 2):
            raise ConfigError("cutoff: " + expected(f"0 < cutoff < {rate / 2} Hz (Nyquist)", cutoff))
        if not (gravity_tau > 0 and window > 0):
            raise ConfigError(expected("gravity_tau > 0 and window > 0", (gravity_tau, window)))
        hop = window if hop is None else hop
        if not (hop > 0):
            raise ConfigError("hop: " + expected("a hop > 0 s", hop))
        self.rate = float(rate)
        self.cutoff = float(cutoff)
        self.gravity_tau = float(gravity_tau)
        self.window = float(window)
        self.hop = float(hop)
        self.name = name
        self._w = max(2, round(window * rate))
        self._hop = max(1, round(hop * rate))
        self._alpha = 1.0 - math.exp(-1.0 / (gravity_tau * rate))
        self.sos = np.ascontiguousarray(butter(2, cutoff, btype="low", fs=rate, output="sos")[0])
        self._f = np.zeros(F_SIZE)
        self._s = np.zeros(S_SIZE)
        self._ring = np.zeros((3, self._w))  # ap, ml, sample time
        self._ptr = np.zeros(2, dtype=np.int64)
        self._since = 0
        self._events: list[Event] = []

    def reset(self) -> None:
        self._f[:] = 0.0
        self._s[:] = 0.0
        self._ptr[:] = 0
        self._since = 0
        self._events = []

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".sway"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self._out_id(info.id), StreamKind.SWAY, SWAY_CHANNELS)

    def pop_events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    @property
    def session(self) -> SwayMetrics:
        """Metrics over every finite sample since the start (``n`` = 0 gives NaNs)."""
        s = self._s
        n = int(s[S_N])
        if n < 2:
            nan = math.nan
            return SwayMetrics(n, 0.0, nan, nan, nan, nan, 0.0, nan, nan, 0.0, nan)
        var_ap, var_ml, cov = s[S_M2AP] / n, s[S_M2ML] / n, s[S_CAPML] / n
        rdist = math.sqrt(var_ap + var_ml)
        return _from_moments(n, self.rate, var_ap, var_ml, cov, float(s[S_PATH]), float(s[S_JERK]), rdist)

    def process(self, block: Block) -> Block:
        v = checked_values(block, None, f"Sway input {block.stream!r}")
        if v.shape[0] < 3:
            raise InputError(
                f"Sway input {block.stream!r}: "
                + expected("values of shape (>=3, n_samples) with acc first", v.shape)
            )
        acc = np.ascontiguousarray(v[:3])
        out = np.empty((2, acc.shape[1]))
        skipped = _sway_kernel(acc, self._alpha, self.sos, self._f, self._s, out)
        if skipped:
            self._events.append(nonfinite_event(block, "Sway", skipped))
        self._windows(block, out)
        return out_block(block, self._out_id(block.stream), out)

    def _windows(self, block: Block, out: F64) -> None:
        finite = np.flatnonzero(np.isfinite(out[0]))
        i = 0
        while i < finite.size:
            take = min(self._hop - self._since, finite.size - i)
            cols = finite[i : i + take]
            # C order always: numba compiles one kernel per array layout, and vstack's varies with the
            # number of columns (a second layout compiled in the middle of a session)
            _ring_put(
                np.ascontiguousarray(np.vstack([out[:, cols], block.times[cols]])), self._ring, self._ptr
            )
            self._since += take
            i += take
            if self._since >= self._hop:
                self._since = 0
                if self._ptr[1] >= self._w:
                    order = (np.arange(self._w) + self._ptr[0]) % self._w
                    m = sway_metrics(self._ring[0, order], self._ring[1, order], self.rate)
                    t = float(block.times[cols[-1]])
                    self._events.append(
                        Event(
                            t,
                            kinds.SWAY_WINDOW,
                            self._out_id(block.stream),
                            # start: the window's first sample (a window holds finite samples only,
                            # so after a NaN stretch it spans more than `window` seconds)
                            {
                                "window": self.window,
                                "start": float(self._ring[2, self._ptr[0]]),
                                **m.to_dict(),
                            },
                        )
                    )

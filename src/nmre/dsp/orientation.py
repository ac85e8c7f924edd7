"""IMU orientation: gyro bias at rest, Madgwick and Fusion-style AHRS as streaming processors.

Input blocks are IMU streams, ``(6, n)`` float64 rows ``acc_x, acc_y, acc_z``
(m/s^2, specific force: +9.81 up at rest) and ``gyr_x, gyr_y, gyr_z`` (rad/s)
in the sensor frame. Orientation outputs are ``(4, n)`` unit quaternions
``(w, x, y, z)`` mapping sensor to world (world x forward, y left, z up; the
heading of a 6-axis filter is arbitrary and drifts).

A non-finite sample (NaN or inf on any channel) does not enter the filter: the
update is skipped, the previous orientation is output, and an event
``"dsp.nonfinite"`` is queued for :meth:`pop_events`. Each filter uses a fixed
time step ``1 / rate`` (like ``ahrs`` and ``imufusion``).

Gaps are bridged: a block that says samples were lost before it
(``missing_before``, a dropped BLE packet) is preceded, inside the filter, by
that many samples interpolated linearly between the last sample before the
gap and the first after it, and their outputs are dropped. Integrating over
the real time of the gap keeps the orientation turning while packets are
lost; without it a segment rotating at 1 rad/s through 10 % loss fell 0.1 rad
behind per second of movement (the heading has no accelerometer to correct it,
and the PNF pattern's distance drifted under loss). Gaps longer than
:data:`BRIDGE_SECONDS` are not bridged (nobody knows how the segment moved).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, StreamInfo, StreamKind
from nmre.dsp import _imu_kernels as K
from nmre.dsp._imu_common import (
    QUAT_CHANNELS,
    checked_values,
    derived_info,
    nonfinite_event,
    out_block,
)
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError, expected

__all__ = ["BiasCorrectedOrientation", "FusionAhrs", "GyroBias", "Madgwick", "imu_block"]

GRAVITY = 9.80665  # m/s^2, standard gravity
#: Longest gap (s) bridged by interpolation: the longest hole a judged rep may have
#: (``nmre.quality.needs.MAX_GAP``); a longer one leaves its rep not judged anyway.
BRIDGE_SECONDS = 0.25


def _bridge(prev: np.ndarray | None, x: np.ndarray, missing: int, rate: float) -> tuple[np.ndarray, int]:
    """``x`` with ``missing`` samples interpolated before it from the last finite sample of ``prev``.

    ``prev`` is the previous block's ``(6, n)`` input (blocks are immutable, so it is kept by reference).
    """
    if not missing or prev is None or missing > BRIDGE_SECONDS * rate or not x.shape[1]:
        return x, 0
    ok = np.flatnonzero(np.isfinite(prev).all(axis=0))
    first = x[:, 0]
    if not ok.size or not np.isfinite(first).all():
        return x, 0
    last = prev[:, ok[-1]]
    w = np.arange(1, missing + 1) / (missing + 1)
    fill = last[:, None] + (first - last)[:, None] * w[None, :]
    return np.ascontiguousarray(np.concatenate([fill, x], axis=1)), missing


def _check_rate(rate: float) -> float:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ConfigError(expected("a finite sampling rate > 0 Hz", rate))
    return float(rate)


class _Orientation(Processor):
    """Shared plumbing of the orientation filters (state, events, output stream)."""

    _suffix = ".quat"

    def __init__(self, name: str | None) -> None:
        self.name = name
        self._events: list[Event] = []
        self._prev: np.ndarray | None = None  # the last non-empty input block's samples, to bridge a gap

    rate: float

    def _process(self, block: Block) -> Block:
        """The filter on one block, a gap before it bridged (subclasses' ``process``, screened)."""
        x = checked_values(block, 6, f"{type(self).__name__} input {block.stream!r}")
        if not block.missing_before:  # the usual block
            if x.shape[1]:
                self._prev = x
            return self._finish(block, *self._update(x))
        xb, m = _bridge(self._prev, x, block.missing_before, self.rate)
        if x.shape[1]:
            self._prev = x
        out, skipped = self._update(xb)
        return self._finish(block, np.ascontiguousarray(out[:, m:]) if m else out, skipped)

    def _update(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + self._suffix

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self._out_id(info.id), StreamKind.ORIENTATION, QUAT_CHANNELS)

    def pop_events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def _finish(self, block: Block, out: np.ndarray, skipped: int) -> Block:
        if skipped:
            self._events.append(nonfinite_event(block, type(self).__name__, skipped))
        return out_block(block, self._out_id(block.stream), out)


@protected("nan", reports_nonfinite=True)
class Madgwick(_Orientation):
    """Madgwick gradient-descent orientation filter, IMU version (no magnetometer).

    Implements Madgwick, Harrison & Vaidyanathan (2011), "Estimation of IMU and
    MARG orientation using a gradient descent algorithm", IEEE ICORR, eqs.
    12-13, 25-26 and 33-34, exactly as ``ahrs.filters.Madgwick.updateIMU``
    (ahrs 0.4.0) computes them, so the two agree to rounding.

    The first finite sample sets the initial orientation and is not
    integrated: from its accelerometer (roll and pitch, zero yaw, as
    ``ahrs.common.orientation.acc2q``) or from ``q0`` if given. This is what
    ``ahrs.filters.Madgwick(gyr=..., acc=...)`` does with ``Q[0]``. Like ahrs,
    a sample whose gyro reads exactly zero leaves the orientation unchanged.

    Parameters
    ----------
    rate : float
        Sampling rate in Hz; the time step is ``1 / rate`` s.
    beta : float
        Gain β (rad/s), default 0.1 (ahrs defaults to 0.033 for IMU).
    q0 : array_like, shape (4,), optional
        Initial orientation ``(w, x, y, z)``, sensor to world.
    name : str, optional
        Output stream id (default: input id + ``".quat"``).
    """

    def __init__(
        self, rate: float, beta: float = 0.1, q0: ArrayLike | None = None, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.rate = _check_rate(rate)
        if not (math.isfinite(beta) and beta >= 0):
            raise ConfigError("beta: " + expected("a finite gain >= 0", beta))
        self.beta = float(beta)
        if q0 is not None:
            q = np.asarray(q0, dtype=np.float64)
            if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) == 0:
                raise ConfigError("q0: " + expected("a finite non-zero quaternion (w, x, y, z)", q0))
            self.q0: np.ndarray | None = q / np.linalg.norm(q)
        else:
            self.q0 = None
        self.state = np.zeros(K.MW_SIZE)
        self.reset()

    def reset(self) -> None:
        self.state[:] = 0.0
        if self.q0 is not None:
            self.state[:4] = self.q0
            self.state[K.MW_HAS_Q0] = 1.0
        self._events = []
        self._prev = None

    def process(self, block: Block) -> Block:
        return self._process(block)

    @property
    def quaternion(self) -> np.ndarray:
        """Current orientation ``(w, x, y, z)`` (NaN before the first finite sample)."""
        if self.state[K.MW_STARTED] == 0.0:
            return np.full(4, np.nan)
        return self.state[:4].copy()

    def _update(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Run the kernel on checked (6, n) samples: (quaternions (4, n), skipped samples)."""
        out = np.empty((4, x.shape[1]))
        return out, K.madgwick_imu(x, 1.0 / self.rate, self.beta, self.state, out)


@protected("nan", reports_nonfinite=True)
class FusionAhrs(_Orientation):
    """x-io Fusion AHRS without magnetometer: complementary filter with acceleration rejection.

    The revised AHRS of Madgwick's PhD thesis (2014, ch. 7) as implemented in
    the x-io Technologies Fusion C library (``imufusion`` 1.3.3 on PyPI),
    NWU convention, which is nmre's world frame (x forward, y left, z up).
    Settings mean the same as ``imufusion.AhrsSettings``; the defaults are the
    Fusion README's recommendation.

    Initialisation: the filter starts at the identity quaternion with a gain
    that ramps linearly from 10 down to ``gain`` over 3 s, during which the
    accelerometer is never rejected and the heading is held at zero. After
    that, accelerometer samples whose direction disagrees with the estimated
    gravity by more than ``acceleration_rejection`` degrees are ignored, unless
    rejection has persisted for ``rejection_timeout`` seconds (then the filter
    recovers by trusting the accelerometer again).

    Fusion computes in float32; nmre computes in float64 except for the ramp
    counter, so outputs agree with ``imufusion`` to float32 precision.

    Parameters
    ----------
    rate : float
        Sampling rate in Hz (time step ``1 / rate`` s).
    gain : float
        Accelerometer feedback gain, default 0.5.
    acceleration_rejection : float
        Rejection threshold in degrees, default 10 (0 disables rejection).
    rejection_timeout : float
        Recovery trigger period in seconds, default 5 (0 disables rejection).
    gyroscope_range : float
        Gyro range in deg/s; readings above 98 % of it restart the filter
        (keeping the orientation). Default 2000; 0 disables.
    name : str, optional
        Output stream id (default: input id + ``".quat"``).
    """

    def __init__(
        self,
        rate: float,
        gain: float = 0.5,
        acceleration_rejection: float = 10.0,
        rejection_timeout: float = 5.0,
        gyroscope_range: float = 2000.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.rate = _check_rate(rate)
        for label, v in (
            ("gain", gain),
            ("acceleration_rejection", acceleration_rejection),
            ("rejection_timeout", rejection_timeout),
            ("gyroscope_range", gyroscope_range),
        ):
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{label}: " + expected("a finite value >= 0", v))
        self.gain = float(gain)
        self.acceleration_rejection = float(acceleration_rejection)
        self.rejection_timeout = float(rejection_timeout)
        self.gyroscope_range = float(gyroscope_range)
        f32 = np.float32
        period32 = f32(1.0) / f32(self.rate)
        self._gain_rate = float(((f32(10.0) - f32(gain)) / f32(3.0)) * period32)
        if acceleration_rejection == 0.0 or gain == 0.0 or rejection_timeout == 0.0:
            self._rejection = math.inf
        else:
            self._rejection = float(f32(0.5) * np.sin(f32(math.radians(acceleration_rejection)))) ** 2
        self._timeout = int(f32(self.rate) * f32(rejection_timeout))
        self._overrange = 0.98 * gyroscope_range if gyroscope_range > 0 else math.inf
        self.state = np.zeros(K.FU_SIZE)
        self.reset()

    def reset(self) -> None:
        self.state[:] = 0.0
        self.state[K.FU_Q] = 1.0
        self.state[K.FU_STARTUP] = 1.0
        self.state[K.FU_STARTUP_GAIN] = 10.0
        self.state[K.FU_THRESHOLD] = float(self._timeout)
        self._events = []
        self._prev = None

    @property
    def quaternion(self) -> np.ndarray:
        """Current orientation ``(w, x, y, z)``."""
        return self.state[:4].copy()

    def process(self, block: Block) -> Block:
        return self._process(block)

    @property
    def starting_up(self) -> bool:
        """``True`` while the initial gain ramp runs (first 3 s)."""
        return bool(self.state[K.FU_STARTUP])

    @property
    def accelerometer_ignored(self) -> bool:
        """``True`` if the last sample's accelerometer was rejected."""
        return bool(self.state[K.FU_IGNORED])

    def _update(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Run the kernel on checked (6, n) samples: (quaternions (4, n), skipped samples)."""
        out = np.empty((4, x.shape[1]))
        skipped = K.fusion_imu(
            x,
            1.0 / self.rate,
            self.gain,
            self._gain_rate,
            self._rejection,
            self._timeout,
            self._overrange,
            self.state,
            out,
        )
        return out, skipped


@protected("nan")
class GyroBias(Processor):
    """Estimate the gyro bias during still periods and subtract it (IMU in, IMU out).

    A sample is *still* when the gyro norm is below ``gyro_threshold``, the
    accelerometer norm is within ``acc_threshold`` of ``gravity``, and gravity's
    direction (the accelerometer low-passed over ``tilt_tau``, from the samples
    whose norm is gravity's) is within ``tilt_threshold`` of its mean over the run
    of still samples so far; a sample that is still but for its direction starts
    a new run. Once a run has lasted ``still_time`` seconds, the bias is the mean
    gyro over that run (updated with every further still sample), pooled with the
    estimate of the earlier runs, weighted by their samples up to ``memory``
    seconds (default none: the run's own mean); it is kept when motion resumes. Thresholds follow Fusion's bias
    estimator (3 °/s for 3 s) and VQF's rest detection (0.5 m/s^2) [Laidig & Seel
    2023].

    Why the direction: a run's mean gyro is the bias plus the rotation over the run
    divided by its length, so a slow movement under the gyro threshold (the end of a
    lean, a slow return; at the drills' 6 °/s most of a 1.5 s lean of 6°) is taken
    for bias. The horizontal part of any such rotation turns gravity in the sensor,
    so a run whose gravity stays within ``tilt_threshold`` of its mean cannot carry
    more than about that angle over the run (0.3° over a 1 s run: 0.3 °/s at worst;
    the quiet sway of standing, 0.05-0.15 °/s). The low-pass (0.1 s) keeps the
    accelerometer's noise (0.08° per sample in the simulator, 0.3° at 0.05 m/s^2)
    under the threshold. A turn about the vertical alone is not seen by gravity:
    the gyro threshold is its only guard. Pooling the runs averages their sway
    (opt-in: it changes every drill's filter more than the check does, and moved
    one squat rep's valgus by 0.46 deg; docs/calibration.md).

    Parameters
    ----------
    rate : float
        Sampling rate in Hz.
    gyro_threshold : float
        rad/s, default ``radians(3)``.
    acc_threshold : float
        m/s^2, default 0.5.
    still_time : float
        Minimum still duration in seconds, default 2.
    gravity : float
        m/s^2, default 9.80665.
    tilt_threshold : float
        rad, default ``radians(0.3)``; ``inf`` to judge stillness by the gyro and the
        accelerometer's norm alone.
    tilt_tau : float
        s, time constant of the accelerometer's low-pass for the direction, default 0.1.
    memory : float
        s of earlier still runs pooled into the estimate, default 0: the current
        run's mean alone.
    """

    def __init__(
        self,
        rate: float,
        gyro_threshold: float = math.radians(3.0),
        acc_threshold: float = 0.5,
        still_time: float = 2.0,
        gravity: float = GRAVITY,
        tilt_threshold: float = math.radians(0.3),
        tilt_tau: float = 0.1,
        memory: float = 0.0,
    ) -> None:
        self.rate = _check_rate(rate)
        if not (
            gyro_threshold > 0
            and acc_threshold > 0
            and still_time > 0
            and gravity > 0
            and tilt_threshold > 0
            and tilt_tau >= 0
            and memory >= 0
            and math.isfinite(memory)
            and math.isfinite(tilt_tau)
        ):
            raise ConfigError(
                expected(
                    "positive gyro_threshold, acc_threshold, still_time, gravity and tilt_threshold; "
                    "finite tilt_tau and memory >= 0",
                    (gyro_threshold, acc_threshold, still_time, gravity, tilt_threshold, tilt_tau, memory),
                )
            )
        self.gyro_threshold = float(gyro_threshold)
        self.acc_threshold = float(acc_threshold)
        self.still_time = float(still_time)
        self.gravity = float(gravity)
        self.tilt_threshold = float(tilt_threshold)
        self.tilt_tau = float(tilt_tau)
        self.memory = float(memory)
        self._min_run = max(1, round(still_time * self.rate))
        params = np.zeros(K.GBP_SIZE)
        params[K.GBP_GYRO] = self.gyro_threshold
        params[K.GBP_ACC] = self.acc_threshold
        params[K.GBP_GRAVITY] = self.gravity
        params[K.GBP_MIN_RUN] = self._min_run
        # the chord between unit vectors that far apart (inf: any direction, stillness by the gyro alone)
        params[K.GBP_CHORD] = (
            2.0 * math.sin(self.tilt_threshold / 2.0) if self.tilt_threshold < math.pi else math.inf
        )
        params[K.GBP_ACC_K] = min(1.0, 1.0 / (self.tilt_tau * self.rate)) if self.tilt_tau > 0 else 1.0
        params[K.GBP_MEMORY] = round(self.memory * self.rate)
        self._params = params
        self.state = np.zeros(K.GB_SIZE)

    def reset(self) -> None:
        self.state[:] = 0.0

    @property
    def bias(self) -> np.ndarray:
        """Current gyro bias estimate (3,), rad/s (zeros until a still period is found)."""
        return self.state[K.GB_BIAS : K.GB_BIAS + 3].copy()

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return info

    def process(self, block: Block) -> Block:
        x = checked_values(block, 6, f"GyroBias input {block.stream!r}")
        out = np.empty_like(x)
        K.gyro_bias(x, self._params, self.state, out)
        return out_block(block, block.stream, out)


def imu_block(stream: str, times: ArrayLike, acc: ArrayLike, gyr: ArrayLike, seq: int = 0) -> Block:
    """Build an IMU block from ``acc`` (3, n) m/s^2 and ``gyr`` (3, n) rad/s (a convenience for tests and demos)."""
    a = np.asarray(acc, dtype=np.float64)
    g = np.asarray(gyr, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != 3 or g.shape != a.shape:
        raise InputError(expected("acc and gyr of equal shape (3, n)", (np.shape(acc), np.shape(gyr))))
    return Block(stream, np.asarray(times, dtype=np.float64), np.vstack([a, g]), seq)


@protected("nan", reports_nonfinite=True)
class BiasCorrectedOrientation(Processor):
    """:class:`GyroBias` then :class:`Madgwick` (or :class:`FusionAhrs`) in one call.

    Exactly ``Pipeline([bias, filter])`` (same kernels, same state), fused so a
    live update makes one Python call and one output block per IMU instead of
    two: at 4 IMUs and 125 updates per second the pipeline's extra layer was a
    measurable share of the engine's per-update cost (docs/performance.md).

    Parameters
    ----------
    bias : GyroBias
        Still-period gyro bias estimator.
    orientation : Madgwick or FusionAhrs
        Orientation filter fed with the bias-corrected IMU samples.
    """

    def __init__(self, bias: GyroBias, orientation: Madgwick | FusionAhrs) -> None:
        if not isinstance(bias, GyroBias) or not isinstance(orientation, (Madgwick, FusionAhrs)):
            raise ConfigError(
                expected(
                    "a GyroBias and a Madgwick or FusionAhrs",
                    (type(bias).__name__, type(orientation).__name__),
                )
            )
        self.bias = bias
        self.orientation = orientation
        self._prev: np.ndarray | None = None  # the last non-empty raw input block, to bridge a gap
        self._scratch = np.empty((6, 8))  # the bias-corrected samples of the one-call path

    def reset(self) -> None:
        self.bias.reset()
        self.orientation.reset()
        self._prev = None

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return self.orientation.output_info(info)

    def pop_events(self) -> list[Event]:
        o = self.orientation
        # the filter's own queue and its screen's (the filter's pop_events), looked at without two calls
        if not o._events:
            scr = o.__dict__.get("_input_screen")
            if scr is None or not scr.events:
                return []
        return o.pop_events()

    def process(self, block: Block) -> Block:
        b = self.bias
        x = checked_values(block, 6, f"{type(self.orientation).__name__} input {block.stream!r}")
        m = 0
        if block.missing_before:  # lost packets: bridged as the filter alone bridges them
            prev = self._prev
            if x.shape[1]:
                self._prev = x
            x, m = _bridge(prev, x, block.missing_before, self.orientation.rate)
        elif x.shape[1]:
            self._prev = x
        corrected = np.empty_like(x)
        K.gyro_bias(x, b._params, b.state, corrected)
        out, skipped = self.orientation._update(corrected)
        return self.orientation._finish(block, np.ascontiguousarray(out[:, m:]) if m else out, skipped)

    def _process_clean(self, block: Block, x: np.ndarray, limit: np.ndarray) -> Block | None:
        """:meth:`process` of the usual block (Madgwick, no gap before it, every sample good) in one kernel call."""
        o = self.orientation
        n = x.shape[1]
        if block.missing_before or not n or x.shape[0] != 6 or type(o) is not Madgwick:
            return None
        scratch = self._scratch
        if scratch.shape[1] < n:
            scratch = self._scratch = np.empty((6, max(n, 2 * scratch.shape[1])))
        out = np.empty((4, n))
        b = self.bias
        if (
            K.bias_madgwick(
                x,
                limit,
                b._params,
                b.state,
                1.0 / o.rate,
                o.beta,
                o.state,
                scratch,
                out,
            )
            < 0
        ):
            return None
        self._prev = x
        return Block.derived(o._out_id(block.stream), block.times, out, block.seq, 0, block.arrival)

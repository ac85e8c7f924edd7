"""Inclination from an accelerometer alone: gravity's direction from a low-pass of the specific force.

Many cheap and research sensors have no gyroscope. At rest an accelerometer reads
the specific force ``f = -g`` (+9.81 m/s² "up"), so its direction is the segment's
vertical; during movement ``f = a - g`` and the linear acceleration ``a`` tilts the
reading. :class:`AccInclination` low-passes the three axes (causal 2nd-order
Butterworth, default 1.5 Hz) and takes the direction of the result as "up", rotated
into the segment frame by the static calibration (:class:`nmre.calibration.
NeutralPoseCalibration` works on accelerometer-only streams). Angles as
:class:`nmre.dsp.joints.TrunkInclination`: with ``u`` the up direction in the segment
frame, ``inclination = acos(u_z)``, ``sagittal = atan2(-u_x, u_z)`` (forward lean
positive), ``frontal = atan2(-u_y, u_z)`` (lean to the segment's left positive).

Limits (say them to the therapist; tested in ``tests/dsp/test_inclination.py``):

* **No heading.** Gravity says nothing about rotation about the vertical: no
  trunk rotation, no heading, no joint angle between two segments that turn
  differently about the vertical.
* **Error during acceleration.** A horizontal acceleration ``a_h`` tilts the
  estimate by ``atan(a_h / g)`` before the low-pass: 1 m/s² is 5.8°, 3 m/s² is 17°.
  The low-pass removes what is faster than its corner, and delays the rest: the
  group delay of a 2nd-order 1.5 Hz Butterworth is about 150 ms at low frequencies,
  and a lean faster than the corner is under-read (its peak is attenuated). In a
  sit-to-stand from a sternum sensor the peak trunk flexion read this way is a few
  degrees off the true one (bias and spread in ``docs/calibration.md``); quiet
  standing and slow leans are read within the accelerometer's own accuracy.
* **Sensor tilt on the segment** is removed only by a static calibration; the
  sensor's rotation about the segment's long axis mixes sagittal and frontal lean
  (calibrate it functionally where a gyroscope exists, or strap it square).

References
----------
Moe-Nilssen R. (1998) A new method for evaluating motor control in gait under
real-life environmental conditions. Part 1: the instrument, Clin Biomech 13:320–327
(tilt from the mean accelerometer direction).
Pedley M. (2013) Tilt sensing using a three-axis accelerometer, Freescale AN3461.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from nmre._numba import kernel
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, nonfinite_event, out_block
from nmre.dsp._protect import protected
from nmre.dsp.filters import design_sos, group_delay
from nmre.dsp.joints import TRUNK_CHANNELS, _check_cal
from nmre.dsp.quaternion import quat_to_matrix
from nmre.errors import ConfigError, InputError, expected

__all__ = ["AccInclination", "acc_inclination"]

F64 = NDArray[np.float64]


@kernel
def lp_axes(sos: F64, zi: F64, unit_zi: F64, started: NDArray[np.int64], a: F64, out: F64) -> bool:
    """Low-pass 3 axes one sample (``a`` (3,)) through ``sos`` into ``out`` (3,); False if ``a`` is not finite.

    The first finite sample sets the steady-state initial state (no start-up transient).
    """
    if not (math.isfinite(a[0]) and math.isfinite(a[1]) and math.isfinite(a[2])):
        return False
    ns = sos.shape[0]
    if started[0] == 0:
        for s in range(ns):
            for c in range(3):
                zi[s, c, 0] = unit_zi[s, 0] * a[c]
                zi[s, c, 1] = unit_zi[s, 1] * a[c]
        started[0] = 1
    for c in range(3):
        v = a[c]
        for s in range(ns):
            v_new = sos[s, 0] * v + zi[s, c, 0]
            zi[s, c, 0] = sos[s, 1] * v - sos[s, 4] * v_new + zi[s, c, 1]
            zi[s, c, 1] = sos[s, 2] * v - sos[s, 5] * v_new
            v = v_new
        out[c] = v
    return True


@kernel
def up_angles(g: F64, rot: F64, out: F64, i: int) -> None:
    """Inclination, sagittal, frontal (deg) into ``out[:, i]`` from ``g`` (3,) in sensor axes.

    ``rot`` (3, 3) has the segment axes as columns in sensor coordinates (the static
    calibration), so the up direction in the segment frame is ``rot.T @ g / |g|``.
    """
    ux = rot[0, 0] * g[0] + rot[1, 0] * g[1] + rot[2, 0] * g[2]
    uy = rot[0, 1] * g[0] + rot[1, 1] * g[1] + rot[2, 1] * g[2]
    uz = rot[0, 2] * g[0] + rot[1, 2] * g[1] + rot[2, 2] * g[2]
    n = math.sqrt(ux * ux + uy * uy + uz * uz)
    k = 180.0 / math.pi
    if n == 0.0:
        out[0, i] = math.nan
        out[1, i] = math.nan
        out[2, i] = math.nan
        return
    ux, uy, uz = ux / n, uy / n, uz / n
    out[0, i] = math.acos(min(1.0, max(-1.0, uz))) * k
    out[1, i] = math.atan2(-ux, uz) * k
    out[2, i] = math.atan2(-uy, uz) * k


@kernel
def _incl_kernel(
    x: F64, sos: F64, zi: F64, unit_zi: F64, started: NDArray[np.int64], rot: F64, a: F64, g: F64, out: F64
) -> int:
    skipped = 0
    for i in range(x.shape[1]):
        a[0] = x[0, i]
        a[1] = x[1, i]
        a[2] = x[2, i]
        if lp_axes(sos, zi, unit_zi, started, a, g):
            up_angles(g, rot, out, i)
        else:
            skipped += 1
            out[0, i] = math.nan
            out[1, i] = math.nan
            out[2, i] = math.nan
    return skipped


def _rotation(calibration: ArrayLike | None) -> F64:
    q = _check_cal(calibration, "calibration")
    return np.ascontiguousarray(quat_to_matrix(q)[0])


@protected("nan", reports_nonfinite=True)
class AccInclination(Processor):
    """Segment inclination from an accelerometer (or the accelerometer of an IMU), no gyroscope.

    See the module docstring for the method and its limits.

    Parameters
    ----------
    fs : float
        Sampling rate, Hz.
    cutoff : float
        Low-pass corner, Hz (1.5; 2nd-order Butterworth, ~150 ms delay).
    calibration : array_like, shape (4,), optional
        ``q_cal`` of the neutral pose (segment frame in sensor coordinates).
    name : str, optional
        Output stream id (default: input id + ``".inclination"``).

    Output: an ``angle`` stream with channels ``inclination``, ``sagittal``,
    ``frontal`` (deg), one sample per input sample; NaN for a non-finite input
    sample, which is skipped (the filter holds) and reported as ``dsp.nonfinite``.
    """

    def __init__(
        self, fs: float, cutoff: float = 1.5, calibration: ArrayLike | None = None, name: str | None = None
    ) -> None:
        if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
            raise ConfigError("AccInclination: fs " + expected("a rate > 0 Hz", fs))
        self.fs = float(fs)
        self.sos = design_sos("lowpass", cutoff, self.fs, 2)
        self.cutoff = float(cutoff)
        self._unit_zi = np.ascontiguousarray(signal.sosfilt_zi(self.sos))
        self._zi = np.zeros((self.sos.shape[0], 3, 2))
        self._started = np.zeros(1, dtype=np.int64)
        self._rot = _rotation(calibration)
        self._a = np.zeros(3)
        self._g = np.zeros(3)
        self.name = name
        self._events: list[Event] = []

    @property
    def delay(self) -> float:
        """Group delay of the low-pass at DC, seconds."""
        return float(group_delay(self.sos, self.fs, [0.0])[0])

    def set_calibration(self, calibration: ArrayLike | None) -> None:
        """Use the static calibration ``q_cal`` (or identity with None) from the next sample."""
        self._rot = _rotation(calibration)

    def reset(self) -> None:
        self._zi[...] = 0.0
        self._started[0] = 0
        self._events = []

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".inclination"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        if info.kind not in (StreamKind.ACC, StreamKind.IMU):
            raise ConfigError(
                f"AccInclination: expected an accelerometer or IMU stream, got {info.id!r} ({info.kind.value})"
            )
        return derived_info(info, self._out_id(info.id), StreamKind.ANGLE, TRUNK_CHANNELS)

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def process(self, block: Block) -> Block:
        v = checked_values(block, None, f"AccInclination input {block.stream!r}")
        if v.shape[0] not in (3, 6):
            raise InputError(
                f"AccInclination input {block.stream!r}: "
                + expected("3 accelerometer rows (or 6 IMU rows)", v.shape[0])
            )
        out = np.empty((3, v.shape[1]))
        skipped = _incl_kernel(
            v, self.sos, self._zi, self._unit_zi, self._started, self._rot, self._a, self._g, out
        )
        if skipped:
            self._events.append(nonfinite_event(block, self._out_id(block.stream), skipped))
        return out_block(block, self._out_id(block.stream), out)


def acc_inclination(
    acc: ArrayLike, fs: float, cutoff: float = 1.5, calibration: ArrayLike | None = None
) -> F64:
    """Bulk form of :class:`AccInclination`: ``(3, n)`` inclination, sagittal, frontal in degrees.

    Parameters
    ----------
    acc : array_like, shape (3, n)
        Accelerometer, m/s².
    """
    a = np.ascontiguousarray(np.asarray(acc, dtype=np.float64))
    if a.ndim != 2 or a.shape[0] != 3:
        raise InputError("acc_inclination: " + expected("an array of shape (3, n)", a.shape))
    proc = AccInclination(fs, cutoff, calibration)
    return proc.process(Block("acc", np.arange(a.shape[1]) / fs, a)).values

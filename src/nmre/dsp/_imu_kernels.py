"""numba kernels for IMU orientation (private; see :mod:`nmre.dsp.orientation`).

Every kernel walks a ``(6, n)`` block ``acc_x, acc_y, acc_z (m/s^2), gyr_x,
gyr_y, gyr_z (rad/s)``, carries its state in a float64 array passed in and
updated in place, writes into a preallocated output and returns the number of
samples it skipped because they were not finite.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nmre._numba import kernel
from nmre.dsp.quaternion import _qmul

F64 = NDArray[np.float64]

# Madgwick state layout
MW_Q = 0  # 0..3 quaternion w, x, y, z
MW_STARTED = 4  # 1 once the first finite sample has set the orientation
MW_HAS_Q0 = 5  # 1 if the initial orientation is given rather than taken from acc
MW_SIZE = 6

# Fusion state layout
FU_Q = 0  # 0..3 quaternion
FU_STARTUP = 4
FU_STARTUP_GAIN = 5  # float32-valued
FU_OVERRANGE = 6
FU_TRIGGER = 7  # int-valued acceleration recovery trigger
FU_THRESHOLD = 8  # int-valued acceleration recovery threshold
FU_IGNORED = 9
FU_RES = 10  # 10..12 half accelerometer residual
FU_SIZE = 13

# Gyro-bias state layout
GB_BIAS = 0  # 0..2 the estimate in use
GB_RUN = 3  # samples in the current still run
GB_SUM = 4  # 4..6 gyro sums over the current still run
GB_ACC = 7  # 7..9 the low-passed accelerometer (gravity's direction, from samples whose norm is gravity's)
GB_HAVE_ACC = 10  # 1 once GB_ACC holds a sample
GB_DIR = 11  # 11..13 sums of the low-passed unit gravity direction over the current still run
GB_PREV = 14  # 14..16 the estimate from the earlier still runs
GB_WEIGHT = 17  # samples behind GB_PREV (at most the memory)
GB_SIZE = 18

# Gyro-bias parameters (``GyroBias._params``)
GBP_GYRO = 0  # rad/s: the gyro norm of a still sample is below it
GBP_ACC = 1  # m/s^2: the accelerometer norm of a still sample is within it of gravity
GBP_GRAVITY = 2  # m/s^2
GBP_MIN_RUN = 3  # samples a still run lasts before it gives the bias
GBP_CHORD = 4  # the chord of the tilt threshold: |u - mean u| of a still sample is below it
GBP_ACC_K = 5  # the accelerometer low-pass's step (1 / (tau * rate))
GBP_MEMORY = 6  # samples of earlier runs kept in the estimate (0: the current run alone)
GBP_SIZE = 7


@kernel
def _finite6(x: F64, i: int) -> bool:
    for c in range(6):  # noqa: SIM110 - numba has no all() over a generator
        if not math.isfinite(x[c, i]):
            return False
    return True


@kernel
def _acc2q(ax: float, ay: float, az: float) -> tuple[float, float, float, float]:
    """Roll/pitch quaternion from gravity, zero yaw, as ``ahrs.common.orientation.acc2q``."""
    a_norm = math.sqrt(ax * ax + ay * ay + az * az)
    if a_norm == 0.0:
        return 1.0, 0.0, 0.0, 0.0
    ax /= a_norm
    ay /= a_norm
    az /= a_norm
    ex = math.atan2(ay, az)
    ey = math.atan2(-ax, math.sqrt(ay * ay + az * az))
    cx2 = math.cos(ex / 2.0)
    sx2 = math.sin(ex / 2.0)
    cy2 = math.cos(ey / 2.0)
    sy2 = math.sin(ey / 2.0)
    w, x, y, z = cx2 * cy2, sx2 * cy2, cx2 * sy2, -sx2 * sy2
    n = math.sqrt(w * w + x * x + y * y + z * z)
    return w / n, x / n, y / n, z / n


@kernel
def madgwick_imu(x: F64, dt: float, beta: float, state: F64, out: F64) -> int:
    """Madgwick IMU update (Madgwick, Harrison, Vaidyanathan 2011, eqs. 12-13, 25-26, 33-34).

    Mirrors ``ahrs.filters.Madgwick.updateIMU`` step for step (ahrs 0.4.0),
    including its skip of the whole update when the gyro reads exactly zero.
    """
    n = x.shape[1]
    skipped = 0
    for i in range(n):
        if not _finite6(x, i):
            skipped += 1
            for c in range(4):
                out[c, i] = state[MW_Q + c] if state[MW_STARTED] != 0.0 else np.nan
            continue
        ax, ay, az = x[0, i], x[1, i], x[2, i]
        gx, gy, gz = x[3, i], x[4, i], x[5, i]
        if state[MW_STARTED] == 0.0:
            state[MW_STARTED] = 1.0
            if state[MW_HAS_Q0] == 0.0:
                qw, qx, qy, qz = _acc2q(ax, ay, az)
                state[0], state[1], state[2], state[3] = qw, qx, qy, qz
            for c in range(4):
                out[c, i] = state[MW_Q + c]
            continue
        qw, qx, qy, qz = state[0], state[1], state[2], state[3]
        qn = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw / qn, qx / qn, qy / qn, qz / qn
        if math.sqrt(gx * gx + gy * gy + gz * gz) != 0.0:
            dw, dx, dy, dz = _qmul(qw, qx, qy, qz, 0.0, gx, gy, gz)
            dw, dx, dy, dz = 0.5 * dw, 0.5 * dx, 0.5 * dy, 0.5 * dz
            a_norm = math.sqrt(ax * ax + ay * ay + az * az)
            if a_norm > 0.0:
                a0, a1, a2 = ax / a_norm, ay / a_norm, az / a_norm
                f0 = 2.0 * (qx * qz - qw * qy) - a0
                f1 = 2.0 * (qw * qx + qy * qz) - a1
                f2 = 2.0 * (0.5 - qx * qx - qy * qy) - a2
                if math.sqrt(f0 * f0 + f1 * f1 + f2 * f2) > 0.0:
                    j0 = -2.0 * qy * f0 + 2.0 * qx * f1
                    j1 = 2.0 * qz * f0 + 2.0 * qw * f1 - 4.0 * qx * f2
                    j2 = -2.0 * qw * f0 + 2.0 * qz * f1 - 4.0 * qy * f2
                    j3 = 2.0 * qx * f0 + 2.0 * qy * f1
                    jn = math.sqrt(j0 * j0 + j1 * j1 + j2 * j2 + j3 * j3)
                    if jn > 0.0:
                        dw -= beta * j0 / jn
                        dx -= beta * j1 / jn
                        dy -= beta * j2 / jn
                        dz -= beta * j3 / jn
            qw, qx, qy, qz = qw + dw * dt, qx + dx * dt, qy + dy * dt, qz + dz * dt
            qn = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw, qx, qy, qz = qw / qn, qx / qn, qy / qn, qz / qn
        state[0], state[1], state[2], state[3] = qw, qx, qy, qz
        for c in range(4):
            out[c, i] = state[MW_Q + c]
    return skipped


@kernel
def _f32(v: float) -> float:
    return float(np.float32(v))


@kernel
def fusion_imu(
    x: F64,
    dt: float,
    gain: float,
    gain_rate: float,
    rejection: float,
    timeout: int,
    overrange: float,
    state: F64,
    out: F64,
) -> int:
    """x-io Fusion AHRS update without magnetometer (Madgwick 2014 PhD thesis ch. 7; x-io Fusion).

    Follows ``FusionAhrsUpdateNoMagnetometer`` of the Fusion C library as
    bundled in ``imufusion`` 1.3.3, NWU convention: startup gain ramp from 10
    to ``gain`` over 3 s (the ramp counter is kept in float32 like the C code,
    so the last startup sample is the same), heading zeroed while starting up,
    acceleration rejection with a recovery trigger (+1 per rejected sample,
    -9 per accepted one, clamped to ``[0, timeout]``), soft restart when the
    gyro exceeds ``overrange`` deg/s (``inf`` disables). All other arithmetic is
    float64.
    """
    n = x.shape[1]
    skipped = 0
    half_deg2rad = math.pi / 180.0 * 0.5
    for i in range(n):
        if not _finite6(x, i):
            skipped += 1
            for c in range(4):
                out[c, i] = state[FU_Q + c]
            continue
        ax, ay, az = x[0, i], x[1, i], x[2, i]
        gx = x[3, i] * (180.0 / math.pi)
        gy = x[4, i] * (180.0 / math.pi)
        gz = x[5, i] * (180.0 / math.pi)
        # overrange: soft restart that keeps the quaternion
        if abs(gx) > overrange or abs(gy) > overrange or abs(gz) > overrange:
            state[FU_STARTUP] = 1.0
            state[FU_STARTUP_GAIN] = 10.0
            state[FU_OVERRANGE] = 1.0
            state[FU_RES] = 0.0
            state[FU_RES + 1] = 0.0
            state[FU_RES + 2] = 0.0
            state[FU_TRIGGER] = 0.0
            state[FU_THRESHOLD] = float(timeout)
            state[FU_IGNORED] = 0.0
        # startup gain ramp
        g = gain
        if state[FU_STARTUP] != 0.0:
            sg = _f32(state[FU_STARTUP_GAIN] - gain_rate)
            state[FU_STARTUP_GAIN] = sg
            if sg > gain:
                g = sg
            else:
                state[FU_STARTUP] = 0.0
                state[FU_OVERRANGE] = 0.0
        qw, qx, qy, qz = state[0], state[1], state[2], state[3]
        hgx = qx * qz - qw * qy
        hgy = qy * qz + qw * qx
        hgz = qw * qw - 0.5 + qz * qz
        fbx = 0.0
        fby = 0.0
        fbz = 0.0
        state[FU_IGNORED] = 1.0
        if not (ax == 0.0 and ay == 0.0 and az == 0.0):
            an = math.sqrt(ax * ax + ay * ay + az * az)
            sx, sy, sz = ax / an, ay / an, az / an
            cx = sy * hgz - sz * hgy
            cy = sz * hgx - sx * hgz
            cz = sx * hgy - sy * hgx
            if sx * hgx + sy * hgy + sz * hgz <= 0.0:
                cn = math.sqrt(cx * cx + cy * cy + cz * cz)
                if cn == 0.0:
                    cx, cy, cz = 0.0, 0.0, 0.0
                else:
                    cx, cy, cz = cx / cn, cy / cn, cz / cn
            state[FU_RES], state[FU_RES + 1], state[FU_RES + 2] = cx, cy, cz
            trigger = state[FU_TRIGGER]
            if state[FU_STARTUP] != 0.0 or cx * cx + cy * cy + cz * cz <= rejection:
                state[FU_IGNORED] = 0.0
                trigger -= 9.0
            else:
                trigger += 1.0
            if trigger > state[FU_THRESHOLD]:
                state[FU_THRESHOLD] = 0.0
                state[FU_IGNORED] = 0.0
            else:
                state[FU_THRESHOLD] = float(timeout)
            trigger = min(max(trigger, 0.0), float(timeout))
            state[FU_TRIGGER] = trigger
            if state[FU_IGNORED] == 0.0:
                fbx, fby, fbz = cx, cy, cz
        hx = gx * half_deg2rad + fbx * g
        hy = gy * half_deg2rad + fby * g
        hz = gz * half_deg2rad + fbz * g
        dw, dx, dy, dz = _qmul(qw, qx, qy, qz, 0.0, hx * dt, hy * dt, hz * dt)
        qw, qx, qy, qz = qw + dw, qx + dx, qy + dy, qz + dz
        qn = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw / qn, qx / qn, qy / qn, qz / qn
        if state[FU_STARTUP] != 0.0:
            # zero the heading while starting up (FusionAhrsSetHeading(ahrs, 0))
            yaw = math.atan2(qw * qz + qx * qy, 0.5 - qy * qy - qz * qz)
            h = 0.5 * yaw
            qw, qx, qy, qz = _qmul(math.cos(h), 0.0, 0.0, -math.sin(h), qw, qx, qy, qz)
        state[0], state[1], state[2], state[3] = qw, qx, qy, qz
        for c in range(4):
            out[c, i] = qw if c == 0 else (qx if c == 1 else (qy if c == 2 else qz))
    return skipped


@kernel
def _gb_end_run(state: F64, min_run: float, memory: float) -> None:
    """End the current still run: a run that gave the bias joins the earlier runs' estimate."""
    run = state[GB_RUN]
    if run >= min_run and memory > 0.0:
        for c in range(3):
            state[GB_PREV + c] = state[GB_BIAS + c]
        state[GB_WEIGHT] = min(state[GB_WEIGHT] + run, memory)
    state[GB_RUN] = 0.0
    for c in range(3):
        state[GB_SUM + c] = 0.0
        state[GB_DIR + c] = 0.0


@kernel
def gyro_bias(x: F64, params: F64, state: F64, out: F64) -> int:
    """Gyro bias from still runs (see :class:`nmre.dsp.orientation.GyroBias`); ``params`` as ``GBP_*``.

    A sample is still when ``|gyr|`` is below the gyro threshold, ``|acc|`` is within the
    accelerometer threshold of gravity, and the low-passed gravity direction is within the tilt
    threshold (``GBP_CHORD``) of its mean over the run so far; a sample that is still but for its
    direction starts a new run. Once a run lasts ``GBP_MIN_RUN`` samples the bias is its mean gyro,
    pooled with the earlier runs' estimate (weighted by samples, the earlier ones' weight capped at
    ``GBP_MEMORY``). Writes the IMU with the current bias subtracted from the gyro rows.
    """
    gyro_threshold, acc_threshold, gravity = params[GBP_GYRO], params[GBP_ACC], params[GBP_GRAVITY]
    min_run, chord, k, memory = params[GBP_MIN_RUN], params[GBP_CHORD], params[GBP_ACC_K], params[GBP_MEMORY]
    n = x.shape[1]
    skipped = 0
    for i in range(n):
        for c in range(3):
            out[c, i] = x[c, i]
        if not _finite6(x, i):
            skipped += 1
            _gb_end_run(state, min_run, memory)
            for c in range(3):
                out[3 + c, i] = x[3 + c, i] - state[GB_BIAS + c]
            continue
        ax, ay, az = x[0, i], x[1, i], x[2, i]
        gx, gy, gz = x[3, i], x[4, i], x[5, i]
        gravity_like = abs(math.sqrt(ax * ax + ay * ay + az * az) - gravity) < acc_threshold
        if gravity_like:  # gravity's direction: low-passed over the samples that can be gravity
            if state[GB_HAVE_ACC] == 0.0:
                state[GB_ACC], state[GB_ACC + 1], state[GB_ACC + 2] = ax, ay, az
                state[GB_HAVE_ACC] = 1.0
            else:
                state[GB_ACC] += k * (ax - state[GB_ACC])
                state[GB_ACC + 1] += k * (ay - state[GB_ACC + 1])
                state[GB_ACC + 2] += k * (az - state[GB_ACC + 2])
        if gravity_like and math.sqrt(gx * gx + gy * gy + gz * gz) < gyro_threshold:
            la, lb, lc = state[GB_ACC], state[GB_ACC + 1], state[GB_ACC + 2]
            norm = math.sqrt(la * la + lb * lb + lc * lc)
            ux, uy, uz = la / norm, lb / norm, lc / norm
            if state[GB_RUN] > 0.0:
                mx, my, mz = state[GB_DIR], state[GB_DIR + 1], state[GB_DIR + 2]
                m = math.sqrt(mx * mx + my * my + mz * mz)
                dx, dy, dz = ux - mx / m, uy - my / m, uz - mz / m
                if not (math.sqrt(dx * dx + dy * dy + dz * dz) < chord):  # the body turned: a new run
                    _gb_end_run(state, min_run, memory)
            state[GB_RUN] += 1.0
            state[GB_SUM] += gx
            state[GB_SUM + 1] += gy
            state[GB_SUM + 2] += gz
            state[GB_DIR] += ux
            state[GB_DIR + 1] += uy
            state[GB_DIR + 2] += uz
            run = state[GB_RUN]
            if run >= min_run:
                w = state[GB_WEIGHT]
                for c in range(3):
                    state[GB_BIAS + c] = (state[GB_PREV + c] * w + state[GB_SUM + c]) / (w + run)
        else:
            _gb_end_run(state, min_run, memory)
        for c in range(3):
            out[3 + c, i] = x[3 + c, i] - state[GB_BIAS + c]
    return skipped


@kernel
def within(x: F64, limit: F64) -> bool:
    """Whether every value of ``x`` (n_channels, n) is finite and within ``limit[c]`` of its channel."""
    n_ch, n = x.shape
    for i in range(n):
        for c in range(n_ch):
            if not (abs(x[c, i]) <= limit[c]):  # False for NaN too
                return False
    return True


@kernel
def bias_madgwick(
    x: F64,
    limit: F64,
    bias_params: F64,
    bias_state: F64,
    dt: float,
    beta: float,
    mw_state: F64,
    scratch: F64,
    out: F64,
) -> int:
    """:func:`gyro_bias` then :func:`madgwick_imu` on a block whose every value is within ``limit``, in one call.

    Returns -1, with no state changed, when a value is not (non-finite or beyond its channel's
    limit: the input screen's case); else the skipped count (0). ``scratch`` (6, >= n) holds the
    bias-corrected samples.
    """
    if not within(x, limit):
        return -1
    corrected = scratch[:, : x.shape[1]]
    gyro_bias(x, bias_params, bias_state, corrected)
    return madgwick_imu(corrected, dt, beta, mw_state, out)

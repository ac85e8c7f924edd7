"""Movement analysis: streaming repetition segmentation and per-repetition smoothness.

* :class:`RepSegmenter`: a hysteresis state machine on one driving signal
  (e.g. knee flexion in degrees) raising ``rep.start`` / ``rep.end`` events
  (dsp.md §4.2: two thresholds, minimum duration and amplitude).
* :func:`sparc` and :func:`ldlj`: smoothness of one completed movement
  (Balasubramanian et al. 2015, J NeuroEng Rehabil 12:112), batch functions
  meant to run once per repetition.
* :func:`position_speed`: the speed of a position (an angle) over one movement,
  low-passed before it is differentiated, for onsets and offsets on the speed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp import _move_kernels as K
from nmre.dsp._imu_common import checked_values, derived_info, out_block
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError, expected

__all__ = ["REP_CHANNELS", "RepSegmenter", "dimensionless_jerk", "ldlj", "position_speed", "sparc"]

#: Low-pass cutoff for a joint or segment angle before it is differentiated, Hz (Winter 2009: 6 Hz).
SPEED_CUTOFF = 6.0

F64 = NDArray[np.float64]

REP_CHANNELS = (Channel("in_rep", "1"), Channel("reps", "count"))
_WHY = {1.0: "too short", 2.0: "too small", 3.0: "too long"}


@protected("nan")
class RepSegmenter(Processor):
    """Streaming repetition segmentation with hysteresis thresholds.

    A rep starts when the driving signal reaches ``start_threshold`` and ends
    at the first later sample back at or below ``end_threshold`` (for
    ``direction=-1`` both comparisons flip: reps go *down*). The reported start
    is the last sample in the rest band before the signal left it. A rep is
    valid when its duration lies in ``[min_duration, max_duration]`` s and its
    peak exceeds the start value by at least ``min_amplitude``; a rep still
    running after ``max_duration`` is rejected at once.

    Events (``source`` = ``name``), for :meth:`pop_events`:

    * ``rep.start`` at the start time, payload ``{"rep": k}`` (k = number of
      valid reps so far + 1);
    * ``rep.end`` at the end time, payload ``rep, start, end, duration, peak,
      peak_time, amplitude`` (signal units and seconds);
    * ``rep.rejected`` with the same payload plus ``reason``
      (``"too short"``, ``"too small"``, ``"too long"``).

    With ``rate`` given, the last ``history`` seconds of the driving signal are
    kept and each ``rep.end``/``rep.rejected`` payload also carries the rep's
    smoothness: ``sparc`` (:func:`sparc` of the absolute first difference times
    ``rate``, i.e. the angular speed for an angle) and ``ldlj``
    (:func:`ldlj` of that velocity); NaN when the rep is longer than the
    history, shorter than 3 samples, or contains non-finite samples.

    Output block: ``in_rep`` (1 inside a rep, else 0) and ``reps`` (valid reps
    so far), one sample per input sample. Non-finite samples leave the state
    unchanged.

    Parameters
    ----------
    start_threshold, end_threshold : float
        Signal units (e.g. deg); ``direction * start > direction * end``.
    min_duration : float
        Seconds, default 0.4.
    max_duration : float
        Seconds, default ``inf``.
    min_amplitude : float
        Signal units, default 0.
    direction : int
        +1 (reps rise, default) or -1 (reps fall).
    channel : int
        Row of the input block holding the driving signal, default 0.
    name : str
        Event source and output stream id, default ``"reps"``.
    rate : float, optional
        Sampling rate (Hz) of the driving signal; enables per-rep smoothness.
    history : float
        Seconds of signal kept for smoothness, default 20.
    """

    def __init__(
        self,
        start_threshold: float,
        end_threshold: float,
        *,
        min_duration: float = 0.4,
        max_duration: float = math.inf,
        min_amplitude: float = 0.0,
        direction: int = 1,
        channel: int = 0,
        name: str = "reps",
        rate: float | None = None,
        history: float = 20.0,
    ) -> None:
        if direction not in (1, -1):
            raise ConfigError("direction: " + expected("+1 or -1", direction))
        if not (math.isfinite(start_threshold) and math.isfinite(end_threshold)):
            raise ConfigError(expected("finite thresholds", (start_threshold, end_threshold)))
        if not direction * start_threshold > direction * end_threshold:
            raise ConfigError(
                expected(
                    f"start_threshold {'above' if direction == 1 else 'below'} end_threshold",
                    (start_threshold, end_threshold),
                )
            )
        if not (0 <= min_duration <= max_duration) or math.isnan(max_duration) or not min_amplitude >= 0:
            raise ConfigError(
                expected(
                    "0 <= min_duration <= max_duration and min_amplitude >= 0",
                    (min_duration, max_duration, min_amplitude),
                )
            )
        if not (isinstance(channel, int) and channel >= 0):
            raise ConfigError("channel: " + expected("a row index >= 0", channel))
        self.start_threshold = float(start_threshold)
        self.end_threshold = float(end_threshold)
        self.min_duration = float(min_duration)
        self.max_duration = float(max_duration)
        self.min_amplitude = float(min_amplitude)
        self.direction = direction
        self.channel = channel
        self.name = name
        if rate is not None and not (
            math.isfinite(rate) and rate > 0 and math.isfinite(history) and history > 0
        ):
            raise ConfigError(expected("rate > 0 Hz and history > 0 s (or rate=None)", (rate, history)))
        self.rate = None if rate is None else float(rate)
        cap = 0 if rate is None else max(2, round(history * rate))
        self._ring_t = np.zeros(cap)
        self._ring_x = np.zeros(cap)
        self._ptr = np.zeros(2, dtype=np.int64)
        self.state = np.zeros(K.RS_SIZE)
        self._ev = np.empty((16, K.EV_SIZE))  # the kernel's event rows (grown to the largest block)
        self._events: list[Event] = []

    def reset(self) -> None:
        self.state[:] = 0.0
        self._ptr[:] = 0
        self._events = []

    @property
    def count(self) -> int:
        """Valid reps so far."""
        return int(self.state[K.RS_COUNT])

    @property
    def in_rep(self) -> bool:
        return bool(self.state[K.RS_PHASE] == 1.0)

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(
            info, self.name, StreamKind.MARKER if info.rate == 0 else StreamKind.ANGLE, REP_CHANNELS
        )

    def pop_events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def process(self, block: Block) -> Block:
        v = block.values
        if not (type(v) is np.ndarray and v.dtype == np.float64 and v.flags.c_contiguous):
            v = checked_values(block, None, f"RepSegmenter input {block.stream!r}")
        if self.channel >= v.shape[0]:
            raise InputError(
                f"RepSegmenter input {block.stream!r}: "
                + expected(f"at least {self.channel + 1} channel(s)", v.shape[0])
            )
        d = float(self.direction)
        # a row of a C-contiguous array is contiguous: no copy for reps that go up (the usual case)
        x = v[self.channel] if self.direction == 1 else np.ascontiguousarray(v[self.channel] * d)
        t = block.times  # float64 (Block checks times)
        if not t.flags.c_contiguous:
            t = np.ascontiguousarray(t)
        n = x.shape[0]
        out = np.empty((2, n))
        if self._ev.shape[0] < n:  # event rows: read back at once, so one buffer serves every block
            self._ev = np.empty((max(n, 2 * self._ev.shape[0]), K.EV_SIZE))
        ev = self._ev
        ne = K.rep_segment(
            x,
            t,
            d * self.start_threshold,
            d * self.end_threshold,
            self.min_duration,
            self.max_duration,
            self.min_amplitude,
            self.state,
            out,
            ev,
        )
        if not ne:  # the usual block: no rep started or ended in it
            if self.rate is not None:
                K.ring_push(t, v[self.channel], self._ring_t, self._ring_x, self._ptr)
            return out_block(block, self.name, out)
        return self._with_events(block, v, t, ne, out, d)

    def _process_clean(self, block: Block, v: F64, limit: F64) -> Block | None:
        """:meth:`process` of a block whose values are all good (reps going up), checked in the same kernel call."""
        t = block.times
        if self.direction != 1 or self.channel >= v.shape[0] or not t.flags.c_contiguous:
            return None
        n = t.shape[0]
        out = np.empty((2, n))
        if self._ev.shape[0] < n:
            self._ev = np.empty((max(n, 2 * self._ev.shape[0]), K.EV_SIZE))
        ne = K.rep_segment_clean(
            v,
            limit,
            self.channel,
            t,
            self.start_threshold,
            self.end_threshold,
            self.min_duration,
            self.max_duration,
            self.min_amplitude,
            self.state,
            out,
            self._ev,
            self._ring_t,
            self._ring_x,
            self._ptr,
            self.rate is not None,
        )
        if ne < 0:
            return None
        if ne:
            return self._with_events(block, v, t, ne, out, 1.0)
        return Block.derived(self.name, t, out, block.seq, block.missing_before, block.arrival)

    def _with_events(self, block: Block, v: F64, t: F64, ne: int, out: F64, d: float) -> Block:
        """The events of a block in which reps started or ended, the history pushed event by event."""
        ev = self._ev
        raw = v[self.channel]
        pushed = 0
        valid_so_far = int(self.state[K.RS_COUNT]) - sum(1 for r in ev[:ne] if r[K.EV_KIND] == 2.0)
        for r in ev[:ne]:
            if self.rate is not None:  # the history up to this event's sample, as in any block split
                upto = int(r[K.EV_INDEX]) + 1
                K.ring_push(t[pushed:upto], raw[pushed:upto], self._ring_t, self._ring_x, self._ptr)
                pushed = upto
            self._events.append(self._event(r, valid_so_far + 1, d))
            if r[K.EV_KIND] == 2.0:
                valid_so_far += 1
        if self.rate is not None:
            K.ring_push(t[pushed:], raw[pushed:], self._ring_t, self._ring_x, self._ptr)
        return out_block(block, self.name, out)

    def _event(self, r: F64, k: int, d: float) -> Event:
        kind = r[K.EV_KIND]
        if kind == 1.0:
            return Event(float(r[K.EV_START]), kinds.REP_START, self.name, {"rep": k})
        start, end, peak = float(r[K.EV_START]), float(r[K.EV_END]), float(r[K.EV_PEAK])
        payload: dict[str, object] = {
            "rep": k,
            "start": start,
            "end": end,
            "duration": end - start,
            "peak": d * peak,
            "peak_time": float(r[K.EV_PEAK_T]),
            "amplitude": peak - float(r[K.EV_START_V]),
        }
        if self.rate is not None:
            payload["sparc"], payload["ldlj"] = self._smoothness(start, end)
        if kind == 2.0:
            return Event(end, kinds.REP_END, self.name, payload)
        payload["reason"] = _WHY[float(r[K.EV_WHY])]
        return Event(
            end,
            kinds.REP_REJECTED,
            self.name,
            payload,
            therapist_message=f"rep candidate rejected: {payload['reason']}",
        )

    def _smoothness(self, start: float, end: float) -> tuple[float, float]:
        assert self.rate is not None
        cap, (head, count) = self._ring_t.shape[0], self._ptr
        order = (head - count + np.arange(count)) % cap
        times, x = self._ring_t[order], self._ring_x[order]
        if count == 0 or times[0] > start:
            return math.nan, math.nan
        seg = x[(times >= start) & (times <= end)]
        if seg.shape[0] < 4 or not np.all(np.isfinite(seg)):
            return math.nan, math.nan
        vel = np.diff(seg) * self.rate
        if not np.any(vel):
            return math.nan, math.nan
        return sparc(np.abs(vel), self.rate), ldlj(vel, self.rate)


def _speed(x: ArrayLike, name: str) -> F64:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        if a.shape[0] == 0:
            raise InputError(f"{name}: " + expected("at least one row", a.shape))
        return a
    if a.ndim != 1:
        raise InputError(f"{name}: " + expected("shape (n,) or (n_dims, n)", a.shape))
    return a[None, :]


def _check_movement(v: F64, fs: float, min_n: int, name: str) -> None:
    if v.shape[1] < min_n:
        raise InputError(f"{name}: " + expected(f"at least {min_n} samples", v.shape[1]))
    if not np.all(np.isfinite(v)):
        raise InputError(f"{name}: " + expected("finite samples", "NaN or inf"))
    if not (math.isfinite(fs) and fs > 0):
        raise InputError("fs: " + expected("a finite rate > 0 Hz", fs))


def sparc(speed: ArrayLike, fs: float, padlevel: int = 4, fc: float = 10.0, amp_th: float = 0.05) -> float:
    """Spectral arc length (SPARC) of one movement's speed profile.

    Balasubramanian, Melendez-Calderon, Roby-Brami & Burdet (2015), "On the
    analysis of movement smoothness", J NeuroEng Rehabil 12:112. The magnitude
    spectrum (zero-padded to ``2**(ceil(log2 n) + padlevel)`` points) is
    normalised by its maximum; the band runs from the first to the last
    frequency in ``[0, fc]`` where the magnitude is at least ``amp_th`` (as in
    the authors' reference code, siva82kb/smoothness); SPARC is minus the arc
    length of the normalised spectrum over that band, with frequency
    normalised by the band width. Closer to 0 is smoother.

    Parameters
    ----------
    speed : array_like, shape (n,) or (n_dims, n)
        Speed profile (any unit; e.g. angular speed in deg/s or rad/s). A
        multi-row input is reduced to its Euclidean norm per sample.
    fs : float
        Sampling rate, Hz.
    padlevel : int
        Extra powers of two of zero padding, default 4.
    fc : float
        Maximum cut-off frequency, Hz, default 10.
    amp_th : float
        Amplitude threshold for the adaptive cut-off, default 0.05.

    Returns
    -------
    float
        SPARC (dimensionless, <= 0); 0 if only one spectral bin is selected.

    Raises
    ------
    InputError
        For fewer than 2 samples, non-finite samples, or an all-zero speed.
    """
    v = _speed(speed, "speed")
    _check_movement(v, fs, 2, "speed")
    s = v[0] if v.shape[0] == 1 else np.sqrt(np.sum(v * v, axis=0))
    nfft = int(2 ** (math.ceil(math.log2(s.shape[0])) + padlevel))
    mag = np.abs(np.fft.rfft(s, nfft))
    peak = float(mag.max())
    if peak == 0.0:
        raise InputError("speed: " + expected("a movement with non-zero speed", "all zeros"))
    mag = mag / peak
    f = np.arange(mag.shape[0]) * (fs / nfft)
    keep = f <= fc
    f, mag = f[keep], mag[keep]
    above = np.flatnonzero(mag >= amp_th)
    if above.size == 0:
        return 0.0
    f, mag = f[above[0] : above[-1] + 1], mag[above[0] : above[-1] + 1]
    if f.shape[0] < 2:
        return 0.0
    return -float(np.sum(np.sqrt((np.diff(f) / (f[-1] - f[0])) ** 2 + np.diff(mag) ** 2)))


def dimensionless_jerk(velocity: ArrayLike, fs: float) -> float:
    """Dimensionless jerk of one movement from its velocity (or speed) profile.

    ``DJ = -(T^3 / v_peak^2) · Σ |d²v/dt²|² · dt`` with ``T = n · dt``, the
    jerk taken as the second difference of the velocity over ``dt²`` and
    ``v_peak`` the largest speed (Hogan & Sternad 2009, J Mot Behav 41:529;
    Balasubramanian et al. 2015 and their reference code). Multi-row input is a
    velocity vector: jerk and speed use the Euclidean norm.

    Parameters
    ----------
    velocity : array_like, shape (n,) or (n_dims, n)
        Velocity, any unit. At least 3 samples.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    float
        DJ (dimensionless, <= 0).
    """
    v = _speed(velocity, "velocity")
    _check_movement(v, fs, 3, "velocity")
    dt = 1.0 / fs
    peak = float(np.max(np.sqrt(np.sum(v * v, axis=0))))
    if peak == 0.0:
        raise InputError("velocity: " + expected("a movement with non-zero velocity", "all zeros"))
    jerk = np.diff(v, 2, axis=1) / (dt * dt)
    T = v.shape[1] * dt
    return -(T**3 / peak**2) * float(np.sum(jerk * jerk)) * dt


def ldlj(velocity: ArrayLike, fs: float) -> float:
    """Log dimensionless jerk on velocity (LDLJ-V): ``-ln|DJ|`` (see :func:`dimensionless_jerk`).

    More negative is less smooth. Melendez-Calderon et al. (2021, Front Bioeng
    Biotechnol 8:558771): valid on velocity; prefer :func:`sparc` on gyroscope
    angular speed.
    """
    return -math.log(abs(dimensionless_jerk(velocity, fs)))


def position_speed(t: ArrayLike, x: ArrayLike, cutoff: float = SPEED_CUTOFF) -> F64:
    """Speed ``|dx/dt|`` of a position sampled at times ``t``, low-passed before it is differentiated.

    The position is filtered forwards and backwards by a 2nd-order Butterworth low-pass at
    ``cutoff`` Hz (zero phase: an onset or offset does not move), then differentiated by
    central differences, on the even grid of the usual sample step (a lost sample is bridged
    linearly there, so it makes no spike) and read back at ``t``. Differentiating the raw samples and averaging ``|Δx|`` instead turns white noise
    into a floor: 0.1 deg of noise at 100 Hz reads about 9 deg/s at rest, above 5 % of an arm
    raise's peak speed, so an onset at 5 % of the peak is never found. Angles of human
    movement are low-passed at about 6 Hz before they are differentiated (Winter, *Biomechanics
    and Motor Control of Human Movement*, 4th ed. 2009, ch. 2).

    Parameters
    ----------
    t : array, shape (n,)
        Sample times, s, increasing.
    x : array, shape (n,)
        Position (any unit; the speed is in that unit per second). Finite.
    cutoff : float
        Low-pass cutoff, Hz, below half the sampling rate.

    Returns
    -------
    array, shape (n,)
        The speed at ``t``; for fewer than 10 samples (too short to filter) the raw samples' speed.
    """
    from scipy import signal

    tt = np.asarray(t, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    if tt.ndim != 1 or xx.shape != tt.shape:
        raise InputError(
            "position_speed: " + expected("t and x of the same shape (n,)", (tt.shape, xx.shape))
        )
    n = tt.shape[0]
    if n < 10:
        return np.zeros(n) if n < 2 else np.abs(np.gradient(xx, tt))
    dt = float(np.median(np.diff(tt)))
    if not dt > 0.0:
        raise InputError("position_speed: " + expected("increasing sample times", tt[:3]))
    rate = 1.0 / dt
    if not 0.0 < cutoff < 0.5 * rate:
        raise ConfigError(
            "position_speed: cutoff " + expected(f"between 0 and {0.5 * rate:g} Hz (half the rate)", cutoff)
        )
    # on the even grid of the usual sample step: lost samples are bridged linearly, as the filter needs
    grid = tt[0] + dt * np.arange(math.floor((tt[-1] - tt[0]) / dt + 1e-9) + 1)
    even = np.interp(grid, tt, xx)
    sos = signal.butter(2, cutoff, fs=rate, output="sos")
    speed = np.abs(np.gradient(signal.sosfiltfilt(sos, even), dt))
    return np.asarray(np.interp(tt, grid, speed), dtype=np.float64)

"""Per-stream clock model: device time (or sample index) onto the session clock.

BLE delivers samples in bursts, one burst per connection event, so the arrival
time of a notification is the time its last sample was taken *plus* a
non-negative transport delay (waiting for the next connection event, radio
retries, the host stack). :class:`StreamClock` therefore fits the **lower
envelope** of ``arrival - x`` (where ``x`` is the device time of a packet's
last sample, or its sample index times the nominal period when the device
sends no timestamps) instead of its mean: a line ``y = b + s x`` lying below
every point and touching the envelope. ``b`` is the clock offset and ``s`` the
relative drift (rate error) of the device clock against the host clock. A
sample at ``x`` is then put at session time ``t = x + b + s x``.

The fit is the linear-programming skew estimate of Moon, Skelly and Towsley
(1999), "Estimation and removal of clock skew from network delay
measurements", IEEE INFOCOM: the line below all points that minimises the sum
of the vertical distances is the supporting line of the points' lower convex
hull at their mean abscissa. To keep it cheap the points are first reduced to
the minimum of each ``bin_width`` of ``x``, over a sliding ``window``.

Sample times are strictly increasing per stream, across packets, outages and
refits: when the line moves down (a packet with less delay than any before, or
the refit after an outage), a packet whose model times would lie before the
previous packet's last sample is spread between that sample and its own last
model time (:meth:`StreamClock._after_last`), so no consumer ever sees time go
back; no sample moves by more than the step the line took.

Limits
------
* Times are late by the *minimum* transport delay over the window, which no
  host can observe; with realistic connection-event bursts the minimum tends
  to zero because the sample phase walks against the connection events.
* Without sequence numbers or device timestamps, lost samples are only seen
  as a jump of the arrival time beyond ``gap_threshold``; their count is an
  estimate good to about the transport jitter divided by the sample period.
  Short losses (one Myo packet) hide inside the jitter and are not seen. The
  other way round, a link stall longer than ``gap_threshold`` (packets queued
  on the device, then sent in a burst) is reported as that many lost samples;
  the sample times recover once the burst has passed.
* When the packet period is a multiple of the connection interval (common:
  BLE intervals are multiples of 1.25 ms), the packets' phase against the
  connection events only walks at the clocks' relative drift, and the envelope
  needs that long (e.g. 140 s for 180 ms packets at 80 ppm) to find the
  zero-delay floor; until then times are late by up to one interval.
* Packets reordered by the transport are not put back in order.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nmre.errors import InputError, expected

__all__ = ["Stamped", "StreamClock"]

_MIN_BINS = 40
_NO_TIMES: NDArray[np.float64] = np.zeros(0)
_NO_TIMES.setflags(write=False)


@dataclass(frozen=True, slots=True)
class Stamped:
    """One packet's samples put on the session clock.

    Parameters
    ----------
    times : ndarray, shape (n_samples,), float64
        Session time of each sample, seconds. Empty when ``duplicate``.
    seq_first : int
        Stream sample counter of the first sample (0 for the stream's first
        sample, counting missing samples too), as :class:`nmre.core.model.Block`
        wants it.
    missing_before : int
        Samples known (or, without seq and timestamps, estimated) to be missing
        between the previous packet and this one. Never filled in.
    duplicate : bool
        The packet repeats samples already stamped; it was dropped.
    """

    times: NDArray[np.float64]
    seq_first: int
    missing_before: int
    duplicate: bool = False


class StreamClock:
    """Map one stream's packets onto the session clock, detecting gaps and duplicates.

    Parameters
    ----------
    rate : float
        Nominal sampling rate, Hz (> 0).
    has_seq : bool
        The device numbers its samples; :meth:`stamp` gets ``seq`` (sample
        counter of the packet's first sample).
    has_device_time : bool
        The device time-stamps its samples; :meth:`stamp` gets ``device_time``.
    seq_modulus : int or None
        The counter wraps modulo this value (``2**16`` for a 16-bit counter);
        ``None`` when it is already unwrapped.
    device_time_wrap : float or None
        Device time wraps after this many seconds (``2**32 / 1000`` for a
        32-bit millisecond counter); ``None`` when it does not wrap.
    window : float
        Length of device time the envelope fit looks back over, seconds.
    bin_width : float
        Points are reduced to their minimum per ``bin_width`` seconds of device time.
    max_drift : float
        Largest relative clock drift believed (5e-4 = 500 ppm); the fitted slope is clipped to it.
    gap_threshold : float
        For streams with neither seq nor timestamps: an arrival later than
        the clock model predicts by more than the usual delay plus this many
        seconds is taken as lost samples.
    min_fit_span : float
        Device-time span, seconds, the window must cover before a drift is fitted
        (the drift is 0 until then).
    """

    def __init__(
        self,
        rate: float,
        *,
        has_seq: bool,
        has_device_time: bool,
        seq_modulus: int | None = None,
        device_time_wrap: float | None = None,
        window: float = 120.0,
        bin_width: float = 0.5,
        max_drift: float = 5e-4,
        gap_threshold: float = 0.15,
        min_fit_span: float = 2.0,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise InputError("StreamClock: " + expected("a finite rate > 0 Hz", rate))
        if seq_modulus is not None and seq_modulus < 2:
            raise InputError("StreamClock: " + expected("a seq modulus >= 2 or None", seq_modulus))
        if window <= 0 or bin_width <= 0 or bin_width > window:
            raise InputError(
                "StreamClock: " + expected("0 < bin_width <= window seconds", (bin_width, window))
            )
        self.rate = float(rate)
        self.period = 1.0 / self.rate
        self.has_seq = has_seq
        self.has_device_time = has_device_time
        self.seq_modulus = seq_modulus
        self.device_time_wrap = device_time_wrap
        self.window = float(window)
        self.bin_width = float(bin_width)
        self.max_drift = float(max_drift)
        self.gap_threshold = float(gap_threshold)
        self.min_fit_span = float(min_fit_span)
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget everything: the next packet starts a new stream at sample counter 0."""
        self._started = False
        self._count = 0  # stream sample counter of the next expected sample
        self._x0 = 0.0  # device time (s) of counter 0, for timestamped streams
        self._last_dev = math.nan  # unwrapped device time of the last sample stamped
        self._wrap_turns = 0
        self._last_raw_dev = math.nan
        self._last_seq = 0  # device seq (wrapped) expected next
        self._last_arrival = math.nan
        self._offset = 0.0  # b
        self._drift = 0.0  # s
        self._bins: deque[list[float]] = deque()  # [bin index, x, y] minima
        self._after_outage = 0  # index of the first bin after a long outage (0: none)
        self._delay_ema = math.nan  # usual residual arrival - model, seconds
        self._last_time = -math.inf  # session time of the last sample stamped
        #: Packets whose model times went back and were spread after the last sample (see _after_last).
        self.n_time_steps = 0
        #: Packets dropped as duplicates since the last reset.
        self.n_duplicates = 0
        #: Samples reported missing since the last reset.
        self.n_missing = 0

    @property
    def offset(self) -> float:
        """Fitted offset ``b``, seconds: session time of device ``x = 0``."""
        return self._offset

    @property
    def drift(self) -> float:
        """Fitted relative drift ``s`` of the host clock against the device clock (1e-6 = 1 ppm)."""
        return self._drift

    # ------------------------------------------------------------------ public

    def stamp(
        self,
        n_samples: int,
        arrival: float,
        seq: int | None = None,
        device_time: NDArray[np.float64] | None = None,
    ) -> Stamped:
        """Put one packet's samples on the session clock.

        Parameters
        ----------
        n_samples : int
            Samples in the packet (>= 0; an empty packet changes nothing).
        arrival : float
            Session time the notification arrived, seconds.
        seq : int or None
            Device sample counter of the packet's first sample (required when ``has_seq``).
        device_time : ndarray, shape (n_samples,), float64, or None
            Device time of each sample, seconds (required when ``has_device_time``).

        Returns
        -------
        Stamped
            Sample times, stream counter of the first sample, missing count, duplicate flag.
        """
        if n_samples < 0:
            raise InputError("StreamClock.stamp: " + expected("n_samples >= 0", n_samples))
        if not math.isfinite(arrival):
            raise InputError("StreamClock.stamp: " + expected("a finite arrival time", arrival))
        if self.has_seq and seq is None:
            raise InputError("StreamClock.stamp: expected a seq for a stream with sequence numbers, got None")
        dev: NDArray[np.float64] | None = None
        if self.has_device_time:
            if device_time is None:
                raise InputError(
                    "StreamClock.stamp: expected device_time for a time-stamped stream, got None"
                )
            dev = np.asarray(device_time, dtype=np.float64)
            if dev.shape != (n_samples,):
                raise InputError(
                    "StreamClock.stamp: " + expected(f"device_time of shape ({n_samples},)", dev.shape)
                )
        if n_samples == 0:
            return Stamped(_NO_TIMES, self._count, 0)
        if dev is not None:
            dev = self._unwrap_device_time(dev)

        if not self._started:
            return self._first(n_samples, arrival, seq, dev)

        missing, duplicate, restart_fit = self._gap(n_samples, arrival, seq, dev)
        if duplicate:
            self.n_duplicates += 1
            return Stamped(_NO_TIMES, self._count, 0, duplicate=True)

        first = self._count + missing
        x = self._x_of(first, n_samples, dev)
        if restart_fit:
            self._bins.clear()
            self._offset = arrival - x[-1] - self._drift * x[-1]
        self._observe(float(x[-1]), arrival)
        times = self._after_last(x + self._offset + self._drift * x)

        self.n_missing += missing
        self._advance(first, n_samples, seq, dev, arrival)
        return Stamped(times, first, missing)

    # ------------------------------------------------------------------ steps

    def _first(self, n: int, arrival: float, seq: int | None, dev: NDArray[np.float64] | None) -> Stamped:
        self._started = True
        if dev is not None:
            self._x0 = float(dev[0])
        x = self._x_of(0, n, dev)
        self._offset = arrival - x[-1]
        self._observe(float(x[-1]), arrival)
        times = self._after_last(x + self._offset)
        self._advance(0, n, seq, dev, arrival)
        return Stamped(times, 0, 0)

    def _after_last(self, times: NDArray[np.float64]) -> NDArray[np.float64]:
        """``times`` made strictly increasing and later than the last sample already stamped.

        The fitted line moves down whenever a packet arrives with less delay than any
        before it (the envelope learns), and it is refitted after an outage; the model
        times of a packet can then lie before the previous packet's last sample. Such a
        packet's samples are spread evenly between that sample and the packet's own last
        model time (which stays as the model puts it), so no time goes back and no
        sample moves by more than the step the line took. When even the last model time
        is not later, the samples follow the previous one a thousandth of a period apart
        until the model is ahead again.
        """
        last = self._last_time
        if times[0] > last and (times.shape[0] == 1 or bool(np.all(np.diff(times) > 0))):
            self._last_time = float(times[-1])
            return times
        n = times.shape[0]
        hi = float(times[-1])
        if not hi > last:
            hi = last + n * 1e-3 * self.period
        out = last + (hi - last) * (np.arange(1, n + 1, dtype=np.float64) / n)
        self.n_time_steps += 1
        self._last_time = float(out[-1])
        return out

    def _x_of(self, first: int, n: int, dev: NDArray[np.float64] | None) -> NDArray[np.float64]:
        """Device-time abscissa of each sample, seconds since the stream's first sample."""
        if dev is not None:
            return dev - self._x0
        return (first + np.arange(n, dtype=np.float64)) * self.period

    def _advance(
        self, first: int, n: int, seq: int | None, dev: NDArray[np.float64] | None, arrival: float
    ) -> None:
        self._count = first + n
        if seq is not None:
            nxt = seq + n
            self._last_seq = nxt % self.seq_modulus if self.seq_modulus else nxt
        if dev is not None:
            self._last_dev = float(dev[-1])
        self._last_arrival = arrival

    def _unwrap_device_time(self, dev: NDArray[np.float64]) -> NDArray[np.float64]:
        wrap = self.device_time_wrap
        if wrap is None:
            return dev
        if math.isfinite(self._last_raw_dev) and dev[0] < self._last_raw_dev - wrap / 2:
            self._wrap_turns += 1
        out = dev + self._wrap_turns * wrap
        # a wrap inside the packet
        jumps = np.diff(dev) < -wrap / 2
        if jumps.any():
            out = out + np.concatenate(([0.0], np.cumsum(jumps))) * wrap
            self._wrap_turns += int(jumps.sum())
        self._last_raw_dev = float(dev[-1])
        return out

    def _predicted_delay(self, x_last: float, arrival: float) -> float:
        """How much later than the model's time of sample ``x_last`` the packet arrived, seconds."""
        return arrival - (x_last + self._offset + self._drift * x_last)

    def _gap(
        self, n: int, arrival: float, seq: int | None, dev: NDArray[np.float64] | None
    ) -> tuple[int, bool, bool]:
        """Return ``(missing, duplicate, restart_fit)`` for the next packet."""
        # Samples the arrival time says were missed (an estimate, used for
        # streams without seq/timestamps and to resolve seq wrap ambiguity).
        x_nominal = (self._count + n - 1) * self.period if dev is None else math.nan
        if self.has_seq and seq is not None:
            mod = self.seq_modulus
            if mod is None:
                diff = seq - self._last_seq
                if diff < 0:
                    return 0, True, False
                return diff, False, False
            diff = (seq - self._last_seq) % mod
            estimate = self._arrival_missing(x_nominal, arrival) if dev is None else self._dev_missing(dev)
            if diff >= mod // 2 and estimate < mod // 2:
                return 0, True, False  # behind what we already have
            missing = diff + mod * max(0, round((estimate - diff) / mod))
            return missing, False, False
        if dev is not None:
            if dev[-1] <= self._last_dev + 0.5 * self.period:
                return 0, True, False
            return self._dev_missing(dev), False, False
        excess = self._predicted_delay(x_nominal, arrival) - self._usual_delay()
        if excess > self.gap_threshold:
            return max(0, round(excess * self.rate)), False, True
        return 0, False, False

    def _dev_missing(self, dev: NDArray[np.float64]) -> int:
        return max(0, round((float(dev[0]) - self._last_dev) * self.rate) - 1)

    def _arrival_missing(self, x_nominal: float, arrival: float) -> int:
        excess = self._predicted_delay(x_nominal, arrival) - self._usual_delay()
        return max(0, round(excess * self.rate))

    def _usual_delay(self) -> float:
        return 0.0 if math.isnan(self._delay_ema) else self._delay_ema

    # ------------------------------------------------------------------ fit

    def _observe(self, x: float, arrival: float) -> None:
        """Add the point (x, arrival - x) to the envelope and refit when a bin closes."""
        y = arrival - x
        residual = y - (self._offset + self._drift * x)
        self._delay_ema = (
            residual if math.isnan(self._delay_ema) else 0.95 * self._delay_ema + 0.05 * residual
        )
        if residual < 0:  # below the line: the line is too high here, drop it at once
            self._offset += residual
        key = math.floor(x / self.bin_width)
        bins = self._bins
        if bins and bins[-1][0] == key:
            if y < bins[-1][2]:
                bins[-1][1] = x
                bins[-1][2] = y
            return
        if bins and x - bins[-1][1] > self.window:
            self._after_outage = len(bins)  # first bin after a long outage
        bins.append([float(key), x, y])
        # Old bins leave the window, but a few are kept however old they are, so
        # that after an outage the fit still spans it (the device clock ran on).
        while len(bins) > _MIN_BINS and bins[0][1] < x - self.window:
            bins.popleft()
            self._after_outage = max(0, self._after_outage - 1)
        if len(bins) > 2:
            self._fit()

    def _fit(self) -> None:
        """Supporting line of the lower convex hull at the mean abscissa (Moon et al. 1999)."""
        pts = [(b[1], b[2]) for b in self._bins]
        recent = pts[self._after_outage :]
        if recent[-1][0] - recent[0][0] >= self.min_fit_span:
            self._after_outage = 0
            hull: list[tuple[float, float]] = []
            for p in sorted(pts):
                while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
                    hull.pop()
                hull.append(p)
            xm = sum(p[0] for p in pts) / len(pts)
            slope = self._drift
            for a, b in itertools.pairwise(hull):
                if a[0] <= xm <= b[0] and b[0] > a[0]:
                    slope = (b[1] - a[1]) / (b[0] - a[0])
                    break
            self._drift = min(self.max_drift, max(-self.max_drift, slope))
        # else: too little since the stream started or came back from an outage
        # for a drift of its own; keep the drift and extrapolate across.
        self._offset = min(p[1] - self._drift * p[0] for p in pts)


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

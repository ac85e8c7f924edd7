"""Movement analysis: streaming repetition segmentation and per-repetition smoothness.

* :class:`RepSegmenter`: a hysteresis state machine on one driving signal
  (e.g. knee flexion in degrees) raising ``rep.start`` / ``rep.end`` events
  (dsp.md §4.2: two thresholds, minimum duration and amplitude).
* :func:`sparc` and :func:`ldlj`: smoothness of one completed movement
  (Balasubramanian et al. 2015, J NeuroEng Rehabil 12:112), batch functions
  meant to run once per repetition.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp import _move_kernels as K
from nmre.dsp._imu_common import checked_values, derived_info, out_block
from nmre.errors import ConfigError, InputError, expected

__all__ = ["REP_CHANNELS", "RepSegmenter"]

F64 = NDArray[np.float64]

REP_CHANNELS = (Channel("in_rep", "1"), Channel("reps", "count"))
_WHY = {1.0: "too short", 2.0: "too small", 3.0: "too long"}


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
                expected("0 <= min_duration <= max_duration and min_amplitude >= 0", (min_duration, max_duration, min_amplitude))
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
        self.state = np.zeros(K.RS_SIZE)
        self._events: list[Event] = []

    def reset(self) -> None:
        self.state[:] = 0.0
        self._events = []

    @property
    def count(self) -> int:
        """Valid reps so far."""
        return int(self.state[K.RS_COUNT])

    @property
    def in_rep(self) -> bool:
        return bool(self.state[K.RS_PHASE] == 1.0)

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(info, self.name, StreamKind.MARKER if info.rate == 0 else StreamKind.ANGLE, REP_CHANNELS)

    def pop_events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def process(self, block: Block) -> Block:
        v = checked_values(block, None, f"RepSegmenter input {block.stream!r}")
        if self.channel >= v.shape[0]:
            raise InputError(
                f"RepSegmenter input {block.stream!r}: "
                + expected(f"at least {self.channel + 1} channel(s)", v.shape[0])
            )
        d = float(self.direction)
        x = np.ascontiguousarray(v[self.channel] * d)
        t = np.ascontiguousarray(block.times, dtype=np.float64)
        out = np.empty((2, x.shape[0]))
        ev = np.empty((x.shape[0], K.EV_SIZE))
        ne = K.rep_segment(
            x, t, d * self.start_threshold, d * self.end_threshold, self.min_duration,
            self.max_duration, self.min_amplitude, self.state, out, ev,
        )
        valid_so_far = int(self.state[K.RS_COUNT]) - sum(1 for r in ev[:ne] if r[K.EV_KIND] == 2.0)
        for r in ev[:ne]:
            self._events.append(self._event(r, valid_so_far + 1, d))
            if r[K.EV_KIND] == 2.0:
                valid_so_far += 1
        return out_block(block, self.name, out)

    def _event(self, r: F64, k: int, d: float) -> Event:
        kind = r[K.EV_KIND]
        if kind == 1.0:
            return Event(float(r[K.EV_START]), "rep.start", self.name, {"rep": k})
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
        if kind == 2.0:
            return Event(end, "rep.end", self.name, payload)
        payload["reason"] = _WHY[float(r[K.EV_WHY])]
        return Event(end, "rep.rejected", self.name, payload,
                     therapist_message=f"rep candidate rejected: {payload['reason']}")

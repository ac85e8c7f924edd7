"""The quality monitor: a node on every raw stream that can say how good a span of data was.

:class:`QualityMonitor` sees each raw block before anything processes it and
keeps, per stream, a ring of short time bins over the last ``horizon`` seconds:
samples received, bad values per channel and reason (non-finite, saturated,
beyond full scale, stuck), clock faults (times that do not advance) and the
longest gap. Memory is fixed by ``horizon`` and the channel count, whatever the
session's length. :meth:`QualityMonitor.span` turns the bins into a
:class:`SpanQuality`; :meth:`QualityMonitor.judge` compares it with a rule's
:class:`~nmre.quality.needs.QualityNeeds` and returns the reason a span cannot
be judged, in words for the therapist (``None`` when it can).

Missing samples are counted against the nominal rate: a span of ``d`` seconds
of a stream at ``rate`` Hz should hold ``d * rate`` samples. Samples not yet
delivered are not missing: a stream is expected only up to the newest sample
time seen on any stream minus ``in_transit`` seconds (a Bluetooth link delivers
up to a connection interval or two late). A stream that has gone silent is
missing from its last sample on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds
from nmre.core.model import IMU_CHANNELS, Block, Event, StreamInfo, StreamKind
from nmre.core.ranges import channel_limits
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, expected
from nmre.quality import _kernels as K
from nmre.quality.needs import QualityNeeds

__all__ = ["IN_TRANSIT", "STUCK_SECONDS", "QualityMonitor", "SpanQuality", "StreamHealth"]

#: Seconds behind the newest sample of any stream within which a stream's samples count as in transit,
#: not missing: BLE connection intervals reach 100 ms and a packet can wait one or two (docs/quality.md).
IN_TRANSIT = 0.25
#: A sample vector repeated unchanged for this long is stuck (a frozen ADC or a hung decoder), per kind.
#: Live sensor noise changes the value of every sample; EMG at rest still moves by several LSB.
STUCK_SECONDS: Mapping[StreamKind, float] = {
    StreamKind.EMG: 0.05,
    StreamKind.ECG: 0.05,
    StreamKind.IMU: 0.25,
    StreamKind.ACC: 0.25,
    StreamKind.GYRO: 0.25,
    StreamKind.MAG: 0.5,
}
_BIN = 0.02  # s per bin: spans are resolved to 20 ms
#: Blocks are counted in batches (one kernel call for up to this many samples or blocks of a stream,
#: concatenated): the counts are the same as block by block, and every query counts what is pending first.
_BATCH_SAMPLES = 2048
_BATCH_BLOCKS = 64


@dataclass(frozen=True)
class SpanQuality:
    """How good one stream's data was over ``[start, end]`` (seconds, session time).

    ``fraction_missing``: share of the samples the nominal rate promises that never
    came (0 for streams without a rate); ``fraction_bad``: share of received
    samples that were bad, on the worst channel; ``bad`` counts bad values per
    reason over all channels; ``longest_gap``: longest stretch without a sample
    (s); ``clock_ok``: no sample time failed to advance; ``covered``: the span lay
    inside the monitor's horizon (older data is forgotten).
    """

    stream: str
    start: float
    end: float
    expected: float
    received: int
    fraction_missing: float
    fraction_bad: float
    bad: Mapping[str, int]
    longest_gap: float
    clock_ok: bool
    clock_faults: int = 0
    covered: bool = True
    worst_channel: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "received": self.received,
            "expected": round(self.expected, 1),
            "fraction_missing": round(self.fraction_missing, 4),
            "fraction_bad": round(self.fraction_bad, 4),
            "bad": dict(self.bad),
            "longest_gap": round(self.longest_gap, 3),
            "clock_ok": self.clock_ok,
            "covered": self.covered,
        }


@dataclass
class StreamHealth:
    """Running totals of one stream since the session started (exact counts, never forgotten)."""

    stream: str
    received: int = 0
    missing: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    clock_faults: int = 0
    longest_gap: float = 0.0

    @property
    def fraction_missing(self) -> float:
        total = self.received + self.missing
        return self.missing / total if total else 0.0


class _Stream:
    """Bins and state of one stream (plain arrays, updated in place by the kernel)."""

    def __init__(self, info: StreamInfo, n_bins: int) -> None:
        self.info = info
        self.rate = float(info.rate)
        self.rail, self.limit = channel_limits(info)
        stuck = STUCK_SECONDS.get(info.kind)
        self.stuck_n = max(3, round(stuck * self.rate)) if (stuck and self.rate > 0) else 0
        # a gap: more than 1.5 nominal sample periods without a sample (at least one sample missing)
        self.gap_dt = 1.5 / self.rate if self.rate > 0 else math.inf
        c = info.n_channels
        self.state = np.zeros(K.S_SIZE)
        self.last = np.full(c, np.nan)
        self.n_channels = c  # what push compares a block's rows with (an int: no array attribute per block)
        self.index = np.full(n_bins, -(2**62), dtype=np.int64)
        self.received = np.zeros(n_bins, dtype=np.int64)
        self.bad = np.zeros((n_bins, c, len(K.REASONS)), dtype=np.int64)
        self.clock = np.zeros(n_bins, dtype=np.int64)
        self.gap = np.zeros((n_bins, 2))
        self.totals = np.zeros((c, len(K.REASONS)), dtype=np.int64)
        self.scratch = np.zeros((c, len(K.REASONS)), dtype=np.int64)
        self.missing = 0
        self.pending: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []  # blocks not yet counted
        self.pending_n = 0
        self.reset()

    def reset(self) -> None:
        self.pending = []
        self.pending_n = 0
        self.state[:] = 0.0
        self.state[K.S_LAST_T] = -math.inf
        self.state[K.S_FIRST_T] = math.nan
        self.last[:] = np.nan
        self.index[:] = -(2**62)
        self.totals[...] = 0
        self.missing = 0


_warm = False


def _warm_kernels() -> None:
    """Compile (or load from the cache) the counting kernels once per process, while the drill is built:
    the first block of a session must not wait for numba (seconds on a fresh install; every stream
    stalled meanwhile and the studio showed "no data")."""
    global _warm
    if _warm:
        return
    _warm = True
    probe = QualityMonitor([StreamInfo("warmup", StreamKind.IMU, IMU_CHANNELS, 100.0)], horizon=1.0)
    t = np.arange(4) / 100.0
    probe.push(Block("warmup", t, np.zeros((len(IMU_CHANNELS), 4))))
    probe.span("warmup", 0.0, 0.03)


class QualityMonitor(Node):
    """Watches every raw stream's data quality; rules ask it whether a span can be judged.

    Parameters
    ----------
    streams : sequence of StreamInfo
        The raw streams to watch (as the sources produce them).
    horizon : float
        Seconds of history kept per stream (default 120: longer than any rep,
        hold or balance window). Spans older than that are reported as not
        covered.
    in_transit : float
        See :data:`IN_TRANSIT`.
    """

    name = "quality"

    def __init__(
        self, streams: Sequence[StreamInfo], *, horizon: float = 120.0, in_transit: float = IN_TRANSIT
    ) -> None:
        if not (math.isfinite(horizon) and horizon > 0):
            raise ConfigError("quality monitor: horizon " + expected("a number of seconds > 0", horizon))
        if not (math.isfinite(in_transit) and in_transit >= 0):
            raise ConfigError(
                "quality monitor: in_transit " + expected("a number of seconds >= 0", in_transit)
            )
        _warm_kernels()
        self.horizon, self.in_transit = float(horizon), float(in_transit)
        self._n_bins = max(2, math.ceil(horizon / _BIN) + 1)
        self._streams = {s.id: _Stream(s, self._n_bins) for s in streams}
        self.inputs = tuple(self._streams)
        self._newest = -math.inf

    @property
    def streams(self) -> tuple[str, ...]:
        """Ids of the watched streams."""
        return self.inputs

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for sid in self.inputs:
            if sid not in infos:
                known = ", ".join(sorted(infos)) or "none"
                raise ConfigError(f"quality monitor: expected stream {sid!r} among the session's: {known}")
        return []

    def reset(self) -> None:
        for s in self._streams.values():
            s.reset()
        self._newest = -math.inf

    def push(self, block: Block) -> list[Block]:
        s = self._streams.get(block.stream)
        if s is None:
            return []
        s.missing += block.missing_before
        n = block.times.shape[0]
        if n:
            values = block.values
            if values.shape[0] != s.n_channels:
                return []  # a malformed block: the node that processes it says so
            s.pending.append((block.times, values))
            s.pending_n += n
            if s.pending_n >= _BATCH_SAMPLES or len(s.pending) >= _BATCH_BLOCKS:
                self._count(s)
        return []

    def _count(self, s: _Stream) -> None:
        """Count the pending blocks of ``s`` in one kernel call (the same counts as one call per block)."""
        pending = s.pending
        if not pending:
            return
        if len(pending) == 1:
            times, values = pending[0]
            if not values.flags.c_contiguous:
                values = np.ascontiguousarray(values)
        else:
            times = np.concatenate([p[0] for p in pending])
            values = np.concatenate([p[1] for p in pending], axis=1)
        s.pending = []
        s.pending_n = 0
        K.update(
            times,
            values,
            s.rail,
            s.limit,
            s.stuck_n,
            s.gap_dt,
            _BIN,
            s.state,
            s.last,
            s.index,
            s.received,
            s.bad,
            s.clock,
            s.gap,
            s.totals,
        )
        t = s.state[K.S_LAST_T]
        if t > self._newest:
            self._newest = t

    def _count_all(self) -> None:
        for s in self._streams.values():
            if s.pending:
                self._count(s)

    def takes_event(self, kind: str) -> bool:
        return kind == kinds.STREAM_TIME_ERROR

    def on_event(self, event: Event) -> None:
        if event.kind == kinds.STREAM_TIME_ERROR:
            s = self._streams.get(str(event.payload.get("stream", event.source)))
            if s is not None and math.isfinite(event.time):
                self._count(s)  # the fault goes into the bins as they are after the blocks before it
                b = math.floor(event.time / _BIN)
                i = b % self._n_bins
                if s.index[i] == b:
                    s.clock[i] += 1
                s.state[K.S_CLOCK] += 1.0

    # -- queries ----------------------------------------------------------------------
    def health(self, stream: str) -> StreamHealth:
        """Running totals of ``stream`` since the start."""
        s = self._stream(stream)
        self._count_all()
        return StreamHealth(
            stream,
            received=int(s.state[K.S_RECEIVED]),
            missing=int(s.missing),
            bad={r: int(s.totals[:, k].sum()) for k, r in enumerate(K.REASONS)},
            clock_faults=int(s.state[K.S_CLOCK]),
            longest_gap=float(s.state[K.S_LONGEST]),
        )

    def reached(self, stream: str) -> float:
        """The time of ``stream``'s latest sample pushed (session s; -inf before the first)."""
        s = self._stream(stream)
        if s.pending:
            return float(s.pending[-1][0][-1])
        return float(s.state[K.S_LAST_T])

    def span(self, stream: str, t0: float, t1: float, channels: Sequence[int] | None = None) -> SpanQuality:
        """Quality of ``stream`` over ``[t0, t1]`` (session seconds, resolved to 20 ms bins).

        ``channels``: the rows a rule's input is computed from (an angular speed reads only
        the gyroscope); bad samples are counted on those only (default: every channel).
        """
        s = self._stream(stream)
        self._count_all()
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 >= t0):
            raise ConfigError(f"quality of {stream!r}: " + expected("a span with finite t0 <= t1", (t0, t1)))
        last_t, first_t = float(s.state[K.S_LAST_T]), float(s.state[K.S_FIRST_T])
        newest = max(self._newest, last_t)
        covered = True
        oldest = newest - self.horizon + _BIN
        if t0 < oldest:
            covered, t0 = False, min(oldest, t1)
        # samples are expected up to the end of the span, or up to what has had time to arrive
        end = min(t1, max(newest - self.in_transit, last_t if math.isfinite(last_t) else -math.inf))
        b0 = math.floor(t0 / _BIN)
        b1 = math.floor(end / _BIN) if end >= t0 else b0 - 1
        received, clock, longest = K.span(
            b0, b1, t0, t1, s.index, s.received, s.bad, s.clock, s.gap, s.scratch
        )
        span_s = (b1 - b0 + 1) * _BIN if b1 >= b0 else 0.0
        expected_n = span_s * s.rate
        # a stream silent since before the span's end, or not started at its beginning, has a hole there
        silent_to = min(t1, max(newest - self.in_transit, t0))
        if not math.isfinite(last_t):
            longest = max(longest, silent_to - t0)
        else:
            if last_t < silent_to:
                longest = max(longest, silent_to - max(last_t, t0))
            if first_t > t0:
                longest = max(longest, min(first_t, t1) - t0)
        missing = max(0.0, 1.0 - received / expected_n) if expected_n > 0 else 0.0
        if s.rate > 0 and not math.isfinite(last_t) and silent_to > t0:
            missing = 1.0
        per_channel = s.scratch.sum(axis=1)
        counted = s.scratch
        if channels is not None:
            rows = np.asarray(sorted(set(channels)), dtype=np.int64)
            per_channel = np.where(np.isin(np.arange(per_channel.size), rows), per_channel, 0)
            counted = s.scratch[rows]
        worst = int(np.argmax(per_channel)) if per_channel.size else 0
        fraction_bad = float(per_channel[worst]) / received if received else 0.0
        return SpanQuality(
            stream=stream,
            start=t0,
            end=t1,
            expected=expected_n,
            received=int(received),
            fraction_missing=min(1.0, missing),
            fraction_bad=min(1.0, fraction_bad),
            bad={r: int(counted[:, k].sum()) for k, r in enumerate(K.REASONS) if counted[:, k].any()},
            longest_gap=max(0.0, longest),
            clock_ok=clock == 0,
            clock_faults=int(clock),
            covered=covered,
            worst_channel=s.info.channels[worst].name if per_channel[worst] else None,
        )

    def judge(
        self, streams: Sequence[str], t0: float, t1: float, needs: QualityNeeds | None = None
    ) -> str | None:
        """``None`` when every stream's data over ``[t0, t1]`` meets ``needs``; else the reason, in words."""
        return self.assess(streams, t0, t1, needs)[0]

    def assess(
        self,
        streams: Sequence[str],
        t0: float,
        t1: float,
        needs: QualityNeeds | None = None,
        channels: Mapping[str, Sequence[int]] | None = None,
    ) -> tuple[str | None, list[SpanQuality]]:
        """:meth:`judge` and the span qualities it looked at (``channels``: stream -> rows, see :meth:`span`)."""
        needs = needs or QualityNeeds()
        reasons: list[str] = []
        ch = channels or {}
        spans = [self.span(sid, t0, t1, ch.get(sid)) for sid in streams]
        for q in spans:
            why = needs.shortfall(q)
            if why:
                reasons.append(f"{_describe(self._streams[q.stream].info)}: {why}")
        return ("; ".join(reasons) if reasons else None), spans

    def _stream(self, stream: str) -> _Stream:
        try:
            return self._streams[stream]
        except KeyError:
            raise ConfigError(
                f"quality monitor: expected a watched stream ({', '.join(self._streams)}), got {stream!r}"
            ) from None


def _describe(info: StreamInfo) -> str:
    where = info.placement.describe() if info.placement is not None else ""
    return f"{info.id} ({where} {info.kind.value})" if where and where != "unplaced" else info.id

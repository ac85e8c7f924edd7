"""What the studio shows, kept without Qt: recent samples, events, counters, stream health, latencies.

The engine thread writes (through :class:`RingSink`, a :class:`~nmre.core.Sink`);
the GUI thread reads on its timers. Writers never wait for readers: sample
rings are preallocated numpy arrays with a write counter, and a reader that
finds the counter moved while it copied simply copies again (a sequence lock).
Events cross in a bounded deque (appends and pops are atomic in CPython).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds
from nmre.core.interfaces import Sink
from nmre.core.model import Block, Event, FeedbackState, StreamInfo, StreamKind

__all__ = [
    "ArrivalLog",
    "Counters",
    "RingSink",
    "SampleRing",
    "StreamHealth",
    "decimate",
    "latency_summary",
    "signal_sources",
]

F64 = NDArray[np.float64]

#: Seconds of each stream the rings keep (the dashboard shows up to this much).
RING_SECONDS = 12.0
#: A raw stream with no block for this long (session s) is shown as lost: inside the second the issue allows,
#: and above the gaps of a busy machine's Bluetooth stack (blocks late by 0.3-0.5 s when the CPU is shared).
STALE_AFTER = 0.8


class SampleRing:
    """The last ``capacity`` samples of one stream: times (n,) and values (n_channels, n), written in place."""

    def __init__(self, n_channels: int, capacity: int) -> None:
        self.capacity = max(16, int(capacity))
        self.times = np.full(self.capacity, np.nan)
        self.values = np.full((n_channels, self.capacity), np.nan)
        self.written = 0  # samples written so far (the write index is written % capacity)
        self._seq = 0  # odd while a write is in progress

    def push(self, times: F64, values: F64) -> None:
        n = times.shape[0]
        if n == 0:
            return
        cap = self.capacity
        if n > cap:
            times, values, n = times[-cap:], values[:, -cap:], cap
        self._seq += 1
        i = self.written % cap
        first = min(n, cap - i)
        self.times[i : i + first] = times[:first]
        self.values[:, i : i + first] = values[:, :first]
        if first < n:
            self.times[: n - first] = times[first:]
            self.values[:, : n - first] = values[:, first:]
        self.written += n
        self._seq += 1

    def latest(self, seconds: float | None = None, rate: float = 0.0) -> tuple[F64, F64]:
        """Copies of about the last ``seconds`` of samples (all kept ones if ``None``), oldest first.

        With the stream's ``rate`` only that span is copied; without it the whole ring is.
        """
        t: F64 = self.times[:0].copy()
        v: F64 = self.values[:, :0].copy()
        for _ in range(8):
            seq = self._seq
            if seq % 2:
                continue
            written = self.written
            n = min(written, self.capacity)
            if seconds is not None and rate > 0:
                n = min(n, math.ceil(seconds * rate) + 2)
            end = written % self.capacity
            start = end - n
            if start >= 0:
                t, v = self.times[start:end].copy(), self.values[:, start:end].copy()
            else:
                t = np.concatenate([self.times[start:], self.times[:end]])
                v = np.concatenate([self.values[:, start:], self.values[:, :end]], axis=1)
            if seq == self._seq:
                break
        if seconds is not None and t.size:
            keep = t >= t[-1] - seconds
            t, v = t[keep], v[:, keep]
        return t, v


def decimate(t: F64, v: F64, max_points: int) -> tuple[F64, F64]:
    """Min/max ("peak") decimation for display: at most about ``max_points`` points, no peak lost."""
    n = t.shape[0]
    if n <= max_points or max_points < 4:
        return t, v
    bucket = math.ceil(n / (max_points // 2))
    m = n // bucket
    cut = m * bucket
    tv = t[:cut].reshape(m, bucket)
    vv = v[:, :cut].reshape(v.shape[0], m, bucket)
    t2 = np.repeat(tv[:, 0], 2)
    out = np.empty((v.shape[0], 2 * m))
    out[:, 0::2] = vv.min(axis=2)
    out[:, 1::2] = vv.max(axis=2)
    return t2, out


class ArrivalLog:
    """Arrival and last-sample times of recent raw blocks, for measuring how long each took to be shown."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self.arrival = np.full(capacity, np.nan)
        self.sample = np.full(capacity, np.nan)
        self.count = 0

    def add(self, arrival: float, sample: float) -> None:
        i = self.count % self.capacity
        self.arrival[i] = arrival
        self.sample[i] = sample
        self.count += 1

    def since(self, start: int) -> tuple[int, F64, F64]:
        """Blocks logged from index ``start`` on: (new start, arrivals, sample times) (at most ``capacity``)."""
        end = self.count
        start = max(start, end - self.capacity)
        idx = np.arange(start, end) % self.capacity
        return end, self.arrival[idx], self.sample[idx]


@dataclass
class StreamHealth:
    """One raw stream as the device panel and the dropout warning see it."""

    stream: str
    label: str
    kind: str
    rate: float
    last_arrival: float = math.nan
    samples: int = 0
    missing: int = 0
    blocks: int = 0
    latency: float = math.nan  # arrival - last sample time of the latest block (transport), s
    bad: bool = False  # signal.bad without signal.recovered
    disconnected: bool = False

    def lost(self, now: float, stale_after: float = STALE_AFTER) -> bool:
        """No data for ``stale_after`` s, or the device said it went away."""
        if self.disconnected:
            return True
        return not (now - self.last_arrival <= stale_after)

    @property
    def loss(self) -> float:
        """Fraction of samples known missing."""
        total = self.samples + self.missing
        return self.missing / total if total else 0.0


def _stream_label(info: StreamInfo) -> str:
    what = {StreamKind.EMG: "EMG", StreamKind.IMU: "IMU", StreamKind.ACC: "accelerometer"}.get(
        info.kind, info.kind.value
    )
    p = info.placement
    where = " ".join(
        x
        for x in (
            p.side.value if p and p.side and p.side.value != "midline" else None,
            p.segment if p else None,
        )
        if x
    )
    return f"{where or info.id} {what}"


class RingSink(Sink):
    """The studio's view of a session: rings of recent samples, raw-stream health and the events.

    Parameters
    ----------
    raw : sequence of str
        Ids of the raw (source) streams: their blocks are logged for the latency and health.
    seconds : float
        How much of each stream the rings keep.
    streams : iterable of str or None
        Streams to keep rings for (default: every stream; EMG raw streams are large).
    """

    def __init__(
        self, raw: Sequence[str], seconds: float = RING_SECONDS, streams: Iterable[str] | None = None
    ) -> None:
        self.raw = tuple(raw)
        self.seconds = seconds
        self._wanted = None if streams is None else set(streams)
        self.rings: dict[str, SampleRing] = {}
        self.infos: dict[str, StreamInfo] = {}
        self.health: dict[str, StreamHealth] = {}
        self.arrivals = ArrivalLog()
        self.events: deque[Event] = deque(maxlen=4096)
        self.feedback = FeedbackState(0.0)
        self.closed = threading.Event()

    def open(self, streams: Sequence[StreamInfo]) -> None:
        for info in streams:
            self.infos[info.id] = info
            if self._wanted is None or info.id in self._wanted:
                rate = info.rate or 100.0
                self.rings[info.id] = SampleRing(info.n_channels, math.ceil(self.seconds * rate) + 64)
            if info.id in self.raw:
                self.health[info.id] = StreamHealth(info.id, _stream_label(info), info.kind.value, info.rate)

    def on_block(self, block: Block) -> None:
        ring = self.rings.get(block.stream)
        if ring is not None:
            ring.push(block.times, block.values)
        h = self.health.get(block.stream)
        if h is not None:
            n = block.times.shape[0]
            h.blocks += 1
            h.samples += n
            h.missing += block.missing_before
            if n:
                last = float(block.times[n - 1])
                h.last_arrival = block.arrival
                h.latency = block.arrival - last
                h.disconnected = False
                self.arrivals.add(block.arrival, last)

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        kind = event.kind
        if kind in (kinds.SIGNAL_BAD, kinds.SIGNAL_RECOVERED):
            h = self.health.get(str(event.payload.get("stream", event.source)).removesuffix(".clean"))
            if h is not None:
                h.bad = kind == kinds.SIGNAL_BAD
        elif kind in (kinds.DEVICE_DISCONNECT, kinds.DEVICE_CONNECT, kinds.DEVICE_RECONNECT):
            for sid, h in self.health.items():  # a device event names the device, streams name theirs
                if self.infos[sid].device == event.source:
                    h.disconnected = kind == kinds.DEVICE_DISCONNECT

    def on_feedback(self, state: FeedbackState) -> None:
        self.feedback = state

    def close(self) -> None:
        self.closed.set()

    def pop_events(self) -> list[Event]:
        out = []
        while self.events:
            out.append(self.events.popleft())
        return out


_UNIT_STARTS = frozenset((kinds.REP_START, kinds.HOLD_START, kinds.TRANSITION_START))
_UNIT_ENDS = frozenset((kinds.REP_REJECTED, kinds.TRANSITION_END, kinds.TRANSITION_REJECTED))


@dataclass
class Counters:
    """What the dashboard counts from events: reps, holds, verdicts, unjudged reps, markers, warnings."""

    reps: int = 0
    holds: int = 0
    on_target: int = 0
    corrections: int = 0
    unjudged: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_rep: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)  # (time, kind, text)
    warnings: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=50))
    message: str = ""
    message_tone: str = "info"
    message_time: float = -math.inf
    calibration: list[tuple[float, str]] = field(default_factory=list)
    suggestion: str = ""  # the latest progression suggestion (after each set)
    decision: str = ""  # its decision: advance | stay | step_back
    next_level: int | None = None  # the level it suggests
    sets: int = 0
    set_lines: list[str] = field(default_factory=list)  # each finished set, as the therapist reads it
    # limits of stability: the target shown now (0 = forward, clockwise), those reached in this set
    los_active: int | None = None
    los_reached: set[int] = field(default_factory=set)
    _los_index: dict[Any, int] = field(default_factory=dict)  # target number -> direction
    _los_set: Any = None
    los_cue: float | None = None  # session time the target shown now (or the last one) appeared
    #: A rep, hold or transition is under way (its start seen, not yet its end): the gauge judges only then.
    unit_open: bool = False
    units_started: int = 0
    unit_start: float = -math.inf  # the sample time the open unit started

    def add(self, e: Event) -> None:
        """Fold one event into the counters."""
        kind = e.kind
        if kind == kinds.TARGET_START:
            k = round(float(e.payload.get("angle", 0.0)) / 45.0) % 8
            if e.payload.get("set") != self._los_set:
                self.los_reached = set()  # a new set: every target to reach again
            self._los_set = e.payload.get("set")
            self.los_active = k
            self.los_cue = e.time
            self._los_index[e.payload.get("target")] = k
            self.message, self.message_tone, self.message_time = e.patient_message or "", "info", e.time
        elif kind == kinds.TARGET_END:
            self.los_active = None
        elif kind in _UNIT_STARTS:
            self.unit_open, self.unit_start = True, e.time
            self.units_started += 1
        elif kind == kinds.REP_END:
            self.reps += 1
            self.unit_open = False
        elif kind in ("hold.end", "hold.complete"):
            self.holds += 1
            self.unit_open = False
        elif kind in _UNIT_ENDS:
            self.unit_open = False
        elif kind.startswith(kinds.RULE) and isinstance(e.payload.get("ok"), bool):
            name = kind[len(kinds.RULE) :]
            self.last_rep[name] = dict(e.payload)
            if e.payload.get("quantity") == "max_excursion" and e.payload["ok"]:
                reached = self._los_index.get(e.payload.get("target"))
                if reached is not None:
                    self.los_reached.add(reached)
            if not e.payload["ok"]:
                err = str(e.payload.get("error") or name)
                self.errors[err] = self.errors.get(err, 0) + 1
                self.timeline.append((e.time, "error", f"{err}: {e.therapist_message or ''}"))
        elif kind.endswith(".unjudged"):
            self.unjudged += 1
            why = e.therapist_message or str(e.payload.get("reason", "not judged"))
            self.timeline.append((e.time, "unjudged", why))
            self.warnings.append((e.time, f"not judged: {why}"))
        elif kind == kinds.FEEDBACK_CUE:
            tone = str(e.payload.get("tone", "info"))
            if tone == "good":
                self.on_target += 1
            elif tone == "correct":
                self.corrections += 1
            self.message, self.message_tone, self.message_time = e.patient_message or "", tone, e.time
        elif kind == "marker":
            self.timeline.append((e.time, "marker", str(e.payload.get("label", "marker"))))
        elif kind == kinds.DEVICE_CONNECT:
            pass  # a first connection is no warning
        elif kind.startswith(("stream.", "signal.", "device.", "source.", "engine.", "quality.", "control.")):
            self.warnings.append((e.time, e.therapist_message or kind))
        elif kind == kinds.PROGRESSION_SUGGESTION:
            self.suggestion = e.therapist_message or str(e.payload.get("decision", ""))
            self.decision = str(e.payload.get("decision", ""))
            nxt = e.payload.get("next_level")
            self.next_level = int(nxt) if isinstance(nxt, (int, float)) else None
        elif kind == kinds.SET_END:
            self.sets += 1
            self.set_lines.append(e.therapist_message or f"set {self.sets} done")
        elif kind.startswith(("calibration.", "readiness.")):
            self.calibration.append((e.time, e.therapist_message or kind))


def signal_sources(nodes: Sequence[Any], raw: Iterable[str]) -> dict[str, set[str]]:
    """Watched signal name → the raw streams it is computed from (walking the nodes' inputs back).

    A node's published signals depend on its inputs; a derived stream depends on
    the inputs of the node that emits it (``ProcessorNode.output``).
    """
    raw_set = set(raw)
    producer: dict[str, Any] = {}
    for n in nodes:
        output = getattr(n, "output", None)
        if isinstance(output, str) and output:
            producer[output] = n

    def roots(stream: str, seen: set[str]) -> set[str]:
        if stream in raw_set:
            return {stream}
        if stream in seen or stream not in producer:
            return set()
        seen.add(stream)
        found: set[str] = set()
        for s in producer[stream].inputs:
            found |= roots(s, seen)
        return found

    out: dict[str, set[str]] = {}
    for n in nodes:
        try:
            names = [s.name for s in n.signals()]
        except Exception:  # a node that cannot say yet (before bind) publishes nothing
            names = []
        for name in names:
            deps: set[str] = set()
            for s in n.inputs:
                deps |= roots(s, set())
            out.setdefault(name, set()).update(deps)
    return out


def latency_summary(values: Mapping[str, Sequence[float]] | Sequence[float]) -> dict[str, Any]:
    """p50 / p95 / max in ms of latencies in seconds (``None`` when there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"unit": "ms", "n": 0, "p50": None, "p95": None, "max": None}
    p50, p95 = np.percentile(v, [50, 95])
    return {
        "unit": "ms",
        "n": int(v.size),
        "p50": round(float(p50) * 1e3, 2),
        "p95": round(float(p95) * 1e3, 2),
        "max": round(float(v.max()) * 1e3, 2),
    }

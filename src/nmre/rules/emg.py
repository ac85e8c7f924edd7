"""EMG rules: onset order and timing, muscle ratios, co-contraction, contraction and relaxation.

* :class:`OnsetNode` finds EMG onsets against a rest baseline (not a rule: its
  ``emg.onset`` events feed ``onset_order``).
* ``onset_order``: per unit, one muscle's onset minus another's (ms) in a band
  (VMO no later than VL: reference/clinical.md §2.2, dsp.md §1.4).
* ``ratio``: mean envelope of one muscle over another's per unit (VMO:VL,
  UT:LT; clinical.md §2.2, §2.5).
* ``combined``: a ratio (or one muscle's mean) counted only while another
  signal meets a condition: EMG and IMU together (VMO:VL while the knee is
  flexed beyond an angle; clinical.md §7 G4).
* ``cocontraction``: Falconer & Winter or Rudolph co-contraction index of two
  muscles per unit (dsp.md §1.5).
* ``contraction``: the level of a contraction (% reference) held in a work
  period, found with hysteresis and minimum on/off durations; ``relaxation``:
  the level in the rest period after it (EMG biofeedback work/rest training,
  clinical.md §2.1, §2.3).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.dsp.bursts import steepest_rise
from nmre.dsp.emg import OnsetDetector, condition_and_detect
from nmre.engine.nodes import Node, require
from nmre.errors import ConfigError, expected
from nmre.quality.gate import QualityGate
from nmre.rules._runs import RunFinder
from nmre.rules.base import Episode, FileResolver, Measured, Param, Rule, check_unit

__all__ = [
    "CoContractionRule",
    "CombinedRule",
    "ContractionRule",
    "OnsetNode",
    "OnsetOrderRule",
    "RatioRule",
    "RelaxationRule",
    "muscle_row",
]


def muscle_row(info: StreamInfo, muscle: str, who: str) -> int:
    """Row of ``muscle`` in an EMG(-derived) stream: by channel placement, else by channel name."""
    for i, c in enumerate(info.channels):
        if c.placement is not None and c.placement.muscle == muscle:
            return i
    names = info.channel_names
    if muscle in names:
        return names.index(muscle)
    have = [c.placement.muscle if c.placement and c.placement.muscle else c.name for c in info.channels]
    raise ConfigError(f"{who}: expected a {muscle!r} channel in {info.id!r}, got {', '.join(have)}")


class OnsetNode(Node):
    """Detects EMG onsets on a conditioned signal, calibrating its baseline from the first rest period.

    The conditioning processor (e.g. band-pass → TKEO → rectify → 30 Hz low-pass)
    runs from the first sample. Samples from ``settle`` to ``settle + rest``
    seconds after the stream starts are the rest baseline (the patient stands
    still while the session starts); the detector then calibrates
    (median + k·1.4826·MAD) and raises ``emg.onset``/``emg.offset`` events whose
    payload names the channel and muscle. Until then it raises nothing.

    With ``burst = (before, after)`` each threshold onset is also timed on the
    muscle's main burst: ``after`` s after the crossing, the steepest relative
    rise of the conditioned signal from ``before`` s before the crossing to then
    (:func:`nmre.dsp.bursts.steepest_rise`) is raised as ``emg.burst`` (payload
    ``channel``, ``muscle``, ``threshold_time``, ``rise``: the factor). The rest
    threshold says that the muscle switched on, the rise when its burst began:
    low-level pre-activity before the burst crosses the threshold by luck, in one
    muscle and not in another, and is not the burst.

    Parameters
    ----------
    stream : str
        EMG stream id.
    conditioner : Processor
        Streaming conditioning of the raw EMG.
    detector : nmre.dsp.emg.OnsetDetector
        Double-threshold detector, not yet calibrated.
    rest, settle : float
        Baseline length and the filter settling time skipped before it, seconds.
    burst : (float, float), optional
        Seconds before and after each threshold crossing in which the burst's rise is
        looked for (None: threshold onsets only).
    """

    #: How far behind the newest sample a threshold crossing can still be reported, s: the detector decides
    #: ``t_on`` (0.025-0.1 s) after the crossing, with dips of at most ``max_gap``; 1 s holds for every setting.
    HIST_MARGIN = 1.0

    def __init__(
        self,
        stream: str,
        conditioner: Processor,
        detector: OnsetDetector,
        rest: float = 1.2,
        settle: float = 0.3,
        burst: tuple[float, float] | None = None,
    ) -> None:
        if not (rest > 0 and settle >= 0):
            raise ConfigError(
                f"onsets of {stream!r}: " + expected("rest > 0 s and settle >= 0 s", (rest, settle))
            )
        if burst is not None and not (
            len(burst) == 2 and all(math.isfinite(b) for b in burst) and burst[0] >= 0 and burst[1] > 0
        ):
            raise ConfigError(
                f"onsets of {stream!r}: burst: " + expected("(before >= 0 s, after > 0 s)", burst)
            )
        self.inputs = (stream,)
        self.name = f"onsets.{stream}"
        self.conditioner = conditioner
        self.detector = detector
        self.rest, self.settle = rest, settle
        self.burst = None if burst is None else (float(burst[0]), float(burst[1]))
        self._muscles: tuple[str, ...] = ()
        self._fs = 0.0
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        info = require(infos, self.inputs[0], self.name)
        self._muscles = tuple(
            (c.placement.muscle if c.placement and c.placement.muscle else c.name) for c in info.channels
        )
        self._fs = float(info.rate or 0.0)
        if self.burst is not None and not self._fs > 0:
            raise ConfigError(
                f"{self.name}: burst timing needs a regularly sampled stream, got rate {info.rate!r}"
            )
        return []

    def _keep(self, t: np.ndarray, x: np.ndarray) -> None:
        """Keep the conditioned blocks a search may still need (references: the conditioner's outputs are
        new arrays every block, and appending one costs far less than copying it into a ring). With each
        block its first and last sample time as floats, so that a search finds its span by bisection."""
        n = t.shape[0]
        if n:  # an empty block holds no sample of any span
            self._hist.append((t, x))
            self._first.append(float(t[0]))
            self._last.append(float(t[n - 1]))

    def _forget(self, newest: float) -> None:
        """Drop the blocks that end before every span still to search: the pending ones, and those of
        onsets not found yet (a crossing is reported at most :data:`HIST_MARGIN` s behind the newest
        sample). By sample time, so that any block size keeps the same samples for a search."""
        assert self.burst is not None
        oldest = newest - self.HIST_MARGIN
        if self._searches:
            oldest = min(oldest, min(s[2] for s in self._searches))
        oldest -= self.burst[0]
        hist, first, last = self._hist, self._first, self._last
        while len(hist) > 1 and last[0] < oldest:
            hist.popleft()
            first.popleft()
            last.popleft()

    def reset(self) -> None:
        self.conditioner.reset()
        self._t0: float | None = None
        self._rest: list[np.ndarray] = []
        self._calibrated = False
        self._events: list[Event] = []
        self._searches: list[tuple[float, int, float]] = []  # (due, channel, threshold time)
        self._hist: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._first: deque[float] = deque()  # each kept block's first and last sample time
        self._last: deque[float] = deque()

    def push(self, block: Block) -> list[Block]:
        n = block.times.shape[0]
        if n == 0:
            return []
        if self._calibrated:
            # the usual live block: conditioning and detection in one kernel call (the same events)
            v = condition_and_detect(self.conditioner, self.detector, block)
            if v is not None:
                if self.burst is not None:
                    self._keep(block.times, v)
                return self._detected(block.times, n)
        y = self.conditioner.process(block)
        if self._t0 is None:
            self._t0 = float(block.times[0])
        if self.burst is not None:  # from the start: a burst just after the rest window is searched into it
            self._keep(y.times, y.values)
        if not self._calibrated:
            t = y.times - self._t0
            keep = (t >= self.settle) & (t < self.settle + self.rest)
            if keep.any():
                self._rest.append(y.values[:, keep])
            if t[-1] >= self.settle + self.rest:
                rest = np.concatenate(self._rest, axis=1)
                self.detector.calibrate(rest)
                self._calibrated = True
                after = t >= self.settle + self.rest
                at = float(y.times[int(np.argmax(after))])  # the first sample after the rest window
                y = Block(
                    y.stream, y.times[after], np.ascontiguousarray(y.values[:, after]), y.seq, 0, y.arrival
                )
                mu, sigma = self.detector.mu, self.detector.sigma
                base: dict[str, Any] = {
                    "muscles": list(self._muscles),
                    "mu": mu,
                    "sigma": sigma,
                    "seconds": self.rest,
                }
                base["timing"] = "threshold" if self.burst is None else "burst"
                self._events.append(
                    Event(
                        at,
                        kinds.EMG_BASELINE,
                        self.name,
                        base,
                        therapist_message=f"EMG rest baseline taken over {self.rest:g} s",
                    )
                )
            else:
                return []
        self.detector.process(y)
        return self._detected(y.times, y.times.shape[0])

    def _detected(self, times: np.ndarray, n: int) -> list[Block]:
        """The detector's events as the node's (with the muscle), and the burst searches now due."""
        det = self.detector
        scr = det.__dict__.get("_input_screen")
        # most blocks raise none: the detector's queue and its screen's looked at without two calls
        got = det.pop_events() if getattr(det, "_events", True) or (scr is not None and scr.events) else ()
        for ev in got:
            payload = dict(ev.payload)
            if "channel" not in payload:  # the detector's own input screen (dsp.bad_input): no muscle
                self._events.append(
                    Event(
                        ev.time,
                        ev.kind,
                        self.name,
                        payload,
                        ev.patient_message,
                        ev.therapist_message,
                        detected_at=ev.detected_at,
                    )
                )
                continue
            c = int(payload["channel"])
            payload["muscle"] = self._muscles[c]
            self._events.append(Event(ev.time, ev.kind, self.name, payload, detected_at=ev.detected_at))
            if self.burst is not None and ev.kind == kinds.EMG_ONSET:
                bisect.insort(self._searches, (ev.time + self.burst[1], c, ev.time))  # by due time
        if n and (self._searches or self.burst is not None):
            newest = float(times[n - 1])
            if self._searches:
                self._search(newest)
            if self.burst is not None:
                self._forget(newest)
        return []

    def _search(self, now: float, all_: bool = False) -> None:
        """Time the burst of every threshold onset whose search span has passed (``all_``: every one)."""
        assert self.burst is not None
        if not all_ and self._searches[0][0] > now:  # in order of their due times
            return
        due = [s for s in self._searches if all_ or s[0] <= now]
        if not due:
            return
        self._searches = [s for s in self._searches if not (all_ or s[0] <= now)]
        for _, c, t_cross in due:
            t, x = self._span(c, t_cross - self.burst[0], t_cross + self.burst[1])
            k, rise = steepest_rise(x, self._fs)
            if k < 0:
                continue
            payload = {"channel": c, "muscle": self._muscles[c], "threshold_time": t_cross, "rise": rise}
            self._events.append(Event(float(t[k]), kinds.EMG_BURST, self.name, payload, detected_at=now))

    def _span(self, c: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """(times, channel ``c``'s values) kept with ``lo <= time <= hi``, oldest first: the samples a boolean
        selection of the whole kept history gives, found per block by bisection (the kept times never go
        back: the engine drops a block that starts before its stream's last sample), so only the span is
        copied (joining the whole history per search cost ~0.2 ms at 1 s blocks)."""
        ts: list[np.ndarray] = []
        xs: list[np.ndarray] = []
        first, last = self._first, self._last
        i = bisect.bisect_left(last, lo)  # the first block whose last sample is at or after lo
        for t, x in itertools.islice(self._hist, i, None):
            t_first, t_last = first[i], last[i]
            i += 1
            if t_first > hi:
                break
            if t_first >= lo and t_last <= hi:  # the whole block lies in the span
                ts.append(t)
                xs.append(x[c])
                continue
            a = int(t.searchsorted(lo, "left"))
            b = int(t.searchsorted(hi, "right"))
            if b > a:
                ts.append(t[a:b])
                xs.append(x[c, a:b])
        if not ts:
            return np.zeros(0), np.zeros(0)
        if len(ts) == 1:
            return ts[0], xs[0]
        return np.concatenate(ts), np.concatenate(xs)

    def finish(self, time: float) -> None:
        """The session ended: time the bursts still waiting for their span with the samples there are."""
        if self._searches:
            self._search(time, all_=True)

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out


class OnsetOrderRule(Rule):
    """Per unit, ``lag = onset(late) - onset(early)`` in ms must lie inside ``[lo, hi]``.

    Onsets come from an :class:`OnsetNode` (``emg.onset`` events with a
    ``muscle``). For each unit the rule takes each muscle's last onset before the
    unit's peak (``peak_time`` of a rep; its end otherwise) and not earlier than
    ``lookback`` s before its start. A muscle without an onset there makes the
    unit not judged ("no VMO onset found"), never a wrong correction.

    When the node times bursts (its ``emg.baseline`` says ``timing = burst``), each
    muscle's onset is its main burst's instead: of the ``emg.burst`` events in the
    same span, the steepest rise (largest ``rise``), so low-level pre-activity
    that crossed the rest threshold in one muscle and not in the other does not
    decide the order. The unit waits (up to ``MAX_WAIT``) until every threshold
    onset in its span has been timed on its burst.

    Clinical use: VMO should switch on no later than VL (patellofemoral pain,
    reference/clinical.md §2.2); tolerance ~20–30 ms, the detector's own SD is
    ~15 ms (dsp.md §1.4).
    """

    KIND = "onset_order"
    ABOUT = "one muscle's onset minus another's (ms) per unit inside a band: VMO no later than VL"
    MEASURE_WHEN_READY = True  # from the onsets kept (the EMG covering the unit may come after its end)
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "early": Param("muscle", "the muscle that should switch on first"),
        "late": Param("muscle", "the muscle that should not switch on later than the tolerance allows"),
        "onsets": Param("text", "the derived EMG-onset signal", "onsets"),
        "lookback": Param(
            "number", "how long before the unit's start an onset still counts", 1.0, unit="s", lo=0.0
        ),
    }

    def __init__(
        self, id: str, *, early: str, late: str, onsets_from: str, lookback: float = 1.0, **common: Any
    ) -> None:
        if early == late:
            raise ConfigError(f"rule {id!r}: expected two different muscles, got {early!r} twice")
        if not (math.isfinite(lookback) and lookback >= 0):
            raise ConfigError(f"rule {id!r}: lookback: " + expected("a number of seconds >= 0", lookback))
        self.early, self.late, self.onsets_from, self.lookback = early, late, onsets_from, float(lookback)
        self._onsets: dict[str, deque[float]] = {early: deque(maxlen=16), late: deque(maxlen=16)}
        # (burst onset, threshold time, rise) per muscle
        self._bursts: dict[str, deque[tuple[float, float, float]]] = {
            early: deque(maxlen=16),
            late: deque(maxlen=16),
        }
        self._burst_timing = False
        self._last_lag = math.nan
        super().__init__(id, **common)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        return {
            "early": params["early"],
            "late": params["late"],
            "lookback": params["lookback"],
            "onsets_from": res.stream(params["onsets"]),
        }

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        check_unit(self.name, "ms", self.unit)

    def adapt_gate(self, gate: QualityGate) -> QualityGate:
        """An onset can hide in a hole longer than the timing tolerance itself: the gap limit is at most it."""
        tol = max(abs(v) for v in (self.lo, self.hi) if v is not None) / 1e3
        if tol > 0 and gate.needs.max_gap > tol:
            return QualityGate(gate.monitor, gate.streams, replace(gate.needs, max_gap=tol))
        return gate

    def quality_span(self, episode: Episode) -> tuple[float, float]:
        """Onsets are searched from ``lookback`` before the unit's start to its peak."""
        return episode.start - self.lookback, self._peak(episode)

    @staticmethod
    def _peak(episode: Episode) -> float:
        peak = episode.payload.get("peak_time", episode.end)
        return float(peak) if isinstance(peak, (int, float)) else episode.end

    def reset(self) -> None:
        super().reset()
        for d in self._onsets.values():
            d.clear()
        for b in self._bursts.values():
            b.clear()
        self._burst_timing = False
        self._last_lag = math.nan

    def takes_other_event(self, kind: str) -> bool:
        return kind == kinds.EMG_ONSET or kind == kinds.EMG_BURST or kind == kinds.EMG_BASELINE

    def on_other_event(self, event: Event) -> None:
        if event.source != self.onsets_from:
            return
        m = event.payload.get("muscle")
        if event.kind == kinds.EMG_ONSET and m in self._onsets:
            self._onsets[m].append(event.time)
        elif event.kind == kinds.EMG_BURST and m in self._bursts:
            p = event.payload
            self._bursts[m].append((event.time, float(p["threshold_time"]), float(p["rise"])))
        elif event.kind == kinds.EMG_BASELINE and event.payload.get("timing") == "burst":
            self._burst_timing = True

    def ready(self, episode: Episode) -> bool:
        """With burst timing: every threshold onset in the unit's span has its burst timed."""
        if not self._burst_timing:
            return True
        peak, lo = self._peak(episode), episode.start - self.lookback
        for m, ons in self._onsets.items():
            timed = {b[1] for b in self._bursts[m]}
            if any(lo <= t <= peak and t not in timed for t in ons):
                return False
        return True

    def measure(self, episode: Episode) -> Measured:
        peak = self._peak(episode)
        lo = episode.start - self.lookback

        def pick(m: str) -> float:
            if self._burst_timing:  # the main burst: the steepest rise among those timed in the span
                b = [x for x in self._bursts[m] if lo <= x[0] <= peak]
                return max(b, key=lambda x: x[2])[0] if b else math.nan
            c = [t for t in self._onsets[m] if lo <= t <= peak]
            return c[-1] if c else math.nan

        te, tl = pick(self.early), pick(self.late)
        missing = [m for m, t in ((self.early, te), (self.late, tl)) if not math.isfinite(t)]
        if missing:
            return Measured(math.nan, reason=f"no {' or '.join(m.upper() for m in missing)} onset found")
        lag = (tl - te) * 1e3
        self._last_lag = lag
        return Measured(
            lag,
            {"early": self.early, "late": self.late},
            why=f"{self.late} on {lag:+.0f} ms relative to {self.early}",
        )

    def signals(self) -> list[SignalState]:
        return [SignalState(f"{self.late}-{self.early} onset lag", self._last_lag, "ms", self.lo, self.hi)]


#: Seconds of envelope (and of a combined rule's condition signal) kept: the longest unit a ratio is measured
#: over (its samples are reduced when it is judged, by their times).
RATIO_HISTORY = 30.0


class _History:
    """The recent blocks of one stream (references), by sample time: a unit's samples whatever the blocks."""

    __slots__ = ("blocks", "dropped", "reached", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.clear()

    def clear(self) -> None:
        self.blocks: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self.reached = -math.inf
        self.dropped = -math.inf  # the last sample time let go of

    def add(self, times: np.ndarray, values: np.ndarray) -> None:
        n = times.shape[0]
        if n == 0:
            return
        self.blocks.append((times, values))
        self.reached = float(times[n - 1])
        horizon = self.reached - self.seconds
        blocks = self.blocks
        while float(blocks[0][0][-1]) < horizon:
            self.dropped = float(blocks.popleft()[0][-1])

    def first(self) -> float:
        return float(self.blocks[0][0][0]) if self.blocks else math.inf

    def span(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """``(times, values)`` of the samples with ``t0 <= t <= t1`` (values: all rows)."""
        mine = []
        for t, x in reversed(self.blocks):
            if t[-1] < t0:
                break
            if t[0] <= t1:
                mine.append((t, x))
        if not mine:
            return np.zeros(0), np.zeros((0, 0))
        mine.reverse()
        t = np.concatenate([m[0] for m in mine]) if len(mine) > 1 else mine[0][0]
        x = np.concatenate([m[1] for m in mine], axis=1) if len(mine) > 1 else mine[0][1]
        i, j = np.searchsorted(t, t0, "left"), np.searchsorted(t, t1, "right")
        return t[i:j], x[:, i:j]


class RatioRule(Rule):
    """Mean envelope of ``numerator`` over mean envelope of ``denominator`` per unit, inside ``[lo, hi]``.

    Both muscles come from one envelope stream (rows found by channel placement).
    The ratio of means over the unit is ``Σ num / Σ den`` over the samples of the
    unit (``start <= t <= end``) finite in both, summed once the unit is judged
    from the envelope kept (:data:`RATIO_HISTORY`), so the value depends on the
    samples only, not on the blocks they came in. Healthy knees show VMO:VL about
    1:1 (clinical.md §2.2, Felder & Leeson); UT:LT falls with scapular EMG
    biofeedback (Huang 2013, clinical.md §2.5).
    """

    KIND = "ratio"
    ABOUT = "mean envelope of one muscle over another's per unit inside a band (VMO:VL, UT:LT)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the derived EMG-envelope signal", "envelope"),
        "numerator": Param("muscle", "muscle above the fraction line"),
        "denominator": Param("muscle", "muscle below the fraction line"),
    }
    MEASURE_WHEN_READY = True  # from the envelope kept, once it has reached the unit's end

    def __init__(self, id: str, *, stream: str, numerator: str, denominator: str, **common: Any) -> None:
        if numerator == denominator:
            raise ConfigError(f"rule {id!r}: expected two different muscles, got {numerator!r} twice")
        self.stream, self.numerator, self.denominator = stream, numerator, denominator
        self._env = _History(RATIO_HISTORY)
        self._rows = (0, 1)
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        info = require(infos, self.stream, self.name)
        self._rows = (
            muscle_row(info, self.numerator, self.name),
            muscle_row(info, self.denominator, self.name),
        )
        check_unit(self.name, "1", self.unit)

    def reset(self) -> None:
        super().reset()
        self._env.clear()

    def push(self, block: Block) -> list[Block]:
        if block.stream == self.stream and block.times.shape[0]:
            self._env.add(block.times, block.values)
            if self._waiting:  # a closed unit waited for these samples
                self._judge_ready(-math.inf)
        return []

    def ready(self, episode: Episode) -> bool:
        return self._env.reached >= episode.end

    def _counted(self, episode: Episode) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
        """The unit's envelope times and the two rows, finite in both; or a reason it cannot be measured."""
        t0, t1 = episode.start, episode.end
        h = self._env
        if h.first() > t0 and h.dropped >= t0:
            empty = np.zeros(0)
            why = f"{self.label}: the {self.episodes.unit} began more than {h.seconds:g} s before it ended"
            return empty, empty, empty, why
        t, x = self._env.span(t0, t1)
        if t.shape[0] == 0:
            empty = np.zeros(0)
            return empty, empty, empty, None
        a, b = x[self._rows[0]], x[self._rows[1]]
        ok = np.isfinite(a) & np.isfinite(b)
        if not ok.all():
            t, a, b = t[ok], a[ok], b[ok]
        return t, a, b, None

    @staticmethod
    def _ratio(a: np.ndarray, b: np.ndarray) -> float:
        if a.shape[0] == 0:
            return math.nan
        den = float(b.sum())
        return float(a.sum()) / den if den > 0 else math.nan

    def measure(self, episode: Episode) -> Measured:
        _, a, b, why = self._counted(episode)
        if why is not None:
            return Measured(math.nan, reason=why)
        return Measured(self._ratio(a, b), {"numerator": self.numerator, "denominator": self.denominator})


_WHEN = ("above", "below")


class CombinedRule(RatioRule):
    """EMG and IMU together: a muscle ratio counted only while a movement condition holds.

    Example: VMO:VL at least ``lo`` while knee flexion is above 45°. An envelope
    sample counts while the condition signal's latest finite sample at or before
    it (``when`` stream and channel) is ``above`` (or ``below``) ``threshold``
    (zero-order hold by sample time: the condition as it was then, causal, the
    same in any split into blocks). A unit in which the condition never held is
    not judged ("knee flexion never above 45 deg").
    """

    KIND = "combined"
    ABOUT = "a muscle ratio counted only while another signal meets a condition (EMG + IMU)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        **RatioRule.PARAMS,
        "when": Param("signal", "the condition signal, <derived signal>.<channel>"),
        "condition": Param(
            "choice", "the condition holds above or below the threshold", "above", choices=_WHEN
        ),
        "threshold": Param("number", "the condition's threshold, in when_unit"),
        "when_unit": Param("text", "the unit of the condition signal and threshold"),
        "min_time": Param(
            "number",
            "shortest time the condition must hold in a unit for the ratio to be judged (0: any)",
            0.0,
            unit="s",
            lo=0.0,
        ),
    }

    def __init__(
        self,
        id: str,
        *,
        when: tuple[str, str],
        threshold: float,
        when_unit: str,
        condition: str = "above",
        min_time: float = 0.0,
        **kw: Any,
    ) -> None:
        if isinstance(min_time, bool) or not (math.isfinite(min_time) and min_time >= 0):
            raise ConfigError(f"rule {id!r}: min_time: " + expected("a number of seconds >= 0", min_time))
        self.min_time = float(min_time)
        self._rate = 0.0
        if condition not in _WHEN:
            raise ConfigError(f"rule {id!r}: condition: " + expected("above or below", condition))
        if isinstance(threshold, bool) or not math.isfinite(threshold):
            raise ConfigError(f"rule {id!r}: threshold: " + expected("a finite number", threshold))
        self.when, self.threshold, self.when_unit, self.condition = (
            when,
            float(threshold),
            when_unit,
            condition,
        )
        self._cond = _History(RATIO_HISTORY + 5.0)  # a little more: the condition before the unit's start
        self._when_dt = 0.0
        self._when_row = 0
        kw.setdefault("inputs", (when[0], kw["stream"]))
        super().__init__(id, **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        self._rate = float(require(infos, self.stream, self.name).rate or 0.0)
        info = require(infos, self.when[0], self.name)
        names = info.channel_names
        if self.when[1] not in names:
            raise ConfigError(
                f"{self.name}: expected a channel of {self.when[0]!r} ({', '.join(names)}), got {self.when[1]!r}"
            )
        self._when_row = names.index(self.when[1])
        self._when_dt = 1.0 / info.rate if info.rate > 0 else 0.0
        have = info.channels[self._when_row].unit
        if have != self.when_unit:
            raise ConfigError(
                f"{self.name}: when_unit: "
                + expected(f"{have!r} (the unit of {self.when[0]}:{self.when[1]})", self.when_unit)
            )

    def reset(self) -> None:
        super().reset()
        self._cond.clear()

    def push(self, block: Block) -> list[Block]:
        if block.times.shape[0] == 0:
            return []
        if block.stream == self.when[0] and block.stream != self.stream:
            self._cond.add(block.times, block.values[self._when_row : self._when_row + 1])
            if self._waiting:
                self._judge_ready(-math.inf)
            return []
        return super().push(block)

    def ready(self, episode: Episode) -> bool:
        # the condition's next sample (one period after its latest) would come after the unit's end
        return super().ready(episode) and self._cond.reached + self._when_dt > episode.end

    def _holds(self, t: np.ndarray) -> np.ndarray:
        """Whether the condition held at each time of ``t`` (its latest finite sample at or before it)."""
        if t.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        wt, wx = self._cond.span(-math.inf, float(t[-1]))
        if wt.shape[0] == 0:
            return np.zeros(t.shape[0], dtype=bool)
        w = wx[0]
        fin = np.isfinite(w)
        if not fin.all():
            wt, w = wt[fin], w[fin]
        on = w > self.threshold if self.condition == "above" else w < self.threshold
        i = np.searchsorted(wt, t, "right") - 1
        held: np.ndarray = (i >= 0) & on[np.maximum(i, 0)]
        return held

    def measure(self, episode: Episode) -> Measured:
        t, a, b, why = self._counted(episode)
        if why is not None:
            return Measured(math.nan, reason=why)
        sel = self._holds(t)
        a, b = a[sel], b[sel]
        n = int(a.shape[0])
        if n == 0:
            return Measured(
                math.nan,
                reason=f"{self.when[1]} never {self.condition} {self.threshold:g} {self.when_unit} "
                f"during the {self.episodes.unit}",
            )
        held = n / self._rate if self._rate > 0 else math.inf
        if held < self.min_time:
            return Measured(
                math.nan,
                reason=f"{self.when[1]} {self.condition} {self.threshold:g} {self.when_unit} for only "
                f"{held:.2f} s (at least {self.min_time:g} s is needed to judge the ratio)",
            )
        value = self._ratio(a, b)
        why_ = (
            f"{self.label} {value:.2f} while {self.when[1]} {self.condition} "
            f"{self.threshold:g} {self.when_unit}"
        )
        detail = {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "when": f"{self.when[0]}:{self.when[1]}",
            "samples": n,
        }
        return Measured(value, detail, why=why_)


_INDICES = ("falconer_winter", "rudolph")


class CoContractionRule(Rule):
    """Co-contraction index of two muscles' envelopes per unit, at most ``hi`` %.

    ``falconer_winter``: ``2·Σ min(a, b) / Σ (a + b) × 100`` (overlap, 0–100 %);
    ``rudolph``: mean of ``(lower / higher)·(lower + higher)`` (grows with the
    total activation too; in the envelope's unit, so use it on %-normalised
    envelopes). Both as in :func:`nmre.dsp.cci_falconer_winter` /
    :func:`nmre.dsp.cci_rudolph` (dsp.md §1.5), accumulated as the samples come.
    """

    KIND = "cocontraction"
    ABOUT = "co-contraction index (Falconer & Winter or Rudolph) of two muscles per unit below a limit"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the derived EMG-envelope signal", "envelope"),
        "agonist": Param("muscle", "the agonist"),
        "antagonist": Param("muscle", "the antagonist"),
        "index": Param("choice", "which co-contraction index", "falconer_winter", choices=_INDICES),
    }

    def __init__(
        self,
        id: str,
        *,
        stream: str,
        agonist: str,
        antagonist: str,
        index: str = "falconer_winter",
        **common: Any,
    ) -> None:
        if index not in _INDICES:
            raise ConfigError(f"rule {id!r}: index: " + expected(f"one of {', '.join(_INDICES)}", index))
        if agonist == antagonist:
            raise ConfigError(f"rule {id!r}: expected two different muscles, got {agonist!r} twice")
        self.stream, self.agonist, self.antagonist, self.index = stream, agonist, antagonist, index
        self._rows = (0, 1)
        self._num = self._den = 0.0
        self._n = 0
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        info = require(infos, self.stream, self.name)
        self._rows = (muscle_row(info, self.agonist, self.name), muscle_row(info, self.antagonist, self.name))
        check_unit(self.name, "%", self.unit)

    def reset(self) -> None:
        super().reset()
        self.begin(Episode(None, 0.0))

    def begin(self, episode: Episode) -> None:
        self._num = self._den = 0.0
        self._n = 0

    def push(self, block: Block) -> list[Block]:
        if self._episode is None or block.n_samples == 0:
            return []
        a, b = block.values[self._rows[0]], block.values[self._rows[1]]
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        if not a.size:
            return []
        lower, higher = np.minimum(a, b), np.maximum(a, b)
        if self.index == "falconer_winter":
            self._num += 2.0 * float(lower.sum())
            self._den += float((a + b).sum())
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(higher > 0, lower / np.where(higher > 0, higher, 1.0), 0.0)
            self._num += float((r * (lower + higher)).sum())
        self._n += int(a.size)
        return []

    def measure(self, episode: Episode) -> Measured:
        if self._n == 0:
            return Measured(math.nan)
        if self.index == "falconer_winter":
            v = 100.0 * self._num / self._den if self._den > 0 else math.nan
        else:
            v = self._num / self._n
        return Measured(v, {"agonist": self.agonist, "antagonist": self.antagonist, "index": self.index})


#: Seconds of envelope kept before a unit's start, so that a unit begins with its own start. The contractions
#: segmenter confirms a rise (or a fall) 0.25 s into it and stamps the unit's start (payload ``start``) where
#: it began: the event that opens a hold arrives 0.25 s (plus a block) after the hold's start, and those
#: samples belong to the hold.
ENVELOPE_LEAD_SECONDS = 1.0


class _EnvelopeChannel(Rule):
    """A rule on one muscle's envelope that needs the unit's samples, by their times.

    The channel's last ``max_seconds`` (plus :data:`ENVELOPE_LEAD_SECONDS`) are kept at all times
    (references to the blocks' rows), and a unit is measured, once the envelope has reached the time of
    the event that closed it, over the samples from its start (the opening event's payload ``start``
    where it has one, else the event's time: the event that opens a unit arrives after the unit's start)
    to that event's time (the samples before it). What is measured depends on the samples only, not on
    the blocks they came in.
    """

    MEASURE_WHEN_READY = True

    def __init__(
        self, id: str, *, stream: str, muscle: str, max_seconds: float = 120.0, **common: Any
    ) -> None:
        self.stream, self.muscle, self.max_seconds = stream, muscle, float(max_seconds)
        self._hist = _History(self.max_seconds + ENVELOPE_LEAD_SECONDS)
        self._row = 0
        self._opened = math.nan
        self._spans: deque[tuple[float, float]] = deque()  # (first, last) sample time of each closed unit
        self.rate = 0.0
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        info = require(infos, self.stream, self.name)
        row = muscle_row(info, self.muscle, self.name)
        if not info.rate > 0:
            raise ConfigError(f"{self.name}: expected a regularly sampled envelope, got rate {info.rate!r}")
        self.rate = info.rate
        self._row = row
        check_unit(self.name, info.channels[row].unit, self.unit)

    def reset(self) -> None:
        super().reset()
        self._hist.clear()
        self._opened = math.nan
        self._spans = deque()

    def begin(self, episode: Episode) -> None:
        start = episode.payload.get("start", episode.start)
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
            start = episode.start
        self._opened = float(start)

    def _close(self, episode: Episode, end: Event) -> None:
        opened = self._opened if self._opened == self._opened else episode.start
        self._spans.append((opened, end.time))
        self._opened = math.nan
        super()._close(episode, end)

    def push(self, block: Block) -> list[Block]:
        if block.stream == self.stream and block.times.shape[0]:
            self._hist.add(block.times, block.values[self._row : self._row + 1].copy())
            if self._waiting:  # a closed unit waited for these samples
                self._judge_ready(-math.inf)
        return []

    def ready(self, episode: Episode) -> bool:
        return not self._spans or self._hist.reached >= self._spans[0][1]

    def unit_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """The samples ``(t, x (1, n))`` of the unit being measured (the oldest closed one, measured once)."""
        t0, t1 = self._spans.popleft() if self._spans else (math.nan, math.nan)
        t, x = self._hist.span(t0, t1)
        n = int(np.searchsorted(t, t1, side="left"))  # before the closing event's sample
        return (t[:n], x[:, :n]) if n else (np.zeros(0), np.zeros((1, 0)))


#: Moving-mean window of the envelope whose half maximum bounds the held part of a contraction, s.
HELD_SMOOTH = 0.25


def _held_part(x: np.ndarray, run: np.ndarray, rate: float) -> np.ndarray:
    """The samples of a contraction's envelope ``x`` (a unit's finite samples) that belong to its held part.

    ``run`` marks the contraction's samples. The held part runs from the first to the last of them at
    which the ``HELD_SMOOTH``-second centred moving mean of ``x`` is at or above half of its maximum over
    the run: the full width at half maximum, as the hold is timed (the ``contractions`` segmenter), so
    the rise to the level and the release from it, which lie mostly below it, do not pull the level of
    the hold down (with 0.5 s ramps on a 5 s hold they did by 8-10 % of the level).
    """
    n = x.shape[0]
    w = max(1, round(HELD_SMOOTH * rate))
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(n)
    lo, hi = np.maximum(i - w // 2, 0), np.minimum(i + w - w // 2, n)
    mm = (c[hi] - c[lo]) / (hi - lo)  # centred moving mean (over the samples there are at the unit's edges)
    inside = np.flatnonzero(run)
    above = inside[mm[inside] >= 0.5 * float(mm[inside].max())]
    return x[int(above[0]) : int(above[-1]) + 1]


class ContractionRule(_EnvelopeChannel):
    """Level of the contraction held in each unit (work period), % of the reference, inside ``[lo, hi]``.

    The contraction is the longest run of the envelope above ``on`` until it falls
    below ``off`` (hysteresis), lasting at least ``min_on`` and ignoring dips
    shorter than ``min_off`` (:class:`nmre.rules._runs.RunFinder`); its level is
    the mean envelope over the held part of that run, from the first to the last
    time its 0.25 s moving mean is at or above half of its maximum (the full width
    at half maximum: the rise and the release are not the level held). Without any run (a contraction too weak to
    cross ``on``) the level is the highest mean over ``window`` s of the unit, so a
    weak attempt is still measured, and reported as below the target.
    Threshold targets as a % of a calibration reference (Egzotech: 40 % of the
    calibration maximum; clinical.md §1.19, §2.1).
    """

    KIND = "contraction"
    ABOUT = "level of the contraction held in each work period (% reference), found with hysteresis"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the derived EMG-envelope signal", "envelope"),
        "muscle": Param("muscle", "the muscle trained"),
        "on": Param("number", "a contraction starts above this level", unit="%", lo=0.0),
        "off": Param("number", "and ends below this level (off <= on)", unit="%", lo=0.0),
        "min_on": Param("number", "shortest contraction counted", 0.25, unit="s", lo=0.0),
        "min_off": Param("number", "shortest dip that ends a contraction", 0.25, unit="s", lo=0.0),
        "window": Param(
            "number", "window of the level when no contraction is found", 1.0, unit="s", lo=0.0, lo_open=True
        ),
    }

    def __init__(
        self,
        id: str,
        *,
        on: float,
        off: float,
        min_on: float = 0.25,
        min_off: float = 0.25,
        window: float = 1.0,
        **kw: Any,
    ) -> None:
        if not (math.isfinite(window) and window > 0):
            raise ConfigError(f"rule {id!r}: window: " + expected("a number of seconds > 0", window))
        self.on, self.off, self.min_on, self.min_off, self.window = on, off, min_on, min_off, float(window)
        RunFinder(1000.0, on, off, min_on, min_off)  # check the thresholds now
        self._finder: RunFinder | None = None
        super().__init__(id, **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        self._finder = RunFinder(self.rate, self.on, self.off, self.min_on, self.min_off)

    def measure(self, episode: Episode) -> Measured:
        assert self._finder is not None
        t, x = self.unit_samples()
        x0 = x[0]
        ok = np.isfinite(x0)
        if not ok.any():
            return Measured(math.nan)
        run = self._finder.longest(t[ok], x0[ok])
        if run is not None:
            tf, xf = t[ok], x0[ok]
            level = float(_held_part(xf, (tf >= run[0]) & (tf < run[1]), self.rate).mean())
            return Measured(level, {"muscle": self.muscle, "held": round(run[1] - run[0], 3)})
        n = max(1, round(self.window * self.rate))
        xf = x0[ok]
        if xf.shape[0] <= n:
            level = float(xf.mean())
        else:
            c = np.concatenate([[0.0], np.cumsum(xf)])
            level = float(np.max(c[n:] - c[:-n]) / n)
        return Measured(
            level,
            {"muscle": self.muscle, "held": 0.0},
            why=f"{self.label} {level:.1f} % (best {self.window:g} s; never above {self.on:g} % for {self.min_on:g} s)",
        )


class RelaxationRule(_EnvelopeChannel):
    """Mean envelope over each rest period after ``settle`` s (to the rest's end), at most ``hi`` (% reference).

    A muscle that does not let go between contractions (incomplete relaxation)
    is as much a target of EMG biofeedback as a weak contraction (down-training;
    contract/relax calibration, clinical.md §2.1, §2.3).
    """

    KIND = "relaxation"
    ABOUT = "mean level in each rest period (% reference) below a limit: the muscle lets go"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the derived EMG-envelope signal", "envelope"),
        "muscle": Param("muscle", "the muscle trained"),
        "settle": Param("number", "time allowed to let go before the rest counts", 1.0, unit="s", lo=0.0),
    }

    def __init__(self, id: str, *, settle: float = 1.0, **kw: Any) -> None:
        if not (math.isfinite(settle) and settle >= 0):
            raise ConfigError(f"rule {id!r}: settle: " + expected("a number of seconds >= 0", settle))
        self.settle = float(settle)
        super().__init__(id, **kw)

    def measure(self, episode: Episode) -> Measured:
        t, x = self.unit_samples()
        # to the rest's end, not to the event that closed it (the next rise is confirmed 0.25 s into it)
        sel = (t >= episode.start + self.settle) & (t < episode.end) & np.isfinite(x[0])
        if not sel.any():
            return Measured(math.nan, reason=f"rest shorter than the {self.settle:g} s settle time")
        detail: dict[str, Any] = {"muscle": self.muscle, "settle": self.settle}
        if isinstance(episode.payload.get("hold"), int):  # the rest after hold k belongs to hold k's cycle
            detail["hold"] = episode.payload["hold"]
        return Measured(float(x[0][sel].mean()), detail)

"""EMG timing: onsets found against a rest baseline, and the order of muscle onsets per rep."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.dsp.emg import OnsetDetector
from nmre.engine.nodes import Node, require
from nmre.errors import ConfigError, expected
from nmre.quality.gate import QualityGate

__all__ = ["OnsetNode", "OnsetOrderRule"]


class OnsetNode(Node):
    """Detects EMG onsets on a conditioned signal, calibrating its baseline from the first rest period.

    The conditioning processor (e.g. band-pass → TKEO → rectify → 30 Hz low-pass)
    runs from the first sample. Samples from ``settle`` to ``settle + rest``
    seconds after the stream starts are the rest baseline (the patient stands
    still while the session starts); the detector then calibrates
    (median + k·1.4826·MAD) and raises ``emg.onset``/``emg.offset`` events whose
    payload names the channel and muscle. Until then it raises nothing.

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
    """

    def __init__(
        self,
        stream: str,
        conditioner: Processor,
        detector: OnsetDetector,
        rest: float = 1.2,
        settle: float = 0.3,
    ) -> None:
        if not (rest > 0 and settle >= 0):
            raise ConfigError(
                f"onsets of {stream!r}: " + expected("rest > 0 s and settle >= 0 s", (rest, settle))
            )
        self.inputs = (stream,)
        self.name = f"onsets.{stream}"
        self.conditioner = conditioner
        self.detector = detector
        self.rest, self.settle = rest, settle
        self._muscles: tuple[str, ...] = ()
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        info = require(infos, self.inputs[0], self.name)
        self._muscles = tuple(
            (c.placement.muscle if c.placement and c.placement.muscle else c.name) for c in info.channels
        )
        return []

    def reset(self) -> None:
        self.conditioner.reset()
        self._t0: float | None = None
        self._rest: list[np.ndarray] = []
        self._calibrated = False
        self._events: list[Event] = []

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        y = self.conditioner.process(block)
        if self._t0 is None:
            self._t0 = float(block.times[0])
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
                self._events.append(
                    Event(
                        at,
                        kinds.EMG_BASELINE,
                        self.name,
                        {"muscles": list(self._muscles), "mu": mu, "sigma": sigma, "seconds": self.rest},
                        therapist_message=f"EMG rest baseline taken over {self.rest:g} s",
                    )
                )
            else:
                return []
        self.detector.process(y)
        for ev in self.detector.pop_events():
            c = int(ev.payload["channel"])
            payload = dict(ev.payload)
            payload["muscle"] = self._muscles[c]
            self._events.append(Event(ev.time, ev.kind, self.name, payload, detected_at=ev.detected_at))
        return []

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out


class OnsetOrderRule(Node):
    """Per rep, muscle ``late`` must not switch on more than ``max_lag`` s after muscle ``early``.

    Onsets come from an :class:`OnsetNode` (events ``emg.onset`` with a
    ``muscle``). For each rep the rule takes each muscle's last onset before the
    rep's peak and not earlier than ``lookback`` s before the rep start, and
    reports ``lag = onset(late) - onset(early)`` in ms. A missing onset gives
    an outcome with ``ok`` false and error ``no_onset`` (said, not hidden).

    With a ``gate``, a rep whose EMG over that search span falls short of the
    gate's needs is reported as ``rep.unjudged`` instead.

    Clinical use: VMO should switch on no later than VL (patellofemoral pain,
    reference/clinical.md §2.2); the simulator injects ``late_vmo_onset``.
    """

    def __init__(
        self,
        kind: str,
        *,
        early: str,
        late: str,
        max_lag: float,
        reps_from: str,
        onsets_from: str,
        lookback: float = 1.0,
        message: str = "Squeeze the inner thigh muscle first",
        good: str = "Good muscle timing",
        error: str | None = None,
        gate: QualityGate | None = None,
    ) -> None:
        self.gate = gate
        if not math.isfinite(max_lag):
            raise ConfigError(f"rule {kind!r}: max_lag " + expected("a finite number of seconds", max_lag))
        self.kind, self.early, self.late, self.max_lag = kind, early, late, float(max_lag)
        self.reps_from, self.onsets_from, self.lookback = reps_from, onsets_from, lookback
        self.message, self.good, self.error = message, good, error
        self.name = f"rule.{kind}"
        self.inputs = ()
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        return []

    def reset(self) -> None:
        self._onsets: dict[str, deque[float]] = {self.early: deque(maxlen=16), self.late: deque(maxlen=16)}
        self._start = math.nan
        self._rep: object = None
        self._pending: list[Event] = []
        self._last_lag = math.nan

    def push(self, block: Block) -> list[Block]:
        return []

    def on_event(self, event: Event) -> None:
        if event.kind == kinds.EMG_ONSET and event.source == self.onsets_from:
            m = event.payload.get("muscle")
            if m in self._onsets:
                self._onsets[m].append(event.time)
        elif event.source == self.reps_from and event.kind == kinds.REP_START:
            self._start, self._rep = event.time, event.payload.get("rep")
        elif event.source == self.reps_from and event.kind == kinds.REP_END:
            peak = float(event.payload.get("peak_time", event.time))
            lo = self._start - self.lookback if math.isfinite(self._start) else -math.inf

            def pick(m: str) -> float:
                c = [t for t in self._onsets[m] if lo <= t <= peak]
                return c[-1] if c else math.nan

            te, tl = pick(self.early), pick(self.late)
            if self.gate is not None:  # the onsets are searched from lookback before the start to the peak
                t0 = lo if math.isfinite(lo) else float(event.payload.get("start", event.time))
                reason, spans = self.gate.check(t0, peak)
                if reason is not None:
                    self._pending.append(
                        self.gate.unjudged(
                            unit="rep", index=self._rep, rule=self.name, time=event.time, start=t0,
                            end=peak, reason=reason, spans=spans,
                        )
                    )  # fmt: skip
                    return
            self._pending.append(self._outcome(event, te, tl))

    def _outcome(self, end: Event, te: float, tl: float) -> Event:
        lag = tl - te
        limit_ms = self.max_lag * 1e3
        err: str | None
        if not math.isfinite(lag):
            missing = [m for m, t in ((self.early, te), (self.late, tl)) if not math.isfinite(t)]
            ok, msg, err = False, "Let's check the sensors", "no_onset"
            why = f"no {' or '.join(missing)} onset found"
        elif lag > self.max_lag:
            ok, msg, err = False, self.message, self.error
            why = f"{self.late} on {lag * 1e3:.0f} ms after {self.early} (limit {limit_ms:g} ms)"
        else:
            ok, msg, err = True, self.good, None
            why = f"{self.late} on {lag * 1e3:+.0f} ms relative to {self.early}"
        self._last_lag = lag
        return Event(
            end.time,
            kinds.rule(self.kind),
            self.name,
            {
                "ok": ok,
                "error": err,
                "rep": self._rep,
                "value": round(lag * 1e3, 1) if math.isfinite(lag) else None,
                "hi": limit_ms,
                "unit": "ms",
                "early": self.early,
                "late": self.late,
            },
            patient_message=msg,
            therapist_message=f"rep {self._rep}: {why}",
        )

    def pop_events(self) -> list[Event]:
        out, self._pending = self._pending, []
        return out

    def signals(self) -> list[SignalState]:
        return [
            SignalState(
                f"{self.late}-{self.early} onset lag", self._last_lag * 1e3, "ms", None, self.max_lag * 1e3
            )
        ]

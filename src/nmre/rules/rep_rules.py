"""Rules evaluated once per repetition.

A repetition is delimited by ``rep.start`` / ``rep.end`` events raised by a
segmenter node (see :class:`nmre.rules.reps.RepSegmenterNode`). A rule watches one
channel of one stream, reduces it over the rep (peak, minimum, mean) and
compares the result with a target band; the outcome is an event
``rule.<kind>`` with ``ok``, the value and the band in its payload, a short
message for the patient and a technical one for the therapist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.engine.nodes import Node, require
from nmre.errors import ConfigError, expected
from nmre.quality.gate import QualityGate

__all__ = ["RepBandRule"]

_STATS = ("max", "min", "mean")


class RepBandRule(Node):
    """A per-rep statistic of a watched signal must lie inside ``[lo, hi]``.

    Parameters
    ----------
    kind : str
        Rule kind, used in the event kind ``rule.<kind>`` (e.g. ``"squat_depth"``).
    stream, channel : str
        The watched signal (e.g. ``"angle.knee.r"``, ``"flexion"``).
    lo, hi : float or None
        Target band in the channel's unit; either side may be open.
    stat : {"max", "min", "mean"}
        How the signal is reduced over the rep.
    reps_from : str
        ``source`` of the ``rep.start``/``rep.end`` events that delimit reps.
    label : str
        Human name of the quantity ("peak knee flexion").
    below, above, good : str
        Patient messages when the value is below the band, above it, or inside.
    error_below, error_above : str or None
        Names of the movement error a value below/above the band means
        (e.g. ``"shallow_squat"``); reported as ``payload["error"]``.
    gate : QualityGate, optional
        Asked at the end of each rep; a rep whose raw inputs fall short of the
        gate's needs is reported as ``rep.unjudged`` instead of an outcome.
    """

    def __init__(
        self,
        kind: str,
        stream: str,
        channel: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        stat: str = "max",
        reps_from: str,
        label: str,
        below: str = "A little more",
        above: str = "A little less",
        good: str = "Good",
        error_below: str | None = None,
        error_above: str | None = None,
        gate: QualityGate | None = None,
    ) -> None:
        self.gate = gate
        if lo is None and hi is None:
            raise ConfigError(f"rule {kind!r}: expected a target band with lo and/or hi, got neither")
        for side, v in (("lo", lo), ("hi", hi)):
            if v is not None and not math.isfinite(v):
                raise ConfigError(f"rule {kind!r}: {side} " + expected("a finite number", v))
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"rule {kind!r}: expected lo <= hi, got lo={lo} > hi={hi}")
        if stat not in _STATS:
            raise ConfigError(f"rule {kind!r}: stat " + expected(f"one of {', '.join(_STATS)}", stat))
        self.kind, self.stream, self.channel = kind, stream, channel
        self.lo, self.hi, self.stat = lo, hi, stat
        self.reps_from, self.label = reps_from, label
        self.below, self.above, self.good = below, above, good
        self.error_below, self.error_above = error_below, error_above
        self.inputs = (stream,)
        self.name = f"rule.{kind}"
        self._row = 0
        self._unit = ""
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        info = require(infos, self.stream, self.name)
        names = info.channel_names
        if self.channel not in names:
            raise ConfigError(
                f"{self.name}: expected a channel of {self.stream!r} ({', '.join(names)}), got {self.channel!r}"
            )
        self._row = names.index(self.channel)
        self._unit = info.channels[self._row].unit
        return []

    def reset(self) -> None:
        self._in_rep = False
        self._rep: object = None
        self._start = math.nan
        self._acc = math.nan
        self._sum = 0.0
        self._n = 0
        self._latest = math.nan
        self._pending: list[Event] = []

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        x = block.values[self._row]
        finite = x[np.isfinite(x)]
        if finite.size:
            self._latest = float(finite[-1])
            if self._in_rep:
                if self.stat == "max":
                    v = float(finite.max())
                    self._acc = v if not (self._acc >= v) else self._acc
                elif self.stat == "min":
                    v = float(finite.min())
                    self._acc = v if not (self._acc <= v) else self._acc
                else:
                    self._sum += float(finite.sum())
                    self._n += int(finite.size)
        return []

    def on_event(self, event: Event) -> None:
        if event.source != self.reps_from:
            return
        if event.kind == kinds.REP_START:
            self._in_rep, self._rep, self._start = True, event.payload.get("rep"), event.time
            self._acc, self._sum, self._n = math.nan, 0.0, 0
        elif event.kind == kinds.REP_REJECTED:
            self._in_rep = False
        elif event.kind == kinds.REP_END and self._in_rep:
            self._in_rep = False
            value = self._sum / self._n if self.stat == "mean" and self._n else self._acc
            if self.gate is not None:
                start = float(event.payload.get("start", self._start))
                reason, spans = self.gate.check(start, event.time)
                if reason is not None:
                    self._pending.append(
                        self.gate.unjudged(
                            unit="rep", index=self._rep, rule=self.name, time=event.time, start=start,
                            end=event.time, reason=reason, spans=spans,
                            extra={"value": round(value, 3) if math.isfinite(value) else None},
                        )
                    )  # fmt: skip
                    return
            self._pending.append(self._outcome(event, value))

    def _outcome(self, end: Event, value: float) -> Event:
        lo, hi, u = self.lo, self.hi, self._unit
        error: str | None = None
        if not math.isfinite(value):
            ok, msg = False, "Let's try that again"
            why = f"{self.label}: no valid samples during the rep"
            error = "no_data"
        elif lo is not None and value < lo:
            ok, msg, error = False, self.below, self.error_below
            why = f"{self.label} {value:.1f} {u} < {lo:g} {u}"
        elif hi is not None and value > hi:
            ok, msg, error = False, self.above, self.error_above
            why = f"{self.label} {value:.1f} {u} > {hi:g} {u}"
        else:
            ok, msg = True, self.good
            why = f"{self.label} {value:.1f} {u} within target"
        return Event(
            time=end.time,
            kind=kinds.rule(self.kind),
            source=self.name,
            payload={
                "ok": ok,
                "error": error,
                "rep": self._rep,
                "value": round(value, 3) if math.isfinite(value) else None,
                "lo": lo,
                "hi": hi,
                "unit": u,
                "stat": self.stat,
                "signal": f"{self.stream}:{self.channel}",
            },
            patient_message=msg,
            therapist_message=f"rep {self._rep}: {why}",
        )

    def pop_events(self) -> list[Event]:
        out, self._pending = self._pending, []
        return out

    def signals(self) -> list[SignalState]:
        return [SignalState(self.label, self._latest, self._unit, self.lo, self.hi)]

"""The rule base class: units of judgement, outcome events, data-quality gating, declared parameters.

A rule judges one **unit** at a time: a rep, a hold, the rest after a hold, a
sway window, a postural transition or a target. Units are delimited by events
another node raises (:class:`Episodes` says which): ``rep.start``/``rep.end``
from a rep segmenter, ``hold.start``/``hold.end`` from a work/rest cycle,
``sway.window`` from the sway processor, and so on. While a unit is open the
rule reduces the samples it watches (running statistics, or a bounded buffer);
when it closes the rule measures one value and compares it with its tolerance
``[lo, hi]`` (either side may be open).

What a rule emits, once per unit (``source`` = ``rule.<id>``):

* an outcome ``rule.<id>`` with payload ``ok``, ``value``, ``lo``, ``hi``,
  ``unit``, ``error`` (the movement-error label when outside: ``error_below`` or
  ``error_above``), the unit's index under its name (``rep``, ``hold``,
  ``window``, ...), ``quantity``, ``start``, ``end``, and a short patient
  message and a therapist description; or
* ``<unit>.unjudged`` (``rep.unjudged``, ``window.unjudged``, ...) with payload
  ``rule``, the index, ``reason``, ``quality`` (the span quality of each raw
  stream the rule depends on, when it holds a :class:`nmre.quality.QualityGate`)
  and a neutral patient message: the data were not good enough (contract §4) or
  the value could not be measured ("no VMO onset found"). Nothing is counted as
  an error; the next unit is judged afresh, so judging resumes by itself.

Subclasses implement :meth:`Rule.begin` (a unit opened), :meth:`Rule.push`
(samples), :meth:`Rule.measure` (the unit closed: return a :class:`Measured`)
and declare :attr:`Rule.PARAMS`, the fields a drill file may give them, with
types, units and defaults; the drill loader validates files against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo
from nmre.engine.nodes import Node, require
from nmre.errors import ConfigError, expected
from nmre.quality.gate import NEUTRAL, QualityGate

__all__ = [
    "REQUIRED",
    "TOLERANCE",
    "Episode",
    "Episodes",
    "FileResolver",
    "Measured",
    "Messages",
    "Param",
    "Rule",
    "SampleBuffer",
    "channel_row",
    "check_unit",
]

F64 = NDArray[np.float64]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a :class:`Param` that a drill file must give.
REQUIRED: Any = _Required()
#: Unit of a :class:`Param` whose value is in the rule's tolerance unit (the quantity's unit).
TOLERANCE = "<tolerance>"


@dataclass(frozen=True, slots=True)
class Param:
    """A field a rule kind accepts in a drill file.

    ``type`` is one of ``number``, ``int``, ``text``, ``bool``, ``choice`` (one of
    ``choices``), ``signal`` (``"<derived signal>.<channel>"``), ``muscle`` (a
    muscle name from the placement vocabulary), ``texts`` (a list of text).
    ``unit`` names the unit of a number (``TOLERANCE``: the rule's unit);
    ``lo`` is the smallest allowed value (``lo_open``: strictly above it).
    Numbers are settings a therapist may override (``<rule id>.<field>``).
    """

    type: str
    about: str
    default: Any = REQUIRED
    unit: str | None = None
    choices: tuple[str, ...] = ()
    lo: float | None = None
    lo_open: bool = False


class FileResolver(Protocol):
    """What a rule kind's ``from_file`` hook may ask the drill builder: file names → stream ids.

    Every call records the raw streams behind what it returns, so the rule's
    judgement is gated on their quality.
    """

    def signal(self, ref: str, side: str | None = None) -> tuple[str, str]:
        """``"knee.flexion"`` → (stream id, channel)."""
        ...

    def stream(self, name: str) -> str:
        """A derived signal's stream id (or event source)."""
        ...

    def sensor(self, name: str) -> str:
        """A sensor's raw stream id."""
        ...

    def both_sides(self, ref: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """The signal on the left and on the right (a bilateral kit)."""
        ...


@dataclass(frozen=True, slots=True)
class Episodes:
    """Which events open and close the units a rule judges.

    ``start`` may be ``None`` (a sway window is announced once, when it ends;
    its start is ``end - payload[window_key]``). ``late``: the unit is known only
    after it ended (a postural transition is found once the body is still again),
    so its start and end events arrive together; a rule reducing samples judges
    it from its own recent history (:class:`nmre.rules.bands.BandRule`).
    """

    unit: str
    source: str
    start: str | None
    end: str
    rejected: str | None = None
    window_key: str | None = None
    late: bool = False

    @classmethod
    def reps(cls, source: str = "reps") -> Episodes:
        return cls("rep", source, kinds.REP_START, kinds.REP_END, kinds.REP_REJECTED)

    @classmethod
    def holds(cls, source: str = "cycles") -> Episodes:
        return cls("hold", source, kinds.HOLD_START, kinds.HOLD_END)

    @classmethod
    def rests(cls, source: str = "cycles") -> Episodes:
        return cls("rest", source, kinds.REST_START, kinds.REST_END)

    @classmethod
    def windows(cls, source: str) -> Episodes:
        return cls("window", source, None, kinds.SWAY_WINDOW, window_key="window")

    @classmethod
    def transitions(cls, source: str = "transitions") -> Episodes:
        return cls("transition", source, kinds.TRANSITION_START, kinds.TRANSITION_END, late=True)

    @classmethod
    def targets(cls, source: str = "targets") -> Episodes:
        return cls("target", source, kinds.TARGET_START, kinds.TARGET_END)

    @classmethod
    def moments(cls) -> Episodes:
        """No units: the rule judges single moments itself (a loss of balance)."""
        return cls("event", "", None, "")


@dataclass(frozen=True, slots=True)
class Messages:
    """What the patient hears and how the therapist reads the quantity.

    ``good``/``below``/``above``: patient messages inside, below and above the
    tolerance. ``unjudged``: the neutral message when a unit is not judged (no
    correction). ``label``: the quantity in words for the therapist.
    """

    good: str = "Good"
    below: str = "A little more"
    above: str = "A little less"
    unjudged: str = NEUTRAL
    label: str = ""


@dataclass(slots=True)
class Episode:
    """One open or closed unit: its index (1-based, as counted by its segmenter), span and opening payload."""

    index: int | None
    start: float
    end: float = math.nan
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Measured:
    """What :meth:`Rule.measure` found: a value, extra payload, and optional words.

    ``reason`` set (value ignored) means the unit cannot be measured (e.g. no
    onset found): it is reported as not judged with that reason. ``why``
    replaces the default therapist description of the value.
    """

    value: float
    detail: Mapping[str, Any] = field(default_factory=dict)
    why: str | None = None
    reason: str | None = None


def _unit(unit: str) -> str:
    return "" if unit in ("", "1") else (unit if unit == "%" else " " + unit)


def _fmt(v: float, unit: str) -> str:
    """A measured value: 3 significant digits below 10, one decimal above (``55.0 deg``, ``0.0958 m/s^2``)."""
    return f"{v:.3g}{_unit(unit)}" if abs(v) < 10 else f"{v:.1f}{_unit(unit)}"


def _tol(v: float, unit: str) -> str:
    """A tolerance as the therapist set it (``75 deg``, ``0.135 m/s^2``)."""
    return f"{v:.4g}{_unit(unit)}"


class Rule(Node):
    """Base of every rule kind: units, outcome and unjudged events, quality gating.

    Parameters
    ----------
    id : str
        Rule id: the outcome event kind is ``rule.<id>``.
    quantity, unit : str
        What the rule measures and its unit (:data:`nmre.rules.quantities.QUANTITIES`).
    episodes : Episodes
        Which events delimit the units judged.
    lo, hi : float or None
        Tolerance in ``unit``; either side may be open, not both.
    messages : Messages
        Patient messages and the therapist's label of the quantity.
    error_below, error_above : str or None
        Movement-error labels reported when the value is below / above.
    inputs : sequence of str
        Streams the rule watches (pushed to it).
    gate : QualityGate, optional
        Asked before each judgement (the monitor, the raw streams the rule's inputs
        come from, the rule's needs; the drill builder makes it).
    """

    #: Registry name of the kind (``kind = "band"`` in a drill file).
    KIND: ClassVar[str] = ""
    #: What the kind does, one line (shown by ``nmre drills show``).
    ABOUT: ClassVar[str] = ""
    #: Fields the kind accepts in a drill file beyond the common ones.
    PARAMS: ClassVar[Mapping[str, Param]] = {}
    #: Whether the kind needs a tolerance (``lo`` and/or ``hi``).
    NEEDS_TOLERANCE: ClassVar[bool] = True
    #: Whether :meth:`measure` waits, with the gate, until the unit's data is in (``True``: the kind
    #: measures from its own recent history or events, not from a running reduction that the next
    #: unit would clear).
    MEASURE_WHEN_READY: ClassVar[bool] = False
    #: Session seconds a closed unit waits at most for its streams to reach its end (a stream that
    #: stopped is then judged as it is: the gate reports its gap).
    MAX_WAIT: ClassVar[float] = 3.0

    def __init__(
        self,
        id: str,
        *,
        quantity: str,
        unit: str,
        episodes: Episodes,
        lo: float | None = None,
        hi: float | None = None,
        messages: Messages | None = None,
        error_below: str | None = None,
        error_above: str | None = None,
        inputs: Sequence[str] = (),
        gate: QualityGate | None = None,
    ) -> None:
        who = f"rule {id!r}"
        if self.NEEDS_TOLERANCE and lo is None and hi is None:
            raise ConfigError(f"{who}: expected a tolerance with lo and/or hi, got neither")
        for side, v in (("lo", lo), ("hi", hi)):
            if v is not None and (isinstance(v, bool) or not math.isfinite(v)):
                raise ConfigError(f"{who}: {side}: " + expected("a finite number", v))
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"{who}: expected lo <= hi, got lo={lo:g} > hi={hi:g}")
        self.id = id
        self.name = f"rule.{id}"
        self.kind = kinds.rule(id)
        self.quantity, self.unit = quantity, unit
        self.episodes = episodes
        self.lo = None if lo is None else float(lo)
        self.hi = None if hi is None else float(hi)
        self.messages = messages or Messages()
        self.label = self.messages.label or quantity.replace("_", " ")
        self.error_below, self.error_above = error_below, error_above
        self.inputs = tuple(inputs)
        self.gate = None if gate is None else self.adapt_gate(gate)
        self._pending: list[Event] = []
        self._episode: Episode | None = None
        self._count = 0
        self._waiting: list[tuple[Episode, Event, Measured | None]] = []
        self.reset()

    # -- wiring -------------------------------------------------------------------
    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for s in self.inputs:
            require(infos, s, self.name)
        self.bind_inputs(infos)
        return []

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        """Check the input streams (channels, units) once they are known."""

    def reset(self) -> None:
        """Forget all state (subclasses call ``super().reset()``)."""
        self._pending = []
        self._episode = None
        self._count = 0
        self._waiting = []

    @property
    def in_unit(self) -> bool:
        """``True`` while a unit is open."""
        return self._episode is not None

    # -- hooks --------------------------------------------------------------------
    def begin(self, episode: Episode) -> None:
        """A unit opened: reset the per-unit reduction."""

    def abandon(self) -> None:
        """The open unit was rejected (a rep candidate too short): drop what was reduced."""

    def push(self, block: Block) -> list[Block]:
        return []

    def measure(self, episode: Episode) -> Measured:
        """The unit closed: measure its value (subclasses override)."""
        raise NotImplementedError

    def on_other_event(self, event: Event) -> None:
        """Any event that does not open or close a unit."""

    def takes_other_event(self, kind: str) -> bool:
        """Whether :meth:`on_other_event` uses events of ``kind`` (default: every kind if overridden).

        A kind that overrides :meth:`on_other_event` for a few kinds says which (:meth:`Node.takes_event`).
        """
        return type(self).on_other_event is not Rule.on_other_event

    def takes_event(self, kind: str) -> bool:
        """The unit's start, end and rejection (from its source), and what :meth:`takes_other_event` says."""
        if type(self).on_event is not Rule.on_event:
            return True  # a kind with its own on_event: every event, as it was
        ep = self.episodes
        if ep.source and (kind == ep.start or kind == ep.end or kind == ep.rejected):
            return True
        return self.takes_other_event(kind)

    def ready(self, episode: Episode) -> bool:
        """Whether the kind's own input has reached the closed unit's end (default: yes)."""
        return True

    # -- units --------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        ep = self.episodes
        if ep.source and event.source == ep.source:
            if ep.start is not None and event.kind == ep.start:
                self._episode = Episode(self._index(event), event.time, math.nan, event.payload)
                self.begin(self._episode)
                return
            if event.kind == ep.end:
                if ep.start is None:  # announced once, at its end
                    length = float(event.payload.get(ep.window_key or "", 0.0))
                    self._episode = Episode(self._index(event), event.time - length, math.nan, event.payload)
                    self.begin(self._episode)
                if self._episode is not None:
                    closed, self._episode = self._episode, None
                    closed.end = float(event.payload.get("end", event.time))
                    closed.start = float(event.payload.get("start", closed.start))
                    closed.payload = {**closed.payload, **event.payload}
                    if closed.index is None:
                        closed.index = self._index(event)
                    self._close(closed, event)
                return
            if ep.rejected is not None and event.kind == ep.rejected:
                self._episode = None
                self.abandon()
                return
        self.on_other_event(event)

    def _index(self, event: Event) -> int | None:
        if self.episodes.start is None:  # windows: counted here
            self._count += 1
            return self._count
        v = event.payload.get(self.episodes.unit)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if event.kind == self.episodes.start:
            self._count += 1
            return self._count
        return None

    def adapt_gate(self, gate: QualityGate) -> QualityGate:
        """The gate this rule judges with (a kind may tighten the needs: onset timing)."""
        return gate

    def quality_span(self, episode: Episode) -> tuple[float, float]:
        """The span whose data the judgement depends on (default: the unit)."""
        return episode.start, episode.end

    def _close(self, episode: Episode, end: Event) -> None:
        m = None if self.MEASURE_WHEN_READY else self.measure(episode)
        self._waiting.append((episode, end, m))
        self._judge_ready(-math.inf)

    def waiting(self) -> bool:
        return bool(self._waiting)

    def owes(self) -> bool:
        """Whether a unit that has closed still waits for its verdict (progression counts a set's last
        unit once no rule owes one)."""
        return bool(self._waiting)

    def on_time(self, now: float) -> None:
        """A source block went through the graph: judge the closed units whose data is now in."""
        if self._waiting:
            self._judge_ready(now)

    def _judge_ready(self, now: float) -> None:
        """Judge, in order, the closed units whose streams reached their end (or waited ``MAX_WAIT``).

        A unit is judged once every raw stream its gate watches has samples up to the later of
        the unit's end and its quality span's end, and the kind's own input is there
        (:meth:`ready`): with large blocks the block of one stream covering the unit may arrive
        after the event that closed it, and judging then would see a hole that is not in the data.
        """
        while self._waiting:
            episode, end, m = self._waiting[0]
            if now < episode.end + self.MAX_WAIT:
                t1 = episode.end
                if self.gate is not None:
                    t1 = max(t1, self.quality_span(episode)[1])
                    if self.gate.reached() < t1:
                        return
                if not self.ready(episode):
                    return
            del self._waiting[0]
            self._judge(episode, end, self.measure(episode) if m is None else m)

    def _judge(self, episode: Episode, end: Event, m: Measured) -> None:
        if self.gate is not None:
            t0, t1 = self.quality_span(episode)
            reason, spans = self.gate.check(t0, t1)
            if reason is not None:
                extra = {"value": m.value} if math.isfinite(m.value) else {}
                self._pending.append(self.unjudged(episode, end.time, reason, spans, extra))
                return
        if m.reason is not None:
            self._pending.append(self.unjudged(episode, end.time, m.reason))
        elif not math.isfinite(m.value):
            reason = f"{self.label}: no valid samples during the {self.episodes.unit}"
            self._pending.append(self.unjudged(episode, end.time, reason))
        else:
            self._pending.append(self.outcome(episode, end.time, m))

    # -- events -------------------------------------------------------------------
    def _where(self, episode: Episode) -> str:
        span = f"{episode.start:.1f}-{episode.end:.1f} s"
        if episode.index is None:
            return f"at {episode.start:.1f} s" if episode.start == episode.end else span
        if self.episodes.unit in ("window", "hold", "rest", "target"):
            return f"{self.episodes.unit} {episode.index} ({span})"
        return f"{self.episodes.unit} {episode.index}"

    def verdict(self, value: float) -> tuple[bool, str, str | None, str]:
        """(ok, patient message, error label, relation in words) of ``value`` against the tolerance."""
        u, lo, hi = self.unit, self.lo, self.hi
        if lo is not None and value < lo:
            return False, self.messages.below, self.error_below, f"< {_tol(lo, u)}"
        if hi is not None and value > hi:
            return False, self.messages.above, self.error_above, f"> {_tol(hi, u)}"
        return True, self.messages.good, None, "within target"

    def outcome(self, episode: Episode, time: float, m: Measured) -> Event:
        """The outcome event of a measured unit."""
        ok, msg, error, rel = self.verdict(m.value)
        why = m.why or f"{self.label} {_fmt(m.value, self.unit)} {rel}"
        payload: dict[str, Any] = {
            "ok": ok,
            "error": error,
            self.episodes.unit: episode.index,
            "value": m.value,
            "lo": self.lo,
            "hi": self.hi,
            "unit": self.unit,
            "quantity": self.quantity,
            "start": episode.start,
            "end": episode.end,
        }
        payload.update(m.detail)
        return Event(
            time,
            self.kind,
            self.name,
            payload,
            patient_message=msg,
            therapist_message=f"{self._where(episode)}: {why}",
        )

    def unjudged(
        self,
        episode: Episode,
        time: float,
        reason: str,
        spans: Sequence[Any] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Event:
        """The ``<unit>.unjudged`` event: not judged, with the reason for the therapist.

        ``spans``: the span qualities the gate looked at (:class:`nmre.quality.SpanQuality`).
        """
        kind = kinds.UNJUDGED.get(self.episodes.unit, kinds.REP_UNJUDGED)
        return Event(
            time,
            kind,
            self.name,
            {
                "rule": self.name,
                self.episodes.unit: episode.index,
                "quantity": self.quantity,
                "reason": reason,
                "quality": [q.to_dict() for q in spans],
                "start": round(episode.start, 3),
                "end": round(episode.end, 3),
                **(extra or {}),
            },
            patient_message=self.messages.unjudged,
            therapist_message=f"{self._where(episode)} not judged by {self.name}: {reason}",
        )

    def emit(self, event: Event) -> None:
        """Queue an event of the rule's own (a baseline, a recorded template)."""
        self._pending.append(event)

    def pop_events(self) -> list[Event]:
        out, self._pending = self._pending, []
        return out


def channel_row(infos: Mapping[str, StreamInfo], stream: str, channel: str, who: str) -> tuple[int, str]:
    """Row and unit of ``channel`` in ``stream``; ConfigError naming the channels there."""
    info = require(infos, stream, who)
    names = info.channel_names
    if channel not in names:
        raise ConfigError(f"{who}: expected a channel of {stream!r} ({', '.join(names)}), got {channel!r}")
    row = names.index(channel)
    return row, info.channels[row].unit


def check_unit(who: str, have: str, want: str) -> None:
    """ConfigError unless the signal's unit ``have`` is the rule's unit ``want``."""
    if have != want:
        raise ConfigError(
            f"{who}: expected the signal in {want!r} (the rule's unit), got a signal in {have!r}"
        )


class SampleBuffer:
    """The samples of one unit, for rules that need the whole unit (holds, smoothness, templates).

    Appends ``(times, rows)`` per block while open; :meth:`arrays` concatenates
    them. At most ``max_samples`` are kept (the oldest dropped, counted in
    :attr:`dropped`), so a unit that never closes cannot grow memory.
    """

    def __init__(self, rows: Sequence[int], max_samples: int) -> None:
        if max_samples < 2:
            raise ConfigError("sample buffer: " + expected("max_samples >= 2", max_samples))
        self.rows = list(rows)
        self.max_samples = int(max_samples)
        self.clear()

    def clear(self) -> None:
        self._t: list[F64] = []
        self._x: list[F64] = []
        self._n = 0
        self.dropped = 0

    def add(self, block: Block) -> None:
        if block.n_samples == 0:
            return
        self._t.append(block.times)
        self._x.append(block.values[self.rows])
        self._n += block.n_samples
        while self._n - self._t[0].shape[0] >= self.max_samples:
            self._n -= self._t[0].shape[0]
            self.dropped += self._t[0].shape[0]
            del self._t[0], self._x[0]

    def add_arrays(self, times: F64, values: F64) -> None:
        """Append samples already in this buffer's rows: ``times (n,)``, ``values (len(rows), n)``."""
        if times.shape[0] == 0:
            return
        self._t.append(times)
        self._x.append(values)
        self._n += times.shape[0]

    def arrays(self) -> tuple[F64, F64]:
        """``(times (n,), values (len(rows), n))``, the last ``max_samples`` at most."""
        if not self._t:
            return np.zeros(0), np.zeros((len(self.rows), 0))
        t, x = np.concatenate(self._t), np.concatenate(self._x, axis=1)
        if t.shape[0] > self.max_samples:
            self.dropped += t.shape[0] - self.max_samples
            t, x = t[-self.max_samples :], x[:, -self.max_samples :]
        return t, x

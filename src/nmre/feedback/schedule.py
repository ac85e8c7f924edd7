"""Feedback schedules: which rule outcomes reach the patient, and when.

Motor-learning research (see ``docs/architecture.md`` and the clinical notes)
recommends moving from frequent, concurrent feedback early in learning to
reduced schedules later: bandwidth feedback (silent while inside the
tolerance), faded feedback (less often as the patient improves), summary
feedback after every N reps, self-controlled feedback (on the patient's
request), and no-feedback retention trials whose results are kept apart.

A schedule sees every event; it acts on **rule outcomes**: events whose kind
starts with ``"rule."`` and whose payload has a boolean ``"ok"``. It returns the
:class:`~nmre.core.Cue` objects to release now. Schedules are deterministic:
no randomness, no wall time.

One rep, one message: the outcomes of one repetition (payload ``"rep"``) are
grouped, and the schedule decides once per rep on the group's verdict: the
first failed check in rule order (rules are listed by priority in a drill),
or, when every check passed, the first rule's praise. The group closes when
the ``rep.end`` event of that rep reaches the schedule, which the engine
delivers after the outcomes the rules raised in response to it. Outcomes with
no rep (balance windows) are decided one by one.

Not judged: a ``*.unjudged`` event (the data over the span fell short of a
rule's quality needs, :mod:`nmre.quality`) joins its rep's group but is never a
verdict. A rep with judged outcomes is decided on those alone; a rep (or
window) with none is passed to :meth:`FeedbackSchedule.decide_unjudged`, which
releases the neutral message under ``continuous`` and nothing elsewhere; it is
never counted as a success or a miss.

Safety first: an outcome that says the patient may be falling (payload
``"safety": True``, or a loss of balance) is released at once as an ``alert``
cue by **every** schedule, retention included; no schedule holds it back.

End of a set: a ``set.end`` event, or the end of the session
(:meth:`FeedbackSchedule.end`, called by the engine), closes the open rep and
releases what a schedule still owes (the summary of the remaining reps).

Self-controlled feedback: :meth:`FeedbackSchedule.request` (thread-safe; from the
studio's button, the demo's ``--request-at`` or Python) asks for feedback at a
session time; the engine calls :meth:`FeedbackSchedule.poll` as time advances.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections import Counter

from nmre.core import kinds
from nmre.core.model import Cue, Event
from nmre.errors import ConfigError, expected

__all__ = [
    "SCHEDULES",
    "Bandwidth",
    "Continuous",
    "Faded",
    "FeedbackSchedule",
    "Retention",
    "SelfControlled",
    "Summary",
    "is_outcome",
    "make_schedule",
]


def is_outcome(event: Event) -> bool:
    """True for a rule outcome event (kind ``rule.*`` with a boolean ``ok`` in its payload)."""
    return event.kind.startswith(kinds.RULE) and isinstance(event.payload.get("ok"), bool)


def is_safety(event: Event) -> bool:
    """True for an outcome no schedule may hold back (a fall, a loss of balance)."""
    return is_outcome(event) and (
        event.payload.get("safety") is True or event.kind == kinds.RULE_LOSS_OF_BALANCE
    )


def _cue(event: Event, time: float | None = None) -> Cue:
    ok = bool(event.payload["ok"])
    return Cue(
        time=event.time if time is None else time,
        rule=event.source,
        message=event.patient_message or ("Good" if ok else "Adjust"),
        tone="good" if ok else "correct",
    )


def _neutral(event: Event) -> Cue:
    return Cue(time=event.time, rule=event.source, message=event.patient_message or "Keep going", tone="info")


def _verdict(group: list[Event]) -> Event:
    """The outcome that speaks for a rep: the first failure, else the first (praise)."""
    for e in group:
        if not e.payload["ok"]:
            return e
    return group[0]


class FeedbackSchedule(ABC):
    """Decides which rule outcomes become cues (once per rep; see the module docs)."""

    name: str = "schedule"

    def __init__(self) -> None:
        self._group: list[Event] = []
        self._requests: list[float] = []
        self._lock = threading.Lock()

    def on_event(self, event: Event) -> list[Cue]:
        """Return the cues released by ``event`` (usually none)."""
        if is_safety(event):
            return [
                Cue(event.time, event.source, event.patient_message or "Stop and steady yourself", "alert")
            ]
        if is_outcome(event) or kinds.is_unjudged(event.kind):
            rep = event.payload.get("rep")
            if rep is None:
                return self.decide(event) if is_outcome(event) else self.decide_unjudged(event)
            if self._group and self._group[0].payload.get("rep") != rep:
                out = self._close()
                self._group.append(event)
                return out
            self._group.append(event)
            return []
        out = []
        if (
            self._group
            and event.kind == kinds.REP_END
            and event.payload.get("rep") == self._group[0].payload.get("rep")
        ):
            out = self._close()
        if event.kind == kinds.SET_END:
            out += self.end(event.time)
        return out + self.on_other(event)

    def _close(self) -> list[Cue]:
        group, self._group = self._group, []
        judged = [e for e in group if is_outcome(e)]
        return self.decide(_verdict(judged)) if judged else self.decide_unjudged(group[0])

    @abstractmethod
    def decide(self, outcome: Event) -> list[Cue]:
        """Cues for one rep's verdict (or one ungrouped outcome)."""

    def decide_unjudged(self, event: Event) -> list[Cue]:
        """Cues for a rep or window that was not judged (default: none; never a correction)."""
        return []

    def on_other(self, event: Event) -> list[Cue]:
        """Cues released by a non-outcome event; default none."""
        return []

    def end(self, time: float) -> list[Cue]:
        """The set (or session) ended at ``time``: close the open rep, release what is still owed."""
        return self._close() if self._group else []

    def request(self, time: float | None = None) -> None:
        """The patient asks for feedback at session ``time`` (``None``: at the next event). Thread-safe.

        Only :class:`SelfControlled` answers requests; other schedules ignore them.
        """
        t = -math.inf if time is None else float(time)
        if math.isnan(t):
            raise ConfigError("feedback request: " + expected("a session time in seconds", time))
        with self._lock:
            self._requests.append(t)
            self._requests.sort()

    def _due(self, now: float) -> list[float]:
        """Requests whose time has come by ``now`` (removed)."""
        if not self._requests:  # unlocked read: a list's truth value is atomic
            return []
        with self._lock:
            k = 0
            while k < len(self._requests) and self._requests[k] <= now:
                k += 1
            due, self._requests = self._requests[:k], self._requests[k:]
        return due

    def poll(self, now: float) -> list[Cue]:
        """Cues due by session time ``now`` without an event (requests). Called by the engine as time passes."""
        self._due(now)  # requests are answered only by schedules that take them
        return []

    def reset(self) -> None:
        """Forget all history."""
        self._group = []
        with self._lock:
            self._requests = []


class Continuous(FeedbackSchedule):
    """Every outcome, good or bad, becomes a cue (knowledge of results after every rep)."""

    name = "continuous"

    def decide(self, outcome: Event) -> list[Cue]:
        return [_cue(outcome)]

    def decide_unjudged(self, event: Event) -> list[Cue]:
        return [_neutral(event)]


class Bandwidth(FeedbackSchedule):
    """Only outcomes outside the tolerance become cues; silence means 'on target'."""

    name = "bandwidth"

    def decide(self, outcome: Event) -> list[Cue]:
        return [] if outcome.payload["ok"] else [_cue(outcome)]


class Faded(FeedbackSchedule):
    """Feedback on a fraction of outcomes that shrinks as the patient succeeds.

    The fraction starts at ``start`` and drops by ``step`` after each successful
    outcome (never below ``floor``); it rises by ``step`` after each miss. A
    deterministic credit counter releases a cue each time the accumulated
    fraction reaches 1, so 50 % means every second outcome.
    """

    name = "faded"

    def __init__(self, start: float = 1.0, step: float = 0.1, floor: float = 0.2) -> None:
        for label, v in (("start", start), ("step", step), ("floor", floor)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"faded schedule: {label} " + expected("a fraction in [0, 1]", v))
        super().__init__()
        self.start, self.step, self.floor = start, step, floor
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.fraction = self.start
        self._credit = 0.0

    def decide(self, event: Event) -> list[Cue]:
        self._credit += self.fraction
        release = self._credit >= 1.0 - 1e-12
        if release:
            self._credit -= 1.0
        if event.payload["ok"]:
            self.fraction = max(self.floor, self.fraction - self.step)
        else:
            self.fraction = min(1.0, self.fraction + self.step)
        return [_cue(event)] if release else []


class Summary(FeedbackSchedule):
    """A summary cue after every ``every`` reps (or windows): how many were on target, the main correction.

    Reps and time windows (balance) are counted apart and named as what they are.
    At the end of a set (a ``set.end`` event or the session's end) the reps or
    windows since the last summary are summarised too, however few. Reps that
    were not judged are said as such and count neither way.
    """

    name = "summary"

    def __init__(self, every: int = 5) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("summary schedule: " + expected("every >= 1 rep", every))
        super().__init__()
        self.every = every
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._tally: dict[str, list[int]] = {}  # unit -> [judged, good, unjudged]
        self._fixes: dict[str, Counter[str]] = {}
        self._time = 0.0

    def _count(self, event: Event, judged: bool, good: bool) -> list[Cue]:
        unit = "reps" if "rep" in event.payload else "windows"
        tally = self._tally.setdefault(unit, [0, 0, 0])
        self._time = event.time
        if judged:
            tally[0] += 1
            tally[1] += good
            if not good and event.patient_message:
                self._fixes.setdefault(unit, Counter())[event.patient_message] += 1
        else:
            tally[2] += 1
        if tally[0] + tally[2] < self.every:
            return []
        return [self._summary(unit, event.time)]

    def _summary(self, unit: str, time: float) -> Cue:
        judged, good, unjudged = self._tally.pop(unit)
        fixes = self._fixes.pop(unit, Counter())
        if judged:
            msg = f"{good} of {judged} {unit if judged > 1 else unit[:-1]} on target"
        else:
            msg = f"{unjudged} {unit if unjudged > 1 else unit[:-1]} not measured"
        if judged and unjudged:
            msg += f", {unjudged} not measured"
        if fixes:
            msg += f". Focus: {fixes.most_common(1)[0][0]}"
        tone = "good" if judged and good == judged else "info"
        return Cue(time=time, rule="summary", message=msg, tone=tone)

    def decide(self, event: Event) -> list[Cue]:
        return self._count(event, True, bool(event.payload["ok"]))

    def decide_unjudged(self, event: Event) -> list[Cue]:
        return self._count(event, False, False)

    def end(self, time: float) -> list[Cue]:
        out = super().end(time)
        for unit in sorted(self._tally):
            out.append(self._summary(unit, max(time, self._time)))
        return out


class SelfControlled(FeedbackSchedule):
    """Feedback only when the patient asks: each :meth:`request` releases the latest verdict once.

    A request answered before any rep or window was judged says so ("No rep
    finished yet"); a second request with nothing new repeats the latest verdict.
    """

    name = "self-controlled"

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._latest: Event | None = None

    def decide(self, outcome: Event) -> list[Cue]:
        self._latest = outcome
        return []

    def poll(self, now: float) -> list[Cue]:
        out = []
        for t in self._due(now):
            at = now if t == -math.inf else t
            if self._latest is None:
                out.append(Cue(time=at, rule="self-controlled", message="No rep finished yet", tone="info"))
            else:
                out.append(_cue(self._latest, time=max(at, self._latest.time)))
        return out

    def on_other(self, event: Event) -> list[Cue]:
        return self.poll(event.time)


class Retention(FeedbackSchedule):
    """No-feedback retention trials: nothing is released; outcomes are still recorded as events."""

    name = "retention"

    def decide(self, outcome: Event) -> list[Cue]:
        return []


SCHEDULES: dict[str, type[FeedbackSchedule]] = {
    "continuous": Continuous,
    "bandwidth": Bandwidth,
    "faded": Faded,
    "summary": Summary,
    "self-controlled": SelfControlled,
    "retention": Retention,
}


def make_schedule(name: str) -> FeedbackSchedule:
    """Build a schedule by name with its defaults; unknown names raise a ConfigError listing the choices."""
    try:
        return SCHEDULES[name]()
    except KeyError:
        raise ConfigError("feedback schedule: " + expected(f"one of {', '.join(SCHEDULES)}", name)) from None

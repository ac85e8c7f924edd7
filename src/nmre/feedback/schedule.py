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
"""

from __future__ import annotations

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


def _cue(event: Event) -> Cue:
    ok = bool(event.payload["ok"])
    return Cue(
        time=event.time,
        rule=event.source,
        message=event.patient_message or ("Good" if ok else "Adjust"),
        tone="good" if ok else "correct",
    )


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

    def on_event(self, event: Event) -> list[Cue]:
        """Return the cues released by ``event`` (usually none)."""
        if is_outcome(event):
            rep = event.payload.get("rep")
            if rep is None:
                return self.decide(event)
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
        return out + self.on_other(event)

    def _close(self) -> list[Cue]:
        group, self._group = self._group, []
        return self.decide(_verdict(group))

    @abstractmethod
    def decide(self, outcome: Event) -> list[Cue]:
        """Cues for one rep's verdict (or one ungrouped outcome)."""

    def on_other(self, event: Event) -> list[Cue]:
        """Cues released by a non-outcome event (e.g. a request); default none."""
        return []

    def reset(self) -> None:
        """Forget all history."""
        self._group = []


class Continuous(FeedbackSchedule):
    """Every outcome, good or bad, becomes a cue (knowledge of results after every rep)."""

    name = "continuous"

    def decide(self, outcome: Event) -> list[Cue]:
        return [_cue(outcome)]


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
    """One summary cue after every ``every`` reps: how many were on target and the most common correction."""

    name = "summary"

    def __init__(self, every: int = 5) -> None:
        if every < 1:
            raise ConfigError("summary schedule: " + expected("every >= 1 rep", every))
        super().__init__()
        self.every = every
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._n = 0
        self._good = 0
        self._fixes: Counter[str] = Counter()

    def decide(self, event: Event) -> list[Cue]:
        self._n += 1
        if event.payload["ok"]:
            self._good += 1
        elif event.patient_message:
            self._fixes[event.patient_message] += 1
        if self._n < self.every:
            return []
        msg = f"{self._good} of {self._n} reps on target"
        if self._fixes:
            msg += f". Focus: {self._fixes.most_common(1)[0][0]}"
        cue = Cue(
            time=event.time, rule="summary", message=msg, tone="good" if self._good == self._n else "info"
        )
        self._n, self._good = 0, 0
        self._fixes.clear()
        return [cue]


class SelfControlled(FeedbackSchedule):
    """Feedback only when the patient asks: :meth:`request` releases the latest outcome at the next event."""

    name = "self-controlled"

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._latest: Event | None = None
        self._requested = False

    def request(self) -> None:
        """The patient asked for feedback (a flag the engine thread reads at the next event)."""
        self._requested = True

    def decide(self, outcome: Event) -> list[Cue]:
        self._latest = outcome
        return self.on_other(outcome)

    def on_other(self, event: Event) -> list[Cue]:
        if self._requested and self._latest is not None:
            self._requested = False
            return [_cue(self._latest)]
        return []


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

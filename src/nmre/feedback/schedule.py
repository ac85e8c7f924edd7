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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter

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
    return event.kind.startswith("rule.") and isinstance(event.payload.get("ok"), bool)


def _cue(event: Event) -> Cue:
    ok = bool(event.payload["ok"])
    return Cue(
        time=event.time,
        rule=event.source,
        message=event.patient_message or ("Good" if ok else "Adjust"),
        tone="good" if ok else "correct",
    )


class FeedbackSchedule(ABC):
    """Decides which rule outcomes become cues."""

    name: str = "schedule"

    @abstractmethod
    def on_event(self, event: Event) -> list[Cue]:
        """Return the cues released by ``event`` (usually none for non-outcomes)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget all history."""


class Continuous(FeedbackSchedule):
    """Every outcome, good or bad, becomes a cue (knowledge of results after every rep)."""

    name = "continuous"

    def on_event(self, event: Event) -> list[Cue]:
        return [_cue(event)] if is_outcome(event) else []


class Bandwidth(FeedbackSchedule):
    """Only outcomes outside the tolerance become cues; silence means 'on target'."""

    name = "bandwidth"

    def on_event(self, event: Event) -> list[Cue]:
        if is_outcome(event) and not event.payload["ok"]:
            return [_cue(event)]
        return []


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
        self.start, self.step, self.floor = start, step, floor
        self.reset()

    def reset(self) -> None:
        self.fraction = self.start
        self._credit = 0.0

    def on_event(self, event: Event) -> list[Cue]:
        if not is_outcome(event):
            return []
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
        self.every = every
        self.reset()

    def reset(self) -> None:
        self._reps: dict[object, bool] = {}
        self._fixes: Counter[str] = Counter()
        self._last_time = 0.0

    def on_event(self, event: Event) -> list[Cue]:
        if not is_outcome(event):
            return []
        rep = event.payload.get("rep", len(self._reps))
        ok = bool(event.payload["ok"])
        self._reps[rep] = self._reps.get(rep, True) and ok
        if not ok and event.patient_message:
            self._fixes[event.patient_message] += 1
        self._last_time = event.time
        # a rep's block is complete when the next rep index appears; release on the N-th distinct rep
        if len(self._reps) < self.every:
            return []
        good = sum(self._reps.values())
        msg = f"{good} of {len(self._reps)} reps on target"
        if self._fixes:
            msg += f". Focus: {self._fixes.most_common(1)[0][0]}"
        cue = Cue(time=self._last_time, rule="summary", message=msg, tone="good" if good == len(self._reps) else "info")
        self._reps.clear()
        self._fixes.clear()
        return [cue]


class SelfControlled(FeedbackSchedule):
    """Feedback only when the patient asks: :meth:`request` releases the latest outcome at the next event."""

    name = "self-controlled"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._latest: Event | None = None
        self._requested = False

    def request(self) -> None:
        """The patient asked for feedback (thread-safe enough: a flag read by the engine thread)."""
        self._requested = True

    def on_event(self, event: Event) -> list[Cue]:
        if is_outcome(event):
            self._latest = event
        if self._requested and self._latest is not None:
            self._requested = False
            return [_cue(self._latest)]
        return []


class Retention(FeedbackSchedule):
    """No-feedback retention trials: nothing is released; outcomes are still recorded as events."""

    name = "retention"

    def on_event(self, event: Event) -> list[Cue]:
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

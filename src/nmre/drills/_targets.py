"""Targets a weight-shifting drill shows: the limits-of-stability schedule, and the node that cues it.

In a limits-of-stability test or training (NeuroCom SMART Balance Master, Biodex
Balance System) the system shows a target in one of 8 directions, the patient
leans the body toward it and holds, then returns to the centre; the next target
follows after a fixed trial time (NeuroCom: 8 s per target). nmre shows the
target, so the **drill is the source of the schedule**: :func:`target_plan` is
the schedule a drill file describes (directions in order, each at
``target_percent`` % of the limit of stability in its direction, each shown for
``trial`` s and judged when it goes, the next one ``rest`` s later, after ``lead_in``,
``per_set`` targets per set); :class:`TargetNode`
raises it on the session clock, and the simulator is given the same cue times
(``LosConfig(cues=...)``), as a patient would follow the screen.

The limits of stability are an ellipse through ``forward``, ``backward`` and
``lateral`` degrees of centre-of-mass lean about the ankles (NeuroCom's
theoretical adult limits: 8 deg forward, 4.5 backward, 8 to each side; 12.5 deg
antero-posterior and 16 deg lateral sway envelope).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nmre.core import kinds
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, expected

__all__ = ["DIRECTIONS", "Target", "TargetNode", "limit_of_stability", "target_plan"]

#: Target directions in presentation order (clockwise from forward), angle from forward toward the right, deg.
DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("forward", 0.0),
    ("forward_right", 45.0),
    ("right", 90.0),
    ("backward_right", 135.0),
    ("backward", 180.0),
    ("backward_left", 225.0),
    ("left", 270.0),
    ("forward_left", 315.0),
)


def limit_of_stability(angle: float, forward: float, backward: float, lateral: float) -> float:
    """The limit (deg of lean) in direction ``angle`` (deg from forward toward the right) on the ellipse."""
    a = math.radians(angle)
    ap = forward if math.cos(a) >= 0 else backward
    return 1.0 / math.sqrt((math.cos(a) / ap) ** 2 + (math.sin(a) / lateral) ** 2)


@dataclass(frozen=True, slots=True)
class Target:
    """One target: its number (1-based over the session), set, direction, cue time and distance."""

    index: int
    set: int
    direction: str
    angle: float  # deg from forward toward the right
    cue: float  # s from the start of the session
    end: float  # s: the trial ends (the next target may follow)
    distance: float  # deg of lean

    @property
    def forward(self) -> float:
        return self.distance * math.cos(math.radians(self.angle))

    @property
    def right(self) -> float:
        return self.distance * math.sin(math.radians(self.angle))

    def payload(self) -> dict[str, Any]:
        return {
            "target": self.index,
            "set": self.set,
            "direction": self.direction,
            "angle": self.angle,
            "distance": round(self.distance, 4),
            "target_forward": round(self.forward, 4),
            "target_right": round(self.right, 4),
            "start": self.cue,
            "end": self.end,
        }


def target_plan(params: Mapping[str, Any], per_set: int, sets: int, rest_between_sets: float) -> list[Target]:
    """The targets of a session, from the ``targets`` segmenter's settings (times from the session start)."""
    out: list[Target] = []
    t = float(params["lead_in"])
    trial = float(params["trial"])
    pause = float(params.get("rest", 0.0))
    k = 0
    for s in range(1, sets + 1):
        for _ in range(per_set):
            name, angle = DIRECTIONS[k % len(DIRECTIONS)]
            lim = limit_of_stability(angle, params["forward"], params["backward"], params["lateral"])
            k += 1
            out.append(Target(k, s, name, angle, t, t + trial, lim * params["target_percent"] / 100.0))
            t += trial + pause
        t += float(rest_between_sets)
    return out


_WORDS = {name: name.replace("_", "-") for name, _ in DIRECTIONS}


class TargetNode(Node):
    """Shows the drill's targets on the session clock, from the first sample of ``stream``.

    Events (``source`` = ``"targets"``): ``target.start`` at each cue (payload of
    :meth:`Target.payload`, patient message "Lean forward-right to the target") and
    ``target.end`` when its trial time is over. The current target is published as
    two watched signals (``target forward`` and ``target right``, deg; NaN between
    targets) for the patient's picture.
    """

    def __init__(self, stream: str, plan: Sequence[Target], message: str, name: str = "targets") -> None:
        if not plan:
            raise ConfigError("targets: " + expected("at least one target", list(plan)))
        self.inputs = (stream,)
        self.name = name
        self.plan = list(plan)
        self.message = message
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        if self.inputs[0] not in infos:
            raise ConfigError(f"{self.name}: expected input stream {self.inputs[0]!r}")
        return []

    def reset(self) -> None:
        self._t0: float | None = None
        self._queue: list[tuple[float, int, bool]] = []  # (time, plan index, is start)
        self._next = 0
        self._shown: Target | None = None
        self._events: list[Event] = []

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        if self._t0 is None:
            self._t0 = float(block.times[0])
            for i, tg in enumerate(self.plan):
                self._queue += [(self._t0 + tg.cue, i, True), (self._t0 + tg.end, i, False)]
            self._queue.sort(key=lambda q: (q[0], q[2]))  # an end before a start at the same time
        now = float(block.times[-1])
        while self._next < len(self._queue) and self._queue[self._next][0] <= now:
            t, i, start = self._queue[self._next]
            self._next += 1
            tg = self.plan[i]
            payload = {**tg.payload(), "start": self._t0 + tg.cue, "end": self._t0 + tg.end}
            if start:
                self._shown = tg
                msg = self.message.format(direction=_WORDS[tg.direction])
                self._events.append(Event(t, kinds.TARGET_START, self.name, payload, patient_message=msg))
            else:
                self._shown = None if self._shown is tg else self._shown
                self._events.append(Event(t, kinds.TARGET_END, self.name, payload))
        return []

    def signals(self) -> list[SignalState]:
        tg = self._shown
        fwd = tg.forward if tg is not None else math.nan
        right = tg.right if tg is not None else math.nan
        return [SignalState("target forward", fwd, "deg"), SignalState("target right", right, "deg")]

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

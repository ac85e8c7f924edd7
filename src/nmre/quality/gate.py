"""The thin call a rule makes before it judges: :class:`QualityGate`.

A rule holds a gate (the monitor, the raw streams its input is derived from, its
needs). At the end of a rep, hold, window or transition it calls
:meth:`QualityGate.check`; when that returns a reason the rule emits the event
:meth:`QualityGate.unjudged` builds instead of an outcome: nothing is counted as
an error, the patient gets a neutral word, the therapist the reason. The next
span is checked afresh, so judging resumes by itself when the data is good again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from nmre.core import kinds
from nmre.core.model import Event
from nmre.quality.monitor import QualityMonitor, SpanQuality
from nmre.quality.needs import QualityNeeds

__all__ = ["NEUTRAL", "UNJUDGED_KINDS", "QualityGate"]

#: What the patient is told about a span that was not judged: nothing about the movement.
NEUTRAL = "Keep going"
#: The event kind per unit that was not judged.
UNJUDGED_KINDS = {
    "rep": kinds.REP_UNJUDGED,
    "window": kinds.WINDOW_UNJUDGED,
    "hold": kinds.HOLD_UNJUDGED,
    "transition": kinds.TRANSITION_UNJUDGED,
    "target": kinds.TARGET_UNJUDGED,
}


class QualityGate:
    """A rule's question to the monitor: is my input over this span good enough to judge?

    Parameters
    ----------
    monitor : QualityMonitor
        The session's monitor.
    streams : sequence of str
        The raw streams the rule's input is computed from (the drill resolves derived to raw).
    needs : QualityNeeds, optional
        The rule's thresholds (defaults: :class:`QualityNeeds`).
    channels : mapping of str to sequence of int, optional
        For a raw stream only some of whose channels the input reads (a gyroscope's angular
        speed): those rows; bad samples elsewhere in it do not count. Default: every channel.
    """

    def __init__(
        self,
        monitor: QualityMonitor,
        streams: Sequence[str],
        needs: QualityNeeds | None = None,
        channels: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        missing = [s for s in streams if s not in monitor.streams]
        if missing:
            from nmre.errors import ConfigError

            raise ConfigError(
                f"quality gate: expected raw streams the monitor watches ({', '.join(monitor.streams)}), "
                f"got {', '.join(missing)}"
            )
        self.monitor = monitor
        self.streams = tuple(streams)
        self.needs = needs or QualityNeeds()
        self.channels = {k: tuple(v) for k, v in (channels or {}).items()}

    def check(self, t0: float, t1: float) -> tuple[str | None, list[SpanQuality]]:
        """The reason ``[t0, t1]`` cannot be judged (``None`` if it can) and the span qualities."""
        return self.monitor.assess(self.streams, t0, t1, self.needs, self.channels or None)

    def reached(self) -> float:
        """The time every watched stream has samples up to (session s; -inf before the first)."""
        reached = self.monitor.reached
        return min(reached(s) for s in self.streams) if self.streams else math.inf

    def unjudged(
        self,
        *,
        unit: str,
        index: object,
        rule: str,
        time: float,
        start: float,
        end: float,
        reason: str,
        spans: Sequence[SpanQuality],
        extra: dict[str, object] | None = None,
    ) -> Event:
        """The ``<unit>.unjudged`` event: payload ``rule``, ``<unit>``, ``reason``, ``quality``, span."""
        payload: dict[str, object] = {
            "rule": rule,
            unit: index,
            "reason": reason,
            "start": round(start, 3),
            "end": round(end, 3),
            "quality": [q.to_dict() for q in spans],
        }
        payload.update(extra or {})
        label = f"{unit} {index}" if index is not None else f"{start:.1f}-{end:.1f} s"
        return Event(
            time=time,
            kind=UNJUDGED_KINDS[unit],
            source=rule,
            payload=payload,
            patient_message=NEUTRAL,
            therapist_message=f"{label} not judged by {rule}: {reason}",
        )

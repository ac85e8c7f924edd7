"""The drill file's feedback mapping as a node: what the patient's picture and sound follow.

Each ``[[feedback.picture]]`` with a signal becomes an entry of
``FeedbackState.signals`` named by its label: the signal's latest value, its
unit and the target zone of the rule named in ``band_from`` (as that rule
holds it now: a personal sway envelope appears once the baseline is taken). A
``counter`` counts the units (reps, holds, windows) done and shows the set's
target. The sonification (``[feedback.sound]``) is published the same way,
its dead zone as the zone; renderers (studio, audio) read the display hints
(gauge, trace, range) from the drill's spec. Sinks never compute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.engine.nodes import Node
from nmre.rules.base import Episodes, Rule

if TYPE_CHECKING:
    from nmre.drills._build import Context
    from nmre.drills.spec import DrillSpec

__all__ = ["FeedbackMapping"]


class FeedbackMapping(Node):
    """Publishes the drill's pictures and sonified signal as watched signals (see the module notes)."""

    def __init__(self, spec: DrillSpec, ctx: Context, rules: Mapping[str, Rule], episodes: Episodes) -> None:
        self.name = "feedback"
        self.episodes = episodes
        self._rules = rules
        self._watch: list[tuple[str, str, str, str, str | None, tuple[float, float] | None]] = []
        self.has_counter = False
        self._counter_label = ""
        self._target = spec.structure.per_set
        from nmre.drills._build import _Unavailable

        entries: list[tuple[str, str | None, str | None, tuple[float, float] | None]] = []
        for p in spec.feedback.picture:
            if p.kind == "counter":
                self.has_counter = True
                self._counter_label = p.label or f"{p.counts or spec.structure.unit}s"
            elif p.signal is not None:
                entries.append((p.label or f"{p.kind} {p.signal}", p.signal, p.band_from, None))
        snd = spec.feedback.sound
        if snd is not None and snd.kind == "sonify" and snd.signal is not None:
            entries.append((f"sound {snd.signal}", snd.signal, None, snd.dead_zone))
        for label, ref, band, zone in entries:
            assert ref is not None
            try:
                stream, channel, unit = ctx.resolve_signal(ref)
            except _Unavailable:
                continue
            self._watch.append((label, stream, channel, unit, band if band in rules else None, zone))
        self.inputs = tuple(dict.fromkeys(w[1] for w in self._watch))
        self.reset()

    def watched(self) -> list[tuple[str, str, str]]:
        """``(label, stream, channel)`` of each signal the pictures and the sound follow (for a display)."""
        return [(label, stream, channel) for label, stream, channel, _, _, _ in self._watch]

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        self._rows = {}
        for _, stream, channel, _, _, _ in self._watch:
            self._rows[(stream, channel)] = infos[stream].channel_names.index(channel)
        # per input stream, its watched (key, row)s in the order above (push: one lookup per block)
        self._by_stream: dict[str, list[tuple[tuple[str, str], int]]] = {}
        for key, row in self._rows.items():
            self._by_stream.setdefault(key[0], []).append((key, row))
        return []

    def reset(self) -> None:
        self._latest: dict[tuple[str, str], float] = {}
        self._count = 0

    def push(self, block: Block) -> list[Block]:
        if block.times.shape[0] == 0:
            return []
        values, latest = block.values, self._latest
        for key, row in self._by_stream.get(block.stream, ()):
            v = float(values[row, -1])
            if v == v:
                latest[key] = v
        return []

    def takes_event(self, kind: str) -> bool:
        return kind == self.episodes.end

    def on_event(self, event: Event) -> None:
        if event.source == self.episodes.source and event.kind == self.episodes.end:
            self._count += 1

    def signals(self) -> list[SignalState]:
        out = []
        for label, stream, channel, unit, band, zone in self._watch:
            lo = hi = None
            if band is not None:
                lo, hi = self._rules[band].lo, self._rules[band].hi
            elif zone is not None:
                lo, hi = zone
            out.append(SignalState(label, self._latest.get((stream, channel), math.nan), unit, lo, hi))
        if self.has_counter:
            c, n = self._count, max(1, self._target)
            in_set = c - ((c - 1) // n) * n if c else 0  # units done in the current set
            out.append(SignalState(self._counter_label, float(in_set), "count", None, float(n)))
        return out

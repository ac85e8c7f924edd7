"""A rule kind: the pause at the bottom of each rep (pause squats, controlled changes of direction).

``pause_at_depth`` measures, per rep, the longest stretch during which the watched
signal stays within ``near`` of its peak for that rep (seconds; quantity ``hold_time``),
and checks it against the drill's tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nmre.core.model import Block, StreamInfo
from nmre.errors import ConfigError
from nmre.rules.base import Episode, Measured, Param, Rule, channel_row, check_unit


class PauseAtDepthRule(Rule):
    """Longest time per rep within ``near`` (the signal's unit) of the rep's peak, inside ``[lo, hi]`` s."""

    KIND = "pause_at_depth"
    ABOUT = "time held near the deepest point of each rep (a pause at the bottom) inside a band"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the watched signal, <derived signal>.<channel>"),
        "near": Param("number", "how close to the rep's peak counts as at depth", 5.0, lo=0.0, lo_open=True),
    }

    def __init__(self, id: str, *, stream: str, channel: str, near: float = 5.0, **common: Any) -> None:
        if not (math.isfinite(near) and near > 0):
            raise ConfigError(f"rule {id!r}: near: expected a number > 0, got {near!r}")
        self.stream, self.channel, self.near = stream, channel, float(near)
        self._row = 0
        self._t: list[np.ndarray] = []
        self._x: list[np.ndarray] = []
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        self._row, _unit = channel_row(infos, self.stream, self.channel, self.name)
        check_unit(self.name, "s", self.unit)

    def reset(self) -> None:
        super().reset()
        self._t, self._x = [], []

    def begin(self, episode: Episode) -> None:
        self._t, self._x = [], []

    def push(self, block: Block) -> list[Block]:
        if self._episode is not None and block.n_samples:
            self._t.append(block.times.copy())
            self._x.append(block.values[self._row].copy())
        return []

    def measure(self, episode: Episode) -> Measured:
        if not self._t:
            return Measured(math.nan, reason="no samples of the signal during the rep")
        t, x = np.concatenate(self._t), np.concatenate(self._x)
        keep = (t >= episode.start) & (t <= episode.end) & np.isfinite(x)
        t, x = t[keep], x[keep]
        if t.size < 2:
            return Measured(math.nan, reason="too few samples of the signal during the rep")
        at_depth = x >= x.max() - self.near
        best, start = 0.0, None
        for i, flag in enumerate(at_depth):
            if flag and start is None:
                start = i
            if start is not None and (not flag or i == at_depth.size - 1):
                last = i if flag else i - 1
                best = max(best, float(t[last] - t[start]))
                start = None
        return Measured(best, {"near": self.near, "peak": float(x.max())})

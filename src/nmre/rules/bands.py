"""Rules on one signal per unit: target band, limit, tempo (phase durations), left/right symmetry.

* ``band``: a statistic of a watched signal over each unit (peak, minimum, mean,
  range, largest absolute value, rise above or drop below the value at the
  unit's start) inside ``[lo, hi]``.
* ``limit``: the same with one side only: a compensation (trunk lean, knee
  valgus, hip drop) that must stay below a limit (or above one).
* ``tempo``: the duration of the unit or of one of its phases (to the peak,
  from the peak), from the segmenter's timing.
* ``symmetry``: the same statistic of the left and right signal, compared as a
  symmetry index ``|L - R| / ((|L| + |R|) / 2) × 100 %``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nmre.core.model import Block, SignalState, StreamInfo
from nmre.errors import ConfigError, expected
from nmre.quality.needs import MAX_GAP
from nmre.rules.base import Episode, FileResolver, Measured, Param, Rule, channel_row, check_unit

__all__ = ["STATS", "BandRule", "LimitRule", "SymmetryRule", "TempoRule"]

#: How a signal is reduced over a unit.
STATS = ("max", "min", "mean", "range", "max_abs", "rise", "drop")


class _Reduce:
    """Running reduction of one channel over a unit (no buffering)."""

    __slots__ = ("first", "hi", "lo", "maxabs", "n", "stat", "total")

    def __init__(self, stat: str) -> None:
        self.stat = stat
        self.clear()

    def clear(self) -> None:
        self.hi = -math.inf
        self.lo = math.inf
        self.maxabs = -math.inf
        self.total = 0.0
        self.n = 0
        self.first = math.nan

    def add(self, x: np.ndarray) -> None:
        if x.shape[0] < 8:  # a live block (1 or 2 IMU samples): plain floats beat four numpy calls
            self._add_few(x.tolist())
            return
        f = x[np.isfinite(x)]
        if not f.size:
            return
        if self.n == 0:
            self.first = float(f[0])
        self.n += int(f.size)
        s = self.stat
        if s == "mean":
            self.total += float(f.sum())
            return
        if s == "max_abs":
            self.maxabs = max(self.maxabs, float(np.abs(f).max()))
            return
        if s != "min" and s != "drop":
            self.hi = max(self.hi, float(f.max()))
        if s != "max" and s != "rise":
            self.lo = min(self.lo, float(f.min()))

    def _add_few(self, xs: list[float]) -> None:
        """:meth:`add` of fewer than 8 samples, the same result (numpy sums fewer than 8 in order)."""
        f = [v for v in xs if v - v == 0.0]  # finite (NaN - NaN and inf - inf are NaN)
        if not f:
            return
        if self.n == 0:
            self.first = f[0]
        self.n += len(f)
        s = self.stat
        if s == "mean":
            total = 0.0
            for v in f:
                total += v
            self.total += total
            return
        if s == "max_abs":
            self.maxabs = max(self.maxabs, max(abs(v) for v in f))
            return
        if s != "min" and s != "drop":
            self.hi = max(self.hi, max(f))
        if s != "max" and s != "rise":
            self.lo = min(self.lo, min(f))

    def value(self) -> float:
        if self.n == 0:
            return math.nan
        s = self.stat
        if s == "max":
            return self.hi
        if s == "min":
            return self.lo
        if s == "mean":
            return self.total / self.n
        if s == "range":
            return self.hi - self.lo
        if s == "max_abs":
            return self.maxabs
        if s == "rise":
            return self.hi - self.first
        return self.first - self.lo  # drop


class BandRule(Rule):
    """A statistic of a watched signal over each unit must lie inside ``[lo, hi]``.

    Parameters
    ----------
    id : str
        Rule id (outcome kind ``rule.<id>``).
    stream, channel : str
        The watched signal (e.g. ``"angle.knee.r"``, ``"flexion"``); its unit must be the rule's.
    stat : str
        One of :data:`STATS`.
    **common
        See :class:`nmre.rules.base.Rule`.
    """

    KIND = "band"
    ABOUT = "a statistic of a signal over each unit (peak, minimum, mean, range) inside a target band"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the watched signal, <derived signal>.<channel>"),
        "stat": Param("choice", "how the signal is reduced over the unit", "max", choices=STATS),
    }

    #: Seconds of the watched signal kept: the longest unit measured (its samples are reduced at its end).
    HISTORY = 30.0
    MEASURE_WHEN_READY = True

    def __init__(self, id: str, *, stream: str, channel: str, stat: str = "max", **common: Any) -> None:
        if stat not in STATS:
            raise ConfigError(f"rule {id!r}: stat: " + expected(f"one of {', '.join(STATS)}", stat))
        self.stream, self.channel, self.stat = stream, channel, stat
        self._acc = _Reduce(stat)
        self._row = 0
        self._latest = math.nan
        self._hist: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._reached = -math.inf
        self._dropped = -math.inf  # the last sample time let go of (older than HISTORY)
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        self._row, unit = channel_row(infos, self.stream, self.channel, self.name)
        check_unit(self.name, unit, self.unit)

    def reset(self) -> None:
        super().reset()
        self._acc.clear()
        self._latest = math.nan
        self._hist = deque()
        self._reached = -math.inf
        self._dropped = -math.inf

    def push(self, block: Block) -> list[Block]:
        # the recent past with its sample times: a unit is reduced over exactly its samples when it
        # is judged, whatever the blocks it came in (a unit opening or closing inside a block)
        times = block.times
        if times.shape[0] == 0:
            return []
        x = block.values[self._row]
        last = float(x[-1])
        if last == last:
            self._latest = last
        hist = self._hist
        hist.append((times, x))  # references to the block's arrays (blocks are never written after)
        self._reached = float(times[-1])
        horizon = self._reached - self.HISTORY
        while float(hist[0][0][-1]) < horizon:
            self._dropped = float(hist.popleft()[0][-1])
        if self._waiting:  # a closed unit waited for these samples
            self._judge_ready(-math.inf)
        return []

    def ready(self, episode: Episode) -> bool:
        return self._reached >= episode.end

    def measure(self, episode: Episode) -> Measured:
        acc = self._acc
        acc.clear()
        t0, t1 = episode.start, episode.end
        # the unit's blocks, newest first: a unit is judged at its end, so only the blocks after it are
        # passed over, not the whole history (30 s: thousands of blocks of one or two IMU samples)
        mine = []
        for t, x in reversed(self._hist):
            if t[-1] < t0:
                break
            if t[0] <= t1:
                mine.append((t, x))
        mine.reverse()
        if self.stat == "mean":  # summed block by block, as the samples came
            for t, x in mine:
                i, j = np.searchsorted(t, t0, "left"), np.searchsorted(t, t1, "right")
                if j > i:
                    acc.add(x[i:j])
        elif mine:  # max, min, range, ...: the same whatever the grouping, so one reduction
            t = np.concatenate([m[0] for m in mine]) if len(mine) > 1 else mine[0][0]
            x = np.concatenate([m[1] for m in mine]) if len(mine) > 1 else mine[0][1]
            i, j = np.searchsorted(t, t0, "left"), np.searchsorted(t, t1, "right")
            if j > i:
                acc.add(x[i:j])
        first = float(self._hist[0][0][0]) if self._hist else math.inf
        if first > t0 and self._dropped >= t0:
            return Measured(
                math.nan,
                reason=f"{self.label}: the {self.episodes.unit} began more than {self.HISTORY:g} s before it ended",
            )
        if first - t0 > MAX_GAP:  # the signal began during the unit (its calibration came late)
            return Measured(
                math.nan,
                reason=f"{self.label}: no signal until {first:.2f} s, {first - t0:.2f} s into the "
                f"{self.episodes.unit} (more than the {MAX_GAP:g} s hole a verdict may have)",
            )
        return Measured(acc.value(), {"stat": self.stat, "signal": f"{self.stream}:{self.channel}"})

    def signals(self) -> list[SignalState]:
        return [SignalState(self.label, self._latest, self.unit, self.lo, self.hi)]


class LimitRule(BandRule):
    """A compensation that must stay on one side of a limit (``hi`` for trunk lean, valgus, hip drop)."""

    KIND = "limit"
    ABOUT = "a compensation (trunk lean, knee valgus, hip drop) that must stay below a limit (or above one)"

    def __init__(self, id: str, **kw: Any) -> None:
        if (kw.get("lo") is None) == (kw.get("hi") is None):
            raise ConfigError(
                f"rule {id!r}: expected a limit on one side (hi, or lo), got "
                + ("both" if kw.get("lo") is not None else "neither")
            )
        super().__init__(id, **kw)


_PHASES = ("unit", "to_peak", "from_peak")


class TempoRule(Rule):
    """The duration of each unit, or of its phase to or from the peak, inside ``[lo, hi]`` seconds.

    Timing comes from the closing event's payload: ``start``, ``end`` and, for
    phases, ``peak_time`` (as :class:`nmre.dsp.RepSegmenter` reports them: the
    rep runs from the last sample in the rest band before the signal reached the
    start threshold to the first sample back in the rest band; the peak is the
    first sample at the rep's extreme). That is the span the segmenter sees, not
    the movement's own onset and offset, which lie outside the rest band's edge:
    :class:`nmre.rules.MovementTimeRule` (``movement_time``) finds those on the
    speed. Checked against durations computed from a constructed signal
    (``tests/rules/test_bands.py``).
    """

    KIND = "tempo"
    ABOUT = "duration of each unit or of one phase (to the peak, from the peak) inside a band"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "phase": Param(
            "choice", "what is timed: the whole unit, or to / from its peak", "unit", choices=_PHASES
        ),
    }

    def __init__(self, id: str, *, phase: str = "unit", **common: Any) -> None:
        if phase not in _PHASES:
            raise ConfigError(f"rule {id!r}: phase: " + expected(f"one of {', '.join(_PHASES)}", phase))
        self.phase = phase
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        check_unit(self.name, "s", self.unit)

    def measure(self, episode: Episode) -> Measured:
        start, end = episode.start, episode.end
        if self.phase == "unit":
            return Measured(end - start, {"phase": "unit"})
        peak = episode.payload.get("peak_time")
        if not isinstance(peak, (int, float)) or not math.isfinite(peak):
            return Measured(math.nan, reason=f"no peak time for the {self.episodes.unit}")
        d = float(peak) - start if self.phase == "to_peak" else end - float(peak)
        return Measured(d, {"phase": self.phase})


class SymmetryRule(Rule):
    """Left/right symmetry of one statistic: ``|L - R| / ((|L| + |R|) / 2) × 100`` must stay below ``hi`` %.

    Both signals are reduced over the same unit (e.g. peak knee flexion of each
    leg per squat); the payload keeps both values.
    """

    KIND = "symmetry"
    ABOUT = "left/right symmetry index of a per-unit statistic below a limit (bilateral kits)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the signal measured on each side, <derived signal>.<channel>"),
        "stat": Param("choice", "how each side's signal is reduced over the unit", "max", choices=STATS),
    }

    def __init__(
        self,
        id: str,
        *,
        left: tuple[str, str],
        right: tuple[str, str],
        stat: str = "max",
        **common: Any,
    ) -> None:
        if stat not in STATS:
            raise ConfigError(f"rule {id!r}: stat: " + expected(f"one of {', '.join(STATS)}", stat))
        self.left, self.right, self.stat = left, right, stat
        self._acc = {left[0]: _Reduce(stat), right[0]: _Reduce(stat)}
        if left[0] == right[0]:
            raise ConfigError(
                f"rule {id!r}: expected two different streams for left and right, got {left[0]!r}"
            )
        self._rows = {left[0]: 0, right[0]: 0}
        common.setdefault("inputs", (left[0], right[0]))
        super().__init__(id, **common)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        left, right = res.both_sides(params["signal"])
        return {"left": left, "right": right, "stat": params["stat"]}

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        units = set()
        for stream, channel in (self.left, self.right):
            self._rows[stream], u = channel_row(infos, stream, channel, self.name)
            units.add(u)
        if len(units) != 1:
            raise ConfigError(
                f"{self.name}: expected left and right signals in one unit, got {sorted(units)}"
            )
        check_unit(self.name, "%", self.unit)

    def reset(self) -> None:
        super().reset()
        for a in self._acc.values():
            a.clear()

    def begin(self, episode: Episode) -> None:
        for a in self._acc.values():
            a.clear()

    def push(self, block: Block) -> list[Block]:
        if self._episode is not None and block.n_samples:
            self._acc[block.stream].add(block.values[self._rows[block.stream]])
        return []

    def measure(self, episode: Episode) -> Measured:
        lv, rv = self._acc[self.left[0]].value(), self._acc[self.right[0]].value()
        mean = (abs(lv) + abs(rv)) / 2.0
        if not (math.isfinite(lv) and math.isfinite(rv)):
            return Measured(
                math.nan,
                reason="no valid samples on " + ("the left" if not math.isfinite(lv) else "the right"),
            )
        si = abs(lv - rv) / mean * 100.0 if mean > 0 else 0.0
        return Measured(
            si,
            {"left": round(lv, 3), "right": round(rv, 3), "stat": self.stat},
            why=f"{self.label} {si:.1f} % (left {lv:.1f}, right {rv:.1f})",
        )

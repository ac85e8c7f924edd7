"""Faults on purpose: a source wrapper that loses packets and corrupts samples, for trust tests.

:class:`FaultySource` wraps any :class:`~nmre.core.Source` and, per stream, drops
a seeded fraction of its packets (the next kept block says how many samples were
lost in ``missing_before``, as a BLE decoder would) and overwrites the samples
that fall in given time spans with a value (NaN, inf, a huge number) or with the
last value before the span (a stuck sensor). The wrapped source is untouched;
arrival times of the packets kept do not change.

It is how the tests, the evaluation suite and a developer reproduce what a bad
radio or a broken sensor does to a session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, Event, StreamInfo
from nmre.errors import ConfigError, expected

__all__ = ["Corruption", "FaultySource"]


@dataclass(frozen=True)
class Corruption:
    """Samples of ``stream`` with ``start <= t < end`` become ``value`` (``"stuck"``: the last value before).

    ``channels`` limits it to some rows (default: every row).
    """

    stream: str
    start: float
    end: float
    value: float | str = math.nan
    channels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.end > self.start):
            raise ConfigError(
                f"corruption of {self.stream!r}: "
                + expected("finite times with end > start", (self.start, self.end))
            )
        if isinstance(self.value, str) and self.value != "stuck":
            raise ConfigError(
                f"corruption of {self.stream!r}: " + expected("a number or 'stuck'", self.value)
            )


class FaultySource(Source):
    """Wrap ``source``; lose packets and corrupt samples per stream.

    Parameters
    ----------
    source : Source
        The source to wrap (simulator, replay, anything).
    loss : mapping of stream id to float, optional
        Probability in [0, 1) that a packet of that stream is lost.
    corrupt : sequence of Corruption, optional
        Time spans whose samples are overwritten.
    seed : int
        Seed of the packet-loss draws (one generator per stream, by name).
    """

    def __init__(
        self,
        source: Source,
        loss: Mapping[str, float] | None = None,
        corrupt: Sequence[Corruption] = (),
        seed: int = 0,
    ) -> None:
        self.source = source
        ids = {s.id for s in source.streams}
        self.loss = dict(loss or {})
        for sid, p in self.loss.items():
            if sid not in ids:
                raise ConfigError(
                    f"faulty source: loss on {sid!r}: " + expected(f"one of {sorted(ids)}", sid)
                )
            if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
                raise ConfigError(
                    f"faulty source: loss on {sid!r}: " + expected("a probability in [0, 1)", p)
                )
        for c in corrupt:
            if c.stream not in ids:
                raise ConfigError(
                    "faulty source: corruption " + expected(f"a stream among {sorted(ids)}", c.stream)
                )
        self.corrupt = tuple(corrupt)
        self._rng = {
            sid: np.random.default_rng([seed, *(ord(ch) for ch in sid)]) for sid in sorted(self.loss)
        }
        self._owed: dict[str, int] = {}
        self._last: dict[str, np.ndarray] = {}
        self._held: dict[int, np.ndarray] = {}
        #: Packets dropped so far, per stream.
        self.dropped: dict[str, int] = {sid: 0 for sid in self.loss}

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self.source.streams

    def start(self, clock: Clock) -> None:
        self.source.wake = self.wake
        self.source.start(clock)

    def poll(self, now: float) -> list[Block]:
        out = []
        for b in self.source.poll(now):
            p = self.loss.get(b.stream, 0.0)
            if p and self._rng[b.stream].uniform() < p:
                self._owed[b.stream] = self._owed.get(b.stream, 0) + b.missing_before + b.n_samples
                self.dropped[b.stream] += 1
                continue
            owed = self._owed.pop(b.stream, 0)
            values = self._corrupted(b)
            if owed or values is not b.values:
                b = Block(b.stream, b.times, values, b.seq, b.missing_before + owed, b.arrival)
            out.append(b)
        return out

    def _corrupted(self, b: Block) -> np.ndarray:
        values = b.values
        for k, c in enumerate(self.corrupt):
            if c.stream != b.stream or b.n_samples == 0:
                continue
            hit = (b.times >= c.start) & (b.times < c.end)
            if not hit.any():
                continue
            if values is b.values:
                values = b.values.copy()
            rows = np.arange(values.shape[0]) if c.channels is None else np.asarray(c.channels)
            if c.value == "stuck":
                if k not in self._held:  # the last value before the span, then frozen
                    first = int(np.argmax(hit))
                    before = values[:, first - 1] if first else self._last.get(b.stream, values[:, 0])
                    self._held[k] = np.array(before, dtype=np.float64)
                fill = self._held[k][rows, None]
            else:
                fill = np.full((rows.shape[0], 1), float(c.value))
            sub = values[rows]
            values[rows] = np.where(hit[None, :], fill, sub)
        if b.n_samples:
            self._last[b.stream] = b.values[:, -1].copy()
        return values

    def poll_events(self) -> list[Event]:
        return self.source.poll_events()

    def next_arrival(self) -> float | None:
        return self.source.next_arrival()

    @property
    def finished(self) -> bool:
        return self.source.finished

    def stop(self) -> None:
        self.source.stop()

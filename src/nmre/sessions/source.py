"""A recording as a source: :class:`XdfReplaySource` serves a file's raw streams to the engine.

Replay and a live session differ only in the source and the clock. Two ways to
hand the samples over:

* **as recorded** (default, when the file has its block log ``nmre.blocks``): the
  very blocks the engine was handed during the session, at their arrival times and
  in their order, with their sequence numbers and gaps. The same drill and settings
  then give the recorded session's events exactly, so a what-if comparison shows
  only what the change did.
* **in blocks of** ``block_seconds``: each raw stream is cut at multiples of
  ``block_seconds`` of sample time and tick ``k``'s blocks arrive at ``(k + 1) *
  block_seconds`` (every sample once, never before it was taken), streams in the
  file's order, gaps (``missing_before``) from ``nmre.gaps``. A processor that gives
  the same output for any split into blocks gives the same events whatever the
  block length; only ``detected_at`` moves with it.

Derived streams in the file are not served (the drill derives them again), nor
are events, feedback or metadata; the recorded device and stream events
(disconnects, gaps, malformed packets) are raised again at their time, as a live
source would.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from nmre.core.clock import Clock
from nmre.core.interfaces import Source
from nmre.core.model import Block, Event, StreamInfo
from nmre.errors import ConfigError, RecordingError, StateError
from nmre.sessions import xdf

__all__ = ["SOURCE_EVENT_FAMILIES", "ScaledClock", "XdfReplaySource"]

#: Event families a source raises (rather than a node): a replay raises them again.
SOURCE_EVENT_FAMILIES = ("device.", "stream.", "source.")


class ScaledClock(Clock):
    """Wall time scaled by ``speed``: ``--speed 2`` plays a recording twice as fast as it was made."""

    is_virtual = False

    def __init__(self, speed: float = 1.0) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"speed: expected a number > 0, got {speed!r}")
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_until(self, t: float, wake: threading.Event | None = None) -> float:
        delay = (t - self.now()) / self.speed
        if delay > 0:
            if wake is None:
                time.sleep(delay)
            else:
                wake.wait(delay)
                wake.clear()
        return self.now()


class XdfReplaySource(Source):
    """A scheduled source that replays the raw streams of an XDF recording.

    Parameters
    ----------
    recording : str, path-like or Recording
        The file (read with :func:`~nmre.sessions.read_xdf`) or a recording already read.
    block_seconds : float or None
        Sample time per served block (s); ``None`` (default): as recorded when the file
        has a block log, else 0.1 s.
    start, stop : float, optional
        Serve only samples with ``start <= t < stop`` (session s): a time range of the file.
    """

    def __init__(
        self,
        recording: str | os.PathLike[str] | xdf.Recording,
        *,
        block_seconds: float | None = None,
        start: float | None = None,
        stop: float | None = None,
    ) -> None:
        if block_seconds is not None and not (
            isinstance(block_seconds, (int, float)) and 0 < block_seconds <= 60
        ):
            raise ConfigError(f"replay block: expected 0 < seconds <= 60, got {block_seconds!r}")
        rec = recording if isinstance(recording, xdf.Recording) else xdf.read_xdf(recording)
        self.recording = rec
        raw = rec.raw
        if not raw:
            roles = ", ".join(f"{s.name} ({s.role}, {s.type or 'no type'})" for s in rec.streams) or "none"
            raise RecordingError(f"{rec.path}: expected raw sensor streams to replay, got {roles}")
        self._streams = raw
        self._log = self._block_log(rec, raw) if block_seconds is None else None
        self.as_recorded = self._log is not None
        self.block_seconds = 0.1 if block_seconds is None else float(block_seconds)
        self._infos = [s.info for s in raw if s.info is not None]
        lo = -math.inf if start is None else float(start)
        hi = math.inf if stop is None else float(stop)
        self._lo, self._hi = lo, hi
        self._pos = [int(np.searchsorted(s.times, lo, side="left")) for s in raw]
        self._end = [int(np.searchsorted(s.times, hi, side="left")) for s in raw]
        firsts = [float(s.times[p]) for s, p, e in zip(raw, self._pos, self._end, strict=True) if e > p]
        lasts = [float(s.times[e - 1]) for s, p, e in zip(raw, self._pos, self._end, strict=True) if e > p]
        self._tick = math.floor(min(firsts) / self.block_seconds) if firsts else 0
        self._last_tick = math.floor(max(lasts) / self.block_seconds) if lasts else -1
        self._gaps = self._read_gaps(rec, raw)
        self._missing_before_pos = [0] * len(raw)  # samples missing up to each stream's position
        self._events = sorted(
            (e for e in rec.events if e.kind.startswith(SOURCE_EVENT_FAMILIES) and lo <= _when(e) < hi),
            key=_when,
        )
        self._ev = 0
        self._started = False
        self._clock: Clock | None = None
        self._li = 0
        if self._log is not None:
            self._skip_log_before(lo)

    @staticmethod
    def _block_log(rec: xdf.Recording, raw: Sequence[xdf.XdfStream]) -> tuple[Any, Any, list[int]] | None:
        """``(arrivals, entries (n, 4), raw position per logged stream)`` or ``None`` without a usable log."""
        logs = [s for s in rec.by_role(xdf.Role.BLOCKS) if not s.is_string and s.n_channels == 4]
        if not logs or not logs[0].n_samples:
            return None
        log = logs[0]
        names = log.desc.get("streams")
        index = {s.name: i for i, s in enumerate(raw)}
        if not isinstance(names, list) or any(n not in index for n in names):
            return None
        return log.times, log.values.T.astype(np.int64), [index[n] for n in names]

    def _skip_log_before(self, lo: float) -> None:
        if not math.isfinite(lo):
            return
        assert self._log is not None
        arrivals, entries, where = self._log
        while self._li < arrivals.shape[0] and arrivals[self._li] < lo:
            i = where[entries[self._li, 0]]
            self._pos[i] = min(self._end[i], self._pos[i] + int(entries[self._li, 1]))
            self._li += 1

    @staticmethod
    def _read_gaps(rec: xdf.Recording, raw: Sequence[xdf.XdfStream]) -> list[dict[int, int]]:
        """Per raw stream: sample index → samples missing before it (from the ``nmre.gaps`` stream)."""
        out: list[dict[int, int]] = [{} for _ in raw]
        index = {s.name: i for i, s in enumerate(raw)}
        for g in rec.by_role(xdf.Role.GAPS):
            for t, row in zip(g.times.tolist(), g.values, strict=True):
                try:
                    d = json.loads(row[0])
                    i = index[d["stream"]]
                    n = int(d["missing_before"])
                except (ValueError, KeyError, TypeError):
                    continue
                k = int(np.searchsorted(raw[i].times, t, side="left"))
                if n > 0:
                    out[i][k] = out[i].get(k, 0) + n
        return out

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return self._infos

    def start(self, clock: Clock) -> None:
        if self._started:
            raise StateError("replay source: start() needs state 'idle', but it is already started")
        self._started = True
        self._clock = clock

    def next_arrival(self) -> float | None:
        if self._log is not None:
            if self._li < self._log[0].shape[0]:
                return float(self._log[0][self._li])
            self._end_of_log()
        if self._tick > self._last_tick:
            if self._ev < len(self._events):
                return _when(self._events[self._ev])
            return None
        return (self._tick + 1) * self.block_seconds

    def _end_of_log(self) -> None:
        """The log is used up: samples it did not cover (a recovered file) go out in blocks after it."""
        assert self._log is not None
        arrivals = self._log[0]
        self._log = None
        rest = [
            float(s.times[p]) for s, p, e in zip(self._streams, self._pos, self._end, strict=True) if e > p
        ]
        if rest:
            after = float(arrivals[-1]) if arrivals.shape[0] else -math.inf
            self._tick = max(
                math.floor(min(rest) / self.block_seconds), math.floor(after / self.block_seconds)
            )
        else:
            self._tick = self._last_tick + 1

    @property
    def finished(self) -> bool:
        if self._log is not None:
            return False
        return self._tick > self._last_tick and self._ev >= len(self._events)

    def poll_events(self) -> list[Event]:
        """The recorded source events due by now, stamped again by the engine (``detected_at`` cleared)."""
        if self._clock is None:
            return []
        now = self._clock.now()
        out = []
        while self._ev < len(self._events) and _when(self._events[self._ev]) <= now:
            out.append(replace(self._events[self._ev], detected_at=math.nan))
            self._ev += 1
        return out

    def poll(self, now: float) -> list[Block]:
        if self._log is not None:
            return self._poll_log(now)
        out: list[Block] = []
        b = self.block_seconds
        while self._tick <= self._last_tick and (self._tick + 1) * b <= now:
            edge = (self._tick + 1) * b
            arrival = edge
            for i, s in enumerate(self._streams):
                a, e = self._pos[i], self._end[i]
                if a >= e:
                    continue
                stop = min(e, int(np.searchsorted(s.times, edge, side="left")))
                if stop <= a:
                    continue
                out.extend(self._blocks(i, s, a, stop, arrival))
                self._pos[i] = stop
            self._tick += 1
        return out

    def _poll_log(self, now: float) -> list[Block]:
        assert self._log is not None
        arrivals, entries, where = self._log
        out: list[Block] = []
        n_log = arrivals.shape[0]
        li = self._li
        while li < n_log and arrivals[li] <= now:
            if arrivals[li] >= self._hi:
                li = n_log
                break
            k, n, seq, missing = entries[li]
            i = where[k]
            s = self._streams[i]
            a = self._pos[i]
            b = min(self._end[i], a + int(n))
            if b > a or missing:
                name = s.info.id if s.info is not None else s.name
                vals = np.ascontiguousarray(s.values[:, a:b])
                out.append(Block(name, s.times[a:b], vals, int(seq), int(missing), float(arrivals[li])))
            self._pos[i] = b
            li += 1
        self._li = li
        return out

    def _blocks(self, i: int, s: xdf.XdfStream, a: int, stop: int, arrival: float) -> list[Block]:
        """Samples ``a:stop`` of stream ``i``, split where the recording had a gap."""
        gaps = self._gaps[i]
        cuts = [k for k in gaps if a < k < stop] if gaps else []
        bounds = [a, *sorted(cuts), stop]
        blocks = []
        name = s.info.id if s.info is not None else s.name
        for lo, hi in itertools.pairwise(bounds):
            missing = gaps.get(lo, 0) if gaps else 0
            self._missing_before_pos[i] += missing
            seq = lo + self._missing_before_pos[i]
            blocks.append(
                Block(
                    name,
                    s.times[lo:hi],
                    np.ascontiguousarray(s.values[:, lo:hi]),
                    seq=seq,
                    missing_before=missing,
                    arrival=arrival,
                )
            )
        return blocks


def _when(e: Event) -> float:
    return e.detected_at if math.isfinite(e.detected_at) else e.time

"""Driving a rule by hand: blocks and events in session order, no engine (helpers of tests/rules)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Channel, Event, Placement, Side, StreamInfo, StreamKind


def angle_info(
    stream: str = "angle.knee.r", channels: Sequence[str] = ("flexion",), rate: float = 100.0
) -> StreamInfo:
    return StreamInfo(stream, StreamKind.ANGLE, tuple(Channel(c, "deg") for c in channels), rate)


def envelope_info(
    stream: str = "emg.r.envelope",
    muscles: Sequence[str] = ("vmo", "vl"),
    rate: float = 1000.0,
    unit: str = "mV",
) -> StreamInfo:
    ch = tuple(Channel(m, unit, Placement(muscle=m, side=Side.RIGHT)) for m in muscles)
    return StreamInfo(stream, StreamKind.ENVELOPE, ch, rate, Placement(side=Side.RIGHT))


def blocks(stream: str, t: np.ndarray, x: np.ndarray, sizes: Iterable[int] | None = None) -> list[Block]:
    """``x`` (n,) or (c, n) at times ``t`` cut into blocks of ``sizes`` (default 10 samples)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out, i = [], 0
    it = iter(sizes) if sizes is not None else None
    while i < t.shape[0]:
        n = next(it) if it is not None else 10
        out.append(Block(stream, t[i : i + n].copy(), np.ascontiguousarray(x[:, i : i + n])))
        i += n
    return out


def rep_events(
    k: int, start: float, end: float, peak_time: float | None = None, source: str = "reps"
) -> tuple[Event, Event]:
    s = Event(start, kinds.REP_START, source, {"rep": k})
    payload = {"rep": k, "start": start, "end": end, "duration": end - start}
    if peak_time is not None:
        payload["peak_time"] = peak_time
    return s, Event(end, kinds.REP_END, source, payload)


def drive(rule, infos: Sequence[StreamInfo], items: Iterable[Block | Event]) -> list[Event]:
    """Bind ``rule``, feed ``items`` in order (blocks pushed, events delivered), return what it raised."""
    rule.bind({i.id: i for i in infos})
    out: list[Event] = []
    for item in items:
        if isinstance(item, Block):
            rule.push(item)
        else:
            rule.on_event(item)
        out += rule.pop_events()
    rule.on_time(math.inf)  # the session ended: a unit still waiting for its samples is judged as it is
    out += rule.pop_events()
    return out


def in_order(blocks_: Sequence[Block], events: Sequence[Event]) -> list[Block | Event]:
    """Blocks and events merged by time (an event at time t comes after the block holding t)."""
    items: list[tuple[float, int, Block | Event]] = [(float(b.times[-1]), 0, b) for b in blocks_]
    items += [(e.time, 1, e) for e in events]
    items.sort(key=lambda x: (x[0], x[1]))
    return [i for _, _, i in items]

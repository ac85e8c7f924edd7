"""Input screens: no sample can poison a processor's state (issue 8, point 2).

A sample is **bad** for a processor when any of its channels is NaN or ±inf, or
lies beyond the channel's full-scale limit (what no sensor can report: a
corrupt packet, a decoder bug, a file written wrong). One such sample used to
leave an IIR filter, an envelope or a moving RMS returning NaN for the rest of
the session, and one finite 1e300 overflowed a moving RMS for good.

Every public processor of :mod:`nmre.dsp` is declared with :func:`protected`,
in one of two modes:

``"skip"``
    Bad samples never reach the processor: the block is cut into its good
    stretches, each is processed in turn (a processor's output does not depend
    on how its input is split into blocks), and the output of a per-sample
    processor is NaN at the bad samples, so what was not computed is marked.
    The processor's state is the state it had before the bad stretch, so after
    good input returns its output matches a fresh processor's once the state's
    memory of before has faded (the settling time: a filter's transient, a
    window's length).
``"hold"``
    For processors whose channels are independent (filters, envelopes): a bad
    sample of a channel is replaced by that channel's last good value before the
    processor sees it (0 before any), as :class:`nmre.dsp.Guard` does, and the
    processor's output for that channel and sample is NaN; the other channels
    are untouched.
``"nan"``
    For processors that already skip non-finite samples themselves and report
    them (the orientation filters, sway, inclination, transitions, the Guard):
    samples beyond the limit are turned into NaN (in a copy) and so skipped
    the same way.

Either way one ``dsp.bad_input`` event says so at the start of each bad stretch
(bad samples less than :data:`MERGE_SECONDS` apart are one stretch), with the
stream, the reason of its first sample and how it was handled; the events are
the same for any block split.

Limits: by default :data:`GENERIC_LIMIT` on every channel, a magnitude no
signal in any unit nmre uses comes near and whose square is still finite.
:meth:`set_input_limits` (called by :class:`nmre.engine.ProcessorNode` with the
limits of the input stream, :func:`nmre.core.ranges.channel_limits`) narrows
them to the device's full scale or the unit's default: ±16 g, ±2000 °/s,
±10 mV, ±1.01 for quaternion components.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre._numba import kernel
from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event

__all__ = ["GENERIC_LIMIT", "MERGE_SECONDS", "InputScreen", "protected"]

F64 = NDArray[np.float64]

#: Default limit of every channel: beyond it a sample is bad whatever its unit (1e150² is still finite).
GENERIC_LIMIT = 1e12
#: Bad samples closer than this (seconds) belong to one stretch and one event.
MERGE_SECONDS = 1.0

Mode = Literal["skip", "hold", "nan"]
_F8 = np.dtype(np.float64)
_HANDLING = {
    "skip": "skipped; the output there is NaN",
    "hold": "replaced by the last good value; the output there is NaN",
    "nan": "skipped",
}
P = TypeVar("P", bound=type[Processor])


@kernel
def first_bad(x: np.ndarray, limit: np.ndarray) -> int:
    """Index of the first sample with a channel non-finite or beyond ``limit[c]``; -1 when none."""
    n_ch, n = x.shape
    for i in range(n):
        for c in range(n_ch):
            v = x[c, i]
            if not (abs(v) <= limit[c]):  # False for NaN too
                return i
    return -1


@kernel
def bad_samples(x: np.ndarray, limit: np.ndarray, mask: np.ndarray) -> int:
    """``mask[i]`` = sample ``i`` is bad (any channel non-finite or beyond its limit); returns the non-finite count."""
    n_ch, n = x.shape
    nonfinite = 0
    for i in range(n):
        bad = False
        for c in range(n_ch):
            v = x[c, i]
            if not math.isfinite(v):
                nonfinite += 1
                bad = True
                break
            if abs(v) > limit[c]:
                bad = True
        mask[i] = bad
    return nonfinite


class InputScreen:
    """The screen of one processor: limits per channel, the open bad stretch, the events raised."""

    __slots__ = ("_last_bad", "_limit", "_limits", "_prev", "events", "mode", "owner", "reports_nonfinite")

    def __init__(self, owner: str, mode: Mode, reports_nonfinite: bool = False) -> None:
        self.owner = owner
        self.mode: Mode = mode
        self.reports_nonfinite = reports_nonfinite  # the processor raises its own dsp.nonfinite
        self._limits: F64 | None = None  # per channel, from the stream info
        self._limit: dict[int, F64] = {}  # n_channels -> the limits in use
        self._last_bad = -math.inf  # time of the last bad sample seen
        self._prev: F64 | None = None  # the values the processor got last ("hold": their last column)
        self.events: list[Event] = []

    def set_limits(self, limits: ArrayLike | None) -> None:
        if limits is None:
            self._limits = None
        else:
            lim = np.asarray(limits, dtype=np.float64).ravel()
            self._limits = np.ascontiguousarray(np.where(np.isfinite(lim) & (lim > 0), lim, GENERIC_LIMIT))
        self._limit = {}

    def limit(self, n_channels: int) -> F64:
        lim = self._limit.get(n_channels)
        if lim is None:  # once per channel count
            if self._limits is not None and self._limits.shape[0] == n_channels:
                lim = self._limits
            else:
                lim = np.full(n_channels, GENERIC_LIMIT)
            self._limit[n_channels] = lim
        return lim

    def reset(self) -> None:
        self._last_bad = -math.inf
        self._prev = None
        self.events = []

    def screen(self, block: Block, run: Callable[[Block], Block], per_sample: bool = True) -> Block:
        """``run(block)`` with the bad samples kept out (``per_sample``: one output sample per input sample)."""
        x = block.values
        if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 2 and x.shape[1]):
            return run(block)  # nothing to screen, or the processor's own checks name what is wrong
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        limit = self.limit(x.shape[0])
        if first_bad(x, limit) < 0:
            self._prev = x
            return run(block)
        mask = np.empty(x.shape[1], dtype=np.bool_)
        bad_samples(x, limit, mask)
        if self.mode == "nan":  # the processor skips non-finite samples itself
            beyond = mask & np.isfinite(x).all(axis=0)
            if self.reports_nonfinite:
                if beyond.any():
                    self._report(block, beyond, x)
            else:
                self._report(block, mask, x)
            if not beyond.any():
                return run(block)
            y = x.copy()
            y[:, beyond] = np.nan
            return run(Block(block.stream, block.times, y, block.seq, block.missing_before, block.arrival))
        self._report(block, mask, x)
        if self.mode == "hold":
            return self._hold(block, x, limit, run)
        return self._skip(block, x, mask, run, per_sample)

    def _hold(self, block: Block, x: F64, limit: F64, run: Callable[[Block], Block]) -> Block:
        bad = ~(np.abs(x) <= limit[:, None])  # (n_channels, n); NaN is bad
        y = x.copy()
        prev = self._prev
        n = x.shape[1]
        for c in np.flatnonzero(bad.any(axis=1)).tolist():
            good_at = np.maximum.accumulate(np.where(bad[c], -1, np.arange(n)))
            before = float(prev[c, -1]) if prev is not None and prev.shape[0] == x.shape[0] else 0.0
            y[c] = np.where(good_at >= 0, x[c, np.maximum(good_at, 0)], before)
        self._prev = y
        out = run(Block(block.stream, block.times, y, block.seq, block.missing_before, block.arrival))
        if out.values.shape != x.shape:  # not one output per input sample and channel: nothing to mark
            return out
        v = out.values.copy()
        v[bad] = np.nan
        return Block(out.stream, out.times, v, out.seq, out.missing_before, out.arrival)

    def _report(self, block: Block, mask: NDArray[np.bool_], x: F64) -> None:
        """One event at the start of each bad stretch (the same events for any block split)."""
        idx = np.flatnonzero(mask)
        t = block.times
        # a new stretch wherever bad samples are further apart than MERGE_SECONDS
        starts = [0] + [k + 1 for k in np.flatnonzero(np.diff(t[idx]) > MERGE_SECONDS).tolist()]
        for a, b in zip(starts, [*starts[1:], idx.shape[0]], strict=True):
            first = float(t[idx[a]])
            if first - self._last_bad > MERGE_SECONDS:
                reason = "beyond full scale" if np.isfinite(x[:, idx[a]]).all() else "non-finite"
                self.events.append(
                    Event(
                        first,
                        kinds.DSP_BAD_INPUT,
                        self.owner,
                        {"stream": block.stream, "reason": reason, "handling": _HANDLING[self.mode]},
                        therapist_message=f"{block.stream}: {reason} samples from {first:.3f} s kept out of "
                        f"{self.owner} ({_HANDLING[self.mode]})",
                    )
                )
            self._last_bad = float(t[idx[b - 1]])

    def _skip(
        self, block: Block, x: F64, mask: NDArray[np.bool_], run: Callable[[Block], Block], per_sample: bool
    ) -> Block:
        n = x.shape[1]
        edges = np.flatnonzero(np.diff(np.concatenate(([True], mask, [True])).astype(np.int8)))
        outs: list[tuple[int, int, Block]] = []
        skipped = block.missing_before
        pos = 0
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            skipped += a - pos
            sub = Block(block.stream, block.times[a:b], x[:, a:b], block.seq + a, skipped, block.arrival)
            outs.append((a, b, run(sub)))
            skipped, pos = 0, b
        if not outs:  # every sample bad: learn the output's shape from an empty block
            empty = run(Block(block.stream, block.times[:0], x[:, :0], block.seq, 0, block.arrival))
            if per_sample:
                return Block(
                    empty.stream,
                    block.times,
                    np.full((empty.values.shape[0], n), np.nan),
                    block.seq,
                    block.missing_before,
                    block.arrival,
                )
            return empty
        first = outs[0][2]
        if all(o.times.shape[0] == b - a for a, b, o in outs):  # a per-sample processor: mark the bad samples
            y = np.full((first.values.shape[0], n), np.nan)
            for a, b, o in outs:
                y[:, a:b] = o.values
            return Block(first.stream, block.times, y, block.seq, block.missing_before, block.arrival)
        return Block(
            first.stream,
            np.concatenate([o.times for _, _, o in outs]),
            np.concatenate([o.values for _, _, o in outs], axis=1),
            block.seq,
            block.missing_before,
            block.arrival,
        )


def _screen_of(proc: Any, mode: Mode, reports_nonfinite: bool = False) -> InputScreen:
    scr: InputScreen | None = proc.__dict__.get("_input_screen")
    if scr is None:
        scr = InputScreen(type(proc).__name__, mode, reports_nonfinite)
        proc.__dict__["_input_screen"] = scr
    return scr


def protected(mode: Mode = "skip", *, reports_nonfinite: bool = False) -> Callable[[P], P]:
    """Class decorator: screen every block the processor gets (see the module docs).

    Wraps ``process`` (when the class defines it), ``pop_events`` and ``reset``,
    and adds ``set_input_limits(limits)`` (per channel, in channel units). A class
    may define ``_process_clean(block, values, limit)``: what ``process`` returns for a
    block none of whose samples is bad (non-finite or beyond ``limit``), computed with
    the check in the same kernel call, or ``None`` (nothing changed) when a sample is
    bad or the block is not the usual kind; ``process`` and the screen then take it.
    A class whose output is not one sample per input sample (windowed features) sets
    ``per_sample = False``.
    """

    def deco(cls: P) -> P:
        if "process" in cls.__dict__:
            inner_process = cls.__dict__["process"]
            # optional: ``_process_clean(block, values, limit)``, the usual block processed and checked in
            # one kernel call; ``None`` when it does not apply or a sample is bad, with nothing changed
            clean = cls.__dict__.get("_process_clean")

            @functools.wraps(inner_process)
            def process(self: Any, block: Block) -> Block:
                scr = self.__dict__.get("_input_screen") or _screen_of(self, mode, reports_nonfinite)
                x = block.values
                # the hot path: one kernel call on a clean float64 block, nothing allocated
                if type(x) is np.ndarray and x.dtype is _F8 and x.ndim == 2 and x.flags.c_contiguous:
                    limit = scr._limit.get(x.shape[0])
                    if limit is None:
                        limit = scr.limit(x.shape[0])
                    if clean is not None:
                        out = clean(self, block, x, limit)
                        if out is not None:
                            scr._prev = x
                            return out  # type: ignore[no-any-return]
                    if first_bad(x, limit) < 0:
                        scr._prev = x
                        return inner_process(self, block)  # type: ignore[no-any-return]
                return scr.screen(block, functools.partial(inner_process, self), self.per_sample)

            cls.process = process  # type: ignore[method-assign]

        inner_pop = cls.pop_events

        if (
            inner_pop is Processor.pop_events
        ):  # the class raises none of its own: only the screen's (hot path)

            @functools.wraps(inner_pop)
            def pop_events(self: Any) -> list[Event]:
                scr = self.__dict__.get("_input_screen")
                if scr is None or not scr.events:
                    return []
                mine, scr.events = scr.events, []
                return mine

        else:

            @functools.wraps(inner_pop)
            def pop_events(self: Any) -> list[Event]:
                scr = self.__dict__.get("_input_screen")
                if scr is None or not scr.events:
                    return inner_pop(self)
                mine, scr.events = scr.events, []
                return mine + inner_pop(self)

        inner_reset = cls.reset

        @functools.wraps(inner_reset)
        def reset(self: Any) -> None:
            inner_reset(self)
            scr = self.__dict__.get("_input_screen")
            if scr is not None:
                scr.reset()

        def set_input_limits(self: Any, limits: ArrayLike | None) -> None:
            """Per-channel limits beyond which a sample is bad (channel units; ``None``: the generic limit)."""
            _screen_of(self, mode, reports_nonfinite).set_limits(limits)

        if "per_sample" not in cls.__dict__ and not hasattr(cls, "per_sample"):
            cls.per_sample = True  # type: ignore[attr-defined]
        cls.pop_events = pop_events  # type: ignore[method-assign]
        cls.reset = reset  # type: ignore[method-assign]
        cls.set_input_limits = set_input_limits  # type: ignore[attr-defined]
        return cls

    return deco

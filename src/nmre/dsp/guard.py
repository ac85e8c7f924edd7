"""Bad-input guard: catch NaN/inf, saturation and stuck samples before they reach filter state.

An IIR filter that sees one NaN outputs NaN for the rest of the session; a
clipped burst leaves a long transient. :class:`Guard` goes first in a chain and
replaces such samples, so downstream state stays clean, and reports what it
replaced as ``"signal.bad"`` events (reference/dsp.md §1.6, quality gates).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, StreamInfo
from nmre.dsp._filter_checks import as_signal
from nmre.dsp._filter_guard_kernel import REASONS, guard_kernel, guard_kernel_clean
from nmre.dsp._protect import protected
from nmre.errors import ConfigError

__all__ = ["Guard"]

F64 = NDArray[np.float64]


@protected("nan", reports_nonfinite=True)
class Guard(Processor):
    """Flag and replace bad samples; report them through :meth:`pop_events`.

    A sample is bad when it is

    * ``"nonfinite"``: NaN or ±inf;
    * ``"saturated"``: ``|x| >= full_scale`` (at or beyond the ADC rail);
    * ``"stuck"``: the ``stuck_samples``-th or later of a run of identical values
      (a frozen or railed ADC; off by default).

    Replacement (``replace``): ``"hold"`` repeats the channel's last good value
    (0 before the first good one), which keeps a high-pass or band-pass filter
    from ringing; ``"zero"`` writes 0. Either way the bad value never reaches the
    next stage's state, so a burst cannot poison it for the rest of the session.

    Each block with bad samples yields one Event per channel and reason: kind
    ``"signal.bad"``, ``time`` = first bad sample's time, ``detected_at`` = the
    block's last sample time, payload ``stream, channel, reason, count, first,
    last`` (first/last are sample times in seconds). The cleaned values do not
    depend on how the signal is split into blocks; the event grouping does.

    Input validation: values must be a ``(n_channels, n)`` array of real numbers;
    integer dtypes are converted to float64 (exact up to 2**53); bool, complex,
    object and string dtypes raise :class:`nmre.errors.InputError`.

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    full_scale : float or array_like of shape (n_channels,), optional
        Rail per channel in signal units (e.g. the EMG front end's input range in mV).
        ``None``: no saturation check.
    stuck_samples : int, optional
        Identical consecutive values from which samples count as stuck (>= 2).
    replace : {"hold", "zero"}
        Replacement for bad samples.
    channel_names : sequence of str, optional
        Names used in event payloads instead of row indices.
    merge : float
        Seconds. When > 0, findings of one channel and reason less than
        ``merge`` s apart form one **burst**: its first block raises
        ``"signal.bad"`` at once, and once ``merge`` s pass without a finding a
        ``"signal.recovered"`` event gives the burst's total count, first and
        last time. A live session then logs two events per dropout instead of
        one per block. Default 0 (one event per block, as above).
    name : str, optional
        Output stream id (default: the input's id).
    """

    def __init__(
        self,
        n_channels: int,
        full_scale: float | ArrayLike | None = None,
        stuck_samples: int | None = None,
        replace: Literal["hold", "zero"] = "hold",
        channel_names: Sequence[str] | None = None,
        merge: float = 0.0,
        name: str | None = None,
    ) -> None:
        self.name = name
        if not (merge >= 0 and np.isfinite(merge)):
            raise ConfigError(f"expected merge >= 0 s, got {merge!r}")
        self.merge = float(merge)
        self._bursts: dict[tuple[int, int], list[float]] = {}
        if not (isinstance(n_channels, (int, np.integer)) and n_channels >= 1):
            raise ConfigError(f"expected n_channels >= 1, got {n_channels!r}")
        self.n_channels = int(n_channels)
        fsc = np.inf if full_scale is None else full_scale
        self.full_scale = np.broadcast_to(np.asarray(fsc, dtype=np.float64), (self.n_channels,)).copy()
        if not np.all(self.full_scale > 0):
            raise ConfigError(f"expected full_scale > 0, got {full_scale!r}")
        if stuck_samples is not None and not (
            isinstance(stuck_samples, (int, np.integer)) and stuck_samples >= 2
        ):
            raise ConfigError(f"expected stuck_samples >= 2 or None, got {stuck_samples!r}")
        if replace not in ("hold", "zero"):
            raise ConfigError(f"expected replace 'hold' or 'zero', got {replace!r}")
        if channel_names is not None and len(channel_names) != self.n_channels:
            raise ConfigError(f"expected {self.n_channels} channel names, got {len(channel_names)}")
        self.stuck_samples = int(stuck_samples or 0)
        self.replace = replace
        self.channel_names = tuple(channel_names) if channel_names is not None else None
        self._last_good = np.zeros(self.n_channels)
        self._last_val = np.full(self.n_channels, np.nan)
        self._same = np.zeros(self.n_channels, dtype=np.int64)
        self._counts = np.zeros((self.n_channels, len(REASONS)), dtype=np.int64)
        self._first = np.zeros((self.n_channels, len(REASONS)), dtype=np.int64)
        self._last = np.zeros((self.n_channels, len(REASONS)), dtype=np.int64)
        self._events: list[Event] = []
        #: Bad samples seen since construction or reset, per (channel, reason).
        self.totals = np.zeros((self.n_channels, len(REASONS)), dtype=np.int64)

    def process(self, block: Block) -> Block:
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        n_bad = guard_kernel(
            x,
            self.full_scale,
            self.stuck_samples,
            self.replace == "hold",
            self._last_good,
            self._last_val,
            self._same,
            y,
            self._counts,
            self._first,
            self._last,
        )
        return self._finish(block, y, n_bad)

    def _process_clean(
        self, block: Block, x: NDArray[np.float64], limit: NDArray[np.float64]
    ) -> Block | None:
        """:meth:`process` of a block none of whose values the input screen holds back, in one kernel call."""
        if x.shape[0] != self.n_channels:
            return None
        y = np.empty_like(x)
        n_bad = guard_kernel_clean(
            x,
            limit,
            self.full_scale,
            self.stuck_samples,
            self.replace == "hold",
            self._last_good,
            self._last_val,
            self._same,
            y,
            self._counts,
            self._first,
            self._last,
        )
        if n_bad < 0:
            return None
        return self._finish(block, y, n_bad)

    def _finish(self, block: Block, y: NDArray[np.float64], n_bad: int) -> Block:
        """The events of a block's bad samples and of bursts that ended; the cleaned block."""
        if n_bad:
            self.totals += self._counts
            t = block.times
            for c, r in zip(*np.nonzero(self._counts), strict=True):
                first, last = float(t[self._first[c, r]]), float(t[self._last[c, r]])
                if self.merge > 0:
                    burst = self._bursts.get((int(c), int(r)))
                    if burst is not None and first - burst[1] <= self.merge:
                        burst[1], burst[2] = last, burst[2] + int(self._counts[c, r])
                        continue
                    if burst is not None:
                        self._close(block.stream, int(c), int(r), float(t[-1]))
                    self._bursts[(int(c), int(r))] = [first, last, float(self._counts[c, r])]
                self._events.append(
                    Event(
                        time=first,
                        kind=kinds.SIGNAL_BAD,
                        source=block.stream,
                        payload={
                            "stream": block.stream,
                            "channel": self.channel_names[c] if self.channel_names else int(c),
                            "reason": REASONS[r],
                            "count": int(self._counts[c, r]),
                            "first": first,
                            "last": last,
                        },
                        therapist_message=(
                            f"{self.channel_names[c] if self.channel_names else int(c)}: "
                            f"{self._counts[c, r]} {REASONS[r]} samples replaced ({self.replace})"
                        ),
                        detected_at=float(t[-1]),
                    )
                )
        if self._bursts and block.times.shape[0]:
            now = float(block.times[-1])
            for (c, r), burst in list(self._bursts.items()):
                if now - burst[1] > self.merge:
                    self._close(block.stream, c, r, now)
        return Block.derived(
            self.name or block.stream, block.times, y, block.seq, block.missing_before, block.arrival
        )

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return info if self.name is None else dataclasses.replace(info, id=self.name, device=None)

    def _close(self, stream: str, c: int, r: int, now: float) -> None:
        first, last, count = self._bursts.pop((c, r))
        name = self.channel_names[c] if self.channel_names else c
        self._events.append(
            Event(
                time=last,
                kind=kinds.SIGNAL_RECOVERED,
                source=stream,
                payload={
                    "stream": stream,
                    "channel": name,
                    "reason": REASONS[r],
                    "count": int(count),
                    "first": first,
                    "last": last,
                },
                therapist_message=f"{name}: {int(count)} {REASONS[r]} samples over {last - first:.2f} s, "
                f"replaced ({self.replace}); signal back",
                detected_at=now,
            )
        )

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def reset(self) -> None:
        self._last_good[...] = 0.0
        self._last_val[...] = np.nan
        self._same[...] = 0
        self.totals[...] = 0
        self._events = []
        self._bursts = {}

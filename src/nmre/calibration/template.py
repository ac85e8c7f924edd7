"""Template capture: record one repetition the therapist demonstrates (or guides), for DTW comparison.

:class:`TemplateCapture` keeps the last ``max_duration`` seconds of the signal it
watches (a joint angle, an inclination, an envelope) and, once started, takes the
first complete repetition: between the ``rep.start`` and ``rep.end`` events of a rep
segmenter (``reps_from``), or between the therapist's :meth:`TemplateCapture.mark_start`
and :meth:`TemplateCapture.mark_end` (a rep the segmenter would not see, e.g. a PNF
diagonal). A repetition shorter than ``min_duration`` or with a gap or a bad sample
is not taken (the step keeps waiting and says why); lost packets are bridged when no gap is longer than
:data:`nmre.quality.needs.MAX_GAP` and no more than :data:`~nmre.quality.needs.MAX_MISSING` of the samples are
missing (the same limits a rule judges under), and the template is stored evenly sampled at the
stream's rate. The template lands in the record under its ``name`` and is raised as ``calibration.template``; drills' DTW rule reads
it back (``record.templates[name].array``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from nmre.calibration.record import Calibration, Template
from nmre.calibration.steps import CalibrationStep
from nmre.core import kinds
from nmre.core.model import Block, Event
from nmre.errors import ConfigError, StateError, expected
from nmre.quality.needs import MAX_GAP, MAX_MISSING

__all__ = ["TemplateCapture"]

F64 = NDArray[np.float64]


class TemplateCapture(CalibrationStep):
    """Capture a demonstrated repetition of ``channels`` of ``stream`` (see the module docstring).

    Parameters
    ----------
    name : str
        The template's name (the key in ``record.templates``).
    stream : str
        The signal to record (a derived stream such as ``angle.knee.r``).
    channels : sequence of str, optional
        Its channels to keep (default: all).
    reps_from : str, optional
        Source name of the rep segmenter whose ``rep.start``/``rep.end`` delimit the
        rep; without it the therapist marks start and end.
    min_duration, max_duration : float
        Accepted length of the rep, seconds (0.3, 20).
    """

    def __init__(
        self,
        name: str,
        stream: str,
        *,
        channels: Sequence[str] | None = None,
        reps_from: str | None = None,
        min_duration: float = 0.3,
        max_duration: float = 20.0,
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
    ) -> None:
        if not (isinstance(name, str) and name):
            raise ConfigError("template capture: name " + expected("a non-empty string", name))
        if not (0 < min_duration < max_duration and math.isfinite(max_duration)):
            raise ConfigError(
                "template capture: "
                + expected("0 < min_duration < max_duration < inf", (min_duration, max_duration))
            )
        super().__init__("template", (stream,), record=record, autostart=autostart, timeout=timeout)
        self.template_name, self.stream, self.reps_from = name, stream, reps_from
        self.wanted = list(channels) if channels is not None else None
        self.min_duration, self.max_duration = float(min_duration), float(max_duration)
        self._rows: list[int] = []
        self._ring_t = np.zeros(0)
        self._ring_x = np.zeros((0, 0))
        self._clear()

    def _initial_wait(self) -> str:
        return "press start, then demonstrate one repetition"

    def _clear(self) -> None:
        self._pos = 0
        self._count = 0
        self._bad_since = -math.inf  # time of the last gap or bad sample
        self._span: list[float] = []
        if self._ring_x.size:
            self._ring_x[...] = 0.0
            self._ring_t[...] = 0.0

    def _bind(self) -> None:
        info = self.infos[self.stream]
        names = list(info.channel_names)
        chans = self.wanted if self.wanted is not None else names
        missing = [c for c in chans if c not in names]
        if missing:
            raise ConfigError(f"{self.kind}: expected channels {missing} in {self.stream!r}, it has {names}")
        if not info.rate > 0:
            raise ConfigError(f"{self.kind}: expected a regularly sampled stream, got rate {info.rate!r}")
        self.channels = chans
        self._rows = [names.index(c) for c in chans]
        self.rate = info.rate
        cap = max(2, round(self.max_duration * info.rate) + 2)
        self._ring_t = np.zeros(cap)
        self._ring_x = np.zeros((len(chans), cap))

    def reset(self) -> None:
        super().reset()
        self._clear()

    # -- the therapist's marks (no segmenter) ------------------------------------------------

    def mark_start(self, time: float) -> None:
        """The demonstration starts at session time ``time`` (no segmenter)."""
        if self.reps_from is not None or self.finished:
            raise StateError(f"{self.kind}: marks are for a running capture without a segmenter")
        self._span = [float(time)]

    def mark_end(self, time: float) -> None:
        """The demonstration ended at ``time``; the rep is taken at the next block."""
        if len(self._span) != 1:
            raise StateError(f"{self.kind}: expected mark_start before mark_end")
        self._span.append(float(time))

    # -- data --------------------------------------------------------------------------------

    def _store(self, block: Block) -> None:
        v = block.values[self._rows]
        if not np.all(np.isfinite(v)):
            self._bad_since = float(block.times[-1]) if block.n_samples else self._bad_since
        cap = self._ring_t.shape[0]
        for i in range(block.n_samples):
            self._ring_t[self._pos] = block.times[i]
            self._ring_x[:, self._pos] = v[:, i]
            self._pos = (self._pos + 1) % cap
            self._count = min(cap, self._count + 1)

    def _observe(self, block: Block) -> None:
        if not self.finished:
            self._store(block)

    def _push(self, block: Block) -> None:
        self._store(block)
        if len(self._span) == 2:
            t0, t1 = self._span[0], self._span[1]
            self._take(t0, t1, float(block.times[-1]) if block.n_samples else t1)
        elif not self.finished:
            self._wait(
                "demonstrate one repetition"
                + (" (from rest to rest)" if self.reps_from else " (mark its start and its end)"),
                recording=len(self._span) == 1,
            )

    def takes_event(self, kind: str) -> bool:
        return kind == kinds.REP_START or kind == kinds.REP_END

    def on_event(self, event: Event) -> None:
        if self.finished or self.reps_from is None or event.source != self.reps_from:
            return
        if event.kind == kinds.REP_START:
            self._span = [event.time]
        elif event.kind == kinds.REP_END and len(self._span) == 1:
            self._span.append(event.time)
            if self._state.value != "pending":
                self._take(self._span[0], self._span[1], event.time)

    def _take(self, t0: float, t1: float, now: float) -> None:
        self._span = []
        if not self.min_duration <= t1 - t0 <= self.max_duration:
            self._wait(
                f"one repetition of {self.min_duration:g}-{self.max_duration:g} s (that one lasted {t1 - t0:.1f} s)"
            )
            return
        if self._bad_since >= t0:
            self._wait("one repetition without a bad sample (that one had one)")
            return
        cap = self._ring_t.shape[0]
        order = (self._pos - self._count + np.arange(self._count)) % cap
        t, x = self._ring_t[order], self._ring_x[:, order]
        sel = (t >= t0) & (t <= t1)
        if int(sel.sum()) < 2 or t[0] > t0:
            self._wait("one repetition (that one started before the capture began)")
            return
        ts, xs = t[sel], x[:, sel]
        # lost packets: short gaps are bridged (the quality needs' limits: nmre.quality.needs)
        gap = float(np.max(np.diff(ts))) if ts.shape[0] > 1 else 0.0
        missing = 1.0 - ts.shape[0] / (1.0 + (ts[-1] - ts[0]) * self.rate)
        if gap > MAX_GAP or missing > MAX_MISSING:
            self._wait(
                f"one repetition without a gap over {MAX_GAP:g} s or {MAX_MISSING:.0%} of samples missing "
                f"(that one: gap {gap:.2f} s, {max(missing, 0.0):.0%} missing)"
            )
            return
        grid = ts[0] + np.arange(math.floor((ts[-1] - ts[0]) * self.rate + 1e-9) + 1) / self.rate
        if grid.shape[0] == ts.shape[0]:  # nothing lost: the samples as they came
            grid, even = ts, xs
        else:  # evenly sampled at the stream's rate again
            even = np.vstack([np.interp(grid, ts, row) for row in xs])
        tpl = Template(
            self.template_name,
            self.stream,
            list(self.channels),
            self.rate,
            even.tolist(),
            float(grid[0]),
            float(grid[-1]),
        )
        self._finish(
            now,
            {self.template_name: tpl},
            message=f"template {self.template_name!r} recorded: {t1 - t0:.2f} s of {', '.join(self.channels)}",
        )

"""Rules on the shape of each unit: hold time, smoothness, distance from a template rep.

* ``hold_time``: the longest time the signal was held, either within ``near`` of
  the unit's own extreme (a knee held straight at the top of an extension,
  whatever the range reached) or above / below a threshold with hysteresis and
  minimum on/off durations (a contraction held above a %reference line).
* ``smoothness``: SPARC (or LDLJ) of the unit's speed (Balasubramanian et al.
  2015; SPARC is valid on angular speed, Melendez-Calderon et al. 2021;
  reference/dsp.md §4.1).
* ``template``: dynamic-time-warping distance of the unit from a template rep
  the therapist demonstrated (the first rep of the session, or a recorded
  calibration), as the RMS deviation along the best warping path relative to
  the template's range (dsp.md §4.3: no z-normalisation, so a rep of reduced
  range is far from the template).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo
from nmre.dsp.dtw import subsequence_match
from nmre.dsp.movement import SPEED_CUTOFF, ldlj, position_speed, sparc
from nmre.errors import ConfigError, InputError, expected
from nmre.rules._runs import RunFinder
from nmre.rules.base import (
    Episode,
    FileResolver,
    Measured,
    Param,
    Rule,
    SampleBuffer,
    channel_row,
    check_unit,
)

__all__ = ["HoldTimeRule", "MovementTimeRule", "SmoothnessRule", "TemplateRule"]

F64 = NDArray[np.float64]


#: Seconds of samples kept while no unit is open, so that a unit begins with its own start. A
#: unit's start event comes after the start it is stamped with: the rep segmenter says a rep
#: began at the last sample in its rest band once the signal reaches the start threshold, 0.1-0.3
#: s later in the arm drills (and a long slow rise takes longer); 2 s covers a rise of 10 deg/s
#: to a threshold 20 deg above the rest band.
LEAD_SECONDS = 2.0


class _Buffered(Rule):
    """A rule that keeps the samples of the open unit of one channel (at most ``max_seconds``).

    The last :data:`LEAD_SECONDS` (plus :attr:`before`) of the channel are kept at all times, and a
    unit begins with those at or after its start (``before`` s before it): the event that opens a
    unit arrives after the unit's start, and the samples in between belong to the unit.
    """

    #: Seconds before a unit's start that its samples begin with (a kind that looks before the unit).
    before: float = 0.0

    def __init__(
        self,
        id: str,
        *,
        stream: str,
        channel: str,
        signal_unit: str | None = None,
        max_seconds: float = 60.0,
        **common: Any,
    ) -> None:
        if not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ConfigError(
                f"rule {id!r}: max_seconds: " + expected("a number of seconds > 0", max_seconds)
            )
        self.stream, self.channel, self.signal_unit = stream, channel, signal_unit
        self.max_seconds = float(max_seconds)
        self.rate = 0.0
        self._buf = SampleBuffer([0], 2)
        self._lead = SampleBuffer([0], 2)
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        row, unit = channel_row(infos, self.stream, self.channel, self.name)
        info = infos[self.stream]
        if not info.rate > 0:
            raise ConfigError(f"{self.name}: expected a regularly sampled signal, got rate {info.rate!r}")
        if self.signal_unit is not None and unit != self.signal_unit:
            raise ConfigError(
                f"{self.name}: signal_unit: "
                + expected(f"{unit!r} (the unit of {self.stream}:{self.channel})", self.signal_unit)
            )
        self.rate = info.rate
        self._buf = SampleBuffer([row], max(2, round(self.max_seconds * info.rate)))
        self._lead = SampleBuffer([row], max(2, round((LEAD_SECONDS + self.before) * info.rate) + 1))

    def reset(self) -> None:
        super().reset()
        self._buf.clear()
        self._lead.clear()

    def begin(self, episode: Episode) -> None:
        self._buf.clear()
        t, x = self._lead.arrays()
        keep = t >= episode.start - self.before
        self._buf.add_arrays(t[keep], x[:, keep])

    def push(self, block: Block) -> list[Block]:
        if block.stream == self.stream:
            self._lead.add(block)
            if self._episode is not None:
                self._buf.add(block)
        return []

    def samples(self, episode: Episode) -> tuple[F64, F64]:
        """The unit's finite samples ``(t, x)`` between its start and end."""
        t, x = self._buf.arrays()
        ok = np.isfinite(x[0]) & (t >= episode.start) & (t <= episode.end)
        return t[ok], x[0][ok]


_MODES = ("near_extreme", "above", "below")


class HoldTimeRule(_Buffered):
    """The longest time the signal was held in each unit, seconds, inside ``[lo, hi]``.

    ``mode = "near_extreme"``: held within ``near`` (signal unit) of the unit's own
    ``extreme`` (``min`` or ``max``); ``"above"`` / ``"below"``: held beyond
    ``on`` until it crosses back past ``off`` (hysteresis). Both with minimum
    on/off durations ``min_on``/``min_off`` s (a run shorter than ``min_on`` does
    not count; a dip shorter than ``min_off`` does not end the hold).
    ``near`` defaults to 5°, the accepted goniometry error (dsp.md §2.2).
    """

    KIND = "hold_time"
    ABOUT = "longest time the position (or contraction) was held in each unit, with hysteresis"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the held signal, <derived signal>.<channel>"),
        "signal_unit": Param("text", "the unit of the signal and of near / on / off"),
        "mode": Param(
            "choice",
            "held near the unit's extreme, or above / below a threshold",
            "near_extreme",
            choices=_MODES,
        ),
        "extreme": Param("choice", "which extreme (near_extreme mode)", "min", choices=("min", "max")),
        "near": Param("number", "how close to the extreme counts as held (near_extreme mode)", 5.0, lo=0.0),
        "on": Param("number", "threshold a hold starts beyond (above / below mode)", math.nan),
        "off": Param("number", "threshold it ends beyond (hysteresis)", math.nan),
        "min_on": Param("number", "shortest hold counted", 0.2, unit="s", lo=0.0),
        "min_off": Param("number", "shortest excursion that ends a hold", 0.2, unit="s", lo=0.0),
    }

    def __init__(
        self,
        id: str,
        *,
        mode: str = "near_extreme",
        extreme: str = "min",
        near: float = 5.0,
        on: float = math.nan,
        off: float = math.nan,
        min_on: float = 0.2,
        min_off: float = 0.2,
        **kw: Any,
    ) -> None:
        if mode not in _MODES:
            raise ConfigError(f"rule {id!r}: mode: " + expected(f"one of {', '.join(_MODES)}", mode))
        if extreme not in ("min", "max"):
            raise ConfigError(f"rule {id!r}: extreme: " + expected("min or max", extreme))
        if not (math.isfinite(near) and near >= 0):
            raise ConfigError(f"rule {id!r}: near: " + expected("a number >= 0", near))
        if mode != "near_extreme":
            if not (math.isfinite(on) and math.isfinite(off)):
                raise ConfigError(
                    f"rule {id!r}: expected on and off thresholds in mode {mode!r}, got {on!r}, {off!r}"
                )
            RunFinder(1000.0, on, off, min_on, min_off, below=mode == "below")  # checks hysteresis
        self.mode, self.extreme, self.near = mode, extreme, float(near)
        self.on, self.off, self.min_on, self.min_off = on, off, min_on, min_off
        super().__init__(id, **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        check_unit(self.name, "s", self.unit)

    def measure(self, episode: Episode) -> Measured:
        t, x = self.samples(episode)
        if t.shape[0] < 2:
            return Measured(math.nan)
        if self.mode == "near_extreme":
            below = self.extreme == "min"
            ext = float(x.min() if below else x.max())
            thr = ext + self.near if below else ext - self.near
            finder = RunFinder(self.rate, thr, thr, self.min_on, self.min_off, below=below)
            detail: dict[str, Any] = {"extreme": round(ext, 3), "near": self.near}
        else:
            finder = RunFinder(
                self.rate, self.on, self.off, self.min_on, self.min_off, below=self.mode == "below"
            )
            detail = {"on": self.on, "off": self.off}
        run = finder.longest(t, x)
        held = 0.0 if run is None else run[1] - run[0]
        if run is not None:
            detail["held_from"], detail["held_to"] = round(run[0], 4), round(run[1], 4)
        return Measured(held, detail)


_METRICS = ("sparc", "ldlj")
_INPUTS = ("position", "speed")
#: Longest stretch without samples that SPARC's speed is bridged over, s. SPARC takes the speed as
#: evenly sampled: lost packets must be bridged, not closed up (closing them up shortens the profile and
#: puts steps in it: 10 % of 2-sample packets lost moved SPARC by 0.10, with a 5 Hz tremor by 0.64, p95).
#: Bridged linearly, three gaps of 0.08 s in a 4.5 s two-phase rep with a 5 Hz tremor (the jerk SPARC
#: must see) move it by 0.019 (p95, 200 draws), 0.1 s gaps by 0.037: within 0.02, the change the rule's
#: onset and noise allow (docs/drills.md), up to 0.08 s. 20 % of 2-sample packets lost: 0.014.
SPARC_MAX_GAP = 0.08
#: SPARC measures the spectrum up to the last frequency whose magnitude is at least 5 % of the peak, so
#: a component (a 5 Hz tremor) whose magnitude is near 5 % puts the value on a step: about 0.6 apart on
#: either side (simulated PNF reps: -2.65 at a threshold of 0.055, -3.26 at 0.045). The measured value
#: then depends on sensor noise and the analysed span, not the movement, and is not judged. Measured
#: at threshold x (1 -/+ SPARC_EDGE_STEP): ordinary reps (smooth or jerky) move by at most 0.09, reps
#: on the step by 0.59-0.62; SPARC_EDGE_LIMIT is twice the rule's stated accuracy (margin 0.1).
SPARC_AMP_TH = (
    0.05  # the reference amplitude threshold (Balasubramanian et al. 2015; nmre.dsp.movement.sparc)
)
SPARC_EDGE_STEP = 0.1
SPARC_EDGE_LIMIT = 0.2


class SmoothnessRule(_Buffered):
    """Smoothness of each unit: SPARC (default) or LDLJ of the signal's speed, at least ``lo``.

    Speed is ``|Δx| · rate`` (angular speed for an angle), or the signal itself with
    ``input = "speed"`` (a gyroscope's angular speed, :mod:`nmre.dsp.upper_limb`); SPARC uses the
    reference settings (fc 10 Hz, amplitude threshold 0.05, pad level 4). Values
    are negative; closer to 0 is smoother (a Gaussian speed profile: -1.41).

    ``extend`` (s): a rep segmenter's thresholds cut off the start and the end of the
    movement, and SPARC of a speed profile that starts or stops abruptly is lower than
    the movement's (its spectrum widens). With ``extend > 0`` the span analysed runs from
    the speed's lowest point within ``extend`` s before the unit's start to its lowest
    point within ``extend`` s after the unit's end (the movement's onset and offset); the
    judgement then comes ``extend`` s after the unit closes.
    """

    KIND = "smoothness"
    ABOUT = "SPARC (or LDLJ) of each unit's speed above a limit: a smooth, not jerky, movement"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the signal whose speed is analysed, <derived signal>.<channel>"),
        "metric": Param("choice", "SPARC (speed) or LDLJ (velocity)", "sparc", choices=_METRICS),
        "input": Param(
            "choice",
            "the signal is a position (an angle: differentiated) or already a speed (a gyroscope's angular speed)",
            "position",
            choices=_INPUTS,
        ),
        "extend": Param(
            "number",
            "look this long before the unit's start and after its end for the movement's onset and offset",
            0.0,
            unit="s",
            lo=0.0,
        ),
    }

    def __init__(
        self, id: str, *, metric: str = "sparc", input: str = "position", extend: float = 0.0, **kw: Any
    ) -> None:
        if metric not in _METRICS:
            raise ConfigError(f"rule {id!r}: metric: " + expected("sparc or ldlj", metric))
        if input not in _INPUTS:
            raise ConfigError(f"rule {id!r}: input: " + expected("position or speed", input))
        if input == "speed" and metric == "ldlj":
            raise ConfigError(
                f"rule {id!r}: expected metric 'sparc' with input 'speed' (LDLJ needs a signed velocity; "
                "on gyroscope speed it is error-prone, Melendez-Calderon 2021), got 'ldlj'"
            )
        if isinstance(extend, bool) or not (isinstance(extend, (int, float)) and 0.0 <= extend < 30.0):
            raise ConfigError(f"rule {id!r}: extend: " + expected("a number of seconds in [0, 30)", extend))
        self.metric, self.input, self.extend = metric, input, float(extend)
        self.before = self.extend
        self._received: F64 = np.zeros(0)
        self._tail: tuple[Episode, Event] | None = None
        self._cut: float | None = None  # the session's end, while judging a tail it cut short
        super().__init__(id, **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        check_unit(self.name, "1", self.unit)

    def reset(self) -> None:
        super().reset()
        self._tail = None

    def begin(self, episode: Episode) -> None:
        self._finish_tail(None)
        super().begin(episode)

    def push(self, block: Block) -> list[Block]:
        if block.stream != self.stream:
            return []
        self._lead.add(block)
        if self._episode is not None or self._tail is not None:
            self._buf.add(block)
        if (
            self._tail is not None
            and block.n_samples
            and float(block.times[-1]) >= self._tail[0].end + self.extend
        ):
            # judged at the first sample ``extend`` s after the unit (not the block's last: that is the block size)
            t = block.times
            self._finish_tail(float(t[int(np.searchsorted(t, self._tail[0].end + self.extend, side="left"))]))
        return []

    def _close(self, episode: Episode, end: Event) -> None:
        if self.extend > 0:
            self._tail = (episode, end)
            return
        super()._close(episode, end)

    def finish(self, time: float) -> None:
        """The session ended while the last unit waited for its ``extend`` s: judge it now if it can be."""
        if self._tail is None:
            return
        self._cut = time
        try:
            self._finish_tail(time)
            # the streams end here: judged as they are (the gate says what is missing)
            self._judge_ready(math.inf)
        finally:
            self._cut = None

    def owes(self) -> bool:
        return self._tail is not None or super().owes()

    def _cut_short(self, episode: Episode) -> str:
        after = 0.0 if self._cut is None else max(0.0, self._cut - episode.end)
        return (
            f"the session ended {after:.2f} s after the {self.episodes.unit}, before the {self.extend:g} s "
            "after it in which the movement's offset is looked for"
        )

    def _finish_tail(self, now: float | None) -> None:
        if self._tail is None:
            return
        episode, end = self._tail
        self._tail = None
        t = end.time if now is None else now
        super()._close(episode, Event(t, end.kind, end.source, end.payload))

    def _kept(self) -> tuple[F64, F64]:
        """The unit's samples ``(t, x)``, from ``extend`` s before its start."""
        t, x = self._buf.arrays()
        return t, x[0]

    def _series(self, episode: Episode) -> tuple[F64, F64]:
        """Times and speed of what is analysed: the unit, or the movement around it (``extend``)."""
        t, x0 = self._kept()
        if self.extend > 0:
            ok = np.isfinite(x0) & (t >= episode.start - self.extend) & (t <= episode.end + self.extend)
        else:
            ok = np.isfinite(x0) & (t >= episode.start) & (t <= episode.end)
        t, x0 = self._even(t[ok], x0[ok])
        if self.input == "speed":
            v = np.abs(x0)
        else:
            v = np.abs(np.diff(x0)) * self.rate if x0.shape[0] > 1 else np.zeros(0)
            t = t[1:]
        return self._trim(t, v, episode)

    def _even(self, t: F64, x: F64) -> tuple[F64, F64]:
        """``x`` at even steps of the signal's rate from ``t[0]`` (lost samples bridged linearly).

        Keeps the times received (:attr:`_received`): :meth:`gap` is measured on them."""
        self._received = t
        if t.shape[0] < 2:
            return t, x
        steps = np.diff(t)
        n = round((float(t[-1]) - float(t[0])) * self.rate) + 1
        if n == t.shape[0] and float(np.abs(steps * self.rate - 1.0).max()) < 1e-6:
            return t, x
        grid = float(t[0]) + np.arange(n) / self.rate
        return grid, np.interp(grid, t, x)

    def gap(self, t0: float, t1: float) -> float:
        """The longest stretch without samples received between ``t0`` and ``t1``, s (after :meth:`_even`)."""
        r = self._received
        r = r[(r >= t0 - 0.5 / self.rate) & (r <= t1 + 0.5 / self.rate)]
        if r.shape[0] < 2:
            return t1 - t0
        return max(0.0, float(np.diff(r).max()) - 1.0 / self.rate)

    def _trim(self, t: F64, v: F64, episode: Episode) -> tuple[F64, F64]:
        """The movement's span around the unit: from the speed's lowest point before it to the one after it."""
        if self.extend > 0 and v.shape[0] > 1:
            before = np.flatnonzero(t <= episode.start)
            after = np.flatnonzero(t >= episode.end)
            # the lowest point nearest the unit (the last one before it, the first one after it)
            i0 = int(before[before.size - 1 - np.argmin(v[before][::-1])]) if before.size else 0
            i1 = int(after[np.argmin(v[after])]) if after.size else v.shape[0] - 1
            t, v = t[i0 : i1 + 1], v[i0 : i1 + 1]
        return t, v

    def measure(self, episode: Episode) -> Measured:
        if self.metric == "ldlj":
            _t, x = self.samples(episode)
            if x.shape[0] < 4:
                return Measured(math.nan)
            vel = np.diff(x) * self.rate
            if not np.any(vel):
                return Measured(math.nan, reason="no movement during the unit")
            try:
                return Measured(ldlj(vel, self.rate), {"metric": self.metric})
            except InputError as exc:
                return Measured(math.nan, reason=str(exc))
        if self._cut is not None:  # the lowest speed after the unit may not have come yet
            return Measured(math.nan, reason=self._cut_short(episode))
        t, v = self._series(episode)
        if v.shape[0] < 4:
            return Measured(math.nan)
        if not np.any(v):
            return Measured(math.nan, reason="no movement during the unit")
        gap = self.gap(float(t[0]), float(t[-1]))
        if gap > SPARC_MAX_GAP:
            return Measured(
                math.nan,
                reason=f"no samples for {gap:.2f} s of the movement (SPARC limit {SPARC_MAX_GAP:g} s: "
                "a longer gap bridged changes SPARC by more than 0.02)",
            )
        try:
            value = sparc(v, self.rate)
            near = [sparc(v, self.rate, amp_th=SPARC_AMP_TH * (1.0 + k * SPARC_EDGE_STEP)) for k in (-1, 1)]
        except InputError as exc:
            return Measured(math.nan, reason=str(exc))
        if max(abs(n - value) for n in near) > SPARC_EDGE_LIMIT:
            lo_th, hi_th = (SPARC_AMP_TH * (1.0 + k * SPARC_EDGE_STEP) for k in (-1, 1))
            return Measured(
                math.nan,
                reason=f"SPARC on the step of its amplitude threshold: {near[0]:.2f} at {lo_th:g}, "
                f"{value:.2f} at {SPARC_AMP_TH:g}, {near[1]:.2f} at {hi_th:g} (a component of the speed "
                "near the threshold: the smoothness cannot be told within the rule's accuracy)",
            )
        detail: dict[str, Any] = {"metric": self.metric}
        if self.extend > 0:
            detail["analysed"] = [round(float(t[0]), 4), round(float(t[-1]), 4)]
        return Measured(value, detail)


class MovementTimeRule(SmoothnessRule):
    """Duration of the movement around each unit, from its onset to its offset, inside ``[lo, hi]`` seconds.

    A rep segmenter's thresholds start the rep after the movement began and end it before
    it stopped, so its duration (``tempo``) is short by the time spent below the
    thresholds (about 1 s for an arm raised and lowered over 2 s each way). This kind
    finds the movement's own onset and offset on its speed, as movement science does: the
    last sample before the unit, and the first after it, where the speed falls below
    ``onset`` x the unit's peak speed (5 %: e.g. Gordon & Ghez 1987; Teasdale et al. 1993),
    looking at most ``extend`` s each way; the judgement comes ``extend`` s after the unit.
    Speed: the signal's (``input = "speed"``), or that of a position low-passed at ``cutoff``
    (6 Hz, zero phase) before it is differentiated (:func:`nmre.dsp.movement.position_speed`:
    the rectified differences of the raw samples put the orientation filter's noise above 5 %
    of the peak at rest, and the onset ran back into the rest). It shares
    :class:`SmoothnessRule`'s span machinery.
    """

    KIND = "movement_time"
    ABOUT = "duration of the movement around each rep, from its onset to its offset on the speed (a tempo)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the moving signal (a position) or its speed, <derived signal>.<channel>"),
        "input": SmoothnessRule.PARAMS["input"],
        "extend": Param(
            "number",
            "how far before and after the rep the onset and offset are looked for",
            1.0,
            unit="s",
            lo=0.0,
        ),
        "onset": Param(
            "number",
            "onset and offset: the speed below this fraction of the rep's peak speed (5 %, Teasdale 1993)",
            0.05,
            unit="1",
            lo=0.0,
            lo_open=True,
        ),
        "cutoff": Param(
            "number",
            "low-pass of a position before its speed is taken (Winter 2009: 6 Hz for human movement)",
            SPEED_CUTOFF,
            unit="Hz",
            lo=0.0,
            lo_open=True,
        ),
    }

    def __init__(self, id: str, *, onset: float = 0.05, cutoff: float = SPEED_CUTOFF, **kw: Any) -> None:
        if isinstance(onset, bool) or not (isinstance(onset, (int, float)) and 0.0 < onset < 1.0):
            raise ConfigError(f"rule {id!r}: onset: " + expected("a fraction in (0, 1)", onset))
        if isinstance(cutoff, bool) or not (isinstance(cutoff, (int, float)) and 0.0 < cutoff < math.inf):
            raise ConfigError(f"rule {id!r}: cutoff: " + expected("a frequency in Hz above 0", cutoff))
        self.onset = float(onset)
        self.cutoff = float(cutoff)
        kw.setdefault("extend", 1.0)
        self._still_moving = False
        super().__init__(id, metric="sparc", **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        _Buffered.bind_inputs(self, infos)
        check_unit(self.name, "s", self.unit)
        if self.input == "position" and not self.cutoff < 0.5 * self.rate:
            raise ConfigError(
                f"rule {self.id!r}: cutoff "
                + expected(f"below half the signal's rate ({0.5 * self.rate:g} Hz)", self.cutoff)
            )

    def _series(self, episode: Episode) -> tuple[F64, F64]:
        if self.input == "speed":
            return super()._series(episode)
        t, x0 = self._kept()
        ok = np.isfinite(x0) & (t >= episode.start - self.extend) & (t <= episode.end + self.extend)
        t, x0 = t[ok], x0[ok]
        try:
            v = position_speed(t, x0, self.cutoff)
        except ConfigError:  # so many samples lost that the cutoff is above half what is left: no speed
            return t[:0], x0[:0]
        return self._trim(t, v, episode)

    def _trim(self, t: F64, v: F64, episode: Episode) -> tuple[F64, F64]:
        inside = np.flatnonzero((t >= episode.start) & (t <= episode.end))
        if inside.size == 0:
            return t[:0], v[:0]
        thr = self.onset * float(v[inside].max())
        i0, i1 = int(inside[0]), int(inside[-1])
        while i0 > 0 and v[i0 - 1] >= thr:
            i0 -= 1
        while i1 < v.shape[0] - 1 and v[i1 + 1] >= thr:
            i1 += 1
        self._still_moving = i1 == v.shape[0] - 1 and bool(v[i1] >= thr)
        return t[i0 : i1 + 1], v[i0 : i1 + 1]

    def measure(self, episode: Episode) -> Measured:
        self._still_moving = False
        t, v = self._series(episode)
        if self._cut is not None and self._still_moving:  # offset not seen before the session ended
            return Measured(math.nan, reason=self._cut_short(episode))
        if t.shape[0] < 2 or not np.any(v):
            return Measured(math.nan, reason="no movement found around the unit")
        start, end = float(t[0]), float(t[-1])
        return Measured(end - start, {"onset": round(start, 4), "offset": round(end, 4)})


_SOURCES = ("first_rep", "calibration")


class TemplateRule(_Buffered):
    """Distance of each unit from a template rep, at most ``hi`` (dimensionless).

    **One channel** (``signal``): the distance is the subsequence-DTW cost of the
    template inside the unit (:func:`nmre.dsp.subsequence_match`: the whole template
    aligned to the best part of the unit) as an RMS deviation per template sample,
    divided by the template's range: 0.1 = the rep departs from the template by 10 % of
    its range on average along the best alignment.

    **A direction path** (``signal`` the elevation and ``plane`` the plane of elevation
    of a ``humeral_elevation`` signal): both the unit and the template are resampled to
    :data:`nmre.dsp.upper_limb.PATH_POINTS` directions of the humerus evenly in time, and
    the distance is the mean great-circle angle (rad) along their best DTW alignment
    (:func:`nmre.dsp.upper_limb.path_distance`): 0.1 rad = the arm's path departs from the
    demonstrated one by 5.7 deg on average. The plane carries the orientation filters'
    heading difference, which is the same for the template and the reps of one session.

    Where the template comes from (``template_from``):

    * ``"first_rep"``: the unit numbered ``template_unit`` (the therapist demonstrates
      the first rep; it is reported as ``template.recorded`` and not judged);
    * ``"calibration"``: only a recorded template: the drill's ``template`` calibration
      step (:class:`nmre.calibration.TemplateCapture`, which hands it over with
      :meth:`use_template`), a template of an earlier session's calibration record, or
      one given in ``template``. Until there is one, every unit is not judged, with the
      reason ("no template recorded ...").
    """

    KIND = "template"
    ABOUT = (
        "DTW distance of each rep (one signal, or the arm's direction path) from a demonstrated template rep"
    )
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the compared signal, <derived signal>.<channel>"),
        "plane": Param(
            "text",
            "with a humeral_elevation signal: its plane channel (<signal>.plane); the arm's direction path is compared",
            "",
        ),
        "template_from": Param(
            "choice",
            "the first rep (a demonstration) or only a recorded calibration template",
            "first_rep",
            choices=_SOURCES,
        ),
        "template_unit": Param(
            "int", "which unit is the demonstrated template (template_from = first_rep)", 1, lo=1
        ),
    }

    def __init__(
        self,
        id: str,
        *,
        template_unit: int = 1,
        template: ArrayLike | None = None,
        plane: str | None = None,
        template_from: str = "first_rep",
        **kw: Any,
    ) -> None:
        if isinstance(template_unit, bool) or not isinstance(template_unit, int) or template_unit < 1:
            raise ConfigError(
                f"rule {id!r}: template_unit: " + expected("a whole number >= 1", template_unit)
            )
        if template_from not in _SOURCES:
            raise ConfigError(
                f"rule {id!r}: template_from: " + expected(" or ".join(_SOURCES), template_from)
            )
        self.template_unit, self.template_from = template_unit, template_from
        self.plane = plane or None
        self._given = None if template is None else self._checked(id, template, 2 if self.plane else 1)
        self.template: F64 | None = self._given
        self._rows: list[int] = []
        super().__init__(id, **kw)

    @property
    def template_channels(self) -> tuple[str, ...]:
        """The channels a template of this rule holds (what a capture step must record)."""
        return (self.channel, self.plane) if self.plane else (self.channel,)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        stream, channel = res.signal(params["signal"])
        out: dict[str, Any] = {"stream": stream, "channel": channel}
        plane = params.get("plane") or ""
        if plane:
            pstream, pchannel = res.signal(plane)
            if pstream != stream:
                raise ConfigError(
                    f"plane: expected a channel of the same signal as {params['signal']!r}, got {plane!r}"
                )
            out["plane"] = pchannel
        for key in ("template_from", "template_unit"):
            if key in params:
                out[key] = params[key]
        return out

    @staticmethod
    def _checked(id: str, template: ArrayLike, rows: int) -> F64:
        a = np.asarray(template, dtype=np.float64)
        if a.ndim == 1 and rows == 1:
            a = a[None, :]
        if (
            a.ndim != 2
            or a.shape[0] != rows
            or a.shape[1] < 4
            or not np.all(np.isfinite(a))
            or np.ptp(a[0]) <= 0
        ):
            what = "a finite 1-D rep" if rows == 1 else "a finite (2, n) rep of elevation and plane"
            raise ConfigError(
                f"rule {id!r}: template " + expected(f"{what} of >= 4 samples with a range > 0", a.shape)
            )
        return a

    def use_template(self, template: ArrayLike) -> None:
        """Compare the units from now on with ``template``: (n,) or (channels, n), as :attr:`template_channels`."""
        self.template = self._given = self._checked(self.id, template, len(self.template_channels))

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        check_unit(self.name, "1", self.unit)
        rows = [channel_row(infos, self.stream, c, self.name) for c in self.template_channels]
        if self.plane and any(u != "deg" for _, u in rows):
            raise ConfigError(
                f"{self.name}: expected elevation and plane in 'deg', got {', '.join(u for _, u in rows)}"
            )
        self._rows = [r for r, _ in rows]
        self._buf = SampleBuffer(self._rows, self._buf.max_samples)
        self._lead = SampleBuffer(self._rows, self._lead.max_samples)

    def reset(self) -> None:
        super().reset()
        self.template = self._given

    def unit_samples(self, episode: Episode) -> tuple[F64, F64]:
        """The unit's samples ``(t, x (channels, n))`` finite in every channel."""
        t, x = self._buf.arrays()
        ok = np.all(np.isfinite(x), axis=0) & (t >= episode.start) & (t <= episode.end)
        return t[ok], x[:, ok]

    def _close(self, episode: Episode, end: Event) -> None:
        if self.template is None and self.template_from == "calibration":
            self.emit(
                self.unjudged(
                    episode,
                    end.time,
                    "no template recorded: the therapist demonstrates one rep during the drill's "
                    "'template' calibration step (or reuses an earlier session's calibration)",
                )
            )
            return
        if self.template is None:
            if episode.index is not None and episode.index < self.template_unit:
                return
            _t, x = self.unit_samples(episode)
            if x.shape[1] >= 4 and np.ptp(x[0]) > 0:
                self.template = x.copy()
                self.emit(
                    Event(
                        end.time,
                        kinds.TEMPLATE_RECORDED,
                        self.name,
                        {
                            "rule": self.id,
                            self.episodes.unit: episode.index,
                            "samples": int(x.shape[1]),
                            "signal": f"{self.stream}:{self.channel}",
                            "range": round(float(np.ptp(x[0])), 3),
                            "start": episode.start,
                            "end": episode.end,
                        },
                        therapist_message=f"{self.episodes.unit} {episode.index} recorded as the template "
                        f"({x.shape[1]} samples, range {np.ptp(x[0]):.1f})",
                    )
                )
            return
        super()._close(episode, end)

    def measure(self, episode: Episode) -> Measured:
        assert self.template is not None
        t, x = self.unit_samples(episode)
        if x.shape[1] < 2:
            return Measured(math.nan)
        if self.plane:
            from nmre.dsp.upper_limb import path_distance, resample_path

            tpl = self.template
            tt = np.arange(tpl.shape[1], dtype=np.float64)
            d = path_distance(resample_path(t, x[0], x[1]), resample_path(tt, tpl[0], tpl[1]))
            return Measured(d, {"metric": "direction path (rad)"})
        tpl1 = self.template[0]
        start, stop, cost = subsequence_match(tpl1, x[0])
        m = tpl1.shape[0]
        d = cost / math.sqrt(m) / float(np.ptp(tpl1))
        return Measured(d, {"matched": [round(float(t[start]), 4), round(float(t[stop]), 4)]})

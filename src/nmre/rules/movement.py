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
from nmre.dsp.movement import ldlj, sparc
from nmre.errors import ConfigError, InputError, expected
from nmre.rules._runs import RunFinder
from nmre.rules.base import Episode, Measured, Param, Rule, SampleBuffer, channel_row, check_unit

__all__ = ["HoldTimeRule", "SmoothnessRule", "TemplateRule"]

F64 = NDArray[np.float64]


class _Buffered(Rule):
    """A rule that keeps the samples of the open unit of one channel (at most ``max_seconds``)."""

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

    def reset(self) -> None:
        super().reset()
        self._buf.clear()

    def begin(self, episode: Episode) -> None:
        self._buf.clear()

    def push(self, block: Block) -> list[Block]:
        if self._episode is not None and block.stream == self.stream:
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


class SmoothnessRule(_Buffered):
    """Smoothness of each unit: SPARC (default) or LDLJ of the signal's speed, at least ``lo``.

    Speed is ``|Δx| · rate`` (angular speed for an angle); SPARC uses the
    reference settings (fc 10 Hz, amplitude threshold 0.05, pad level 4). Values
    are negative; closer to 0 is smoother (a Gaussian speed profile: -1.41).
    """

    KIND = "smoothness"
    ABOUT = "SPARC (or LDLJ) of each unit's speed above a limit: a smooth, not jerky, movement"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the signal whose speed is analysed, <derived signal>.<channel>"),
        "metric": Param("choice", "SPARC (speed) or LDLJ (velocity)", "sparc", choices=_METRICS),
    }

    def __init__(self, id: str, *, metric: str = "sparc", **kw: Any) -> None:
        if metric not in _METRICS:
            raise ConfigError(f"rule {id!r}: metric: " + expected("sparc or ldlj", metric))
        self.metric = metric
        super().__init__(id, **kw)

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        check_unit(self.name, "1", self.unit)

    def measure(self, episode: Episode) -> Measured:
        _t, x = self.samples(episode)
        if x.shape[0] < 4:
            return Measured(math.nan)
        v = np.diff(x) * self.rate
        if not np.any(v):
            return Measured(math.nan, reason="no movement during the unit")
        try:
            value = sparc(np.abs(v), self.rate) if self.metric == "sparc" else ldlj(v, self.rate)
        except InputError as exc:
            return Measured(math.nan, reason=str(exc))
        return Measured(value, {"metric": self.metric})


class TemplateRule(_Buffered):
    """Distance of each unit from a template rep, at most ``hi`` (dimensionless).

    The distance is the subsequence-DTW cost of the template inside the unit
    (:func:`nmre.dsp.subsequence_match`: the whole template aligned to the best
    part of the unit) as an RMS deviation per template sample, divided by the
    template's range: 0.1 = the rep departs from the template by 10 % of its range
    on average along the best alignment. The template is the unit numbered
    ``template_unit`` (the therapist demonstrates the first rep; it is reported as
    ``template.recorded`` and not judged), or one given in ``template``
    (a calibration record, same channel and rate).
    """

    KIND = "template"
    ABOUT = "DTW distance of each rep from a demonstrated template rep below a limit"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("signal", "the compared signal, <derived signal>.<channel>"),
        "template_unit": Param("int", "which unit is the demonstrated template", 1, lo=1),
    }

    def __init__(
        self, id: str, *, template_unit: int = 1, template: ArrayLike | None = None, **kw: Any
    ) -> None:
        if isinstance(template_unit, bool) or not isinstance(template_unit, int) or template_unit < 1:
            raise ConfigError(
                f"rule {id!r}: template_unit: " + expected("a whole number >= 1", template_unit)
            )
        self.template_unit = template_unit
        self._given = None if template is None else self._checked(id, template)
        self.template: F64 | None = self._given
        super().__init__(id, **kw)

    @staticmethod
    def _checked(id: str, template: ArrayLike) -> F64:
        a = np.asarray(template, dtype=np.float64)
        if a.ndim != 1 or a.shape[0] < 4 or not np.all(np.isfinite(a)) or np.ptp(a) <= 0:
            raise ConfigError(
                f"rule {id!r}: template "
                + expected("a finite 1-D rep of >= 4 samples with a range > 0", a.shape)
            )
        return a

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        super().bind_inputs(infos)
        check_unit(self.name, "1", self.unit)

    def use_template(self, template: ArrayLike) -> None:
        """Compare the units from now on with ``template`` (a rep from the calibration record)."""
        self.template = self._given = self._checked(self.id, template)

    def reset(self) -> None:
        super().reset()
        self.template = self._given

    def _close(self, episode: Episode, end: Event) -> None:
        if self.template is None:
            if episode.index is not None and episode.index < self.template_unit:
                return
            _t, x = self.samples(episode)
            if x.shape[0] >= 4 and np.ptp(x) > 0:
                self.template = x.copy()
                self.emit(
                    Event(
                        end.time,
                        kinds.TEMPLATE_RECORDED,
                        self.name,
                        {
                            "rule": self.id,
                            self.episodes.unit: episode.index,
                            "samples": int(x.shape[0]),
                            "signal": f"{self.stream}:{self.channel}",
                            "range": round(float(np.ptp(x)), 3),
                            "start": episode.start,
                            "end": episode.end,
                        },
                        therapist_message=f"{self.episodes.unit} {episode.index} recorded as the template "
                        f"({x.shape[0]} samples, range {np.ptp(x):.1f})",
                    )
                )
            return
        super()._close(episode, end)

    def measure(self, episode: Episode) -> Measured:
        assert self.template is not None
        t, x = self.samples(episode)
        if x.shape[0] < 2:
            return Measured(math.nan)
        start, stop, cost = subsequence_match(self.template, x)
        m = self.template.shape[0]
        d = cost / math.sqrt(m) / float(np.ptp(self.template))
        return Measured(d, {"matched": [round(float(t[start]), 4), round(float(t[stop]), 4)]})

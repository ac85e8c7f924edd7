"""Balance rules: sway inside an envelope per window, and loss of balance.

* ``sway``: a sway metric of each window (RMS, path or 95 % ellipse area of the
  tilt-corrected horizontal acceleration, as :class:`nmre.dsp.Sway` reports them
  in ``sway.window`` events) at most ``hi``, or at most ``factor`` × the
  patient's own baseline (the first ``baseline_windows`` windows of the trial):
  absolute norms do not transfer between patients, sensor placements and
  protocols (reference/dsp.md §3.3).
* ``balance_loss``: a touchdown of the raised foot, seen as a shock in the
  trunk/pelvis accelerometer; a safety outcome (payload ``safety``) that no
  feedback schedule holds back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.core.ranges import channel_limits
from nmre.engine.nodes import require
from nmre.errors import ConfigError, expected
from nmre.rules.base import TOLERANCE, Episode, Episodes, FileResolver, Measured, Param, Rule, check_unit

__all__ = ["BalanceLossRule", "SwayRule"]

#: Sway metric per quantity: key of the ``sway.window`` payload and its unit.
SWAY_METRICS: Mapping[str, tuple[str, str]] = {
    "sway_rms": ("rms", "m/s^2"),
    "sway_path": ("path", "m/s^2"),
    "sway_area95": ("area95", "m^2/s^4"),
}


class SwayRule(Rule):
    """Each window's sway metric must stay inside the envelope ``hi``, absolute or personal.

    With ``factor`` given (and no ``hi``), the envelope is
    ``max(floor, factor × baseline)``, the baseline being the mean metric of the
    first ``baseline_windows`` windows (announced as ``balance.baseline``; those
    windows are not judged). After a loss of balance (outcome of the rule
    ``after``) the patient re-establishes stance: windows starting within
    ``resettle`` s after the touchdown are not judged (``window.unjudged``, value
    kept), since an accelerometer cannot tell re-settling from sway and
    balance-test protocols restart the trial after a touchdown.
    """

    KIND = "sway"
    ABOUT = "sway metric of each window inside an envelope (absolute, or a factor of the patient's baseline)"
    NEEDS_TOLERANCE = False
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the derived sway signal", "sway"),
        "factor": Param(
            "number",
            "envelope as a multiple of the patient's baseline",
            math.nan,
            unit="1",
            lo=1.0,
            lo_open=True,
        ),
        "floor": Param("number", "smallest personal envelope", 0.0, unit=TOLERANCE, lo=0.0),
        "baseline_windows": Param("int", "windows averaged into the baseline", 2, lo=1),
        "resettle": Param(
            "number", "windows starting this soon after a touchdown are not judged", 5.0, unit="s", lo=0.0
        ),
        "after": Param(
            "text", "the loss-of-balance rule whose touchdowns start a re-settling", "loss_of_balance"
        ),
    }

    def __init__(
        self,
        id: str,
        *,
        windows_from: str,
        factor: float = math.nan,
        floor: float = 0.0,
        baseline_windows: int = 2,
        resettle: float = 5.0,
        after: str = "loss_of_balance",
        **common: Any,
    ) -> None:
        personal = not math.isnan(factor)
        if personal and not (math.isfinite(factor) and factor > 1):
            raise ConfigError(f"rule {id!r}: factor: " + expected("a number > 1", factor))
        if personal == (common.get("hi") is not None):
            raise ConfigError(
                f"rule {id!r}: expected either an absolute envelope hi or a personal factor, got "
                + ("both" if personal else "neither")
            )
        if not (math.isfinite(floor) and floor >= 0):
            raise ConfigError(f"rule {id!r}: floor: " + expected("a number >= 0", floor))
        if (
            isinstance(baseline_windows, bool)
            or not isinstance(baseline_windows, int)
            or baseline_windows < 1
        ):
            raise ConfigError(
                f"rule {id!r}: baseline_windows: " + expected("a whole number >= 1", baseline_windows)
            )
        quantity = common.get("quantity", "sway_rms")
        if quantity not in SWAY_METRICS:
            raise ConfigError(
                f"rule {id!r}: quantity: " + expected(f"one of {', '.join(SWAY_METRICS)}", quantity)
            )
        self.metric = SWAY_METRICS[quantity][0]
        self.factor, self.floor, self.baseline_windows = factor, float(floor), baseline_windows
        self.resettle, self.after = float(resettle), kinds.rule(after)
        self.windows_from = windows_from
        common.setdefault("episodes", Episodes.windows(windows_from))
        self._fixed_hi = common.get("hi")
        super().__init__(id, **common)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        out = {k: v for k, v in params.items() if k != "signal"}
        out["windows_from"] = res.stream(params["signal"])
        return out

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        check_unit(self.name, SWAY_METRICS[self.quantity][1], self.unit)

    def reset(self) -> None:
        super().reset()
        self._base: list[float] = []
        self._latest = math.nan
        self._touchdown = -math.inf
        self.hi = self._fixed_hi

    def takes_other_event(self, kind: str) -> bool:
        return kind == self.after

    def on_other_event(self, event: Event) -> None:
        if event.kind == self.after and event.payload.get("ok") is False:
            self._touchdown = event.time

    def _close(self, episode: Episode, end: Event) -> None:
        value = float(episode.payload.get(self.metric, math.nan))
        self._latest = value
        extra = {"value": round(value, 4)} if math.isfinite(value) else {}
        if self.gate is not None:  # a window of bad data neither counts toward the baseline nor is judged
            reason, spans = self.gate.check(episode.start, episode.end)
            if reason is not None:
                self.emit(self.unjudged(episode, end.time, reason, spans, extra))
                return
        if not math.isnan(self.factor) and len(self._base) < self.baseline_windows:
            self._baseline(value, end.time)
            return
        if end.time > self._touchdown and episode.start < self._touchdown + self.resettle:
            reason = (
                f"re-settling after the loss of balance at {self._touchdown:.1f} s "
                f"({self.label} {value:.3g} {self.unit})"
            )
            self.emit(self.unjudged(episode, end.time, reason, (), extra))
            return
        gate, self.gate = self.gate, None  # checked above
        try:
            super()._close(episode, end)
        finally:
            self.gate = gate

    def _baseline(self, value: float, time: float) -> None:
        if math.isfinite(value):
            self._base.append(value)
        if len(self._base) == self.baseline_windows:
            base = float(np.mean(self._base))
            self.hi = max(self.floor, self.factor * base)
            self.emit(
                Event(
                    time,
                    kinds.BALANCE_BASELINE,
                    self.name,
                    {
                        "baseline": base,
                        "baseline_rms": base,
                        "limit": self.hi,
                        "quantity": self.quantity,
                        "windows": self.baseline_windows,
                    },
                    therapist_message=f"{self.label} baseline {base:.3g} {self.unit}; envelope {self.hi:.3g} {self.unit}",
                )
            )

    def measure(self, episode: Episode) -> Measured:
        return Measured(
            float(episode.payload.get(self.metric, math.nan)),
            {"path": episode.payload.get("path"), "area95": episode.payload.get("area95")},
        )

    def signals(self) -> list[SignalState]:
        return [SignalState(self.label, self._latest, self.unit, None, self.hi)]


class BalanceLossRule(Rule):
    """Loss of balance: a shock in the trunk/pelvis accelerometer (the raised foot touches down).

    An outcome (``ok`` false, ``error = error_above``, payload ``safety`` true) is
    raised when ``| |acc| - g |`` exceeds ``hi`` m/s^2, at most once per
    ``refractory`` s. Stance without a touchdown gives no outcome: praise for
    not falling would be noise. A sample that is not finite or lies beyond the
    accelerometer's full scale (:mod:`nmre.core.ranges`) cannot be a touchdown and
    is ignored: a corrupt packet must not tell a patient they fell. Safety first:
    this rule is never gated by data quality (a shock seen is a shock), and no
    feedback schedule holds its cue back.
    """

    KIND = "balance_loss"
    ABOUT = "a touchdown shock in the trunk/pelvis accelerometer above a limit: a loss of balance (safety)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "sensor": Param("text", "the trunk or pelvis sensor"),
        "refractory": Param("number", "shortest time between two losses of balance", 3.0, unit="s", lo=0.0),
    }

    GRAVITY = 9.80665

    def __init__(self, id: str, *, stream: str, refractory: float = 3.0, **common: Any) -> None:
        if not (math.isfinite(refractory) and refractory >= 0):
            raise ConfigError(f"rule {id!r}: refractory: " + expected("a number of seconds >= 0", refractory))
        if common.get("hi") is None or common.get("lo") is not None:
            raise ConfigError(f"rule {id!r}: expected a shock limit hi (m/s^2) only")
        self.stream, self.refractory = stream, float(refractory)
        common["episodes"] = Episodes.moments()  # moments, whatever units the drill counts
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        return {"stream": res.sensor(params["sensor"]), "refractory": params["refractory"]}

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        info = require(infos, self.stream, self.name)
        if info.n_channels < 3 or info.channels[0].unit != "m/s^2":
            raise ConfigError(
                f"{self.name}: expected an accelerometer stream (acc_x..z in m/s^2), got {info.channel_names}"
            )
        check_unit(self.name, "m/s^2", self.unit)
        self._acc_limit = channel_limits(info)[1][:3, None]

    def reset(self) -> None:
        super().reset()
        self._last = -math.inf

    _acc_limit: np.ndarray = np.full((3, 1), np.inf)

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        acc = block.values[:3]
        real = np.all(np.abs(acc) <= self._acc_limit, axis=0)  # False for NaN too
        with np.errstate(over="ignore", invalid="ignore"):
            dev = np.abs(np.sqrt(np.sum(acc**2, axis=0)) - self.GRAVITY)
        assert self.hi is not None
        for i in np.flatnonzero(real & (dev > self.hi)):
            t = float(block.times[i])
            if t - self._last < self.refractory:
                continue
            self._last = t
            self.emit(self.outcome(Episode(None, t, t), t, Measured(float(dev[i]), {"safety": True})))
        return []

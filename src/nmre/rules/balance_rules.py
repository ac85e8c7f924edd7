"""Balance rules: sway inside a personal envelope, and loss of balance."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Event, SignalState, StreamInfo
from nmre.core.ranges import channel_limits
from nmre.engine.nodes import Node, require
from nmre.errors import ConfigError, expected
from nmre.quality.gate import QualityGate

__all__ = ["BalanceLossRule", "SwayRule"]


class SwayRule(Node):
    """Each sway window's RMS acceleration must stay inside the patient's envelope.

    The envelope is ``max(floor, factor × baseline)``, where the baseline is the
    RMS of the first ``baseline_windows`` windows of the trial (quiet stance as
    the patient does it today; absolute cut-offs do not transfer between
    patients, see reference/dsp.md §3.3). Windows come as ``sway.window`` events
    from :class:`nmre.dsp.Sway` (payload ``rms`` in m/s^2). Each window gives an
    outcome ``rule.sway`` (``error`` = ``excessive_sway`` when outside).

    After a loss of balance (``rule.loss_of_balance``) the patient re-establishes
    stance; windows that started before ``resettle`` s after the touchdown are not
    judged (balance-test protocols restart the trial after a touchdown). They are
    reported as ``balance.unjudged`` with their value, so nothing is hidden.

    With a ``gate``, a window whose raw IMU data falls short of the gate's needs
    is reported as ``window.unjudged`` (and does not count toward the baseline).
    """

    def __init__(
        self,
        windows_from: str,
        *,
        factor: float = 1.6,
        floor: float = 0.03,
        baseline_windows: int = 2,
        resettle: float = 5.0,
        above: str = "Steady... find a still point",
        good: str = "Steady, well done",
        gate: QualityGate | None = None,
    ) -> None:
        self.gate = gate
        if not (factor > 1 and math.isfinite(factor)):
            raise ConfigError("sway rule: factor " + expected("a number > 1", factor))
        if not (floor > 0 and math.isfinite(floor)):
            raise ConfigError("sway rule: floor " + expected("a positive RMS in m/s^2", floor))
        if not (isinstance(baseline_windows, int) and baseline_windows >= 1):
            raise ConfigError(
                "sway rule: baseline_windows " + expected("a whole number >= 1", baseline_windows)
            )
        self.windows_from, self.factor, self.floor = windows_from, float(factor), float(floor)
        self.baseline_windows, self.above, self.good = baseline_windows, above, good
        self.resettle = float(resettle)
        self.name = kinds.RULE_SWAY
        self.inputs = ()
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        return []

    def reset(self) -> None:
        self._base: list[float] = []
        self._limit = math.nan
        self._latest = math.nan
        self._touchdown = -math.inf
        self._pending: list[Event] = []

    def push(self, block: Block) -> list[Block]:
        return []

    def on_event(self, event: Event) -> None:
        if event.kind == kinds.RULE_LOSS_OF_BALANCE:
            self._touchdown = event.time
            return
        if event.kind != kinds.SWAY_WINDOW or event.source != self.windows_from:
            return
        rms = float(event.payload.get("rms", math.nan))
        self._latest = rms
        start = float(event.payload.get("start", event.time - float(event.payload.get("window", 0.0))))
        if self.gate is not None:
            reason, spans = self.gate.check(start, event.time)
            if reason is not None:
                self._pending.append(
                    self.gate.unjudged(
                        unit="window", index=None, rule=self.name, time=event.time, start=start,
                        end=event.time, reason=reason, spans=spans,
                        extra={"value": round(rms, 4) if math.isfinite(rms) else None},
                    )
                )  # fmt: skip
                return
        if len(self._base) < self.baseline_windows:
            if math.isfinite(rms):
                self._base.append(rms)
            if len(self._base) == self.baseline_windows:
                self._limit = max(self.floor, self.factor * float(np.mean(self._base)))
                self._pending.append(
                    Event(
                        event.time,
                        kinds.BALANCE_BASELINE,
                        self.name,
                        {"baseline_rms": float(np.mean(self._base)), "limit": self._limit},
                        therapist_message=f"sway baseline {np.mean(self._base):.3f} m/s^2; "
                        f"envelope {self._limit:.3f} m/s^2",
                    )
                )
            return
        if event.time > self._touchdown and start < self._touchdown + self.resettle:
            self._pending.append(
                Event(
                    event.time,
                    kinds.BALANCE_UNJUDGED,
                    self.name,
                    {"value": round(rms, 4), "start": start, "end": event.time, "touchdown": self._touchdown},
                    therapist_message=f"{start:.0f}-{event.time:.0f} s not judged: re-settling after the loss of "
                    f"balance at {self._touchdown:.1f} s (sway RMS {rms:.3f} m/s^2)",
                )
            )
            return
        ok = rms <= self._limit
        self._pending.append(
            Event(
                event.time,
                kinds.RULE_SWAY,
                self.name,
                {
                    "ok": ok,
                    "error": None if ok else "excessive_sway",
                    "value": round(rms, 4),
                    "hi": round(self._limit, 4),
                    "unit": "m/s^2",
                    "start": start,
                    "end": event.time,
                    "path": event.payload.get("path"),
                    "area95": event.payload.get("area95"),
                },
                patient_message=self.good if ok else self.above,
                therapist_message=f"{start:.0f}-{event.time:.0f} s: sway RMS {rms:.3f} m/s^2 "
                f"{'within' if ok else 'above'} envelope {self._limit:.3f}",
            )
        )

    def pop_events(self) -> list[Event]:
        out, self._pending = self._pending, []
        return out

    def signals(self) -> list[SignalState]:
        return [
            SignalState("sway", self._latest, "m/s^2", None, None if math.isnan(self._limit) else self._limit)
        ]


class BalanceLossRule(Node):
    """Loss of balance: a shock in the pelvis accelerometer (the raised foot touches down).

    An outcome ``rule.loss_of_balance`` (``ok`` false) is raised when
    ``| |acc| - g |`` exceeds ``shock`` m/s^2, at most once per ``refractory``
    seconds. Every window of stance otherwise passes silently (no outcome):
    praise for not falling would be noise. A sample that is not finite or lies
    beyond the accelerometer's full scale (:mod:`nmre.core.ranges`) cannot be a
    touchdown and is ignored: a corrupt packet must not tell a patient they fell.
    Safety first: this rule is never gated by data quality (a shock seen is a
    shock), and no feedback schedule holds its cue back.
    """

    def __init__(
        self, stream: str, *, shock: float = 4.0, refractory: float = 3.0, gravity: float = 9.80665
    ) -> None:
        if not (shock > 0 and refractory >= 0):
            raise ConfigError(
                "balance-loss rule: " + expected("shock > 0 m/s^2 and refractory >= 0 s", (shock, refractory))
            )
        self.stream, self.shock, self.refractory, self.gravity = stream, shock, refractory, gravity
        self.inputs = (stream,)
        self.name = kinds.RULE_LOSS_OF_BALANCE
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        info = require(infos, self.stream, self.name)
        if info.n_channels < 3:
            raise ConfigError(
                f"{self.name}: expected an accelerometer stream with >= 3 channels, got {info.n_channels}"
            )
        self._acc_limit = channel_limits(info)[1][:3, None]
        return []

    def reset(self) -> None:
        self._last = -math.inf
        self._pending: list[Event] = []

    _acc_limit: np.ndarray = np.full((3, 1), np.inf)

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        acc = block.values[:3]
        real = np.all(np.abs(acc) <= self._acc_limit, axis=0)  # False for NaN too
        with np.errstate(over="ignore", invalid="ignore"):
            dev = np.abs(np.sqrt(np.sum(acc**2, axis=0)) - self.gravity)
        hits = np.flatnonzero(real & (dev > self.shock))
        for i in hits:
            t = float(block.times[i])
            if t - self._last >= self.refractory:
                self._last = t
                self._pending.append(
                    Event(
                        t,
                        kinds.RULE_LOSS_OF_BALANCE,
                        self.name,
                        {
                            "ok": False,
                            "error": "loss_of_balance",
                            "value": round(float(dev[i]), 2),
                            "hi": self.shock,
                            "unit": "m/s^2",
                            "start": t,
                            "end": t,
                        },
                        patient_message="Reset your stance, then lift the foot again",
                        therapist_message=f"touchdown shock {dev[i]:.1f} m/s^2 at {t:.2f} s",
                    )
                )
        return []

    def pop_events(self) -> list[Event]:
        out, self._pending = self._pending, []
        return out

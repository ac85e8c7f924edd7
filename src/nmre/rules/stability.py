"""Limits of stability: one metric of each target's lean (reaction time, velocity, excursion, control).

A weight-shifting drill shows targets (``target.start`` with the direction and
distance in its payload, :mod:`nmre.drills._targets`); the patient leans the body
toward each and holds. The rule ``los`` keeps the lean of one trunk (or pelvis)
sensor — sagittal (forward +) and frontal (to the left +) inclination, deg, which
in an ankle-strategy lean is the centre-of-mass sway angle — and, when the
target's trial ends, computes the NeuroCom / Biodex metrics of
:func:`nmre.dsp.stability.los_metrics` from the lean relative to the centre (the
mean over ``baseline`` s before the cue):

* ``reaction_time`` (s): cue to movement onset;
* ``movement_velocity`` (deg/s): mean speed between 5 % and 95 % of the primary lean;
* ``max_excursion`` (% of the target distance): the largest lean toward the target;
* ``directional_control`` (%): movement toward the target against extraneous movement.

Which metric a rule judges is its ``quantity``; a drill combines four ``los``
rules, one per metric, each with its tolerance. The outcome's payload carries the
target's direction and every metric, for the therapist.

The sensor's **heading on the trunk** (a strap or placement turned about the
trunk's long axis: a 6-axis filter cannot see it, and the neutral pose only gives
the tilt) turns every lean by the same angle, so that a straight lean reads partly
across its target (13 deg puts 22 % of the path across: directional control 22
points low). The rule estimates it from the session's own ring of targets: the
rotation that best lays the endpoints of the primary movements measured so far
on their targets' directions. A patient's own errors do not turn the whole ring
(a lean that misses one target moves one endpoint; a stance off the centre moves
the forward and backward endpoints opposite ways), a turned sensor does. The lean
is turned back by it before the metrics; the payload's ``sensor_heading`` says by
how much (deg, toward the left).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from nmre.core.model import Block, StreamInfo
from nmre.dsp.stability import LosMetrics, los_metrics
from nmre.errors import ConfigError, expected
from nmre.rules.base import Episode, Episodes, FileResolver, Measured, Param, Rule, channel_row, check_unit

__all__ = ["LOS_METRICS", "LosRule"]

#: Seconds before the cue over which the patient's sway toward the target is measured: how fast it moves the
#: lean and how fast that speed changes; the movement onset is where the lean rises out of both.
SWAY_WINDOW = 2.0

#: Shortest reaction a person makes to a visual cue, s (simple visual reaction times are about 0.2 s
#: in healthy adults; Woods et al. 2015, Front Hum Neurosci 9:131): a "reaction" faster than this is
#: sway that happened to drift toward the target, and the target's timing metrics are not judged.
MIN_REACTION = 0.15

#: Quantity -> unit of each limits-of-stability metric.
LOS_METRICS: Mapping[str, str] = {
    "reaction_time": "s",
    "movement_velocity": "deg/s",
    "max_excursion": "%",
    "directional_control": "%",
}


class LosRule(Rule):
    """One limits-of-stability metric of each target, inside ``[lo, hi]`` (see the module docstring).

    Parameters
    ----------
    id : str
        Rule id.
    stream : str
        The lean stream (an inclination with ``sagittal`` and ``frontal`` channels, deg).
    baseline : float
        Seconds before the cue whose mean lean is the centre (0.5).
    smooth : float
        Centred moving average of the lean and of its speed, s (0.2; the trial is judged once it
        is over, so it may look ahead): sensor jitter would otherwise add to the path across the
        target and lower the directional control.
    **common
        See :class:`nmre.rules.base.Rule`; ``quantity`` names the metric.
    """

    KIND = "los"
    ABOUT = "a limits-of-stability metric of each target (reaction time, velocity, max excursion, directional control)"
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "signal": Param("text", "the lean: an inclination signal of the trunk or pelvis sensor"),
        "baseline": Param(
            "number", "time before the cue whose mean lean is the centre", 0.5, unit="s", lo=0.0
        ),
        "smooth": Param(
            "number", "centred moving average of the lean and of its speed", 0.2, unit="s", lo=0.0
        ),
    }

    #: Seconds of lean kept (longer than a target's trial and its baseline).
    HISTORY = 60.0

    def __init__(
        self, id: str, *, stream: str, baseline: float = 0.5, smooth: float = 0.2, **common: Any
    ) -> None:
        quantity = common.get("quantity")
        if quantity not in LOS_METRICS:
            raise ConfigError(
                f"rule {id!r}: quantity: " + expected(f"one of {', '.join(LOS_METRICS)}", quantity)
            )
        for label, v in (("baseline", baseline), ("smooth", smooth)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"rule {id!r}: {label}: " + expected("a number of seconds >= 0", v))
        self.stream, self.baseline, self.smooth = stream, float(baseline), float(smooth)
        common.setdefault("episodes", Episodes.targets())
        common.setdefault("inputs", (stream,))
        super().__init__(id, **common)

    @classmethod
    def from_file(cls, params: Mapping[str, Any], res: FileResolver) -> dict[str, Any]:
        return {
            "stream": res.stream(params["signal"]),
            "baseline": params["baseline"],
            "smooth": params["smooth"],
        }

    def bind_inputs(self, infos: Mapping[str, StreamInfo]) -> None:
        self._ap, u_ap = channel_row(infos, self.stream, "sagittal", self.name)
        self._ml, u_ml = channel_row(infos, self.stream, "frontal", self.name)
        if u_ap != "deg" or u_ml != "deg":
            raise ConfigError(f"{self.name}: expected a lean in deg, got {u_ap!r} and {u_ml!r}")
        check_unit(self.name, LOS_METRICS[self.quantity], self.unit)

    _ap = 1
    _ml = 2

    def reset(self) -> None:
        super().reset()
        self._hist: list[tuple[np.ndarray, np.ndarray]] = []
        # cue -> (the target's direction, the lean at the end of its primary movement): the ring of endpoints
        self._ring: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        self._hist.append((block.times, block.values[[self._ap, self._ml]].copy()))
        horizon = float(block.times[-1]) - self.HISTORY
        while self._hist and float(self._hist[0][0][-1]) < horizon:
            del self._hist[0]
        return []

    def _sway(self, t: np.ndarray, x: np.ndarray, cue: float, a: float) -> tuple[float, float]:
        return _sway_bands(t, x, cue, a, self.smooth)

    def _heading(self, cue: float, a: float, t: np.ndarray, x: np.ndarray, m: LosMetrics) -> float:
        """The sensor's heading on the trunk (rad, toward the left), from the ring of endpoints so far.

        The strap or the placement turns the sensor about the trunk's long axis, and that turns every lean by the
        same angle: a lean straight to the target reads as partly across it (13 deg of heading puts 22 % of the
        path across). A patient's own errors do not turn the whole ring of targets: a lean that misses one
        target, or a stance off the centre, turns the forward and backward endpoints opposite ways. So the heading
        is the rotation that best lays the endpoints of the primary movements measured so far (this target's
        included) on their targets' directions (least squares, each endpoint weighted by its length).
        """
        if math.isfinite(m.endpoint_time) and m.endpoint_excursion > 0:  # (NaN > 0 is False)
            k = int(np.argmin(np.abs(t - m.endpoint_time)))
            self._ring[cue] = (np.array([math.cos(a), math.sin(a)]), x[:, k].copy())
        if not self._ring:
            return 0.0
        u = np.array([r[0] for r in self._ring.values()])
        e = np.array([r[1] for r in self._ring.values()])
        return math.atan2(float((u[:, 0] * e[:, 1] - u[:, 1] * e[:, 0]).sum()), float((u * e).sum()))

    def quality_span(self, episode: Episode) -> tuple[float, float]:
        return episode.start - self.baseline, episode.end

    def measure(self, episode: Episode) -> Measured:
        p = episode.payload
        direction, distance = p.get("angle"), p.get("distance")
        if not isinstance(direction, (int, float)) or not isinstance(distance, (int, float)) or distance <= 0:
            return Measured(math.nan, reason="the target's direction and distance are not known")
        if not self._hist:
            return Measured(math.nan, reason="no lean samples")
        t = np.concatenate([h[0] for h in self._hist])
        x = np.concatenate([h[1] for h in self._hist], axis=1)
        cue, end = episode.start, episode.end
        before = (t >= cue - self.baseline) & (t < cue) & np.all(np.isfinite(x), axis=0)
        after = (t > cue) & (t <= end)
        if not before.any() or after.sum() < 4:
            return Measured(math.nan, reason="too few lean samples around the cue")
        centre = x[:, before].mean(axis=1)
        x = _smoothed(x, self.smooth, t)  # sensor jitter would add to the path across the target
        # measured from the centre (not the lean at the cue: sway has moved it, and a centre put in as the first
        # sample would be a step whose speed, up to 10 deg/s, outruns a slow lean's)
        tt = t[after]
        xx = x[:, after] - centre[:, None]
        # frontal inclination is positive to the left; los_metrics' angles count toward the left
        angle = (-float(direction)) % 360.0
        a = math.radians(angle)
        sway = self._sway(t, x, cue, a)
        m = los_metrics(tt, xx[0], xx[1], cue, angle, float(distance), self.smooth, sway, (0.0, 0.0))
        heading = self._heading(cue, a, tt, xx, m)
        if heading != 0.0:  # the lean in the body's frame: turned back by the sensor's heading on the trunk
            c, s = math.cos(heading), math.sin(heading)
            xx = np.vstack([c * xx[0] + s * xx[1], -s * xx[0] + c * xx[1]])
            x = np.vstack([c * x[0] + s * x[1], -s * x[0] + c * x[1]])
            m = los_metrics(
                tt,
                xx[0],
                xx[1],
                cue,
                angle,
                float(distance),
                self.smooth,
                self._sway(t, x, cue, a),
                (0.0, 0.0),
            )
        detail = {
            "direction": p.get("direction"),
            "distance": float(distance),
            "reaction_time": _r(m.reaction_time),
            "movement_velocity": _r(m.movement_velocity),
            "max_excursion": _r(m.max_excursion),
            "endpoint_excursion": _r(m.endpoint_excursion),
            "directional_control": _r(m.directional_control),
            "onset": _r(m.onset),
            "endpoint_time": _r(m.endpoint_time),
            "sensor_heading": round(math.degrees(heading), 2),
        }
        if self.quantity != "max_excursion" and m.reaction_time < MIN_REACTION:
            return Measured(
                math.nan,
                detail,
                reason=(
                    f"the lean toward the target began {m.reaction_time:.2f} s after it appeared, faster than "
                    f"anyone reacts ({MIN_REACTION:g} s): sway or a lean already under way, not a reaction"
                ),
            )
        value = float(getattr(m, self.quantity))
        if not math.isfinite(value):
            return Measured(math.nan, detail, reason=m.reason or f"no {self.label} toward the target")
        where = str(p.get("direction", "the target")).replace("_", "-")
        return Measured(value, detail, why=f"{self.label} {value:.3g} {self.unit} toward {where}")


def _sway_bands(t: np.ndarray, x: np.ndarray, cue: float, a: float, smooth: float) -> tuple[float, float]:
    """How fast the (smoothed) lean ``x`` moves toward direction ``a`` (rad) over :data:`SWAY_WINDOW` s before the
    cue: ``max(0, mean + 2 SD)`` of the speed, deg/s, and ``mean |a| + 2 SD`` of its rate of change, deg/s^2, the speed
    smoothed over ``smooth`` s as :func:`nmre.dsp.stability.los_metrics` smooths it. (0, 0) without enough samples."""
    still = (t >= cue - SWAY_WINDOW) & (t < cue) & np.all(np.isfinite(x), axis=0)
    if still.sum() < 8:
        return 0.0, 0.0
    ts = t[still]
    along = np.cos(a) * x[0, still] + np.sin(a) * x[1, still]
    n = max(1, round(smooth / float(np.median(np.diff(ts)))))
    v = np.gradient(along, ts)
    if v.shape[0] > n + 2:
        v = np.convolve(v, np.ones(n) / n, mode="valid")
        ts = ts[n // 2 : n // 2 + v.shape[0]]
    acc = np.gradient(v, ts)
    return max(0.0, float(v.mean() + 2.0 * v.std())), float(np.abs(acc).mean() + 2.0 * acc.std())


def _smoothed(x: np.ndarray, length: float, t: np.ndarray) -> np.ndarray:
    """Centred moving average of each row over ``length`` s (the trial is judged once it is over)."""
    if t.shape[0] < 3 or length <= 0:
        return x
    n = max(1, round(length / float(np.median(np.diff(t)))))
    if n <= 1:
        return x
    k = np.ones(n) / n
    pad = ((0, 0), (n // 2, n - 1 - n // 2))
    xp = np.pad(np.where(np.isfinite(x), x, 0.0), pad, mode="edge")
    out = np.vstack([np.convolve(r, k, mode="valid") for r in xp])
    return np.where(np.isfinite(x), out, np.nan)


def _r(v: float) -> float | None:
    return round(float(v), 4) if math.isfinite(v) else None

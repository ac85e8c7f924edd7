"""How a drill finds its units: segmenter kinds (``[structure.segmenter] kind = ...``).

* ``reps``: a hysteresis rep segmenter on one signal (:class:`nmre.dsp.RepSegmenter`).
* ``cycles``: timed work/rest cycles, as EMG biofeedback units cue them
  ("10 s work / 10 s rest", clinical.md §1.19, §2.3): each work period is a
  ``hold``, each rest after it a ``rest``; the patient is cued at each change.
* ``windows``: the sway windows of a ``sway`` signal.
* ``transitions``: sit-to-stand and stand-to-sit transitions from one trunk or
  pelvis accelerometer (:class:`nmre.dsp.transitions.SitToStand`; no gyroscope).
  A transition is known only once the body is still again, so its
  ``transition.start`` and ``transition.end`` arrive together, after its end:
  :meth:`Episodes.transitions` marks the units ``late`` and rules that reduce
  samples judge them from their own recent history.
* ``targets``: the targets of a weight-shifting drill (limits of stability), shown
  by nmre on the session clock (:mod:`nmre.drills._targets`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo
from nmre.engine.nodes import Node, ProcessorNode
from nmre.errors import ConfigError, expected
from nmre.rules.base import Episodes, Param

if TYPE_CHECKING:
    from nmre.drills._build import Context

__all__ = ["SEGMENTERS", "CycleNode", "Segmenter"]


@dataclass(frozen=True, slots=True)
class Segmenter:
    """A segmenter kind: its fields and how it is built (returns the episodes rules judge, and rests)."""

    name: str
    about: str
    params: Mapping[str, Param]
    build: Callable[[Context, Mapping[str, Any]], tuple[Episodes, Episodes | None]]
    signal_param: str | None = "signal"


def _reps(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    from nmre.dsp.movement import RepSegmenter

    stream, channel, unit = ctx.resolve_signal(p["signal"])
    if unit != p["unit"]:
        raise ConfigError(
            f"{ctx.spec.path}: [structure.segmenter] unit: expected {unit!r} (the unit of {p['signal']}), got {p['unit']!r}"
        )
    row = ctx.channel_index(stream, channel)
    seg = RepSegmenter(
        p["start"],
        p["end"],
        min_duration=p["min_duration"],
        max_duration=p["max_duration"],
        min_amplitude=p["min_amplitude"],
        direction=1 if p["direction"] == "up" else -1,
        channel=row,
        name="reps",
    )
    ctx.segmenter_node(ProcessorNode(seg, stream, "reps"), ctx.raw_of(stream))
    return Episodes.reps("reps"), None


def _windows(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    built = ctx.built(p["signal"])
    if "window" not in built.extra:
        raise ConfigError(
            f"{ctx.spec.path}: [structure.segmenter] signal: expected a sway signal, got {p['signal']!r}"
        )
    return Episodes.windows(built.stream), None


def _cycles(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    st = ctx.spec.structure
    drive = ctx.raw_streams()[0]
    node = CycleNode(
        drive,
        work=p["work"],
        rest=p["rest"],
        lead_in=p["lead_in"],
        per_set=st.per_set,
        sets=st.sets,
        rest_between_sets=st.rest_between_sets,
        work_message=p["work_message"],
        rest_message=p["rest_message"],
    )
    ctx.segmenter_node(node, (drive,))
    return Episodes.holds(node.name), Episodes.rests(node.name)


#: Height of a sternum sensor above the hip joints, m: mid-sternum about 0.72 H and the greater
#: trochanter 0.53 H above the floor (Winter 2009, Fig. 4.1) for a 1.75 m adult. A trunk sensor's
#: vertical displacement is taken back to the hips through its inclination with it.
STERNUM_LEVER = 0.33


def _transitions(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    from nmre.dsp.transitions import SitToStand

    info = ctx.sensor(p["sensor"], ctx.side)
    seg = info.placement.segment if info.placement is not None else None
    det = SitToStand(
        info.rate,
        still_time=p["still_time"],
        turn_move=p["turn_move"],
        turn_still=p["turn_still"],
        still_dev=p["still_dev"],
        lever=STERNUM_LEVER if seg == "trunk" else 0.0,
        displacement=p["displacement"],
        velocity=p["velocity"],
        min_duration=p["min_duration"],
        max_duration=p["max_duration"],
        max_episode=p["max_episode"],
        name="transitions",
    )
    ctx.segmenter_node(
        ctx.neutral(
            lambda cal: det.set_calibration(cal[info.id]),
            (info.id,),
            ProcessorNode(det, info.id, "transitions"),
        ),
        (info.id,),
    )
    return Episodes.transitions("transitions"), None


def _contractions(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    stream, channel, unit = ctx.resolve_signal(p["signal"])
    if unit != "%":
        raise ConfigError(
            f"{ctx.spec.path}: [structure.segmenter] signal: expected an envelope in % of the reference "
            f'(normalise = "reference"), got {p["signal"]!r} in {unit!r}'
        )
    st = ctx.spec.structure
    node = ContractionNode(
        stream,
        ctx.channel_index(stream, channel),
        rise=p["rise"],
        release=p["release"],
        min_rest=p["min_rest"],
        work=p["work"],
        rest=p["rest"],
        per_set=st.per_set,
        work_message=p["work_message"],
        rest_message=p["rest_message"],
    )
    ctx.segmenter_node(node, ctx.raw_of(stream))
    return Episodes.holds(node.name), Episodes.rests(node.name)


def _targets(ctx: Context, p: Mapping[str, Any]) -> tuple[Episodes, Episodes | None]:
    from nmre.drills._targets import TargetNode, target_plan

    st = ctx.spec.structure
    drive = ctx.raw_streams()[0]
    plan = target_plan(p, st.per_set, st.sets, st.rest_between_sets)
    node = TargetNode(drive, plan, p["message"])
    ctx.segmenter_node(node, (drive,))
    return Episodes.targets(node.name), None


_ALL = (
    Segmenter(
        "contractions",
        "work/rest cycles paced by the patient's own contractions (% reference): a hold from the rise "
        "above the rest level to the fall below a fraction of its peak, a rest until the next rise; "
        "cues at the work and rest times",
        {
            "signal": Param("signal", "the %-reference envelope of the muscle, <envelope signal>.<muscle>"),
            "rise": Param(
                "number",
                "a hold starts when the envelope rises this far above the rest's lowest",
                3.0,
                unit="%",
                lo=0.0,
                lo_open=True,
            ),
            "release": Param(
                "number",
                "and ends when it falls below this fraction of the hold's peak (0.5: the half maximum)",
                0.5,
                unit="1",
                lo=0.05,
            ),
            "min_rest": Param(
                "number", "after a hold, no new one starts for this long", 0.5, unit="s", lo=0.0
            ),
            "work": Param(
                "number", "cue to relax this long into a hold", 5.0, unit="s", lo=0.0, lo_open=True
            ),
            "rest": Param(
                "number", "cue to contract this long into a rest", 5.0, unit="s", lo=0.0, lo_open=True
            ),
            "work_message": Param("text", "cue to contract", "Contract and hold"),
            "rest_message": Param("text", "cue to relax", "Relax"),
        },
        _contractions,
    ),
    Segmenter(
        "reps",
        "reps found on one signal with two thresholds (start, end), a minimum duration and amplitude",
        {
            "signal": Param("signal", "the driving signal, <derived signal>.<channel>"),
            "unit": Param("text", "the unit of the driving signal and thresholds"),
            "start": Param("number", "a rep starts when the signal passes this"),
            "end": Param("number", "and ends when it is back past this (hysteresis)"),
            "min_duration": Param("number", "shortest rep counted", 0.4, unit="s", lo=0.0),
            "max_duration": Param("number", "longest rep counted", math.inf, unit="s", lo=0.0, lo_open=True),
            "min_amplitude": Param("number", "smallest excursion from the start counted", 0.0, lo=0.0),
            "direction": Param(
                "choice", "reps rise (up) or fall (down) from rest", "up", choices=("up", "down")
            ),
        },
        _reps,
    ),
    Segmenter(
        "windows",
        "consecutive windows of a sway signal (its window length)",
        {"signal": Param("text", "the sway signal")},
        _windows,
    ),
    Segmenter(
        "cycles",
        "timed work/rest cycles: each work period is a hold, each rest after it a rest",
        {
            "work": Param("number", "work (contract / hold) period", unit="s", lo=0.0, lo_open=True),
            "rest": Param("number", "rest period", unit="s", lo=0.0, lo_open=True),
            "lead_in": Param("number", "time before the first work period", 3.0, unit="s", lo=0.0),
            "work_message": Param("text", "cue at the start of a work period", "Contract and hold"),
            "rest_message": Param("text", "cue at the start of a rest period", "Relax"),
        },
        _cycles,
        signal_param=None,
    ),
    Segmenter(
        "transitions",
        "sit-to-stand and stand-to-sit transitions (direction, start, end, duration) from one trunk or "
        "pelvis accelerometer: the vertical displacement between stillness (nmre.dsp.transitions)",
        {
            "sensor": Param("text", "the trunk or pelvis sensor (an accelerometer is enough)"),
            "displacement": Param(
                "number",
                "least vertical displacement of a transition (the hip rises 0.35-0.45 m from a chair; "
                "sit2standpy takes 0.125 m for a lumbar sensor)",
                0.15,
                unit="m",
                lo=0.0,
                lo_open=True,
            ),
            "velocity": Param(
                "number",
                "least peak vertical speed (sit2standpy: 0.2 m/s; a 6 s rise peaks near 0.12 m/s)",
                0.08,
                unit="m/s",
                lo=0.0,
                lo_open=True,
            ),
            "still_time": Param(
                "number",
                "stillness that ends a movement (a slow rise has still moments; transitions chained "
                "without a pause are split at the top and bottom of the movement)",
                0.5,
                unit="s",
                lo=0.0,
                lo_open=True,
            ),
            "turn_move": Param(
                "number",
                "turn rate of the gravity direction that starts a movement (a slow rise hardly "
                "shakes the sensor, but it tilts 15-40 deg)",
                4.0,
                unit="deg/s",
                lo=0.0,
                lo_open=True,
            ),
            "turn_still": Param(
                "number",
                "turn rate below which the sensor may be still (quiet sitting and standing: under 1 deg/s)",
                2.0,
                unit="deg/s",
                lo=0.0,
                lo_open=True,
            ),
            "still_dev": Param(
                "number",
                "the moving mean of |acc| within this of its resting value is still (a slow rise "
                "accelerates the body by about 0.1 m/s^2)",
                0.05,
                unit="m/s^2",
                lo=0.0,
                lo_open=True,
            ),
            "min_duration": Param(
                "number", "shortest transition counted", 0.5, unit="s", lo=0.0, lo_open=True
            ),
            "max_duration": Param(
                "number", "longest transition counted", 10.0, unit="s", lo=0.0, lo_open=True
            ),
            "max_episode": Param(
                "number", "longest movement episode before it is cut", 15.0, unit="s", lo=0.0, lo_open=True
            ),
        },
        _transitions,
        signal_param=None,
    ),
    Segmenter(
        "targets",
        "targets shown in 8 directions in turn (limits of stability: cue, lean, hold, return), one every "
        "trial, at a share of the limits of stability; the drill is the source of the schedule",
        {
            "lead_in": Param("number", "time before the first target", 5.0, unit="s", lo=0.0),
            "trial": Param(
                "number", "time per target (NeuroCom LOS: 8 s)", 8.0, unit="s", lo=0.0, lo_open=True
            ),
            "rest": Param(
                "number",
                "pause between a target's end (its verdict) and the next cue",
                1.0,
                unit="s",
                lo=0.0,
            ),
            "target_percent": Param(
                "number",
                "target distance, % of the limit of stability in its direction",
                75.0,
                unit="%",
                lo=0.0,
                lo_open=True,
            ),
            "forward": Param(
                "number",
                "limit of stability forward (NeuroCom adult: 8 deg)",
                8.0,
                unit="deg",
                lo=0.0,
                lo_open=True,
            ),
            "backward": Param(
                "number",
                "limit of stability backward (NeuroCom adult: 4.5 deg)",
                4.5,
                unit="deg",
                lo=0.0,
                lo_open=True,
            ),
            "lateral": Param(
                "number",
                "limit of stability to each side (NeuroCom adult: 8 deg)",
                8.0,
                unit="deg",
                lo=0.0,
                lo_open=True,
            ),
            "message": Param(
                "text", "the cue as each target appears", "Lean {direction} to the target and hold"
            ),
        },
        _targets,
        signal_param=None,
    ),
)

#: Segmenter kind name → kind.
SEGMENTERS: Mapping[str, Segmenter] = MappingProxyType({s.name: s for s in _ALL})


class CycleNode(Node):
    """Timed work/rest cycles on the session clock, starting at the first sample of ``stream``.

    Events (``source`` = ``"cycles"``): ``hold.start``/``hold.end`` around each
    work period and ``rest.start``/``rest.end`` around the rest after it (payload
    ``hold``/``rest`` = cycle number over the session, ``set``, ``start``,
    ``end``), and a ``cycle.cue`` with the patient's instruction at each
    change. ``per_set`` cycles make a set; sets are ``rest_between_sets`` s apart.
    """

    def __init__(
        self,
        stream: str,
        *,
        work: float,
        rest: float,
        lead_in: float = 3.0,
        per_set: int = 5,
        sets: int = 1,
        rest_between_sets: float = 60.0,
        work_message: str = "Contract and hold",
        rest_message: str = "Relax",
        name: str = "cycles",
    ) -> None:
        for label, v in (("work", work), ("rest", rest)):
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"cycles: {label}: " + expected("a number of seconds > 0", v))
        if not (math.isfinite(lead_in) and lead_in >= 0 and rest_between_sets >= 0):
            raise ConfigError(
                "cycles: "
                + expected("lead_in >= 0 s and rest_between_sets >= 0 s", (lead_in, rest_between_sets))
            )
        self.inputs = (stream,)
        self.name = name
        self.work, self.rest, self.lead_in = float(work), float(rest), float(lead_in)
        self.per_set, self.sets, self.rest_between_sets = per_set, sets, float(rest_between_sets)
        self.work_message, self.rest_message = work_message, rest_message
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        if self.inputs[0] not in infos:
            raise ConfigError(f"{self.name}: expected input stream {self.inputs[0]!r}")
        return []

    def reset(self) -> None:
        self._plan: list[tuple[float, str, int, int]] = []
        self._next = 0
        self._events: list[Event] = []

    def _make_plan(self, t0: float) -> None:
        t = t0 + self.lead_in
        k = 0
        for s in range(1, self.sets + 1):
            for _ in range(self.per_set):
                k += 1
                self._plan += [(t, kinds.HOLD_START, k, s), (t + self.work, kinds.HOLD_END, k, s)]
                t += self.work
                self._plan += [(t, kinds.REST_START, k, s), (t + self.rest, kinds.REST_END, k, s)]
                t += self.rest
            t += self.rest_between_sets

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0:
            return []
        if not self._plan:
            self._make_plan(float(block.times[0]))
        now = float(block.times[-1])
        while self._next < len(self._plan) and self._plan[self._next][0] <= now:
            t, kind, k, s = self._plan[self._next]
            self._next += 1
            unit = "hold" if kind in (kinds.HOLD_START, kinds.HOLD_END) else "rest"
            length = self.work if unit == "hold" else self.rest
            start = t if kind in (kinds.HOLD_START, kinds.REST_START) else t - length
            self._events.append(
                Event(t, kind, self.name, {unit: k, "set": s, "start": start, "end": start + length})
            )
            if kind in (kinds.HOLD_START, kinds.REST_START):
                msg = self.work_message if unit == "hold" else self.rest_message
                self._events.append(
                    Event(
                        t, kinds.CYCLE_CUE, self.name, {unit: k, "set": s, "phase": unit}, patient_message=msg
                    )
                )
        return []

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out


#: Time constant of the smoothed level a hold's peak and a rest's lowest are taken from, s (a 6 Hz
#: envelope of a steady contraction still swings +-30 % from sample to sample).
_LEVEL_TAU = 0.2
#: A rise or a fall must last this long to start or end a hold (a spike or a dip does not), s; the unit
#: starts or ends where it began.
_MIN_RUN = 0.25


class ContractionNode(Node):
    """Holds and rests found on one %-reference envelope channel, paced by the patient (see ``contractions``).

    A hold opens when the envelope rises ``rise`` % above the lowest value of the rest
    before it (so a muscle that does not let go between contractions still shows its
    next contraction) and closes when it falls below ``release`` x the hold's peak; the
    rest after it runs to the next hold. Nothing opens until the envelope has been
    seen (finite: the reference calibration is done) below ``release`` x its value, so
    the tail of the reference contraction is not a hold. Events (``source`` =
    ``contractions``): ``hold.start``/``hold.end`` (payload ``hold``, ``set``, ``start``,
    ``end``, ``peak``), ``rest.start``/``rest.end`` (``rest`` = ``hold`` = the cycle),
    and ``cycle.cue`` with the patient's instruction ``work`` s into a hold (relax) and
    ``rest`` s into a rest (contract).
    """

    def __init__(
        self,
        stream: str,
        row: int,
        *,
        rise: float = 3.0,
        release: float = 0.5,
        min_rest: float = 0.5,
        work: float = 5.0,
        rest: float = 5.0,
        per_set: int = 10,
        work_message: str = "Contract and hold",
        rest_message: str = "Relax",
        name: str = "contractions",
    ) -> None:
        for label, v, lo in (("rise", rise, 0.0), ("work", work, 0.0), ("rest", rest, 0.0)):
            if not (math.isfinite(v) and v > lo):
                raise ConfigError(f"contractions: {label}: " + expected(f"a number > {lo:g}", v))
        if not 0 < release < 1:
            raise ConfigError("contractions: release: " + expected("a fraction between 0 and 1", release))
        self.inputs = (stream,)
        self.name = name
        self.row = row
        self.rise, self.release, self.min_rest = float(rise), float(release), float(min_rest)
        self.work, self.rest, self.per_set = float(work), float(rest), int(per_set)
        self.work_message, self.rest_message = work_message, rest_message
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        if self.inputs[0] not in infos:
            raise ConfigError(f"{self.name}: expected input stream {self.inputs[0]!r}")
        return []

    def reset(self) -> None:
        self._state = "armed"  # armed (waiting to see rest), rest, hold
        self._low = math.inf
        self._peak = -math.inf
        self._ema = math.nan
        self._since = math.nan
        self._cross = math.nan  # when the current crossing began (a rise or a fall), not yet confirmed
        self._last_t = math.nan
        self._k = 0
        self._cued = False
        self._ht: list[float] = []
        self._hv: list[float] = []
        self._events: list[Event] = []

    def _emit(self, t: float, kind: str, payload: dict[str, Any], msg: str | None = None) -> None:
        self._events.append(Event(t, kind, self.name, payload, patient_message=msg))

    def push(self, block: Block) -> list[Block]:
        if block.n_samples == 0 or block.stream != self.inputs[0]:
            return []
        x = block.values[self.row]
        for i in range(x.shape[0]):
            v = float(x[i])
            if v != v:
                continue
            t = float(block.times[i])
            dt = t - self._last_t if self._last_t == self._last_t else 0.0
            self._last_t = t
            a = 1.0 - math.exp(-dt / _LEVEL_TAU) if dt > 0 else 1.0
            self._ema = v if self._ema != self._ema else self._ema + a * (v - self._ema)
            if self._state == "armed":
                self._peak = max(self._peak, self._ema)
                if v < self.release * self._peak or v < self.rise:
                    self._state, self._low, self._since, self._cued = "rest", v, t, True
                continue
            if self._state == "rest":
                self._low = min(self._low, self._ema)
                if not self._cued and t - self._since >= self.rest:
                    self._cued = True
                    self._emit(t, kinds.CYCLE_CUE, {"phase": "hold", "hold": self._k + 1}, self.work_message)
                if t - self._since < self.min_rest or v <= self._low + self.rise:
                    self._cross = math.nan
                    continue
                if self._cross != self._cross:
                    self._cross = t
                if t - self._cross < _MIN_RUN:
                    continue
                start, self._cross = self._cross, math.nan
                if self._k > 0:
                    p = {"rest": self._k, "hold": self._k, "start": self._since, "end": start}
                    self._emit(t, kinds.REST_END, p)
                self._k += 1
                self._state, self._peak, self._since, self._cued = "hold", self._ema, start, False
                self._ht, self._hv = [], []
                s = (self._k - 1) // self.per_set + 1
                self._emit(t, kinds.HOLD_START, {"hold": self._k, "set": s, "start": start})
                continue
            self._peak = max(self._peak, self._ema)  # hold
            self._ht.append(t)
            self._hv.append(v)
            if not self._cued and t - self._since >= self.work:
                self._cued = True
                self._emit(t, kinds.CYCLE_CUE, {"phase": "rest", "hold": self._k}, self.rest_message)
            if v >= self.release * self._peak:
                self._cross = math.nan
                continue
            if self._cross != self._cross:
                self._cross = t
            if t - self._cross < _MIN_RUN:
                continue
            end, self._cross = self._cross, math.nan
            s = (self._k - 1) // self.per_set + 1
            p = {
                "hold": self._k,
                "set": s,
                "start": self._half_start(end),
                "end": end,
                "onset": self._since,
                "peak": round(self._peak, 3),
            }
            self._emit(t, kinds.HOLD_END, p)
            self._emit(t, kinds.REST_START, {"rest": self._k, "hold": self._k, "set": s, "start": end})
            self._state, self._low, self._since, self._cued = "rest", self._ema, end, False
        return []

    def finish(self, time: float) -> None:
        """The session ended during the rest after a hold: no next rise closes that rest, so it ends after the
        prescribed ``rest`` seconds (when the patient was cued to contract again), or here if the session
        ended sooner, and the relaxation rule judges it as any other rest. A hold still open is not closed:
        the patient never let go, so it has no end to judge."""
        if self._state != "rest" or self._k == 0 or not time - self._since >= self.min_rest:
            return
        s = (self._k - 1) // self.per_set + 1
        end = min(time, self._since + self.rest)
        p = {"rest": self._k, "hold": self._k, "set": s, "start": self._since, "end": end}
        self._emit(time, kinds.REST_END, p)

    def _half_start(self, end: float) -> float:
        """When the hold reached ``release`` x its peak and stayed there 0.25 s: the hold's start as its
        full width at half maximum counts it (the unit itself opened earlier, at the rise)."""
        t, v = np.asarray(self._ht), np.asarray(self._hv)
        keep = t < end
        t, v = t[keep], v[keep]
        above = v >= self.release * self._peak
        if not above.any():
            return self._since
        # the first sample from which the envelope stays above for _MIN_RUN (or to the end)
        below_after = np.flatnonzero(~above)
        for i in np.flatnonzero(above):
            nxt = below_after[below_after > i]
            if nxt.size == 0 or t[nxt[0]] - t[i] >= _MIN_RUN:
                return float(t[i])
        return self._since

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

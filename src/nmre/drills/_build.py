"""Building a drill: from a :class:`DrillSpec` and the connected streams to engine nodes.

Order of the nodes (the engine pushes each block to its subscribers in this
order, depth first): the data-quality monitor; derived signals (orientation,
joint angles, inclinations, EMG guard + envelope + onsets, sway); calibration
steps; the rules, in the file's order (their priority); the unit segmenter
(after the rules, so they see each block before the segmenter closes the unit
on it); the feedback mapping; progression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmre.core.model import StreamInfo
from nmre.drills._kinds import rule_kinds
from nmre.drills._sensors import find, resolve_side
from nmre.drills._signals import SIGNAL_KINDS, Built
from nmre.drills._structure import SEGMENTERS
from nmre.drills.spec import DrillSpec, RuleSpec, SensorSpec
from nmre.engine.nodes import Node
from nmre.errors import ConfigError
from nmre.rules.base import Episodes, Rule

__all__ = ["Context", "Drill", "Skipped", "build"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule left out because what it needs is not connected, and why."""

    rule: str
    reason: str


@dataclass
class Drill:
    """A built drill: the nodes in engine order, the spec and the settings it was built with.

    ``side`` is the side it works on (``None`` for midline drills),
    ``bilateral`` whether both sides are worn, ``rules`` the rule nodes, and
    ``skipped`` the rules left out (an optional sensor missing) with the reason.
    """

    name: str
    nodes: list[Node]
    settings: dict[str, Any] = field(default_factory=dict)
    spec: DrillSpec | None = None
    level: int | None = None
    side: str | None = None
    bilateral: bool = False
    rules: list[Rule] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    episodes: Episodes | None = None
    #: The calibration record every step writes into (store it with the session; give it back to a replay).
    calibration: Any = None
    #: The calibration steps the file names, in order (each with ``status()``, ``start()``; nodes of the drill).
    steps: list[Any] = field(default_factory=list)
    #: The readiness gate, if the file names ``readiness`` (``override(reason, by)`` opens it).
    readiness: Any = None

    def step(self, name: str) -> Any:
        """The calibration step ``name`` (``"readiness"``, ``"emg_rest"``, ``"neutral_pose"``, ...), or None."""
        if name == "readiness":
            return self.readiness
        alias = {"neutral_pose": "neutral"}.get(name, name)
        return next((s for s in self.steps if getattr(s, "step", None) == alias), None)

    def make_schedule(self, name: str | None = None) -> Any:
        """A fresh feedback schedule: ``name`` (with its defaults), or the drill file's schedule."""
        from nmre.feedback.schedule import SCHEDULES, make_schedule

        if name is not None or self.spec is None:
            return make_schedule(name or "continuous")
        s = self.spec.schedule
        return SCHEDULES[s.kind](**dict(s.params))


class _Unavailable(Exception):
    """A signal cannot be built: an (optional) sensor is missing."""


class Context:
    """What signal, segmenter and rule builders share while a drill is built."""

    def __init__(
        self,
        spec: DrillSpec,
        streams: Sequence[StreamInfo],
        side: str | None,
        bilateral: bool,
        quality: Any,
        calibration: Any,
    ) -> None:
        self.spec, self.streams = spec, list(streams)
        self.infos: dict[str, StreamInfo] = {s.id: s for s in streams}
        self.side, self.bilateral = side, bilateral
        self.quality, self.calibration = quality, calibration
        self.nodes: list[Node] = []
        self._segmenter: list[Node] = []
        self._built: dict[tuple[str, str | None], Built] = {}
        self._orient: dict[str, str] = {}
        self._streams: set[str] = set(self.infos)
        self._neutral: list[tuple[Callable[[Mapping[str, np.ndarray]], None], tuple[str, ...]]] = []
        self._held: list[Any] = []  # the nodes calibrated from the neutral pose (CalibratedFrom)
        self._functional: list[tuple[Callable[[Mapping[str, np.ndarray]], None], tuple[str, ...]]] = []
        self._travel: list[tuple[Callable[[Mapping[str, np.ndarray]], None], tuple[str, ...]]] = []
        self._lean: list[Any] = []  # the HumeralElevation processors (for the common_lean step)
        self.rule_raw: dict[str, tuple[str, ...]] = {}
        #: Rule id -> the (stream, channel) pairs it reads (channel None: the whole stream).
        self.rule_reads: dict[str, tuple[tuple[str, str | None], ...]] = {}
        #: (stream, channel) pairs the long-axis calibration does not condition: a rule that reads only
        #: these (of the streams that calibration touches) does not wait for it (see ``joint_angle``).
        self.long_axis_free: set[tuple[str, str]] = set()
        #: EMG stream id -> the %-reference envelope nodes (CalibratedFrom) the emg_reference step calibrates.
        self.references: dict[str, list[Any]] = {}
        self._raw: dict[str, tuple[str, ...]] = {s.id: (s.id,) for s in streams}
        self._raw_rows: dict[str, dict[str, tuple[int, ...]]] = {}
        self._channels: dict[str, list[str]] = {s.id: list(s.channel_names) for s in streams}

    # -- sensors and streams ------------------------------------------------------
    def spec_sensor(self, name: str) -> SensorSpec:
        return next(s for s in self.spec.sensors if s.name == name)

    def sensor(self, name: str, side: str | None) -> StreamInfo:
        sensor = self.spec_sensor(name)
        info = find(sensor, self.streams, side if sensor.side == "drill" else self.side)
        if info is None:
            raise _Unavailable(f"{sensor.describe(side)} is not connected")
        return info

    def has_sensor(self, name: str, side: str | None) -> bool:
        """Whether sensor ``name`` of the drill is connected (for ``side``)."""
        sensor = self.spec_sensor(name)
        return find(sensor, self.streams, side if sensor.side == "drill" else self.side) is not None

    def has_stream(self, stream: str) -> bool:
        return stream in self._streams

    def note_stream(self, stream: str, raw: Sequence[str] = (), channels: Sequence[str] = ()) -> None:
        self._streams.add(stream)
        if raw:
            self._raw[stream] = tuple(raw)
        if channels:
            self._channels[stream] = list(channels)

    def raw_of(self, stream: str) -> tuple[str, ...]:
        return self._raw.get(stream, ())

    def raw_streams(self) -> list[str]:
        """The raw streams this drill uses so far (in the order they were first used)."""
        seen: list[str] = []
        for b in self._built.values():
            for r in b.raw:
                if r not in seen:
                    seen.append(r)
        return seen or [s.id for s in self.streams]

    def channel_index(self, stream: str, channel: str) -> int:
        return self._channels[stream].index(channel)

    def add(self, node: Node) -> None:
        self.nodes.append(node)

    def segmenter_node(self, node: Node, raw: Sequence[str]) -> None:
        self._segmenter.append(node)

    def orientation(self, info: StreamInfo, beta: float = 0.1, memory: float = 0.0) -> str:
        """The orientation stream of an IMU (gyro bias removed at rest, pooling ``memory`` s of still runs, then
        Madgwick of gain ``beta``), built once."""
        from nmre.drills._common import orientation_node

        key = info.id if beta == 0.1 else f"{info.id}@{beta:g}"
        if memory:
            key += f"~{memory:g}"
        if key not in self._orient:
            node = orientation_node(info, beta=beta, memory=memory)
            if key != info.id:  # a second filter on the same IMU: a stream id of its own
                node = orientation_node(info, beta=beta, memory=memory, name=f"orient.{key}")
            self.add(node)
            self._orient[key] = node.output
            self.note_stream(node.output, (info.id,))
        return self._orient[key]

    def neutral(
        self, apply: Callable[[Mapping[str, np.ndarray]], None], streams: Sequence[str], node: Node
    ) -> Node:
        """Register ``node``'s processor to calibrate from the neutral pose (if the drill asks for it);
        the node to add: ``node`` calibrated from the pose's sample time (:class:`~nmre.calibration.CalibratedFrom`)."""
        from nmre.calibration.steps import CalibratedFrom

        held = CalibratedFrom(node, apply)
        self._neutral.append((held.calibrate, tuple(streams)))
        self._held.append(held)
        return held

    def functional(self, apply: Callable[[Mapping[str, np.ndarray]], None], streams: Sequence[str]) -> None:
        """Register a processor to calibrate from the long-axis (functional) calibration, if asked for."""
        self._functional.append((apply, tuple(streams)))

    def travel(self, apply: Callable[[Mapping[str, np.ndarray]], None], streams: Sequence[str]) -> None:
        """Register a processor to calibrate from the travel-heading calibration, if the drill asks for it."""
        self._travel.append((apply, tuple(streams)))

    # -- signals ------------------------------------------------------------------
    def built(self, name: str, side: str | None = None) -> Built:
        """The derived signal ``name`` (for ``side``, default the drill's), built on first use."""
        spec = self.spec.signals[name]
        use = side if side is not None else self.side
        key = (name, use)
        if key not in self._built:
            kind = SIGNAL_KINDS[spec.kind]
            start = len(self.nodes)
            try:
                b = kind.build(self, spec, use)
            except _Unavailable:
                del self.nodes[start:]
                raise
            self._built[key] = b
            self.note_stream(b.stream, b.raw, list(b.channels))
            if "raw_rows" in b.extra:  # the signal reads only these rows of its raw streams
                self._raw_rows[b.stream] = dict(b.extra["raw_rows"])
        return self._built[key]

    def resolve_signal(self, ref: str, side: str | None = None) -> tuple[str, str, str]:
        """``"knee.flexion"`` → (stream id, channel, unit)."""
        name, _, channel = ref.partition(".")
        b = self.built(name, side)
        if channel == "placed" and b.channels:  # any muscle: the one the electrodes are placed on
            channel = next(iter(b.channels))
        if channel not in b.channels:  # a goniometer gives the flexion only
            raise _Unavailable(f"{ref}: the sensors worn give {', '.join(b.channels)} only")
        return b.stream, channel, b.channels[channel]


class Resolver:
    """Turns a rule's file fields into constructor arguments (signals → streams), tracking raw inputs."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.raw: list[str] = []
        self.reads: list[tuple[str, str | None]] = []  # (stream, channel or None for all) read
        self._rows: dict[str, set[int] | None] = {}  # raw stream -> rows read (None: all)

    def _track(self, raw: Sequence[str], via: str | None = None) -> None:
        rows = self.ctx._raw_rows.get(via, {}) if via is not None else {}
        for r in raw:
            if r not in self.raw:
                self.raw.append(r)
            have = self._rows.get(r, set())
            self._rows[r] = None if (r not in rows or have is None) else have | set(rows[r])

    def rows(self) -> dict[str, tuple[int, ...]]:
        """Raw streams of which only some rows are read, and those rows (for the quality gate)."""
        return {r: tuple(sorted(v)) for r, v in self._rows.items() if v is not None}

    def signal(self, ref: str, side: str | None = None) -> tuple[str, str]:
        stream, channel, _ = self.ctx.resolve_signal(ref, side)
        self._track(self.ctx.raw_of(stream), stream)
        self.reads.append((stream, channel))
        return stream, channel

    def stream(self, name: str) -> str:
        b = self.ctx.built(name)
        self._track(b.raw, b.stream)
        self.reads.append((b.stream, None))
        return b.stream

    def first_channel(self, stream: str) -> str:
        """The first channel of a built stream (the placed muscle of a one-muscle EMG)."""
        chans = self.ctx._channels.get(stream) or []
        if not chans:
            raise _Unavailable(f"stream {stream!r} has no channels")
        return str(chans[0])

    def events(self, name: str) -> str:
        return self.stream(name)

    def sensor(self, name: str) -> str:
        info = self.ctx.sensor(name, self.ctx.side)
        self._track((info.id,))
        self.reads.append((info.id, None))
        return info.id

    def both_sides(self, ref: str) -> tuple[tuple[str, str], tuple[str, str]]:
        if not self.ctx.bilateral:
            raise _Unavailable("a bilateral kit (the same sensors on both sides) is needed")
        return self.signal(ref, "left"), self.signal(ref, "right")


def _kwargs(cls: type[Rule], rs: RuleSpec, res: Resolver) -> dict[str, Any]:
    """Constructor arguments of rule ``rs`` from its file fields (the kind's resolve hook if it has one)."""
    params = {k: v for k, v in rs.params.items() if k != "during"}
    hook = getattr(cls, "from_file", None)
    if hook is not None:
        out: dict[str, Any] = hook(params, res)
        return out
    out = {}
    for key, value in params.items():
        p = cls.PARAMS[key]
        if key == "signal" and p.type == "signal":
            out["stream"], out["channel"] = res.signal(value)
        elif key == "signal":
            out["stream"] = res.stream(value)
        elif p.type == "signal":
            out[key] = res.signal(value)
        else:
            out[key] = value
    for key, value in params.items():  # muscle = "placed": the muscle of the rule's EMG stream
        if cls.PARAMS[key].type == "muscle" and value == "placed" and "stream" in out:
            out[key] = res.first_channel(out["stream"])
    return out


def _make_rule(ctx: Context, rs: RuleSpec, episodes: Episodes, rests: Episodes | None) -> Rule:
    cls = rule_kinds()[rs.kind]
    res = Resolver(ctx)
    kw = _kwargs(cls, rs, res)
    during = rs.params.get("during", "unit")
    if during == "rest" and rests is None:
        raise ConfigError(
            f"{ctx.spec.path}: [rules.{rs.id}] during: expected 'unit' (this drill has no rest periods), got 'rest'"
        )
    ep = rests if during == "rest" and rests is not None else episodes
    gate = None
    if ctx.quality is not None and res.raw:
        from nmre.quality import QualityGate, QualityNeeds

        gate = QualityGate(
            ctx.quality, tuple(res.raw), QualityNeeds.from_mapping(rs.needs), channels=res.rows() or None
        )
    kw.setdefault("episodes", ep)
    ctx.rule_raw[rs.id] = tuple(res.raw)
    ctx.rule_reads[rs.id] = tuple(res.reads)
    try:
        return cls(
            rs.id,
            quantity=rs.quantity,
            unit=rs.unit,
            lo=rs.lo,
            hi=rs.hi,
            messages=rs.messages,
            error_below=rs.error_below,
            error_above=rs.error_above,
            gate=gate,
            **kw,
        )
    except ConfigError as exc:
        raise ConfigError(f"{ctx.spec.path}: [rules.{rs.id}] {exc}") from None


def base_level(spec: DrillSpec) -> int:
    """The level whose settings and conditions are the file's own (1 when every level changes something)."""
    return next((lv.level for lv in spec.levels if not lv.settings and not lv.conditions), 1)


def build(
    spec: DrillSpec,
    streams: Sequence[StreamInfo],
    *,
    level: int | None,
    side: str | None,
    quality: Any,
    calibration: Any,
) -> Drill:
    """Build ``spec`` (settings already applied) for ``streams``.

    Without a ``level`` the drill runs at its file's own settings, which are those of the
    level that changes nothing (the base level; level 1 when every level changes something).
    """
    if level is None:
        level = base_level(spec)
    want = None if side in (None, "auto") else side
    chosen, bilateral = resolve_side(spec, streams, want)
    missing = spec.missing_sensors(streams, want)
    if missing:
        raise ConfigError(
            f"drill {spec.name!r} cannot run: missing "
            + "; ".join(missing)
            + f" (connected: {', '.join(_describe(s) for s in streams) or 'nothing'})"
        )
    if quality is None or quality is True:
        from nmre.quality import QualityMonitor

        quality = QualityMonitor(streams)
    elif quality is False:
        quality = None
    ctx = Context(spec, streams, chosen, bilateral, quality, calibration)
    if quality is not None:
        ctx.add(quality)
    segment = SEGMENTERS[spec.structure.segmenter.kind]
    try:
        episodes, rests = segment.build(ctx, spec.structure.segmenter.params)
    except _Unavailable as exc:
        raise ConfigError(f"drill {spec.name!r} cannot find its {spec.structure.unit}s: {exc}") from None
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    for rs in spec.rules:
        start = len(ctx.nodes)
        try:
            rules.append(_make_rule(ctx, rs, episodes, rests))
        except _Unavailable as exc:
            del ctx.nodes[start:]
            skipped.append(Skipped(rs.id, str(exc)))
    from nmre.drills._calibration import build_plan, gate_nodes
    from nmre.drills.feedback import FeedbackMapping
    from nmre.drills.progression import Progression

    fb = FeedbackMapping(spec, ctx, {r.id: r for r in rules}, episodes)  # may build signals it alone shows
    plan = build_plan(ctx, rules, calibration)
    # The steps on raw streams come first (after the quality monitor): a step that completes on a
    # block has applied its calibration before the block's derived samples are computed, so the
    # processors take it from the step's sample time in any split of the streams into blocks (issue
    # 10). A step on a derived stream comes after the nodes, as it must follow its producer.
    raw = {s.id for s in streams}
    first: list[Any] = []
    later: list[Any] = []
    for st in plan.steps:
        (first if set(getattr(st, "inputs", ()) or ()) <= raw else later).append(st)
    lead = 1 if ctx.nodes and ctx.nodes[0] is quality else 0
    free = list(ctx.nodes[:lead]) + first + list(ctx.nodes[lead:]) + later
    nodes = free + list(rules) + ctx._segmenter
    if fb.inputs or fb.has_counter:
        nodes.append(fb)
    if spec.progression.advance or spec.progression.step_back:
        nodes.append(Progression(spec, level, episodes, ctx.raw_streams()[0], rules))
    if plan.readiness is not None:
        nodes = gate_nodes(nodes, plan.readiness, free)
    settings = {k: s.value for k, s in spec.settings.items()}
    if "side" in settings:
        settings["side"] = chosen
    return Drill(
        spec.name,
        nodes,
        settings,
        spec,
        level,
        chosen,
        bilateral,
        rules,
        skipped,
        episodes,
        plan.record,
        list(plan.steps),
        plan.readiness,
    )


def _describe(s: StreamInfo) -> str:
    where = f" on {s.placement.describe()}" if s.placement else ""
    return f"{s.kind.value}{where}"

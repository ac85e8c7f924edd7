"""Calibration as data: the steps a drill file names (``calibration = [...]``) and how the builder wires them.

A drill file lists its steps in the order they run, each a name or a table with
the step's settings::

    calibration = ["readiness", "neutral_pose", {step = "long_axis", min_rotation = 60.0}]

========================  ==========================================================================
``readiness``             :class:`nmre.calibration.ReadinessGate` on every raw stream the drill uses;
                          rules, the unit segmenter, the feedback mapping and progression wait behind it
                          (:class:`nmre.calibration.Gated`) until it passes or the therapist overrides it
``emg_rest``              :class:`nmre.calibration.EmgRestBaseline` per EMG stream used
``emg_reference``         :class:`nmre.calibration.EmgReference` per EMG stream used; envelopes with
                          ``normalise = "reference"`` read it (% of the reference)
``neutral_pose``          :class:`nmre.calibration.NeutralPoseCalibration` of the IMUs of joint angles
                          and inclinations
``long_axis``             :class:`nmre.calibration.LongAxisCalibration` of the IMUs of joint angles
                          (needs ``neutral_pose`` before it)
``travel_heading``        :class:`nmre.calibration.imu.TravelHeading` of one back sensor (``sensor``,
                          read by an ``inclination`` signal): its heading on the segment from the
                          direction of the first step forward (needs ``neutral_pose`` before it)
``common_lean``           :class:`nmre.calibration.imu.CommonLeanHeading` of each ``humeral_elevation``
                          signal: the arm/trunk heading correction the signal finds from a lean of the
                          trunk with the arm held against the side (needs ``neutral_pose`` before it),
                          raised and recorded; a note if the first rep starts without it (no rule
                          waits for it)
``template``              :class:`nmre.calibration.TemplateCapture` of each ``template`` rule's signal over
                          the first rep; the rule compares every later rep with it
========================  ==========================================================================

All steps write into one :class:`nmre.calibration.Calibration` record (``drill.calibration``),
raise ``calibration.<step>`` events (``readiness.*`` for the gate) and are nodes of the
drill (``drill.steps``), so Python (or the studio) can ask each for its ``status()``,
``start()`` it, override the gate, and store the record with the session. A unit is
judged only by rules whose inputs were calibrated by every step that concerns them
before the unit started; before that it is reported as not judged, with the step and
what it is still waiting for (after the data's own shortfall, when there is one too).
A rule that reads only a joint's flexion does not wait for ``long_axis`` (the rotation
about the long axis tilts the flexion axis, costing cos(psi); the other planes take
sin(psi) of the flexion, so ab/adduction and rotation wait).

Given a record (``build_drill(..., calibration=record)``: an earlier set's or session's,
from the store or ``drill.calibration``), a step whose results it holds for every stream
the step covers is not done again: it finishes with them as soon as its sensors have
sent their first samples (``neutral_pose``: its ``settle``, 0.3 s, where the joint
angles take the neutral orientations; ``long_axis`` after it) and its event says
``reused: true``; a template already recorded is used from the first rep (its step raises
``calibration.template`` with ``reused: true`` when its turn comes). The readiness gate
always runs: it checks the signals of this set (an electrode that came off between
sets), which no record can vouch for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nmre.calibration.emg import MVC_WINDOW
from nmre.core.model import StreamKind
from nmre.drills._toml import Table, read_param
from nmre.quality.gate import QualityGate
from nmre.quality.monitor import SpanQuality
from nmre.rules.base import Param

if TYPE_CHECKING:
    from nmre.calibration import Calibration, CalibrationStep
    from nmre.drills._build import Context
    from nmre.engine.nodes import Node
    from nmre.rules.base import Rule

__all__ = ["STEPS", "CalibrationPlan", "CalibrationSpec", "CalibrationWait", "parse_calibration"]

#: Calibration steps a drill file may name, in the order they usually run, with the settings each takes.
STEPS: Mapping[str, Mapping[str, Param]] = MappingProxyType(
    {
        "readiness": {
            "window": Param("number", "seconds of each stream every check looks at", 1.0, unit="s", lo=0.25),
        },
        "emg_rest": {
            "duration": Param(
                "number", "length of the quiet stretch (Hodges & Bui 1996: >= 1 s)", 2.0, unit="s", lo=1.0
            ),
            "settle": Param("number", "filter settling time skipped first", 0.5, unit="s", lo=0.0),
        },
        "emg_reference": {
            "method": Param(
                "choice",
                "maximal (mvc), sub-maximal (submax) or the other side (contralateral)",
                "mvc",
                choices=("mvc", "submax", "contralateral"),
            ),
            "trials": Param(
                "int", "reference contractions needed per muscle (Konrad 2005: 2-3 MVCs)", 1, lo=1
            ),
            "hold": Param(
                "number",
                "shortest contraction that counts as a trial (Konrad 2005: 3-5 s)",
                3.0,
                unit="s",
                lo=0.5,
            ),
            "window": Param(
                "number",
                "moving-mean window of each trial's peak (Konrad 2005: the highest 500 ms or 1 s)",
                MVC_WINDOW,
                unit="s",
                lo=0.05,
            ),
        },
        "neutral_pose": {
            "duration": Param("number", "stillness needed per sensor", 1.0, unit="s", lo=0.1),
            "settle": Param("number", "seconds skipped at the start", 0.3, unit="s", lo=0.0),
            "pose": Param(
                "text",
                "what the patient is asked to do (a pose of known joint angles: the angles read 0 there)",
                "stand still in the neutral pose",
            ),
        },
        "long_axis": {
            "min_rotation": Param(
                "number",
                "segment rotation needed in the flexion/extension movement",
                90.0,
                unit="deg",
                lo=0.0,
                lo_open=True,
            ),
            "min_planarity": Param(
                "number", "share of the angular velocity about one axis (1/3 to 1)", 0.8, unit="1", lo=0.34
            ),
            "movement": Param(
                "text",
                "what the patient is asked to do",
                "bend and straighten the joint a few times (flexion and extension only)",
            ),
        },
        "travel_heading": {
            "sensor": Param(
                "text",
                "the drill's back sensor (pelvis or trunk) whose heading on its segment the step finds",
                "pelvis",
            ),
            "min_travel": Param(
                "number",
                "horizontal acceleration needed, sum of |a_h|^2 dt (a lunge's step: about 1 in its first second)",
                1.0,
                unit="m^2/s^3",
                lo=0.0,
                lo_open=True,
            ),
            "min_planarity": Param(
                "number", "share of it along one horizontal axis (1/2 to 1)", 0.9, unit="1", lo=0.51
            ),
            "movement": Param(
                "text", "what the patient is asked to do", "step forward (the drill's movement)"
            ),
        },
        "common_lean": {
            "movement": Param(
                "text",
                "what the patient is asked to do",
                "lean the trunk to the side and back, the arm held against the side",
            ),
        },
        "template": {},
    }
)


@dataclass(frozen=True, slots=True)
class CalibrationSpec:
    """One step a drill file names, with its settings (defaults filled in)."""

    step: str
    params: Mapping[str, Any] = field(default_factory=dict)


#: The steps that start from the neutral pose, and why (a drill file must list ``neutral_pose`` before them).
_AFTER_NEUTRAL_POSE = {
    "long_axis": "the long-axis calibration starts from the neutral pose's vertical",
    "travel_heading": "the heading turns the neutral pose's segment frame",
    "common_lean": "the lean corrects the neutral pose's heading alignment",
}


def parse_calibration(top: Table) -> tuple[CalibrationSpec, ...]:
    """The ``calibration`` list of a drill file: names or ``{step = ..., <setting> = ...}`` tables."""
    raw = top.raw("calibration", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise top.fail("calibration", "a list of calibration steps (" + ", ".join(STEPS) + ")", raw)
    out: list[CalibrationSpec] = []
    for i, item in enumerate(raw):
        t = Table({"step": item} if isinstance(item, str) else item, top.file, f"calibration[{i}]")
        step = t.text("step", choices=STEPS)
        params = {k: read_param(t, k, p, "") for k, p in STEPS[step].items()}
        t.done()
        if any(c.step == step for c in out):
            raise t.fail("step", "each calibration step named once", step)
        out.append(CalibrationSpec(step, params))
    names = [c.step for c in out]
    for later, why in _AFTER_NEUTRAL_POSE.items():
        if later in names and (
            "neutral_pose" not in names or names.index("neutral_pose") > names.index(later)
        ):
            raise top.fail("calibration", f"neutral_pose before {later} ({why})", names)
    return tuple(out)


class CalibrationWait(QualityGate):
    """A rule's gate that also waits for calibration steps: a unit that started before one of them
    was done is not judged (with the step and what it waits for); otherwise the quality gate decides."""

    def __init__(self, inner: QualityGate | None, steps: Sequence[CalibrationStep]) -> None:
        # no QualityGate.__init__: this gate delegates to ``inner`` (which may be absent)
        self.inner = inner
        self.steps = tuple(steps)
        self.channels: dict[str, tuple[int, ...]] = {}
        if inner is not None:
            self.monitor, self.streams, self.needs = inner.monitor, inner.streams, inner.needs
            self.channels = dict(getattr(inner, "channels", {}) or {})

    def reached(self) -> float:
        """The rule judges a closed unit once its streams and every step it waits for have seen its end,
        so whether a step was done by then does not depend on how the streams were cut into blocks."""
        inner = self.inner.reached() if self.inner is not None else math.inf
        return min(inner, *(s.reached() for s in self.steps))

    def check(self, t0: float, t1: float) -> tuple[str | None, list[SpanQuality]]:
        waiting = None
        for s in self.steps:
            at = s.done_at
            if at is None:
                state = s.status()[0]
                what = getattr(s, "movement", None) or s.step
                waiting = f"{s.step} calibration not done yet by the end of this unit ({state.value}: {what})"
                break
            if at > t0:
                waiting = f"{s.step} calibration was done at {at:.1f} s, after this unit started"
                break
        if self.inner is None:
            return waiting, []
        why, quality = self.inner.check(t0, t1)
        if waiting is None:
            return why, quality
        if why is None:  # the calibration alone (the data's quality is not the reason: not reported)
            return waiting, []
        # both said: the data's shortfall first (it is what to fix), the calibration after it
        return f"{why}; {waiting}", quality


@dataclass
class CalibrationPlan:
    """What the builder made of a drill's calibration list: the steps (engine order), the record, the gate."""

    record: Calibration
    steps: list[CalibrationStep] = field(default_factory=list)
    readiness: Any = None  # the ReadinessGate, if the drill asks for one
    by_stream: dict[str, list[CalibrationStep]] = field(default_factory=dict)

    def step(self, name: str) -> CalibrationStep | None:
        """The step called ``name`` (``"neutral"`` / ``"neutral_pose"``, ``"long_axis"``, ...), if built."""
        alias = {"neutral_pose": "neutral"}.get(name, name)
        return next((s for s in self.steps if s.step == alias), None)

    def waits_for(self, raw: Sequence[str]) -> list[CalibrationStep]:
        """The steps a rule on the raw streams ``raw`` waits for (each once, in order)."""
        out: list[CalibrationStep] = []
        for r in raw:
            for s in self.by_stream.get(r, ()):
                if s not in out:
                    out.append(s)
        return out


def _emg_streams(ctx: Context) -> list[str]:
    return [s for s in ctx.raw_streams() if s in ctx.infos and ctx.infos[s].kind is StreamKind.EMG]


def build_plan(ctx: Context, rules: Sequence[Rule], record: Calibration | None) -> CalibrationPlan:
    """Make the steps the drill names (after its signals and rules are built) and gate its rules on them."""
    from nmre.calibration import (
        Calibration,
        EmgReference,
        EmgRestBaseline,
        LongAxisCalibration,
        NeutralPoseCalibration,
        ReadinessGate,
        TemplateCapture,
    )
    from nmre.calibration.imu import TravelHeading
    from nmre.calibration.record import muscles_of
    from nmre.drills._signals import ReferenceAt
    from nmre.errors import ConfigError

    plan = CalibrationPlan(record if record is not None else Calibration())
    rec = plan.record

    def note(step: CalibrationStep, streams: Sequence[str]) -> None:
        plan.steps.append(step)
        for s in streams:
            plan.by_stream.setdefault(s, []).append(step)

    for c in ctx.spec.calibration_steps:
        p = c.params
        if c.step == "readiness":
            checked = (StreamKind.EMG, StreamKind.IMU, StreamKind.ACC)  # what the gate can judge
            raw = [r for r in ctx.raw_streams() if r in ctx.infos and ctx.infos[r].kind in checked]
            if raw:
                plan.readiness = ReadinessGate(raw, window=p["window"], record=rec)
        elif c.step == "emg_rest":
            for s in _emg_streams(ctx):
                step: CalibrationStep = EmgRestBaseline(
                    s, duration=p["duration"], settle=p["settle"], gate=plan.readiness, record=rec
                )
                old_rest = rec.emg_rest.get(s)
                if old_rest is not None and old_rest.muscles == muscles_of(ctx.infos[s].channels):
                    step.reuse({s: old_rest})
                note(step, (s,))
        elif c.step == "emg_reference":
            for s in _emg_streams(ctx):
                step = EmgReference(
                    s, method=p["method"], trials=p["trials"], hold=p["hold"], window=p["window"], record=rec
                )
                old_ref = rec.emg_reference.get(s)
                if (
                    old_ref is not None
                    and old_ref.method == p["method"]
                    and old_ref.muscles == muscles_of(ctx.infos[s].channels)
                ):
                    step.reuse({s: old_ref})
                note(step, (s,))
                for held in ctx.references.get(s, ()):  # the envelopes in % of it, from its sample time on
                    held.step = step
                    _on_done(
                        step,
                        lambda st=step, h=held, sid=s: h.calibrate(
                            ReferenceAt(st.record.reference(sid), float(st.done_at))
                        ),
                    )
        elif c.step == "neutral_pose" and ctx._neutral:
            streams = tuple(dict.fromkeys(s for _, ss in ctx._neutral for s in ss))
            appliers = list(ctx._neutral)

            def neutral(cal: Mapping[str, Any], appliers: Any = appliers) -> None:
                for fn, _ in appliers:
                    fn(cal)

            step = NeutralPoseCalibration(
                streams, neutral, settle=p["settle"], duration=p["duration"], pose=p["pose"], record=rec
            )
            for held in ctx._held:  # their processors take the pose from its sample time on
                held.step = step
            if all(s in rec.neutral for s in streams):
                step.reuse({s: rec.neutral[s] for s in streams}, settle=p["settle"])
            note(step, streams)
        elif c.step == "long_axis" and ctx._functional:
            imu = [
                s
                for _, ss in ctx._functional
                for s in ss
                if s in ctx.infos and ctx.infos[s].kind is StreamKind.IMU
            ]
            streams = tuple(dict.fromkeys(imu))
            funcs = list(ctx._functional)

            def functional(cal: Mapping[str, Any], funcs: Any = funcs) -> None:
                for fn, _ in funcs:
                    fn(cal)

            if streams:
                step = LongAxisCalibration(
                    streams,
                    functional,
                    min_rotation=p["min_rotation"],
                    min_planarity=p["min_planarity"],
                    movement=p["movement"],
                    record=rec,
                    after=plan.step("neutral_pose"),
                )
                if all(s in rec.long_axis for s in streams):
                    step.reuse({s: rec.long_axis[s] for s in streams}, after=plan.step("neutral_pose"))
                note(step, streams)
        elif c.step == "travel_heading":
            sensor = ctx.sensor(p["sensor"], ctx.side)
            fns = [fn for fn, ss in ctx._travel if sensor.id in ss]
            if not fns:
                raise ConfigError(
                    f"calibration step travel_heading: expected sensor {p['sensor']!r} to be read by an "
                    "inclination signal of the drill, it is not"
                )

            def travel(cal: Mapping[str, Any], fns: Any = fns) -> None:
                for fn in fns:
                    fn(cal)

            step = TravelHeading(
                (sensor.id,),
                travel,
                min_travel=p["min_travel"],
                min_planarity=p["min_planarity"],
                movement=p["movement"],
                record=rec,
                after=plan.step("neutral_pose"),
            )
            if sensor.id in rec.long_axis:
                step.reuse({sensor.id: rec.long_axis[sensor.id]}, after=plan.step("neutral_pose"))
            note(step, (sensor.id,))
        elif c.step == "common_lean":
            from nmre.calibration.imu import CommonLeanHeading

            if not ctx._lean:
                raise ConfigError(
                    "calibration step common_lean: expected a humeral_elevation signal in the drill, it has none"
                )
            for proc in ctx._lean:
                # in plan.steps (status, events, record) but not in by_stream: no rule waits for it
                plan.steps.append(CommonLeanHeading(proc, movement=p["movement"], record=rec))
        elif c.step == "template":
            for rule in rules:
                if getattr(rule, "KIND", "") != "template" or not hasattr(rule, "channel"):
                    continue
                channels = list(getattr(rule, "template_channels", (rule.channel,)))
                old = rec.templates.get(rule.id)
                cap = TemplateCapture(
                    rule.id,
                    rule.stream,  # type: ignore[attr-defined]
                    channels=channels,
                    reps_from="reps",
                    record=rec,
                )
                if old is not None and old.stream == rule.stream and old.channels == channels:  # type: ignore[attr-defined]
                    # a template of an earlier session's record: used from the first rep, nothing captured;
                    # the step raises calibration.template with reused: true when its turn comes, so this
                    # session's recording and record hold the template too
                    rule.use_template(old.array)  # type: ignore[attr-defined]
                    cap.reuse({rule.id: old})
                    plan.steps.append(cap)
                    continue
                plan.steps.append(cap)
                _on_done(cap, lambda r=rule, cap=cap: r.use_template(cap.record.templates[r.id].array))
                plan.by_stream.setdefault(f"template:{rule.id}", []).append(cap)
                ctx.rule_raw[rule.id] = (*ctx.rule_raw.get(rule.id, ()), f"template:{rule.id}")
    for rule in rules:
        waits = plan.waits_for(ctx.rule_raw.get(rule.id, ()))
        waits = [s for s in waits if not _free_of(s, ctx, rule.id)]
        if waits:
            rule.gate = CalibrationWait(rule.gate, waits)
    return plan


def _free_of(step: CalibrationStep, ctx: Context, rule: str) -> bool:
    """Whether ``rule`` need not wait for ``step``: a long-axis step, and every signal the rule reads
    from the step's sensors is one that calibration does not condition (a joint's flexion)."""
    if step.step != "long_axis":
        return False
    reads = ctx.rule_reads.get(rule, ())
    touched = [
        (stream, ch) for stream, ch in reads if set(ctx.raw_of(stream) or (stream,)) & set(step.inputs)
    ]
    return bool(touched) and all(ch is not None and (st, ch) in ctx.long_axis_free for st, ch in touched)


def _on_done(step: CalibrationStep, fn: Any) -> None:
    """Call ``fn()`` once, when ``step`` finishes (a hook on the step's ``_finish``)."""
    finish = step._finish

    def wrapped(*a: Any, **kw: Any) -> None:
        finish(*a, **kw)
        fn()

    step._finish = wrapped  # type: ignore[method-assign]


def gate_nodes(nodes: Sequence[Node], gate: Any, free: Sequence[Node]) -> list[Node]:
    """``nodes`` with every node not in ``free`` behind the readiness ``gate`` (right after the monitor)."""
    from nmre.calibration import Gated

    keep = {id(n) for n in free}
    out: list[Node] = []
    placed = False
    for n in nodes:
        if id(n) in keep:
            out.append(n)
            if not placed and type(n).__name__ == "QualityMonitor":
                out.append(gate)
                placed = True
        else:
            out.append(Gated(n, gate))
    if not placed:
        out.insert(0, gate)
    return out

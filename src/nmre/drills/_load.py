"""Parsing and validating a drill file into a :class:`~nmre.drills.spec.DrillSpec`.

Every error names the file, the table and the field, and says what was
expected (``squat.toml: [rules[0]] unit: expected 'deg' (the unit of
knee_flexion_peak), got 'rad'``). Settings (every tolerance and number a
therapist may change) are collected here, and :func:`apply_settings` applies
overrides from a level or from Python.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nmre.core.model import StreamKind
from nmre.drills._calibration import STEPS as CAL_STEPS
from nmre.drills._calibration import parse_calibration
from nmre.drills._kinds import rule_kinds
from nmre.drills._signals import SIGNAL_KINDS
from nmre.drills._structure import SEGMENTERS
from nmre.drills._toml import Table, check_number, read_param
from nmre.drills.spec import (
    CONDITIONS,
    MUSCLES,
    SEGMENTS,
    SENSOR_SIDES,
    STEPS,
    UNITS,
    Criterion,
    DrillSpec,
    FeedbackSpec,
    LevelSpec,
    PictureSpec,
    ProgressionSpec,
    RuleSpec,
    ScheduleSpec,
    SegmenterSpec,
    SensorSpec,
    Setting,
    SignalSpec,
    SoundSpec,
    StructureSpec,
)
from nmre.errors import ConfigError
from nmre.rules.base import Messages, Param
from nmre.rules.quantities import QUANTITIES

__all__ = ["SCHEMA", "apply_settings", "parse_drill"]

#: Version of the file format this code reads.
SCHEMA = 1
#: Calibration steps a drill may ask for (contract §5; :mod:`nmre.drills._calibration`).
CALIBRATION_STEPS = tuple(CAL_STEPS)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SENSOR_KINDS = {
    "imu": StreamKind.IMU,
    "acc": StreamKind.ACC,
    "emg": StreamKind.EMG,
    "angle": StreamKind.ANGLE,
}
_PICTURES = ("gauge", "target", "counter", "trace")
_SOUNDS = ("tone", "sonify")
_SIGNAL_TYPES = ("signal",)


def _ident(t: Table, key: str, what: str) -> str:
    v = t.text(key)
    if not _ID.match(v):
        raise t.fail(key, f"{what}: lower-case letters, digits and _ (starting with a letter)", v)
    return str(v)


# -- sensors ----------------------------------------------------------------------------
def _sensor(t: Table) -> SensorSpec:
    name = _ident(t, "name", "a sensor name")
    raw_kinds = t.texts("kind")
    bad = [k for k in raw_kinds if k not in _SENSOR_KINDS]
    if bad:
        raise t.fail("kind", "imu, acc, emg or angle (or a list of them)", bad[0])
    kinds = tuple(_SENSOR_KINDS[k] for k in raw_kinds)
    emg = StreamKind.EMG in kinds
    if emg and len(kinds) > 1:
        raise t.fail(
            "kind", "emg alone (an EMG sensor is not interchangeable with a motion sensor)", list(raw_kinds)
        )
    segments: tuple[str, ...] = ()
    muscles: tuple[str, ...] = ()
    if emg:
        muscles = t.texts("muscles")
        if muscles == ("any",):  # any one muscle: which one comes from the placement
            pass
        else:
            for m in muscles:
                if m not in MUSCLES:
                    raise t.fail(
                        "muscles",
                        "muscles of the placement vocabulary (" + ", ".join(MUSCLES) + '), or ["any"]',
                        m,
                    )
    else:
        segments = t.texts("segment")
        for s in segments:
            if s not in SEGMENTS:
                raise t.fail("segment", "one of " + ", ".join(SEGMENTS), s)
    side = t.text("side", "any", SENSOR_SIDES)
    spec = SensorSpec(
        name,
        kinds,
        segments,
        side,
        muscles,
        t.boolean("required", True),
        t.text("for", ""),
        t.text("where", ""),
        t.texts("replaces", ()),
    )
    t.done()
    return spec


# -- signals ----------------------------------------------------------------------------
def _signal(t: Table, name: str, sensors: Mapping[str, SensorSpec]) -> SignalSpec:
    kind_name = t.text("kind", choices=SIGNAL_KINDS)
    kind = SIGNAL_KINDS[kind_name]
    params = {k: read_param(t, k, p, "") for k, p in kind.params.items()}
    for s in kind.sensors(params):
        if s not in sensors:
            key = next(k for k, v in params.items() if v == s)
            raise t.fail(key, "the name of a sensor of this drill (" + ", ".join(sensors) + ")", s)
        want_emg = kind_name.startswith("emg_")
        is_emg = StreamKind.EMG in sensors[s].kinds
        if want_emg != is_emg:
            key = next(k for k, v in params.items() if v == s)
            raise t.fail(
                key, f"{'an EMG' if want_emg else 'a motion (imu/acc)'} sensor for a {kind_name} signal", s
            )
        if kind_name in ("joint_angle", "inclination") and StreamKind.IMU not in sensors[s].kinds:
            key = next(k for k, v in params.items() if v == s)
            raise t.fail(key, f"an IMU sensor (a {kind_name} needs a gyroscope)", s)
    if kind_name == "joint_angle" and params["goniometer"]:
        g = params["goniometer"]
        if g not in sensors or StreamKind.ANGLE not in sensors[g].kinds:
            names = [n for n, s in sensors.items() if StreamKind.ANGLE in s.kinds]
            raise t.fail(
                "goniometer", "an angle sensor of this drill (" + (", ".join(names) or "none") + ")", g
            )
    if kind_name == "emg_onsets":
        sensor = sensors[params["sensor"]]
        for m in params["muscles"]:
            if m not in sensor.muscles:
                raise t.fail("muscles", f"muscles of sensor {sensor.name!r} ({', '.join(sensor.muscles)})", m)
        if params["k_off"] > params["k_on"]:
            raise t.fail("k_off", f"a threshold <= k_on ({params['k_on']:g}) (hysteresis)", params["k_off"])
    t.done()
    return SignalSpec(name, kind_name, params)


class _Refs:
    """Checks ``<signal>.<channel>`` references against the declared signals."""

    def __init__(self, signals: Mapping[str, SignalSpec], sensors: Mapping[str, SensorSpec]) -> None:
        self.signals, self.sensors = signals, sensors

    def channels(self, name: str) -> Mapping[str, str]:
        sig = self.signals[name]
        return SIGNAL_KINDS[sig.kind].channels(sig.params, self.sensors)

    def signal(self, t: Table, key: str, ref: str) -> tuple[str, str]:
        name, _, channel = ref.partition(".")
        if name not in self.signals:
            raise t.fail(
                key, "<signal>.<channel> naming a signal of this drill (" + ", ".join(self.signals) + ")", ref
            )
        chans = self.channels(name)
        if SIGNAL_KINDS[self.signals[name].kind].events:
            raise t.fail(key, f"a signal with samples ({name!r} is a stream of events)", ref)
        if channel not in chans:
            raise t.fail(key, f"a channel of {name!r} ({', '.join(chans)})", ref)
        return name, channel

    def whole(self, t: Table, key: str, name: str, kinds: tuple[str, ...] | None = None) -> str:
        if name not in self.signals:
            raise t.fail(key, "the name of a signal of this drill (" + ", ".join(self.signals) + ")", name)
        if kinds is not None and self.signals[name].kind not in kinds:
            raise t.fail(key, "a " + " or ".join(kinds) + " signal", f"{name} ({self.signals[name].kind})")
        return name


# -- rules ------------------------------------------------------------------------------
_WHOLE_SIGNAL = {
    "ratio": ("emg_envelope",),
    "combined": ("emg_envelope",),
    "cocontraction": ("emg_envelope",),
    "contraction": ("emg_envelope",),
    "relaxation": ("emg_envelope",),
    "sway": ("sway",),
    "los": ("inclination", "acc_inclination"),
}


def _rule(t: Table, refs: _Refs, kinds: Mapping[str, Any]) -> RuleSpec:
    rid = _ident(t, "id", "a rule id")
    kind_name = t.text("kind")
    if kind_name not in kinds:
        raise t.fail("kind", "a rule kind (" + ", ".join(sorted(kinds)) + ")", kind_name)
    cls = kinds[kind_name]
    qname = t.text("quantity")
    if qname not in QUANTITIES:
        raise t.fail("quantity", "a known quantity (" + ", ".join(sorted(QUANTITIES)) + ")", qname)
    q = QUANTITIES[qname]
    unit = t.text("unit")
    if unit != q.unit:
        raise t.fail("unit", f"{q.unit!r} (the unit of {qname})", unit)
    bounds: dict[str, float | None] = {}
    for side in ("lo", "hi"):
        v = t.raw(side, None)
        if v is None:
            bounds[side] = None
            continue
        f = check_number(t, side, v, None, False, unit)
        if f < q.lo or f > q.hi:
            what = "negative" if q.lo == 0 and f < 0 else "outside what is possible"
            rng = f"{q.lo:g} to {q.hi:g}" if math.isfinite(q.hi) else f">= {q.lo:g}"
            raise t.fail(side, f"a {qname} tolerance of {rng} {unit} (it cannot be {what})", v)
        bounds[side] = f
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is not None and hi is not None and lo > hi:
        raise t.fail(
            "lo", f"lo <= hi ({hi:g} {unit}), a band with its minimum above its maximum is impossible", lo
        )
    if cls.NEEDS_TOLERANCE and lo is None and hi is None:
        raise t.fail("hi", f"a tolerance: lo and/or hi in {unit} (a {kind_name} rule needs one)")
    params: dict[str, Any] = {}
    for key, p in cls.PARAMS.items():
        v = read_param(t, key, p, unit)
        if p.type == "signal" and isinstance(v, str):
            refs.signal(t, key, v)
        elif key == "signal" and kind_name in _WHOLE_SIGNAL and isinstance(v, str):
            refs.whole(t, key, v, _WHOLE_SIGNAL[kind_name])
        elif p.type == "muscle" and isinstance(v, str):
            sig = params.get("signal") or t.data.get("signal")
            if v not in MUSCLES and v != "placed":
                raise t.fail(
                    key,
                    "a muscle of the placement vocabulary (" + ", ".join(MUSCLES) + "), or placed",
                    v,
                )
            if isinstance(sig, str) and sig in refs.signals:
                chans = refs.channels(sig)
                if v not in chans:
                    raise t.fail(key, f"a muscle of signal {sig!r} ({', '.join(chans)})", v)
        params[key] = v
    if kind_name == "onset_order":
        refs.whole(t, "onsets", params["onsets"], ("emg_onsets",))
        mus = refs.signals[params["onsets"]].params["muscles"]
        for key in ("early", "late"):
            if params[key] not in mus:
                raise t.fail(key, f"a muscle of signal {params['onsets']!r} ({', '.join(mus)})", params[key])
    if kind_name == "balance_loss" and params["sensor"] not in refs.sensors:
        raise t.fail("sensor", "a sensor of this drill (" + ", ".join(refs.sensors) + ")", params["sensor"])
    mt = t.table("messages", {})
    messages = Messages()
    if mt is not None:
        messages = Messages(
            good=mt.text("good", messages.good),
            below=mt.text("below", messages.below),
            above=mt.text("above", messages.above),
            unjudged=mt.text("unjudged", messages.unjudged),
            label=mt.text("label", qname.replace("_", " ")),
        )
        mt.done()
    needs: dict[str, float] = {}
    nt = t.table("needs", {})
    if nt is not None:
        for key in ("max_missing", "max_bad"):
            if nt.has(key):
                v = nt.number(key, lo=0.0, unit="1")
                if v > 1:
                    raise nt.fail(key, "a fraction between 0 and 1", v)
                needs[key] = v
        if nt.has("max_gap"):
            needs["max_gap"] = nt.number("max_gap", lo=0.0, unit="s")
        nt.done()
    during = t.text("during", "unit", ("unit", "rest"))
    spec = RuleSpec(
        rid,
        kind_name,
        qname,
        unit,
        lo,
        hi,
        {**params, "during": during},
        messages,
        t.text("error_below", None),
        t.text("error_above", None),
        t.text("source"),
        needs,
    )
    t.done()
    return spec


# -- feedback ---------------------------------------------------------------------------
def _schedule(t: Table) -> ScheduleSpec:
    from nmre.feedback.schedule import SCHEDULES

    raw = t.raw("schedule", "continuous")
    if isinstance(raw, str):
        if raw not in SCHEDULES:
            raise t.fail("schedule", "one of " + ", ".join(SCHEDULES), raw)
        return ScheduleSpec(raw)
    st = Table(raw, t.file, f"{t.name}.schedule")
    kind = st.text("kind", choices=SCHEDULES)
    import inspect

    sig = inspect.signature(SCHEDULES[kind].__init__)
    params: dict[str, Any] = {}
    for key in sig.parameters:
        if key != "self" and st.has(key):
            params[key] = st.raw(key)
    st.done()
    try:
        SCHEDULES[kind](**params)
    except (ConfigError, TypeError, ValueError) as exc:
        raise st.fail(None, f"valid {kind} schedule settings ({exc})") from None
    return ScheduleSpec(kind, params)


def _pair(t: Table, key: str) -> tuple[float, float] | None:
    v = t.raw(key, None)
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 2):
        raise t.fail(key, "[low, high]", v)
    a, b = (check_number(t, key, x, None, False, "") for x in v)
    if a > b:
        raise t.fail(key, "[low, high] with low <= high", v)
    return a, b


def _feedback(t: Table | None, refs: _Refs, rules: Mapping[str, RuleSpec], unit: str) -> FeedbackSpec:
    if t is None:
        return FeedbackSpec()
    schedule = _schedule(t)
    pictures = []
    for pt in t.tables("picture"):
        kind = pt.text("kind", choices=_PICTURES)
        signal = pt.text("signal", None)
        if kind != "counter" and signal is None:
            raise pt.fail("signal", f"the signal a {kind} shows (<signal>.<channel>)")
        if signal is not None:
            refs.signal(pt, "signal", signal)
        band = pt.text("band_from", None)
        if band is not None and band not in rules:
            raise pt.fail("band_from", "a rule id of this drill (" + ", ".join(rules) + ")", band)
        counts = pt.text("counts", unit if kind == "counter" else None, UNITS)
        pictures.append(PictureSpec(kind, signal, band, pt.text("label", ""), counts))
        pt.done()
    sound = None
    sd = t.table("sound", None)
    if sd is not None:
        kind = sd.text("kind", choices=_SOUNDS)
        signal = sd.text("signal", None)
        if kind == "sonify":
            if signal is None:
                raise sd.fail("signal", "the signal a sonification follows (<signal>.<channel>)")
            name, ch = refs.signal(sd, "signal", signal)
            u = refs.channels(name)[ch]
            su = sd.text("unit")
            if su != u:
                raise sd.fail("unit", f"{u!r} (the unit of {signal})", su)
            rng = _pair(sd, "range")
            if rng is None:
                raise sd.fail("range", "[low, high] of the signal mapped to pitch")
            dz = _pair(sd, "dead_zone")
            sound = SoundSpec(kind, signal, rng, dz, su)
        else:
            sound = SoundSpec(kind)
        sd.done()
    t.done()
    return FeedbackSpec(schedule, tuple(pictures), sound)


# -- levels and progression -------------------------------------------------------------
_CONDITION_RANGES = {"resistance": (0.0, 1.0), "tempo": (0.4, 2.5)}


def _condition(t: Table, key: str) -> Any:
    kind = CONDITIONS[key]
    if kind == "bool":
        return t.boolean(key)
    lo, hi = _CONDITION_RANGES[key]
    v = t.raw(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise t.fail(key, f"a number from {lo:g} to {hi:g} ({kind.split(' ', 2)[-1]})", v)
    return float(v)


def _criterion(t: Table, errors: set[str]) -> Criterion:
    metric = t.text("metric", choices=("on_target", "errors"))
    sets = t.integer("sets", 1, lo=1)
    at_least = t.number("at_least", None, lo=0.0) if t.has("at_least") else None
    below = t.number("below", None, lo=0.0) if t.has("below") else None
    t.raw("at_least", None)
    t.raw("below", None)
    if (at_least is None) == (below is None):
        raise t.fail("at_least", "exactly one of at_least and below")
    error = None
    if metric == "on_target":
        for k, v in (("at_least", at_least), ("below", below)):
            if v is not None and v > 1:
                raise t.fail(k, "a fraction between 0 and 1 (0.8 = 80 % of units on target)", v)
    else:
        error = t.text("error")
        if error not in errors:
            raise t.fail(
                "error", "a movement error the rules report (" + ", ".join(sorted(errors)) + ")", error
            )
    t.done()
    return Criterion(metric, sets, at_least, below, error)


# -- settings ---------------------------------------------------------------------------
def _settings(
    rules: tuple[RuleSpec, ...],
    kinds: Mapping[str, Any],
    segmenter: SegmenterSpec,
    structure: StructureSpec,
    signals: Mapping[str, SignalSpec],
    sided: bool,
) -> dict[str, Setting]:
    out: dict[str, Setting] = {}

    def add(name: str, value: Any, unit: str, about: str) -> None:
        out[name] = Setting(name, value, unit, about)

    for r in rules:
        if r.lo is not None:
            add(f"{r.id}.lo", r.lo, r.unit, f"lower tolerance of {r.messages.label or r.quantity}")
        if r.hi is not None:
            add(f"{r.id}.hi", r.hi, r.unit, f"upper tolerance of {r.messages.label or r.quantity}")
        for key, p in kinds[r.kind].PARAMS.items():
            if p.type in ("number", "int", "bool", "choice"):
                unit = r.unit if p.unit == "<tolerance>" else (p.unit or "")
                add(f"{r.id}.{key}", r.params[key], unit, p.about)
    for key, p in SEGMENTERS[segmenter.kind].params.items():
        if p.type in ("number", "int", "choice"):
            add(f"structure.{key}", segmenter.params[key], p.unit or "", p.about)
    add("structure.per_set", structure.per_set, structure.unit + "s", f"{structure.unit}s per set")
    add("structure.sets", structure.sets, "sets", "sets")
    add("structure.rest_between_sets", structure.rest_between_sets, "s", "rest between sets")
    for s in signals.values():
        for key, p in SIGNAL_KINDS[s.kind].params.items():
            if p.type in ("number", "int"):
                add(f"signals.{s.name}.{key}", s.params[key], p.unit or "", p.about)
    if sided:
        add("side", "auto", "", "the side the drill works on: auto (from the sensors worn), left or right")
    return out


def apply_settings(spec: DrillSpec, overrides: Mapping[str, Any], who: str = "settings") -> DrillSpec:
    """``spec`` with ``overrides`` (setting name → value) applied; ConfigError naming the drill's settings."""
    if not overrides:
        return spec
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"drill {spec.name!r}: {who}: expected a mapping of setting name to value, got {overrides!r}"
        )
    kinds = rule_kinds()
    rules = {r.id: r for r in spec.rules}
    seg = dict(spec.structure.segmenter.params)
    structure = spec.structure
    signals = {n: dict(s.params) for n, s in spec.signals.items()}
    values = {k: s.value for k, s in spec.settings.items()}
    for name, value in overrides.items():
        if name not in spec.settings:
            raise ConfigError(
                f"drill {spec.name!r}: {who}: expected one of the drill's settings "
                f"({', '.join(spec.settings)}), got {name!r}"
            )
        old = spec.settings[name]
        value = _checked_setting(spec, name, old, value, kinds, who)
        values[name] = value
        head, _, key = name.partition(".")
        if head in rules:
            r = rules[head]
            if key == "lo":
                rules[head] = dataclasses.replace(r, lo=float(value))
            elif key == "hi":
                rules[head] = dataclasses.replace(r, hi=float(value))
            else:
                rules[head] = dataclasses.replace(r, params={**r.params, key: value})
        elif head == "structure" and key in seg:
            seg[key] = value
        elif head == "structure":
            structure = dataclasses.replace(structure, **{key: value})
        elif head == "signals":
            sname, _, skey = key.partition(".")
            signals[sname][skey] = value
    for r in rules.values():
        if r.lo is not None and r.hi is not None and r.lo > r.hi:
            raise ConfigError(
                f"drill {spec.name!r}: {who}: expected {r.id}.lo <= {r.id}.hi, got lo={r.lo:g} > hi={r.hi:g} {r.unit}"
            )
    structure = dataclasses.replace(structure, segmenter=SegmenterSpec(structure.segmenter.kind, seg))
    settings = {k: dataclasses.replace(s, value=values[k]) for k, s in spec.settings.items()}
    return dataclasses.replace(
        spec,
        rules=tuple(rules[r.id] for r in spec.rules),
        structure=structure,
        signals={n: dataclasses.replace(s, params=signals[n]) for n, s in spec.signals.items()},
        settings=settings,
    )


def _checked_setting(
    spec: DrillSpec, name: str, old: Setting, value: Any, kinds: Mapping[str, Any], who: str
) -> Any:
    head, _, key = name.partition(".")
    where = f"drill {spec.name!r}: {who}: {name}"
    if name == "side":
        if value not in ("auto", "left", "right"):
            raise ConfigError(f"{where}: expected auto, left or right, got {value!r}")
        return value
    p: Param | None = None
    if head in {r.id for r in spec.rules} and key not in ("lo", "hi"):
        p = kinds[spec.rule(head).kind].PARAMS[key]
    elif head == "structure" and key in SEGMENTERS[spec.structure.segmenter.kind].params:
        p = SEGMENTERS[spec.structure.segmenter.kind].params[key]
    elif head == "signals":
        sname, _, skey = key.partition(".")
        p = SIGNAL_KINDS[spec.signals[sname].kind].params[skey]
    if p is not None and p.type == "choice":
        if value not in p.choices:
            raise ConfigError(f"{where}: expected one of {', '.join(p.choices)}, got {value!r}")
        return value
    if p is not None and p.type == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    integer = isinstance(old.value, int) and not isinstance(old.value, bool)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if integer and not (ok and float(value).is_integer() and value >= 1):
        raise ConfigError(f"{where}: expected a whole number >= 1, got {value!r}")
    if not ok:
        raise ConfigError(f"{where}: expected a finite number in {old.unit or 'its unit'}, got {value!r}")
    lo = 0.0 if key == "rest_between_sets" else (None if p is None else p.lo)
    if lo is not None and (value <= lo if (p is not None and p.lo_open) else value < lo):
        raise ConfigError(
            f"{where}: expected a number {'>' if p is not None and p.lo_open else '>='} {lo:g}, got {value!r}"
        )
    if key in ("lo", "hi"):
        q = QUANTITIES[spec.rule(head).quantity]
        if value < q.lo or value > q.hi:
            raise ConfigError(
                f"{where}: expected a {q.name} tolerance between {q.lo:g} and {q.hi:g} {q.unit}, got {value!r}"
            )
    return int(value) if integer else float(value)


# -- the file ---------------------------------------------------------------------------
def parse_drill(text: str, path: str) -> DrillSpec:
    """Parse and validate drill file ``text`` (``path`` names it in errors)."""
    file = Path(path).name if path else "<drill>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: expected valid TOML, got a syntax error: {exc}") from None
    top = Table(data, file, "")
    schema = top.integer("schema")
    if schema != SCHEMA:
        raise top.fail("schema", f"{SCHEMA} (the drill file format this nmre reads)", schema)
    name = _ident(top, "name", "a drill name")
    title = top.text("title")
    step = top.text("step", choices=STEPS)
    movement = top.text("movement")
    summary = top.text("summary", "")
    cal_steps = parse_calibration(top)
    calibration = tuple(c.step for c in cal_steps)
    sensors: dict[str, SensorSpec] = {}
    for t in top.tables("sensors"):
        s = _sensor(t)
        if s.name in sensors:
            raise t.fail("name", "a sensor name used once", s.name)
        sensors[s.name] = s
    if not sensors:
        raise top.fail("sensors", "at least one [[sensors]] table")
    for i, s in enumerate(sensors.values()):
        for r in s.replaces:
            if r not in sensors or r == s.name:
                raise Table({}, file, f"sensors[{i}]").fail(
                    "replaces", "names of the other sensors of this drill (" + ", ".join(sensors) + ")", r
                )
    signals: dict[str, SignalSpec] = {}
    st = top.table("signals", {})
    if st is not None:
        for key in st.data:
            if not _ID.match(key):
                raise st.fail(key, "a signal name: lower-case letters, digits and _", key)
            sub = st.table(key)
            assert sub is not None
            signals[key] = _signal(sub, key, sensors)
        st.done()
    refs = _Refs(signals, sensors)
    kinds = rule_kinds()
    # structure
    tt = top.table("structure")
    assert tt is not None
    unit = tt.text("unit", choices=UNITS)
    per_set = tt.integer("per_set", lo=1)
    sets = tt.integer("sets", 1, lo=1)
    rest_sets = tt.number("rest_between_sets", 60.0, lo=0.0, unit="s")
    sg = tt.table("segmenter")
    assert sg is not None
    sk = sg.text("kind", choices=SEGMENTERS)
    seg_params: dict[str, Any] = {}
    for key, p in SEGMENTERS[sk].params.items():
        v = read_param(sg, key, p, "")
        if p.type == "signal":
            refs.signal(sg, key, v)
        elif key == "signal":
            refs.whole(sg, key, v, ("sway",))
        seg_params[key] = v
    if sk == "reps":
        up = seg_params["direction"] == "up"
        if (seg_params["start"] <= seg_params["end"]) if up else (seg_params["start"] >= seg_params["end"]):
            raise sg.fail(
                "start",
                f"a start threshold {'above' if up else 'below'} end ({seg_params['end']:g}) (hysteresis)",
                seg_params["start"],
            )
        if seg_params["min_duration"] > seg_params["max_duration"]:
            raise sg.fail(
                "min_duration",
                f"a duration <= max_duration ({seg_params['max_duration']:g} s)",
                seg_params["min_duration"],
            )
        sname, ch = refs.signal(sg, "signal", seg_params["signal"])
        u = refs.channels(sname)[ch]
        if seg_params["unit"] != u:
            raise sg.fail("unit", f"{u!r} (the unit of {seg_params['signal']})", seg_params["unit"])
    if sk == "transitions":
        if seg_params["sensor"] not in sensors:
            raise sg.fail(
                "sensor", "a sensor of this drill (" + ", ".join(sensors) + ")", seg_params["sensor"]
            )
        if StreamKind.EMG in sensors[seg_params["sensor"]].kinds:
            raise sg.fail("sensor", "a trunk or pelvis motion sensor (imu/acc)", seg_params["sensor"])
        if not seg_params["turn_still"] < seg_params["turn_move"]:
            raise sg.fail(
                "turn_still",
                f"a turn rate < turn_move ({seg_params['turn_move']:g} deg/s) (hysteresis)",
                seg_params["turn_still"],
            )
        if not seg_params["min_duration"] < seg_params["max_duration"]:
            raise sg.fail(
                "min_duration",
                f"a duration < max_duration ({seg_params['max_duration']:g} s)",
                seg_params["min_duration"],
            )
        if seg_params["max_duration"] > seg_params["max_episode"]:
            raise sg.fail(
                "max_duration",
                f"a duration <= max_episode ({seg_params['max_episode']:g} s)",
                seg_params["max_duration"],
            )
    sg.done()
    tt.done()
    segmenter = SegmenterSpec(sk, seg_params)
    structure = StructureSpec(unit, per_set, sets, rest_sets, segmenter)
    # rules
    rules: dict[str, RuleSpec] = {}
    for t in top.tables("rules"):
        rule = _rule(t, refs, kinds)
        if rule.id in rules:
            raise t.fail("id", "a rule id used once", rule.id)
        rules[rule.id] = rule
    if not rules:
        raise top.fail("rules", "at least one [[rules]] table")
    feedback = _feedback(top.table("feedback", None), refs, rules, unit)
    sided = any(s.side == "drill" for s in sensors.values())
    settings = _settings(tuple(rules.values()), kinds, segmenter, structure, signals, sided)
    # levels
    levels: list[LevelSpec] = []
    for t in top.tables("levels"):
        n = t.integer("level", lo=1)
        if n != len(levels) + 1:
            raise t.fail("level", f"levels numbered 1, 2, 3, ... in order (this one: {len(levels) + 1})", n)
        ct = t.table("conditions", {})
        conditions: dict[str, Any] = {}
        if ct is not None:
            for key in ct.data:
                if key not in CONDITIONS:
                    raise ct.fail(key, "a condition (" + ", ".join(CONDITIONS) + ")", "an unknown condition")
                conditions[key] = _condition(ct, key)
            ct.done()
        stt = t.table("settings", {})
        lsettings: dict[str, Any] = {}
        if stt is not None:
            for key in stt.data:
                if key not in settings:
                    raise stt.fail(
                        key, "a setting of this drill (" + ", ".join(settings) + ")", "an unknown setting"
                    )
                lsettings[key] = stt.raw(key)
            stt.done()
        levels.append(LevelSpec(n, t.text("title"), t.text("about", ""), conditions, lsettings))
        t.done()
    errors = {e for r in rules.values() for e in (r.error_below, r.error_above) if e}
    pt = top.table("progression", {})
    progression = ProgressionSpec()
    if pt is not None:
        progression = ProgressionSpec(
            tuple(_criterion(c, errors) for c in pt.tables("advance")),
            tuple(_criterion(c, errors) for c in pt.tables("step_back")),
        )
        pt.done()
        if (progression.advance or progression.step_back) and len(levels) < 2:
            raise pt.fail(None, "at least two [[levels]] to progress between")
    top.done()
    spec = DrillSpec(
        name,
        title,
        step,
        movement,
        summary,
        str(path),
        tuple(sensors.values()),
        signals,
        structure,
        tuple(rules.values()),
        feedback,
        tuple(levels),
        progression,
        tuple(calibration),
        settings,
        cal_steps,
    )
    for sig in signals.values():
        if sig.params.get("normalise") == "reference" and "emg_reference" not in calibration:
            raise Table({}, file, f"signals.{sig.name}").fail(
                "normalise",
                "'reference' only with the emg_reference step in calibration = [...] (it gives the reference)",
                "reference",
            )
    for lv in levels:  # level settings must be valid values too
        apply_settings(spec, lv.settings, f"[levels[{lv.level - 1}].settings]")
    return spec

"""Replay a recording through the same engine, with what-if settings; the per-file function of an archive run.

``replay(path, settings)`` reads the file, builds the drill it was recorded with
(or another one), applies ``--set RULE.PARAM=VALUE`` overrides to the drill's
rules, and runs the engine on the virtual clock (or paced: ``speed``). The
events are deterministic: the same file and settings give byte-identical JSON.

``what_if(before, after)`` lists the outcomes that differ, rep by rep: the
recorded verdict and value next to the replayed ones.

``replay_file(path, settings) -> dict`` is the plain function an archive
re-analysis maps over files (here one after another; on Dask in ``nmre.batch``):
picklable settings in, a flat row of metrics out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nmre.core.clock import Clock, VirtualClock
from nmre.core.interfaces import Sink
from nmre.core.model import Event, StreamInfo
from nmre.engine import Engine
from nmre.errors import ConfigError, expected
from nmre.feedback.schedule import make_schedule
from nmre.feedback.sinks import MemorySink
from nmre.sessions import xdf
from nmre.sessions.metrics import Outcome, outcomes, session_metrics
from nmre.sessions.source import ScaledClock, XdfReplaySource

__all__ = [
    "Difference",
    "ReplayResult",
    "ReplaySettings",
    "build_replay_drill",
    "number",
    "parse_overrides",
    "replay",
    "replay_file",
    "what_if",
]


@dataclass
class ReplaySettings:
    """How to replay a file (picklable, so an archive run can ship it to workers).

    ``drill``: a drill name or file (``None``: the one recorded); ``overrides``:
    ``{"squat_depth.lo": 80.0}``; ``block_seconds``: replay block length (s), ``None``
    for the blocks as recorded;
    ``speed``: ``None`` for the virtual clock (as fast as the CPU allows), else the
    pace relative to real time; ``schedule``: feedback schedule (``None``: as recorded).
    """

    drill: str | None = None
    overrides: dict[str, float | None] = field(default_factory=dict)
    block_seconds: float | None = None
    speed: float | None = None
    schedule: str | None = None

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | ReplaySettings | None) -> ReplaySettings:
        if d is None:
            return cls()
        if isinstance(d, ReplaySettings):
            return d
        known = {f for f in cls.__dataclass_fields__}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"replay settings: expected keys among {', '.join(sorted(known))}, got {bad}")
        return cls(**dict(d))


@dataclass
class ReplayResult:
    """A replay's events, the drill and settings it used, and the recording it read."""

    path: str
    drill: str
    drill_settings: dict[str, Any]
    settings: ReplaySettings
    events: list[Event]
    recording: xdf.Recording
    session_seconds: float

    @property
    def metrics(self) -> dict[str, Any]:
        return session_metrics(self.events)


# -- the drill of a replay -------------------------------------------------------------------------
def _recorded_drill(rec: xdf.Recording) -> tuple[str, dict[str, Any]]:
    d = rec.metadata.get("drill")
    if isinstance(d, Mapping) and d.get("name"):
        return str(d["name"]), dict(d.get("settings") or {})
    if isinstance(d, str) and d:
        return d, {}
    raise ConfigError(
        f"{rec.path}: the recording does not say which drill it ran (no 'drill' in its metadata); "
        "expected --drill NAME or FILE"
    )


def build_replay_drill(
    ref: str,
    streams: Sequence[StreamInfo],
    settings: Mapping[str, Any],
    overrides: Mapping[str, float | None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build the drill ``ref`` (a name or a drill file) for ``streams`` with the recorded ``settings``.

    ``overrides`` (``{"squat_depth.lo": 80.0}``) are drill settings on top of the
    recorded ones, validated by the drill (an unknown name lists the drill's
    settings). A recorded setting the drill no longer has (a file from an older
    drill) or left unset (``None``) is not passed back. Returns ``(drill, applied)``:
    each override with its value before and after.
    """
    from nmre.drills import build_drill, load_drill

    spec = load_drill(ref)
    known = getattr(spec, "settings", {}) or {}
    recorded = {k: v for k, v in settings.items() if v is not None and k in known}
    before = {k: recorded.get(k, getattr(known.get(k), "value", None)) for k in overrides or {}}
    drill = build_drill(spec, streams, settings={**recorded, **dict(overrides or {})})
    return drill, {k: {"before": before[k], "after": v} for k, v in (overrides or {}).items()}


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["squat_depth.lo=80", "knee_valgus.hi=none", "side=left"]`` → drill settings.

    Numbers become floats, ``none`` an open side (``None``); other words are passed as
    text (``side=left``). The drill validates names and values.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, t = key.strip(), text.strip()
        if not sep or not key or not t or any(not part for part in key.split(".")):
            raise ConfigError("--set: " + expected("RULE.PARAM=VALUE such as squat_depth.lo=80", item))
        if t.lower() in ("none", "off", "open"):
            out[key] = None
            continue
        try:
            v = float(t)
        except ValueError:
            out[key] = t
            continue
        if not math.isfinite(v):
            raise ConfigError(f"--set {item}: " + expected("a finite number", text))
        out[key] = v
    return out


# -- replay -----------------------------------------------------------------------------------------
def replay(
    recording: str | os.PathLike[str] | xdf.Recording,
    settings: ReplaySettings | Mapping[str, Any] | None = None,
    *,
    sinks: Sequence[Sink] = (),
) -> ReplayResult:
    """Replay ``recording`` through the engine and return its events (see the module docs)."""
    opts = ReplaySettings.from_mapping(settings)
    rec = recording if isinstance(recording, xdf.Recording) else xdf.read_xdf(recording)
    source = XdfReplaySource(rec, block_seconds=opts.block_seconds)
    name, recorded_settings = _recorded_drill(rec) if opts.drill is None else (opts.drill, {})
    if opts.drill is not None:
        try:
            rname, rsettings = _recorded_drill(rec)
        except ConfigError:
            rname, rsettings = "", {}
        if rname == opts.drill:  # the same drill by name: keep what the therapist had set
            recorded_settings = rsettings
    drill, applied = build_replay_drill(name, source.streams, recorded_settings, opts.overrides)
    schedule_name = opts.schedule or str(rec.metadata.get("schedule") or "continuous")
    mem = MemorySink()
    clock: Clock = VirtualClock() if opts.speed is None else ScaledClock(opts.speed)
    engine = Engine([source], drill.nodes, [mem, *sinks], clock=clock, schedule=make_schedule(schedule_name))
    engine.run()
    used = dict(getattr(drill, "settings", {}) or {})
    if applied:
        used["overrides"] = applied
    return ReplayResult(rec.path, drill.name, used, opts, mem.events, rec, engine.stats.session_seconds)


def replay_file(path: str, settings: Mapping[str, Any] | ReplaySettings | None = None) -> dict[str, Any]:
    """Replay one file and return one flat row of metrics (a plain function of (file, settings)).

    Raises :class:`~nmre.errors.NmreError` for a file that cannot be replayed; an
    archive run reports it and goes on.
    """
    opts = ReplaySettings.from_mapping(settings)
    if opts.speed is not None:
        raise ConfigError("replay_file: expected the virtual clock (speed None) for an archive run")
    res = replay(path, opts)
    meta = res.recording.metadata
    row: dict[str, Any] = {
        "file": os.fspath(path),
        "drill": res.drill,
        "patient": meta.get("patient") if isinstance(meta.get("patient"), str) else None,
        "recorded": meta.get("created"),
        "session_seconds": round(res.session_seconds, 3),
        "problems": len(res.recording.problems),
    }
    row.update(res.metrics)
    return row


def number(v: float | None) -> str:
    """A value as people read it: one decimal from 10 up, three significant digits below; ``n/a`` for none."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


# -- what if ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One outcome that differs between two runs of a session (``None``: absent from that run)."""

    unit: str
    index: Any
    rule: str
    before: Outcome | None
    after: Outcome | None

    @property
    def verdict_changed(self) -> bool:
        b = None if self.before is None else self.before.ok
        a = None if self.after is None else self.after.ok
        return a != b

    def to_dict(self) -> dict[str, Any]:
        def side(o: Outcome | None) -> dict[str, Any] | None:
            if o is None:
                return None
            return {
                "ok": o.ok,
                "value": o.value,
                "unit": o.value_unit,
                "error": o.error,
                "lo": o.lo,
                "hi": o.hi,
            }

        return {
            "unit": self.unit,
            "index": self.index,
            "rule": self.rule,
            "verdict_changed": self.verdict_changed,
            "before": side(self.before),
            "after": side(self.after),
        }

    def line(self) -> str:
        def side(o: Outcome | None) -> str:
            if o is None:
                return "(none)"
            v = f"{number(o.value)} {o.value_unit}".rstrip()
            return f"{'ok ' if o.ok else 'FIX'} {v}" + (f" [{o.error}]" if o.error and not o.ok else "")

        mark = "*" if self.verdict_changed else " "
        where = f"rep {self.index!s:>3}" if self.unit == "rep" else f"{self.unit} at {self.index!s}"
        return f"{mark} {where:<14} {self.rule:<16} {side(self.before):<30} -> {side(self.after)}"


def what_if(before: Sequence[Event], after: Sequence[Event]) -> list[Difference]:
    """Outcomes that differ between two runs, rep by rep: verdict, error or value.

    An outcome whose band moved (``--set``) but whose verdict and value stayed is not listed.
    """

    def index(events: Sequence[Event]) -> dict[tuple[str, str, str], Outcome]:
        return {(o.unit, str(o.index), o.rule): o for o in outcomes(events)}

    b, a = index(before), index(after)
    keys = list(b) + [k for k in a if k not in b]

    def same(x: Outcome | None, y: Outcome | None) -> bool:
        if x is None or y is None:
            return x is y
        return x.ok == y.ok and x.error == y.error and x.value == y.value  # a band moved alone: no change

    out = []
    for k in keys:
        x, y = b.get(k), a.get(k)
        if not same(x, y):
            o = x or y
            assert o is not None
            out.append(Difference(k[0], o.index, k[2], x, y))
    return out

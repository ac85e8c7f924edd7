"""Drills as data: TOML files that say which sensors, signals, units, rules, feedback and levels an exercise has.

>>> spec = load_drill("squat")                        # a library drill, or a path to a .toml file
>>> drill = build_drill(spec, sim.streams, level=2)   # doctest: +SKIP
>>> Engine([source], drill.nodes, sinks, schedule=drill.make_schedule())  # doctest: +SKIP

* :func:`list_drills`: the drills shipped in ``nmre/drills/library`` and offered by
  ``nmre.drills`` plugins; :func:`broken_drills`: the drill files there that
  cannot be loaded (a syntax error, an unknown rule kind, ...), each with the
  reason in one line. A broken file is left out and never stops the others;
  naming it (``load_drill``) is a ConfigError with that reason.
* :func:`load_drill`: a validated :class:`DrillSpec` from a name or a path
  (errors name the file, the table, the field and what was expected).
* :func:`check_drill`: load, then build on a kit with every sensor the file
  names and wire it, so a file that cannot run is caught before a session.
* :func:`build_drill`: the engine nodes for the connected streams, a level and
  settings (a setting the drill does not have is a ConfigError listing the
  drill's settings). Code adds rule kinds (:data:`nmre.rules.RULE_KINDS`);
  files combine them. The format: ``docs/drills.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nmre.core.model import Channel, Placement, Side, StreamInfo, StreamKind
from nmre.drills._build import Drill, Skipped, build
from nmre.drills._kinds import rule_kind_problems, rule_kinds
from nmre.drills._load import SCHEMA, apply_settings, parse_drill
from nmre.drills.spec import DrillSpec
from nmre.errors import ConfigError, expected

__all__ = [
    "ALIASES",
    "DRILLS",
    "SCHEMA",
    "BrokenDrill",
    "Drill",
    "DrillSpec",
    "Skipped",
    "broken_drills",
    "build_drill",
    "check_drill",
    "library_path",
    "library_problems",
    "list_drills",
    "load_drill",
    "rest_band",
    "rule_kinds",
    "synthetic_kit",
    "target_plan",
]


#: Names of the first API that still load (``"stance"`` was the single-leg stance).
ALIASES: Mapping[str, str] = MappingProxyType({"stance": "single_leg_stance"})


def library_path() -> Path:
    """The folder of the shipped drill files."""
    return Path(str(resources.files("nmre.drills") / "library"))


@dataclass(frozen=True, slots=True)
class BrokenDrill:
    """A drill file that cannot be loaded: its name (the file's stem), where it is, and why (one line)."""

    name: str
    path: Path
    reason: str
    #: The plugin that offers it (``"acme (acme-nmre 1.0)"``), or ``None`` for the shipped library.
    plugin: str | None = None


def list_drills() -> list[str]:
    """Names of the drills that load, in the order of the re-education sequence, then by name."""
    return [s.name for s in _library()[0]]


def broken_drills() -> list[BrokenDrill]:
    """The drill files of the library and of plugins that cannot be loaded, by name, with the reason."""
    return list(_library()[1])


def _one_line(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _library() -> tuple[tuple[DrillSpec, ...], tuple[BrokenDrill, ...]]:
    from nmre.drills.spec import STEPS

    specs: list[DrillSpec] = []
    broken: list[BrokenDrill] = []
    for p in sorted(library_path().glob("*.toml")):
        try:
            specs.append(_parse_file(p))
        except ConfigError as exc:  # one bad file leaves the others usable
            broken.append(BrokenDrill(p.stem, p, _one_line(str(exc))))
    names = {s.name for s in specs}
    plugin_specs, _why, plugin_broken = _plugin_drills()
    for spec in plugin_specs:
        if spec.name not in names:
            names.add(spec.name)
            specs.append(spec)
    broken += plugin_broken
    return (
        tuple(sorted(specs, key=lambda s: (STEPS.index(s.step), s.name))),
        tuple(sorted(broken, key=lambda b: (b.name, str(b.path)))),
    )


def _plugin_drills() -> tuple[list[DrillSpec], list[str], list[BrokenDrill]]:
    """Drills offered by ``nmre.drills`` plugins (scale's :func:`nmre.plugins.drill_paths`), the problems,
    and the files among them that cannot be loaded."""
    from nmre.plugins import drill_paths

    found, problems = drill_paths()
    out, why, broken = [], [str(p) for p in problems], []
    builtin = {p.stem for p in library_path().glob("*.toml")}
    for plugin, path in found:
        try:
            spec = _parse_file(path)
        except ConfigError as exc:
            why.append(f"drill plugin {plugin.name!r} ({plugin.dist}): {exc}")
            broken.append(BrokenDrill(path.stem, path, _one_line(str(exc)), f"{plugin.name} ({plugin.dist})"))
            continue
        if spec.name in builtin:
            why.append(f"drill plugin {plugin.name!r} ({plugin.dist}): {spec.name!r} is a built-in drill")
            continue
        out.append(spec)
    return out, why, broken


def library_problems() -> list[str]:
    """Why each plugin drill (or rule kind) that was left out was left out, one line each."""
    return _plugin_drills()[1] + rule_kind_problems()


def _parse_file(path: Path) -> DrillSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: expected a readable UTF-8 drill file, got {type(exc).__name__}: {exc}"
        ) from None
    return parse_drill(text, str(path))


def load_drill(name_or_path: str | os.PathLike[str]) -> DrillSpec:
    """A validated drill: a library name (``"squat"``) or the path of a ``.toml`` file."""
    text = os.fspath(name_or_path)
    p = Path(text)
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    # a name is a library name unless it ends in .toml or has a path separator: a folder called
    # "squat" in the working directory is not the squat drill (a path object is always a path)
    if not isinstance(name_or_path, str) or text.endswith(".toml") or any(c in text for c in seps):
        if not p.is_file():
            raise ConfigError(
                f"drill: expected a drill name ({', '.join(list_drills())}) or a .toml file, got {text!r}"
            )
        return _parse_file(p)
    text = ALIASES.get(text, text)
    specs, broken = _library()
    for s in specs:
        if s.name == text:
            return s
    for b in broken:
        if b.name == text:
            where = f"offered by plugin {b.plugin}" if b.plugin else "in the drill library"
            raise ConfigError(f"drill {text!r} ({where}) cannot be loaded: {b.reason}")
    raise ConfigError(
        "drill: " + expected(f"a drill name ({', '.join(list_drills())}) or a .toml file", text)
    )


def synthetic_kit(spec: DrillSpec, sides: Sequence[str] = ("right", "left")) -> list[StreamInfo]:
    """Streams with every sensor ``spec`` names (optional ones too), on ``sides`` for sided sensors: for checks."""
    from nmre.core.model import IMU_CHANNELS

    out: list[StreamInfo] = []
    for s in spec.sensors:
        on = list(sides) if s.side == "drill" else [s.side if s.side in ("left", "right") else None]
        for side in on:
            sd = Side(side) if side else (Side.MIDLINE if s.side == "midline" else None)
            tag = f".{side[0]}" if side else ""
            if StreamKind.EMG in s.kinds:
                ch = tuple(Channel(m, "mV", Placement(muscle=m, side=sd)) for m in s.muscles)
                out.append(StreamInfo(f"emg.{s.name}{tag}", StreamKind.EMG, ch, 1000.0, Placement(side=sd)))
                continue
            kind = s.kinds[0]
            if kind is StreamKind.ANGLE:
                ch = (Channel("flexion", "deg"),)
            else:
                ch = IMU_CHANNELS if kind is StreamKind.IMU else IMU_CHANNELS[:3]
            seg = s.segments[0] if s.segments else None
            out.append(
                StreamInfo(f"{kind.value}.{s.name}{tag}", kind, ch, 100.0, Placement(segment=seg, side=sd))
            )
    return out


def check_drill(name_or_path: str | os.PathLike[str]) -> tuple[DrillSpec, Drill]:
    """Load a drill, build it on a bilateral kit of every sensor it names, and wire it (as the engine would).

    Returns the spec and the built drill; any problem is a ConfigError naming the file.
    """
    spec = load_drill(name_or_path)
    kit = synthetic_kit(spec)
    file = Path(spec.path).name
    for lv in [None, *[lv.level for lv in spec.levels]]:
        drill = build_drill(spec, kit, level=lv)
        infos = {s.id: s for s in kit}
        for node in drill.nodes:
            try:
                for out in node.bind(dict(infos)):
                    infos[out.id] = out
            except ConfigError as exc:
                raise ConfigError(f"{file}: {node.name}: {exc}") from None
    return spec, build_drill(spec, kit)


def build_drill(
    spec_or_name: DrillSpec | str | os.PathLike[str],
    streams: Sequence[StreamInfo],
    *,
    level: int | None = None,
    settings: Mapping[str, Any] | None = None,
    quality: Any = None,
    calibration: Any = None,
) -> Drill:
    """Build a drill for the connected ``streams``.

    Parameters
    ----------
    spec_or_name : DrillSpec, str or path
        A loaded drill, a library name or a drill file.
    streams : sequence of StreamInfo
        What is connected; sensors are found by kind and placement.
    level : int, optional
        A progression level of the drill (its settings apply first).
    settings : mapping, optional
        Setting name → value (``{"squat_depth.lo": 80}``); names as
        ``DrillSpec.settings`` lists them. Unknown names raise ConfigError.
    quality : QualityMonitor or bool, optional
        The data-quality monitor (``nmre.quality``, contract §4); by default
        (``None`` or ``True``) one is made over ``streams``. It is put first in
        ``drill.nodes`` and every rule is gated on it. ``False``: no gating.
    calibration : optional
        A calibration record to reuse (contract §5).
    """
    spec = spec_or_name if isinstance(spec_or_name, DrillSpec) else load_drill(spec_or_name)
    if level is not None:
        if (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not spec.levels
            or not 1 <= level <= len(spec.levels)
        ):
            have = f"1 to {len(spec.levels)}" if spec.levels else "none (this drill has no levels)"
            raise ConfigError(
                f"drill {spec.name!r}: level: " + expected(f"a level of the drill ({have})", level)
            )
        spec = apply_settings(spec, spec.level(level).settings, f"level {level}")
    if settings is not None and not isinstance(settings, Mapping):
        raise ConfigError(
            f"drill {spec.name!r}: settings: " + expected("a mapping of setting name to value", settings)
        )
    spec = apply_settings(spec, settings or {})
    side = spec.settings["side"].value if "side" in spec.settings else None
    return build(spec, streams, level=level, side=side, quality=quality, calibration=calibration)


def target_plan(spec_or_name: DrillSpec | str | os.PathLike[str], level: int | None = None) -> list[Any]:
    """The targets a drill shows (:class:`nmre.drills._targets.Target`: cue, direction, distance), in order.

    Empty for a drill without a ``targets`` segmenter. Times are from the session's first sample;
    the simulator follows them (``LosConfig(cues=[t.cue for t in plan])``) as a patient follows the screen.
    """
    from nmre.drills._targets import target_plan as plan

    spec = spec_or_name if isinstance(spec_or_name, DrillSpec) else load_drill(spec_or_name)
    if level is not None:
        spec = apply_settings(spec, spec.level(level).settings, f"level {level}")
    st = spec.structure
    if st.segmenter.kind != "targets":
        return []
    return plan(st.segmenter.params, st.per_set, st.sets, st.rest_between_sets)


def rest_band(spec_or_name: DrillSpec | str | os.PathLike[str], level: int | None = None) -> float | None:
    """The edge of the rest band of a drill's ``reps`` segmenter (its ``end``, in the signal's unit), or None.

    A rep is out of the rest band from the last sample at ``end`` or below before it passed
    ``start`` to the first sample back (docs/drills.md); the simulator counts the true
    ``rep_active_time`` from the same edge (``rest_band_deg`` of the knee movements).
    """
    spec = spec_or_name if isinstance(spec_or_name, DrillSpec) else load_drill(spec_or_name)
    if level is not None:
        spec = apply_settings(spec, spec.level(level).settings, f"level {level}")
    seg = spec.structure.segmenter
    if seg.kind != "reps" or "end" not in seg.params:
        return None
    return float(seg.params["end"])


def __getattr__(name: str) -> Any:
    if name == "DRILLS":  # names callers of the first API may use: the shipped drills and aliases
        return tuple(list_drills()) + tuple(a for a in ALIASES if a not in list_drills())
    raise AttributeError(name)

"""``nmre drills``: list the drill library, show a drill, check a drill file.

* ``nmre drills``: one line per drill (name, step, title, unit); a drill file that
  cannot be loaded (library or plugin) is a ``BROKEN`` line with the reason, and
  naming it (``show``, ``nmre demo --drill``) is refused in one line, exit 2.
* ``nmre drills show NAME|FILE``: what the drill says, for a therapist
  (``--toml``: the file itself, to copy and edit).
* ``nmre drills check FILE``: validate a (copied, edited) file and build it on
  a kit with every sensor it names; one line, exit 0 when it can run, 2 when not.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["NAME", "add_parser", "run"]

NAME = "drills"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    d: argparse.ArgumentParser = subparsers.add_parser(
        "drills",
        help="list, show and check drills (TOML files)",
        description="List the drill library, show a drill, or check a drill file.",
    )
    sub = d.add_subparsers(dest="action", metavar="ACTION", parser_class=type(d))
    sub.add_parser("list", help="list the shipped drills (the default)")
    show = sub.add_parser("show", help="show what a drill says")
    show.add_argument("drill", metavar="NAME|FILE", help="a drill name or a .toml file")
    show.add_argument("--toml", action="store_true", help="print the drill file itself (to copy and edit)")
    check = sub.add_parser("check", help="check a drill file")
    check.add_argument("drill", metavar="FILE|NAME", help="a .toml file (or a library name)")
    return d


def _list(out: TextIO) -> int:
    from nmre.drills import broken_drills, load_drill
    from nmre.drills import list_drills as names

    rows = [load_drill(n) for n in names()]
    broken = broken_drills()
    w = max([len(s.name) for s in rows] + [len(b.name) for b in broken] + [4])
    for s in rows:
        out.write(f"{s.name:<{w}}  {s.step:<14}  {s.structure.unit + 's':<11}  {s.title}\n")
    for b in broken:  # listed, with why it cannot be used; the others run
        where = f"; plugin {b.plugin}" if b.plugin else ""
        out.write(f"{b.name:<{w}}  {'BROKEN':<14}  {'-':<11}  {b.reason} ({b.path}{where})\n")
    return 0


def _sensor_line(s: Any) -> str:
    need = "required" if s.required else "optional"
    side = {"drill": "the working side (from the placement)", "midline": "midline", "any": "any side"}.get(
        s.side, s.side
    )
    text = f"  - {s.name}: {s.describe()} ({need}; {side})"
    if s.purpose:
        text += f"\n      for {s.purpose}"
    if s.where:
        text += f"\n      where: {s.where}"
    return text


def _show(name: str, toml: bool, out: TextIO) -> int:
    from nmre.drills import load_drill
    from nmre.drills._kinds import rule_kinds
    from nmre.drills._signals import SIGNAL_KINDS

    spec = load_drill(name)
    if toml:
        out.write(Path(spec.path).read_text(encoding="utf-8"))
        return 0
    kinds = rule_kinds()
    st = spec.structure
    w = out.write
    w(f"{spec.title}  ({spec.name}; step: {spec.step.replace('_', ' ')}; movement: {spec.movement})\n")
    w(f"  file: {spec.path}\n")
    if spec.summary:
        w(f"  {spec.summary}\n")
    w("\nSensors\n" + "\n".join(_sensor_line(s) for s in spec.sensors) + "\n")
    if spec.signals:
        w("\nDerived signals\n")
        for sig in spec.signals.values():
            w(f"  - {sig.name}: {sig.kind} ({SIGNAL_KINDS[sig.kind].about})\n")
    if spec.calibration:
        w(f"\nCalibration: {', '.join(spec.calibration)}\n")
        for c in spec.calibration_steps:  # what the patient is asked to do in each step that says
            for key in ("pose", "movement"):
                if isinstance(c.params.get(key), str):
                    w(f"  - {c.step}: {c.params[key]}\n")
    seg = st.segmenter
    w(
        f"\nStructure: {st.per_set} {st.unit}s per set, {st.sets} set(s), {st.rest_between_sets:g} s rest between "
        f"sets; {st.unit}s found by {seg.kind}"
    )
    shown = {k: v for k, v in seg.params.items() if not (isinstance(v, float) and math.isinf(v))}
    w(" (" + ", ".join(f"{k} {v}" for k, v in shown.items()) + ")\n")
    w("\nRules (in priority order: the patient hears about the first one missed)\n")
    for r in spec.rules:
        w(f"  - {r.id}: {r.kind} ({kinds[r.kind].ABOUT})\n")
        w(f"      measures {r.quantity}; tolerance {r.tolerance()}")
        errs = [e for e in (r.error_below, r.error_above) if e]
        w(f"; errors: {', '.join(errs)}\n" if errs else "\n")
        m = r.messages
        w(f'      patient hears: "{m.good}" / below: "{m.below}" / above: "{m.above}"\n')
        w(f"      source: {r.source}\n")
    fb = spec.feedback
    w(f"\nFeedback: schedule {fb.schedule.kind}")
    if fb.schedule.params:
        w(" (" + ", ".join(f"{k} {v}" for k, v in fb.schedule.params.items()) + ")")
    w("\n")
    for p in fb.picture:
        what = p.signal or f"{p.counts}s done"
        band = f", band from {p.band_from}" if p.band_from else ""
        w(f"  - picture: {p.kind} of {what}{band}{' (' + p.label + ')' if p.label else ''}\n")
    if fb.sound is not None:
        s = fb.sound
        if s.kind == "sonify" and s.range is not None:
            dz = f", silent in {s.dead_zone[0]:g}-{s.dead_zone[1]:g}" if s.dead_zone else ""
            w(f"  - sound: pitch follows {s.signal} over {s.range[0]:g}-{s.range[1]:g} {s.unit}{dz}\n")
        else:
            w(f"  - sound: {s.kind}\n")
    if spec.levels:
        w("\nLevels\n")
        for lv in spec.levels:
            extra = [f"{k} = {v}" for k, v in lv.conditions.items()] + [
                f"{k} = {v}" for k, v in lv.settings.items()
            ]
            w(f"  {lv.level}. {lv.title}" + (f" ({'; '.join(extra)})" if extra else "") + "\n")
    pr = spec.progression
    if pr.advance or pr.step_back:
        w("\nProgression (after each set)\n")
        for c in pr.advance:
            w(f"  advance when {c.describe()}\n")
        for c in pr.step_back:
            w(f"  step back when {c.describe()}\n")
    w(f"\nSettings ({len(spec.settings)}; change with build_drill(..., settings={{name: value}}))\n")
    for setting in spec.settings.values():
        unit = f" {setting.unit}" if setting.unit and setting.unit not in ("1",) else ""
        w(f"  {setting.name} = {setting.value}{unit}\n")
    return 0


def _check(name: str, out: TextIO) -> int:
    from nmre.drills import check_drill

    spec, drill = check_drill(name)
    levels = f", {len(spec.levels)} levels" if spec.levels else ""
    out.write(
        f"{Path(spec.path).name}: ok: drill {spec.name!r} ({spec.title}), {len(spec.sensors)} sensors, "
        f"{len(spec.rules)} rules, {spec.structure.unit}s by {spec.structure.segmenter.kind}{levels}; "
        f"built and wired with {len(drill.nodes)} nodes\n"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None) or "list"
    if action == "show":
        return _show(args.drill, args.toml, sys.stdout)
    if action == "check":
        return _check(args.drill, sys.stdout)
    return _list(sys.stdout)

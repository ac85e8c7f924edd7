"""Plugins: device profiles, rule kinds and drills that other packages add through entry points.

A vendor or a lab adds a sensor, a rule kind or drills without forking nmre: their
package declares entry points in one of three groups (``pyproject.toml``)::

    [project.entry-points."nmre.devices"]
    acme = "acme_nmre.profile:AcmeProfile"       # a DeviceProfile subclass, keyed by its kind

    [project.entry-points."nmre.rules"]
    tremor = "acme_nmre.rules:TremorRule"        # a rule class, keyed by the entry-point name

    [project.entry-points."nmre.drills"]
    acme = "acme_nmre.drills"                    # a package whose *.toml files are drills,
                                                 # or an object naming a file, a folder, or
                                                 # a callable returning paths

Nothing is registered into a global table. :func:`discover` loads the installed
distributions' entry points each time it is called and returns what it found, and
the problems it met, as values (the list of entry points is read from the
distributions' metadata once and kept while ``sys.path`` and its folders are
unchanged: an install or removal changes its folder); the layers that own devices, rules and drills
(``nmre.acquisition.profiles``, ``nmre.drills``) merge them with what nmre ships.
A plugin that fails to import, or is not what its group expects, is reported
and left out; it never stops nmre from starting.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "DEVICES",
    "DRILLS",
    "GROUPS",
    "RULES",
    "Discovered",
    "Plugin",
    "PluginProblem",
    "discover",
    "drill_paths",
]

#: Entry-point group of device profiles (``nmre.acquisition.profiles.DeviceProfile`` subclasses).
DEVICES = "nmre.devices"
#: Entry-point group of rule kinds (classes the drill builder instantiates by kind).
RULES = "nmre.rules"
#: Entry-point group of drills (TOML files, folders of them, or packages holding them).
DRILLS = "nmre.drills"
GROUPS = (DEVICES, RULES, DRILLS)


@dataclass(frozen=True, slots=True)
class Plugin:
    """One loaded entry point.

    ``name`` is the entry point's name, ``target`` what it points at
    (``module:attr``), ``dist`` the distribution that declared it (name and
    version), ``obj`` the loaded object.
    """

    group: str
    name: str
    target: str
    dist: str
    obj: Any


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """An entry point that was left out, and why (one line for the therapist or developer)."""

    group: str
    name: str
    target: str
    dist: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.group}, from {self.dist}, {self.target}): {self.message}"


@dataclass(frozen=True, slots=True)
class Discovered:
    """What :func:`discover` found in one group: the plugins loaded and the problems met."""

    group: str
    plugins: tuple[Plugin, ...]
    problems: tuple[PluginProblem, ...]

    def by_name(self) -> dict[str, Plugin]:
        return {p.name: p for p in self.plugins}


#: group -> (the entry_points function asked, sys.path with each folder's mtime, what it returned)
_INSTALLED: dict[
    str, tuple[Any, tuple[tuple[str, int | None], ...], tuple[importlib.metadata.EntryPoint, ...]]
] = {}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _installed(group: str) -> list[importlib.metadata.EntryPoint]:
    """The installed distributions' entry points of ``group``, read once and kept while
    ``importlib.metadata.entry_points`` is the same function and ``sys.path`` and the modification
    time of each of its folders are unchanged (installing or removing a distribution adds or removes
    its metadata folder there). Reading every distribution's metadata takes 5-8 ms a call, and
    building a drill asks for the rule kinds once per rule."""
    fn = importlib.metadata.entry_points
    stamp = tuple((p, _mtime(p)) for p in sys.path)
    got = _INSTALLED.get(group)
    if got is None or got[0] is not fn or got[1] != stamp:
        got = (fn, stamp, tuple(fn(group=group)))
        _INSTALLED[group] = got
    return list(got[2])


def _dist_label(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def discover(
    group: str,
    *,
    check: Callable[[Plugin], str | None] | None = None,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> Discovered:
    """Load every entry point of ``group``; report, never raise, those that fail.

    Parameters
    ----------
    group : str
        One of :data:`GROUPS`.
    check : callable or None
        Called with each loaded plugin; returns ``None`` if it is acceptable,
        else the reason it is not (the plugin is then a problem).
    entry_points : iterable of EntryPoint or None
        The entry points to load (the installed distributions' by default).

    Returns
    -------
    Discovered
        Plugins in entry-point name order, and the problems met. Two
        distributions declaring the same name: the first (by distribution name)
        is kept, the other is a problem.
    """
    if group not in GROUPS:
        raise ValueError(f"plugin group: expected one of {', '.join(GROUPS)}, got {group!r}")
    eps = _installed(group) if entry_points is None else list(entry_points)
    eps.sort(key=lambda ep: (ep.name, _dist_label(ep)))
    plugins: list[Plugin] = []
    problems: list[PluginProblem] = []
    seen: dict[str, Plugin] = {}
    for ep in eps:
        dist = _dist_label(ep)
        if ep.name in seen:
            problems.append(
                PluginProblem(
                    group, ep.name, ep.value, dist, f"the name is already taken by {seen[ep.name].dist}"
                )
            )
            continue
        try:
            obj = ep.load()
        except Exception as error:  # a broken plugin is reported, not fatal
            problems.append(
                PluginProblem(
                    group, ep.name, ep.value, dist, f"failed to load: {type(error).__name__}: {error}"
                )
            )
            continue
        plugin = Plugin(group, ep.name, ep.value, dist, obj)
        reason = check(plugin) if check is not None else None
        if reason is not None:
            problems.append(PluginProblem(group, ep.name, ep.value, dist, reason))
            continue
        seen[ep.name] = plugin
        plugins.append(plugin)
    return Discovered(group, tuple(plugins), tuple(problems))


def _paths_of(obj: Any) -> list[Path]:
    """The drill files an ``nmre.drills`` entry point offers (files, folders of ``*.toml``, packages)."""
    if isinstance(obj, ModuleType):
        files = getattr(obj, "__file__", None)
        folders = [Path(p) for p in getattr(obj, "__path__", [])] or ([Path(files).parent] if files else [])
        return [f for d in folders for f in sorted(d.glob("*.toml"))]
    if callable(obj):
        obj = obj()
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        return sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if isinstance(obj, Sequence):
        return [p for item in obj for p in _paths_of(item)]
    raise TypeError(
        f"expected a package, a path, a list of paths or a callable returning them, got {type(obj).__name__}"
    )


def drill_paths(
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> tuple[list[tuple[Plugin, Path]], list[PluginProblem]]:
    """Drill files offered by ``nmre.drills`` plugins: ``(plugin, path)`` pairs and the problems met.

    A plugin whose object offers no file, or names one that does not exist or
    is not ``.toml``, is a problem. The drill library (``nmre.drills``) loads
    and validates the files like its own.
    """
    found = discover(DRILLS, entry_points=entry_points)
    out: list[tuple[Plugin, Path]] = []
    problems = list(found.problems)
    for plugin in found.plugins:
        try:
            paths = _paths_of(plugin.obj)
        except Exception as error:
            problems.append(PluginProblem(DRILLS, plugin.name, plugin.target, plugin.dist, str(error)))
            continue
        bad = [p for p in paths if p.suffix != ".toml" or not p.is_file()]
        if bad or not paths:
            what = (
                f"{', '.join(map(str, bad))} is not a drill file (.toml)" if bad else "offers no drill file"
            )
            problems.append(PluginProblem(DRILLS, plugin.name, plugin.target, plugin.dist, what))
            continue
        out.extend((plugin, p) for p in paths)
    return out, problems

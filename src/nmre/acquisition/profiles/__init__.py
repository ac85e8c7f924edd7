"""Device profiles: one class per sensor family, found through :func:`profile_classes`.

There is no global registry to mutate: :func:`profile_classes` builds the
mapping from the modules present, and from the ``nmre.devices`` plugins
installed (:func:`device_plugins`), each time it is called; callers may pass
their own mapping wherever a profile is looked up by kind.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint

from nmre.acquisition.profiles.base import Decoded, DeviceProfile, GattLink, NotifyCallback
from nmre.plugins import DEVICES, Discovered, Plugin, discover

__all__ = ["Decoded", "DeviceProfile", "GattLink", "NotifyCallback", "device_plugins", "profile_classes"]

logger = logging.getLogger(__name__)

#: (module, class name) of the profiles nmre ships; modules not yet present are skipped.
_SHIPPED = (
    ("nmre.acquisition.profiles.nmre_profile", "NmreProfile"),
    ("nmre.acquisition.profiles.myo", "MyoProfile"),
    ("nmre.acquisition.profiles.polar", "PolarProfile"),
    ("nmre.acquisition.profiles.movesense", "MovesenseProfile"),
)


def profile_classes(*, plugins: bool = True) -> dict[str, type[DeviceProfile]]:
    """Kind (``"nmre"``, ``"myo"``, ``"polar"``, ``"movesense"``, plugins' kinds) → profile class.

    With ``plugins`` the installed ``nmre.devices`` plugins are added (those that
    fail to load or are not profiles are logged and left out; see
    :func:`device_plugins`).
    """
    out = _shipped()
    if plugins:
        found = device_plugins(tuple(out))
        for problem in found.problems:
            logger.warning("%s", problem)
        out.update({p.name: p.obj for p in found.plugins})
    return out


def device_plugins(
    shipped: tuple[str, ...] | None = None, entry_points: Iterable[EntryPoint] | None = None
) -> Discovered:
    """The ``nmre.devices`` plugins installed: each a :class:`DeviceProfile` subclass whose ``kind`` is its name.

    A plugin may not take the kind of a profile nmre ships (``shipped``, all
    of them by default).
    """
    taken = tuple(_shipped()) if shipped is None else shipped

    def check(plugin: Plugin) -> str | None:
        cls = plugin.obj
        if not (isinstance(cls, type) and issubclass(cls, DeviceProfile)):
            return f"expected a DeviceProfile subclass, got {cls!r}"
        if getattr(cls, "kind", None) != plugin.name:
            return f"expected its kind to be the entry-point name {plugin.name!r}, got {getattr(cls, 'kind', None)!r}"
        if plugin.name in taken:
            return f"kind {plugin.name!r} is one nmre ships; choose another name"
        return None

    return discover(DEVICES, check=check, entry_points=entry_points)


def _shipped() -> dict[str, type[DeviceProfile]]:
    out: dict[str, type[DeviceProfile]] = {}
    for module_name, class_name in _SHIPPED:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, DeviceProfile):
            out[cls.kind] = cls
    return out

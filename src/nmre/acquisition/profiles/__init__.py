"""Device profiles: one class per sensor family, found through :func:`profile_classes`.

There is no global registry to mutate: :func:`profile_classes` builds the
mapping from the modules present each time it is called, and callers may pass
their own mapping wherever a profile is looked up by kind.
"""

from __future__ import annotations

import importlib

from nmre.acquisition.profiles.base import Decoded, DeviceProfile, GattLink, NotifyCallback

__all__ = ["Decoded", "DeviceProfile", "GattLink", "NotifyCallback", "profile_classes"]

#: (module, class name) of the profiles nmre ships; modules not yet present are skipped.
_SHIPPED = (
    ("nmre.acquisition.profiles.nmre_profile", "NmreProfile"),
    ("nmre.acquisition.profiles.myo", "MyoProfile"),
    ("nmre.acquisition.profiles.polar", "PolarProfile"),
    ("nmre.acquisition.profiles.movesense", "MovesenseProfile"),
)


def profile_classes() -> dict[str, type[DeviceProfile]]:
    """Kind (``"nmre"``, ``"myo"``, ``"polar"``, ``"movesense"``) → profile class, for the profiles installed."""
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

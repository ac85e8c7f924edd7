"""The exception hierarchy of nmre.

Every error nmre raises on purpose derives from :class:`NmreError`. Messages say
what was expected and what came, so a therapist or developer can act on them
without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeviceError",
    "InputError",
    "NmreError",
    "ProtocolError",
    "RecordingError",
    "StateError",
    "TimeError",
]


class NmreError(Exception):
    """Root of all errors raised by nmre."""


class ConfigError(NmreError, ValueError):
    """A configuration value, option, drill file or exercise name is wrong."""


class InputError(NmreError, ValueError):
    """An array or block has the wrong shape, dtype or content for the call."""


class TimeError(InputError):
    """Sample times are not finite, not numbers, or go backwards."""


class StateError(NmreError, RuntimeError):
    """An operation is illegal in the object's current lifecycle state."""


class DeviceError(NmreError):
    """A sensor refused a command, is not what it claims, or went away."""


class ProtocolError(DeviceError):
    """A packet from a sensor could not be decoded (malformed or truncated)."""


class RecordingError(NmreError):
    """A recording file is corrupt, truncated or not an nmre/XDF recording."""


class StoreError(NmreError):
    """The session store cannot be reached, refuses the credentials, or holds a schema this nmre cannot use."""


def expected(what: str, got: object) -> str:
    """Format the standard 'expected X, got Y' phrase used in error messages."""
    return f"expected {what}, got {got!r}"

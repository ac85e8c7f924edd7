"""Input checks and block helpers shared by the IMU, balance and movement processors (private)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nmre.core import kinds, model
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.errors import InputError, expected

F64 = NDArray[np.float64]
_F8 = np.dtype(np.float64)

# the stream conventions live in the core model; re-exported here for the DSP modules and their tests
IMU_CHANNELS = model.IMU_CHANNELS
QUAT_CHANNELS = model.QUAT_CHANNELS


def checked_values(block: Block, n_channels: int | None, what: str) -> F64:
    """Return ``block.values`` as a C-contiguous float64 array after checking dtype and channel count.

    Raises
    ------
    InputError
        If the values are not float64 or do not have ``n_channels`` rows.
    """
    if not isinstance(block, Block):
        raise InputError(f"{what}: " + expected("a Block", type(block).__name__))
    v = block.values
    if v.dtype is not _F8 and v.dtype != np.float64:
        raise InputError(f"{what}: " + expected("float64 values", str(v.dtype)))
    if n_channels is not None and v.shape[0] != n_channels:
        raise InputError(f"{what}: " + expected(f"values of shape ({n_channels}, n_samples)", tuple(v.shape)))
    if type(v) is np.ndarray and v.flags.c_contiguous:
        return v  # what np.ascontiguousarray returns for it, without the call
    return np.ascontiguousarray(v)


def out_block(block: Block, stream: str, values: F64) -> Block:
    """A block on ``stream`` with ``values`` and the timing and sequence of ``block``."""
    return Block(stream, block.times, values, block.seq, block.missing_before, block.arrival)


def derived_info(
    info: StreamInfo, stream: str, kind: StreamKind, channels: tuple[Channel, ...]
) -> StreamInfo:
    return StreamInfo(stream, kind, channels, info.rate, info.placement, None)


def nonfinite_event(block: Block, source: str, skipped: int) -> Event:
    """The event raised when samples were skipped because they were NaN or inf."""
    return Event(
        float(block.times[0]),
        kinds.DSP_NONFINITE,
        source,
        {"skipped": int(skipped), "stream": block.stream},
        therapist_message=f"{skipped} non-finite sample(s) of {block.stream!r} skipped",
    )

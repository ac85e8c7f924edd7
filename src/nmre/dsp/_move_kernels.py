"""numba kernels for movement analysis (private; see :mod:`nmre.dsp.movement`)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nmre._numba import kernel

F64 = NDArray[np.float64]

# rep segmenter state layout
RS_PHASE = 0  # 0 idle, 1 in a rep, 2 abandoned (too long; waits for rest)
RS_REST_T = 1  # time of the last sample in the rest band
RS_HAS_REST = 2
RS_START_T = 3
RS_START_V = 4
RS_PEAK = 5
RS_PEAK_T = 6
RS_COUNT = 7  # valid reps so far
RS_REST_V = 8
RS_SIZE = 9

# event record layout (one row per event)
EV_KIND = 0  # 1 start, 2 end (valid), 3 rejected
EV_START = 1
EV_START_V = 2
EV_PEAK = 3
EV_PEAK_T = 4
EV_END = 5
EV_WHY = 6  # rejection: 1 too short, 2 too small, 3 too long
EV_INDEX = 7  # sample index in the block
EV_SIZE = 8


@kernel
def rep_segment(
    x: F64,
    t: F64,
    start_thr: float,
    end_thr: float,
    min_duration: float,
    max_duration: float,
    min_amplitude: float,
    state: F64,
    out: F64,
    events: F64,
) -> int:
    """Hysteresis repetition state machine on a signal already oriented so a rep goes *up*.

    Idle -> rep when ``x >= start_thr``; the rep's start is the last sample in
    the rest band (``x <= end_thr``) before it. Rep -> idle at the first
    sample with ``x <= end_thr``: the rep ends there and is valid if its
    duration is in ``[min_duration, max_duration]`` and ``peak - x[start]``
    is at least ``min_amplitude``. A rep still running after ``max_duration``
    is rejected at once and the machine waits for the rest band. Non-finite
    samples leave the state untouched. Writes ``out[0] = in rep (0/1)``,
    ``out[1] = valid reps so far``; returns the number of event rows written.
    """
    ne = 0
    for i in range(x.shape[0]):
        v = x[i]
        ti = t[i]
        if math.isfinite(v):
            ph = state[RS_PHASE]
            if ph == 0.0:
                if v <= end_thr:
                    state[RS_REST_T] = ti
                    state[RS_REST_V] = v
                    state[RS_HAS_REST] = 1.0
                elif v >= start_thr:
                    state[RS_PHASE] = 1.0
                    if state[RS_HAS_REST] != 0.0:
                        state[RS_START_T] = state[RS_REST_T]
                        state[RS_START_V] = state[RS_REST_V]
                    else:
                        state[RS_START_T] = ti
                        state[RS_START_V] = v
                    state[RS_PEAK] = v
                    state[RS_PEAK_T] = ti
                    events[ne, EV_KIND] = 1.0
                    events[ne, EV_START] = state[RS_START_T]
                    events[ne, EV_START_V] = state[RS_START_V]
                    events[ne, EV_INDEX] = i
                    ne += 1
            elif ph == 1.0:
                if v > state[RS_PEAK]:
                    state[RS_PEAK] = v
                    state[RS_PEAK_T] = ti
                duration = ti - state[RS_START_T]
                ended = v <= end_thr
                if ended or duration > max_duration:
                    why = 0.0
                    if duration > max_duration:
                        why = 3.0
                    elif duration < min_duration:
                        why = 1.0
                    elif state[RS_PEAK] - state[RS_START_V] < min_amplitude:
                        why = 2.0
                    events[ne, EV_KIND] = 2.0 if why == 0.0 else 3.0
                    events[ne, EV_START] = state[RS_START_T]
                    events[ne, EV_START_V] = state[RS_START_V]
                    events[ne, EV_PEAK] = state[RS_PEAK]
                    events[ne, EV_PEAK_T] = state[RS_PEAK_T]
                    events[ne, EV_END] = ti
                    events[ne, EV_WHY] = why
                    events[ne, EV_INDEX] = i
                    ne += 1
                    if why == 0.0:
                        state[RS_COUNT] += 1.0
                    if ended:
                        state[RS_PHASE] = 0.0
                        state[RS_REST_T] = ti
                        state[RS_REST_V] = v
                        state[RS_HAS_REST] = 1.0
                    else:
                        state[RS_PHASE] = 2.0
            else:
                if v <= end_thr:
                    state[RS_PHASE] = 0.0
                    state[RS_REST_T] = ti
                    state[RS_REST_V] = v
                    state[RS_HAS_REST] = 1.0
        out[0, i] = 1.0 if state[RS_PHASE] == 1.0 else 0.0
        out[1, i] = state[RS_COUNT]
    return ne


@kernel
def ring_push(t: F64, x: F64, ring_t: F64, ring_x: F64, ptr: NDArray[np.int64]) -> None:
    """Append samples to a ring buffer; ``ptr = [next write index, count]``."""
    cap = ring_t.shape[0]
    for i in range(t.shape[0]):
        h = ptr[0]
        ring_t[h] = t[i]
        ring_x[h] = x[i]
        ptr[0] = (h + 1) % cap
        if ptr[1] < cap:
            ptr[1] += 1


@kernel
def rep_segment_clean(
    v: F64,
    limit: F64,
    channel: int,
    t: F64,
    start_thr: float,
    end_thr: float,
    min_duration: float,
    max_duration: float,
    min_amplitude: float,
    state: F64,
    out: F64,
    events: F64,
    ring_t: F64,
    ring_x: F64,
    ptr: NDArray[np.int64],
    keep: bool,
) -> int:
    """:func:`rep_segment` on row ``channel`` of a block whose every value is within ``limit`` (the input
    screen's check, in the same call), then, when no event came and ``keep``, :func:`ring_push` of the row.

    Returns -1, with nothing changed, when a value is not (non-finite or beyond its channel's limit);
    else the number of event rows (with events the caller pushes the row to the ring event by event).
    """
    n_ch, n = v.shape
    for i in range(n):
        for c in range(n_ch):
            if not (abs(v[c, i]) <= limit[c]):  # False for NaN too
                return -1
    x = v[channel]
    ne = rep_segment(x, t, start_thr, end_thr, min_duration, max_duration, min_amplitude, state, out, events)
    if ne == 0 and keep:
        ring_push(t, x, ring_t, ring_x, ptr)
    return ne

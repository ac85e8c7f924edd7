"""numba kernels that decode XDF Samples chunks of numeric streams.

A numeric sample is ``[timestamp byte: 0 or 8][float64 if 8][n_channels values]``;
every chunk starts with a varlen sample count, which the caller has already read.
The kernels work on the file's bytes (a ``uint8`` view of a memory map) and copy
sample by sample, so a stream of any channel format decodes in one pass.
"""

from __future__ import annotations

import numpy as np

from nmre._numba import kernel


@kernel
def count_whole_samples(buf, start, end, n_samples, sample_bytes):  # type: ignore[no-untyped-def]
    """How many of ``n_samples`` samples lie whole in ``buf[start:end]``, and the byte after the last.

    Returns ``(count, stop, bad)``; ``bad`` is 1 if a timestamp byte other than 0 or 8 was met
    (the chunk is corrupt from ``stop`` on).
    """
    pos = start
    for k in range(n_samples):
        if pos >= end:
            return k, pos, 0
        tb = buf[pos]
        if tb == 8:
            need = 9 + sample_bytes
        elif tb == 0:
            need = 1 + sample_bytes
        else:
            return k, pos, 1
        if pos + need > end:
            return k, pos, 0
        pos += need
    return n_samples, pos, 0


@kernel
def decode_samples(buf, starts, counts, n_channels, itemsize, tdiff, last, times, out):  # type: ignore[no-untyped-def]
    """Decode the samples of several chunks into ``times`` and the channel rows of ``out``.

    ``starts[i]`` is the byte of chunk ``i``'s first sample (after the count),
    ``counts[i]`` how many whole samples to take from it. ``times`` (float64, one per
    sample) and ``out`` (uint8, ``(n_channels, total * itemsize)``: each row is one
    channel's values, little-endian, ready for ``out.view(dtype)``) are written in
    order. A sample with timestamp byte 0 is stamped ``previous + tdiff`` (``last``
    before the first). Returns the number of samples written.
    """
    tb8 = np.empty(8, dtype=np.uint8)
    tview = tb8.view(np.float64)
    j = 0
    prev = last
    for i in range(starts.shape[0]):
        pos = starts[i]
        for _ in range(counts[i]):
            if buf[pos] == 8:
                for b in range(8):
                    tb8[b] = buf[pos + 1 + b]
                prev = tview[0]
                pos += 9
            else:
                prev = prev + tdiff
                pos += 1
            times[j] = prev
            o = j * itemsize
            for c in range(n_channels):
                for b in range(itemsize):
                    out[c, o + b] = buf[pos + b]
                pos += itemsize
            j += 1
    return j

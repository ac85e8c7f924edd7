"""numba kernels that decode XDF Samples chunks of numeric streams.

A numeric sample is ``[timestamp byte: 0 or 8][float64 if 8][n_channels values]``;
every chunk starts with a varlen sample count, which the caller has already read.
The kernels work on the file's bytes (a ``uint8`` view of a memory map) and copy
sample by sample, so a stream of any channel format decodes in one pass.

:func:`decode_samples8` and :func:`decode_samples4` are the fast paths for 8- and
4-byte channel formats (``double64``, ``int64``; ``float32``, ``int32``): each value
is one unaligned load from :func:`words` (the file's bytes seen as overlapping
words, one starting at every byte) and one store, instead of one store per byte
(and instead of assembling the word from its bytes, which the compiler did not
always fuse into one load: 2-3x slower). The bits written are the file's bits, so
the values are identical to :func:`decode_samples`'s.
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


def words(buf: np.ndarray, itemsize: int) -> np.ndarray:
    """``buf`` (uint8) seen as overlapping little-endian words: element ``i`` is the ``itemsize`` bytes at byte ``i``.

    A view (stride 1 byte, no copy): a kernel reads the value at any byte offset with one
    unaligned load, which is what the file's bits are, whatever their alignment.
    """
    n = max(0, int(buf.shape[0]) - itemsize + 1)
    dtype = np.dtype("<u8" if itemsize == 8 else "<u4")
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.ndarray((n,), dtype=dtype, buffer=buf, offset=0, strides=(1,))


@kernel
def decode_samples8(buf, w8, starts, counts, tdiff, last, times, out):  # type: ignore[no-untyped-def]
    """:func:`decode_samples` for an 8-byte channel format; ``out`` is ``(n_channels, total)`` uint64.

    ``w8`` is :func:`words` ``(buf, 8)``; ``times`` is float64 (its bits are written through a
    uint64 view).
    """
    tbits = times.view(np.uint64)
    n_channels = out.shape[0]
    j = 0
    prev = last
    for i in range(starts.shape[0]):
        pos = starts[i]
        for _ in range(counts[i]):
            if buf[pos] == 8:
                tbits[j] = w8[pos + 1]
                prev = times[j]
                pos += 9
            else:
                prev = prev + tdiff
                times[j] = prev
                pos += 1
            for c in range(n_channels):
                out[c, j] = w8[pos]
                pos += 8
            j += 1
    return j


@kernel
def decode_samples4(buf, w8, w4, starts, counts, tdiff, last, times, out):  # type: ignore[no-untyped-def]
    """:func:`decode_samples` for a 4-byte channel format; ``out`` is ``(n_channels, total)`` uint32.

    ``w8``, ``w4`` are :func:`words` ``(buf, 8)`` and ``(buf, 4)``.
    """
    tbits = times.view(np.uint64)
    n_channels = out.shape[0]
    j = 0
    prev = last
    for i in range(starts.shape[0]):
        pos = starts[i]
        for _ in range(counts[i]):
            if buf[pos] == 8:
                tbits[j] = w8[pos + 1]
                prev = times[j]
                pos += 9
            else:
                prev = prev + tdiff
                times[j] = prev
                pos += 1
            for c in range(n_channels):
                out[c, j] = w4[pos]
                pos += 4
            j += 1
    return j

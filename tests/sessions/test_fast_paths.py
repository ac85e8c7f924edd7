"""Fast paths of reading and recording give what their first versions gave: the same bits, the same text."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from nmre.sessions import _xdf_kernels as kern


def _chunks(rng, n_chunks, n_channels, itemsize):
    """Bytes of ``n_chunks`` sample runs (random payload bytes, NaNs included; stamped or deduced times)."""
    buf = bytearray(b"pad")
    starts, counts = [], []
    for _ in range(n_chunks):
        n = int(rng.integers(1, 40))
        starts.append(len(buf))
        counts.append(n)
        for _ in range(n):
            if rng.random() < 0.3:
                buf += b"\x00"
            else:
                buf += b"\x08" + struct.pack("<d", float(rng.normal(100, 10)))
            buf += rng.integers(0, 256, n_channels * itemsize, dtype=np.uint8).tobytes()
        buf += b"junk"
    buf = buf[:-4]  # the last value ends the buffer: its word is the view's last
    return np.frombuffer(bytes(buf), dtype=np.uint8), np.array(starts), np.array(counts)


@pytest.mark.parametrize("itemsize", [8, 4])
@pytest.mark.parametrize("n_channels", [1, 3, 8])
def test_fast_decoders_match_the_byte_by_byte_decoder(itemsize, n_channels):
    rng = np.random.default_rng(itemsize * 10 + n_channels)
    buf, starts, counts = _chunks(rng, 12, n_channels, itemsize)
    total = int(counts.sum())
    t_ref = np.empty(total)
    ref = np.empty((n_channels, total * itemsize), dtype=np.uint8)
    got_n = kern.decode_samples(buf, starts, counts, n_channels, itemsize, 0.002, 7.0, t_ref, ref)
    t = np.empty(total)
    out = np.empty((n_channels, total), dtype=np.uint64 if itemsize == 8 else np.uint32)
    w8 = kern.words(buf, 8)
    if itemsize == 8:
        got = kern.decode_samples8(buf, w8, starts, counts, 0.002, 7.0, t, out)
    else:
        got = kern.decode_samples4(buf, w8, kern.words(buf, 4), starts, counts, 0.002, 7.0, t, out)
    assert got == got_n == total
    assert t.tobytes() == t_ref.tobytes()
    assert out.tobytes() == ref.view(out.dtype).tobytes()


def _structured_chunk(stream_id, times, values):  # numeric_samples_chunk's first version (its reference)
    from nmre.sessions import xdf

    n, nch = times.shape[0], values.shape[0]
    rec = np.empty(n, dtype=np.dtype([("b", "u1"), ("t", "<f8"), ("v", "<f8", (nch,))]))
    rec["b"] = 8
    rec["t"] = times
    rec["v"] = values.T
    return xdf.chunk(xdf.TAG_SAMPLES, xdf.varlen(n) + rec.tobytes(), stream_id)


@pytest.mark.parametrize("n", [0, 1, 255, 256, 3000])
@pytest.mark.parametrize("n_channels", [1, 4, 8])
def test_a_samples_chunk_is_its_first_versions_bytes(n, n_channels):
    from nmre.sessions import xdf

    rng = np.random.default_rng(n + n_channels)
    times = np.cumsum(rng.random(n))
    values = rng.normal(0, 1, (n_channels, n))
    if n > 3:
        values[0, 1] = np.nan
        values.view(np.uint64)[-1, 2] = 0x7FF8_0000_DEAD_BEEF  # a NaN with a payload: its bits kept
        values[-1, 3] = -0.0
    assert xdf.numeric_samples_chunk(7, times, values) == _structured_chunk(7, times, values)
    strided = np.repeat(values, 2, axis=1)[:, ::2]  # the same values in a view, not contiguous
    assert xdf.numeric_samples_chunk(7, times, strided) == _structured_chunk(7, times, strided)
    as_f32 = times.astype(np.float32)  # times of another dtype are converted as the structured array does
    assert xdf.numeric_samples_chunk(7, as_f32, values) == _structured_chunk(7, as_f32, values)


def _old_feedback_text(st):  # the recorder's first version of a feedback row (its reference)
    from nmre.sessions.recorder import _dumps

    body = {
        "signals": {
            k: {"value": s.value, "unit": s.unit, "lo": s.lo, "hi": s.hi} for k, s in st.signals.items()
        },
        "cues": [
            {"time": c.time, "rule": c.rule, "message": c.message, "tone": c.tone} for c in st.cues[-1:]
        ],
    }
    return _dumps(body), _dumps({"time": st.time, **body})


def test_feedback_rows_are_the_text_the_generic_json_gave():
    import math

    from nmre.core.model import Cue, FeedbackState, SignalState
    from nmre.sessions.recorder import _leaf, feedback_json

    rng = np.random.default_rng(3)
    vals = [1.5, -0.0, math.nan, math.inf, np.float64(2.25), np.float32(0.1), 7, None, 1e-300]
    for k in range(200):
        sig = {
            f"s{j}": SignalState(
                f"s{j}", vals[rng.integers(len(vals))], "deg", vals[rng.integers(len(vals))], None
            )
            for j in range(int(rng.integers(0, 4)))
        }
        cues = tuple(
            Cue(float(k), "rule.x", 'Knee \u00fcber "toes"', "correct")
            for _ in range(int(rng.integers(0, 3)))
        )
        st = FeedbackState(time=float(rng.normal()) if k % 7 else math.nan, signals=sig, cues=cues)
        text, stamped = _old_feedback_text(st)
        got = feedback_json(st)
        assert got == text
        import json

        assert got[:-1] + ',"time":' + json.dumps(_leaf(st.time)) + "}" == stamped

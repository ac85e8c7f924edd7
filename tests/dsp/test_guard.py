"""Guard: bad samples are flagged, replaced before filter state, and reported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from nmre.core.model import Block
from nmre.dsp.emg import EmgChain
from nmre.dsp.filters import SosFilter
from nmre.dsp.guard import Guard
from nmre.dsp.pipeline import Pipeline
from nmre.errors import ConfigError, InputError

FS = 1000.0
NAN, INF = np.nan, np.inf


def _block(x: np.ndarray) -> Block:
    return Block("s", np.arange(x.shape[1]) / FS, np.asarray(x, dtype=np.float64))


CASES = [
    # (name, row, kwargs, expected output row (hold), {reason: count})
    ("clean", [1.0, -2.0, 3.0], {}, [1.0, -2.0, 3.0], {}),
    ("nan", [1.0, NAN, NAN, 4.0], {}, [1.0, 1.0, 1.0, 4.0], {"nonfinite": 2}),
    ("inf", [2.0, INF, -INF, 1.0], {}, [2.0, 2.0, 2.0, 1.0], {"nonfinite": 2}),
    ("nan first", [NAN, 5.0], {}, [0.0, 5.0], {"nonfinite": 1}),
    ("clipped", [1.0, 5.0, -5.0, 4.9], {"full_scale": 5.0}, [1.0, 1.0, 1.0, 4.9], {"saturated": 2}),
    ("constant", [3.0] * 5, {"stuck_samples": 3}, [3.0] * 5, {"stuck": 3}),
    ("constant allowed", [3.0] * 5, {}, [3.0] * 5, {}),
    (
        "stuck at rail",
        [1.0, 9.0, 9.0, 9.0, 2.0],
        {"full_scale": 9.0, "stuck_samples": 2},
        [1.0] * 4 + [2.0],
        {"saturated": 3},
    ),
    (
        "mixed",
        [NAN, 7.0, 1.0, 1.0],
        {"full_scale": 6.0, "stuck_samples": 2},
        [0.0, 0.0, 1.0, 1.0],
        {"nonfinite": 1, "saturated": 1, "stuck": 1},
    ),
]


@pytest.mark.parametrize(("name", "row", "kw", "want", "reasons"), CASES, ids=[c[0] for c in CASES])
def test_bad_sample_table(
    name: str, row: list[float], kw: dict, want: list[float], reasons: dict[str, int]
) -> None:  # type: ignore[type-arg]
    g = Guard(1, **kw)
    out = g.process(_block(np.array([row])))
    assert np.array_equal(out.values[0], want)
    ev = g.pop_events()
    assert {e.payload["reason"]: e.payload["count"] for e in ev} == reasons
    assert all(
        e.kind == "signal.bad" and e.payload["stream"] == "s" and e.payload["channel"] == 0 for e in ev
    )
    zero = Guard(1, replace="zero", **kw).process(_block(np.array([row]))).values[0]
    bad = np.array(want) != np.nan_to_num(np.array(row), nan=-1e300, posinf=-1e300, neginf=-1e300)
    assert np.all(zero[bad] == 0.0)


def test_event_payload_times_and_names() -> None:
    g = Guard(2, full_scale=[1.0, 10.0], channel_names=["vmo", "vl"])
    x = np.zeros((2, 10))
    x[1, 3:6] = 10.0
    g.process(_block(x))
    (e,) = g.pop_events()
    assert e.payload == {
        "stream": "s",
        "channel": "vl",
        "reason": "saturated",
        "count": 3,
        "first": 0.003,
        "last": 0.005,
    }
    assert e.time == 0.003 and e.detected_at == 0.009
    assert g.pop_events() == []
    assert g.totals[1, 1] == 3


def test_guard_keeps_filter_state_clean() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3000))
    x[0, 1000:1050] = np.nan
    raw = SosFilter.bandpass(20, 450, FS, 2).process(_block(x)).values
    # without the guard the filter keeps the NaN out of its state (nmre.dsp._protect) but has no
    # value to give over the bad stretch: marked NaN there, finite again after
    assert np.all(np.isnan(raw[0, 1000:1050])) and np.all(np.isfinite(raw[0, 1050:]))
    guarded = Pipeline([Guard(2), SosFilter.bandpass(20, 450, FS, 2)]).process(_block(x)).values
    assert np.all(np.isfinite(guarded))
    assert np.array_equal(guarded[1], raw[1])
    held = x.copy()
    held[0, 1000:1050] = x[0, 999]
    assert np.array_equal(guarded, signal.sosfilt(SosFilter.bandpass(20, 450, FS, 2).sos, held, axis=-1))
    chain = Pipeline([Guard(2), EmgChain(2, FS)])
    assert np.all(np.isfinite(chain.process(_block(x)).values))


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), max_size=20), seed=st.integers(0, 2**31))
def test_streaming_equals_batch(feed, sizes: list[int], seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal((3, 300)), 1) * 3
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 100:110] = 2.0
    g = Guard(3, full_scale=6.0, stuck_samples=4)
    whole = g.process(_block(x)).values
    totals = g.totals.copy()
    g.reset()
    parts = feed(g, x, sizes)
    assert np.array_equal(np.concatenate([b.values for b in parts], axis=1), whole)
    assert np.array_equal(g.totals, totals)
    assert sum(e.payload["count"] for e in g.pop_events()) == totals.sum()


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (np.zeros((3, 4)), "got shape (3, 4) float64"),
        (np.zeros(4), "got shape (4,) float64"),
        (np.zeros((2, 4), dtype=np.complex64), "complex64"),
        (np.zeros((2, 4), dtype=object), "object"),
        (np.full((2, 4), "x"), "<U1"),
        (np.zeros((2, 4), dtype=bool), "bool"),
    ],
)
def test_wrong_shape_or_dtype(values: np.ndarray, needle: str) -> None:
    b = object.__new__(Block)
    for k, v in {
        "stream": "s",
        "times": np.zeros(4),
        "values": values,
        "seq": 0,
        "missing_before": 0,
        "arrival": 0.0,
    }.items():
        object.__setattr__(b, k, v)
    with pytest.raises(InputError) as err:
        Guard(2).process(b)
    msg = str(err.value)
    assert (
        "expected" in msg
        and "(n_channels, n_samples) float64" in msg
        and "n_channels=2" in msg
        and needle in msg
    )


def test_integer_input_converted() -> None:
    out = Guard(1, full_scale=127).process(_block(np.array([[1, 127, -128, 3]], dtype=np.int8)))
    assert out.values.dtype == np.float64 and np.array_equal(out.values, [[1.0, 1.0, 1.0, 3.0]])


@pytest.mark.parametrize(
    "kw",
    [{"full_scale": 0.0}, {"stuck_samples": 1}, {"replace": "interp"}, {"channel_names": ["a"]}],
)
def test_bad_configuration(kw: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match="expected"):
        Guard(2, **kw)

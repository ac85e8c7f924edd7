"""SPRING vs tslearn, open-end DTW vs a full-matrix reference, streaming = batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core.model import Block
from nmre.dsp.dtw import OpenEndDtw, Spring, subsequence_match
from nmre.errors import ConfigError, InputError


@pytest.mark.parametrize("seed", range(40))
def test_spring_matches_tslearn_exactly(seed: int) -> None:
    metrics = pytest.importorskip("tslearn.metrics")
    rng = np.random.default_rng(seed)
    dims = int(rng.integers(1, 4))
    m = int(rng.integers(1, 40))
    n = int(rng.integers(1, 200))
    y = rng.normal(size=(dims, m))
    if seed % 3 == 0:
        x = rng.integers(-2, 3, size=(dims, n)).astype(float)  # many ties
        y = rng.integers(-2, 3, size=(dims, m)).astype(float)
    else:
        x = rng.normal(size=(dims, n))
        if n > m + 10:  # plant a warped, noisy copy of the template
            at = int(rng.integers(0, n - 2 * m)) if n > 2 * m else 0
            warped = np.repeat(y, 2, axis=1)[:, : min(2 * m, n - at)]
            x[:, at : at + warped.shape[1]] = warped + 0.05 * rng.normal(size=warped.shape)
    path, cost = metrics.dtw_subsequence_path(y.T, x.T)
    start, end, dist = subsequence_match(y, x)
    assert (start, end) == (path[0][1], path[-1][1])
    assert dist == cost  # exactly: same sums, same order


def test_spring_finds_planted_template() -> None:
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 50)
    y = np.sin(np.pi * t) * 90
    x = rng.normal(0, 2, 500)
    x[200:300] = np.interp(np.linspace(0, 1, 100), t, y)  # played at half speed
    s, e, d = subsequence_match(y, x)
    assert abs(s - 200) <= 2 and abs(e - 299) <= 2
    assert d < 0.05 * subsequence_match(y, x[:200])[2]  # far closer than anywhere in the noise


def _two_reps(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 1, 40)
    y = np.sin(np.pi * t) * 90
    x = rng.normal(0, 1, 600)
    x[100:140] = y + rng.normal(0, 1, 40)
    x[400:460] = np.interp(np.linspace(0, 1, 60), t, y)
    return y, x


def test_spring_threshold_reports_disjoint_matches() -> None:
    y, x = _two_reps(np.random.default_rng(2))
    sp = Spring(y, threshold=40.0, name="sq")
    out = sp.process(Block("knee", np.arange(600) / 100, x[None, :]))
    ev = sp.pop_events()
    assert [e.kind for e in ev] == ["dtw.match", "dtw.match"]
    (a, b) = ev
    assert abs(a.payload["start"] - 100) <= 2 and abs(a.payload["end"] - 139) <= 2
    assert abs(b.payload["start"] - 400) <= 2 and abs(b.payload["end"] - 459) <= 2
    assert a.payload["start_time"] == pytest.approx(a.payload["start"] / 100)
    assert a.time == pytest.approx(a.payload["end"] / 100) and a.source == "sq"
    # the reported distance is the output distance at the match end
    assert a.payload["distance"] == pytest.approx(out.values[0, a.payload["end"]])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), threshold=st.sampled_from([None, 40.0]))
def test_spring_streaming_equals_batch(
    data: st.DataObject, threshold: float | None, feed: Callable[..., list[Block]]
) -> None:
    y, x = _two_reps(np.random.default_rng(3))
    x[300] = np.nan
    whole = Spring(y, threshold=threshold)
    w = whole.process(Block("s", np.arange(600) / 100.0, x[None, :])).values
    sp = Spring(y, threshold=threshold)
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2, 9, 64, 200]), min_size=1, max_size=30))
    parts = feed(sp, x[None, :], sizes, fs=100.0)
    np.testing.assert_array_equal(np.hstack([p.values for p in parts]), w)
    assert [e.to_json() for e in sp.pop_events()] == [e.to_json() for e in whole.pop_events()]
    assert sp.best == whole.best


def test_spring_nan_breaks_matches_and_bad_input() -> None:
    y = np.array([0.0, 1.0, 0.0])
    x = np.array([0.0, 1.0, np.nan, 0.0, 5, 5])
    sp = Spring(y)
    out = sp.process(Block("s", np.arange(6.0), x[None, :])).values
    assert np.isnan(out[:, 2]).all()
    assert out[1, 3] == 3  # no match may start before the gap
    with pytest.raises(InputError, match=r"\(1, n_samples\)"):
        sp.process(Block("s", np.arange(2.0), np.zeros((2, 2))))
    with pytest.raises(InputError, match="float64"):
        sp.process(Block("s", np.arange(2.0), np.zeros((1, 2), dtype=np.float32)))
    with pytest.raises(ConfigError, match="finite"):
        Spring([0.0, np.nan])
    with pytest.raises(ConfigError):
        Spring(np.zeros((1, 0)))
    with pytest.raises(ConfigError):
        Spring([0.0, 1.0], threshold=-1.0)
    with pytest.raises(InputError):
        subsequence_match([0.0, 1.0], np.zeros((2, 5)))


def _open_end_reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Full-matrix open-end DTW, asymmetric steps (1,0),(1,1),(1,2), Euclidean cost: progress index per row."""
    n, m = x.shape[1], y.shape[1]
    d = np.sqrt(((x[:, :, None] - y[:, None, :]) ** 2).sum(axis=0))
    D = np.full((n, m), np.inf)
    D[0, 0] = d[0, 0]
    for i in range(1, n):
        for j in range(m):
            prev = (
                [D[i - 1, j]] + ([D[i - 1, j - 1]] if j >= 1 else []) + ([D[i - 1, j - 2]] if j >= 2 else [])
            )
            D[i, j] = d[i, j] + min(prev)
    return np.argmin(D, axis=1)


@pytest.mark.parametrize("seed", range(10))
def test_open_end_matches_full_matrix_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dims = int(rng.integers(1, 3))
    y = np.cumsum(rng.normal(size=(dims, int(rng.integers(2, 30)))), axis=1)
    x = np.cumsum(rng.normal(size=(dims, int(rng.integers(1, 60)))), axis=1)
    out = OpenEndDtw(y).process(Block("s", np.arange(x.shape[1]) / 100, x)).values
    np.testing.assert_array_equal(out[0], _open_end_reference(x, y) / (y.shape[1] - 1))


def test_open_end_progress_through_a_slower_repetition() -> None:
    t = np.linspace(0, 1, 200)
    y = 180 * t**2 * (3 - 2 * t)  # smooth monotone template, 0..180
    slow = 180 * np.linspace(0, 1, 300) ** 2 * (3 - 2 * np.linspace(0, 1, 300))
    oe = OpenEndDtw(y)
    out = oe.process(Block("s", np.arange(150) / 100, slow[None, :150])).values
    assert out[0, -1] == pytest.approx(0.5, abs=0.02)  # halfway through the movement
    assert np.all(np.diff(out[0]) >= 0)  # monotone template: progress never goes back
    out = oe.process(Block("s", np.arange(150, 300) / 100, slow[None, 150:])).values
    assert out[0, -1] == 1.0 and out[1, -1] < 1.0
    oe.reset()
    assert np.isnan(oe.progress)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_open_end_streaming_equals_batch(data: st.DataObject, feed: Callable[..., list[Block]]) -> None:
    rng = np.random.default_rng(5)
    y = np.cumsum(rng.normal(size=(2, 30)), axis=1)
    x = np.cumsum(rng.normal(size=(2, 120)), axis=1)
    x[:, 40] = np.nan
    w = OpenEndDtw(y).process(Block("s", np.arange(120) / 100, x)).values
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 3, 17, 64]), min_size=1, max_size=30))
    parts = feed(OpenEndDtw(y), x, sizes, fs=100.0)
    np.testing.assert_array_equal(np.hstack([p.values for p in parts]), w)

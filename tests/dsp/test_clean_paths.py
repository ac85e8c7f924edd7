"""The one-call paths (``_process_clean``, nmre.dsp._protect) give exactly what the screened path gives.

A protected processor may check its block and process it in one kernel call; a block with a
bad sample (non-finite, beyond the channel's limit) or of an unusual kind (a gap before it, a
distal sample that has to wait) falls back to the screen and ``process``. The same random blocks
(lengths 0 to 5, NaN and out-of-range samples, gaps, a stalled proximal stream) go through each
processor twice, with the one-call path and with it switched off, and the output blocks and
events must be the same, bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from nmre.core.model import Block
from nmre.dsp.guard import Guard
from nmre.dsp.joints import JointAngle, TrunkInclination
from nmre.dsp.movement import RepSegmenter
from nmre.dsp.orientation import BiasCorrectedOrientation, GyroBias, Madgwick


@contextmanager
def screened_only(cls: type) -> Iterator[None]:
    """``cls.process`` with its one-call path switched off (the wrapper's ``clean`` set to None)."""
    f = cls.process
    cell = f.__closure__[f.__code__.co_freevars.index("clean")]
    was = cell.cell_contents
    assert was is not None, f"{cls.__name__} has no one-call path"
    cell.cell_contents = None
    try:
        yield
    finally:
        cell.cell_contents = was


def _imu(rng: np.random.Generator, n: int) -> np.ndarray:
    x = np.empty((6, n))
    x[0:3] = rng.normal(0.0, 0.5, (3, n)) + np.array([[0.3], [0.2], [9.81]])
    x[3:6] = rng.normal(0.0, 0.05 if rng.random() < 0.5 else 1.0, (3, n))
    return x


def _quat(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(0.0, 1.0, (4, n)) + np.array([[3.0], [0.0], [0.0], [0.0]])
    return q / np.linalg.norm(q, axis=0)


def _spoil(rng: np.random.Generator, x: np.ndarray, big: float) -> np.ndarray:
    """Now and then a NaN or a value beyond the channel's full scale."""
    if x.shape[1] and rng.random() < 0.08:
        x[rng.integers(x.shape[0]), rng.integers(x.shape[1])] = np.nan if rng.random() < 0.5 else big
    return x


def _run(make: Callable[[], Any], blocks: list[Block], limits: np.ndarray) -> list[tuple[Any, ...]]:
    p = make()
    p.set_input_limits(limits)
    out: list[tuple[Any, ...]] = []
    for b in blocks:
        y = p.process(b)
        out.append((y.stream, y.times.tobytes(), y.values.tobytes(), y.seq, y.missing_before, y.arrival))
        out.extend(("event", e.to_json()) for e in p.pop_events())
    return out


def _blocks(
    seed: int, streams: tuple[str, ...], values: Callable[..., np.ndarray], big: float
) -> list[Block]:
    rng = np.random.default_rng(seed)
    out, t, seq = [], {s: 0.0 for s in streams}, {s: 0 for s in streams}
    for _ in range(400):
        s = streams[int(rng.integers(len(streams)))] if len(streams) > 1 else streams[0]
        if len(streams) > 1 and s == streams[0] and rng.random() < 0.05:
            t[s] += 0.3  # the proximal stream stalls: distal samples wait, then catch up
        n = int(rng.integers(0, 6))
        missing = int(rng.integers(1, 4)) if rng.random() < 0.05 else 0
        t[s] += missing * 0.005
        times = t[s] + 0.005 * np.arange(1, n + 1)
        if n:
            t[s] = float(times[-1])
        out.append(Block(s, times, _spoil(rng, values(rng, n), big), seq[s], missing, t[s] + 0.01))
        seq[s] += n + missing
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orientation_one_call_path_is_the_screened_path(seed: int) -> None:
    blocks = _blocks(seed, ("imu",), _imu, 1e4)
    limits = np.array([16 * 9.81] * 3 + [35.0] * 3)

    def make() -> BiasCorrectedOrientation:
        return BiasCorrectedOrientation(GyroBias(200.0, still_time=0.05), Madgwick(200.0, name="q"))

    fast = _run(make, blocks, limits)
    with screened_only(BiasCorrectedOrientation):
        slow = _run(make, blocks, limits)
    assert fast == slow
    assert any(x[0] == "event" for x in fast)  # bad samples were there to fall back on


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_angle_one_call_path_is_the_screened_path(seed: int) -> None:
    blocks = _blocks(seed, ("p", "d"), _quat, 5.0)

    def make() -> JointAngle:
        return JointAngle("p", "d", buffer=8, name="knee")  # a small ring: room made and grown

    fast = _run(make, blocks, np.full(4, 1.01))
    with screened_only(JointAngle):
        slow = _run(make, blocks, np.full(4, 1.01))
    assert fast == slow
    assert any(x[0] == "event" for x in fast)


@pytest.mark.parametrize("seed", [0, 1])
def test_trunk_inclination_one_call_path_is_the_screened_path(seed: int) -> None:
    blocks = _blocks(seed, ("q",), _quat, 5.0)
    fast = _run(lambda: TrunkInclination(name="lean"), blocks, np.full(4, 1.01))
    with screened_only(TrunkInclination):
        slow = _run(lambda: TrunkInclination(name="lean"), blocks, np.full(4, 1.01))
    assert fast == slow
    assert any(x[0] == "event" for x in fast)


def _emg(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0.0, 0.2, (4, n))
    if n > 2 and rng.random() < 0.1:
        x[1, :] = 0.5  # a flat line: stuck samples
    if n and rng.random() < 0.05:
        x[2, 0] = 3.0  # at the guard's full scale (saturated), inside the screen's limit
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_guard_one_call_path_is_the_screened_path(seed: int) -> None:
    blocks = _blocks(seed, ("emg",), _emg, 50.0)

    def make() -> Guard:
        return Guard(4, full_scale=2.5, stuck_samples=4, merge=0.05, name="clean")

    fast = _run(make, blocks, np.full(4, 10.0))
    with screened_only(Guard):
        slow = _run(make, blocks, np.full(4, 10.0))
    assert fast == slow
    kinds = {json.loads(x[1])["kind"] for x in fast if x[0] == "event"}
    assert {"dsp.bad_input", "signal.bad"} <= kinds  # bad samples of the screen's and of the guard's own


@pytest.mark.parametrize("seed", [0, 1])
def test_rep_segmenter_one_call_path_is_the_screened_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    blocks, t, seq = [], 0.0, 0
    for _ in range(600):
        n = int(rng.integers(0, 6))
        times = t + 0.01 * np.arange(1, n + 1)
        t = float(times[-1]) if n else t
        x = np.vstack([45.0 * (1 - np.cos(2 * np.pi * times / 1.7)), rng.normal(0, 2, (2, n))])
        blocks.append(Block("knee", times, _spoil(rng, x, 1e6), seq, 0, t + 0.02))
        seq += n

    def make() -> RepSegmenter:
        return RepSegmenter(25.0, 15.0, rate=100.0, name="reps")

    limits = np.full(3, 720.0)
    fast = _run(make, blocks, limits)
    with screened_only(RepSegmenter):
        slow = _run(make, blocks, limits)
    assert fast == slow
    kinds = {json.loads(x[1])["kind"] for x in fast if x[0] == "event"}
    assert {"dsp.bad_input", "rep.end"} <= kinds

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
from nmre.dsp.emg import OnsetDetector, TkeoConditioner, condition_and_detect
from nmre.dsp.guard import Guard
from nmre.dsp.joints import JointAngle, TrunkInclination
from nmre.dsp.movement import RepSegmenter
from nmre.dsp.orientation import BiasCorrectedOrientation, GyroBias, Madgwick
from nmre.rules import emg as emg_rules


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


def _emg_bursts(seed: int, fs: float, spikes: bool) -> tuple[np.ndarray, list[Block]]:
    """12 s of 2 muscles with bursts, cut into blocks of 0-40 samples (``spikes``: now and then a sample of
    1e9, whose conditioned value, ~1e18, is beyond the detector's limit: its screen takes that block)."""
    rng = np.random.default_rng(seed)
    n = int(12 * fs)
    t = np.arange(n) / fs
    amp = 0.01 + sum(
        0.3 * ((t > a) & (t < a + 0.6)) * (1 + ch) for ch, a in ((0, 3.0), (1, 3.1), (0, 6.0), (1, 8.2))
    )
    x = rng.normal(0.0, 1.0, (2, n)) * amp
    blocks, i = [], 0
    while i < n:
        k = int(rng.integers(0, 41))
        v = x[:, i : i + k].copy()
        if spikes and k and rng.random() < 0.02:
            v[int(rng.integers(2)), int(rng.integers(k))] = 1e9
        blocks.append(Block("emg", t[i : i + v.shape[1]], v, i, 0, float(t[min(i + k, n - 1)])))
        i += k
    return t, blocks


@pytest.mark.parametrize("seed", [0, 1])
def test_condition_and_detect_is_the_two_process_calls(seed: int) -> None:
    """Conditioning, the detector's screen and its burst kernel in one call give the conditioned values and
    the events of ``det.process(cond.process(block))``, bad conditioned samples included."""
    fs = 2000.0
    _, blocks = _emg_bursts(seed, fs, spikes=True)

    def pair() -> tuple[TkeoConditioner, OnsetDetector]:
        det = OnsetDetector(2, fs, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.1, baseline=(0.0, 2e-4))
        return TkeoConditioner(2, fs, 20.0, 450.0, 30.0), det

    fast, slow = pair(), pair()
    got: list[Any] = []
    want: list[Any] = []
    for b in blocks:
        y = condition_and_detect(*fast, b)
        if y is None:  # an empty block, or the detector's first (its screen is made then)
            c = fast[0].process(b)
            fast[1].process(c)
            y = c.values
        got += [y.tobytes(), *(e.to_json() for e in fast[1].pop_events())]
        c = slow[0].process(b)
        slow[1].process(c)
        want += [c.values.tobytes(), *(e.to_json() for e in slow[1].pop_events())]
    assert got == want
    kinds = {json.loads(e)["kind"] for e in got if isinstance(e, str)}
    assert {"emg.onset", "emg.offset", "dsp.bad_input"} <= kinds


@pytest.mark.parametrize("seed", [0, 1])
def test_onset_node_one_call_path_is_the_two_process_calls(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An onset node (rest baseline, burst timing) raises the same events with its one-call path as without."""
    fs = 2000.0
    t, blocks = _emg_bursts(seed, fs, spikes=False)

    def run() -> list[str]:
        node = emg_rules.OnsetNode(
            "emg",
            TkeoConditioner(2, fs, 20.0, 450.0, 30.0),
            OnsetDetector(2, fs, k_on=8.0, k_off=4.0, t_on=0.025, t_off=0.1),
            burst=(0.15, 0.1),
        )
        node.bind({"emg": _emg_info(fs)})
        out: list[str] = []
        for b in blocks:
            node.push(b)
            out += [e.to_json() for e in node.pop_events()]
        node.finish(float(t[-1]))
        return out + [e.to_json() for e in node.pop_events()]

    fast = run()
    monkeypatch.setattr(emg_rules, "condition_and_detect", lambda *a: None)
    slow = run()
    assert fast == slow
    assert {"emg.baseline", "emg.onset", "emg.offset", "emg.burst"} <= {json.loads(e)["kind"] for e in fast}


def _emg_info(fs: float) -> Any:
    from nmre.core.model import Channel, Placement, Side, StreamInfo, StreamKind

    chans = tuple(Channel(m, "mV", Placement(muscle=m, side=Side.RIGHT)) for m in ("vmo", "vl"))
    return StreamInfo("emg", StreamKind.EMG, chans, fs)

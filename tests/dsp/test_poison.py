"""No input can poison a processor (issue 8, point 2).

Hypothesis throws NaN, ±inf, ±1e300, stuck and saturated runs and gaps at every public processor
of :mod:`nmre.dsp` at any point of a good signal, in any block split, and checks that

* the output is never non-finite once good input is back (no poisoned state),
* within the processor's settling time (declared below with its reason) the output matches a fresh
  processor's started on the good input after the fault,
* a bad value (non-finite or beyond full scale) is said by an event.

One NaN used to leave SosFilter, LinearEnvelope, MovingRms and EmgChain returning NaN for the rest
of the session; one 1e300 broke MovingRms for good and a block of them the orientation filters.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmre import dsp
from nmre.core.interfaces import Processor
from nmre.core.model import Block
from nmre.dsp.orientation import BiasCorrectedOrientation

pytestmark = pytest.mark.timeout(600)

BAD_EVENTS = {"dsp.bad_input", "dsp.nonfinite", "signal.bad"}
FAULTS = ("nan", "inf", "-inf", "1e300", "-1e300", "stuck", "saturated", "gap")


# -- good signals --------------------------------------------------------------------------------
def emg(n: int, fs: float, rng: np.random.Generator, rows: int = 2) -> np.ndarray:
    """Surface EMG in mV: noise with bursts of activity (0.3 s on, 0.5 s off)."""
    t = np.arange(n) / fs
    act = 0.05 + 0.5 * ((t % 0.8) < 0.3)
    return rng.normal(0.0, 1.0, (rows, n)) * act


def envelope(n: int, fs: float, rng: np.random.Generator, rows: int = 1) -> np.ndarray:
    """A positive envelope (mV): rest at about 1, bursts of 10 lasting 0.3 s every 0.8 s."""
    t = np.arange(n) / fs
    return np.abs(rng.normal(1.0, 0.2, (rows, n))) + 9.0 * ((t % 0.8) < 0.3)


def still_imu(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """An IMU at rest, tilted 20° about x and 10° about y; small noise and a gyro bias."""
    g = 9.80665
    rx, ry = math.radians(20.0), math.radians(10.0)
    acc = np.array([-math.sin(ry), math.sin(rx) * math.cos(ry), math.cos(rx) * math.cos(ry)]) * g
    x = np.empty((6, n))
    x[:3] = acc[:, None] + rng.normal(0, 0.02, (3, n))
    x[3:] = np.array([0.01, -0.005, 0.002])[:, None] + rng.normal(0, 0.002, (3, n))
    return x


def swaying_acc(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    x = still_imu(n, fs, rng)[:3]
    t = np.arange(n) / fs
    x[0] += 0.1 * np.sin(2 * np.pi * 0.4 * t)
    x[1] += 0.05 * np.sin(2 * np.pi * 0.3 * t + 1.0)
    return x


def quats(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """A segment rotating slowly about a fixed tilted axis (unit quaternions w, x, y, z)."""
    t = np.arange(n) / fs
    ang = 0.6 * np.sin(2 * np.pi * 0.5 * t) + rng.normal(0, 1e-3, n)
    axis = np.array([0.8, 0.6, 0.0])
    return np.vstack([np.cos(ang / 2), *(axis[:, None] * np.sin(ang / 2))])


def knee(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Knee flexion (deg) of squats: 0 -> 90 -> 0 every 2 s, with noise."""
    t = np.arange(n) / fs
    return (45.0 * (1 - np.cos(2 * np.pi * t / 2.0)) + rng.normal(0, 0.3, n))[None, :]


# -- the processors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    make: Callable[[], Processor]
    fs: float
    signal: Callable[[int, float, np.random.Generator], np.ndarray]
    settle: float  # seconds after good input returns within which the output matches a fresh one (< 40 %)
    why: str  # where the settling time comes from
    rail: float | tuple[float, ...]  # a saturated sample (the sensor's rail per row, in the signal's unit)
    atol: float = 1e-9
    compare: Callable[[np.ndarray], np.ndarray] | None = None  # what of the output to compare
    seconds: float = 4.0


def tilt(q: np.ndarray) -> np.ndarray:
    """World up in the sensor frame from quaternions (w, x, y, z): the observable part of a 6-axis filter."""
    w, x, y, z = q
    return np.vstack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z])


FS_EMG, FS_IMU = 2000.0, 100.0
IMU_RAIL = (16 * 9.80665,) * 3 + (math.radians(2000.0),) * 3  # ±16 g, ±2000 °/s
CASES: dict[str, Case] = {
    "SosFilter": Case(
        lambda: dsp.SosFilter.bandpass(20.0, 450.0, FS_EMG, 2),
        FS_EMG,
        emg,
        0.5,
        "the 20 Hz high-pass poles decay by e^-60 in 0.5 s",
        10.0,
    ),
    "Rectifier": Case(lambda: dsp.Rectifier(2), FS_EMG, emg, 0.0, "no state", 10.0),
    "MovingRms": Case(
        lambda: dsp.MovingRms(2, FS_EMG, 0.1),
        FS_EMG,
        emg,
        0.11,
        "one 100 ms window (sums recomputed)",
        10.0,
        atol=1e-7,
    ),
    "LinearEnvelope": Case(
        lambda: dsp.LinearEnvelope(2, FS_EMG), FS_EMG, emg, 1.0, "6 Hz low-pass: 38 time constants", 10.0
    ),
    "Tkeo": Case(lambda: dsp.Tkeo(2), FS_EMG, emg, 0.002, "two samples of history", 10.0),
    "Normalizer": Case(
        lambda: dsp.Normalizer([0.5, 2.0]),
        FS_EMG,
        lambda n, fs, r: envelope(n, fs, r, 2),
        0.0,
        "no state",
        10.0,
    ),
    "EmgChain": Case(
        lambda: dsp.EmgChain(2, FS_EMG), FS_EMG, emg, 1.0, "band-pass 0.5 s + envelope low-pass", 10.0
    ),
    "EmgFeatures": Case(
        lambda: dsp.EmgFeatures(1, FS_EMG, 64, 1, features=("MAV", "RMS", "WL", "ZC")),
        FS_EMG,
        lambda n, fs, r: emg(n, fs, r, 1),
        0.033,
        "one 64-sample window",
        10.0,
        atol=1e-7,
        seconds=1.5,
    ),
    "Guard": Case(
        lambda: dsp.Guard(2, full_scale=10.0), FS_EMG, emg, 0.0005, "holds one last good value", 10.0
    ),
    "OnsetDetector": Case(
        lambda: dsp.OnsetDetector(1, FS_EMG, baseline=(1.0, 0.2), horizon=None),
        FS_EMG,
        envelope,
        0.85,
        "one burst cycle: every state ends at rest before the next burst",
        10.0,
    ),
    "ContractionDetector": Case(
        lambda: dsp.ContractionDetector(1, FS_EMG, baseline=(1.0, 0.2), horizon=None),
        FS_EMG,
        envelope,
        0.85,
        "one burst cycle",
        10.0,
    ),
    "Madgwick": Case(
        lambda: dsp.Madgwick(FS_IMU),
        FS_IMU,
        still_imu,
        30.0,
        "the gradient step turns at 2 beta = 0.2 rad/s: any tilt error is gone in pi / 0.2 = 16 s",
        IMU_RAIL,
        atol=math.radians(1.0),
        compare=tilt,
        seconds=80.0,
    ),
    "FusionAhrs": Case(
        lambda: dsp.FusionAhrs(FS_IMU),
        FS_IMU,
        still_imu,
        30.0,
        "gain 0.5 and the recovery trigger: settled well within 30 s",
        IMU_RAIL,
        atol=math.radians(1.0),
        compare=tilt,
        seconds=80.0,
    ),
    "GyroBias": Case(
        lambda: dsp.GyroBias(FS_IMU),
        FS_IMU,
        still_imu,
        2.5,
        "one 2 s still period re-estimates the bias",
        IMU_RAIL,
        atol=2e-3,
        seconds=8.0,
    ),
    "BiasCorrectedOrientation": Case(
        lambda: BiasCorrectedOrientation(dsp.GyroBias(FS_IMU), dsp.Madgwick(FS_IMU)),
        FS_IMU,
        still_imu,
        30.0,
        "as Madgwick",
        IMU_RAIL,
        atol=math.radians(1.0),
        compare=tilt,
        seconds=80.0,
    ),
    "Sway": Case(
        lambda: dsp.Sway(FS_IMU, gravity_tau=2.0),
        FS_IMU,
        swaying_acc,
        24.0,
        "12 gravity time constants (2 s) leave e^-12 * 150 = 1e-3 m/s^2 of a 16 g error",
        16 * 9.80665,
        atol=2e-3,
        seconds=65.0,
    ),
    "AccInclination": Case(
        lambda: dsp.AccInclination(FS_IMU),
        FS_IMU,
        swaying_acc,
        5.0,
        "1.5 Hz low-pass: 47 time constants",
        16 * 9.80665,
        atol=1e-6,
        seconds=14.0,
    ),
    "SitToStand": Case(
        lambda: dsp.SitToStand(FS_IMU),
        FS_IMU,
        swaying_acc,
        5.0,
        "inclination low-pass and 0.2 s SD window",
        16 * 9.80665,
        atol=1e-6,
        seconds=14.0,
        compare=lambda y: y[[0, 2, 3, 4]],  # not the running count
    ),
    "TrunkInclination": Case(lambda: dsp.TrunkInclination(), FS_IMU, quats, 0.0, "no state", 1.0),
    "RepSegmenter": Case(
        lambda: dsp.RepSegmenter(30.0, 10.0),
        FS_IMU,
        knee,
        4.0,
        "the next rep after a return to standing",
        360.0,
        compare=lambda y: y[:1],
        seconds=16.0,  # in_rep (the rep count runs since the start)
    ),
    "Spring": Case(
        lambda: dsp.Spring(np.sin(np.linspace(0, np.pi, 20))),
        FS_IMU,
        lambda n, fs, r: np.sin(2 * np.pi * np.arange(n) / 40.0)[None, :] + r.normal(0, 0.01, (1, n)),
        1.0,
        "matches end within a few template lengths (20 samples)",
        10.0,
        atol=1e-9,
        compare=lambda y: y[:1],
        seconds=6.0,
    ),
    "Pipeline": Case(
        lambda: dsp.Pipeline([dsp.SosFilter.bandpass(20.0, 450.0, FS_EMG, 2), dsp.LinearEnvelope(2, FS_EMG)]),
        FS_EMG,
        emg,
        1.0,
        "as EmgChain",
        10.0,
    ),
}
#: Processors whose output is a function of everything since their start, so no fresh processor
#: started later can match them: their oracle is the same processor fed the input without the bad
#: samples (they are skipped as if they never came).
WHOLE_HISTORY: dict[str, Case] = {
    "OpenEndDtw": Case(
        lambda: dsp.OpenEndDtw(np.linspace(0.0, 1.0, 50)[None, :]),
        FS_IMU,
        lambda n, fs, r: (np.arange(n) / n)[None, :] + r.normal(0, 0.01, (1, n)),
        math.inf,
        "progress through a template since the start: the whole history",
        10.0,
        seconds=6.0,
    ),
}
#: Need two input streams (handled below).
TWO_INPUTS = {"JointAngle"}


def test_every_public_processor_is_thrown_bad_input() -> None:
    public = {
        name
        for name in dsp.__all__
        if inspect.isclass(getattr(dsp, name)) and issubclass(getattr(dsp, name), Processor)
    }
    assert public <= set(CASES) | set(WHOLE_HISTORY) | TWO_INPUTS, public - set(CASES) - set(WHOLE_HISTORY)


# -- faults --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    kind: str
    start: float  # fraction of the signal before the fault
    length: int  # samples
    channel: int  # -1: every channel


def faulty(
    x: np.ndarray, fault: Fault, rail: float | tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``x`` with the fault applied: (values, sample index kept, fault start, first good sample after)."""
    n = x.shape[1]
    a = int(fault.start * n)
    b = a + min(fault.length, n // 4)  # good input for 40 % of the signal after the fault, at least
    keep = np.arange(n)
    y = x.copy()
    rows = (
        slice(None)
        if fault.channel < 0
        else slice(fault.channel % x.shape[0], fault.channel % x.shape[0] + 1)
    )
    if fault.kind == "gap":
        keep = np.r_[0:a, b:n]
        return y[:, keep], keep, a, b
    value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "1e300": 1e300, "-1e300": -1e300}.get(fault.kind)
    if value is not None:
        y[rows, a:b] = value
    elif fault.kind == "stuck":
        y[rows, a:b] = y[rows, a - 1 : a] if a else 0.0
    else:  # saturated at the rail, the sign of the signal there
        r = np.broadcast_to(np.asarray(rail, dtype=float), (x.shape[0],))[rows][:, None]
        y[rows, a:b] = np.where(y[rows, a:b] < 0, -r, r)
    return y, keep, a, b


def run(proc: Processor, times: np.ndarray, x: np.ndarray, seq: np.ndarray, sizes: list[int]):
    """Feed ``x`` in blocks of ``sizes`` (cycled); return the concatenated output and the events."""
    outs_t, outs_v, events = [], [], []
    i, k, n = 0, 0, x.shape[1]
    while i < n:
        m = max(1, sizes[k % len(sizes)])
        j = min(n, i + m)
        missing = int(seq[i] - seq[i - 1] - 1) if i else 0
        out = proc.process(Block("s", times[i:j], np.ascontiguousarray(x[:, i:j]), int(seq[i]), missing))
        outs_t.append(out.times)
        outs_v.append(out.values)
        events += proc.pop_events()
        i, k = j, k + 1
    return np.concatenate(outs_t), np.concatenate(outs_v, axis=1), events


faults = st.builds(
    Fault,
    kind=st.sampled_from(FAULTS),
    start=st.floats(0.05, 0.35),
    length=st.integers(1, 400),
    channel=st.integers(-1, 5),
)
splits = st.lists(st.sampled_from([1, 7, 10, 64, 250, 1000]), min_size=1, max_size=4)


def check(name: str, case: Case, fault: Fault, sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(case.seconds * case.fs)
    good = case.signal(n, case.fs, rng)
    times = np.arange(n) / case.fs
    x, keep, _a, b = faulty(good, fault, case.rail)
    proc = case.make()
    t_out, y, events = run(proc, times[keep], x, keep, sizes)
    if fault.kind in ("nan", "inf", "-inf", "1e300", "-1e300"):
        kinds = {e.kind for e in events}
        assert kinds & BAD_EVENTS, f"{name}: {fault} raised no event saying so ({kinds})"
    after = t_out >= times[b] + (0.0 if math.isinf(case.settle) else case.settle)
    assert after.any()
    compare = case.compare or (lambda v: v)
    got = compare(y[:, after])
    assert np.all(np.isfinite(got)), f"{name}: output not finite {case.settle} s after {fault}"
    if math.isinf(case.settle):  # the oracle: the same processor on the input without the bad samples
        ok = ~np.any(~(np.abs(x) <= 1e12), axis=0)
        tr, yr, _ = run(case.make(), times[keep][ok], x[:, ok], keep[ok], sizes)
        want = compare(yr[:, np.isin(tr, t_out[after])])
        got = compare(y[:, after][:, np.isin(t_out[after], tr)])
    else:  # the oracle: a fresh processor started on the good input after the fault
        tf, yf, _ = run(case.make(), times[b:], good[:, b:], np.arange(b, n), sizes)
        want = compare(yf[:, np.isin(tf, t_out[after])])
        got = compare(y[:, after][:, np.isin(t_out[after], tf)])
    assert got.shape == want.shape and got.shape[1] > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=case.atol, err_msg=f"{name}: {fault}, split {sizes}")


SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", sorted(CASES) + sorted(WHOLE_HISTORY))
@SETTINGS
@given(fault=faults, sizes=splits, seed=st.integers(0, 2**16))
def test_recovers_to_a_fresh_processor_within_its_settling_time(
    name: str, fault: Fault, sizes: list[int], seed: int
) -> None:
    check(name, CASES.get(name) or WHOLE_HISTORY[name], fault, sizes, seed)


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_at_each_processor_once(kind: str) -> None:
    """Every fault kind at every processor, whatever hypothesis drew (a 200-sample fault at a third)."""
    for name, case in {**CASES, **WHOLE_HISTORY}.items():
        check(name, case, Fault(kind, 0.3, 200, -1), [64], 1)


@SETTINGS
@given(fault=faults, seed=st.integers(0, 2**16), proximal=st.booleans())
def test_joint_angle_recovers_on_either_input(fault: Fault, seed: int, proximal: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    times = np.arange(n) / FS_IMU
    qp, qd = quats(n, FS_IMU, rng), quats(n, FS_IMU, rng)[[0, 2, 1, 3]]
    bad, keep, _a, b = faulty(qp if proximal else qd, fault, 1.0)

    def feed(p_vals, p_idx, d_vals, d_idx):
        ja = dsp.JointAngle("p", "d")
        outs, evs = [], []
        for i in range(0, n, 10):
            sel_p = (p_idx >= i) & (p_idx < i + 10)
            sel_d = (d_idx >= i) & (d_idx < i + 10)
            # distal samples that waited for a stalled proximal come out of a later proximal call
            outs.append(ja.process(Block("p", times[p_idx[sel_p]], np.ascontiguousarray(p_vals[:, sel_p]))))
            outs.append(ja.process(Block("d", times[d_idx[sel_d]], np.ascontiguousarray(d_vals[:, sel_d]))))
            evs += ja.pop_events()
        return np.concatenate([o.times for o in outs]), np.concatenate([o.values for o in outs], axis=1), evs

    every = np.arange(n)
    if proximal:
        t, y, ev = feed(bad, keep, qd, every)
    else:
        t, y, ev = feed(qp, every, bad, keep)
    _, want, _ = feed(qp, every, qd, every)
    if fault.kind in ("1e300", "-1e300"):
        assert {e.kind for e in ev} & BAD_EVENTS
    after = t >= times[b] + 0.05  # the joint angle holds the last proximal sample at most 50 ms (max_lag)
    got = y[:, after]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want[:, np.isin(times, t[after])], atol=1e-9)


def test_settling_times_fit_in_the_signals() -> None:
    for name, case in {**CASES, **WHOLE_HISTORY}.items():
        assert math.isinf(case.settle) or case.settle < 0.4 * case.seconds, name


def test_in_a_session_the_limits_come_from_the_stream_info() -> None:
    """Bound by the engine, an EMG chain takes the unit's ±10 mV: one 1e5 mV sample (a corrupt packet,
    finite and below the generic limit) is kept out and said, where alone it would pass as data."""
    from nmre.core.model import Channel, StreamInfo, StreamKind
    from nmre.engine.nodes import ProcessorNode

    info = StreamInfo("emg", StreamKind.EMG, (Channel("vmo", "mV"), Channel("vl", "mV")), FS_EMG)
    x = emg(4000, FS_EMG, np.random.default_rng(3))
    x[1, 1000] = 1e5
    node = ProcessorNode(dsp.EmgChain(2, FS_EMG), "emg")
    node.bind({"emg": info})
    y = node.push(Block("emg", np.arange(4000) / FS_EMG, x))[0].values
    events = node.pop_events()
    assert [e.kind for e in events] == ["dsp.bad_input"] and events[0].payload[
        "reason"
    ] == "beyond full scale"
    assert np.isnan(y[1, 1000]) and np.isfinite(np.delete(y, 1000, axis=1)).all() and np.isfinite(y[0]).all()
    alone = dsp.EmgChain(2, FS_EMG)
    alone.process(Block("emg", np.arange(4000) / FS_EMG, x))
    assert alone.pop_events() == []

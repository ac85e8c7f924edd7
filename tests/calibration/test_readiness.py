"""The signal-readiness gate: each check against a signal whose answer is known, the gate's lifecycle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from calkit import emg, emg_info, imu_info, run

from nmre.calibration import (
    Calibration,
    EmgLimits,
    Gated,
    ReadinessGate,
    StepState,
    emg_readiness,
    imu_readiness,
    mains_component,
)
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, StateError

FS = 2000.0


@pytest.mark.parametrize(("hz", "amp_uv", "seed"), [(50.0, 20.0, 0), (60.0, 5.0, 1), (50.0, 100.0, 2)])
def test_mains_component_measures_a_known_sinusoid(hz: float, amp_uv: float, seed: int) -> None:
    """A sinusoid of RMS A in white noise: the estimate is A (analytic), the rest is the noise RMS."""
    x = emg(np.zeros((1, int(FS))), FS, seed, noise_uv=5.0, mains_uv=amp_uv, mains_hz=hz)[0]
    m, rest = mains_component(x, FS, hz)
    assert m * 1000 == pytest.approx(amp_uv, rel=0.1)
    assert rest * 1000 == pytest.approx(5.0, rel=0.1)
    other = 60.0 if hz == 50.0 else 50.0
    assert mains_component(x, FS, other)[0] * 1000 < 1.0  # no hum at the other mains frequency


def test_mains_harmonics_count() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(int(FS)) / FS
    x = 0.02 * np.sin(2 * np.pi * 50 * t) + 0.01 * np.sin(2 * np.pi * 150 * t) + rng.normal(0, 1e-3, t.size)
    m, _ = mains_component(x, FS, 50.0)
    assert m == pytest.approx(math.sqrt(0.02**2 / 2 + 0.01**2 / 2), rel=0.05)


def _bp(x: np.ndarray) -> np.ndarray:
    from scipy import signal

    return signal.sosfilt(signal.butter(2, [20, 450], "band", fs=FS, output="sos"), x, axis=1)


@pytest.mark.parametrize(
    ("noise", "mains", "sat", "expect"),
    [
        (3.0, 0.0, 0.0, []),
        (25.0, 0.0, 0.0, ["baseline noise"]),  # 16 µV in band
        (300.0, 0.0, 0.0, ["electrode loose"]),
        (0.0, 0.0, 0.0, ["no signal"]),
        (3.0, 30.0, 0.0, ["mains"]),
        (3.0, 0.0, 0.01, ["rail"]),
    ],
)
def test_emg_checks(noise: float, mains: float, sat: float, expect: list[str]) -> None:
    x = emg(np.zeros((1, 2 * int(FS))), FS, 4, noise_uv=noise, mains_uv=mains)
    checks, problems = emg_readiness(_bp(x)[:, int(FS) :], FS, [sat], names=["vmo"])
    assert len(problems) == len(expect)
    for p, e in zip(problems, expect, strict=True):
        assert p.text.startswith("vmo: ") and e in p.text and p.code.startswith("vmo.")
    in_band = noise**2 * (450 - 20) / (FS / 2)  # white noise keeps the band's share of its power
    assert checks["vmo.noise_uv"] == pytest.approx(math.sqrt(in_band), rel=0.1, abs=0.05)  # without the hum
    assert checks["vmo.mains_uv"] == pytest.approx(mains, rel=0.1, abs=0.3 + 0.1 * noise)


def test_notched_mains_is_reported_not_failed() -> None:
    x = emg(np.zeros((1, 2 * int(FS))), FS, 5, noise_uv=3.0, mains_uv=8.0)
    checks, problems = emg_readiness(
        _bp(x)[:, int(FS) :], FS, [0.0], EmgLimits(max_mains_uv=5.0, mains_notched=True)
    )
    assert problems == [] and checks["ch0.mains_uv"] == pytest.approx(8.0, rel=0.15)


@pytest.mark.parametrize(
    ("acc_scale", "gyro_dps", "shake", "expect"),
    [
        (1.0, 0.5, 0.0, []),
        (1.0, 20.0, 0.0, ["moving"]),
        (1.0, 0.5, 2.0, ["moving"]),
        (1 / 9.81, 0.5, 0.0, ["reads"]),
    ],
)
def test_imu_checks(acc_scale: float, gyro_dps: float, shake: float, expect: list[str]) -> None:
    rng = np.random.default_rng(6)
    n = 200
    acc = np.array([[0.5], [0.3], [9.78]]) * acc_scale + rng.normal(0, 0.02, (3, n))
    acc[0] += shake * np.sin(np.arange(n) / 5)
    gyr = np.full((3, n), math.radians(gyro_dps) / math.sqrt(3))
    _, problems = imu_readiness(acc, gyr, name="imu.thigh.r")
    assert [any(e in p.text for p in problems) for e in expect] == [True] * len(expect) and len(
        problems
    ) == len(expect)
    assert imu_readiness(acc, None)[0].get("gyro_dps") is None


def _kit(emg_noise: float = 3.0, move_until: float = 0.0, seconds: float = 4.0):  # type: ignore[no-untyped-def]
    e = emg_info()
    i = imu_info("imu.thigh.r", "thigh")
    n_e, n_i = int(seconds * e.rate), int(seconds * i.rate)
    x_e = emg(np.zeros((2, n_e)), e.rate, 7, noise_uv=emg_noise)
    t_i = np.arange(n_i) / i.rate
    x_i = np.zeros((6, n_i))
    x_i[2] = 9.81
    moving = t_i < move_until
    x_i[3, moving] = 0.8 * np.sin(2 * np.pi * t_i[moving])  # rad/s
    return {e.id: e, i.id: i}, {e.id: (x_e, e.rate), i.id: (x_i, i.rate)}


def test_gate_passes_on_ready_signals_and_records_it() -> None:
    infos, data = _kit()
    rec = Calibration()
    gate = ReadinessGate(list(infos), record=rec)
    gate.bind(infos)
    assert gate.status() == (StepState.WAITING, "the first second of every signal")
    ev = run(gate, data)
    assert [e.kind for e in ev] == ["readiness.pass"] and gate.open
    assert ev[0].time == pytest.approx(1.0, abs=0.01)
    assert rec.readiness is not None and rec.readiness.state == "pass"
    assert set(rec.readiness.checks) == set(infos) and rec.readiness.checks["emg.r"]["vmo.noise_uv"] < 5


def test_emg_in_raw_counts_is_not_read_as_millivolts() -> None:
    """A Myo's EMG comes in int8 counts with no scale to volts: 3 counts of rest noise are not 3000 µV."""
    fs = 200.0
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(0.0, 3.0, (2, int(3 * fs))))
    chans = tuple(Channel(f"emg{i + 1}", "counts") for i in range(2))
    info = StreamInfo("emg.myo", StreamKind.EMG, chans, fs)
    gate = ReadinessGate([info.id])
    gate.bind({info.id: info})
    ev = run(gate, {info.id: (x, fs)})
    assert [e.kind for e in ev] == ["readiness.pass"], [e.therapist_message for e in ev]
    assert ev[0].payload["checks"][info.id]["emg1.noise_uv"] is None  # not checked, not made up
    # the same numbers in mV are an electrode off, and still are
    in_mv = StreamInfo("emg.mv", StreamKind.EMG, tuple(Channel(c.name, "mV") for c in chans), fs)
    gate = ReadinessGate([in_mv.id])
    gate.bind({in_mv.id: in_mv})
    ev = run(gate, {in_mv.id: (x, fs)})
    assert ev[0].kind == "readiness.fail" and "electrode loose or off" in ev[0].therapist_message
    _, problems = emg_readiness(np.full((1, 200), 127.0), fs, [1.0], scale_uv=[None])
    assert [p.code for p in problems] == ["ch0.saturated"]  # saturation is checked in any unit


def test_gate_fails_while_moving_then_passes() -> None:
    infos, data = _kit(move_until=2.0)
    gate = ReadinessGate(list(infos))
    gate.bind(infos)
    ev = run(gate, data)
    assert [e.kind for e in ev] == ["readiness.fail", "readiness.pass"]
    assert ev[0].payload["problems"] == {"imu.thigh.r": ["imu.thigh.r: moving; hold still"]}
    assert ev[1].time == pytest.approx(3.0, abs=0.01)


def test_gate_stays_closed_on_a_noisy_electrode_until_overridden_with_a_reason() -> None:
    infos, data = _kit(emg_noise=40.0)
    rec = Calibration()
    gate = ReadinessGate(list(infos), record=rec)
    gate.bind(infos)
    ev = run(gate, data)
    assert [e.kind for e in ev] == ["readiness.fail"]  # said once, not every second
    state, why = gate.status()
    assert state is StepState.FAILED and "vmo: baseline noise" in why and "vl: baseline noise" in why
    with pytest.raises(ConfigError):
        gate.override("  ")
    gate.override("dry skin; accepted for today", by="PT Jones")
    (o,) = gate.pop_events()
    assert o.kind == "readiness.override" and gate.open and gate.status()[0] is StepState.OVERRIDDEN
    assert rec.readiness is not None and rec.readiness.override_reason == "dry skin; accepted for today"
    assert "baseline noise" in o.therapist_message
    with pytest.raises(StateError):
        gate.override("again")


def _lossy(stream: str, x: np.ndarray, fs: float, lost: np.ndarray, size: int) -> list[Block]:
    """Blocks of ``size`` samples (one BLE packet each) with the packets flagged in ``lost`` dropped:
    the next block received says how many samples it missed and its times jump over them."""
    out, missed = [], 0
    for j, i in enumerate(range(0, x.shape[1], size)):
        if lost[j]:
            missed += min(size, x.shape[1] - i)
            continue
        n = min(size, x.shape[1] - i)
        out.append(Block(stream, np.arange(i, i + n) / fs, x[:, i : i + n], seq=i, missing_before=missed))
        missed = 0
    return out


def _scattered(n_packets: int, share: float, per: int, seed: int) -> np.ndarray:
    """``share`` of the packets lost in every ``per`` packets (one check window), at random places and
    never two in a row (scattered loss)."""
    rng = np.random.default_rng(seed)
    lost = np.zeros(n_packets, dtype=bool)
    k = round(share * per)
    for w in range(0, n_packets - per + 1, per):
        lost[w + 2 * rng.choice(per // 2, size=k, replace=False) + 1] = True
    return lost


def _gate_on(blocks: list[Block], infos: dict[str, StreamInfo]) -> tuple[ReadinessGate, list]:  # type: ignore[type-arg]
    gate = ReadinessGate(list(infos), window=1.0)
    gate.bind(infos)
    ev = []
    for b in sorted(blocks, key=lambda b: (float(b.times[-1]), b.stream)):
        gate.push(b)
        ev += gate.pop_events()
    return gate, ev


def _rest_emg(seconds: float = 3.0, seed: int = 7) -> tuple[StreamInfo, np.ndarray]:
    e = emg_info()
    return e, emg(np.zeros((2, int(seconds * e.rate))), e.rate, seed, noise_uv=3.0, mains_uv=6.0)


def test_emg_with_two_percent_scattered_packet_loss_passes_with_the_loss_reported() -> None:
    e, x = _rest_emg()
    lost = _scattered(x.shape[1] // 20, 0.02, 100, seed=1)
    gate, ev = _gate_on(_lossy(e.id, x, e.rate, lost, 20), {e.id: e})
    assert [k.kind for k in ev] == ["readiness.pass"] and gate.open
    checks = ev[0].payload["checks"][e.id]
    assert checks["missing"] == pytest.approx(0.02) and checks["longest_hole_s"] == pytest.approx(0.01)
    # the checks still read the signal, not the holes: 3 µV of noise (band share 2 µV) and 6 µV of hum
    assert checks["vmo.noise_uv"] < 3.0 and checks["vmo.mains_uv"] == pytest.approx(6.0, abs=1.0)


@pytest.mark.parametrize("share", [0.02, 0.05, 0.10])
def test_packet_loss_below_the_limit_leaves_the_noise_and_mains_estimates_where_they_were(
    share: float,
) -> None:
    e, x = _rest_emg(seed=11)
    _, ev0 = _gate_on(_lossy(e.id, x, e.rate, np.zeros(x.shape[1] // 20, dtype=bool), 20), {e.id: e})
    lost = _scattered(x.shape[1] // 20, share, 100, seed=2)
    _, ev = _gate_on(_lossy(e.id, x, e.rate, lost, 20), {e.id: e})
    clean, lossy = ev0[0].payload["checks"][e.id], ev[0].payload["checks"][e.id]
    for key in ("vmo.noise_uv", "vl.noise_uv", "vmo.mains_uv", "vl.mains_uv"):
        assert lossy[key] == pytest.approx(clean[key], abs=1.0), (key, clean[key], lossy[key])


def test_emg_with_fifteen_percent_loss_fails_and_says_how_much_was_missing() -> None:
    e, x = _rest_emg()
    lost = _scattered(x.shape[1] // 20, 0.15, 100, seed=3)
    gate, ev = _gate_on(_lossy(e.id, x, e.rate, lost, 20), {e.id: e})
    assert [k.kind for k in ev] == ["readiness.fail"] and not gate.open
    (text,) = ev[0].payload["problems"][e.id]  # only the loss: the signal itself is ready
    assert text.startswith("emg.r: 1") and "% of samples missing (limit 10 %)" in text
    assert (
        text.startswith("emg.r: 15 % of samples missing") and ev[0].payload["checks"][e.id]["missing"] == 0.15
    )


def test_one_emg_hole_of_0_4_s_fails_even_when_little_is_missing_overall() -> None:
    e, x = _rest_emg(seconds=4.0)
    lost = np.zeros(x.shape[1] // 20, dtype=bool)
    lost[30:70] = True  # 10 ms packets: 0.4 s from 0.3 s, 40 % of the first second (both limits crossed)
    _gate, ev = _gate_on(_lossy(e.id, x, e.rate, lost, 20), {e.id: e})
    assert ev[0].kind == "readiness.fail"
    assert any(
        "no samples for 0.40 s in one stretch (limit 0.25 s)" in p for p in ev[0].payload["problems"][e.id]
    )
    assert ev[-1].kind == "readiness.pass"  # the next full second without a hole passes


def test_emg_hole_alone_fails_when_the_share_missing_is_under_the_limit() -> None:
    e, x = _rest_emg(seconds=3.0)
    limits = EmgLimits(max_missing=0.5)  # so that only the hole can fail it
    gate = ReadinessGate([e.id], emg=limits)
    gate.bind({e.id: e})
    lost = np.zeros(x.shape[1] // 20, dtype=bool)
    lost[30:70] = True
    ev = []
    for b in _lossy(e.id, x, e.rate, lost, 20):
        gate.push(b)
        ev += gate.pop_events()
    (text,) = ev[0].payload["problems"][e.id]
    assert ev[0].kind == "readiness.fail" and "no samples for 0.40 s" in text


def test_imu_with_ten_percent_loss_passes_and_the_loss_is_reported() -> None:
    infos, data = _kit()
    i = infos["imu.thigh.r"]
    x, fs = data[i.id]
    lost = _scattered(x.shape[1] // 4, 0.10, 50, seed=4)  # 20 ms packets of 4 samples at 200 Hz
    gate, ev = _gate_on(_lossy(i.id, x, fs, lost, 4), {i.id: i})
    assert [k.kind for k in ev] == ["readiness.pass"] and gate.open
    checks = ev[0].payload["checks"][i.id]
    assert checks["missing"] == pytest.approx(0.10) and checks["longest_hole_s"] == pytest.approx(0.02)
    assert ev[0].payload["problems"] == {}
    assert "samples lost (not a failure): imu.thigh.r 10 %" in ev[0].therapist_message


def test_imu_with_a_long_hole_still_passes_but_says_so() -> None:
    infos, data = _kit()
    i = infos["imu.thigh.r"]
    x, fs = data[i.id]
    lost = np.zeros(x.shape[1] // 4, dtype=bool)
    lost[10:30] = True  # 0.4 s
    _gate, ev = _gate_on(_lossy(i.id, x, fs, lost, 4), {i.id: i})
    assert [k.kind for k in ev] == ["readiness.pass"]
    assert ev[0].payload["checks"][i.id]["longest_hole_s"] == pytest.approx(0.4)


def test_a_stream_silent_for_a_whole_window_cannot_be_checked() -> None:
    infos, data = _kit(seconds=5.0, move_until=1.0)  # the first second fails (moving) ...
    i = infos["imu.thigh.r"]
    x, fs = data[i.id]
    gate = ReadinessGate([i.id])
    gate.bind({i.id: i})
    gate.push(Block(i.id, np.arange(200) / fs, x[:, :200]))
    gate.push(
        Block(i.id, (np.arange(10) + 600) / fs, x[:, 600:610], missing_before=400)
    )  # ... then 2 s silent
    fail, silent = gate.pop_events()
    assert fail.kind == silent.kind == "readiness.fail" and "moving" in fail.payload["problems"][i.id][0]
    assert silent.payload["problems"][i.id] == ["imu.thigh.r: no samples for 2.0 s; check the link"]
    assert silent.time == pytest.approx(1.995) and not gate.open  # the end of the empty second


def test_non_finite_imu_samples_fail_the_stretch() -> None:
    infos, data = _kit()
    i = infos["imu.thigh.r"]
    x, fs = data[i.id]
    x = x.copy()
    x[0, 50] = np.nan
    _gate, ev = _gate_on([Block(i.id, np.arange(200) / fs, x[:, :200])], {i.id: i})
    assert ev[0].kind == "readiness.fail" and "not finite" in ev[0].payload["problems"][i.id][0]


class _Counter(Node):
    inputs = ("emg.r",)
    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    def bind(self, infos):  # type: ignore[no-untyped-def]
        return []

    def push(self, block):  # type: ignore[no-untyped-def]
        self.n += block.n_samples
        return []


def test_gated_node_sees_nothing_before_the_gate_opens() -> None:
    infos, data = _kit(move_until=2.0)
    gate = ReadinessGate(list(infos))
    gate.bind(infos)
    inner = _Counter()
    gated = Gated(inner, gate)
    x, fs = data["emg.r"]
    for i in range(0, x.shape[1], 20):
        for sid, (xs, f) in data.items():
            j0, j1 = round(i / fs * f), round((i + 20) / fs * f)
            if j1 > j0:
                gate.push(Block(sid, np.arange(j0, j1) / f, xs[:, j0:j1]))
        gated.push(Block("emg.r", np.arange(i, i + 20) / fs, x[:, i : i + 20]))
    assert gate.open and 0 < inner.n <= x.shape[1] - int(3.0 * fs) + 40


class _Recorder(Node):
    """Keeps every sample time it is given, per stream, and the events."""

    def __init__(self, inputs: tuple[str, ...]) -> None:
        self.inputs, self.name = inputs, "recorder"
        self.times: dict[str, list[float]] = {s: [] for s in inputs}
        self.events: list[float] = []

    def bind(self, infos):  # type: ignore[no-untyped-def]
        return []

    def push(self, block: Block) -> list[Block]:
        self.times[block.stream] += block.times.tolist()
        return []

    def on_event(self, event: Event) -> None:
        self.events.append(event.time)


def _feed(data, order: str, seconds_per_block: dict[str, float]):  # type: ignore[no-untyped-def]
    """Run the gate and a gated recorder on ``data``, each stream cut in its own blocks, in ``order``:
    ``"even"`` interleaves the streams by time; ``"imu_first"`` delivers the whole IMU stream (the
    EMG's first 1.2 s excepted) before the rest of the EMG, as a live inlet that runs ahead does."""
    infos = {sid: info for sid, info in data[0].items()}
    gate = ReadinessGate(list(infos))
    gate.bind(infos)
    rec = _Recorder(tuple(infos))
    gated = Gated(rec, gate)
    blocks = []
    for sid, (x, fs) in data[1].items():
        n = round(seconds_per_block[sid] * fs)
        for j in range(0, x.shape[1], n):
            blocks.append(Block(sid, np.arange(j, min(j + n, x.shape[1])) / fs, x[:, j : j + n]))
    if order == "even":
        blocks.sort(key=lambda b: float(b.times[-1]))
    else:
        early = [b for b in blocks if b.stream == "emg.r" and b.times[-1] < 1.2]
        imu = [b for b in blocks if b.stream != "emg.r"]
        rest = [b for b in blocks if b.stream == "emg.r" and b.times[-1] >= 1.2]
        blocks = early + imu + rest
    raised = []
    for b in blocks:
        gate.push(b)
        for ev in gate.pop_events():  # readiness.pass
            gated.on_event(ev)
            raised.append(ev.time)
        gated.push(b)
        # an event of a free node (an onset, say) at each block's end, as it would be raised
        gated.on_event(Event(float(b.times[-1]), "emg.onset", "onsets", {}))
        raised.append(float(b.times[-1]))
    assert gate.open
    return gate, rec, raised


def test_gated_node_sees_the_same_samples_from_the_opening_time_however_they_arrive() -> None:
    """Live streams do not arrive evenly: one inlet delivers seconds before another reaches the gate's
    opening time. The gated node must still see every sample and event from that time on, and none
    before it (a trunk rule missed rep 1's start over LSL while the slower stream caught up)."""
    data = _kit(seconds=4.0)
    g1, even, raised1 = _feed(data, "even", {"emg.r": 0.01, "imu.thigh.r": 0.01})
    g2, ahead, raised2 = _feed(data, "imu_first", {"emg.r": 0.5, "imu.thigh.r": 0.25})
    assert g1.opened_at == g2.opened_at == pytest.approx(1.0, abs=0.01)
    at = g1.opened_at
    for sid, (x, fs) in data[1].items():
        want = [t for t in (np.arange(x.shape[1]) / fs).tolist() if t >= at]
        assert even.times[sid] == want and ahead.times[sid] == want, sid
    # every event from the opening time on, in the order raised, and none before it
    assert even.events == [t for t in raised1 if t >= at]
    assert ahead.events == [t for t in raised2 if t >= at]


def test_gate_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        ReadinessGate([])
    with pytest.raises(ConfigError):
        ReadinessGate(["a"], window=0.1)
    angle = StreamInfo("angle.knee", StreamKind.ANGLE, (Channel("flexion", "deg"),), 100.0)
    with pytest.raises(ConfigError, match="expected an EMG, IMU or accelerometer stream"):
        ReadinessGate(["angle.knee"]).bind({"angle.knee": angle})
    with pytest.raises(ConfigError, match="known"):
        ReadinessGate(["nope"]).bind({"angle.knee": angle})
    slow = emg_info(fs=40.0)
    with pytest.raises(ConfigError, match="rate"):
        ReadinessGate([slow.id]).bind({slow.id: slow})

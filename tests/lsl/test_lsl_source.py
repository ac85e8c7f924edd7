"""LslSource against real LSL outlets on the loopback interface: values, units, times, loss, restarts."""

from __future__ import annotations

import math

import numpy as np
import pylsl
import pytest
from tests.lsl.conftest import collect, outlet, regular_stamps, unique

from nmre.acquisition.lsl import LslSource, LslSpec, lsl_clock_offset
from nmre.core import kinds
from nmre.core.clock import RealClock
from nmre.core.model import Side, StreamKind
from nmre.errors import ConfigError, DeviceError

pytestmark = pytest.mark.timeout(60)


def test_emg_values_units_and_times_reach_the_session_clock() -> None:
    name = unique("emg")
    out = outlet(name, "EMG", 2, 500.0, labels=["VMO_R", "VL_R"], units=["microvolts", "microvolts"])
    clock = RealClock()
    with LslSource([LslSpec(name=name, muscles=(_p("vmo.r"), _p("vl.r")))]) as source:
        (info,) = source.streams
        assert info.kind is StreamKind.EMG
        assert info.rate == 500.0
        assert [c.name for c in info.channels] == ["vmo_r", "vl_r"]
        assert [c.unit for c in info.channels] == ["mV", "mV"]
        assert info.channels[0].placement is not None and info.channels[0].placement.muscle == "vmo"
        assert info.channels[1].placement is not None and info.channels[1].placement.side is Side.RIGHT
        assert source.assumptions == []
        source.start(clock)
        t0 = pylsl.local_clock()
        data = np.vstack([np.arange(1000.0), -np.arange(1000.0)]).T * 10.0  # µV
        stamps = regular_stamps(t0, 1000, 500.0)
        for k in range(0, 1000, 50):  # chunks, as amplifiers push them
            out.push_chunk(data[k : k + 50], stamps[k : k + 50])
        got = collect(source, lambda g: g.samples(info.id) >= 1000)
        offset = lsl_clock_offset(clock.now)
    values = got.values(info.id)
    np.testing.assert_allclose(values[0], np.arange(1000.0) * 10.0e-3, rtol=1e-6)  # µV → mV
    np.testing.assert_allclose(values[1], -np.arange(1000.0) * 10.0e-3, rtol=1e-6)
    # on the session clock: the outlet's stamps plus one offset, to well under a sample period
    np.testing.assert_allclose(got.times(info.id), np.asarray(stamps) + offset, atol=2e-4)
    assert all(b.missing_before == 0 for b in got.blocks)
    assert got.kinds(kinds.STREAM_GAP) == []
    assert got.blocks[0].seq == 0


def test_a_jittered_push_is_dejittered_onto_a_regular_grid() -> None:
    """Stamps late by a random non-negative delay (a producer's push jitter) come out regular."""
    name = unique("jitter")
    rate = 200.0
    out = outlet(name, "Angle", 1, rate, labels=["flexion"], units=["degrees"])
    rng = np.random.default_rng(1)
    with LslSource([LslSpec(name=name)]) as source:
        (info,) = source.streams
        assert info.kind is StreamKind.ANGLE and info.channels[0].unit == "deg"
        clock = RealClock()
        source.start(clock)
        t0 = pylsl.local_clock()
        n = 4000  # 20 s of samples, pushed at once with their stamps
        for k in range(0, n, 10):  # each chunk's stamps late by up to 8 ms, as a busy producer's are
            late = float(rng.uniform(0, 0.008))
            out.push_chunk(np.arange(k, k + 10, dtype=float)[:, None], regular_stamps(t0 + late, 10, rate, k))
        got = collect(source, lambda g: g.samples(info.id) >= n)
        offset = lsl_clock_offset(clock.now)
    error = got.times(info.id) - (np.asarray(regular_stamps(t0, n, rate)) + offset)
    # raw stamps are late by 0-8 ms (4 ms on average); the lower envelope puts samples within
    # 0.5 ms of when they were taken once it has seen a few seconds, and never early
    assert np.abs(error[int(rate * 5) :]).max() < 5e-4
    assert error.min() > -2e-4
    assert got.kinds(kinds.STREAM_GAP) == []


def test_lost_samples_are_a_gap_event_and_missing_before() -> None:
    name = unique("loss")
    rate = 100.0
    out = outlet(name, "EMG", 1, rate, labels=["vmo"], units=["mV"])
    with LslSource([LslSpec(name=name)]) as source:
        (info,) = source.streams
        source.start(RealClock())
        t0 = pylsl.local_clock()
        out.push_chunk(np.zeros((300, 1)), regular_stamps(t0, 300, rate))
        # the producer lost 40 samples (e.g. its radio dropped them): the stamps jump 0.4 s
        out.push_chunk(np.ones((200, 1)), regular_stamps(t0, 200, rate, first=340))
        got = collect(source, lambda g: g.samples(info.id) >= 500)
    (gap,) = got.kinds(kinds.STREAM_GAP)
    assert gap.source == info.id
    assert gap.payload["missing"] == 40
    assert gap.payload["seconds"] == pytest.approx(0.4)
    after = [b for b in got.blocks if b.missing_before]
    assert len(after) == 1 and after[0].missing_before == 40
    assert after[0].values[0, 0] == 1.0  # the block after the gap starts with the first sample after it
    assert after[0].seq == 340  # the sample counter counts the missing samples
    assert source.counters()[info.id] == {"samples": 500, "missing": 40, "reconnects": 0}


def test_a_restarted_outlet_is_found_again_and_the_outage_is_one_gap() -> None:
    name = unique("restart")
    rate = 100.0
    sid = f"sid-{name}"
    out = outlet(name, "EMG", 1, rate, labels=["vl"], units=["mV"], source_id=sid)
    with LslSource([LslSpec(name=name)], resolve_timeout=5.0) as source:
        (info,) = source.streams
        source.start(RealClock())
        t0 = pylsl.local_clock()
        out.push_chunk(np.zeros((100, 1)), regular_stamps(t0, 100, rate))
        got = collect(source, lambda g: g.samples(info.id) >= 100)
        del out  # the amplifier's program ends: liblsl closes the outlet
        got = collect(source, lambda g: bool(g.kinds(kinds.DEVICE_DISCONNECT)), got)
        out = outlet(name, "EMG", 1, rate, labels=["vl"], units=["mV"], source_id=sid)  # ... and starts again
        got = collect(source, lambda g: bool(g.kinds(kinds.DEVICE_RECONNECT)), got)
        # 1.5 s of samples never reached nmre while it was away
        out.push_chunk(np.ones((100, 1)), regular_stamps(t0, 100, rate, first=250))
        got = collect(source, lambda g: g.samples(info.id) >= 200, got)
    (gap,) = got.kinds(kinds.STREAM_GAP)
    assert gap.payload["missing"] == 150
    assert got.kinds(kinds.DEVICE_RECONNECT)[0].payload["outage"] > 0
    times = got.times(info.id)
    assert np.all(np.diff(times) > 0)
    assert times[100] - times[99] == pytest.approx(1.51, abs=2e-3)
    assert source.counters()[info.id]["reconnects"] == 1


def test_a_restarted_outlet_with_other_channels_is_refused_not_mixed_in() -> None:
    name = unique("changed")
    out = outlet(name, "EMG", 1, 100.0, labels=["vl"], units=["mV"])
    with LslSource([LslSpec(name=name)]) as source:
        source.start(RealClock())
        del out
        got = collect(source, lambda g: bool(g.kinds(kinds.DEVICE_DISCONNECT)))
        _other = outlet(name, "EMG", 2, 100.0, labels=["vl", "vmo"], units=["mV", "mV"])
        got = collect(source, lambda g: bool(g.kinds(kinds.DEVICE_ERROR)), got)
    (error,) = got.kinds(kinds.DEVICE_ERROR)
    assert "other channels" in error.payload["message"]


def test_imu_channels_found_by_label_with_units_converted() -> None:
    name = unique("imu")
    labels = ["GyroX", "GyroY", "GyroZ", "AccX", "AccY", "AccZ", "MagX", "MagY", "MagZ"]
    units = ["deg/s"] * 3 + ["g"] * 3 + ["uT"] * 3
    out = outlet(name, "IMU", 9, 100.0, labels=labels, units=units)
    with LslSource([LslSpec(name=name, placement=_p("thigh.r"), id="imu.thigh")]) as source:
        (info,) = source.streams
        assert info.id == "imu.thigh" and info.kind is StreamKind.IMU
        assert info.channel_names == ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
        assert info.placement is not None and info.placement.segment == "thigh"
        assert any("MagX" in a and "not used" in a for a in source.assumptions)
        source.start(RealClock())
        sample = [90.0, 0.0, -180.0, 0.0, 0.0, 1.0, 30.0, 30.0, 30.0]
        out.push_chunk(np.tile(sample, (20, 1)), regular_stamps(pylsl.local_clock(), 20, 100.0))
        got = collect(source, lambda g: g.samples(info.id) >= 20)
    np.testing.assert_allclose(
        got.values(info.id)[:, 0], [0, 0, 9.80665, math.pi / 2, 0, -math.pi], rtol=1e-6, atol=1e-12
    )


def test_unlabelled_channels_and_a_missing_unit_are_stated_assumptions() -> None:
    name = unique("bare")
    _out = outlet(name, "IMU", 6, 50.0)
    with LslSource([LslSpec(name=name)]) as source:
        notes = source.assumptions
        assert any("assumed they come in that order" in n for n in notes)
        assert any("gives no unit: assumed m/s^2" in n for n in notes)
        assert any("gives no unit: assumed rad/s" in n for n in notes)
        source.start(RealClock())
        got = collect(source, lambda g: len(g.kinds(kinds.LSL_ASSUMPTION)) >= len(notes))
    assert {e.payload["assumption"] for e in got.kinds(kinds.LSL_ASSUMPTION)} == set(notes)


def test_an_emg_stream_without_units_is_taken_as_microvolts_and_says_so() -> None:
    name = unique("emgbare")
    _out = outlet(name, "EMG", 1, 1000.0)
    with LslSource([LslSpec(name=name)]) as source:
        assert source.assumptions == [
            f"LSL stream {name!r} gives no unit: assumed microvolts (the XDF meta-data default)"
        ]
        assert source.streams[0].channels[0].name == "ch1"


def test_an_unknown_unit_is_refused_naming_the_units_known() -> None:
    name = unique("furlong")
    _out = outlet(name, "EMG", 1, 1000.0, labels=["vmo"], units=["furlongs"])
    with pytest.raises(
        DeviceError, match=r"'furlongs', a unit nmre does not know for emg: expected one of .*mv.*uv"
    ):
        LslSource([LslSpec(name=name)])
    # ... unless the therapist states the unit
    with LslSource([LslSpec(name=name, unit="uV")]) as source:
        assert source.streams[0].channels[0].unit == "mV"


def test_an_irregular_numeric_stream_is_refused_unless_a_rate_is_stated() -> None:
    name = unique("irregular")
    out = outlet(name, "Angle", 1, pylsl.IRREGULAR_RATE, labels=["flexion"], units=["deg"])
    with pytest.raises(DeviceError, match=r"irregular rate .* state its rate with rate=HZ"):
        LslSource([LslSpec(name=name)])
    with LslSource([LslSpec(name=name, rate=60.0)]) as source:
        (info,) = source.streams
        assert info.rate == 60.0
        assert any("its own time stamps are kept" in a for a in source.assumptions)
        clock = RealClock()
        source.start(clock)
        t0 = pylsl.local_clock()
        stamps = [t0, t0 + 0.01, t0 + 0.05, t0 + 0.051]  # irregular, kept as they are
        out.push_chunk(np.arange(4.0)[:, None], stamps)
        got = collect(source, lambda g: g.samples(info.id) >= 4)
        offset = lsl_clock_offset(clock.now)
    np.testing.assert_allclose(got.times(info.id), np.asarray(stamps) + offset, atol=2e-4)


def test_a_stream_far_off_its_nominal_rate_keeps_its_own_stamps_and_says_so() -> None:
    name = unique("offrate")
    out = outlet(name, "EMG", 1, 100.0, labels=["vl"], units=["mV"])  # says 100 Hz, delivers 80
    with LslSource([LslSpec(name=name)]) as source:
        (info,) = source.streams
        source.start(RealClock())
        t0 = pylsl.local_clock()
        out.push_chunk(np.zeros((800, 1)), regular_stamps(t0, 800, 80.0))
        got = collect(
            source,
            lambda g: g.samples(info.id) >= 800 and any("measured_rate" in e.payload for e in g.events),
        )
    (note,) = [e for e in got.kinds(kinds.LSL_ASSUMPTION) if "measured_rate" in e.payload]
    assert note.payload["measured_rate"] == pytest.approx(80.0, rel=0.02)
    assert "against its nominal 100 Hz" in note.therapist_message


def test_markers_become_events_at_their_time() -> None:
    name = unique("markers")
    out = outlet(name, "Markers", 1, pylsl.IRREGULAR_RATE, fmt="string")
    clock = RealClock()
    with LslSource([LslSpec(name=name)]) as source:
        assert source.streams == [] and source.marker_streams[0].kind is StreamKind.MARKER
        source.start(clock)
        t = pylsl.local_clock()
        out.push_sample(["trial 1 start"], t)
        out.push_sample(["trial 1 end"], t + 2.0)
        got = collect(source, lambda g: len(g.kinds(kinds.LSL_MARKER)) >= 2)
        offset = lsl_clock_offset(clock.now)
    first, second = got.kinds(kinds.LSL_MARKER)
    assert (first.payload["value"], second.payload["value"]) == ("trial 1 start", "trial 1 end")
    assert second.time - first.time == pytest.approx(2.0, abs=1e-6)
    assert first.time == pytest.approx(t + offset, abs=2e-4)


@pytest.mark.parametrize(
    ("type_", "message"),
    [("EEG", "has type 'EEG'; nmre takes EMG, IMU"), ("IMU", "expected channels labelled acc_x")],
)
def test_streams_nmre_cannot_take_are_refused_with_a_message(type_: str, message: str) -> None:
    name = unique("refused")
    _out = outlet(name, type_, 4, 100.0, labels=["a", "b", "c", "d"], units=["uV"] * 4)
    with pytest.raises(DeviceError, match=message):
        LslSource([LslSpec(name=name)])


def test_a_stream_that_is_not_there_is_one_clear_error_before_the_session() -> None:
    with pytest.raises(DeviceError, match=r"no LSL stream matches name='nobody-here' within 0.2 s"):
        LslSource([LslSpec(name="nobody-here")], resolve_timeout=0.2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected at least one of name, type"),
        ("name=x,colour=red", "keys name, type"),
        ("name=x,rate=fast", "rate expected a number"),
        ("name=x,rate=-3", "expected a rate > 0 Hz"),
        ("name=x,kind=eeg", "kind: expected one of emg, imu"),
        ("name=x,placement=thigh.q", "expected a side r, l or m"),
        ("name=x,muscles=vmo.r+3", "expected a segment or muscle name"),
    ],
)
def test_bad_lsl_in_options_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LslSpec.parse(text)


def test_lsl_in_options_parse_into_a_spec() -> None:
    spec = LslSpec.parse("name=Trigno,type=EMG,kind=emg,unit=uV,muscles=vmo.r+vl.r,gap=0.05,id=emg.r")
    assert spec.predicate() == "name='Trigno' and type='EMG'"
    assert spec.kind is StreamKind.EMG and spec.unit == "uV" and spec.gap_threshold == 0.05
    assert [m.muscle for m in spec.muscles] == ["vmo", "vl"]
    assert LslSpec(name="it's").predicate() == 'name="it\'s"'


def _p(text: str):
    from nmre.acquisition.lsl import _placement

    return _placement(text, "test")


def test_emg_muscles_named_in_channel_labels_are_placed_and_said_so() -> None:
    name = unique("labelled")
    _out = outlet(name, "EMG", 3, 1000.0, labels=["VMO_R", "vl left", "Trigger"], units=["uV"] * 3)
    with LslSource([LslSpec(name=name)]) as source:
        (info,) = source.streams
        placements = [c.placement for c in info.channels]
        assert placements[0] is not None and (placements[0].muscle, placements[0].side) == ("vmo", Side.RIGHT)
        assert placements[1] is not None and (placements[1].muscle, placements[1].side) == ("vl", Side.LEFT)
        assert placements[2] is None  # not a muscle nmre knows: no guess
        assert [a for a in source.assumptions if "placement taken from its label" in a] == [
            f"LSL stream {name!r} channel VMO_R: placement taken from its label (right vmo)",
            f"LSL stream {name!r} channel vl left: placement taken from its label (left vl)",
        ]

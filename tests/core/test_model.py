import json
import math

import numpy as np
import pytest

from nmre import Block, Channel, Event, Placement, Side, SignalState, StreamInfo, StreamKind
from nmre.errors import InputError


def _info(**kw):
    base = dict(
        id="imu.thigh.r",
        kind=StreamKind.IMU,
        channels=(Channel("acc_x", "m/s^2"), Channel("gyr_x", "rad/s")),
        rate=100.0,
        placement=Placement(segment="thigh", side=Side.RIGHT),
        device="sim",
    )
    base.update(kw)
    return StreamInfo(**base)


def test_stream_info_round_trips_through_dict_and_json():
    info = _info(channels=(Channel("vmo", "mV", Placement(muscle="vmo", side=Side.RIGHT)),), kind="emg")
    d = json.loads(json.dumps(info.to_dict()))
    assert StreamInfo.from_dict(d) == info
    assert info.kind is StreamKind.EMG
    assert info.n_channels == 1 and info.channel_names == ("vmo",)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"id": ""}, "non-empty stream id"),
        ({"kind": "eeg-ish"}, "stream kind"),
        ({"channels": ()}, "at least one channel"),
        ({"rate": -1.0}, "rate >= 0"),
        ({"rate": math.nan}, "rate >= 0"),
    ],
)
def test_stream_info_rejects_bad_values_with_a_message(kw, needle):
    with pytest.raises(InputError, match=needle):
        _info(**kw)


def test_block_shapes_and_properties():
    b = Block("s", np.array([0.0, 0.01, 0.02]), np.zeros((2, 3)), seq=5, missing_before=1, arrival=0.03)
    assert (b.n_samples, b.n_channels, b.end_time) == (3, 2, 0.02)
    assert Block.empty("s", 4).values.shape == (4, 0)
    assert math.isnan(Block.empty("s", 1).end_time)


@pytest.mark.parametrize(
    ("times", "values", "needle"),
    [
        (np.zeros((1, 3)), np.zeros((1, 3)), "1-D"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros(3), np.zeros((1, 4)), "3 samples"),
        ([0.0, 1.0], np.zeros((1, 2)), "1-D"),
    ],
)
def test_block_rejects_wrong_shapes_naming_expected_and_got(times, values, needle):
    with pytest.raises(InputError, match=needle):
        Block("s", times, values)


def test_block_rejects_negative_missing():
    with pytest.raises(InputError, match="missing_before >= 0"):
        Block("s", np.zeros(1), np.zeros((1, 1)), missing_before=-1)


def test_event_json_is_deterministic_and_plain():
    e = Event(
        time=1.5,
        kind="rule.squat_depth",
        source="rule.squat_depth",
        payload={"ok": np.bool_(False), "value": np.float64(55.25), "arr": np.arange(2), "nan": math.nan},
        patient_message="Go a little deeper",
        therapist_message="peak 55 < 80",
    )
    s = e.to_json()
    assert s == e.to_json()
    d = json.loads(s)
    assert d["payload"] == {"ok": False, "value": 55.25, "arr": [0, 1], "nan": None}
    assert d["detected_at"] is None
    assert list(d) == sorted(d)


@pytest.mark.parametrize(
    ("value", "lo", "hi", "expected"),
    [
        (5.0, 0.0, 10.0, True),
        (11.0, 0.0, 10.0, False),
        (-1.0, 0.0, None, False),
        (3.0, None, None, None),
        (math.nan, 0.0, 1.0, None),
    ],
)
def test_signal_state_zone(value, lo, hi, expected):
    assert SignalState("x", value, "deg", lo, hi).in_zone is expected

"""Movesense GSP decoder: vectors built from the GSP spec's documented layouts, round trips, errors.

GSP (movesense.com/docs/esw/gatt_sensordata_protocol): commands ``[cmd, ref, data]`` with
SUBSCRIBE = 1 + ASCII path (e.g. ``01 63 "/Meas/Acc/52"``); notifications ``[1, ref, u16 status]``
(``01 ref FB 01`` = 507) and ``[2, ref, payload]``; measurement payloads ``u32 LE ms timestamp`` +
float32 LE arrays (acc[N], gyro[N], magn[N]).
"""

from __future__ import annotations

import asyncio
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.acquisition.profiles.movesense import (
    COMMAND_UUID,
    DATA_UUID,
    MovesenseProfile,
    decode_measurement,
    resource_path,
)
from nmre.core.model import StreamKind
from nmre.errors import DeviceError, ProtocolError
from nmre.sim.devices.movesense import encode_measurement

pytestmark = pytest.mark.timeout(60)


def started(config=None, refs=(1,)):
    """A profile that believes its subscriptions succeeded (as after start())."""
    profile = MovesenseProfile(config)
    for ref in refs:
        profile.configure(ref)
    return profile


def test_golden_acc_packet():
    # ref 0x63, timestamp 0x00012345 ms, two samples (1.0, -2.5, 9.81) and (0, 0.5, -1)
    payload = struct.pack("<I6f", 0x12345, 1.0, -2.5, 9.81, 0.0, 0.5, -1.0)
    ts, v = decode_measurement("Acc", payload)
    assert ts == 0x12345
    np.testing.assert_allclose(v, np.array([[1.0, 0.0], [-2.5, 0.5], [9.81, -1.0]], dtype=np.float32))


def test_golden_imu9_packet_array_order():
    # N = 2: acc[2] then gyro[2] then magn[2]
    acc = [(1, 2, 3), (4, 5, 6)]
    gyro = [(90, 0, -90), (0, 180, 0)]
    magn = [(20, -5, 40), (21, -6, 41)]
    flat = [x for arr in (acc, gyro, magn) for s in arr for x in s]
    data = bytes([2, 1]) + struct.pack("<I18f", 1000, *flat)
    imu, mag = started({"subscriptions": {"imu9": 52}}).decode(DATA_UUID, data)
    assert (imu.stream, mag.stream) == ("imu", "mag")
    np.testing.assert_allclose(imu.values[:3], np.array(acc).T)
    np.testing.assert_allclose(imu.values[3:], np.radians(np.array(gyro).T))
    np.testing.assert_allclose(mag.values, np.array(magn).T)
    np.testing.assert_allclose(imu.device_time, [1.0, 1.0 + 1 / 52])


def test_golden_ecg_packet_in_mv():
    data = bytes([2, 1]) + struct.pack("<I4i", 500, 1000, -250, 0, 2**31 - 1)
    (ecg,) = started({"subscriptions": {"ecg": 250}}).decode(DATA_UUID, data)
    np.testing.assert_allclose(ecg.values, [[1.0, -0.25, 0.0, (2**31 - 1) * 1e-3]])


def test_commands_and_paths():
    assert resource_path("IMU6", 104) == "/Meas/IMU6/104"
    info = MovesenseProfile({"subscriptions": {"imu9": 208, "ecg": 125}}).streams("Movesense 1")
    assert set(info) == {"imu", "mag", "ecg"}
    assert info["imu"].kind is StreamKind.IMU and info["imu"].rate == 208 and info["ecg"].rate == 125


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["Acc", "IMU6", "IMU9"]),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_float32_round_trip(resource, n, ts, data):
    width = {"Acc": 3, "IMU6": 6, "IMU9": 9}[resource]
    floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
    values = np.array(data.draw(st.lists(floats, min_size=width * n, max_size=width * n))).reshape(width, n)
    packet = encode_measurement(5, ts, values, resource)
    got_ts, got = decode_measurement(resource, packet[2:])
    assert got_ts == ts
    np.testing.assert_array_equal(got, values)


def test_timestamp_wrap_is_unwrapped():
    profile = started({"subscriptions": {"acc": 13}})
    sample = np.zeros((3, 1))
    t1 = profile.decode(DATA_UUID, encode_measurement(1, 2**32 - 30, sample, "Acc"))[0].device_time
    t2 = profile.decode(DATA_UUID, encode_measurement(1, 47, sample, "Acc"))[0].device_time
    assert t2[0] - t1[0] == pytest.approx(0.077, abs=2.5e-3)


def test_ms_quantised_timestamps_stay_on_a_smooth_grid_at_high_rate():
    profile = started({"subscriptions": {"imu6": 833}})
    rate_true = 833 * (1 + 40e-6)
    n = 4
    times = []
    for p in range(400):
        ms = math.floor(p * n / rate_true * 1000)
        (d,) = profile.decode(DATA_UUID, encode_measurement(1, ms, np.zeros((6, n)), "IMU6"))
        times.append(d.device_time)
    steps = np.diff(np.concatenate(times))
    assert np.all(np.abs(steps - 1 / 833) < 0.3 / 833)  # never a false gap or duplicate


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x02", r"movesense: notification expected >= 2 bytes \(type, reference\), got 1"),
        (b"\x04\x01abc", r"expected a DATA or DATA_PART2 notification \(type 2 or 3\), got 'type 4'"),
        (b"\x03\x01abc", r"DATA_PART2 for reference 1 expected a first part, got 'none'"),
        (b"\x02\x09" + bytes(16), r"DATA expected a subscribed reference, got 9"),
        (b"\x02\x01\x00\x00", r"Acc data expected >= 4 bytes \(u32 timestamp\), got 2"),
        (b"\x02\x01" + bytes(4), r"multiple of 12 sample bytes, got 4"),
    ],
)
def test_malformed_packets_raise_protocol_error(data, match):
    with pytest.raises(ProtocolError, match=match):
        started({"subscriptions": {"acc": 52}}).decode(DATA_UUID, data)


def test_partial_samples_are_a_protocol_error_once_complete():
    with pytest.raises(
        ProtocolError, match=r"Acc data expected a timestamp \+ a multiple of 12 sample bytes, got 17"
    ):
        decode_measurement("Acc", bytes(17))
    profile = started({"subscriptions": {"acc": 52}})
    assert profile.decode(DATA_UUID, b"\x02\x01" + bytes(17)) == []  # waits for its DATA_PART2
    with pytest.raises(ProtocolError, match="multiple of 12 sample bytes, got 18"):
        profile.decode(DATA_UUID, b"\x03\x01\x00")


def test_payload_split_over_data_part2_is_joined():
    profile = started({"subscriptions": {"imu9": 208}})
    values = np.arange(9 * 16, dtype=np.float64).reshape(9, 16)
    packet = encode_measurement(1, 777, values, "IMU9")  # 6 + 576 bytes: two notifications at MTU 247
    first, rest = packet[:244], bytes([3, 1]) + packet[244:]
    assert profile.decode(DATA_UUID, first) == []
    imu, mag = profile.decode(DATA_UUID, rest)
    np.testing.assert_allclose(mag.values, values[6:])
    np.testing.assert_allclose(imu.values[:3], values[:3])
    # a first part left unfinished is reported when the next packet starts
    assert profile.decode(DATA_UUID, first) == []
    with pytest.raises(
        ProtocolError,
        match=r"expected DATA_PART2 to complete the previous packet, got '242 bytes left unfinished'",
    ):
        profile.decode(DATA_UUID, first)


def test_result_packets_decode_to_nothing_and_wrong_char_is_an_error():
    assert started().decode(DATA_UUID, b"\x01\x01\xc8\x00") == []
    with pytest.raises(ProtocolError, match="unexpected characteristic"):
        started().decode(COMMAND_UUID, b"\x02\x01")


class ResultLink:
    def __init__(self, status_for):
        self.status_for = status_for
        self.writes: list[bytes] = []
        self.callback = None

    async def write_gatt_char(self, char, data, response=None):
        assert char == COMMAND_UUID
        self.writes.append(bytes(data))
        reply = bytes([1, data[1]]) + self.status_for(bytes(data)).to_bytes(2, "little")
        asyncio.get_running_loop().call_soon(self.callback, DATA_UUID, bytearray(reply))

    async def read_gatt_char(self, char):
        return bytearray()

    async def start_notify(self, char, callback):
        assert char == DATA_UUID
        self.callback = callback

    async def stop_notify(self, char):
        pass


@pytest.mark.asyncio
async def test_subscribe_unsubscribe_bytes_and_data_routing():
    got = []
    link = ResultLink(lambda req: 200)
    profile = MovesenseProfile({"subscriptions": {"imu6": 104, "ecg": 250}})
    await profile.start(link, lambda char, data: got.append(bytes(data)))
    assert link.writes == [b"\x01\x01/Meas/IMU6/104", b"\x01\x02/Meas/ECG/250"]
    link.callback(DATA_UUID, bytearray(b"\x02\x01" + bytes(28)))  # data goes to the transport's callback
    assert got == [b"\x02\x01" + bytes(28)]
    await profile.stop(link)
    assert link.writes[2:] == [b"\x02\x01", b"\x02\x02"]


@pytest.mark.asyncio
async def test_refused_subscription_is_a_device_error_with_command_and_status():
    link = ResultLink(lambda req: 507 if req[0] == 1 else 200)
    profile = MovesenseProfile({"subscriptions": {"imu9": 1666}})
    profile.streams("Movesense 42")
    with pytest.raises(
        DeviceError,
        match=r"Movesense 42: asked SUBSCRIBE /Meas/IMU9/1666 \(01 01 2f .*\), device answered status 507 "
        r"Insufficient Storage",
    ):
        await profile.start(link, lambda *_: None)

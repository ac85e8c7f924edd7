"""Myo decoder: vectors built from myohw.h's documented struct layouts, round trips, commands, errors.

``myohw.h`` (thalmiclabs/myo-bluetooth): ``myohw_emg_data_t`` = ``int8_t sample1[8]; int8_t
sample2[8]``; ``myohw_imu_data_t`` = ``int16_t orientation w, x, y, z; int16_t accelerometer[3];
int16_t gyroscope[3]`` with ``MYOHW_ORIENTATION_SCALE 16384``, ``MYOHW_ACCELEROMETER_SCALE 2048``
(counts per g), ``MYOHW_GYROSCOPE_SCALE 16`` (counts per deg/s); ``myohw_command_set_mode_t`` =
header ``{0x01, 3}`` + emg, imu, classifier modes; ``myohw_command_set_sleep_mode_t`` = ``{0x09, 1}``
+ sleep mode (1 = never sleep).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.acquisition.profiles.myo import (
    COMMAND_UUID,
    EMG_DATA_UUIDS,
    IMU_DATA_UUID,
    MyoProfile,
    decode_emg,
    decode_imu,
    set_mode,
    set_sleep_mode,
)
from nmre.core.model import StreamKind
from nmre.errors import DeviceError, ProtocolError
from nmre.sim.devices.myo import encode_emg, encode_imu

pytestmark = pytest.mark.timeout(60)

G = 9.80665


def test_uuids_follow_the_myohw_base():
    assert EMG_DATA_UUIDS == (
        "d5060105-a904-deb9-4748-2c7f4a124842",
        "d5060205-a904-deb9-4748-2c7f4a124842",
        "d5060305-a904-deb9-4748-2c7f4a124842",
        "d5060405-a904-deb9-4748-2c7f4a124842",
    )
    assert COMMAND_UUID == "d5060401-a904-deb9-4748-2c7f4a124842"
    assert IMU_DATA_UUID == "d5060402-a904-deb9-4748-2c7f4a124842"


def test_golden_emg_packet():
    # sample1 = 0, 1, -1, 127, -128, 5, -5, 64 ; sample2 = 8 x -2
    data = bytes.fromhex("00 01 FF 7F 80 05 FB 40" + " FE" * 8)
    counts = decode_emg(data)
    assert counts.shape == (8, 2)
    np.testing.assert_array_equal(counts[:, 0], [0, 1, -1, 127, -128, 5, -5, 64])
    np.testing.assert_array_equal(counts[:, 1], [-2] * 8)
    (dec,) = MyoProfile().decode(EMG_DATA_UUIDS[2], data)
    assert dec.stream == "emg" and dec.seq is None and dec.device_time is None
    np.testing.assert_array_equal(dec.values, counts)


def test_golden_imu_packet_little_endian():
    # w = 16384 (1.0), x,y,z = 0; acc = (0, 0, 2048) = 1 g; gyro = (16, -32, 0) = 1, -2, 0 deg/s
    data = bytes.fromhex("00 40 00 00 00 00 00 00 00 00 00 00 00 08 10 00 E0 FF 00 00")
    quat, imu = decode_imu(data)
    np.testing.assert_allclose(quat, [1, 0, 0, 0])
    np.testing.assert_allclose(imu, [0, 0, G, math.radians(1), math.radians(-2), 0])
    decs = MyoProfile().decode(IMU_DATA_UUID, data)
    assert [d.stream for d in decs] == ["imu", "quat"]
    assert decs[0].values.shape == (6, 1) and decs[1].values.shape == (4, 1)


def test_documented_commands():
    assert set_mode(0x03, 0x01, 0x00) == bytes.fromhex("01 03 03 01 00")  # raw EMG + IMU, classifier off
    assert set_sleep_mode(True) == bytes.fromhex("09 01 01")
    assert set_sleep_mode(False) == bytes.fromhex("09 01 00")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-128, 127), min_size=16, max_size=16))
def test_emg_int8_round_trip(values):
    counts = np.array(values).reshape(2, 8).T
    np.testing.assert_array_equal(decode_emg(encode_emg(counts)), counts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=10, max_size=10))
def test_imu_int16_round_trip_to_si(counts):
    quat, imu = decode_imu(encode_imu(counts))
    np.testing.assert_allclose(quat, np.array(counts[:4]) / 16384)
    np.testing.assert_allclose(imu[:3], np.array(counts[4:7]) / 2048 * G)
    np.testing.assert_allclose(imu[3:], np.radians(np.array(counts[7:]) / 16))


def test_emg_scale_option_reports_mv():
    profile = MyoProfile({"emg_mv_per_count": 0.01})
    info = profile.streams("Myo-1")
    assert info["emg"].channels[0].unit == "mV" and info["emg"].rate == 200
    assert info["imu"].kind is StreamKind.IMU and info["quat"].kind is StreamKind.ORIENTATION
    assert MyoProfile().streams("x")["emg"].channels[0].unit == "count"
    (dec,) = profile.decode(EMG_DATA_UUIDS[0], bytes([100] * 8 + [156] * 8))
    np.testing.assert_allclose(dec.values[:, 0], 1.0)
    np.testing.assert_allclose(dec.values[:, 1], -1.0)


@pytest.mark.parametrize(
    "char, data, match",
    [
        (
            EMG_DATA_UUIDS[0],
            bytes(15),
            r"myo: EMG notification expected 16 bytes \(2 samples x 8 int8\), got 15",
        ),
        (EMG_DATA_UUIDS[3], bytes(17), r"got 17"),
        (IMU_DATA_UUID, bytes(18), r"myo: IMU notification expected 20 bytes \(10 x int16\), got 18"),
        (COMMAND_UUID, bytes(16), r"unexpected characteristic"),
    ],
)
def test_malformed_packets_raise_protocol_error(char, data, match):
    with pytest.raises(ProtocolError, match=match):
        MyoProfile().decode(char, data)


class RecordingLink:
    def __init__(self, refuse: bytes | None = None):
        self.writes: list[bytes] = []
        self.subscribed: list[str] = []
        self.refuse = refuse

    async def write_gatt_char(self, char, data, response=None):
        assert char == COMMAND_UUID
        if self.refuse is not None and bytes(data) == self.refuse:
            raise RuntimeError("ATT error 0x13")
        self.writes.append(bytes(data))

    async def read_gatt_char(self, char):
        return bytearray()

    async def start_notify(self, char, callback):
        self.subscribed.append(char)

    async def stop_notify(self, char):
        pass


@pytest.mark.asyncio
async def test_start_sends_never_sleep_then_set_mode_and_stop_turns_streaming_off():
    link = RecordingLink()
    profile = MyoProfile()
    await profile.start(link, lambda *_: None)
    assert link.writes == [bytes.fromhex("09 01 01"), bytes.fromhex("01 03 03 01 00")]
    assert set(link.subscribed) == {*EMG_DATA_UUIDS, IMU_DATA_UUID}
    await profile.stop(link)
    assert link.writes[2:] == [bytes.fromhex("01 03 00 00 00"), bytes.fromhex("09 01 00")]


@pytest.mark.asyncio
async def test_refused_command_names_device_and_command():
    profile = MyoProfile({"emg_mode": "filtered", "imu": False})
    profile.streams("Myo-7")
    link = RecordingLink(refuse=bytes.fromhex("01 03 02 00 00"))
    with pytest.raises(
        DeviceError, match=r"Myo-7: command set_mode \(01 03 02 00 00\) was refused: ATT error 0x13"
    ):
        await profile.start(link, lambda *_: None)
    with pytest.raises(DeviceError, match="emg_mode 'raw' or 'filtered'"):
        await MyoProfile({"emg_mode": "loud"}).start(link, lambda *_: None)

"""Polar PMD decoder: golden frames from the Polar BLE SDK's unit tests, round trips, errors.

Golden vectors are the input bytes and expected values documented in
``polarofficial/polar-ble-sdk``, ``sources/Android/android-communications/library/src/test/java/
com/polar/androidcommunications/api/ble/model/gatt/client/pmd/``:
``model/EcgDataTest.kt`` ("process raw ecg data type 0"), ``model/AccDataTest.kt``
("process acc raw data frame type 1", "process acc compressed data type 0" and "… type 1")
and ``BlePmdClientControlPointResponseTest.kt``.
"""

from __future__ import annotations

import asyncio
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.acquisition.profiles.polar import (
    CONTROL_POINT_UUID,
    DATA_UUID,
    G,
    Measurement,
    PolarProfile,
    Setting,
    decode_frame,
    encode_settings,
    parse_deltas,
    parse_response,
    parse_settings,
)
from nmre.errors import DeviceError, ProtocolError
from nmre.sim.devices.polar import encode_deltas, encode_frame, signed_bits

pytestmark = pytest.mark.timeout(60)

# Timestamp 2_000_000_000 ns as the SDK tests encode it.
TS_HEADER = "00 94 35 77 00 00 00 00"

# AccDataTest "process acc raw data frame type 1": 52 Hz, int16 mG per axis.
ACC_RAW_TYPE1 = (
    "F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF E6 03 F9 FF FF FF "
    "E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF FF FF E7 03 FA FF FF FF E5 03 F8 FF "
    "FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03 F9 FF FE FF E7 03 F9 FF 00 00 E6 03 F9 FF FF FF E6 03 "
    "F7 FF FE FF E5 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 FA FF 00 00 E6 03 F9 FF FE FF E6 03 F8 FF FF FF "
    "E6 03 F8 FF FF FF E5 03 F9 FF FF FF E6 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 F9 FF FF FF E5 03 F9 FF "
    "FF FF E5 03 F8 FF FE FF E6 03 F9 FF FF FF E6 03 F9 FF FF FF E6 03 F9 FF 00 00 E5 03 F9 FF FE FF E6 03 "
    "F8 FF FE FF E6 03 F7 FF FE FF E6 03"
)

# AccDataTest "process acc compressed data type 0": frame type 0x80, factor 2.44e-4 (G per count).
ACC_COMPRESSED_TYPE0 = (
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF EE 4B E4 B1 "
    "FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 CE 8B E2 BA F7 A2 B8 EE "
    "BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC "
    "2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F "
    "4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B 7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 "
    "32 37 F6 B5 C8 8D 7D 2D 71 6B 4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 "
    "B0 2D BE 2C 6C 8F 1F CB DA E3 C7 A2 76 F9"
)


def frame(mtype: int, ftype: int, payload_hex: str, ts_hex: str = TS_HEADER) -> bytes:
    return bytes([mtype]) + bytes.fromhex(ts_hex) + bytes([ftype]) + bytes.fromhex(payload_hex)


# --------------------------------------------------------------------------- golden


def test_golden_ecg_raw_type0():
    meas, ts, v = decode_frame(frame(0x00, 0x00, "02 80 FF 02 80 00"))
    assert meas is Measurement.ECG and ts == 2_000_000_000
    np.testing.assert_array_equal(v, [[-32766.0, 32770.0]])  # µV


def test_golden_acc_raw_type1():
    meas, ts, v = decode_frame(frame(0x02, 0x01, ACC_RAW_TYPE1))
    assert meas is Measurement.ACC and ts == 2_000_000_000
    assert v.shape == (3, len(bytes.fromhex(ACC_RAW_TYPE1)) // 6)
    np.testing.assert_array_equal(v[:, 0], [-9, -1, 999])  # mG
    np.testing.assert_array_equal(v[:, 1], [-8, -2, 997])


def test_golden_acc_compressed_type0():
    payload = bytes.fromhex(ACC_COMPRESSED_TYPE0)
    counts = parse_deltas(payload, 3, 16)
    assert counts.shape == (3, 1 + 56)  # reference sample + one 10-bit block of 56
    np.testing.assert_array_equal(counts[:, 0], [1905, 27376, -29282])
    np.testing.assert_array_equal(counts[:, 1], [1905 + 190, 27376 - 105, -29282 - 85])
    factor = float(np.float32(2.44e-4))
    _, ts, mg = decode_frame(frame(0x02, 0x80, ACC_COMPRESSED_TYPE0), factor)
    # the SDK truncates factor * count * 1000 to int mG
    np.testing.assert_array_equal(np.trunc(mg[:, 0]), [int(factor * c * 1000) for c in (1905, 27376, -29282)])
    assert np.all(np.abs(mg) <= 8 * 1000)  # the test's ±8 G range
    assert ts == 2_000_000_000


def test_golden_acc_compressed_type1():
    # reference F1 FF / 14 00 / F0 03, one 6-bit block with deltas -5, -3, 0
    _, ts, v = decode_frame(frame(0x02, 0x81, "F1 FF 14 00 F0 03 06 01 7B 0F 08", "65 00 00 00 00 00 00 00"))
    np.testing.assert_array_equal(v, [[-15, -20], [20, 17], [1008, 1008]])
    assert ts == 0x65


def test_golden_control_point_replies():
    ok = parse_response(bytes.fromhex("F0 01 02 00 00 FF FF FF"))
    assert (ok.opcode, ok.measurement, ok.status, ok.more, ok.parameters) == (1, 2, 0, False, b"\xff\xff\xff")
    bad = parse_response(bytes.fromhex("F0 01 06 07 00"))
    assert (bad.measurement, bad.status_name, bad.parameters) == (6, "INVALID_RESOLUTION", b"")


def test_documented_start_requests():
    # reference/ble-devices.md §1.2 (bleakheart defaults): H10 ECG 130 Hz/14 bit, ACC 200 Hz/16 bit/±2 g
    assert PolarProfile.start_request("ecg", {"rate": 130, "resolution": 14}) == bytes.fromhex(
        "02 00 00 01 82 00 01 01 0E 00"
    )
    assert PolarProfile.start_request("acc", {"rate": 200, "resolution": 16, "range": 2}) == bytes.fromhex(
        "02 02 00 01 C8 00 01 01 10 00 02 01 02 00"
    )


def test_settings_round_trip_and_multi_value_offer():
    offer = bytes.fromhex("00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00")
    assert parse_settings(offer) == {
        Setting.SAMPLE_RATE: (25, 50, 100, 200),
        Setting.RESOLUTION: (16,),
        Setting.RANGE: (2, 4, 8),
    }
    enc = encode_settings({Setting.FACTOR: 0.5, Setting.SAMPLE_RATE: 52})
    assert parse_settings(enc) == {Setting.SAMPLE_RATE: (52,), Setting.FACTOR: (0.5,)}


# --------------------------------------------------------------------------- round trips


@settings(max_examples=100, deadline=None)
@given(
    width=st.integers(1, 32),
    channels=st.integers(1, 4),
    n=st.integers(1, 80),
    data=st.data(),
)
def test_delta_round_trip_every_bit_width(width, channels, n, data):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    deltas = np.array(
        data.draw(st.lists(st.integers(lo, hi), min_size=channels * (n - 1), max_size=channels * (n - 1))),
        dtype=np.int64,
    ).reshape(channels, n - 1)
    ref = np.array(data.draw(st.lists(st.integers(-32768, 32767), min_size=channels, max_size=channels)))
    samples = np.concatenate([ref[:, None], ref[:, None] + np.cumsum(deltas, axis=1)], axis=1)
    payload = encode_deltas(samples, 16, width=max(width, signed_bits(deltas)) if deltas.size else width)
    np.testing.assert_array_equal(parse_deltas(payload, channels, 16), samples)


def test_delta_sign_extremes():
    for width in (1, 2, 7, 8, 16, 31, 32):
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        samples = np.array([[0, lo, lo + hi, lo + hi + lo, 0]], dtype=np.int64)
        deltas = np.diff(samples)
        if signed_bits(deltas) > width:
            continue
        np.testing.assert_array_equal(parse_deltas(encode_deltas(samples, 16, width=width), 1, 16), samples)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=40), st.integers(0, 2**60)
)  # 2**60 ns = 36 years after 2000
def test_acc_raw_frame_round_trip_in_si(samples, ts):
    counts = np.array(samples, dtype=np.int64).T
    payload = b"".join(struct.pack("<3h", *s) for s in samples)
    profile = PolarProfile({"measurements": {"acc": {"rate": 200, "range": 8}}})
    profile.configure("acc", 200.0)
    (dec,) = profile.decode(DATA_UUID, encode_frame(Measurement.ACC, ts, 0x01, payload))
    assert dec.stream == "acc" and dec.seq is None
    np.testing.assert_allclose(dec.values, counts * G * 1e-3, rtol=0, atol=1e-12)
    assert dec.device_time is not None and dec.device_time[-1] == pytest.approx(ts * 1e-9)
    np.testing.assert_allclose(np.diff(dec.device_time), 1 / 200.0, atol=1e-6)  # float64 at 1e9 s


def test_gyro_compressed_to_rad_s_and_interpolated_times():
    profile = PolarProfile({"model": "verity"})
    factor = 2000 / 32768
    profile.configure("gyro", 52.0, factor)
    counts = np.array([[0, 10, -20], [5, 5, 5], [-32768, 0, 32767]])
    t1 = 10**12
    (d1,) = profile.decode(DATA_UUID, encode_frame(Measurement.GYRO, t1, 0x80, encode_deltas(counts, 16)))
    np.testing.assert_allclose(d1.values, counts * factor * math.pi / 180)
    # next frame 3 samples later at a slightly fast clock: times spread back to the previous frame
    t2 = t1 + round(3 / 52.0 * 1e9 * 1.001)
    (d2,) = profile.decode(DATA_UUID, encode_frame(Measurement.GYRO, t2, 0x80, encode_deltas(counts, 16)))
    np.testing.assert_allclose(np.diff(d2.device_time), (t2 - t1) / 3 * 1e-9, rtol=1e-9)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", r"polar.*expected >= 11 bytes.*got 0"),
        (bytes.fromhex("02 00 94 35 77 00"), r"got 6"),
        (bytes.fromhex("3F" + "00" * 8 + "01 00 00"), r"measurement type.*0x3F"),
        (frame(0x02, 0x01, "F7 FF FF FF E7"), r"ACC frame type 0x01 expected a multiple of 6 bytes.*got 5"),
        (frame(0x00, 0x00, "02 80"), r"ECG.*multiple of 3 bytes"),
        (frame(0x02, 0x80, "71 07 F0"), r"reference sample.*got 3"),
        (frame(0x02, 0x80, "71 07 F0 6A 9E 8D 0A"), r"delta block header expected 2 bytes, got 1"),
        (
            frame(0x02, 0x80, "71 07 F0 6A 9E 8D 0A 38 BE 5C"),
            r"56 samples x 3 ch x 10 bit expected 210 bytes",
        ),
        (frame(0x02, 0x80, "71 07 F0 6A 9E 8D 21 01 00"), r"bit width 1..32, got 33"),
        (frame(0x05, 0x81, "00 00 00 00 00 00"), r"GYRO frame type 0x81"),
        (frame(0x00, 0x80, "00 00"), r"ECG frame type 0x80"),
    ],
)
def test_malformed_frames_raise_protocol_error(data, match):
    with pytest.raises(ProtocolError, match=match):
        decode_frame(data)


def test_frames_of_unstarted_measurements_and_bad_replies_are_errors():
    profile = PolarProfile()
    with pytest.raises(ProtocolError, match="ACC frame, expected a started measurement"):
        profile.decode(DATA_UUID, frame(0x02, 0x01, ACC_RAW_TYPE1))
    with pytest.raises(ProtocolError, match="unexpected characteristic"):
        profile.decode(CONTROL_POINT_UUID, b"\xf0")
    with pytest.raises(ProtocolError, match="control point expected a reply"):
        parse_response(b"\x01\x02")
    with pytest.raises(ProtocolError, match=r"setting type 0\.\.6, got 9"):
        parse_settings(b"\x09\x01\x00")
    with pytest.raises(ProtocolError, match="SAMPLE_RATE expected 2 x 2 bytes, got 3"):
        parse_settings(b"\x00\x02\x82\x00\x01")


class FakeLink:
    """Answers control-point writes like a device that refuses what ``status`` says."""

    def __init__(self, replies):
        self.replies = replies
        self.writes: list[bytes] = []
        self.cp_callback = None

    async def write_gatt_char(self, char, data, response=None):
        self.writes.append(bytes(data))
        reply = self.replies(bytes(data))
        asyncio.get_running_loop().call_soon(self.cp_callback, char, bytearray(reply))

    async def read_gatt_char(self, char):
        return bytearray(b"\x50")

    async def start_notify(self, char, callback):
        if char == CONTROL_POINT_UUID:
            self.cp_callback = callback

    async def stop_notify(self, char):
        pass


@pytest.mark.asyncio
async def test_refused_start_raises_device_error_naming_command_and_status():
    def replies(req):
        if req[0] == 0x01:
            return bytes([0xF0, 1, req[1], 0, 0]) + bytes.fromhex("00 01 82 00 01 01 0E 00")
        return bytes([0xF0, req[0], req[1], 8, 0])  # INVALID_SAMPLE_RATE

    profile = PolarProfile({"measurements": {"ecg": {"rate": 130, "resolution": 14}}})
    profile.streams("Polar H10 X")
    with pytest.raises(
        DeviceError,
        match=r"Polar H10 X: asked REQUEST_MEASUREMENT_START \(02 00 00 01 82 00 "
        r"01 01 0e 00\), device answered INVALID_SAMPLE_RATE",
    ):
        await profile.start(FakeLink(replies), lambda *_: None)


@pytest.mark.asyncio
async def test_rate_not_offered_is_refused_before_start_and_stop_sends_stop():
    def replies(req):
        if req[0] == 0x01:
            return bytes([0xF0, 1, req[1], 0, 0]) + bytes.fromhex("00 02 19 00 32 00 01 01 10 00")
        return bytes([0xF0, req[0], req[1], 0, 0])

    link = FakeLink(replies)
    profile = PolarProfile({"measurements": {"acc": {"rate": 200, "resolution": 16, "range": 8}}})
    profile.streams("H10")
    with pytest.raises(DeviceError, match="asked ACC at 200 Hz, device offers 25, 50 Hz"):
        await profile.start(link, lambda *_: None)
    profile.config["measurements"] = {"acc": {"rate": 50, "resolution": 16, "range": 8}}
    await profile.start(link, lambda *_: None)
    await profile.stop(link)
    assert link.writes[-1] == bytes([0x03, 0x02])

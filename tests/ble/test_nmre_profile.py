"""The nmre sensor profile: golden vectors written from docs/nmre-sensor-profile.md, and round trips."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.acquisition.profiles.nmre_profile import (
    EMG_DATA_UUID,
    IMU_DATA_UUID,
    SERVICE_UUID,
    NmreProfile,
    crc16,
    parse_info,
)
from nmre.errors import ProtocolError

pytestmark = pytest.mark.timeout(60)


def naive_crc16_ccitt_false(data: bytes) -> int:
    """Bit by bit from the definition: poly 0x1021, init 0xFFFF, MSB first, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


# Info: version 1, 8 channels, mask 0x0F, IMU present, 2000 Hz, 100 Hz, scales 0.5, 0.25, 1.0, masks 7, 15.
GOLDEN_INFO = bytes.fromhex("01 08 0F 01 D0 07 64 00 0000003F 0000803E 0000803F 0700 0F00")

# EMG, 2 channels, 2 samples, counter 0x1234, t = 1 s, counts 1, -2, 256, -32768 (spec §5 example).
GOLDEN_EMG_BODY = bytes.fromhex("01 02 02 00 34 12 40 42 0F 00 01 00 FE FF 00 01 00 80")


def golden_emg() -> bytes:
    return GOLDEN_EMG_BODY + struct.pack("<H", naive_crc16_ccitt_false(GOLDEN_EMG_BODY))


def profile_for(info: bytes, **config: object) -> NmreProfile:
    p = NmreProfile(config)
    p.device = "board-1"
    p.configure(parse_info(info))
    return p


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert naive_crc16_ccitt_false(b"123456789") == 0x29B1


def test_info_golden() -> None:
    info = parse_info(GOLDEN_INFO)
    assert (info.version, info.max_emg_channels, info.emg_channels, info.imu_present) == (
        1,
        8,
        (0, 1, 2, 3),
        True,
    )
    assert (info.emg_rate, info.imu_rate) == (2000, 100)
    assert (info.emg_scale, info.acc_scale, info.gyro_scale) == (0.5, 0.25, 1.0)
    assert info.supported_emg_rates == (500, 1000, 2000)
    assert info.supported_imu_rates == (50, 100, 200, 400)
    assert info.to_bytes() == GOLDEN_INFO


def test_emg_golden() -> None:
    info = bytearray(GOLDEN_INFO)
    info[2] = 0x03  # two active channels
    p = profile_for(bytes(info))
    (d,) = p.decode(EMG_DATA_UUID, golden_emg())
    assert d.stream == "emg"
    assert d.seq == 0x1234
    np.testing.assert_array_equal(d.values, [[0.5, 128.0], [-1.0, -16384.0]])
    assert d.device_time is not None
    np.testing.assert_allclose(d.device_time, [1.0, 1.0 + 1 / 2000])


def test_matches_by_service_uuid() -> None:
    assert NmreProfile.matches(None, [SERVICE_UUID.upper()])
    assert not NmreProfile.matches("nmre-1", ["0000180d-0000-1000-8000-00805f9b34fb"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-1], "bytes"),  # truncated
        (lambda b: b[:5], ">= 12 bytes"),
        (lambda b: b[:11] + bytes([b[11] ^ 0x10]) + b[12:], "CRC"),  # a flipped sample bit
        (lambda b: b"\x02" + b[1:], "packet type"),  # IMU type on the EMG characteristic
        (lambda b: b[:1] + b"\x03" + b[2:], "bytes"),  # claims 3 channels
    ],
)
def test_malformed_packets_raise(mutate, message: str) -> None:
    info = bytearray(GOLDEN_INFO)
    info[2] = 0x03
    p = profile_for(bytes(info))
    with pytest.raises(ProtocolError, match=message):
        p.decode(EMG_DATA_UUID, mutate(golden_emg()))


def test_wrong_channel_count_with_valid_crc() -> None:
    p = profile_for(GOLDEN_INFO)  # 4 active channels configured
    with pytest.raises(ProtocolError, match="4 channels"):
        p.decode(EMG_DATA_UUID, golden_emg())


def test_info_of_wrong_version_is_refused() -> None:
    with pytest.raises(ProtocolError, match="version"):
        parse_info(b"\x02" + GOLDEN_INFO[1:])
    with pytest.raises(ProtocolError, match="24 bytes"):
        parse_info(GOLDEN_INFO[:20])


def encode(kind: int, counts: np.ndarray, seq: int, t_us: int) -> bytes:
    """Encoder written from the spec table (sample-major int16 after a 10-byte header, CRC last)."""
    n_ch, n_s = counts.shape
    body = struct.pack("<BBBBHI", kind, n_ch, n_s, 0, seq & 0xFFFF, t_us % (1 << 32))
    body += counts.T.astype("<i2").tobytes()
    return body + struct.pack("<H", naive_crc16_ccitt_false(body))


@settings(max_examples=60, deadline=None)
@given(
    st.data(),
    st.integers(1, 8),
    st.integers(1, 20),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**32 - 1),
)
def test_emg_round_trip(data: st.DataObject, n_ch: int, n_s: int, seq: int, t_us: int) -> None:
    counts = np.array(
        data.draw(st.lists(st.integers(-32768, 32767), min_size=n_ch * n_s, max_size=n_ch * n_s)),
        dtype=np.int64,
    ).reshape(n_ch, n_s)
    info = bytearray(GOLDEN_INFO)
    info[2] = (1 << n_ch) - 1
    p = profile_for(bytes(info))
    (d,) = p.decode(EMG_DATA_UUID, encode(1, counts, seq, t_us))
    np.testing.assert_array_equal(d.values, counts * 0.5)
    assert d.seq == seq
    assert d.device_time is not None
    assert d.device_time[0] == pytest.approx(t_us * 1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16 - 1), st.integers(1, 40), st.integers(1, 19))
def test_counter_and_clock_unwrap_across_wraps(seq0: int, n_packets: int, n_s: int) -> None:
    """Consecutive IMU packets stay consecutive across 16-bit counter and 32-bit µs wraps."""
    p = profile_for(GOLDEN_INFO)
    rate = 100
    t0 = 2**32 - 50_000  # device clock about to wrap
    counts = np.zeros((6, n_s), dtype=np.int64)
    k = seq0
    for i in range(n_packets):
        (d,) = p.decode(IMU_DATA_UUID, encode(2, counts, k, t0 + round((k - seq0) * 1e6 / rate)))
        assert d.seq == seq0 + i * n_s
        assert d.device_time is not None
        assert d.device_time[0] == pytest.approx((t0 + (k - seq0) * 1e6 / rate) * 1e-6, abs=1e-6)
        k += n_s


def test_counter_gap_longer_than_wrap_uses_device_time() -> None:
    """A 40 s outage at 2 kHz (80 000 samples > 65 536) is measured exactly from the device clock."""
    info = bytearray(GOLDEN_INFO)
    info[2] = 0x01
    p = profile_for(bytes(info))
    counts = np.zeros((1, 10), dtype=np.int64)
    (a,) = p.decode(EMG_DATA_UUID, encode(1, counts, 100, 50_000))
    k = 110 + 80_000
    (b,) = p.decode(EMG_DATA_UUID, encode(1, counts, k, 50_000 + round((k - 100) * 500)))
    assert a.seq == 100
    assert b.seq == k

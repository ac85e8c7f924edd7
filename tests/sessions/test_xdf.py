"""XDF as nmre writes it, read back by nmre and by pyxdf (the independent reader)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from nmre.core.model import Channel
from nmre.errors import RecordingError
from nmre.sessions import read_xdf, recover, xdf

pyxdf = pytest.importorskip("pyxdf")


def _pyxdf(path):
    streams, header = pyxdf.load_xdf(str(path), dejitter_timestamps=False, synchronize_clocks=False)
    return {s["info"]["name"][0]: s for s in streams}, header


def test_varlen_uses_the_three_widths():
    assert xdf.varlen(5) == b"\x01\x05"
    assert xdf.varlen(300) == b"\x04" + struct.pack("<I", 300)
    assert xdf.varlen(2**33) == b"\x08" + struct.pack("<Q", 2**33)


def test_a_recorded_session_holds_every_raw_sample_exactly(squat_sim, squat_recording):
    path, events = squat_recording
    rec = read_xdf(path)
    assert rec.problems == [] and rec.complete
    for info in squat_sim.streams:
        t, v = squat_sim.data[info.id]
        s = rec.stream(info.id)
        assert s.role == "raw" and s.info == info
        np.testing.assert_array_equal(s.times, t)
        np.testing.assert_array_equal(s.values, v)
    assert [e.to_json() for e in rec.events] == [e.to_json() for e in events]
    meta = rec.metadata
    assert meta["drill"]["name"] == "squat" and meta["patient"] == "P-0001"
    assert meta["software"]["nmre"] and meta["streams"]["raw"] == [s.id for s in squat_sim.streams]
    fb = rec.stream("nmre.feedback")
    assert fb.n_samples > 10 and "signals" in json.loads(fb.values[-1][0])


def test_pyxdf_reads_the_same_samples_headers_and_footers(squat_sim, squat_recording):
    path, events = squat_recording
    streams, header = _pyxdf(path)
    assert header["info"]["version"] == ["1.0"]
    for info in squat_sim.streams:
        t, v = squat_sim.data[info.id]
        s = streams[info.id]
        np.testing.assert_array_equal(s["time_stamps"], t)
        np.testing.assert_array_equal(s["time_series"], v.T)
        assert float(s["info"]["nominal_srate"][0]) == info.rate
        labels = [c["label"][0] for c in s["info"]["desc"][0]["channels"][0]["channel"]]
        units = [c["unit"][0] for c in s["info"]["desc"][0]["channels"][0]["channel"]]
        assert labels == list(info.channel_names) and units == [c.unit for c in info.channels]
        assert int(s["footer"]["info"]["sample_count"][0]) == t.shape[0]
        assert float(s["footer"]["info"]["last_timestamp"][0]) == t[-1]
    ev = streams["nmre.events"]
    assert [json.loads(x[0])["kind"] for x in ev["time_series"]] == [e.kind for e in events]


def test_pyxdf_with_its_defaults_reads_it_too_and_warns_of_nothing(squat_recording, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="pyxdf"):
        streams, _ = pyxdf.load_xdf(str(squat_recording[0]))
    assert {s["info"]["name"][0] for s in streams} >= {"emg.r", "imu.thigh.r", "nmre.events"}
    # every stream with samples has ClockOffsets (markers too), so its clock segments are its segments
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    for s in streams:
        assert s["info"]["segments"] == s["info"]["clock_segments"], s["info"]["name"]


def test_the_layout_has_boundaries_clock_offsets_and_footers(squat_recording):
    raw = squat_recording[0].read_bytes()
    assert raw[:4] == b"XDF:"
    n_boundaries = raw.count(xdf.BOUNDARY)
    rec = read_xdf(squat_recording[0])
    assert n_boundaries >= rec.duration - 1  # at least one a second
    assert all(len(s.clock_offsets) >= 1 for s in rec.streams if s.n_samples)
    assert all(s.footer is not None for s in rec.streams)


def test_recording_the_same_session_twice_gives_the_same_bytes_but_the_date(squat_sim, tmp_path):
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.sessions import XdfRecorder
    from nmre.sim import SimSource

    files = []
    for k in range(2):
        p = tmp_path / f"{k}.xdf"
        Engine([SimSource(squat_sim)], build_drill("squat", squat_sim.streams).nodes, [XdfRecorder(p)]).run()
        files.append(read_xdf(p))
    a, b = files
    for sa, sb in zip(a.streams, b.streams, strict=True):
        np.testing.assert_array_equal(sa.times, sb.times)
        assert sa.chunks == sb.chunks
    assert (tmp_path / "0.xdf").stat().st_size == (tmp_path / "1.xdf").stat().st_size


# -- damaged and foreign files --------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.02, 0.31, 0.5, 0.77, 0.999])
def test_a_truncated_file_keeps_every_whole_sample_and_recovers_for_pyxdf(
    squat_recording, tmp_path, fraction
):
    src, _ = squat_recording
    full = read_xdf(src)
    data = src.read_bytes()
    cut = int(len(data) * fraction)
    p = tmp_path / "cut.xdf"
    p.write_bytes(data[:cut])
    rec = read_xdf(p)  # never raises for a truncated file
    assert rec.problems and any(str(pr).startswith("byte ") for pr in rec.problems)
    assert rec.intact_until <= cut
    for s in rec.raw:
        whole = full.stream(s.name)
        n = s.n_samples
        np.testing.assert_array_equal(s.times, whole.times[:n])  # a prefix, nothing invented
        np.testing.assert_array_equal(s.values, whole.values[:, :n])
    report = recover(p)
    assert report.backup and (tmp_path / "cut.xdf.damaged").read_bytes() == data[:cut]
    again = read_xdf(p)
    assert again.complete
    streams, _ = _pyxdf(p)
    for s in again.raw:
        np.testing.assert_array_equal(streams[s.name]["time_stamps"], s.times)
        assert int(streams[s.name]["footer"]["info"]["sample_count"][0]) == s.n_samples


def test_a_corrupted_chunk_is_reported_with_its_offset_and_the_rest_still_reads(squat_recording, tmp_path):
    src, _ = squat_recording
    data = bytearray(src.read_bytes())
    full = read_xdf(src)
    # garble 64 bytes in the middle of the file (inside some chunk)
    mid = len(data) // 2
    data[mid : mid + 64] = b"\xee" * 64
    p = tmp_path / "garbled.xdf"
    p.write_bytes(bytes(data))
    rec = read_xdf(p)
    assert rec.problems
    first = rec.problems[0]
    # the damage is found at the chunk it hit, or at the next chunk header when it covers one
    assert first.offset <= mid + 64 and "skipped" in first.message and "boundary" in first.message
    # samples after the damage are still there: each stream ends where the whole file ends
    for s in rec.raw:
        assert s.times[-1] == full.stream(s.name).times[-1]
        assert 0 < s.n_samples < full.stream(s.name).n_samples + 1
    out = tmp_path / "fixed.xdf"
    recover(p, out)
    assert read_xdf(out).complete
    streams, _ = _pyxdf(out)
    assert streams["emg.r"]["time_stamps"].shape[0] == rec.stream("emg.r").n_samples


def test_a_file_that_is_not_xdf_is_refused_naming_byte_0(tmp_path):
    p = tmp_path / "notes.xdf"
    p.write_text("hello, not a recording")
    with pytest.raises(RecordingError, match=r"not an XDF file.*byte 0.*b'hell'"):
        read_xdf(p)
    empty = tmp_path / "empty.xdf"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match="empty file"):
        read_xdf(empty)
    with pytest.raises(RecordingError, match="expected a readable XDF file"):
        read_xdf(tmp_path / "missing.xdf")


def _labrecorder_like(path):
    """A file laid out as LabRecorder writes it: float32 EMG with deduced timestamps, int16, markers."""
    parts = [xdf.MAGIC, xdf.file_header_chunk("2024-01-01T00:00:00+0000")]
    chans = (Channel("c1", "microvolts"), Channel("c2", "microvolts"))
    parts.append(xdf.stream_header_chunk(1, "EMG-amp", "EMG", chans, 500.0, "float32"))
    parts.append(xdf.stream_header_chunk(2, "counter", "misc", (Channel("n", ""),), 10.0, "int16"))
    parts.append(xdf.stream_header_chunk(3, "Markers", "Markers", (Channel("m", ""),), 0.0, "string"))
    vals = np.arange(20, dtype=np.float32).reshape(10, 2)
    body = xdf.varlen(10)
    for k in range(10):  # first sample stamped, the rest deduced (timestamp byte 0)
        body += (b"\x08" + struct.pack("<d", 100.0)) if k == 0 else b"\x00"
        body += vals[k].tobytes()
    parts.append(xdf.chunk(xdf.TAG_SAMPLES, body, 1))
    cnt = xdf.varlen(3) + b"".join(
        b"\x08" + struct.pack("<d", 100 + k) + struct.pack("<h", -k) for k in range(3)
    )
    parts.append(xdf.chunk(xdf.TAG_SAMPLES, cnt, 2))
    parts.append(xdf.string_samples_chunk(3, [100.5], [["start"]]))
    parts.append(xdf.clock_offset_chunk(1, 100.0, -0.25))
    parts.append(xdf.boundary_chunk())
    path.write_bytes(b"".join(parts))
    return vals


def test_a_foreign_xdf_file_reads_like_pyxdf_reads_it(tmp_path):
    p = tmp_path / "lab.xdf"
    vals = _labrecorder_like(p)
    rec = read_xdf(p)
    emg = rec.stream("EMG-amp")
    np.testing.assert_allclose(emg.times, 100.0 + np.arange(10) / 500.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(emg.values, vals.T.astype(np.float64))
    assert emg.info is not None and emg.info.kind.value == "emg" and emg.info.channel_names == ("c1", "c2")
    assert rec.stream("counter").values.tolist() == [[0.0, -1.0, -2.0]]
    assert rec.stream("Markers").values == [["start"]]
    assert emg.clock_offsets == [(100.0, -0.25)]
    assert any("no StreamFooter" in p.message for p in rec.problems)
    streams, _ = _pyxdf(p)
    np.testing.assert_array_equal(streams["EMG-amp"]["time_stamps"], emg.times)
    np.testing.assert_array_equal(streams["EMG-amp"]["time_series"], vals)

"""Importers: real recordings made elsewhere become XDF files that replay through the engine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nmre.dsp.movement import RepSegmenter
from nmre.engine import Engine
from nmre.engine.nodes import ProcessorNode
from nmre.errors import ConfigError, RecordingError
from nmre.feedback.sinks import MemorySink
from nmre.sessions import XdfReplaySource, read_xdf
from nmre.sessions.importers import import_csv, import_myo, import_uci, parse_placement

pyxdf = pytest.importorskip("pyxdf")

UCI = ["3Amar", "3Apie", "3Asen", "5Nmar", "5Npie", "5Nsen"]
#: Knee flexions in the standing files, counted by eye on the goniometer trace (docs/sessions.md).
STANDING_REPS = {"3Apie": 3, "5Npie": 5}
#: Knee extensions in the seated files, counted the same way.
SEATED_REPS = {"3Asen": 4, "5Nsen": 4}


def nmre(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=180, cwd=cwd
    )


@pytest.mark.parametrize("name", UCI)
def test_uci_files_import_sample_for_sample(shared_data, tmp_path, name):
    src = shared_data / "uci-lower-limb" / f"{name}.txt"
    out = tmp_path / f"{name}.xdf"
    report = import_uci(src, out)
    ref = np.genfromtxt(src, skip_header=7, delimiter="\t")  # an independent parse of the same text
    ref = ref[: np.flatnonzero(np.isfinite(ref).any(axis=1))[-1] + 1]  # the files end with a row of tabs
    rec = read_xdf(out)
    assert rec.complete
    emg, knee = rec.stream("emg"), rec.stream("angle.knee")
    n = emg.n_samples
    assert (
        np.isnan(ref[n:, :4]).all() and np.isfinite(ref[:n, :4]).any(axis=1).all()
    )  # only empty rows dropped
    np.testing.assert_array_equal(emg.values, ref[:n, :4].T)
    np.testing.assert_array_equal(knee.values[0], ref[:, 4])
    np.testing.assert_allclose(knee.times, np.arange(ref.shape[0]) / 1000.0)
    assert [c.placement.muscle for c in emg.info.channels] == ["rf", "bf", "vmo", "st"]
    assert knee.info.placement.segment == "knee" and knee.info.channels[0].name == "flexion"
    assert rec.metadata["imported_from"].endswith(f"{name}.txt")
    assert ("held to 1000 Hz" in " ".join(report.notes)) == name.startswith("5N")
    streams, _ = pyxdf.load_xdf(str(out))
    assert {s["info"]["name"][0] for s in streams} >= {"emg", "angle.knee"}


def _count_reps(path, block=None, stream="angle.knee"):
    """Replay the goniometer through the engine with a rep segmenter (the squat drill's, on knee flexion)."""
    src = XdfReplaySource(path, block_seconds=block)
    seg = ProcessorNode(RepSegmenter(25.0, 15.0, min_duration=0.8, min_amplitude=20.0, name="reps"), stream)
    mem = MemorySink()
    Engine([src], [seg], [mem]).run()
    return [e for e in mem.events if e.kind == "rep.end"]


@pytest.mark.parametrize("name", sorted(STANDING_REPS))
def test_an_imported_uci_recording_replays_and_counts_its_reps(shared_data, tmp_path, name):
    out = tmp_path / f"{name}.xdf"
    import_uci(shared_data / "uci-lower-limb" / f"{name}.txt", out)
    reps = _count_reps(out)
    assert len(reps) == STANDING_REPS[name]
    assert len(_count_reps(out, block=0.25)) == STANDING_REPS[name]


def _drill_available(name: str) -> bool:
    import nmre.drills as drills

    names = drills.list_drills() if hasattr(drills, "list_drills") else getattr(drills, "DRILLS", ())
    return name in [getattr(n, "name", n) for n in names]


@pytest.mark.parametrize(
    ("name", "drill"),
    [
        *[(n, "knee_flexion_standing") for n in STANDING_REPS],
        *[(n, "knee_extension_seated") for n in SEATED_REPS],
    ],
)
def test_uci_recordings_replay_through_their_drill(shared_data, tmp_path, name, drill):
    if not _drill_available(drill):
        pytest.skip(f"drill {drill!r} is not in nmre.drills yet (issue 7)")
    from nmre.sessions.replay import replay

    out = tmp_path / f"{name}.xdf"
    import_uci(shared_data / "uci-lower-limb" / f"{name}.txt", out)
    res = replay(out)
    assert res.drill == drill
    assert res.metrics["reps"] == {**STANDING_REPS, **SEATED_REPS}[name]


def test_the_libemg_myo_csv_imports_as_8_raw_channels(shared_data, tmp_path):
    src = shared_data / "libemg-oracle" / "emg_data_myo.csv"
    out = tmp_path / "myo.xdf"
    import_myo(src, out)
    ref = np.loadtxt(src, delimiter=",")
    s = read_xdf(out).stream("emg.forearm")
    np.testing.assert_array_equal(s.values, ref.T)
    assert s.info.rate == 200.0 and {c.unit for c in s.info.channels} == {"counts"}
    assert {c.full_scale for c in s.info.channels} == {127.0}
    assert {c.placement.segment for c in s.info.channels} == {"forearm"}
    with pytest.raises(RecordingError, match="expected a Myo EMG CSV"):
        import_myo(shared_data / "uci-lower-limb" / "3Apie.txt", tmp_path / "x.xdf")


def test_a_generic_csv_with_a_time_column_in_ms_and_a_header(tmp_path):
    src = tmp_path / "gonio.csv"
    t = np.arange(0, 6000, 10.0)  # ms, 100 Hz: three 2 s knee bends to 80 deg
    angle = 40 * (1 - np.cos(2 * np.pi * t / 2000.0))
    src.write_text(
        "time_ms;knee\n" + "\n".join(f"{a:.1f};{b:.6f}" for a, b in zip(t, angle, strict=True)) + "\n"
    )
    out = tmp_path / "gonio.xdf"
    report = import_csv(
        src,
        out,
        kind="angle",
        time_column="time_ms",
        time_unit="ms",
        channels=["flexion"],
        placement=parse_placement("segment=knee,side=right"),
    )
    assert "100 Hz from the median time step" in report.notes[0]
    s = read_xdf(out).raw[0]
    assert (
        s.info.id == "angle.knee.r"
        and s.info.channels[0].unit == "deg"
        and s.info.rate == pytest.approx(100.0)
    )
    np.testing.assert_allclose(s.times, t / 1000.0)
    np.testing.assert_allclose(s.values[0], np.round(angle, 6))
    assert len(_count_reps(out, stream="angle.knee.r")) == 3


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a,b\n1,2\n3,x\n", {"kind": "emg", "rate": 100}, "line 3, b: expected a number, got 'x'"),
        ("1,2\n3\n", {"kind": "emg", "rate": 100}, "line 2: expected 2 columns, got 1"),
        (
            "t,v\n0,1\n0.2,2\n0.1,3\n",
            {"kind": "emg", "time_column": "t"},
            "line 4: expected increasing times",
        ),
        ("", {"kind": "emg", "rate": 100}, "empty file"),
        ("1,2\n", {"kind": "sparkles", "rate": 100}, "--kind: expected one of emg"),
        ("1,2\n", {"kind": "emg"}, "expected --rate HZ or --time-column"),
        ("1,2\n", {"kind": "imu", "rate": 100}, "an imu stream has 6 channels"),
        ("1,2\n", {"kind": "emg", "rate": 100, "channels": ["a"]}, "expected 2 names"),
        ("t,v\n0,1\n", {"kind": "emg", "time_column": "time"}, "--time-column: expected a column of"),
    ],
)
def test_bad_csv_input_names_the_line_and_what_was_expected(tmp_path, text, kwargs, message):
    src = tmp_path / "in.csv"
    src.write_text(text)
    with pytest.raises((RecordingError, ConfigError), match=message.replace("(", r"\(").replace(")", r"\)")):
        import_csv(src, tmp_path / "out.xdf", **kwargs)


def test_cli_import_and_its_bad_input(shared_data, tmp_path):
    ok = nmre(
        "import", "uci", str(shared_data / "uci-lower-limb" / "5Npie.txt"), "--side", "right", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    rec = read_xdf(tmp_path / "5Npie.xdf")
    assert rec.stream("angle.knee").info.placement.side.value == "right"
    assert rec.metadata["drill"]["name"] == "knee_flexion_standing"
    bad = nmre("import", "uci", str(shared_data / "libemg-oracle" / "emg_data_myo.csv"), cwd=tmp_path)
    assert bad.returncode == 2 and "expected a UCI lower-limb header" in bad.stderr
    assert "Traceback" not in bad.stderr
    no_kind = nmre("import", "csv", str(shared_data / "libemg-oracle" / "emg_data_myo.csv"), cwd=tmp_path)
    assert no_kind.returncode == 2 and "expected --kind" in no_kind.stderr
    wrong = nmre(
        "import",
        "myo",
        str(shared_data / "libemg-oracle" / "emg_data_myo.csv"),
        "--kind",
        "emg",
        cwd=tmp_path,
    )
    assert wrong.returncode == 2 and "for csv imports only" in wrong.stderr

"""The recorder: its own thread, never in the engine's way, crash-safe to the last second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from nmre.core.model import Block, Event, StreamInfo, StreamKind
from nmre.errors import ConfigError, RecordingError
from nmre.sessions import XdfRecorder, read_xdf, recover

EMG = StreamInfo("emg.x", StreamKind.EMG, (__import__("nmre").Channel("vl", "mV"),), 1000.0, device="test")


def _blocks(n_blocks: int, per: int = 50):
    for k in range(n_blocks):
        t = (k * per + np.arange(per)) / 1000.0
        yield Block("emg.x", t, np.sin(t)[None, :].copy(), seq=k * per)


def test_the_engine_thread_never_waits_for_the_disk(tmp_path):
    """With the writer stalled mid-write, the sink's calls return at once; nothing is lost once it resumes."""
    rec = XdfRecorder(tmp_path / "a.xdf", flush_seconds=0.01)
    rec.open([EMG])
    gate = threading.Event()
    entered = threading.Event()
    real_write = rec._file.write

    def stalled_write(b):  # the disk hangs
        entered.set()
        gate.wait(30)
        return real_write(b)

    rec._file.write = stalled_write
    blocks = list(_blocks(200))
    rec.on_block(blocks[0])
    rec.on_block(blocks[1])
    rec.on_block(Block("emg.x", np.array([0.5]), np.zeros((1, 1))))  # times out of order: still accepted
    assert entered.wait(10), "the writer thread never started writing"
    for b in blocks[2:]:  # the writer is stuck inside write(): these must not wait for it
        rec.on_block(b)
        rec.on_event(Event(float(b.times[0]), "marker", "test"))
    assert not gate.is_set()
    gate.set()
    rec.close()
    got = read_xdf(tmp_path / "a.xdf")
    assert got.complete
    assert got.stream("emg.x").n_samples == 200 * 50 + 1
    assert len(got.events) == 198


def test_a_writer_failure_is_raised_at_close_not_lost(tmp_path):
    rec = XdfRecorder(tmp_path / "b.xdf", flush_seconds=0.01)
    rec.open([EMG])

    def full_disk(b):
        raise OSError(28, "No space left on device")

    rec._file.write = full_disk
    for b in _blocks(20):
        rec.on_block(b)
    deadline = time.monotonic() + 10
    while rec.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.error is not None
    with pytest.raises(RecordingError, match=r"No space left on device.*nmre recover"):
        rec.close()


def test_bad_destinations_fail_before_the_session_starts(tmp_path):
    with pytest.raises(RecordingError, match="expected an existing folder"):
        XdfRecorder(tmp_path / "nowhere" / "a.xdf").open([EMG])
    with pytest.raises(RecordingError, match="expected a file path, got the directory"):
        XdfRecorder(tmp_path).open([EMG])
    derived_only = StreamInfo("angle.knee", StreamKind.ANGLE, EMG.channels, 100.0)
    with pytest.raises(ConfigError, match="expected raw streams to record"):
        XdfRecorder(tmp_path / "c.xdf").open([derived_only])
    with pytest.raises(ConfigError, match="chunk_seconds"):
        XdfRecorder(tmp_path / "d.xdf", chunk_seconds=0)


def test_a_read_only_folder_fails_before_the_session_starts(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permission bits do not make a folder read-only")
        with pytest.raises(RecordingError, match="read-only"):
            XdfRecorder(ro / "a.xdf").open([EMG])
    finally:
        ro.chmod(0o700)


def test_derived_streams_are_recorded_when_asked_and_marked_derived(squat_sim, tmp_path):
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.sim import SimSource

    p = tmp_path / "derived.xdf"
    rec = XdfRecorder(p, derived=["angle.knee.r"])
    Engine([SimSource(squat_sim)], build_drill("squat", squat_sim.streams).nodes, [rec]).run(until=5.0)
    got = read_xdf(p)
    assert got.stream("angle.knee.r").role == "derived" and got.stream("angle.knee.r").n_samples > 100
    assert [s.name for s in got.raw] == [s.id for s in squat_sim.streams]  # derived is never served


_CHILD = textwrap.dedent(
    """
    import sys, time
    from nmre.core.clock import RealClock
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.sessions import XdfRecorder
    from nmre.sim import SimSource, SquatConfig, simulate
    from nmre.dsp import warmup

    warmup()
    sim = simulate(SquatConfig(reps=30), seed=2)
    drill = build_drill("squat", sim.streams)
    clock = RealClock()
    engine = Engine([SimSource(sim)], drill.nodes, [XdfRecorder(sys.argv[1])], clock=clock)
    clock.restart()
    print(repr(clock.origin), flush=True)
    engine.run()
    """
)


@pytest.mark.slow
def test_sigkill_while_recording_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "killed.xdf"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        origin = float(line)
        time.sleep(3.0)  # a real process recording on the real clock: let it record a few seconds
        killed_at = time.monotonic() - origin  # session time at the kill (CLOCK_MONOTONIC is system-wide)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    damaged = read_xdf(path)
    assert not damaged.complete
    report = recover(path)
    assert report.backup is not None
    rec = read_xdf(path)
    assert rec.complete
    assert killed_at > 2.0
    for s in rec.raw:
        lost = killed_at - float(s.times[-1])
        assert lost <= 1.0, f"{s.name}: {lost:.3f} s lost"
        print(f"{s.name}: {lost:.3f} s lost")
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(path))
    assert {x["info"]["name"][0] for x in streams} >= {s.name for s in rec.raw}

"""``nmre replay FILE --lsl-out``: a recorded session's events on LSL, for a lab's LabRecorder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pylsl
import pytest
from tests.lsl.conftest import unique

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]


def _nmre(*args: str) -> list[str]:
    return [sys.executable, "-m", "nmre", *args]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "squat.xdf"
    made = subprocess.run(
        _nmre("demo", "--reps", "3", "--record", str(path)),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return path


def test_a_replay_publishes_every_event_on_lsl_stamped_at_its_sample_time(recording: Path) -> None:
    plain = subprocess.run(
        _nmre("replay", str(recording), "--json"), env=_env(), capture_output=True, text=True, timeout=120
    )
    assert plain.returncode == 0, plain.stderr
    expected = json.loads(plain.stdout)["events"]

    name = unique("replayout")
    proc = subprocess.Popen(
        _nmre("replay", str(recording), "--json", "--lsl-out", name, "--lsl-wait", "60"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found = pylsl.resolve_byprop("name", f"{name}.events", 1, 60.0)
        assert found, "the replay's event outlet did not appear"
        assert found[0].type() == "Markers" and found[0].nominal_srate() == pylsl.IRREGULAR_RATE
        inlet = pylsl.StreamInlet(found[0], recover=False)
        inlet.open_stream(10)
        got: list[tuple[dict, float]] = []
        deadline = time.monotonic() + 120
        while len(got) < len(expected) and time.monotonic() < deadline:
            try:
                values, stamps = inlet.pull_chunk(timeout=0.5)
            except pylsl.LostError:
                break
            got.extend((json.loads(v[0]), t) for v, t in zip(values, stamps, strict=True))
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out)["events"] == expected  # publishing changes nothing the replay finds
    assert [e for e, _ in got] == expected  # every event, in order, as nmre's JSON
    # stamped at what the body did: one offset (the moment the replay began) from the event's sample time
    timed = [(e["time"], t) for e, t in got if e.get("time") is not None]
    offsets = [t - s for s, t in timed]
    assert len(timed) > 10 and max(offsets) - min(offsets) < 1e-6


def test_replay_lsl_options_that_cannot_apply_are_one_line_and_exit_2(recording: Path) -> None:
    for args, said in (
        ([str(recording), str(recording), "--lsl-out"], "--lsl-out: expected one recording"),
        ([str(recording), "--lsl-wait", "2"], "--lsl-wait: expected --lsl-out too"),
    ):
        proc = subprocess.run(_nmre("replay", *args), env=_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

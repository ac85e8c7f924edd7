"""The PortAudio sink opens a real stream (ALSA null device) and its callback plays cues; no device says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.audio.conftest import run_python

PLAY = r"""
import json, time
from nmre.core.clock import RealClock
from nmre.core.model import Event, FeedbackState, SignalState
from nmre.feedback.audio import PortAudioSink
from nmre.feedback.sonify import Sonification
clock = RealClock()
sink = PortAudioSink(clock.now, sonification=Sonification("s", full_scale=1.0))
sink.open([])
import numpy as np
from nmre.core.model import Block
t = clock.now()
sink.on_block(Block("imu.x", np.array([t - 0.02]), np.zeros((1, 1)), arrival=t - 0.001))
sink.on_feedback(FeedbackState(t, {"s": SignalState("s", 2.0, "", None, 1.0)}))
sink.on_event(Event(t, "feedback.cue", "test", {"tone": "correct"}, detected_at=t))
sink.on_event(Event(t, "rep.end", "test", {"rep": 1}, detected_at=t))
# the engine moves on (next feedback state): the rep's deferred tick sounds now, not at close()
sink.on_feedback(FeedbackState(t + 0.01, {"s": SignalState("s", 2.0, "", None, 1.0)}))
deadline = time.monotonic() + 20
while sink.synth.cues_started < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
active = sink.active
sink.close()
print(json.dumps({"device": sink.device_name, "active": active, "callbacks": sink.callbacks,
                  "started": sink.synth.cues_started, "onsets": sink.synth.onsets(),
                  "latency": sink.latency(), "reported": sink.reported_latency}))
"""

NO_DEVICE = r"""
from nmre.feedback.audio import AudioUnavailable, PortAudioSink
try:
    PortAudioSink(lambda: 0.0)
except AudioUnavailable as e:
    print("UNAVAILABLE", e)
else:
    print("OPENED")
"""


def test_portaudio_stream_runs_its_callback_and_plays_cues(null_audio_env: dict[str, str]) -> None:
    proc = run_python(PLAY, null_audio_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["active"] and got["callbacks"] > 0
    assert got["started"] == 2
    assert [name for name, _ in got["onsets"]] == ["error", "rep"]
    assert got["latency"]["cue_from_arrival"]["n"] == 2
    assert got["latency"]["tone_from_arrival"]["n"] >= 1
    assert got["reported"] >= 0


def test_no_output_device_is_one_clear_line(null_audio_env: dict[str, str], tmp_path: Path) -> None:
    # ALSA's own configuration with a default output on a sound card that is not there
    nowhere = tmp_path / "nowhere.conf"
    nowhere.write_text("pcm.!default { type hw card 99 }\n")
    alsa = null_audio_env["ALSA_CONFIG_PATH"].split(":")[0]
    env = dict(null_audio_env, ALSA_CONFIG_PATH=f"{alsa}:{nowhere}")
    proc = run_python(NO_DEVICE, env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    if line == "OPENED":
        pytest.skip("a JACK server or OSS device gave PortAudio an output here")
    assert line.startswith("UNAVAILABLE no audio output device")

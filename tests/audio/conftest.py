"""Audio test set-up: a PortAudio whose ALSA default output is the null device.

ALSA reads the files listed in ``ALSA_CONFIG_PATH`` (colon-separated); listing the
system's ``alsa.conf`` and then a file holding ``pcm.!default { type null }``
makes the default output a null device for this process only: no user file is
touched. With it, python-sounddevice opens a real PortAudio stream whose callback
runs (unpaced: the null device consumes frames as fast as they come).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ALSA_CONF = Path("/usr/share/alsa/alsa.conf")


@pytest.fixture(scope="session")
def null_audio_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess whose PortAudio default output is ALSA's null device."""
    if not ALSA_CONF.is_file():
        pytest.skip(f"ALSA's configuration {ALSA_CONF} is not here (libasound2 missing)")
    conf = tmp_path_factory.mktemp("alsa") / "null.conf"
    conf.write_text("pcm.!default { type null }\n")
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"{ALSA_CONF}:{conf}"
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (PortAudio reads the ALSA configuration once per process)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )

"""Suite-wide settings: Qt renders offscreen; the shared data folder is found beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
# LSL discovery stays on this machine in tests (liblsl reads the file named here; subprocesses inherit it)
os.environ.setdefault("LSLAPICFG", str(REPO / "tests" / "lsl_api.cfg"))
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ``../shared/data``; skips the test with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA} (CI clones main with ../shared beside it)")
    return SHARED_DATA

"""A plugin package built and installed into a fresh environment, then used by nmre in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment seeing nmre and its dependencies, with the example plugin installed by pip."""
    venv = tmp_path_factory.mktemp("plugin-env") / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    if made.returncode != 0:
        pytest.skip(f"cannot make a virtual environment here: {made.stderr.strip()[-300:]}")
    python = venv / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    # nmre and its dependencies as this test run sees them (the source tree and the shared environment)
    (site / "nmre-under-test.pth").write_text(f"{SRC}\n{sysconfig.get_path('purelib')}\n")
    installed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            str(HERE / "example"),
        ]
    )
    assert installed.returncode == 0, installed.stderr
    return python


def test_nmre_plugins_lists_the_installed_device_profile(plugin_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = _run([str(plugin_env), "-m", "nmre", "plugins"], env=env)
    assert out.returncode == 0, out.stderr
    assert "1 device profile(s) (nmre.devices):" in out.stdout
    assert "acme_gonio" in out.stdout and "nmre-example-plugin 0.1.0" in out.stdout
    assert "1 rule kind(s) (nmre.rules):" in out.stdout and "pause_at_depth" in out.stdout
    assert "1 drill file(s) (nmre.drills):" in out.stdout and "acme_pause_squat" in out.stdout
    assert "left out" not in out.stdout


def test_the_plugin_drill_is_in_the_library_and_runs_with_the_plugin_rule(plugin_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    listed = _run([str(plugin_env), "-m", "nmre", "drills"], env=env)
    assert listed.returncode == 0, listed.stderr
    assert "acme_pause_squat" in listed.stdout
    script = (
        "from nmre.drills import build_drill, load_drill\n"
        "from nmre.engine import Engine\n"
        "from nmre.feedback.sinks import MemorySink\n"
        "from nmre.sim import SimSource, SquatConfig, simulate\n"
        "sim = simulate(SquatConfig(reps=3), seed=2)\n"
        "drill = build_drill(load_drill('acme_pause_squat'), sim.streams)\n"
        "mem = MemorySink()\n"
        "Engine([SimSource(sim)], drill.nodes, [mem]).run()\n"
        "for e in mem.events:\n"
        "    if e.kind == 'rule.pause':\n"
        "        print(e.payload['quantity'], e.payload['unit'], round(e.payload['value'], 3), e.payload['ok'])\n"
    )
    out = _run([str(plugin_env), "-c", script], env=env)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert len(rows) == 3  # one pause judged per squat
    for quantity, unit, value, ok in rows:
        assert (quantity, unit) == ("hold_time", "s")
        assert 0.0 < float(value) < 3.0  # the body does not stay at depth longer than the rep
        assert ok == str(float(value) >= 1.0)


def test_a_ble_session_builds_the_plugin_device_by_its_kind(plugin_env: Path) -> None:
    script = (
        "from nmre.acquisition.ble import BleConfig, BleSource, DeviceSpec\n"
        "src = BleSource([DeviceSpec('acme_gonio', name='ACME-G1', config={'side': 'left'})], BleConfig())\n"
        "(info,) = src.streams\n"
        "print(info.id, info.kind.value, info.rate, info.placement.describe())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = _run([str(plugin_env), "-c", script], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["angle.knee.l", "angle", "100.0", "left", "knee"]


def test_without_the_plugin_the_kind_is_unknown() -> None:
    """The same script in this environment (no plugin installed) fails: the plugin, not nmre, made the kind."""
    script = (
        "from nmre.acquisition.ble import BleConfig, BleSource, DeviceSpec\n"
        "BleSource([DeviceSpec('acme_gonio', name='ACME-G1')], BleConfig())\n"
    )
    out = _run([sys.executable, "-c", script])
    assert out.returncode != 0 and "acme_gonio" in out.stderr

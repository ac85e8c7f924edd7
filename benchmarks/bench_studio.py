"""nmre studio end to end: visual and audio latency, frames/s and CPU with 4 emulated BLE boards.

Two measurements:

1. **The whole app against its targets** (issue 11): ``nmre studio`` runs as a
   user would start it for live sensors, in its own process, connected through
   bleak + Bumble (a TCP HCI transport) to 4 emulated nmre boards in *another*
   process (``_studio_devices.py``: 8 EMG channels at 2 kHz and 4 IMUs at
   100 Hz, the simulated body squatting), so the app's CPU is its own. Its
   windows are real X11 windows on Xvfb (offscreen when there is no Xvfb); the
   dashboard shows the *Raw signals* tab (8 EMG channels and the 4 IMUs) and the
   patient view its gauge; sound goes through PortAudio to JACK's dummy driver
   (paced by a timer like a sound card; jackd2, ``scripts/setup-system.sh``).
   The studio measures itself all the time (``summary.json``): visual latency
   from a block's arrival to the end of painting the first frame that shows it;
   audio latency from the arrival of the block that caused a cue or a tone
   change to the DAC time PortAudio gives for the buffer carrying it; frames/s
   of both windows over the session; CPU of the whole process (GUI, engine,
   BLE, audio threads) in % of one core. Each figure is the median of the runs,
   with the spread (min–max) and the load average of the machine at each start.
2. **The dashboard's GUI-thread cost per frame** (the part we control), side by
   side with the same plots drawn the way pyqtgraph does by default (a
   scrolling time axis, axis grids, 1.5 px pens, autorange): the same 10 s of
   8 EMG + 4 IMU samples, offscreen, time per frame in GUI-thread CPU time
   (robust to other load on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _harness import Comparison

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

TARGETS = {"visual": 0.060, "audio": 0.030, "fps": 30.0, "cpu": 0.60}


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str] | None = None, **kw: Any) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(cmd, env=env, text=True, **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # the emulator stops at EOF
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def _xvfb() -> Iterator[str | None]:
    """A virtual X display (two screens, like a workstation with the patient's monitor), or None."""
    if shutil.which("Xvfb") is None:
        yield None
        return
    r, w = os.pipe()
    cmd = ["Xvfb", "-displayfd", str(w), "-nolisten", "tcp", "-screen", "0", "1600x1000x24"]
    cmd += ["-screen", "1", "1280x720x24", "+xinerama"]
    with _process(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,)):
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()
        yield f":{number}" if number else None


@contextlib.contextmanager
def _jack() -> Iterator[str | None]:
    """A JACK server on the dummy driver (paced, no hardware), named for this run; or None without jackd."""
    if shutil.which("jackd") is None:
        yield None
        return
    name = f"nmre-bench-{os.getpid()}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    cmd = ["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"]
    with _process(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        time.sleep(1.5)
        yield name


def _one_run(seconds: float, display: str | None, jack: str | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("QT_QPA_PLATFORM", None)
    if display is not None:
        env["DISPLAY"] = display
        env["QT_QPA_PLATFORM"] = "xcb"
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    if jack is not None:
        env["JACK_DEFAULT_SERVER"] = jack
        env["JACK_NO_START_SERVER"] = "1"
    load = os.getloadavg()[0]
    with _process(
        [PY, str(HERE / "_studio_devices.py")], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as devices:
        assert devices.stdout is not None
        ready = json.loads(devices.stdout.readline())
        wears = [f"--wear={d['name']}={d['wear']}" for d in ready["devices"]]
        with tempfile.TemporaryDirectory() as out:
            cmd = [PY, "-m", "nmre", "studio", "--bumble", f"tcp-client:127.0.0.1:{ready['port']}", *wears]
            cmd += ["--drill", "squat", "--seconds", str(seconds), "--view", "raw", "--screenshot", out]
            if jack is None:
                cmd.append("--no-sound")
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 300)
            if proc.returncode != 0:
                raise RuntimeError(f"nmre studio failed ({proc.returncode}): {proc.stderr[-1500:]}")
            summary = json.loads((Path(out) / "summary.json").read_text())
    lat = summary["latency"]
    audio = lat.get("audio") or {}
    return {
        "load": load,
        "wall": time.perf_counter() - t0,
        "visual": lat["visual_from_arrival"]["p95"],
        "visual_dashboard": lat["dashboard_from_arrival"]["p95"],
        "visual_from_sample": lat["visual_from_sample"]["p95"],
        "audio": (audio.get("cue_from_arrival") or {}).get("p95"),
        "audio_tone": (audio.get("tone_from_arrival") or {}).get("p95"),
        "audio_n": (audio.get("cue_from_arrival") or {}).get("n", 0),
        "fps_patient": lat["patient_fps_mean"],
        "fps_dashboard": lat["dashboard_fps_mean"],
        "cpu": lat["cpu_percent"] / 100.0,
        "sound": summary.get("sound"),
        "reps": summary.get("reps"),
    }


def _spread(runs: list[dict[str, Any]], key: str) -> tuple[float | None, str]:
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return None, "not measured"
    med = statistics.median(vals)
    return med, f"median of {len(vals)}, range {min(vals):.4g}-{max(vals):.4g}"


def _whole_app(quick: bool) -> list[Comparison]:
    seconds = 12.0 if quick else 30.0
    repeats = 1 if quick else 3
    runs = []
    with _xvfb() as display, _jack() as jack:
        for _ in range(repeats):
            runs.append(_one_run(seconds, display, jack))
    where = (
        f"{'Xvfb (X11 windows)' if display else 'offscreen'}, "
        f"{'JACK dummy driver' if jack else 'no paced audio device (jackd missing): audio not measured'}"
    )
    loads = ", ".join(f"{r['load']:.1f}" for r in runs)
    work = f"4 boards (8 EMG @2 kHz + 4 IMU @100 Hz) over bleak+Bumble from another process; {seconds:g} s squat; {where}; load avg at start {loads} on {os.cpu_count()} cores"
    out = []
    for key, label, target in (
        ("visual", "visual latency p95 (arrival -> patient frame)", "visual"),
        ("visual_dashboard", "visual latency p95 (arrival -> dashboard frame)", "visual"),
        ("audio", "audio latency p95 (arrival -> cue at DAC)", "audio"),
        ("audio_tone", "audio latency p95 (arrival -> tone change at DAC)", "audio"),
    ):
        med, spread = _spread(runs, key)
        if med is None:
            continue
        limit = TARGETS[target]
        out.append(
            Comparison(
                f"studio: {label}",
                med / 1e3,
                f"target <= {limit * 1e3:.0f} ms",
                limit,
                f"{work}; {spread} ms",
                "met" if med / 1e3 <= limit else "MISSED",
            )
        )
    for key, label in (("fps_patient", "patient view frames/s"), ("fps_dashboard", "dashboard frames/s")):
        med, spread = _spread(runs, key)
        assert med is not None
        out.append(
            Comparison(
                f"studio: {label} (time per frame)",
                1.0 / med if med else float("inf"),
                f"target >= {TARGETS['fps']:.0f} frames/s",
                1.0 / TARGETS["fps"],
                f"{work}; {med:.1f} frames/s, {spread}",
                "met" if med >= TARGETS["fps"] else "MISSED",
            )
        )
    med, spread = _spread(runs, "cpu")
    assert med is not None
    out.append(
        Comparison(
            "studio: whole app CPU (s per s of session)",
            med,
            f"target < {TARGETS['cpu'] * 100:.0f} % of one core",
            TARGETS["cpu"],
            f"{work}; {100 * med:.0f} % of one core, {spread}",
            "met" if med < TARGETS["cpu"] else "MISSED",
        )
    )
    print(f"  studio runs: {json.dumps(runs)}", flush=True)
    return out


def _frame_cost(quick: bool) -> list[Comparison]:
    """GUI-thread CPU per dashboard frame: nmre's trace panel vs pyqtgraph's defaults, same data, offscreen."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), QT_QPA_PLATFORM="offscreen")
    frames = 60 if quick else 240
    proc = subprocess.run(
        [PY, str(HERE / "_studio_frames.py"), str(frames)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"frame cost: {proc.stderr[-1500:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return [
        Comparison(
            "studio: dashboard GUI-thread CPU per frame",
            got["nmre"],
            "pyqtgraph defaults (scroll, grid, 1.5 px)",
            got["peer"],
            f"12 plots/16 curves of 10 s (8 EMG @2 kHz, 4 IMU acc), 1600x1000, {frames} frames, median",
            "",
        )
    ]


def run(quick: bool = False) -> list[Comparison]:
    try:
        import pyqtgraph  # noqa: F401
        from PySide6 import QtWidgets  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the GUI extras are not installed
        raise ImportError(f"nmre studio needs PySide6 and pyqtgraph ({exc})") from exc
    return _frame_cost(quick) + _whole_app(quick)

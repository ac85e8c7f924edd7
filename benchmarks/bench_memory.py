"""Bounded memory: a 1-hour full-kit session's peak memory against a 1-minute session's (issue 8, point 5).

Each session is ``nmre demo --json`` in a fresh process (the simulator's full kit of the drill, its
data generated in chunks, the engine, the drill's every node, the demo's sinks and its summary), so
nothing one run allocated is counted in the other. Peak resident memory is the child's
``ru_maxrss`` (``os.wait4``). Squat: 15 reps (about 1 minute) against 900 reps (about 1 hour);
stance: 60 s against 3600 s. ``--quick``: 10 minutes instead of the hour.

Exit status 1 is the demo's verdict "what was detected does not match the ground truth", not a
failure of the session: its memory is measured all the same and the mismatch is printed with it
(a 1-hour single-leg stance has false sway alarms: docs/performance.md). Any other status fails.

Target: the long session's peak within 10 % of the 1-minute one's. The ``nmre`` column is the
long session's peak in MB (printed as seconds by the table's format: read it as MB), the peer
column the 1-minute session's; ``x`` is their ratio (>= 0.91 meets the target).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _harness import Comparison

ROOT = Path(__file__).resolve().parent.parent


def peak_mb(args: list[str]) -> tuple[float, bool]:
    """Peak resident memory (MB) of ``python -m nmre demo --json ARGS`` in a fresh process, and whether
    its verdict was a mismatch (exit status 1)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nmre", "demo", "--json", *args],
            stdout=null,
            stderr=subprocess.PIPE,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise RuntimeError(f"nmre demo {' '.join(args)} failed (exit {code}): {err[-500:]}")
    return usage.ru_maxrss / 1024.0, code == 1  # Linux: kB


def run(quick: bool) -> list[Comparison]:
    long_reps, long_s, label = (150, 600.0, "10 min") if quick else (900, 3600.0, "1 h")
    out = []
    for name, short, long in (
        ("squat", ["--reps", "15"], ["--reps", str(long_reps)]),
        (
            "stance",
            ["--exercise", "stance", "--seconds", "60"],
            ["--exercise", "stance", "--seconds", str(long_s)],
        ),
    ):
        a, a_mismatch = peak_mb(short)
        b, b_mismatch = peak_mb(long)
        said = "".join(
            f"; the {which} session's verdict: mismatch"
            for which, bad in (("1-minute", a_mismatch), (label, b_mismatch))
            if bad
        )
        print(
            f"  peak memory, {name}: 1 min {a:.0f} MB, {label} {b:.0f} MB ({100 * (b / a - 1):+.1f} %){said}"
        )
        out.append(
            Comparison(
                f"peak memory {name} {label} (MB)",
                b,
                "1-minute session (MB)",
                a,
                f"MB peak RSS, full kit, {label} vs 1 min",
                "<= 1.10 x the 1-minute session (ratio >= 0.91)",
            )
        )
    return out

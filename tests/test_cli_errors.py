"""No traceback for any input (issue 8, point 6): a table of bad invocations of every command.

Each gets exit status 2, one line on stderr naming what was expected, no traceback and nothing on
stdout. An I/O failure mid-run is one clear line and a non-zero status, and what was written so far
stays. Before, ``nmre demo --events /proc/x``, ``--events ""``, output to /dev/full and ``nmre scan
--bumble bogus:xyz`` (and ``tcp-client:``, ``...:notaport``, ``...:99999``, ``usb:0``) gave tracebacks,
and ``--bumble ''`` silently used the OS stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmre.commands import COMMANDS

pytestmark = pytest.mark.timeout(300)

BAD: list[list[str]] = [
    ["demo", "--reps", "0"],
    ["demo", "--reps", "x"],
    ["demo", "--reps", "100000"],
    ["demo", "--seed", "x"],
    ["demo", "--seconds", "-1"],
    ["demo", "--seconds", "172800"],
    ["demo", "--schedule", "x"],
    ["demo", "--inject", "99:shallow_squat"],
    ["demo", "--events", "/proc/x"],
    ["demo", "--events", ""],
    ["demo", "--record", "/proc/x/a.xdf"],
    ["demo", "--request-at", "x"],
    ["demo", "--set", "squat_depth.lo=abc"],  # the demo's header line used to be printed first
    ["demo", "--level", "1", "--set", "squat_depth.lo=200"],
    ["demo", "--request-at", "3"],
    ["demo", "--exercise", "stance", "--seconds", "1"],
    ["demo", "--exercise", "dance"],
    ["drills", "show", "nonexistent"],
    ["drills", "check", "/nonexistent.toml"],
    ["drills", "check", "/dev/null"],
    ["drills", "bogus"],
    ["eval", "--drill", "nonexistent"],
    ["eval", "--workers", "0"],
    ["eval", "--workers", "1000000"],  # set out to fork a million processes
    ["eval", "--plots", "/proc/x"],
    ["eval", "--results", "/proc/x/y.json"],
    ["scan", "--timeout", "0"],
    ["scan", "--timeout", "x"],
    ["scan", "--timeout", "1e9"],
    ["scan", "--bumble", "bogus:xyz"],
    ["scan", "--bumble", "tcp-client:"],
    ["scan", "--bumble", "tcp-client:127.0.0.1:notaport"],
    ["scan", "--bumble", "tcp-client:127.0.0.1:99999"],
    ["scan", "--bumble", "usb:0"],
    ["scan", "--bumble", ""],
    ["studio", "--level", "x"],
    ["studio", "--seconds", "-1"],
    ["studio", "--seconds", "172800"],
    ["studio", "--reps", "100000"],
    ["studio", "--drill", "nonexistent"],
    ["studio", "--replay", "/nonexistent.xdf", "--screenshot", "{tmp}"],
    ["version", "extra"],
    ["recover", "/nonexistent"],
    ["recover", "/dev/null"],
    ["replay"],
    ["replay", "/nonexistent.xdf"],
    ["replay", ""],
    ["replay", "/dev/null"],
    ["replay", "/etc/passwd"],
    ["replay", "{rec}", "{rec}", "--table", "/proc/x/t"],  # said only after replaying every recording
    ["replay", "{rec}", "{rec}", "--table", ""],
    ["replay", "{rec}", "--table", "{tmp}/t"],  # one recording: the table was silently not written
    ["import", "/nonexistent.csv"],
    ["import", "/etc/passwd", "--rate", "0"],
    ["patients", "--store", "/proc/x/db"],
    ["patients", "--store", "/etc/passwd"],
    ["sessions", "--store", "/proc/x/db"],
    ["sessions", "--store", ""],  # used to list the default store, as --bumble '' used the OS stack
    ["patients", "--store", ""],
    ["patients", "--add", "", "--store", "{tmp}/s.sqlite"],  # used to draw an id, as --add alone does
    ["progress", "nobody", "--store", ""],
    ["sessions", "--show", "x"],
    [
        "sessions",
        "--export",
        "/proc/x/m.csv",
        "--store",
        "{tmp}/s.sqlite",
    ],  # was exit 1, after opening the store
    ["sessions", "--export", "{tmp}", "--store", "{tmp}/s.sqlite"],
    ["report", "/nonexistent.xdf"],
    ["report", "/etc/passwd"],
    ["report", "{rec}", "--out", ""],  # an empty --out used to mean the default, as --bumble '' did
    ["recover", "{rec}", "--out", ""],
    ["import", "csv", "/etc/passwd", "--out", ""],
    ["progress", "nobody", "--out", "", "--store", "{tmp}/s.sqlite"],
    ["progress"],
    ["progress", "nobody", "--store", "/proc/x/db"],
    ["batch"],
    ["batch", "/nonexistent"],
    ["batch", "--table", "/proc/x/t", "{rec}"],
    ["batch", "--workers", "0", "{tmp}"],
    ["batch", "--workers", "1000000", "{tmp}"],
    ["plugins", "extra"],
    ["bogus"],
    [],
]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good 2-rep squat recording, for the rows that need one ({rec})."""
    from nmre.drills import build_drill
    from nmre.engine import Engine
    from nmre.sessions import XdfRecorder
    from nmre.sim import SimSource, SquatConfig, simulate

    sim = simulate(SquatConfig(reps=2, errors={}), seed=1)
    path = tmp_path_factory.mktemp("rec") / "squat.xdf"
    drill = build_drill("squat", sim.streams)
    Engine([SimSource(sim)], drill.nodes, [XdfRecorder(path, {"drill": {"name": drill.name}})]).run()
    return path


def nmre(
    args: list[str], tmp: Path, rec: Path | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("NMRE_TRACEBACK", None)
    args = [a.replace("{tmp}", str(tmp)).replace("{rec}", str(rec)) for a in args]
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "nmre", *args],
        capture_output=kw.pop("capture_output", True),
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        cwd=tmp,
        env=env,
        **kw,
    )


def test_the_table_has_bad_invocations_of_every_command() -> None:
    names = {c.rstrip("_") for c in COMMANDS}
    assert names <= {args[0] for args in BAD if args}, names - {args[0] for args in BAD if args}


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) or "(none)" for a in BAD])
def test_a_bad_invocation_is_one_line_status_2_and_nothing_on_stdout(
    args: list[str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rec = request.getfixturevalue("recording") if any("{rec}" in a for a in args) else None
    proc = nmre(args, tmp_path, rec)
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert any(w in lines[0] for w in ("expected", "invalid choice", "required", "unrecognized", "cannot"))
    assert proc.stdout == ""


def test_output_to_a_full_disk_is_one_line_non_zero_and_what_was_written_stays(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    with open("/dev/full", "w") as full:
        proc = nmre(
            ["demo", "--reps", "2", "--json", "--events", str(events)],
            tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            capture_output=False,
        )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    # the session ran to its end before the summary failed to print: the event log is whole
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert sum(1 for e in logged if e["kind"] == "rep.end") == 2


def test_an_event_log_on_a_full_disk_is_one_line_and_non_zero(tmp_path: Path) -> None:
    proc = nmre(["demo", "--reps", "2", "--events", "/dev/full"], tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_transport_that_cannot_be_opened_names_what_was_expected_there(tmp_path: Path) -> None:
    """``usb:0`` is well formed; whether a controller is there is known only on opening it. The line
    names the transport, what was expected at it and the reason (it used to be a traceback, then
    the USB library's reason alone)."""
    proc = nmre(["scan", "--bumble", "usb:0", "--timeout", "1"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "'usb:0' (expected a Bluetooth controller at usb:INDEX or VID:PID): " in line, line

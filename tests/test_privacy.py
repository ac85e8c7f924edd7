"""Privacy by default: no network listener unless asked, nothing identifying in a recording unless added.

A listener is found two ways, so that one in native code (liblsl, a BLE stack) is seen as well as one opened
from Python: the process tree's sockets are sampled from ``/proc`` while the command runs (a TCP socket in
LISTEN state, or an unconnected bound UDP socket), and an audit hook in the command's interpreter records every
``socket.bind``. The same probe on ``--lsl-out`` (which opens an LSL server) must see it, or the probe is blind.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[1]

_RUN = """
import json, sys
binds = []
def hook(event, args):
    if event == "socket.bind":
        binds.append(repr(args[1]))
sys.addaudithook(hook)
import atexit
atexit.register(lambda: open(sys.argv[1], "w").write(json.dumps(binds)))
from nmre.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _socket_inodes(pid: int) -> set[str]:
    found: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(target[8:-1])
    except OSError:
        pass
    return found


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _listeners(pid: int) -> set[str]:
    """The listening sockets of ``pid``'s process tree now: ``proto local-address`` (hex, as /proc shows it)."""
    got: set[str] = set()
    for p in _tree(pid):
        inodes = _socket_inodes(p)
        if not inodes:
            continue
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            try:
                lines = Path(f"/proc/{p}/net/{proto}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                local, remote, state, inode = f[1], f[2], f[3], f[9]
                if inode not in inodes:
                    continue
                if (proto.startswith("tcp") and state == "0A") or (
                    proto.startswith("udp") and set(remote.split(":")[1]) == {"0"}
                ):
                    got.add(f"{proto} {local}")
    return got


def _probe(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str], list[str]]:
    """Run ``nmre ARGS``; return its result, the listeners seen while it ran and the addresses it bound."""
    binds = tmp_path / f"binds-{time.monotonic_ns()}.json"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(binds), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= _listeners(proc.pid)
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    bound = json.loads(binds.read_text()) if binds.exists() else []
    return subprocess.CompletedProcess(args, proc.returncode, out, err), seen, bound


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("privacy")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    made = subprocess.run(
        [sys.executable, "-m", "nmre", "demo", "--reps", "2", "--record", str(where / "a.xdf")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return where / "a.xdf"


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--reps", "2"],
        ["demo", "--reps", "2", "--ble"],
        ["demo", "--exercise", "stance", "--seconds", "5", "--realtime"],
        ["replay", "{rec}"],
        ["studio", "--sim", "--seconds", "3", "--screenshot", "{tmp}", "--no-sound"],
    ],
    ids=["demo", "demo-ble", "demo-realtime", "replay", "studio"],
)
def test_a_session_opens_no_network_listener(args: list[str], recording: Path, tmp_path: Path) -> None:
    args = [a.replace("{rec}", str(recording)).replace("{tmp}", str(tmp_path)) for a in args]
    result, seen, bound = _probe(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert seen == set() and bound == []


def test_the_probe_sees_the_lsl_server_that_lsl_out_asks_for(recording: Path, tmp_path: Path) -> None:
    result, seen, _ = _probe(
        ["replay", str(recording), "--lsl-out", "privacyprobe", "--lsl-wait", "2"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert any(s.startswith("tcp") for s in seen), seen  # liblsl's data/service port, asked for by --lsl-out


def _strings(x: object) -> list[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for k, v in x.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(x, list | tuple):
        return [s for v in x for s in _strings(v)]
    return []


def test_a_recording_holds_nothing_identifying_unless_added(recording: Path, tmp_path: Path) -> None:
    import pyxdf

    from nmre.sessions import read_xdf

    streams, header = pyxdf.load_xdf(str(recording))
    texts = _strings(header["info"]) + [s for st in streams for s in _strings(st["info"])]
    texts += _strings(read_xdf(recording).metadata)
    words = {w for t in texts for w in t.replace("/", " ").replace("=", " ").split()}
    for private in {socket.gethostname(), socket.getfqdn(), getpass.getuser()} - {""}:
        assert private not in words, f"{private!r} found in the recording's metadata"
    for folder in (str(Path.home()), str(recording.parent), str(REPO)):
        assert not any(folder in t for t in texts), f"the folder {folder} is named in the recording"
    # a replay recorded from it names its source by file name and checksum, not by folder
    out = tmp_path / "again.xdf"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "nmre", "replay", str(recording), "--record", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    again = _strings(read_xdf(out).metadata)
    assert not any(str(recording.parent) in t for t in again) and "a.xdf" in again

"""``nmre eval`` as a user runs it: the table, --json, --plots, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def nmre(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.run(
        [sys.executable, "-m", "nmre", "eval", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--drill", "bogus"], "got 'bogus'"),
        (["--drill", "squat", "--drill", "nope"], "got 'nope'"),
        (["--workers", "0"], "expected a whole number >= 1"),
        (["--plots", "/etc/passwd"], "expected a folder"),
        (["--plots", "/proc/no/such"], "expected a writable folder"),
        (["--results", "/no/such/dir/results.json"], "expected a writable file path"),
        (["--results", ""], "expected a writable file path"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--quick", "--results", "x.json"], "expected the full suite"),
        (
            ["--drill", "squat", "--results", str(Path(__file__).resolve().parents[2] / "pyproject.toml")],
            "expected a results file of nmre eval to update",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], expect: str) -> None:
    p = nmre(*args)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and "Traceback" not in p.stderr
    if "--drill" in args and "--results" not in args:  # an unknown drill lists the drills
        from nmre.drills import list_drills

        assert "expected one of the drills" in lines[0] and all(d in lines[0] for d in list_drills())


def test_quick_json_and_plots(tmp_path: Path) -> None:
    p = nmre(
        "--quick",
        "--drill",
        "single_leg_stance",
        "--json",
        "--plots",
        str(tmp_path / "plots"),
        "--workers",
        "1",
    )
    assert p.returncode == 0, p.stderr
    fig = json.loads(p.stdout)
    assert fig["suite"] == "quick" and list(fig["drills"]) == ["single_leg_stance"]
    sway = fig["drills"]["single_leg_stance"]["rules"]["sway"]
    assert sway["quantity"] == "sway_rms" and sway["margin"]["source"]
    assert sway["groups"]["target:full"]["n"] > 0
    pngs = sorted(f.name for f in (tmp_path / "plots").iterdir())
    assert pngs == ["single_leg_stance__loss_of_balance.png", "single_leg_stance__sway.png"]
    assert all((tmp_path / "plots" / f).read_bytes()[:4] == b"\x89PNG" for f in pngs)


def test_table_names_every_rule_and_says_what_missed() -> None:
    p = nmre("--quick", "--drill", "squat", "--workers", "1")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for rule in ("squat_depth", "knee_valgus", "trunk_lean", "vmo_timing"):
        assert rule in out
    assert "(not in the minimal kit)" in out  # the onset rule needs EMG, which the minimal kit lacks
    assert ("MISS" in out) or ("Every target met." in out)

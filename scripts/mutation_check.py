"""Mutation spot-check of the rules and the DSP kernels: would the tests see a plausible bug?

Each mutation below is one hand-written, plausible bug (a flipped comparison, an off-by-one in a
window, a wrong sign, a swapped channel, a dropped ``abs``, a wrong default) in ``src/nmre/rules/``,
``src/nmre/dsp/`` (and the engine's detection latency). One at a time, it is applied to a fresh
temporary copy of ``src/`` and the module's own tests run against that copy (``pytest -x``, a fixed
Hypothesis seed, a private Hypothesis database). A mutation the tests fail on is *killed*; one they
pass is a *survivor*: a bug nobody would notice. The working tree is never touched.

Run it (CPU-heavy, about 10 minutes on one core; not part of ``make test``)::

    make mutation                       # or: nice python scripts/mutation_check.py
    python scripts/mutation_check.py --list
    python scripts/mutation_check.py --only R1 D3 --json out.json

Exit status: 0 when every mutation is killed, 1 when some survive, 2 on a usage error or when the
unmutated copy does not pass its tests (then nothing is measured). See docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RULES_TESTS = ("tests/rules",)
ONSET_TESTS = (
    "tests/dsp/test_onset.py",
    "tests/dsp/test_emg.py",
    "tests/dsp/test_burst_reference.py",
    "tests/dsp/test_uci_onset.py",
)


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to src/nmre
    old: str  # must occur exactly once in the file
    new: str
    what: str
    tests: tuple[str, ...]


M = Mutation
MUTATIONS: tuple[Mutation, ...] = (
    # -- rules ------------------------------------------------------------------------------------
    M(
        "R1",
        "rules/base.py",
        "if lo is not None and value < lo:",
        "if lo is not None and value <= lo:",
        "band edge: a value exactly at lo is called below",
        RULES_TESTS,
    ),
    M(
        "R2",
        "rules/base.py",
        "if hi is not None and value > hi:",
        "if hi is not None and value >= hi:",
        "band edge: a value exactly at hi is called above",
        RULES_TESTS,
    ),
    M(
        "R3",
        "rules/balance.py",
        "baseline_windows: int = 2,",
        "baseline_windows: int = 3,",
        "wrong default: SwayRule baseline of 3 windows (Python API)",
        RULES_TESTS,
    ),
    M(
        "R4",
        "rules/balance.py",
        '"windows averaged into the baseline", 2, lo=1',
        '"windows averaged into the baseline", 1, lo=1',
        "wrong default: SwayRule baseline of 1 window (drill files)",
        RULES_TESTS,
    ),
    M(
        "R5",
        "rules/balance.py",
        "base = float(np.mean(self._base))",
        "base = float(self._base[-1])",
        "sway baseline: the last baseline window instead of their mean",
        RULES_TESTS,
    ),
    M(
        "R6",
        "rules/balance.py",
        "self.hi = max(self.floor, self.factor * base)",
        "self.hi = self.factor * base",
        "sway envelope: the floor dropped",
        RULES_TESTS,
    ),
    M(
        "R7",
        "rules/balance.py",
        "real & (dev > self.hi)",
        "real & (dev >= self.hi)",
        "loss of balance: a shock exactly at the limit counts",
        RULES_TESTS,
    ),
    M(
        "R8",
        "rules/balance.py",
        "dev = np.abs(np.sqrt(np.sum(acc**2, axis=0)) - self.GRAVITY)",
        "dev = np.sqrt(np.sum(acc**2, axis=0)) - self.GRAVITY",
        "loss of balance: abs dropped (a dip of |acc| below g is never a shock)",
        RULES_TESTS,
    ),
    M(
        "R9",
        "rules/bands.py",
        "return self.first - self.lo  # drop",
        "return self.lo - self.first  # drop",
        "band stat 'drop': wrong sign",
        RULES_TESTS,
    ),
    M(
        "R10",
        "rules/bands.py",
        "mean = (abs(lv) + abs(rv)) / 2.0",
        "mean = (lv + rv) / 2.0",
        "symmetry index: abs dropped from the mean of the two sides",
        RULES_TESTS,
    ),
    M(
        "R11",
        "rules/bands.py",
        "lv, rv = self._acc[self.left[0]].value(), self._acc[self.right[0]].value()",
        "rv, lv = self._acc[self.left[0]].value(), self._acc[self.right[0]].value()",
        "symmetry: left and right swapped",
        RULES_TESTS,
    ),
    M(
        "R12",
        "rules/bands.py",
        'd = float(peak) - start if self.phase == "to_peak" else end - float(peak)',
        'd = end - float(peak) if self.phase == "to_peak" else float(peak) - start',
        "tempo: phases to/from the peak swapped",
        RULES_TESTS,
    ),
    M(
        "R13",
        "rules/bands.py",
        "inside = (t >= episode.start) & (t <= episode.end)",
        "inside = (t >= episode.start) & (t < episode.end)",
        "late units: the unit's last sample left out of the window (off by one)",
        RULES_TESTS,
    ),
    M(
        "R14",
        "rules/emg.py",
        "lag = (tl - te) * 1e3",
        "lag = (te - tl) * 1e3",
        "onset order: lag with the wrong sign",
        RULES_TESTS,
    ),
    M(
        "R15",
        "rules/emg.py",
        "return c[-1] if c else math.nan",
        "return c[0] if c else math.nan",
        "onset order: the first onset of the search window instead of the last",
        RULES_TESTS,
    ),
    M(
        "R16",
        "rules/_runs.py",
        "t_on=max(min_on, step),",
        "t_on=max(min_on, step) + step,",
        "hold runs: minimum on-duration one sample too long",
        RULES_TESTS,
    ),
    M(
        "R17",
        "rules/emg.py",
        "return self.num / self.den if self.n and self.den > 0 else math.nan",
        "return self.den / self.num if self.n and self.den > 0 else math.nan",
        "envelope ratio: numerator and denominator swapped",
        RULES_TESTS,
    ),
    M(
        "R18",
        "rules/movement.py",
        "thr = ext + self.near if below else ext - self.near",
        "thr = ext - self.near if below else ext + self.near",
        "hold near the extreme: the band on the wrong side of the extreme",
        RULES_TESTS,
    ),
    M(
        "R19",
        "rules/movement.py",
        "ok = np.isfinite(x[0]) & (t >= episode.start) & (t <= episode.end)",
        "ok = np.isfinite(x[0]) & (t >= episode.start) & (t < episode.end)",
        "buffered rules: the unit's last sample left out (off by one)",
        RULES_TESTS,
    ),
    # -- dsp --------------------------------------------------------------------------------------
    M(
        "D1",
        "dsp/_onset_kernels.py",
        "off = mu + k_off * sd",
        "off = mu + k_on * sd",
        "onset: k_off ignored (no hysteresis)",
        ONSET_TESTS,
    ),
    M(
        "D21",
        "dsp/onset.py",
        "self.k_on, self.k_off = float(k_on), float(k_off)",
        "self.k_on, self.k_off = float(k_on), float(k_on)",
        "onset: k_off ignored at construction (no hysteresis, also in .thresholds)",
        ONSET_TESTS,
    ),
    M(
        "D2",
        "dsp/_onset_kernels.py",
        "if gap > max_gap:",
        "if gap >= max_gap:",
        "onset: one dip fewer tolerated inside a run (off by one)",
        ONSET_TESTS,
    ),
    M(
        "D3",
        "dsp/_onset_kernels.py",
        "if run >= need:",
        "if run > need:",
        "onset: minimum duration one sample too long (off by one)",
        ONSET_TESTS,
    ),
    M(
        "D4",
        "dsp/_onset_kernels.py",
        "ev_f[k, EV_TIME] = run_t",
        "ev_f[k, EV_TIME] = t",
        "onset: event time is the decision, not the run's first sample",
        ONSET_TESTS,
    ),
    M(
        "D5",
        "dsp/_onset_kernels.py",
        "return med, 1.4826 * mad",
        "return med, mad",
        "onset: tracked baseline spread without the MAD-to-SD factor",
        ONSET_TESTS,
    ),
    M(
        "D6",
        "dsp/onset.py",
        "sigma = MAD_TO_SD * np.median(np.abs(x - mu[:, None]), axis=1)\n    return mu, sigma",
        "sigma = MAD_TO_SD * np.median(x - mu[:, None], axis=1)\n    return mu, sigma",
        "robust_baseline: abs dropped from the MAD",
        ONSET_TESTS,
    ),
    M(
        "D7",
        "dsp/onset.py",
        "k_off: float = 2.0,",
        "k_off: float = 3.0,",
        "onset: wrong default k_off",
        ONSET_TESTS,
    ),
    M(
        "D8",
        "dsp/_emg_kernels.py",
        "y[c, i] = abs(x[c, i])",
        "y[c, i] = x[c, i]",
        "rectifier: abs dropped",
        ("tests/dsp/test_emg.py",),
    ),
    M(
        "D9",
        "dsp/_emg_kernels.py",
        "y[c, i] = math.sqrt(max(s, 0.0) / w)",
        "y[c, i] = math.sqrt(max(s, 0.0) / (w - 1))",
        "moving RMS: divides by the window minus one (off by one)",
        ("tests/dsp/test_emg.py",),
    ),
    M(
        "D10",
        "dsp/_filter_kernels.py",
        "zi[s, c, 0] = b1 * u0 - a1 * n0 + zi[s, c, 1]",
        "zi[s, c, 0] = b1 * u0 + a1 * n0 + zi[s, c, 1]",
        "IIR filter (4-channel path): feedback with the wrong sign",
        ("tests/dsp/test_filters.py",),
    ),
    M(
        "D11",
        "dsp/_filter_kernels.py",
        "zi[s, c, 0] = sos[s, 1] * u - sos[s, 4] * un + zi[s, c, 1]",
        "zi[s, c, 0] = sos[s, 1] * u + sos[s, 4] * un + zi[s, c, 1]",
        "IIR filter (1-channel path): feedback with the wrong sign",
        ("tests/dsp/test_filters.py",),
    ),
    M(
        "D12",
        "dsp/balance.py",
        "rms_ap=math.sqrt(var_ap),",
        "rms_ap=math.sqrt(var_ml),",
        "sway metrics: AP RMS from the ML channel (swapped channel)",
        ("tests/dsp/test_balance.py",),
    ),
    M(
        "D13",
        "dsp/joints.py",
        "jw, jx, jy, jz = _qmul(pw, -px, -py, -pz, dw, dx, dy, dz)",
        "jw, jx, jy, jz = _qmul(pw, px, py, pz, dw, dx, dy, dz)",
        "joint angle: proximal orientation not inverted",
        ("tests/dsp/test_joints.py",),
    ),
    M(
        "D14",
        "dsp/joints.py",
        "return np.array([float(flexion_sign), -lr, lr])",
        "return np.array([float(flexion_sign), lr, -lr])",
        "joint angle: left/right sign of abduction and rotation swapped",
        ("tests/dsp/test_joints.py",),
    ),
    M(
        "D15",
        "dsp/_protect.py",
        "            if abs(v) > limit[c]:\n",
        "            if v > limit[c]:\n",
        "input check: abs dropped (a sample far below -full scale passes)",
        ("tests/dsp/test_poison.py",),
    ),
    M(
        "D16",
        "dsp/_protect.py",
        "if not (abs(v) <= limit[c]):  # False for NaN too",
        "if not (v <= limit[c]):  # False for NaN too",
        "input check fast path: abs dropped",
        ("tests/dsp/test_poison.py",),
    ),
    M(
        "D17",
        "dsp/_filter_guard_kernel.py",
        "if abs(v) >= fs:",
        "if v >= fs:",
        "EMG guard: abs dropped (negative saturation passes)",
        ("tests/dsp/test_guard.py",),
    ),
    M(
        "D18",
        "dsp/_filter_guard_kernel.py",
        "elif stuck_n > 0 and run >= stuck_n:",
        "elif stuck_n > 0 and run > stuck_n:",
        "EMG guard: a stuck run flagged one sample late (off by one)",
        ("tests/dsp/test_guard.py",),
    ),
    M(
        "D19",
        "dsp/_move_kernels.py",
        "elif state[RS_PEAK] - state[RS_START_V] < min_amplitude:",
        "elif state[RS_PEAK] < min_amplitude:",
        "rep segmenter: amplitude from 0 instead of from the rep's start value",
        ("tests/dsp/test_movement.py",),
    ),
    M(
        "D20",
        "dsp/balance.py",
        "T = (n - 1) / fs if n > 1 else 0.0",
        "T = n / fs if n > 1 else 0.0",
        "sway metrics: the path's span one sample too long (off by one)",
        ("tests/dsp/test_balance.py",),
    ),
    # -- engine -----------------------------------------------------------------------------------
    M(
        "E1",
        "engine/engine.py",
        "self.stats.detection.add(max(0.0, event.detected_at - event.time))",
        "self.stats.detection.add(max(0.0, event.time - event.detected_at))",
        "detection latency with the wrong sign (clamped to 0)",
        ("tests/core/test_engine.py",),
    ),
)


def _dependents(src: Path, module: str) -> set[Path]:
    """Source files that import ``module`` (dotted), transitively, and the module's own file.

    numba's cache checks a kernel's own source file only: a cached kernel that inlined a kernel of
    the mutated module would keep the old code, so the caches of every importer are removed too."""
    own = src / (module.replace(".", "/") + ".py")
    found, frontier = {own}, [module]
    texts = {p: p.read_text() for p in src.rglob("*.py")}
    while frontier:
        mod = frontier.pop()
        pkg, _, leaf = mod.rpartition(".")
        pat = re.compile(rf"\b{re.escape(mod)}\b|from {re.escape(pkg)} import [^\n]*\b{re.escape(leaf)}\b")
        for p, text in texts.items():
            if p not in found and pat.search(text):
                found.add(p)
                frontier.append(".".join(p.relative_to(src).with_suffix("").parts))
    return found


def _clear_caches(files: set[Path]) -> None:
    for f in files:
        cache = f.parent / "__pycache__"
        if cache.is_dir():
            for c in cache.iterdir():
                if c.name.startswith(f.stem + ".") and c.suffix in (".nbi", ".nbc", ".pyc"):
                    c.unlink()


def _copy_tree(dst: Path) -> None:
    """A private copy of the checkout: src (mtimes kept, so numba's caches stay valid), tests, config."""
    shutil.copytree(
        REPO / "src", dst / "src", copy_function=shutil.copy2, ignore=shutil.ignore_patterns("*.egg-info")
    )
    shutil.copytree(
        REPO / "tests", dst / "tests", ignore=shutil.ignore_patterns("__pycache__", ".hypothesis")
    )
    shutil.copy2(REPO / "pyproject.toml", dst / "pyproject.toml")


def _run_tests(repo: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    env = dict(
        os.environ, PYTHONPATH=str(repo / "src"), HYPOTHESIS_STORAGE_DIRECTORY=str(repo / ".hypothesis")
    )
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-seed=0",
    ]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    dt = time.monotonic() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    status = {0: "passed", 1: "failed"}.get(p.returncode, f"error (pytest exit {p.returncode})")
    return (
        status,
        dt,
        (lines[0] if lines else p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-300:]),
    )


def _apply(src: Path, m: Mutation) -> None:
    path = src / "nmre" / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutation {m.id}: expected the text once in src/nmre/{m.file}, found it {n} times")
    path.write_text(text.replace(m.old, m.new, 1))
    module = "nmre." + m.file[:-3].replace("/", ".")
    _clear_caches(_dependents(src, module))


def main(argv: list[str] | None = None) -> int:
    global REPO
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the mutations and exit")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per test run (a timeout counts as killed)"
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--repo",
        type=Path,
        default=REPO,
        help="the checkout whose src and tests are copied (default: this one)",
    )
    a = ap.parse_args(argv)
    REPO = a.repo.resolve()
    muts = list(MUTATIONS)
    if a.only:
        unknown = sorted(set(a.only) - {m.id for m in muts})
        if unknown:
            print(
                f"mutation_check: --only: expected ids from --list, got {', '.join(unknown)}", file=sys.stderr
            )
            return 2
        muts = [m for m in muts if m.id in a.only]
    if a.list:
        for m in muts:
            print(f"{m.id:4} {m.file:28} {m.what}")
        return 0
    for m in muts:  # every mutation still applies to the code as it is now
        n = (REPO / "src" / "nmre" / m.file).read_text().count(m.old)
        if n != 1:
            print(
                f"mutation_check: {m.id}: expected its text once in src/nmre/{m.file}, found {n}",
                file=sys.stderr,
            )
            return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="nmre-mutation-") as tmp:
        root = Path(tmp)
        # conftest finds ../shared beside the checkout: give the copy the same neighbour
        if (REPO.parent / "shared").exists():
            (root / "shared").symlink_to((REPO.parent / "shared").resolve())
        repo = root / "repo"
        _copy_tree(repo)
        suites = sorted({t for m in muts for t in m.tests})
        status, dt, detail = _run_tests(repo, tuple(suites), a.timeout)
        print(f"unmutated copy: {status} in {dt:.0f} s ({len(suites)} test paths)", flush=True)
        if status != "passed":
            print(f"mutation_check: the unmutated copy must pass its tests first: {detail}", file=sys.stderr)
            return 2
        for m in muts:
            shutil.rmtree(repo / "src")
            shutil.rmtree(repo / ".hypothesis", ignore_errors=True)
            shutil.copytree(REPO / "src", repo / "src", copy_function=shutil.copy2)
            _apply(repo / "src", m)
            status, dt, detail = _run_tests(repo, m.tests, a.timeout)
            killed = status != "passed"
            results.append(
                {
                    "id": m.id,
                    "file": m.file,
                    "what": m.what,
                    "killed": killed,
                    "status": status,
                    "seconds": round(dt, 1),
                    "by": detail if killed else "",
                }
            )
            verdict = "killed  " if killed else "SURVIVED"
            print(
                f"{m.id:4} {verdict} {dt:5.0f} s  {m.file:28} {m.what}"
                + (f"\n       by {detail}" if killed else ""),
                flush=True,
            )
    k = sum(r["killed"] for r in results)
    print(f"\nkilled {k} of {len(results)} ({100.0 * k / max(1, len(results)):.0f} %)")
    for r in results:
        if not r["killed"]:
            print(f"  survived: {r['id']} {r['file']}: {r['what']}")
    if a.json:
        a.json.write_text(
            json.dumps({"killed": k, "total": len(results), "results": results}, indent=1) + "\n"
        )
    return 0 if k == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

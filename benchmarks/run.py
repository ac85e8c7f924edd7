"""Run every nmre benchmark side by side with its peers; print a table; write results.json.

Usage: ``python benchmarks/run.py [--quick] [--only NAME]``  (``make bench``)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Comparison  # noqa: E402


def _fmt(t: float) -> str:
    if t < 1e-6:
        return f"{t * 1e9:8.1f} ns"
    if t < 1e-3:
        return f"{t * 1e6:8.2f} us"
    if t < 1:
        return f"{t * 1e3:8.2f} ms"
    return f"{t:8.3f} s "


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller work sizes (smoke run)")
    ap.add_argument("--only", default=None, help="run only bench_<ONLY>.py")
    args = ap.parse_args(argv)
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if m == f"bench_{args.only}"]
        if not modules:
            print(
                f"bench: expected one of {sorted(p.stem[6:] for p in HERE.glob('bench_*.py'))}, got {args.only!r}"
            )
            return 2
    results: list[Comparison] = []
    failed: list[dict[str, str]] = []
    load0 = os.getloadavg()
    print(
        f"# load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    t0 = time.perf_counter()
    for name in modules:
        mod = importlib.import_module(name)
        print(f"# {name}", flush=True)
        try:
            got = mod.run(quick=args.quick)
        except ImportError as exc:  # a peer package is missing: say so, keep going
            print(f"  skipped: {exc}")
            continue
        except Exception as exc:  # a broken benchmark: one line, the others still run; exit status 1
            why = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(f"  FAILED: {why}", flush=True)
            failed.append({"module": name, "error": why})
            continue
        for c in got:
            print(
                f"  {c.name:<44} nmre {_fmt(c.nmre_time)}  {c.peer:<28} {_fmt(c.peer_time)}  "
                f"x{c.ratio:9.1f}  {c.work}  {c.target}",
                flush=True,
            )
        results.extend(got)
    load1 = os.getloadavg()
    print(f"# load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    out = {
        "load_average": {"before": [round(x, 2) for x in load0], "after": [round(x, 2) for x in load1]},
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "seconds": round(time.perf_counter() - t0, 1),
        "results": [c.to_dict() for c in results],
        "failed": failed,
    }
    path = HERE / "results.json"
    if not args.only:
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}")
    elif not args.quick and path.exists() and results:
        # one module re-measured: its rows replace its earlier rows (by name), the others stay as they were
        old = json.loads(path.read_text())
        names = {c.name for c in results}
        prefix = {c.name.split(":")[0] for c in results}
        kept = [
            r
            for r in old.get("results", [])
            if r["name"] not in names and r["name"].split(":")[0] not in prefix
        ]
        old["results"] = kept + [c.to_dict() for c in results]
        old.setdefault("partial_runs", []).append(
            {
                "command": f"python benchmarks/run.py --only {args.only}",
                "seconds": out["seconds"],
                "load_average": out["load_average"],
            }
        )
        path.write_text(json.dumps(old, indent=2) + "\n")
        print(f"updated {path} ({len(results)} rows of bench_{args.only})")
    if failed:
        print(f"bench: {len(failed)} benchmark(s) failed: {', '.join(f['module'] for f in failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

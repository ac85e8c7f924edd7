"""No numba kernel compiles while a session runs (``nmre._numba``: "compiled before a session starts, never
during one"). A kernel first compiled inside ``Engine.run`` stalls every stream for seconds on a fresh
install: the studio showed all sensors "no data" 5 s into its first session.

Runs in a fresh interpreter, so kernels other tests compiled in this process cannot hide a miss; a kernel
loaded from numba's on-disk cache counts like a compiled one (it gains a signature either way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from nmre.drills import list_drills

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, tempfile, os
    import nmre
    from numba.core.registry import CPUDispatcher
    from nmre.engine import Engine

    mods = [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(nmre.__path__, "nmre.")
        if not (m.name.startswith("nmre.gui") or m.name.endswith("__main__"))
    ]

    def signatures():
        return {
            f"{mod.__name__}.{k}": len(v.signatures)
            for mod in mods
            for k, v in vars(mod).items()
            if isinstance(v, CPUDispatcher)
        }

    compiled = []
    run = Engine.run

    def watched(self, *args, **kwargs):
        before = signatures()
        result = run(self, *args, **kwargs)
        compiled.extend(k for k, n in signatures().items() if n > before.get(k, 0))
        return result

    Engine.run = watched
    from nmre.demo import DemoOptions, run_demo

    out = tempfile.mkdtemp()
    for drill in sys.argv[1:]:
        run_demo(DemoOptions(drill=drill, reps=2, seconds=8.0, record=os.path.join(out, drill + ".xdf")))
    print(json.dumps({"compiled": sorted(set(compiled)), "kernels": len(signatures())}))
    """
)


@pytest.mark.parametrize("drills", [tuple(sorted(list_drills()))])
def test_no_kernel_compiles_inside_a_session(drills: tuple[str, ...]) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *drills], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["kernels"] > 20  # the watch sees nmre's kernels at all
    assert result["compiled"] == [], f"compiled while the session ran: {result['compiled']}"

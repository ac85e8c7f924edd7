"""Archive re-analysis on Dask: 1 against 2 workers, and the batch against the sequential replay.

Data: ``N`` recordings made with ``nmre demo --record`` (squat, 6 reps each, seeds
1..N; N = 12, 4 with ``--quick``), written once to a temporary folder and not timed.

Measured (wall seconds for the whole set, one run each, all in this process):

* ``sequential``: :func:`nmre.sessions.archive.replay_archive` (what ``nmre replay DIR``
  runs: one file after another in this process, kernels already compiled);
* ``batch, 1 worker`` and ``batch, 2 workers``: :func:`nmre.batch.run_batch` on a
  fresh ``LocalCluster`` each, including its start (worker processes, imports, numba
  cache loads) and shutdown, as a user running ``nmre batch`` waits for them.

* ``warm, 1 worker`` and ``warm, 2 workers``: the same on a local cluster (nmre's settings)
  already started and warmed by one recording per worker (imports and numba caches
  loaded), so the ratio shows how the replay work itself spreads, as in a long batch;
* ``nmre batch DIR --workers 2`` against ``nmre replay DIR``, both as commands in a new
  process (imports, numba cache loads, the cluster's start, the table written), as a
  user at a terminal waits for them.

Reported: the scaling ratio (1 worker / 2 workers; 2.0 would be perfect on this
2-core machine) and the per-recording overhead of the batch on 1 worker against the
sequential replay ((batch_1 - sequential) / N, cluster start included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Comparison
from nmre.batch import BatchOptions, run_batch
from nmre.demo import DemoOptions, run_demo


def _archive(folder: Path, n: int) -> list[str]:
    from nmre.sessions.archive import find_recordings

    for seed in range(1, n + 1):
        run_demo(DemoOptions(reps=6, seed=seed, record=str(folder / f"squat-{seed:03d}.xdf")))
    return find_recordings([folder])


def _timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(quick: bool = False) -> list[Comparison]:
    from nmre.sessions.archive import replay_archive  # ImportError: run.py reports the benchmark skipped

    n = 4 if quick else 12
    with tempfile.TemporaryDirectory(prefix="nmre-bench-batch-") as tmp:
        files = _archive(Path(tmp), n)
        replay_archive(files[:1])  # warm: kernels loaded in this process
        t_seq, seq = _timed(lambda: replay_archive(files))
        t_1, one = _timed(lambda: run_batch(files, None, BatchOptions(workers=1)))
        t_2, two = _timed(lambda: run_batch(files, None, BatchOptions(workers=2)))
        t_w1, warm1 = _warm(files, 1)
        t_w2, warm2 = _warm(files, 2)
        t_cli_seq, _ = _timed(lambda: _command("replay", tmp, "--table", f"{tmp}/seq"))
        t_cli_2, _ = _timed(
            lambda: _command("batch", tmp, "--workers", "2", "--quiet", "--table", f"{tmp}/b2")
        )
    assert one.rows == seq.rows and two.rows == seq.rows, "batch rows differ from the sequential replay"
    assert warm1.rows == seq.rows and warm2.rows == seq.rows, "batch rows differ from the sequential replay"
    work = f"{n} recordings of 6 squats"
    return [
        Comparison(
            "batch: 2 workers vs 1 (scaling)", t_2, "batch, 1 worker", t_1, work, "x2.0 on 2 cores is perfect"
        ),
        Comparison(
            "batch warm: 2 workers vs 1 (scaling)",
            t_w2,
            "warm cluster, 1 worker",
            t_w1,
            work,
            "cluster started and warmed before timing; x2.0 is perfect",
        ),
        Comparison("batch, 2 workers vs sequential replay", t_2, "nmre replay DIR (sequential)", t_seq, work),
        Comparison(
            "batch overhead per recording (1 worker)",
            max(1e-9, (t_1 - t_seq) / n),
            "sequential replay per recording",
            t_seq / n,
            "per recording, cluster start included",
        ),
        Comparison(
            "nmre batch --workers 2 vs nmre replay DIR",
            t_cli_2,
            "nmre replay DIR (command)",
            t_cli_seq,
            work,
            "commands in a new process each, start-up included",
        ),
    ]


def _warm(files: list[str], workers: int) -> tuple[float, object]:
    from nmre.batch import _client

    with _client(BatchOptions(workers=workers)) as client:
        address = client.scheduler.address
        run_batch(files[:workers], None, BatchOptions(scheduler=address))  # one recording per worker: warm
        return _timed(lambda: run_batch(files, None, BatchOptions(scheduler=address)))


def _command(*args: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    subprocess.run(
        [sys.executable, "-m", "nmre", *args], env=env, capture_output=True, check=True, timeout=1800
    )


if __name__ == "__main__":
    for c in run(quick=True):
        print(c.name, c.nmre_time, c.peer, c.peer_time, c.ratio)

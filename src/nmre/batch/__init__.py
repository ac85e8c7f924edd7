"""Archive re-analysis on Dask: every recording replayed through the engine, one task per recording.

A research group re-analyses thousands of recorded sessions when a detector or a
tolerance changes. :func:`run_batch` maps the per-file replay function of
``nmre replay`` (:func:`nmre.sessions.replay.replay_file`, a plain function of
(file, settings) with picklable inputs and outputs) over the files on
dask.distributed: a :class:`distributed.LocalCluster` on this computer by
default, or an existing cluster by its scheduler's address.

* **One task per recording, submitted in batches**: at most ``in_flight`` tasks
  are on the cluster at once and a new one is submitted as each finishes, so a
  folder of 100 000 files does not flood the scheduler with tasks before any
  worker starts (dask/distributed#2181), and the table fills in as they finish.
* **Failures are listed, not raised**: a recording that cannot be replayed is a
  row with its reason (``error``); so is one whose worker died while replaying
  it. On the local cluster each worker holds one task at a time and a task whose
  worker dies is not tried again (``retries``): the death costs that recording
  only, and the others go on on the workers left and the ones the nanny restarts.
* **The same rows as the sequential run**: the rows are those of
  :func:`nmre.sessions.archive.replay_archive` (``nmre replay DIR``), in the
  order of the files, written by the same table writer (Parquet and CSV).
* **No listener beyond this computer unless asked**: the local cluster's
  scheduler and workers listen on 127.0.0.1 only and its dashboard is off
  (``dashboard`` turns it on, on 127.0.0.1).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nmre.errors import ConfigError, NmreError, expected

__all__ = ["BatchOptions", "BatchResult", "ClusterError", "replay_row", "run_batch"]

logger = logging.getLogger(__name__)


class ClusterError(NmreError):
    """The Dask scheduler cannot be reached, or its workers cannot run nmre."""


@dataclass(frozen=True)
class BatchOptions:
    """Where and how to run a batch.

    Parameters
    ----------
    scheduler : str or None
        Address of an existing scheduler (``tcp://host:8786``); ``None`` starts a
        :class:`~distributed.LocalCluster` for the batch.
    workers : int
        Worker processes of the local cluster (one thread each: the replay is
        Python and numba without the GIL released in between, so processes, not
        threads, run in parallel).
    in_flight : int or None
        Tasks on the cluster at once (default: twice the cluster's threads).
    dashboard : int or None
        Port of the local cluster's dashboard on 127.0.0.1 (``None``: no dashboard).
    connect_timeout : float
        Seconds to wait for an existing scheduler.
    retries : int
        Times a task whose worker died is tried again on another worker (local
        cluster; 0 = the recording is reported and not tried again).
    """

    scheduler: str | None = None
    workers: int = 2
    in_flight: int | None = None
    dashboard: int | None = None
    connect_timeout: float = 10.0
    retries: int = 0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError("--workers: " + expected("at least 1", self.workers))
        if self.in_flight is not None and self.in_flight < 1:
            raise ConfigError("in_flight: " + expected("at least 1", self.in_flight))
        if self.dashboard is not None and not 0 <= self.dashboard <= 65535:
            raise ConfigError("--dashboard: " + expected("a port 0-65535", self.dashboard))
        if not (math.isfinite(self.connect_timeout) and self.connect_timeout > 0):
            raise ConfigError("connect timeout: " + expected("seconds > 0", self.connect_timeout))
        if self.retries < 0:
            raise ConfigError("retries: " + expected("0 or more", self.retries))


@dataclass
class BatchResult:
    """The rows (one per file, in the order given), where they went, and how the run went."""

    rows: list[dict[str, Any]]
    tables: list[str] = field(default_factory=list)
    scheduler: str = ""
    threads: int = 0
    wall_seconds: float = 0.0
    #: Workers that died during the batch (each cost at most the recording it was replaying).
    workers_lost: int = 0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]


def replay_row(path: str, settings: Any) -> dict[str, Any]:
    """One row for ``path``: :func:`~nmre.sessions.replay.replay_file`'s metrics, or the reason it failed.

    The function each task runs; it never raises for a recording, so one bad
    file costs only its own row.
    """
    from nmre.sessions.archive import replay_one

    return replay_one(path, settings)


@contextmanager
def _client(options: BatchOptions) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if options.scheduler is not None:
        try:
            client = Client(options.scheduler, timeout=options.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {options.scheduler} within {options.connect_timeout:g} s "
                f"({type(error).__name__}); expected a running scheduler (dask scheduler) at that address"
            ) from None
        except ValueError as error:  # an address distributed cannot parse
            raise ClusterError(
                f"--scheduler {options.scheduler!r}: expected an address such as tcp://host:8786 ({error})"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    settings = {
        # one task per worker at a time: a worker that dies takes only the recording it was replaying
        "distributed.scheduler.worker-saturation": 1.0,
        "distributed.scheduler.allowed-failures": options.retries,
        "distributed.worker.daemon": False,
        "distributed.admin.tick.limit": "30s",
    }
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=options.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None if options.dashboard is None else f"127.0.0.1:{options.dashboard}",
            silence_logs=logging.CRITICAL,
        )
        try:
            client = Client(cluster, set_as_default=False)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


def _check_workers(client: Any, address: str) -> int:
    """The cluster's thread count, after checking a worker can import nmre (one clear line if not)."""
    info = client.scheduler_info()
    threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
    if threads == 0:
        raise ClusterError(f"the Dask scheduler at {address} has no workers; expected at least one")
    probe = client.submit(_nmre_version, pure=False)
    try:
        probe.result(timeout=120)
    except Exception as error:
        raise ClusterError(
            f"the Dask workers at {address} cannot run nmre ({type(error).__name__}: {error}); "
            "expected nmre installed on every worker"
        ) from None
    return int(threads)


def _nmre_version() -> str:
    from nmre import __version__

    return __version__


def _failure(path: str, error: BaseException) -> dict[str, Any]:
    from distributed import KilledWorker

    if isinstance(error, KilledWorker):
        return {
            "file": path,
            "error": "a Dask worker died while replaying this recording; the others went on",
        }
    return {"file": path, "error": f"{type(error).__name__}: {error}"}


def run_batch(
    files: Sequence[str],
    settings: Mapping[str, Any] | Any = None,
    options: BatchOptions | None = None,
    *,
    table: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    task: Callable[[str, Any], dict[str, Any]] | None = None,
) -> BatchResult:
    """Replay every file on Dask; one row per file (failures included), optionally written as a table.

    Parameters
    ----------
    files : sequence of str
        Recordings (see :func:`nmre.sessions.archive.find_recordings`).
    settings : ReplaySettings or mapping
        What-if settings for every file (drill, ``--set`` overrides, ...);
        checked before the cluster starts.
    options : BatchOptions
        Where to run (default: a local cluster of 2 workers).
    table : path or None
        Stem of the table files (``.parquet`` and ``.csv``) to write.
    progress : callable or None
        Called as ``progress(done, total, row)`` after each file.
    task : callable or None
        The per-file function (default :func:`replay_row`); it must be
        importable by the workers.
    """
    from distributed import as_completed

    from nmre.sessions.replay import ReplaySettings

    opts = options or BatchOptions()
    replay_settings = ReplaySettings.from_mapping(settings)
    if replay_settings.speed is not None:
        raise ConfigError("batch: expected the virtual clock (no speed) for an archive run")
    files = list(files)
    if not files:
        raise ConfigError("batch: expected at least one recording, got none")
    fn = task or replay_row
    wall0 = time.perf_counter()
    rows: list[dict[str, Any] | None] = [None] * len(files)
    with _client(opts) as client:
        address = str(client.scheduler.address)
        threads = _check_workers(client, opts.scheduler or address)
        workers_before = set(client.scheduler_info()["workers"])
        seen_workers = set(workers_before)
        in_flight = opts.in_flight or 2 * threads
        queue = iter(enumerate(files))
        owner: dict[Any, tuple[int, str]] = {}

        def submit_next() -> Any:
            nxt = next(queue, None)
            if nxt is None:
                return None
            i, path = nxt
            future = client.submit(fn, path, replay_settings, key=f"nmre-replay-{i}", pure=False)
            owner[future] = (i, path)
            return future

        ac = as_completed([submit_next() for _ in range(min(in_flight, len(files)))], loop=client.loop)
        for done, future in enumerate(ac, start=1):
            i, path = owner.pop(future)
            try:
                row = future.result()
            except Exception as error:  # the task's failure is this file's row, never the batch's end
                row = _failure(path, error)
            future.release()
            rows[i] = row
            seen_workers |= set(client.scheduler_info()["workers"])
            if progress is not None:
                progress(done, len(files), row)
            nxt = submit_next()
            if nxt is not None:
                ac.add(nxt)
        workers_lost = len(seen_workers - set(client.scheduler_info()["workers"]))
    result = BatchResult(
        rows=[r for r in rows if r is not None],
        scheduler=opts.scheduler or "local",
        threads=threads,
        wall_seconds=time.perf_counter() - wall0,
        workers_lost=workers_lost,
    )
    if table is not None:
        from nmre.sessions.archive import write_table

        result.tables = write_table(result.rows, table)
    return result

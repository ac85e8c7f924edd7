"""Re-analyse an archive of recordings one file after another into one table of per-session metrics.

The per-file work is :func:`nmre.sessions.replay.replay_file`, a plain function of
(file, settings); this module only schedules it (sequentially) and writes the
table (CSV, and Parquet through pyarrow). A file that fails is a row with its
reason (``error``), and the run goes on.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmre.errors import ConfigError, NmreError
from nmre.sessions.replay import ReplaySettings, replay_file

__all__ = ["ArchiveResult", "find_recordings", "replay_archive", "replay_one", "write_table"]


@dataclass
class ArchiveResult:
    rows: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]


def find_recordings(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files named, and every ``*.xdf`` under the folders named (sorted), in the order given."""
    out: list[str] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(str(f) for f in sorted(p.rglob("*.xdf")) if f.is_file())
        elif p.exists():
            out.append(str(p))
        else:
            raise ConfigError(
                f"replay: expected a recording or a folder of recordings, got {str(p)!r} (no such path)"
            )
    if not out:
        raise ConfigError(f"replay: expected .xdf recordings, found none in {', '.join(map(str, paths))}")
    return out


def replay_one(path: str, settings: ReplaySettings | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`replay_file`'s row for ``path``, or a row with the reason it failed (``error``); never raises for a file."""
    try:
        row = replay_file(path, settings)
        row["error"] = None
    except NmreError as exc:
        row = {"file": path, "error": str(exc)}
    except Exception as exc:  # a bug on one file must not cost the others (the reason is kept)
        row = {"file": path, "error": f"{type(exc).__name__}: {exc}"}
    return row


def replay_archive(
    files: Iterable[str],
    settings: ReplaySettings | Mapping[str, Any] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> ArchiveResult:
    """Run :func:`replay_one` on each file in turn: a failure is a row with ``error`` and the run goes on."""
    opts = ReplaySettings.from_mapping(settings)
    rows = []
    for f in files:
        row = replay_one(f, opts)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return ArchiveResult(rows)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    first = ["file", "error", "drill", "patient", "recorded", "session_seconds", "problems"]
    rest = sorted({k for r in rows for k in r} - set(first))
    return [c for c in first if any(c in r for r in rows)] + rest


def table_stem(stem: str | os.PathLike[str]) -> str:
    """``stem`` without a ``.csv``/``.parquet`` suffix, once its folder is known to exist; else a ConfigError.

    Called before an archive is replayed, so a table that cannot be written is said before the work,
    not after it."""
    stem = os.fspath(stem)
    for suffix in (".csv", ".parquet"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if not stem or os.path.isdir(stem):
        raise ConfigError(f"--table: expected a file stem such as results/metrics, got {stem!r}")
    folder = os.path.dirname(os.path.abspath(stem))
    if not os.path.isdir(folder):
        raise ConfigError(f"--table: expected an existing folder, got {folder}")
    return stem


def write_table(rows: Sequence[Mapping[str, Any]], stem: str | os.PathLike[str]) -> list[str]:
    """Write ``stem.csv`` and ``stem.parquet`` (one row per file, a column per metric); return the paths."""
    stem = table_stem(stem)
    cols = _columns(rows)
    csv_path = stem + ".csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    import pyarrow as pa
    import pyarrow.parquet as pq

    def column(c: str) -> Any:
        vals = [r.get(c) for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds <= {int}:
            return pa.array(vals, type=pa.int64())
        if kinds <= {int, float}:
            return pa.array([None if v is None else float(v) for v in vals], type=pa.float64())
        return pa.array([None if v is None else str(v) for v in vals], type=pa.string())

    table = pa.table({c: column(c) for c in cols})
    pq_path = stem + ".parquet"
    pq.write_table(table, pq_path)
    return [csv_path, pq_path]

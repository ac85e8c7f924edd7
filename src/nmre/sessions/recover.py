"""Make a damaged recording whole again: ``nmre recover FILE``.

A recording cut short (the process was killed, the machine lost power) ends in the
middle of a chunk and has no footers; a corrupted one has bytes that are not what
their chunk says. :func:`recover` reads whatever is intact (:func:`~nmre.sessions.read_xdf`
keeps every whole sample, even from a chunk cut in half, and skips corrupt chunks
to the next boundary), and writes a new file with the same stream headers, the
intact samples, boundaries, clock offsets and footers rebuilt from the samples.
The damaged original is kept beside it (``FILE.damaged``) unless another output is
named: recorded data is never thrown away.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nmre.errors import RecordingError
from nmre.sessions import xdf

__all__ = ["RecoveryReport", "recover", "write_recording"]

#: Seconds of samples per chunk in a rewritten file.
_CHUNK_SECONDS = 1.0


@dataclass
class RecoveryReport:
    """What :func:`recover` found and kept."""

    path: str
    output: str
    backup: str | None
    size: int
    intact_until: int
    problems: list[xdf.Problem]
    streams: list[dict[str, Any]] = field(default_factory=list)
    was_complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "output": self.output,
            "backup": self.backup,
            "size": self.size,
            "intact_until": self.intact_until,
            "was_complete": self.was_complete,
            "problems": [{"offset": p.offset, "message": p.message} for p in self.problems],
            "streams": self.streams,
        }

    def lines(self) -> Iterator[str]:
        if self.was_complete:
            yield f"{self.path}: complete, nothing to recover ({self.size} bytes)"
            return
        yield f"{self.path}: {self.size} bytes, intact up to byte {self.intact_until}"
        for p in self.problems:
            yield f"  found: {p}"
        for s in self.streams:
            span = "no samples" if not s["samples"] else f"{s['first']:.3f} .. {s['last']:.3f} s"
            yield f"  kept {s['name']:<20} {s['samples']:>9} samples  {span}"
        where = f" (the damaged file is kept as {self.backup})" if self.backup else ""
        yield f"wrote {self.output}{where}"


def _chunks_of(s: xdf.XdfStream) -> Iterator[tuple[int, int]]:
    """Index ranges of about :data:`_CHUNK_SECONDS` of samples each."""
    n = s.n_samples
    if n == 0:
        return
    step = 256 if s.is_string or s.srate <= 0 else max(1, round(s.srate * _CHUNK_SECONDS))
    for a in range(0, n, step):
        yield a, min(n, a + step)


def write_recording(rec: xdf.Recording, path: str) -> int:
    """Write ``rec`` as a whole XDF file (headers, samples, boundaries, clock offsets, footers).

    Returns the number of bytes written. Stream headers are written back as read;
    footers are rebuilt from the samples.
    """
    datetime = rec.header.get("datetime", "")
    extra = {k: v for k, v in rec.header.items() if k not in ("version", "datetime")}
    with open(path, "wb") as f:
        f.write(xdf.MAGIC)
        f.write(xdf.file_header_chunk(datetime, extra))
        for s in rec.streams:
            body = b'<?xml version="1.0"?>' + ET.tostring(s.header, encoding="utf-8")
            f.write(xdf.chunk(xdf.TAG_STREAM_HEADER, body, s.stream_id))
        f.write(xdf.boundary_chunk())
        for s in rec.streams:
            offsets = list(s.clock_offsets)
            if s.n_samples and not offsets:
                offsets = [(float(s.times[0]), 0.0)]
            for t, v in offsets:
                f.write(xdf.clock_offset_chunk(s.stream_id, t, v))
            for a, b in _chunks_of(s):
                if s.is_string:
                    f.write(xdf.string_samples_chunk(s.stream_id, s.times[a:b].tolist(), s.values[a:b]))
                else:
                    f.write(xdf.numeric_samples_chunk(s.stream_id, s.times[a:b], s.values[:, a:b]))
            f.write(xdf.boundary_chunk())
        for s in rec.streams:
            first = float(s.times[0]) if s.n_samples else math.nan
            last = float(s.times[-1]) if s.n_samples else math.nan
            offsets = list(s.clock_offsets) or ([(first, 0.0)] if s.n_samples else [])
            f.write(xdf.stream_footer_chunk(s.stream_id, first, last, s.n_samples, offsets))
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def recover(path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> RecoveryReport:
    """Rebuild a truncated or corrupted recording.

    Parameters
    ----------
    path : str or path-like
        The damaged file.
    output : str or path-like, optional
        Where to write the whole file. Default: in place, the damaged original
        renamed to ``PATH.damaged``. A complete file is left alone (nothing written).

    Raises
    ------
    RecordingError
        If the file is not XDF at all, or holds no stream header to rebuild from.
    """
    path = os.fspath(path)
    rec = xdf.read_xdf(path)
    report = RecoveryReport(path, path, None, rec.size, rec.intact_until, list(rec.problems))
    report.streams = [
        {
            "name": s.name,
            "role": s.role,
            "samples": s.n_samples,
            "first": float(s.times[0]) if s.n_samples else None,
            "last": float(s.times[-1]) if s.n_samples else None,
            "had_footer": s.footer is not None,
        }
        for s in rec.streams
    ]
    if rec.complete:
        report.was_complete = True
        return report
    if not rec.streams:
        raise RecordingError(f"{path}: no stream header survived; nothing to recover ({rec.problems[0]})")
    if output is not None:
        out = os.fspath(output)
        if os.path.abspath(out) == os.path.abspath(path):
            raise RecordingError(f"recover: expected an output other than the input, got {out}")
        write_recording(rec, out)
        report.output = out
        return report
    tmp = path + ".recovering"
    write_recording(rec, tmp)
    backup = path + ".damaged"
    n = 1
    while os.path.exists(backup):
        n += 1
        backup = f"{path}.damaged{n}"
    os.replace(path, backup)
    os.replace(tmp, path)
    report.backup = backup
    return report

"""The XDF recorder: a sink that writes a session to disk from its own thread.

The engine's thread only appends what it hands the sink (a block, an event, a
feedback state) to a queue: a few hundred nanoseconds, never a wait. The writer
thread wakes every ``flush_seconds`` (0.25 s), cuts what has come into whole
chunks, writes them, and flushes to the operating system (``fsync`` at least once a
second), so a killed process loses at most the samples of the last cut (plus one
wake): under a second.

Chunks are cut on the **session clock**, not on the writer's wake-ups: each time the
latest sample time passes a multiple of ``chunk_seconds``, every stream's samples
before that cut become one Samples chunk. The file's layout therefore depends only
on what the session produced, so recording the same replay twice gives the same
bytes (but for the date in the file header). A Boundary chunk precedes the first
chunk of every second of session time and a ClockOffset (0: nmre stamps every
stream on the session clock) goes out every 5 s per stream with samples (the string
streams and the block log too), as LabRecorder does;
footers are written when the session closes the sink, and :func:`nmre.sessions.recover`
rebuilds them when it never did.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shutil
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nmre
from nmre.core.interfaces import Sink
from nmre.core.model import Block, Channel, Event, FeedbackState, StreamInfo, StreamKind
from nmre.errors import ConfigError, RecordingError
from nmre.sessions import xdf

__all__ = ["XdfRecorder", "software_metadata"]

#: Samples are cut into chunks at multiples of this much session time (s). A killed process loses at
#: most one cut and one wake of the writer (0.5 + 0.25 s, and the transport delay); each cut costs the
#: writer thread per stream, under the engine's GIL (docs/performance.md: 0.25 s cost ~12 % more).
CHUNK_SECONDS = 0.5
#: A Boundary chunk at least this often (session s).
BOUNDARY_SECONDS = 1.0
#: A ClockOffset per stream this often (session s).
CLOCK_OFFSET_SECONDS = 5.0
#: Free space the disk must have when a recording opens: this many seconds of the session's data.
MIN_FREE_SECONDS = 600.0

_EVENTS, _FEEDBACK, _GAPS, _METADATA = "nmre.events", "nmre.feedback", "nmre.gaps", "nmre.metadata"
_BLOCKS = "nmre.blocks"
#: Channels of the block log: which raw stream (index in the file's raw streams), how many samples, the
#: first sample's sequence number and the samples missing before it; the timestamp is the block's arrival.
BLOCK_LOG_CHANNELS = (
    Channel("stream", "index"),
    Channel("samples", "1"),
    Channel("seq", "1"),
    Channel("missing_before", "1"),
)


def software_metadata() -> dict[str, Any]:
    """The software that made a recording: nmre's version, Python's, numpy's and the platform."""
    return {
        "nmre": nmre.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _jsonable(x: Any) -> Any:
    """Settings often hold tuples and numpy numbers: make them JSON (deterministically)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    return str(x)


def _dumps(d: Any) -> str:
    return json.dumps(_jsonable(d), sort_keys=True, separators=(",", ":"))


def _leaf(x: Any) -> Any:
    """:func:`_jsonable` of one value, with the usual types (a float, a string, None) decided first."""
    t = type(x)
    if t is float:
        return x if math.isfinite(x) else None
    if x is None or t is str or t is int or t is bool:
        return x
    return _jsonable(x)


_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # json.dumps's own string encoder


def _num(x: Any) -> str:
    """The JSON text of :func:`_leaf` of ``x`` (a float as json writes it, ``null`` for non-finite)."""
    if type(x) is float:
        return float.__repr__(x) if math.isfinite(x) else "null"
    if x is None:
        return "null"
    return json.dumps(_leaf(x))


def feedback_json(st: FeedbackState, cache: dict[Any, Any] | None = None) -> str:
    """The recorded feedback state without its time: signals (value, unit, zone) and the last cue.

    The same text as ``_dumps`` of the same dict (sorted keys, compact), written out
    directly: the writer thread does this 20 times a second of session, and every
    microsecond it holds the GIL the engine's thread waits. ``cache`` (the recorder's)
    keeps each signal's text up to its value while its zone stays the same, the names' sorted order
    while they are the same, and the last cue's text while it is the same cue.
    """
    c: dict[Any, Any] = {} if cache is None else cache
    cues = st.cues[-1:]
    if not cues:
        cue_text = "[]"
    else:
        cue = cues[0]
        last = c.get("cue")
        if last is not None and last[0] is cue:
            cue_text = last[1]
        else:
            body = {"message": _leaf(cue.message), "rule": _leaf(cue.rule), "time": _leaf(cue.time)}
            body["tone"] = _leaf(cue.tone)
            cue_text = "[" + json.dumps(body, sort_keys=True, separators=(",", ":")) + "]"
            c["cue"] = (cue, cue_text)
    parts = []
    signals = st.signals
    names = tuple(signals)  # the same names in the same order from one refresh to the next: sorted once
    last_order = c.get("order")
    if last_order is not None and last_order[0] == names:
        order = last_order[1]
    else:
        order = sorted(names, key=str)
        c["order"] = (names, order)
    for name in order:
        v = signals[name]
        key = (name, v.unit)
        hi, lo = v.hi, v.lo
        pre = c.get(key)  # the text up to the value, kept while the zone is the same (of the same types)
        if (
            pre is None
            or pre[1] != hi
            or pre[2] != lo
            or type(pre[1]) is not type(hi)
            or type(pre[2]) is not type(lo)
        ):
            head = _str(str(name)) + ':{"hi":' + _num(hi) + ',"lo":' + _num(lo)
            pre = c[key] = (head + ',"unit":' + json.dumps(_leaf(v.unit)) + ',"value":', hi, lo)
        parts.append(pre[0] + _num(v.value) + "}")
    return '{"cues":' + cue_text + ',"signals":{' + ",".join(parts) + "}}"


@dataclass
class _Out:
    """One XDF stream being written: its pending samples and footer tallies."""

    sid: int
    name: str
    numeric: bool
    n_channels: int
    # numeric: each block's last time (a float; its times and values in ``times``, ``values``);
    # string: (key, t, text); the block log: the rows left after the last cut, one array (rows, 5)
    pending: list[Any] = field(default_factory=list)
    times: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    log: bool = False  # the block log: rows of arrival, stream index, n, seq, missing_before
    first: float = math.nan
    last: float = math.nan
    count: int = 0
    offsets: list[tuple[float, float]] = field(default_factory=list)
    next_offset: float = 0.0


class XdfRecorder(Sink):
    """Records a session to an XDF file (a :class:`~nmre.core.Sink` with its own writer thread).

    Parameters
    ----------
    path : str or path-like
        The file to write (``.xdf``). An existing file is replaced.
    metadata : mapping, optional
        Session metadata stored in the ``nmre.metadata`` stream and the file header:
        settings, drill (name, file text, settings), calibration, patient pseudonym ...
        (JSON-serialisable; tuples become lists). The software's versions are added.
    raw : sequence of str or StreamInfo, optional
        The streams the sources produce (replayed later). Default: every stream
        that names a device (derived streams do not).
    derived : bool or sequence of str
        Also record derived streams (all, or those named): kept for viewing,
        never replayed (a replay derives them again from the raw streams).
    chunk_seconds, flush_seconds : float
        Session time per cut (s) and the writer's wake-up period (wall s).
    fsync : bool
        ``fsync`` the file at least once a second (default), so a power cut loses
        no more than a killed process.
    feedback_period : float
        Record the feedback state at most this often (session s), when it changed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        *,
        raw: Sequence[str | StreamInfo] | None = None,
        derived: bool | Sequence[str] = False,
        chunk_seconds: float = CHUNK_SECONDS,
        flush_seconds: float = 0.25,
        fsync: bool = True,
        feedback_period: float = 0.05,
    ) -> None:
        if not (0 < chunk_seconds <= 60 and 0 < flush_seconds <= 1.0):
            raise ConfigError(
                f"recorder: expected 0 < chunk_seconds <= 60 and 0 < flush_seconds <= 1, "
                f"got {chunk_seconds}, {flush_seconds}"
            )
        self.path = os.fspath(path)
        self.metadata = dict(metadata or {})
        self._raw = None if raw is None else {r if isinstance(r, str) else r.id for r in raw}
        self._derived = derived
        self.chunk_seconds = float(chunk_seconds)
        self.flush_seconds = float(flush_seconds)
        self.fsync = fsync
        self.feedback_period = float(feedback_period)
        self._queue: deque[Block | tuple[Any, ...]] = deque()
        self._outs: dict[str, _Out] = {}
        self._numeric: dict[str, _Out] = {}
        self._raw_index: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._error: BaseException | None = None
        self._last_feedback = -math.inf
        self._last_feedback_text = ""
        self._feedback_cache: dict[Any, Any] = {}
        self._log: list[float] = []  # block-log rows of the blocks routed since the last cut, flat
        self._cut = -math.inf
        self._cut_hint = -math.inf  # a block ending before this cannot move the cut
        self._where: dict[str, tuple[_Out, int | None]] = {}  # numeric stream -> (its out, block-log index)
        self._boundary_index = -1
        self._written = 0
        self.streams: list[StreamInfo] = []
        #: Largest number of items that waited for the writer (a measure of how far behind it fell).
        self.max_backlog = 0

    # -- the sink seam (engine thread) ----------------------------------------------------------
    def open(self, streams: Sequence[StreamInfo]) -> None:
        if self._file is not None:
            raise RecordingError(f"recorder {self.path}: already open")
        recorded = [s for s in streams if self._is_raw(s)]
        derived = [s for s in streams if not self._is_raw(s) and self._wants_derived(s)]
        if not recorded and not derived:
            have = ", ".join(s.id for s in streams) or "none"
            raise ConfigError(f"recorder {self.path}: expected raw streams to record, got only {have}")
        self._check_destination(recorded + derived)
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed by the writer thread
        except OSError as exc:
            raise RecordingError(f"recorder: cannot create {self.path}: {exc.strerror}") from None
        self.streams = list(recorded)
        head = bytearray(xdf.MAGIC)
        now = _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")
        meta = {"software": software_metadata(), "created": now, **self.metadata}
        meta["streams"] = {"raw": [s.id for s in recorded], "derived": [s.id for s in derived]}
        head += xdf.file_header_chunk(now, {"nmre": nmre.__version__})
        sid = 0
        for role, group in ((xdf.Role.RAW, recorded), (xdf.Role.DERIVED, derived)):
            for info in group:
                sid += 1
                head += xdf.stream_header_chunk(
                    sid,
                    info.id,
                    info.kind.value.upper() if info.kind is not StreamKind.MARKER else "Markers",
                    info.channels,
                    info.rate,
                    "double64",
                    source_id=info.device or "nmre",
                    nmre={"role": role, "stream": info.to_dict()},
                    manufacturer=info.device,
                )
                out = _Out(sid, info.id, True, info.n_channels)
                self._outs[info.id] = self._numeric[info.id] = out
        self._raw_index = {info.id: k for k, info in enumerate(recorded)}
        self._where = {sid_: (o, self._raw_index.get(sid_)) for sid_, o in self._numeric.items()}
        sid += 1
        head += xdf.stream_header_chunk(
            sid,
            _BLOCKS,
            "nmre-blocks",
            BLOCK_LOG_CHANNELS,
            0.0,
            "double64",
            source_id="nmre",
            nmre={"role": xdf.Role.BLOCKS, "streams": [s.id for s in recorded]},
        )
        self._outs[_BLOCKS] = _Out(sid, _BLOCKS, True, len(BLOCK_LOG_CHANNELS), log=True)
        for name, role, type_ in (
            (_EVENTS, xdf.Role.EVENTS, "Markers"),
            (_FEEDBACK, xdf.Role.FEEDBACK, "nmre-feedback"),
            (_GAPS, xdf.Role.GAPS, "nmre-gaps"),
            (_METADATA, xdf.Role.METADATA, "nmre-metadata"),
        ):
            sid += 1
            head += xdf.stream_header_chunk(
                sid,
                name,
                type_,
                (Channel("json", "json"),),
                0.0,
                "string",
                source_id="nmre",
                nmre={"role": role},
            )
            self._outs[name] = _Out(sid, name, False, 1)
        # the metadata goes out at once: a file cut short still says what it was
        meta_out = self._outs[_METADATA]
        head += xdf.string_samples_chunk(meta_out.sid, [0.0], [[_dumps(meta)]])
        self._tally(meta_out, 0.0, 0.0, 1)
        head += self._clock_offset_bytes(meta_out, 0.0)
        head += xdf.boundary_chunk()
        self._boundary_index = 0
        try:
            self._file.write(head)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._file.close()
            raise RecordingError(f"recorder: cannot write {self.path}: {exc.strerror}") from None
        self._written = len(head)
        self._thread = threading.Thread(target=self._run, name=f"nmre-recorder:{os.path.basename(self.path)}")
        self._thread.daemon = True
        self._thread.start()

    def _is_raw(self, s: StreamInfo) -> bool:
        return s.id in self._raw if self._raw is not None else s.device is not None

    def _wants_derived(self, s: StreamInfo) -> bool:
        d = self._derived
        return bool(d) if isinstance(d, bool) else s.id in set(d)

    def _check_destination(self, streams: Sequence[StreamInfo]) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if os.path.isdir(self.path):
            raise RecordingError(f"recorder: expected a file path, got the directory {self.path}")
        if not os.path.isdir(folder):
            raise RecordingError(
                f"recorder: expected an existing folder for {self.path}, got none at {folder}"
            )
        if not os.access(folder, os.W_OK):
            raise RecordingError(f"recorder: expected a writable folder, got read-only {folder}")
        rate = sum(s.rate * (9 + 8 * s.n_channels) for s in streams)  # bytes per second of session
        need = int(rate * MIN_FREE_SECONDS) + (16 << 20)
        free = shutil.disk_usage(folder).free
        if free < need:
            raise RecordingError(
                f"recorder: expected at least {need >> 20} MiB free in {folder} "
                f"({MIN_FREE_SECONDS / 60:.0f} min of these streams), got {free >> 20} MiB"
            )

    def on_block(self, block: Block) -> None:
        if block.stream in self._numeric and self._error is None:
            self._queue.append(block)

    def on_event(self, event: Event) -> None:
        if self._error is None:
            self._queue.append(("e", event))

    def on_feedback(self, state: FeedbackState) -> None:
        if state.time - self._last_feedback >= self.feedback_period and self._error is None:
            self._last_feedback = state.time
            self._queue.append(("f", state))

    def add_metadata(self, time: float, items: Mapping[str, Any]) -> None:
        """Add or update metadata during the session (e.g. a calibration record once it is taken)."""
        self._queue.append(("m", float(time), dict(items)))

    @property
    def error(self) -> BaseException | None:
        """The writer's failure (a full disk ...), or ``None``; :meth:`close` raises it."""
        return self._error

    @property
    def bytes_written(self) -> int:
        return self._written

    def close(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise RecordingError(
                f"recorder: writing {self.path} failed: {self._error}; the file holds what came before "
                f"(nmre recover {self.path})"
            )

    # -- the writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        f = self._file
        last_sync = 0.0
        import time as _time

        try:
            while True:
                stopping = self._stop.wait(self.flush_seconds)
                backlog = len(self._queue)
                self.max_backlog = max(self.max_backlog, backlog)
                out = bytearray()
                self._route_many(backlog, out)
                if stopping:
                    while self._queue:
                        self._route(self._queue.popleft(), out)
                    self._emit(math.inf, out)
                    for o in self._outs.values():
                        out += xdf.stream_footer_chunk(o.sid, o.first, o.last, o.count, o.offsets)
                if out:
                    f.write(out)
                    f.flush()
                    self._written += len(out)
                now = _time.monotonic()
                if self.fsync and (stopping or now - last_sync >= 1.0):
                    os.fsync(f.fileno())
                    last_sync = now
                if stopping:
                    break
        except BaseException as exc:  # a full disk, a vanished folder: said at close, never silent
            self._error = exc
            self._queue.clear()
        finally:
            try:
                f.close()
            except OSError as exc:
                self._error = self._error or exc

    def _route_many(self, count: int, out: bytearray) -> None:
        """:meth:`_route` of the next ``count`` queued items: a block's path inlined, the lookups in locals
        (the writer's Python holds the GIL the engine's thread needs: docs/performance.md)."""
        take = self._queue.popleft
        where, log, route = self._where, self._log.extend, self._route
        for _ in range(count):
            item = take()
            if type(item) is tuple or item.missing_before:  # an event, a feedback state, a gap
                route(item, out)
                log = self._log.extend  # a cut made a new list
                continue
            block: Block = item  # type: ignore[assignment]
            o, k = where[block.stream]
            times = block.times
            n = times.shape[0]
            if not n:
                route(item, out)
                continue
            last = float(times[n - 1])
            if k is not None:
                arrival = block.arrival
                if arrival != arrival:
                    arrival = last
                log((arrival, k, n, block.seq, 0))
            o.pending.append(last)
            o.times.append(times)
            o.values.append(block.values)
            if last >= self._cut_hint:
                cut = math.floor(last / self.chunk_seconds) * self.chunk_seconds
                if cut > self._cut:
                    self._emit(cut, out)
                    log = self._log.extend

    def _route(self, item: Block | tuple[Any, ...], out: bytearray) -> None:
        if type(item) is not tuple:  # a block (queued as itself: the engine's append is all it costs)
            block: Block = item  # type: ignore[assignment]
            o, k = self._where[block.stream]
            times = block.times
            n = times.shape[0]
            if block.missing_before:
                t0 = float(times[0]) if n else math.nan
                gap = {"stream": block.stream, "seq": block.seq, "missing_before": block.missing_before}
                self._outs[_GAPS].pending.append((t0, t0, _dumps(gap)))
            last = float(times[n - 1]) if n else math.nan
            if k is not None:  # the block log: a replay can hand the engine the very same blocks again
                arrival = block.arrival
                if arrival != arrival:
                    arrival = last if n else 0.0
                self._log.extend((arrival, k, n, block.seq, block.missing_before))
            if n:
                o.pending.append(last)
                o.times.append(times)
                o.values.append(block.values)
                if last >= self._cut_hint:  # below it the cut cannot move (saves the division per block)
                    cut = math.floor(last / self.chunk_seconds) * self.chunk_seconds
                    if cut > self._cut:
                        self._emit(cut, out)
            return
        what = item[0]
        if what == "e":
            ev: Event = item[1]
            key = ev.detected_at if math.isfinite(ev.detected_at) else ev.time
            t = ev.time if math.isfinite(ev.time) else key
            self._outs[_EVENTS].pending.append((key, t, ev.to_json()))
        elif what == "f":
            st: FeedbackState = item[1]
            text = feedback_json(st, self._feedback_cache)
            if text != self._last_feedback_text:
                self._last_feedback_text = text
                # {"time": t, **body} with sorted keys: "time" sorts after "cues" and "signals"
                stamped = text[:-1] + ',"time":' + json.dumps(_leaf(st.time)) + "}"
                self._outs[_FEEDBACK].pending.append((st.time, st.time, stamped))
        elif what == "m":
            self._outs[_METADATA].pending.append((item[1], item[1], _dumps(item[2])))

    def _emit(self, cut: float, out: bytearray) -> None:
        """Write every stream's pending samples before ``cut`` (session s) as whole chunks."""
        if cut > self._cut:
            self._cut = cut
            self._cut_hint = cut + 0.5 * self.chunk_seconds
        blocks = self._outs[_BLOCKS]
        if self._log:
            rows = np.array(self._log, dtype=np.float64).reshape(-1, 5)
            blocks.pending = [np.concatenate([blocks.pending[0], rows]) if blocks.pending else rows]
            self._log = []
        for o in self._outs.values():
            if not o.pending:
                continue
            if o.log:
                log = o.pending[0]
                early = ~(log[:, 0] >= cut)
                if not early.any():
                    continue
                arr = log[early]
                rest = log[~early]
                o.pending = [rest] if rest.shape[0] else []
                self._boundary(float(arr[0, 0]), out)
                self._clock_offset(o, float(arr[0, 0]), out)
                out += xdf.numeric_samples_chunk(o.sid, arr[:, 0].copy(), arr[:, 1:].T)
                self._tally(o, float(arr[0, 0]), float(arr[-1, 0]), int(arr.shape[0]))
            elif o.numeric:
                times, values = self._take_numeric(o, cut)
                if times is None:
                    continue
                self._boundary(float(times[0]), out)
                self._clock_offset(o, float(times[0]), out)
                out += xdf.numeric_samples_chunk(o.sid, times, values)
                self._tally(o, float(times[0]), float(times[-1]), int(times.shape[0]))
            else:
                take = [p for p in o.pending if not (p[0] >= cut)]
                if not take:
                    continue
                o.pending = [p for p in o.pending if p[0] >= cut]
                ts = [p[1] for p in take]
                self._boundary(min(p[0] for p in take), out)
                self._clock_offset(o, ts[0], out)
                out += xdf.string_samples_chunk(o.sid, ts, [[p[2]] for p in take])
                self._tally(o, ts[0], ts[-1], len(ts))

    def _take_numeric(self, o: _Out, cut: float) -> tuple[Any, Any]:
        lasts = o.pending
        # a stream's blocks come in time order: the whole ones before the cut are a prefix (found by
        # bisection on their last times)
        i = bisect_left(lasts, cut)
        take_t = o.times[:i]
        take_v = o.values[:i]
        if i:
            del lasts[:i], o.times[:i], o.values[:i]
        if lasts:
            t = o.times[0]
            k = int(np.searchsorted(t, cut, side="left"))
            if k:
                v = o.values[0]
                take_t.append(t[:k])
                take_v.append(v[:, :k])
                o.times[0], o.values[0] = t[k:], v[:, k:]
        if not take_t:
            return None, None
        if len(take_t) == 1:
            return take_t[0], take_v[0]
        return np.concatenate(take_t), np.concatenate(take_v, axis=1)

    def _boundary(self, t: float, out: bytearray) -> None:
        idx = math.floor(t / BOUNDARY_SECONDS) if math.isfinite(t) else self._boundary_index
        if idx > self._boundary_index:
            self._boundary_index = idx
            out += xdf.boundary_chunk()

    def _clock_offset(self, o: _Out, t: float, out: bytearray) -> None:
        if t >= o.next_offset:
            out += self._clock_offset_bytes(o, t)

    @staticmethod
    def _clock_offset_bytes(o: _Out, t: float) -> bytes:
        """A ClockOffset chunk of ``o`` at ``t`` (every stream with samples has them, markers too, as
        LabRecorder writes them: pyxdf maps each stream's clock segments from its offsets, and a
        stream with samples but none gets "Segments and clock-segments differ")."""
        if not math.isfinite(t):
            t = o.last if math.isfinite(o.last) else 0.0
        o.offsets.append((t, 0.0))
        o.next_offset = (math.floor(t / CLOCK_OFFSET_SECONDS) + 1) * CLOCK_OFFSET_SECONDS
        return xdf.clock_offset_chunk(o.sid, t, 0.0)

    @staticmethod
    def _tally(o: _Out, first: float, last: float, n: int) -> None:
        if not math.isfinite(o.first):
            o.first = first
        o.last = last
        o.count += n


def recorded_streams(streams: Iterable[StreamInfo]) -> list[str]:
    """Ids of the streams a recorder would treat as raw by default (those that name a device)."""
    return [s.id for s in streams if s.device is not None]

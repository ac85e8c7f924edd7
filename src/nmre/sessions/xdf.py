"""XDF, the Lab Streaming Layer file format: nmre's own writer and reader.

No maintained Python package writes XDF (pyxdf only reads), so nmre writes it
to the specification (https://github.com/sccn/xdf/wiki/Specifications) as
LabRecorder lays it out, and the tests read every file back with pyxdf.

File layout::

    "XDF:"  FileHeader  StreamHeader*  (Samples | ClockOffset | Boundary)*  StreamFooter*

A chunk is ``[varlen length][uint16 tag][uint32 stream id, tags 2 3 4 6][content]``,
little-endian; ``length`` counts the tag, the stream id and the content. A varlen
integer is a width byte (1, 4 or 8) and the value in that many bytes. A Samples
chunk holds ``[varlen n][per sample: timestamp byte 8 + float64 (or 0: previous +
1/srate), values]``; a string value is ``[varlen length][UTF-8]``.

nmre streams carry, in the stream header's ``desc``, the channels with units and
body placement (``channels/channel``) and an ``nmre`` element with the stream's
:class:`~nmre.core.StreamInfo` as JSON and its role in the recording: ``raw`` (what
a source produced: replayed), ``derived`` (what a node computed: kept for viewing,
never replayed), ``events``, ``feedback``, ``gaps`` or ``metadata``.

The reader (:func:`read_xdf`) decodes numeric streams with a numba kernel over a
memory map, tolerates truncated and corrupted files (every problem is reported with
its byte offset; whatever is intact is returned) and reads foreign XDF files
(LabRecorder's) too.
"""

from __future__ import annotations

import functools
import json
import math
import mmap
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import Channel, Event, Placement, Side, StreamInfo, StreamKind
from nmre.errors import RecordingError
from nmre.sessions import _xdf_kernels as kern

__all__ = [
    "BOUNDARY",
    "MAGIC",
    "Problem",
    "Recording",
    "Role",
    "XdfStream",
    "boundary_chunk",
    "chunk",
    "clock_offset_chunk",
    "event_from_dict",
    "file_header_chunk",
    "numeric_samples_chunk",
    "read_xdf",
    "stream_footer_chunk",
    "stream_header_chunk",
    "string_samples_chunk",
    "varlen",
]

F64 = NDArray[np.float64]

MAGIC = b"XDF:"
TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = range(
    1, 7
)
_TAGS_WITH_ID = (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER)
_TAG_NAMES = {
    1: "FileHeader",
    2: "StreamHeader",
    3: "Samples",
    4: "ClockOffset",
    5: "Boundary",
    6: "StreamFooter",
}
#: The 16 bytes of every Boundary chunk (the specification's UUID); a reader that
#: lost its place scans forward to the next one.
BOUNDARY = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")

#: XDF channel formats and their numpy types (little-endian).
FORMATS: dict[str, np.dtype[Any]] = {
    "double64": np.dtype("<f8"),
    "float32": np.dtype("<f4"),
    "int64": np.dtype("<i8"),
    "int32": np.dtype("<i4"),
    "int16": np.dtype("<i2"),
    "int8": np.dtype("i1"),
}
#: Unsigned integer of each width the fast decoders write a value's bits into.
_BITS: dict[int, np.dtype[Any]] = {8: np.dtype(np.uint64), 4: np.dtype(np.uint32)}
#: mmap flag that maps every page at once where the platform has it.
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
#: LSL stream types written for nmre's kinds (readers such as MNE and EEGLAB key on them).
_LSL_TYPES = {StreamKind.EMG: "EMG", StreamKind.MARKER: "Markers", StreamKind.ECG: "ECG"}


class Role:
    """What a stream is in an nmre recording (the ``role`` in its header's ``desc/nmre``)."""

    RAW = "raw"
    DERIVED = "derived"
    EVENTS = "events"
    FEEDBACK = "feedback"
    GAPS = "gaps"
    METADATA = "metadata"
    #: The log of the blocks the engine was handed (arrival, stream, samples): replay "as recorded".
    BLOCKS = "blocks"
    #: A string stream of a file nmre did not write (LabRecorder's markers).
    FOREIGN_MARKERS = "markers"


# -- writing ------------------------------------------------------------------------------
def varlen(n: int) -> bytes:
    """A variable-length integer: width byte (1, 4 or 8) and the value."""
    if n < 0:
        raise ValueError(f"varlen: expected a count >= 0, got {n}")
    if n < 256:
        return bytes((1, n))
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def chunk(tag: int, content: bytes, stream_id: int | None = None) -> bytes:
    """One whole chunk: length, tag, stream id (tags 2, 3, 4, 6) and content."""
    head = struct.pack("<H", tag) + (b"" if stream_id is None else struct.pack("<I", stream_id))
    return varlen(len(head) + len(content)) + head + content


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0"?>' + ET.tostring(root, encoding="utf-8", short_empty_elements=True)


def _sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def file_header_chunk(datetime: str, extra: Mapping[str, str] | None = None) -> bytes:
    """The FileHeader: ``<info><version>1.0</version><datetime>...</datetime>...</info>``."""
    info = ET.Element("info")
    _sub(info, "version", "1.0")
    _sub(info, "datetime", datetime)
    for k, v in (extra or {}).items():
        _sub(info, k, v)
    return chunk(TAG_FILE_HEADER, _xml(info))


def stream_header_chunk(
    stream_id: int,
    name: str,
    type_: str,
    channels: Sequence[Channel],
    srate: float,
    channel_format: str,
    *,
    source_id: str = "",
    nmre: Mapping[str, Any] | None = None,
    manufacturer: str | None = None,
) -> bytes:
    """A StreamHeader with LSL's fields and ``desc`` (channels with units and placement, ``nmre``)."""
    info = ET.Element("info")
    _sub(info, "name", name)
    _sub(info, "type", type_)
    _sub(info, "channel_count", len(channels))
    _sub(info, "nominal_srate", repr(float(srate)))
    _sub(info, "channel_format", channel_format)
    _sub(info, "source_id", source_id)
    _sub(info, "version", "1.1")
    _sub(info, "created_at", "0")
    _sub(info, "uid", f"nmre-{stream_id}-{name}")
    desc = _sub(info, "desc")
    chans = _sub(desc, "channels")
    for c in channels:
        ch = _sub(chans, "channel")
        _sub(ch, "label", c.name)
        _sub(ch, "unit", c.unit)
        _sub(ch, "type", type_)
        if c.placement is not None:
            _placement_xml(ch, c.placement)
    if manufacturer:
        acq = _sub(desc, "acquisition")
        _sub(acq, "manufacturer", manufacturer)
    if nmre is not None:
        _sub(desc, "nmre", json.dumps(nmre, sort_keys=True, separators=(",", ":")))
    return chunk(TAG_STREAM_HEADER, _xml(info), stream_id)


def _placement_xml(parent: ET.Element, p: Placement) -> None:
    el = _sub(parent, "placement")
    for k, v in (("segment", p.segment), ("muscle", p.muscle), ("side", p.side.value if p.side else None)):
        if v:
            _sub(el, k, v)
    _sub(parent, "location", p.describe())


@functools.lru_cache(maxsize=64)
def _sample_dtype(fmt: str, n_channels: int) -> np.dtype[Any]:
    """One numeric sample with its timestamp, as a structured dtype (made once per format and width)."""
    return np.dtype([("b", "u1"), ("t", "<f8"), ("v", FORMATS[fmt], (n_channels,))])


def numeric_samples_chunk(stream_id: int, times: F64, values: NDArray[Any], fmt: str = "double64") -> bytes:
    """A Samples chunk of a numeric stream, every sample with its own timestamp.

    ``times`` is ``(n,)`` seconds, ``values`` ``(n_channels, n)`` in the stream's units.
    Writing each timestamp (9 bytes a sample) keeps the session's sample times exact,
    which a deterministic replay needs.
    """
    n = int(times.shape[0])
    nch = int(values.shape[0])
    dt = _sample_dtype(fmt, nch)
    rec = np.empty(n, dtype=dt)
    rec["b"] = 8
    rec["t"] = times
    rec["v"] = values.T
    return chunk(TAG_SAMPLES, varlen(n) + rec.tobytes(), stream_id)


def string_samples_chunk(stream_id: int, times: Sequence[float], values: Sequence[Sequence[str]]) -> bytes:
    """A Samples chunk of a string stream (markers, events): each value is a varlen length and UTF-8."""
    parts = [varlen(len(times))]
    for t, row in zip(times, values, strict=True):
        parts.append(b"\x08" + struct.pack("<d", t))
        for v in row:
            raw = v.encode("utf-8")
            parts.append(varlen(len(raw)) + raw)
    return chunk(TAG_SAMPLES, b"".join(parts), stream_id)


def clock_offset_chunk(stream_id: int, collection_time: float, offset: float = 0.0) -> bytes:
    """A ClockOffset chunk: when it was measured and the offset (0: nmre stamps on the session clock)."""
    return chunk(TAG_CLOCK_OFFSET, struct.pack("<dd", collection_time, offset), stream_id)


def boundary_chunk() -> bytes:
    return chunk(TAG_BOUNDARY, BOUNDARY)


def stream_footer_chunk(
    stream_id: int,
    first: float,
    last: float,
    count: int,
    offsets: Iterable[tuple[float, float]] = (),
) -> bytes:
    """A StreamFooter: first/last timestamp, sample count and the clock offsets."""
    info = ET.Element("info")
    _sub(info, "first_timestamp", repr(float(first)) if math.isfinite(first) else "0")
    _sub(info, "last_timestamp", repr(float(last)) if math.isfinite(last) else "0")
    _sub(info, "sample_count", int(count))
    co = _sub(info, "clock_offsets")
    for t, v in offsets:
        off = _sub(co, "offset")
        _sub(off, "time", repr(float(t)))
        _sub(off, "value", repr(float(v)))
    return chunk(TAG_STREAM_FOOTER, _xml(info), stream_id)


# -- reading ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """Something wrong in a file, at a byte offset."""

    offset: int
    message: str

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.message}"


@dataclass
class XdfStream:
    """One stream of a recording as read back.

    ``values`` is ``(n_channels, n)`` float64 for numeric streams and a list of rows
    of strings for string streams; ``times`` is ``(n,)`` seconds as written.
    ``info`` is the nmre view of the stream (``None`` if it has none, e.g. a foreign
    stream of a type nmre does not know); ``role`` says what it is in an nmre recording.
    """

    stream_id: int
    name: str
    type: str
    channel_format: str
    srate: float
    n_channels: int
    header: ET.Element
    offset: int
    info: StreamInfo | None = None
    role: str = Role.RAW
    times: F64 = field(default_factory=lambda: np.zeros(0))
    values: Any = None
    footer: dict[str, str] | None = None
    clock_offsets: list[tuple[float, float]] = field(default_factory=list)
    chunks: int = 0
    #: The header's ``desc/nmre`` JSON (role, StreamInfo, ...); empty for foreign streams.
    desc: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.times.shape[0])

    @property
    def is_string(self) -> bool:
        return self.channel_format == "string"


@dataclass
class Recording:
    """An XDF file read back: streams, nmre metadata and events, and the problems found."""

    path: str
    size: int
    header: dict[str, str]
    streams: list[XdfStream]
    problems: list[Problem]
    #: Byte just after the last whole chunk (where a truncated file stops making sense).
    intact_until: int = 0

    @property
    def complete(self) -> bool:
        """Every stream has its footer and nothing was wrong."""
        return not self.problems and all(s.footer is not None for s in self.streams)

    def by_role(self, role: str) -> list[XdfStream]:
        return [s for s in self.streams if s.role == role]

    @property
    def raw(self) -> list[XdfStream]:
        """The streams a replay feeds into the engine (raw, with an nmre kind)."""
        return [s for s in self.streams if s.role == Role.RAW and s.info is not None and not s.is_string]

    def stream(self, name: str) -> XdfStream:
        for s in self.streams:
            if s.name == name:
                return s
        raise RecordingError(
            f"{self.path}: expected a stream named {name!r}, got {', '.join(s.name for s in self.streams)}"
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """The session's metadata (settings, drill, calibration, software), later samples overriding."""
        out: dict[str, Any] = {}
        for s in self.by_role(Role.METADATA):
            for row in s.values or []:
                try:
                    d = json.loads(row[0])
                except (ValueError, IndexError):
                    continue
                if isinstance(d, dict):
                    out.update(d)
        return out

    @property
    def events(self) -> list[Event]:
        """The events the session raised, in the order they were raised."""
        out: list[Event] = []
        for s in self.by_role(Role.EVENTS):
            for row in s.values or []:
                try:
                    out.append(event_from_dict(json.loads(row[0])))
                except (ValueError, KeyError, TypeError, IndexError):
                    continue
        return out

    @property
    def duration(self) -> float:
        ends = [float(s.times[-1]) for s in self.raw if s.n_samples]
        return max(ends) if ends else 0.0


def event_from_dict(d: Mapping[str, Any]) -> Event:
    """The :class:`~nmre.core.Event` of :meth:`Event.to_dict` (``null`` times back to NaN)."""

    def num(x: Any) -> float:
        return math.nan if x is None else float(x)

    return Event(
        time=num(d["time"]),
        kind=str(d["kind"]),
        source=str(d["source"]),
        payload=dict(d.get("payload") or {}),
        patient_message=d.get("patient_message"),
        therapist_message=d.get("therapist_message"),
        detected_at=num(d.get("detected_at")),
    )


def _text(el: ET.Element | None, tag: str, default: str = "") -> str:
    if el is None:
        return default
    child = el.find(tag)
    return default if child is None or child.text is None else child.text


def _kind_of(type_: str) -> StreamKind | None:
    t = type_.strip().lower()
    aliases = {"markers": StreamKind.MARKER, "accelerometer": StreamKind.ACC, "gyroscope": StreamKind.GYRO}
    if t in aliases:
        return aliases[t]
    try:
        return StreamKind(t)
    except ValueError:
        return None


def _foreign_info(s: XdfStream) -> StreamInfo | None:
    """An nmre view of a stream nmre did not write (LabRecorder's): kind from its type, channels from desc."""
    kind = _kind_of(s.type)
    if kind is None or s.n_channels < 1:
        return None
    chans: list[Channel] = []
    for el in s.header.findall("desc/channels/channel"):
        p = el.find("placement")
        placement = None
        if p is not None:
            side = _text(p, "side") or None
            placement = Placement(
                _text(p, "segment") or None,
                _text(p, "muscle") or None,
                Side(side) if side in {x.value for x in Side} else None,
            )
        chans.append(Channel(_text(el, "label") or f"ch{len(chans) + 1}", _text(el, "unit"), placement))
    if len(chans) != s.n_channels:
        chans = [Channel(f"ch{i + 1}", "") for i in range(s.n_channels)]
    try:
        return StreamInfo(
            s.name or f"stream{s.stream_id}", kind, tuple(chans), max(0.0, s.srate), device="xdf"
        )
    except Exception:
        return None


class _Corrupt(Exception):
    """A chunk whose content is not what its tag promises."""


class _Reader:
    """Walks the chunks of a memory-mapped file, collecting problems instead of failing."""

    def __init__(self, path: str, buf: NDArray[np.uint8], data: bytes | mmap.mmap) -> None:
        self.path = path
        self.buf = buf
        self.data = data
        self.size = int(buf.shape[0])
        self.problems: list[Problem] = []
        self.header: dict[str, str] = {}
        self.streams: dict[int, XdfStream] = {}
        self.samples: dict[int, list[tuple[int, int]]] = {}  # id -> [(first sample byte, whole samples)]
        self.strings: dict[int, tuple[list[float], list[list[str]]]] = {}
        self.intact_until = len(MAGIC)
        self.truncated_at: int | None = None
        self._words: dict[int, NDArray[Any]] = {}

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(Problem(offset, message))

    def words(self, itemsize: int) -> NDArray[Any]:
        """The file's bytes as overlapping words (:func:`~nmre.sessions._xdf_kernels.words`), made once."""
        w = self._words.get(itemsize)
        if w is None:
            w = self._words[itemsize] = kern.words(self.buf, itemsize)
        return w

    def varlen_at(self, pos: int, end: int) -> tuple[int, int] | None:
        """``(value, next position)``, or ``None`` past ``end`` or on a bad width byte."""
        if pos >= end:
            return None
        w = self.data[pos]
        if w not in (1, 4, 8) or pos + 1 + w > end:
            return None
        if w == 1:
            return self.data[pos + 1], pos + 2
        return struct.unpack_from("<I" if w == 4 else "<Q", self.data, pos + 1)[0], pos + 1 + w

    def resync(self, offset: int, why: str) -> int | None:
        """Report ``why`` and return the byte after the next Boundary chunk (``None``: none left)."""
        found = self.data.find(BOUNDARY, offset + 1)
        if found < 0:
            self.problem(offset, f"{why}; no boundary chunk follows, the rest of the file is skipped")
            return None
        nxt = found + len(BOUNDARY)
        self.problem(
            offset, f"{why}; skipped {nxt - offset} bytes to the boundary chunk ending at byte {nxt}"
        )
        return nxt

    def walk(self) -> None:
        pos: int | None = len(MAGIC)
        size = self.size
        data = self.data
        while pos is not None and pos < size:
            start = pos
            got = self.varlen_at(pos, size)
            if got is None:
                if data[pos] in (1, 4, 8):  # a valid width byte whose value runs past the end
                    self.truncate(start, "the file ends inside a chunk's length")
                    return
                pos = self.resync(start, f"expected a chunk length (width byte 1, 4 or 8), got {data[pos]}")
                continue
            length, p = got
            if p + 2 > size:
                self.truncate(start, "the file ends inside a chunk's tag")
                return
            tag = struct.unpack_from("<H", data, p)[0]
            if tag not in _TAG_NAMES or length < (6 if tag in _TAGS_WITH_ID else 2):
                pos = self.resync(
                    start, f"expected a chunk tag 1-6 and its length, got tag {tag}, length {length}"
                )
                continue
            end = p + length
            body = p + 2
            sid = None
            if tag in _TAGS_WITH_ID:
                if body + 4 > size:
                    self.truncate(start, f"the file ends inside a {_TAG_NAMES[tag]} chunk's stream id")
                    return
                sid = struct.unpack_from("<I", data, body)[0]
                body += 4
            if end > size:
                msg = f"the file ends inside a {_TAG_NAMES[tag]} chunk ({length} bytes declared, {size - p} present)"
                s = self.streams.get(sid) if sid is not None else None
                if tag == TAG_SAMPLES and s is not None:
                    kept = self.samples_chunk(s, body, size, partial=True)
                    msg += f"; {kept} whole samples of {s.name!r} kept from it"
                self.truncate(start, msg)
                return
            try:
                self.handle(tag, sid, start, body, end)
            except _Corrupt as exc:
                pos = self.resync(start, f"{_TAG_NAMES[tag]} chunk: {exc}")
                continue
            self.intact_until = end
            pos = end

    def truncate(self, offset: int, message: str) -> None:
        self.truncated_at = offset
        self.problem(offset, message)

    # -- chunk contents ---------------------------------------------------------------------
    def handle(self, tag: int, sid: int | None, start: int, body: int, end: int) -> None:
        if tag == TAG_FILE_HEADER:
            self.header = {c.tag: c.text or "" for c in self.xml(body, end)}
        elif tag == TAG_STREAM_HEADER:
            assert sid is not None
            self.stream_header(sid, start, self.xml(body, end))
        elif tag == TAG_SAMPLES:
            s = self.streams.get(sid) if sid is not None else None
            if s is None:
                self.problem(start, f"Samples chunk of stream {sid}, which has no header before it; skipped")
                return
            self.samples_chunk(s, body, end)
        elif tag == TAG_CLOCK_OFFSET:
            if end - body != 16:
                raise _Corrupt(f"expected 16 bytes (two float64), got {end - body}")
            s = self.streams.get(sid) if sid is not None else None
            if s is not None:
                s.clock_offsets.append(struct.unpack_from("<dd", self.data, body))
        elif tag == TAG_BOUNDARY:
            if self.data[body:end] != BOUNDARY:
                raise _Corrupt("expected the boundary UUID")
        elif tag == TAG_STREAM_FOOTER:
            try:
                root = self.xml(body, end)
            except _Corrupt as exc:
                self.problem(start, f"StreamFooter of stream {sid}: {exc}; ignored")
                return
            s = self.streams.get(sid) if sid is not None else None
            if s is not None:
                s.footer = {c.tag: c.text or "" for c in root if c.tag != "clock_offsets"}

    def xml(self, body: int, end: int) -> ET.Element:
        try:
            return ET.fromstring(bytes(self.data[body:end]).decode("utf-8", "replace"))
        except ET.ParseError as exc:
            raise _Corrupt(f"expected XML, got bytes that do not parse ({exc})") from None

    def stream_header(self, sid: int, start: int, root: ET.Element) -> None:
        fmt = _text(root, "channel_format", "float32")
        try:
            nch = int(_text(root, "channel_count", "0"))
            srate = float(_text(root, "nominal_srate", "0"))
        except ValueError as exc:
            raise _Corrupt(f"expected a numeric channel_count and nominal_srate ({exc})") from None
        if fmt != "string" and fmt not in FORMATS:
            raise _Corrupt(f"expected a channel_format among string, {', '.join(FORMATS)}, got {fmt!r}")
        if nch < 1 or not math.isfinite(srate):
            raise _Corrupt(f"expected channel_count >= 1 and a finite nominal_srate, got {nch}, {srate}")
        if sid in self.streams:
            self.problem(start, f"a second StreamHeader for stream {sid}; the first is kept")
            return
        s = XdfStream(sid, _text(root, "name"), _text(root, "type"), fmt, srate, nch, root, start)
        nm = root.find("desc/nmre")
        if nm is not None and nm.text:
            try:
                d = json.loads(nm.text)
                s.desc = d if isinstance(d, dict) else {}
                s.role = str(d.get("role", Role.RAW))
                if d.get("stream"):
                    s.info = StreamInfo.from_dict(d["stream"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self.problem(start, f"stream {s.name!r}: its nmre description does not parse ({exc})")
        elif fmt == "string":
            s.role = Role.FOREIGN_MARKERS
        else:
            s.info = _foreign_info(s)
        self.streams[sid] = s
        self.samples[sid] = []
        self.strings[sid] = ([], [])

    def samples_chunk(self, s: XdfStream, body: int, end: int, partial: bool = False) -> int:
        got = self.varlen_at(body, end)
        if got is None:
            if partial:
                return 0
            raise _Corrupt(f"expected a sample count in stream {s.name!r}")
        n, p = got
        if s.is_string:
            return self.string_samples(s, n, p, end, partial)
        item = FORMATS[s.channel_format].itemsize
        count, stop, bad = kern.count_whole_samples(self.buf, p, end, n, s.n_channels * item)
        if not partial and (bad or count != n or stop != end):
            raise _Corrupt(
                f"stream {s.name!r}: expected {n} samples filling the chunk, the bytes hold {count} "
                f"whole samples{' then an invalid timestamp byte' if bad else ''} (up to byte {stop})"
            )
        if count:
            self.samples[s.stream_id].append((p, int(count)))
        s.chunks += 1
        return int(count)

    def string_samples(self, s: XdfStream, n: int, p: int, end: int, partial: bool) -> int:
        times, rows = self.strings[s.stream_id]
        data = self.data
        last = times[-1] if times else 0.0
        tdiff = 1.0 / s.srate if s.srate > 0 else 0.0
        got_t: list[float] = []
        got_r: list[list[str]] = []
        try:
            for _ in range(n):
                if p >= end:
                    raise _Corrupt(
                        f"stream {s.name!r}: expected {n} samples, the chunk ends after {len(got_r)}"
                    )
                tb = data[p]
                if tb == 8 and p + 9 <= end:
                    last = struct.unpack_from("<d", data, p + 1)[0]
                    p += 9
                elif tb == 0:
                    last += tdiff
                    p += 1
                else:
                    raise _Corrupt(f"stream {s.name!r}: expected a timestamp byte 0 or 8, got {tb}")
                row = []
                for _c in range(s.n_channels):
                    ln_p = self.varlen_at(p, end)
                    if ln_p is None or ln_p[1] + ln_p[0] > end:
                        raise _Corrupt(f"stream {s.name!r}: a string value runs past the chunk")
                    ln, p = ln_p
                    row.append(bytes(data[p : p + ln]).decode("utf-8", "replace"))
                    p += ln
                got_t.append(last)
                got_r.append(row)
            if p != end:
                raise _Corrupt(f"stream {s.name!r}: {end - p} bytes after the last of {n} samples")
        except _Corrupt:
            if not partial:
                raise
        times.extend(got_t)
        rows.extend(got_r)
        s.chunks += 1
        return len(got_r)

    def finish(self) -> None:
        for sid, s in self.streams.items():
            if s.is_string:
                tl, rl = self.strings[sid]
                s.times = np.asarray(tl, dtype=np.float64)
                s.values = rl
                continue
            parts = self.samples[sid]
            total = sum(c for _, c in parts)
            dtype = FORMATS[s.channel_format]
            times = np.empty(total, dtype=np.float64)
            size = dtype.itemsize
            bits = _BITS.get(size)
            # 8- and 4-byte formats: one store per value (the common case); others byte by byte
            out = np.empty((s.n_channels, total if bits else total * size), dtype=bits or np.uint8)
            if total:
                starts = np.array([a for a, _ in parts], dtype=np.int64)
                counts = np.array([c for _, c in parts], dtype=np.int64)
                tdiff = 1.0 / s.srate if s.srate > 0 else 0.0
                if size == 8:
                    kern.decode_samples8(self.buf, self.words(8), starts, counts, tdiff, 0.0, times, out)
                elif size == 4:
                    w8, w4 = self.words(8), self.words(4)
                    kern.decode_samples4(self.buf, w8, w4, starts, counts, tdiff, 0.0, times, out)
                else:
                    kern.decode_samples(self.buf, starts, counts, s.n_channels, size, tdiff, 0.0, times, out)
            vals = out.view(dtype)
            s.times = times
            s.values = vals if dtype == np.float64 else vals.astype(np.float64)


def read_xdf(path: str | os.PathLike[str]) -> Recording:
    """Read an XDF file; problems (truncation, corruption) are collected with their byte offsets.

    Raises
    ------
    RecordingError
        If the file cannot be opened or is not XDF at all (no ``XDF:`` magic).
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the map
    except OSError as exc:
        raise RecordingError(
            f"{path or repr(path)}: expected a readable XDF file, got {exc.strerror}"
        ) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4)
        if head != MAGIC:
            raise RecordingError(
                f"{path}: not an XDF file: expected the 4 bytes 'XDF:' at byte 0, got {head!r}"
                + (" (empty file)" if size == 0 else "")
            )
        data: bytes | mmap.mmap
        # MAP_POPULATE: the pages are mapped in one go (the whole file is read anyway), not one
        # page fault at a time (Linux; elsewhere a plain map)
        if size <= 4:
            data = b"XDF:"
        elif _POPULATE:
            data = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ)
        else:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    buf = np.frombuffer(data, dtype=np.uint8)
    r = _Reader(path, buf, data)
    try:
        r.walk()
        r.finish()
    finally:
        del buf
        r.buf = np.zeros(0, dtype=np.uint8)
        r._words.clear()  # views of the map too: it closes only when none is left
        if isinstance(data, mmap.mmap):
            r.data = b""
            data.close()
    if not r.header:
        r.problem(len(MAGIC), "no FileHeader chunk at the start")
    streams = sorted(r.streams.values(), key=lambda s: s.stream_id)
    missing = [s.name for s in streams if s.footer is None]
    if missing and r.truncated_at is None:
        r.problem(
            r.intact_until,
            f"no StreamFooter for {', '.join(repr(m) for m in missing)} (the recording was not closed)",
        )
    return Recording(path, size, r.header, streams, r.problems, r.intact_until)

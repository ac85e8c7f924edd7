"""Import recordings made elsewhere into XDF, so real data replays through any drill.

* :func:`import_csv`: any delimited text file, one column per channel, with a time
  column or a sampling rate; you name the stream kind, channel names, units and
  body placement.
* :func:`import_uci`: the UCI "EMG dataset in Lower Limb" text files (4 EMG
  channels + a knee goniometer at 1000 Hz; ``../shared/data/uci-lower-limb``).
* :func:`import_myo`: a Myo armband EMG CSV as LibEMG ships it (8 raw channels,
  200 Hz; ``../shared/data/libemg-oracle``).

Every importer writes through :class:`~nmre.sessions.XdfRecorder`, so an imported
file has the layout of a recorded one (raw streams with placement, a block log of
0.1 s blocks, metadata saying where the data came from and what was assumed), and
every bad line is refused with its line number.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nmre.core.model import Block, Channel, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError, InputError, RecordingError, expected
from nmre.sessions.recorder import XdfRecorder

__all__ = ["ImportReport", "import_csv", "import_myo", "import_uci", "parse_placement", "write_streams"]

F64 = NDArray[np.float64]

#: Block length the imported samples are handed to the recorder in (s): a replay "as recorded" uses it.
IMPORT_BLOCK = 0.1


@dataclass
class ImportReport:
    """What an import wrote and what it assumed."""

    source: str
    output: str
    streams: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {self.source} -> {self.output}"]
        for s in self.streams:
            out.append(
                f"  {s['id']:<12} {s['kind']:<6} {s['channels']} channels at {s['rate']:g} Hz, "
                f"{s['samples']} samples ({s['seconds']:.1f} s): {', '.join(s['names'])}"
            )
        out += [f"  note: {n}" for n in self.notes]
        return out


def write_streams(
    out: str | os.PathLike[str],
    data: Sequence[tuple[StreamInfo, F64, F64]],
    metadata: Mapping[str, Any],
    *,
    source: str,
    notes: Sequence[str] = (),
) -> ImportReport:
    """Write ``(info, times (n,), values (n_channels, n))`` streams to an XDF file through the recorder.

    Samples are handed over in :data:`IMPORT_BLOCK` blocks of sample time, all streams
    tick by tick, as a live session would have handed them to the engine.
    """
    infos = [d[0] for d in data]
    for info, t, v in data:
        if t.ndim != 1 or v.shape != (info.n_channels, t.shape[0]):
            raise InputError(
                f"import: stream {info.id!r}: expected times (n,) and values ({info.n_channels}, n)"
            )
        if t.shape[0] > 1 and not np.all(np.diff(t) > 0):
            k = int(np.argmax(np.diff(t) <= 0))
            raise InputError(f"import: stream {info.id!r}: expected increasing times, sample {k + 1} is not")
    # the file's name only: a folder path can name a person (home folders, per-patient folders)
    meta = {"imported_from": os.path.basename(os.fspath(source)), "import_notes": list(notes), **metadata}
    rec = XdfRecorder(out, meta, raw=infos, chunk_seconds=1.0, fsync=False)
    rec.open(infos)
    try:
        t_end = max((float(t[-1]) for _, t, _ in data if t.shape[0]), default=0.0)
        t_start = min((float(t[0]) for _, t, _ in data if t.shape[0]), default=0.0)
        pos = [0] * len(data)
        k = math.floor(t_start / IMPORT_BLOCK)
        while (k * IMPORT_BLOCK) <= t_end:
            edge = (k + 1) * IMPORT_BLOCK
            for i, (info, t, v) in enumerate(data):
                a = pos[i]
                b = int(np.searchsorted(t, edge, side="left"))
                if b > a:
                    rec.on_block(Block(info.id, t[a:b], np.ascontiguousarray(v[:, a:b]), seq=a, arrival=edge))
                    pos[i] = b
            k += 1
    finally:
        rec.close()
    report = ImportReport(source, os.fspath(out), notes=list(notes))
    for info, t, _ in data:
        report.streams.append(
            {
                "id": info.id,
                "kind": info.kind.value,
                "channels": info.n_channels,
                "names": list(info.channel_names),
                "rate": info.rate,
                "samples": int(t.shape[0]),
                "seconds": float(t[-1] - t[0]) if t.shape[0] > 1 else 0.0,
            }
        )
    return report


# -- placement --------------------------------------------------------------------------------------
_SIDES = {"left": Side.LEFT, "l": Side.LEFT, "right": Side.RIGHT, "r": Side.RIGHT, "midline": Side.MIDLINE}


def parse_placement(text: str | None) -> Placement | None:
    """``"segment=thigh,side=right"`` or ``"muscle=vmo,side=left"`` → :class:`Placement` (``None`` for none)."""
    if not text:
        return None
    fields: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        k, v = k.strip().lower(), v.strip().lower()
        if not sep or k not in ("segment", "muscle", "side") or not v:
            raise ConfigError(
                "--placement: " + expected("segment=NAME, muscle=NAME and/or side=left|right|midline", text)
            )
        fields[k] = v
    side = fields.get("side")
    if side is not None and side not in _SIDES:
        raise ConfigError("--placement side: " + expected("left, right or midline", side))
    return Placement(fields.get("segment"), fields.get("muscle"), _SIDES[side] if side else None)


# -- generic CSV --------------------------------------------------------------------------------------
def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_table(path: str, delimiter: str | None) -> tuple[list[str] | None, F64, list[int], str]:
    """``(header or None, values (rows, columns), line number of each row, delimiter)``; bad cells name their line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: expected a readable UTF-8 text file, got {exc}") from None
    lines = [ln for ln in text.splitlines()]
    if not any(ln.strip() for ln in lines):
        raise RecordingError(f"{path}: expected rows of numbers, got an empty file")
    if delimiter is None:
        sample = "\n".join(lines[:20])
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t ").delimiter
        except csv.Error:
            delimiter = ","
    rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=True))
    first = next(i for i, r in enumerate(rows) if any(c.strip() for c in r))
    header: list[str] | None = None
    if not all(_is_number(c) or not c.strip() for c in rows[first]):
        header = [c.strip() for c in rows[first]]
        first += 1
    body = [(i, r) for i, r in enumerate(rows[first:], start=first + 1) if any(c.strip() for c in r)]
    if not body:
        raise RecordingError(f"{path}: expected rows of numbers after the header, got none")
    width = len(body[0][1])
    values = np.empty((len(body), width))
    for j, (line_no, r) in enumerate(body):
        if len(r) != width:
            raise RecordingError(f"{path}: line {line_no}: expected {width} columns, got {len(r)}")
        for c, cell in enumerate(r):
            cell = cell.strip()
            if not cell or cell.lower() in ("nan", "na", "null"):
                values[j, c] = math.nan
                continue
            try:
                values[j, c] = float(cell)
            except ValueError:
                col = header[c] if header and c < len(header) else f"column {c + 1}"
                raise RecordingError(
                    f"{path}: line {line_no}, {col}: expected a number, got {cell!r}"
                ) from None
    return header, values, [n for n, _ in body], delimiter


def import_csv(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    kind: str,
    rate: float | None = None,
    time_column: str | int | None = None,
    time_unit: str = "s",
    channels: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    placement: Placement | None = None,
    channel_placements: Sequence[Placement | None] | None = None,
    stream_id: str | None = None,
    delimiter: str | None = None,
    device: str | None = None,
    full_scale: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import one delimited text file as one stream.

    Parameters
    ----------
    kind : str
        The stream kind (``emg``, ``imu``, ``acc``, ``angle`` ...).
    rate : float, optional
        Sampling rate (Hz). Without ``time_column`` the samples are ``k / rate`` s apart;
        with it, the nominal rate is ``rate`` or, if not given, the median of the time steps.
    time_column : str or int, optional
        The column (name, or 0-based index) holding sample times in ``time_unit``
        (``s`` or ``ms``); it is shifted to start at 0.
    channels, units : sequence of str, optional
        Channel names (default: the header's, else ``ch1`` ...) and units (one for all, or
        one per channel; default: the kind's usual unit).
    placement, channel_placements : Placement, optional
        Where the sensor sits (the stream's), and per channel (EMG: one muscle each).
    """
    path = os.fspath(path)
    try:
        k = StreamKind(kind)
    except ValueError:
        raise ConfigError(
            "--kind: " + expected(f"one of {', '.join(x.value for x in StreamKind)}", kind)
        ) from None
    if rate is None and time_column is None:
        raise ConfigError(
            "import: expected --rate HZ or --time-column NAME (how far apart the samples are), got neither"
        )
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ConfigError("--rate: " + expected("a rate > 0 Hz", rate))
    if time_unit not in ("s", "ms"):
        raise ConfigError("--time-unit: " + expected("s or ms", time_unit))
    header, values, line_nos, delimiter = _read_table(path, delimiter)
    width = values.shape[1]
    notes: list[str] = []
    cols = list(range(width))
    times: F64
    if time_column is not None:
        if isinstance(time_column, int) or str(time_column).isdigit():
            tc = int(time_column)
        elif header is not None and time_column in header:
            tc = header.index(str(time_column))
        else:
            raise ConfigError(
                f"--time-column: expected a column of {header or list(range(width))}, got {time_column!r}"
            )
        if not 0 <= tc < width:
            raise ConfigError(f"--time-column: expected 0..{width - 1}, got {tc}")
        times = values[:, tc] * (1e-3 if time_unit == "ms" else 1.0)
        if not np.all(np.isfinite(times)):
            bad = int(np.argmax(~np.isfinite(times)))
            raise RecordingError(f"{path}: line {line_nos[bad]}: expected a time, got an empty cell")
        steps = np.diff(times)
        if steps.size and not np.all(steps > 0):
            bad = int(np.argmax(steps <= 0)) + 1
            raise RecordingError(
                f"{path}: line {line_nos[bad]}: expected increasing times, got {times[bad]:g} after {times[bad - 1]:g}"
            )
        times = times - times[0]
        cols.remove(tc)
        if rate is None:
            rate = float(1.0 / np.median(steps)) if steps.size else 0.0
            notes.append(f"nominal rate {rate:.6g} Hz from the median time step")
    else:
        assert rate is not None
        times = np.arange(values.shape[0]) / rate
    if not cols:
        raise ConfigError(f"{path}: expected channel columns besides the time column, got none")
    if k is StreamKind.IMU and len(cols) != 6:
        raise ConfigError(
            f"import: an imu stream has 6 channels (acc_x..z, gyr_x..z), got {len(cols)} columns"
        )
    names = (
        list(channels)
        if channels
        else ([header[c] for c in cols] if header else [f"ch{i + 1}" for i in range(len(cols))])
    )
    if len(names) != len(cols):
        raise ConfigError(f"--channels: expected {len(cols)} names (one per data column), got {len(names)}")
    default_unit = {
        StreamKind.EMG: "mV",
        StreamKind.ACC: "m/s^2",
        StreamKind.GYRO: "rad/s",
        StreamKind.ANGLE: "deg",
        StreamKind.ECG: "mV",
        StreamKind.MAG: "uT",
    }.get(k, "")
    default_units = ["m/s^2"] * 3 + ["rad/s"] * 3 if k is StreamKind.IMU else [default_unit] * len(cols)
    us = list(units) if units else default_units
    if len(us) == 1 and len(cols) > 1:
        us = us * len(cols)
    if len(us) != len(cols):
        raise ConfigError(f"--units: expected one unit or {len(cols)} (one per channel), got {len(us)}")
    cps = list(channel_placements) if channel_placements else [None] * len(cols)
    if len(cps) != len(cols):
        raise ConfigError(f"--channel-placement: expected {len(cols)} placements, got {len(cps)}")
    chans = tuple(Channel(n, u, p, full_scale) for n, u, p in zip(names, us, cps, strict=True))
    sid = stream_id or _default_id(k, placement)
    info = StreamInfo(sid, k, chans, float(rate), placement, device or f"import:{os.path.basename(path)}")
    data = np.ascontiguousarray(values[:, cols].T)
    meta = {"import": {"format": "csv", "kind": k.value, "delimiter": delimiter}, **(metadata or {})}
    return write_streams(out, [(info, np.ascontiguousarray(times), data)], meta, source=path, notes=notes)


def _default_id(kind: StreamKind, p: Placement | None) -> str:
    parts = [kind.value]
    if p is not None:
        parts += [
            x
            for x in (
                p.segment or p.muscle,
                p.side.value[0] if p.side and p.side is not Side.MIDLINE else None,
            )
            if x
        ]
    return ".".join(parts)


# -- UCI lower limb --------------------------------------------------------------------------------
#: Column names in the UCI files (Spanish in the 3A* files, abbreviations in the 5N* files) → muscle.
_UCI_MUSCLES = {
    "recto femoral": "rf",
    "rf": "rf",
    "biceps femoral": "bf",
    "bf": "bf",
    "vasto medial": "vmo",
    "vm": "vmo",
    "emg semitendinoso": "st",
    "semitendinoso": "st",
    "st": "st",
}
_UCI_MOVEMENTS = {"sen": "seated_knee_extension", "pie": "standing_knee_flexion", "mar": "gait"}
_UCI_DRILLS = {"sen": "knee_extension_seated", "pie": "knee_flexion_standing"}
_CHANNEL_LINE = re.compile(
    r"^Channel\s+\d+:\s*'([^']*)',\s*(\d+)\s+values,\s*engineering units:\s*([^,]+)(.*)$"
)


def import_uci(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    side: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import one UCI lower-limb text file: an EMG stream (rf, bf, vmo, st) and the knee goniometer.

    The files hold five tab-separated columns at 1000 Hz after a header (``File
    Name:``, five ``Channel N:`` lines, a blank line). The goniometer becomes an
    ``angle`` stream (channel ``flexion``, placement segment ``knee``), as the
    contract names an imported goniometer. ``side`` (``left``/``right``) is not in
    the files; give it if you know it.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="latin-1") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise RecordingError(f"{path}: expected a readable UCI text file, got {exc.strerror}") from None
    if not lines or not lines[0].startswith("File Name:"):
        got = lines[0][:40] if lines else "an empty file"
        raise RecordingError(
            f"{path}: line 1: expected a UCI lower-limb header 'File Name: ...', got {got!r}"
        )
    chans: list[tuple[str, str, str]] = []
    k = 1
    while k < len(lines) and lines[k].startswith("Channel"):
        m = _CHANNEL_LINE.match(lines[k].strip())
        if m is None:
            raise RecordingError(
                f"{path}: line {k + 1}: expected \"Channel N: 'name', K values, engineering units: U\""
            )
        chans.append((m.group(1).strip(), m.group(3).strip(), m.group(4)))
        k += 1
    if len(chans) != 5:
        raise RecordingError(f"{path}: expected 5 channel lines (4 EMG + goniometer), got {len(chans)}")
    rows = []
    for n, ln in enumerate(lines[k:], start=k + 1):
        if not ln.strip():
            continue
        cells = ln.rstrip("\r\n").split("\t")
        if len(cells) != 5:
            raise RecordingError(
                f"{path}: line {n}: expected 5 tab-separated numbers, got {len(cells)} fields"
            )
        try:
            rows.append([float(c) if c.strip() else math.nan for c in cells])
        except ValueError:
            raise RecordingError(f"{path}: line {n}: expected numbers, got {ln.strip()[:40]!r}") from None
    if not rows:
        raise RecordingError(f"{path}: expected rows of samples after the header, got none")
    data = np.asarray(rows).T
    rate = 1000.0
    t = np.arange(data.shape[1]) / rate
    sd = _SIDES.get(side.lower()) if side else None
    if side and sd is None:
        raise ConfigError("--side: " + expected("left or right", side))
    notes = [
        "EMG at 1000 Hz, mV, unfiltered (UCI 'EMG dataset in Lower Limb', Sanchez & Sotelo, CC BY 4.0)",
        "'Vasto Medial' / 'VM' placed as muscle vmo: the nearest muscle in nmre's placement vocabulary",
    ]
    if sd is None:
        notes.append("the files do not say which leg: the streams have no side (give --side if known)")
    emg_channels = []
    for name, unit, _ in chans[:4]:
        muscle = _UCI_MUSCLES.get(name.lower())
        if muscle is None:
            raise RecordingError(f"{path}: expected the EMG channels RF, BF, VM, ST, got {name!r}")
        if unit != "mV":
            raise RecordingError(f"{path}: channel {name!r}: expected unit mV, got {unit!r}")
        emg_channels.append(Channel(muscle, "mV", Placement(muscle=muscle, side=sd)))
    g_name, g_unit, g_rest = chans[4]
    if g_unit != "deg":
        raise RecordingError(f"{path}: channel {g_name!r}: expected the goniometer in deg, got {g_unit!r}")
    if "extrapolated from 50" in g_rest:
        notes.append("the goniometer was recorded at 50 Hz and held to 1000 Hz in this file (steps of 20 ms)")
    device = f"uci-lower-limb:{os.path.basename(path)}"
    emg = StreamInfo("emg", StreamKind.EMG, tuple(emg_channels), rate, Placement(side=sd), device)
    knee = StreamInfo(
        "angle.knee",
        StreamKind.ANGLE,
        (Channel("flexion", "deg"),),
        rate,
        Placement(segment="knee", side=sd),
        device,
    )
    stem = os.path.splitext(os.path.basename(path))[0]
    code = stem[-3:].lower()
    meta: dict[str, Any] = {
        "import": {"format": "uci-lower-limb", "file": os.path.basename(path)},
        "subject": {"3A": "knee abnormality", "5N": "normal"}.get(stem[:2].upper(), "unknown"),
        "movement": _UCI_MOVEMENTS.get(code),
    }
    if code in _UCI_DRILLS:
        meta["drill"] = {"name": _UCI_DRILLS[code], "settings": {}}
    meta.update(metadata or {})
    # a file may go on with goniometer rows whose EMG cells are empty (5Nmar): the EMG stream ends there
    has_emg = np.flatnonzero(np.isfinite(data[:4]).any(axis=0))
    n_emg = int(has_emg[-1]) + 1 if has_emg.size else 0
    if n_emg < data.shape[1]:
        notes.append(f"the EMG ends {data.shape[1] - n_emg} rows before the goniometer (empty cells)")
    has_knee = np.flatnonzero(np.isfinite(data[4]))
    n_knee = int(has_knee[-1]) + 1 if has_knee.size else 0
    streams = [
        (emg, t[:n_emg].copy(), np.ascontiguousarray(data[:4, :n_emg])),
        (knee, t[:n_knee].copy(), np.ascontiguousarray(data[4:5, :n_knee])),
    ]
    return write_streams(out, streams, meta, source=path, notes=notes)


# -- Myo (LibEMG) -----------------------------------------------------------------------------------
def import_myo(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    rate: float = 200.0,
    side: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import a Myo armband EMG CSV (8 comma-separated raw channels a row, no header; LibEMG's layout).

    The Myo streams its 8 EMG channels at 200 Hz as signed 8-bit values with no
    calibration to millivolts, so the channels keep the unit ``counts`` with the
    int8 rail (127) as their full scale.
    """
    path = os.fspath(path)
    sd = _SIDES.get(side.lower()) if side else None
    if side and sd is None:
        raise ConfigError("--side: " + expected("left or right", side))
    try:
        header, values, line_nos, _ = _read_table(path, ",")
    except RecordingError as exc:
        raise RecordingError(f"expected a Myo EMG CSV (8 comma-separated int8 values a row): {exc}") from None
    if header is not None or values.shape[1] != 8:
        got = f"a header {header[:3]}..." if header else f"{values.shape[1]} columns"
        raise RecordingError(f"{path}: expected 8 Myo EMG channels a row and no header, got {got}")
    finite = np.isfinite(values)
    bad = finite & ((values < -128) | (values > 127) | (values != np.round(values)))
    if bad.any():
        r = int(np.argmax(bad.any(axis=1)))
        raise RecordingError(
            f"{path}: line {line_nos[r]}: expected whole numbers in the Myo's int8 range -128..127, "
            f"got {values[r][bad[r]][0]:g}"
        )
    place = Placement(segment="forearm", side=sd)
    rep = import_csv(
        path,
        out,
        kind="emg",
        rate=rate,
        channels=[f"emg{i + 1}" for i in range(8)],
        units=["counts"],
        channel_placements=[place] * 8,
        placement=place,
        stream_id="emg.forearm",
        delimiter=",",
        device=f"myo:{os.path.basename(path)}",
        full_scale=127.0,
        metadata={"import": {"format": "myo-csv"}, **(metadata or {})},
    )
    rep.notes.append(
        f"Myo raw EMG, 8 channels at {rate:g} Hz, int8 counts (no mV calibration exists for the Myo)"
    )
    return rep

"""The session store: patients under pseudonymous ids, sessions, sets, reps, calibrations, notes.

:func:`open_store` opens the store named by a path or URL: SQLite by default
(``nmre.sqlite`` in the user's data directory, or ``NMRE_STORE``), PostgreSQL for
a ``postgresql://`` URL (:mod:`nmre.sessions.store_pg`, same interface and schema).

* No names anywhere: a patient is an id the clinic chooses (a pseudonym such as
  ``P-0042``; letters, digits, ``.``, ``_``, ``-``, no spaces) or one nmre draws.
* A session row keeps the drill, its settings, the schedule, the recording's path
  and SHA-256, the software, the session's metrics and the end-of-session summary;
  its reps (and windows) keep their checks (value, band, verdict, error), what was
  not judged and why, and the cues given; calibrations and notes hang off sessions.
* SQLite runs in WAL mode, so readers (a report, the studio's history) work while
  a session writes.
* Opening fails with one line, **before a session starts**: a folder that is not
  there or not writable, a disk with less than :data:`MIN_FREE_BYTES` free, a file
  that is not a database, or a schema newer than this nmre knows
  (:data:`SCHEMA_VERSION`). :meth:`Store.preflight` repeats the write check at
  any time (the studio calls it before the patient starts).
* Schema changes are numbered migrations (:data:`MIGRATIONS`), applied in order
  in one transaction when an older store is opened; the version is SQLite's
  ``user_version`` (PostgreSQL: the ``schema_version`` table).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sqlite3
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmre.core.model import Event
from nmre.errors import StoreError
from nmre.sessions.metrics import RepRow, rep_rows, session_metrics

__all__ = [
    "MIGRATIONS",
    "MIN_FREE_BYTES",
    "SCHEMA_VERSION",
    "PatientRow",
    "RepRecord",
    "SessionRow",
    "SqlStore",
    "SqliteStore",
    "Store",
    "default_store_path",
    "open_store",
]

#: Free disk space a store needs when it opens (a session writes a few hundred kB; the margin is for WAL growth).
MIN_FREE_BYTES = 64 << 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# -- schema ------------------------------------------------------------------------------------------------
#: Migrations: ``MIGRATIONS[k]`` takes a store from version ``k`` to ``k + 1``. ``{id}`` is the dialect's
#: auto-numbered primary key. Never edit a released step: add one.
MIGRATIONS: tuple[str, ...] = (
    # 1: patients, sessions, reps
    """
    CREATE TABLE patients (id TEXT PRIMARY KEY, created TEXT NOT NULL);
    CREATE TABLE sessions (
        id {id}, patient_id TEXT NOT NULL REFERENCES patients(id), started TEXT NOT NULL,
        drill TEXT NOT NULL, duration REAL, settings TEXT NOT NULL DEFAULT '{{}}',
        metrics TEXT NOT NULL DEFAULT '{{}}');
    CREATE TABLE reps (
        id {id}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        idx TEXT NOT NULL, start_s REAL, end_s REAL, ok INTEGER, checks TEXT NOT NULL DEFAULT '{{}}');
    """,
    # 2: sets, what was not judged, errors and cues per rep, calibrations, notes
    """
    CREATE TABLE sets (
        id {id}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        number INTEGER NOT NULL, start_s REAL, end_s REAL);
    ALTER TABLE reps ADD COLUMN set_id INTEGER REFERENCES sets(id);
    ALTER TABLE reps ADD COLUMN unit TEXT NOT NULL DEFAULT 'rep';
    ALTER TABLE reps ADD COLUMN errors TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE reps ADD COLUMN unjudged TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE reps ADD COLUMN cues TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE calibrations (
        id {id}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, time_s REAL, record TEXT NOT NULL);
    CREATE TABLE notes (
        id {id}, patient_id TEXT NOT NULL REFERENCES patients(id), session_id INTEGER REFERENCES sessions(id),
        written TEXT NOT NULL, author TEXT, text TEXT NOT NULL);
    ALTER TABLE patients ADD COLUMN note TEXT;
    """,
    # 3: the recording and its checksum, level, schedule, software, end-of-session summary; an index for history
    """
    ALTER TABLE sessions ADD COLUMN recording TEXT;
    ALTER TABLE sessions ADD COLUMN recording_sha256 TEXT;
    ALTER TABLE sessions ADD COLUMN level TEXT;
    ALTER TABLE sessions ADD COLUMN schedule TEXT;
    ALTER TABLE sessions ADD COLUMN software TEXT;
    ALTER TABLE sessions ADD COLUMN summary TEXT;
    CREATE INDEX sessions_by_patient ON sessions (patient_id, started);
    CREATE INDEX reps_by_session ON reps (session_id);
    """,
)
#: The schema version this nmre writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)


# -- rows --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientRow:
    id: str
    created: str
    note: str | None = None
    sessions: int = 0
    last_session: str | None = None


@dataclass
class SessionRow:
    id: int
    patient: str
    started: str
    drill: str
    duration: float | None
    settings: dict[str, Any]
    metrics: dict[str, Any]
    recording: str | None = None
    recording_sha256: str | None = None
    level: str | None = None
    schedule: str | None = None
    software: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class RepRecord:
    """A stored rep (or window): its checks ``{rule: {ok, value, unit, error, lo, hi}}`` and what was said."""

    unit: str
    index: str
    set: int | None
    start: float | None
    end: float | None
    ok: bool | None
    checks: dict[str, dict[str, Any]]
    errors: list[str]
    unjudged: list[str]
    cues: list[str]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def _j(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=str)


def sha256_of(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sets(events: Sequence[Event]) -> list[tuple[int, float | None, float | None]]:
    """Sets from ``set.start``/``set.end`` events (``payload["set"]``); one set for the whole session otherwise."""
    starts: dict[int, float] = {}
    out: dict[int, tuple[int, float | None, float | None]] = {}
    for e in events:
        if e.kind == "set.start":
            starts[int(e.payload.get("set", len(starts) + 1))] = e.time
        elif e.kind == "set.end":
            n = int(e.payload.get("set", len(out) + 1))
            out[n] = (n, starts.get(n), e.time)
    for n, t in starts.items():
        out.setdefault(n, (n, t, None))
    return sorted(out.values())


# -- the interface -------------------------------------------------------------------------------------------
class Store(ABC):
    """What every session store offers (SQLite here; PostgreSQL in :mod:`nmre.sessions.store_pg`)."""

    #: Where the store is, for messages (a path, or a URL without its password).
    where: str = ""

    @property
    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def preflight(self) -> None:
        """Raise :class:`StoreError` unless a session could be saved now (writable, disk space)."""

    @abstractmethod
    def add_patient(self, patient_id: str | None = None, note: str | None = None) -> str: ...

    @abstractmethod
    def patients(self) -> list[PatientRow]: ...

    @abstractmethod
    def patient(self, patient_id: str) -> PatientRow: ...

    @abstractmethod
    def save_session(
        self,
        patient: str,
        events: Sequence[Event],
        *,
        drill: str,
        settings: Mapping[str, Any] | None = None,
        started: str | None = None,
        duration: float | None = None,
        recording: str | None = None,
        level: str | None = None,
        schedule: str | None = None,
        software: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> int: ...

    @abstractmethod
    def sessions(self, patient: str | None = None) -> list[SessionRow]: ...

    @abstractmethod
    def session(self, session_id: int) -> SessionRow: ...

    @abstractmethod
    def reps(self, session_id: int) -> list[RepRecord]: ...

    @abstractmethod
    def calibrations(self, session_id: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def set_summary(self, session_id: int, summary: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def add_note(
        self, text: str, *, patient: str | None = None, session: int | None = None, author: str | None = None
    ) -> int: ...

    @abstractmethod
    def notes(self, *, patient: str | None = None, session: int | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- built on the above ---------------------------------------------------------------------------
    def save_recording(self, path: str | os.PathLike[str], patient: str | None = None) -> int:
        """Store a recorded session (metadata, events) with the file's path and checksum."""
        from nmre.sessions.xdf import read_xdf

        rec = read_xdf(path)
        meta = rec.metadata
        who = patient or (meta.get("patient") if isinstance(meta.get("patient"), str) else None)
        if not who:
            raise StoreError(f"{path}: the recording names no patient; expected --patient ID")
        d = meta.get("drill")
        drill = str(d.get("name")) if isinstance(d, Mapping) and d.get("name") else str(d or "unknown")
        settings = dict(d.get("settings") or {}) if isinstance(d, Mapping) else {}
        cal = meta.get("calibration") if isinstance(meta.get("calibration"), Mapping) else None
        return self.save_session(
            who,
            rec.events,
            drill=drill,
            settings=settings,
            started=str(meta.get("created") or _now()),
            duration=rec.duration,
            recording=os.path.abspath(os.fspath(path)),
            level=str(meta["level"]) if meta.get("level") is not None else None,
            schedule=str(meta.get("schedule") or "") or None,
            software=meta.get("software") if isinstance(meta.get("software"), Mapping) else None,
            calibration=cal,
        )

    def export_metrics_csv(self, path: str | os.PathLike[str], patient: str | None = None) -> int:
        """One row per session with its metrics (columns: the union of the sessions' metrics); returns rows."""
        rows = self.sessions(patient)
        keys = sorted({k for r in rows for k in r.metrics})
        head = ["session", "patient", "started", "drill", "level", "duration_s", "recording", *keys]
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(head)
            for r in rows:
                w.writerow(
                    [r.id, r.patient, r.started, r.drill, r.level or "", r.duration, r.recording or ""]
                    + ["" if r.metrics.get(k) is None else r.metrics[k] for k in keys]
                )
        return len(rows)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqlStore(Store):
    """The store over a DB-API connection; dialects differ in placeholders and key types only."""

    placeholder = "?"
    id_type = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self) -> None:
        self.conn: Any = None

    # -- dialect hooks ---------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return list(cur.fetchall())

    def _insert(self, cur: Any, sql: str, params: Sequence[Any]) -> int:
        cur.execute(self._sql(sql), tuple(params))
        return int(cur.lastrowid)

    @abstractmethod
    def _transaction(self) -> Any:
        """A context manager: commit on success, roll back on error (errors become StoreError)."""

    # -- patients --------------------------------------------------------------------------------------
    def add_patient(self, patient_id: str | None = None, note: str | None = None) -> str:
        pid = patient_id if patient_id is not None else f"P-{secrets.token_hex(3).upper()}"
        _check_id(pid)
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO patients (id, created, note) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"
                ),
                (pid, _now(), note),
            )
            added = cur.rowcount
        if added != 1:
            raise StoreError(f"patient {pid!r} is already in the store {self.where}")
        return pid

    def patients(self) -> list[PatientRow]:
        rows = self._rows(
            "SELECT p.id, p.created, p.note, COUNT(s.id), MAX(s.started) FROM patients p "
            "LEFT JOIN sessions s ON s.patient_id = p.id GROUP BY p.id, p.created, p.note"
        )
        # sorted here, not by the database's collation (PostgreSQL's locale would order ids differently)
        return sorted((PatientRow(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows), key=lambda p: p.id)

    def patient(self, patient_id: str) -> PatientRow:
        for p in self.patients():
            if p.id == patient_id:
                return p
        raise StoreError(f"no patient {patient_id!r} in the store {self.where} ('nmre patients' lists them)")

    # -- sessions --------------------------------------------------------------------------------------
    def save_session(
        self,
        patient: str,
        events: Sequence[Event],
        *,
        drill: str,
        settings: Mapping[str, Any] | None = None,
        started: str | None = None,
        duration: float | None = None,
        recording: str | None = None,
        level: str | None = None,
        schedule: str | None = None,
        software: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> int:
        _check_id(patient)
        checksum = sha256_of(recording) if recording and os.path.isfile(recording) else None
        metrics = session_metrics(events)
        sets = _sets(events)
        rows = rep_rows(events)
        with self._transaction() as cur:
            # the patient is made in the same transaction, so two workstations saving a first session for one
            # patient at once both keep theirs (ON CONFLICT: SQLite 3.24+ and PostgreSQL alike)
            cur.execute(
                self._sql("INSERT INTO patients (id, created) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"),
                (patient, _now()),
            )
            sid = self._insert(
                cur,
                "INSERT INTO sessions (patient_id, started, drill, duration, settings, metrics, recording, "
                "recording_sha256, level, schedule, software, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    patient,
                    started or _now(),
                    drill,
                    duration,
                    _j(dict(settings or {})),
                    _j(metrics),
                    recording,
                    checksum,
                    level,
                    schedule,
                    _j(dict(software or {})),
                    _j(dict(summary or {})),
                ),
            )
            set_ids: list[tuple[int, float | None, float | None, int]] = []
            for n, a, b in sets or [(1, None, None)]:
                set_ids.append(
                    (
                        n,
                        a,
                        b,
                        self._insert(
                            cur,
                            "INSERT INTO sets (session_id, number, start_s, end_s) VALUES (?, ?, ?, ?)",
                            (sid, n, a, b),
                        ),
                    )
                )
            for r in rows:
                cur.execute(
                    self._sql(
                        "INSERT INTO reps (session_id, set_id, unit, idx, start_s, end_s, ok, checks, errors, "
                        "unjudged, cues) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        sid,
                        _set_of(r, set_ids),
                        r.unit,
                        str(r.index),
                        r.start,
                        r.end,
                        None if r.ok is None else int(r.ok),
                        _j({k: _check(c) for k, c in r.checks.items()}),
                        _j(r.errors),
                        _j(r.unjudged),
                        _j(r.cues),
                    ),
                )
            for e in events:
                if e.kind.startswith("calibration.") or e.kind.startswith("readiness."):
                    cur.execute(
                        self._sql(
                            "INSERT INTO calibrations (session_id, kind, time_s, record) VALUES (?, ?, ?, ?)"
                        ),
                        (sid, e.kind, e.time if math.isfinite(e.time) else None, _j(e.to_dict())),
                    )
            if calibration:
                cur.execute(
                    self._sql(
                        "INSERT INTO calibrations (session_id, kind, time_s, record) VALUES (?, ?, ?, ?)"
                    ),
                    (sid, "calibration.record", None, _j(dict(calibration))),
                )
        return sid

    def _session_rows(self, where: str, params: Sequence[Any]) -> list[SessionRow]:
        rows = self._rows(
            "SELECT id, patient_id, started, drill, duration, settings, metrics, recording, recording_sha256, "
            f"level, schedule, software, summary FROM sessions {where} ORDER BY started, id",
            params,
        )
        return [
            SessionRow(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                json.loads(r[5] or "{}"),
                json.loads(r[6] or "{}"),
                r[7],
                r[8],
                r[9],
                r[10],
                json.loads(r[11] or "{}"),
                json.loads(r[12] or "{}"),
            )
            for r in rows
        ]

    def sessions(self, patient: str | None = None) -> list[SessionRow]:
        if patient is None:
            return self._session_rows("", ())
        self.patient(patient)  # an unknown patient is an error, not an empty list
        return self._session_rows("WHERE patient_id = ?", (patient,))

    def session(self, session_id: int) -> SessionRow:
        got = self._session_rows("WHERE id = ?", (int(session_id),))
        if not got:
            raise StoreError(
                f"no session {session_id} in the store {self.where} ('nmre sessions' lists them)"
            )
        return got[0]

    def reps(self, session_id: int) -> list[RepRecord]:
        self.session(session_id)
        rows = self._rows(
            "SELECT r.unit, r.idx, s.number, r.start_s, r.end_s, r.ok, r.checks, r.errors, r.unjudged, r.cues "
            "FROM reps r LEFT JOIN sets s ON s.id = r.set_id WHERE r.session_id = ? ORDER BY r.id",
            (int(session_id),),
        )
        return [
            RepRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                None if r[5] is None else bool(r[5]),
                json.loads(r[6] or "{}"),
                json.loads(r[7] or "[]"),
                json.loads(r[8] or "[]"),
                json.loads(r[9] or "[]"),
            )
            for r in rows
        ]

    def calibrations(self, session_id: int) -> list[dict[str, Any]]:
        self.session(session_id)
        rows = self._rows(
            "SELECT kind, time_s, record FROM calibrations WHERE session_id = ? ORDER BY id",
            (int(session_id),),
        )
        return [{"kind": r[0], "time": r[1], "record": json.loads(r[2])} for r in rows]

    def set_summary(self, session_id: int, summary: Mapping[str, Any]) -> None:
        self.session(session_id)
        with self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE sessions SET summary = ? WHERE id = ?"),
                (_j(dict(summary)), int(session_id)),
            )

    def add_note(
        self, text: str, *, patient: str | None = None, session: int | None = None, author: str | None = None
    ) -> int:
        if not text.strip():
            raise StoreError("note: expected some text, got an empty note")
        if session is not None:
            s = self.session(session)
            if patient is not None and patient != s.patient:
                raise StoreError(f"note: session {session} belongs to {s.patient!r}, not {patient!r}")
            patient = s.patient
        if patient is None:
            raise StoreError("note: expected a patient or a session to attach it to, got neither")
        self.patient(patient)
        with self._transaction() as cur:
            return self._insert(
                cur,
                "INSERT INTO notes (patient_id, session_id, written, author, text) VALUES (?, ?, ?, ?, ?)",
                (patient, session, _now(), author, text),
            )

    def notes(self, *, patient: str | None = None, session: int | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        if patient is not None:
            clauses.append("patient_id = ?")
            params.append(patient)
        if session is not None:
            clauses.append("session_id = ?")
            params.append(int(session))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._rows(
            f"SELECT id, patient_id, session_id, written, author, text FROM notes {where} ORDER BY id", params
        )
        return [
            dict(zip(("id", "patient", "session", "written", "author", "text"), r, strict=True)) for r in rows
        ]


def _check_id(pid: str) -> None:
    if not isinstance(pid, str) or not _ID.match(pid):
        raise StoreError(
            f"patient id: expected a pseudonym of letters, digits, '.', '_' or '-' (no spaces, at most 64), "
            f"got {pid!r}"
        )


def _check(o: Any) -> dict[str, Any]:
    return {"ok": o.ok, "value": o.value, "unit": o.value_unit, "error": o.error, "lo": o.lo, "hi": o.hi}


def _set_of(r: RepRow, sets: Sequence[tuple[int, float | None, float | None, int]]) -> int | None:
    if len(sets) == 1:
        return sets[0][3]
    t = r.start if r.start is not None else r.end
    for _, a, b, sid in sets:
        if t is not None and (a is None or t >= a) and (b is None or t <= b):
            return sid
    return None


# -- SQLite ----------------------------------------------------------------------------------------------
def default_store_path() -> Path:
    """``NMRE_STORE``, else ``nmre.sqlite`` in the user's data directory (XDG on Linux)."""
    env = os.environ.get("NMRE_STORE")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nmre" / "nmre.sqlite"


class SqliteStore(SqlStore):
    """The embedded store: one SQLite file in WAL mode (see the module docs for the checks made on opening)."""

    def __init__(
        self, path: str | os.PathLike[str], *, create_folder: bool = False, writable: bool = True
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.writable = writable
        self.where = str(self.path)
        folder = self.path.parent
        if create_folder and not folder.exists():
            try:
                folder.mkdir(parents=True)
            except OSError as exc:
                raise StoreError(
                    f"store {self.path}: cannot create its folder {folder} ({exc.strerror})"
                ) from None
        if self.path.is_dir():
            raise StoreError(f"store: expected a database file, got the folder {self.path}")
        if not folder.is_dir():
            raise StoreError(f"store {self.path}: expected an existing folder, got none at {folder}")
        if writable:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                raise StoreError(
                    f"store {self.path}: expected a writable database, got a read-only file system"
                )
            self._check_space()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            if "not a database" in str(exc):
                raise StoreError(
                    f"store {self.path}: expected an nmre SQLite store, got a file that is not one"
                ) from None
            raise StoreError(self._explain(exc)) from None
        if version > SCHEMA_VERSION:
            self._close_quietly()
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this nmre reads "
                f"({SCHEMA_VERSION}): upgrade nmre before using this store"
            )
        # switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once
        # (no busy wait) while another workstation makes the same new store: try again for the timeout
        deadline = time.monotonic() + 10.0
        while True:
            try:
                self.conn.execute("PRAGMA foreign_keys = ON")
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                self.conn.execute("PRAGMA synchronous = NORMAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self._close_quietly()
                raise StoreError(self._explain(exc)) from None
            except sqlite3.DatabaseError as exc:
                self._close_quietly()
                raise StoreError(self._explain(exc)) from None
        if str(mode).lower() != "wal":
            self._close_quietly()
            raise StoreError(
                f"store {self.path}: expected a writable database (WAL mode), got mode {mode!r}: read-only?"
            )
        if version < SCHEMA_VERSION:
            self._migrate(version)
        if writable:
            self.preflight()

    def _close_quietly(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _check_space(self) -> None:
        free = shutil.disk_usage(self.path.parent).free
        if free < MIN_FREE_BYTES:
            raise StoreError(
                f"store {self.path}: expected at least {MIN_FREE_BYTES >> 20} MiB free on its disk, "
                f"got {free >> 20} MiB: free some space before the session"
            )

    def _explain(self, exc: sqlite3.Error) -> str:
        msg = str(exc)
        low = msg.lower()
        if "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low:
            return f"store {self.path}: expected a writable database, got a read-only one ({msg})"
        if "full" in low:
            return f"store {self.path}: the disk is full ({msg}); nothing was saved"
        if "locked" in low or "busy" in low:
            return f"store {self.path}: another program holds the database locked ({msg})"
        return f"store {self.path}: {msg}"

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, version: int) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            # read again under the write lock: another workstation may have migrated it since we looked
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            if version >= SCHEMA_VERSION:
                self.conn.execute("COMMIT")
                return
            for k in range(version, SCHEMA_VERSION):
                for stmt in _statements(MIGRATIONS[k].format(id=self.id_type)):
                    self.conn.execute(stmt)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._close_quietly()
            raise StoreError(self._explain(exc) + f" (while migrating from schema {version})") from None

    def preflight(self) -> None:
        self._check_space()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _nmre_probe (x INTEGER)")
            self.conn.execute("ROLLBACK")
            # a real write to the file itself (temp tables live elsewhere)
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(f"PRAGMA user_version = {self.schema_version}")
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(self._explain(exc)) from None

    class _Tx:
        def __init__(self, store: SqliteStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Cursor:
            self.store.conn.execute("BEGIN IMMEDIATE")
            return self.store.conn.cursor()

        def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
            conn = self.store.conn
            if et is None:
                try:
                    conn.execute("COMMIT")
                    return
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    raise StoreError(self.store._explain(exc)) from None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(ev, sqlite3.Error):
                raise StoreError(self.store._explain(ev)) from None

    def _transaction(self) -> Any:
        return SqliteStore._Tx(self)

    def close(self) -> None:
        self._close_quietly()


def _statements(script: str) -> Iterator[str]:
    for part in script.split(";"):
        if part.strip():
            yield part.strip()


def open_store(url_or_path: str | os.PathLike[str] | None = None, *, writable: bool = True) -> Store:
    """Open the store at a path (SQLite), a ``sqlite:///PATH`` URL, a ``postgresql://`` URL, or the default.

    Every check (folder, space, writability, schema version) runs here, before a session starts.
    ``writable=False`` opens it for reading only (a report, a history view): no write check,
    so it never waits for a session that is writing.
    """
    if url_or_path is None or not os.fspath(url_or_path):
        env = os.environ.get("NMRE_STORE", "").strip()
        if not env:
            return SqliteStore(default_store_path(), create_folder=True, writable=writable)
        url_or_path = env
    target = os.fspath(url_or_path)
    if re.match(r"postgres(ql)?://", target, re.IGNORECASE):
        try:
            from nmre.sessions.store_pg import PostgresStore
        except ImportError as exc:  # psycopg missing
            raise StoreError(f"a PostgreSQL store needs psycopg ({exc})") from None
        return PostgresStore(target, writable=writable)
    if target.startswith("sqlite:///"):
        target = target[len("sqlite://") :]
    return SqliteStore(target, writable=writable)

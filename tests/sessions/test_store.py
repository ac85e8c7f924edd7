"""The session store: SQLite in WAL mode, pseudonymous patients, migrations, and failing before the session."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
import subprocess
import sys
import threading

import pytest

from nmre.errors import RecordingError, StoreError
from nmre.sessions.metrics import outcomes
from nmre.sessions.store import MIGRATIONS, SCHEMA_VERSION, SqliteStore, open_store


def nmre(*args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.sqlite") as s:
        yield s


def test_a_recorded_session_is_stored_with_its_reps_checks_calibrations_and_checksum(store, squat_recording):
    path, events = squat_recording
    sid = store.save_recording(path)  # the patient comes from the recording's metadata
    s = store.session(sid)
    assert s.patient == "P-0001" and s.drill == "squat" and s.recording == str(path)
    assert s.recording_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert s.metrics["reps"] == 4 and s.metrics["error.shallow_squat"] == 1
    assert s.software["nmre"] and s.settings["squat_depth.lo"] == 75.0
    reps = store.reps(sid)
    assert [r.index for r in reps] == ["1", "2", "3", "4"] and all(r.set == 1 for r in reps)
    stored = {(r.index, rule): c for r in reps for rule, c in r.checks.items()}
    for o in outcomes(events):
        c = stored[(str(o.index), o.rule)]
        assert (c["ok"], c["value"], c["error"], c["lo"], c["hi"]) == (o.ok, o.value, o.error, o.lo, o.hi)
    assert (
        reps[1].ok is False and reps[1].errors == ["shallow_squat"] and reps[1].cues == ["Go a little deeper"]
    )
    kept = [e.kind for e in events if e.kind.startswith(("calibration.", "readiness."))]
    assert "calibration.neutral" in kept and [c["kind"] for c in store.calibrations(sid)] == kept
    assert store.patients()[0].sessions == 1


def test_patients_are_pseudonyms_never_names(store):
    drawn = store.add_patient()
    assert drawn.startswith("P-") and len(drawn) == 8
    assert store.add_patient("P-0042") == "P-0042"
    for bad in ("John Smith", "", "x" * 65, "../etc"):
        with pytest.raises(StoreError, match="expected a pseudonym"):
            store.add_patient(bad)
    with pytest.raises(StoreError, match="already in the store"):
        store.add_patient("P-0042")
    with pytest.raises(StoreError, match="no patient 'P-9'"):
        store.sessions("P-9")
    with pytest.raises(StoreError, match="no session 7"):
        store.reps(7)
    columns = {
        r[1] for t in ("patients", "sessions", "notes") for r in store.conn.execute(f"PRAGMA table_info({t})")
    }
    assert not {"name", "first_name", "last_name", "birth_date"} & columns


def test_notes_and_the_end_of_session_summary(store, squat_recording):
    sid = store.save_recording(squat_recording[0])
    store.add_note("knee sore after set 2", session=sid, author="PT-1")
    store.add_note("goal: 10 deep squats", patient="P-0001")
    assert [n["text"] for n in store.notes(patient="P-0001")] == [
        "knee sore after set 2",
        "goal: 10 deep squats",
    ]
    assert store.notes(session=sid)[0]["author"] == "PT-1"
    with pytest.raises(StoreError, match="empty note"):
        store.add_note("  ", patient="P-0001")
    store.set_summary(sid, {"told": 4, "comment": "good session"})
    assert store.session(sid).summary == {"comment": "good session", "told": 4}


def test_readers_work_while_a_session_writes(tmp_path, squat_recording):
    path = tmp_path / "wal.sqlite"
    writer = open_store(path)
    writer.save_recording(squat_recording[0])
    assert writer.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer.conn.execute("BEGIN IMMEDIATE")  # a session in the middle of writing
    writer.conn.execute("INSERT INTO patients (id, created) VALUES ('P-W', 'now')")
    got = []

    def read():
        with open_store(path, writable=False) as reader:
            got.append([p.id for p in reader.patients()])

    t = threading.Thread(target=read)
    t.start()
    t.join(10)
    assert not t.is_alive() and got == [["P-0001"]]  # the reader is not blocked and sees the committed state
    writer.conn.execute("COMMIT")
    writer.close()


def _build_at(path, version: int):
    """A store at an earlier schema version, with data as that version held it."""
    conn = sqlite3.connect(path, isolation_level=None)
    for k in range(version):
        for stmt in MIGRATIONS[k].format(id="INTEGER PRIMARY KEY AUTOINCREMENT").split(";"):
            if stmt.strip():
                conn.execute(stmt)
    conn.execute(f"PRAGMA user_version = {version}")
    if version >= 1:
        conn.execute("INSERT INTO patients (id, created) VALUES ('P-OLD', '2025-01-01T10:00:00+00:00')")
        conn.execute(
            "INSERT INTO sessions (patient_id, started, drill, duration, settings, metrics) VALUES "
            "('P-OLD', '2025-01-01T10:00:00+00:00', 'squat', 60.0, '{}', '{\"reps\": 10}')"
        )
        conn.execute(
            "INSERT INTO reps (session_id, idx, start_s, end_s, ok, checks) VALUES (1, '1', 1.0, 3.0, 1, '{}')"
        )
    if version >= 2:
        conn.execute(
            "INSERT INTO notes (patient_id, written, text) VALUES ('P-OLD', '2025-01-01', 'old note')"
        )
    conn.close()


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_a_store_of_every_earlier_version_migrates_and_keeps_its_data(tmp_path, squat_recording, version):
    path = tmp_path / f"v{version}.sqlite"
    _build_at(path, version)
    with open_store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        if version >= 1:
            old = s.sessions("P-OLD")[0]
            assert old.metrics == {"reps": 10} and old.recording is None and old.summary == {}
            assert s.reps(old.id)[0].unjudged == [] and s.reps(old.id)[0].unit == "rep"
        if version >= 2:
            assert s.notes(patient="P-OLD")[0]["text"] == "old note"
        sid = s.save_recording(squat_recording[0])
        assert s.session(sid).recording_sha256
    with open_store(path) as again:  # opening a current store migrates nothing
        assert again.schema_version == SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "future.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(
        StoreError, match=f"schema version 99, newer than this nmre reads \\({SCHEMA_VERSION}\\)"
    ):
        open_store(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 99


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    p = tmp_path / "notes.sqlite"
    p.write_text("shopping list\n" * 100)
    with pytest.raises(StoreError, match="expected an nmre SQLite store"):
        open_store(p)
    with pytest.raises(StoreError, match="expected an existing folder"):
        open_store(tmp_path / "no" / "store.sqlite")
    with pytest.raises(StoreError, match="expected a database file, got the folder"):
        open_store(tmp_path)


def test_a_full_disk_fails_when_the_store_opens(mounted):
    small = mounted("2m")
    with pytest.raises(StoreError, match=r"expected at least 64 MiB free on its disk, got [0-2] MiB"):
        open_store(small / "store.sqlite")
    from nmre.core.model import Channel, StreamInfo, StreamKind
    from nmre.sessions import XdfRecorder

    emg = StreamInfo("emg", StreamKind.EMG, (Channel("vl", "mV"),), 2000.0, device="x")
    with pytest.raises(RecordingError, match="MiB free"):
        XdfRecorder(small / "a.xdf").open([emg])


def test_a_read_only_path_fails_when_the_store_opens(mounted, squat_recording):
    def prepare(where):
        with open_store(where / "store.sqlite") as s:  # a store made while the disk was writable
            s.save_recording(squat_recording[0])

    ro = mounted("80m", read_only=True, prepare=prepare)
    with pytest.raises(StoreError, match="expected a writable database, got a read-only file system"):
        open_store(ro / "store.sqlite")
    with pytest.raises(StoreError, match="expected a writable database, got a read-only file system"):
        open_store(ro / "new.sqlite")


def test_a_disk_that_fills_during_a_save_saves_nothing(store, squat_recording):
    store.save_recording(squat_recording[0])
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own 'database or disk is full'
    before = len(store.sessions())
    with pytest.raises(StoreError, match=r"the disk is full.*nothing was saved"):
        for _ in range(20):
            store.save_recording(squat_recording[0])
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert len(store.sessions()) >= before  # whole sessions only: the failed one left nothing behind
    assert all(store.reps(s.id) for s in store.sessions())


def test_export_metrics_to_csv(store, squat_recording, tmp_path):
    depth_ok = sum(o.rule == "squat_depth" and o.ok is True for o in outcomes(squat_recording[1]))
    assert depth_ok >= 2  # rep 2 is shallow; the others on target where judged
    store.save_recording(squat_recording[0])
    store.save_recording(squat_recording[0], patient="P-0002")
    out = tmp_path / "m.csv"
    assert store.export_metrics_csv(out, patient="P-0002") == 1
    rows = list(csv.DictReader(out.open()))
    assert (
        rows[0]["patient"] == "P-0002"
        and rows[0]["reps"] == "4"
        and rows[0]["squat_depth.ok"] == str(depth_ok)
    )


def test_cli_patients_and_sessions(tmp_path, squat_recording):
    judged = [o for o in outcomes(squat_recording[1]) if o.ok is not None]
    on_target = f"{sum(o.ok for o in judged)}/{len(judged)} checks on target"
    db = str(tmp_path / "cli.sqlite")
    assert nmre("patients", "--store", db, "--add", "P-7").stdout.strip() == "P-7"
    saved = nmre("sessions", "--store", db, "--save", str(squat_recording[0]), "--patient", "P-7")
    assert saved.returncode == 0 and "session 1: P-7, squat, 4 reps" in saved.stdout
    listing = nmre("sessions", "P-7", "--store", db)
    assert "1 sessions of patient P-7" in listing.stdout and on_target in listing.stdout
    show = nmre("sessions", "--store", db, "--show", "1", "--note", "felt good")
    assert "rep     2  FIX" in show.stdout and "note" in show.stdout and "felt good" in show.stdout
    pats = nmre("patients", "--store", db, "--json")
    assert '"sessions": 1' in pats.stdout
    for args, msg in (
        (["patients", "--add", "Jane Doe"], "expected a pseudonym"),
        (["sessions", "P-404"], "no patient 'P-404'"),
        (["sessions", "--show", "9"], "no session 9"),
        (["sessions", "--save", str(tmp_path / "none.xdf")], "expected a readable XDF file"),
    ):
        bad = nmre(*args, "--store", db)
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr


def test_the_default_store_lives_in_the_user_data_directory(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    import os

    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    proc = nmre("patients", "--add", "P-1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "nmre" / "nmre.sqlite").is_file()
    assert isinstance(open_store(tmp_path / "data" / "nmre" / "nmre.sqlite"), SqliteStore)

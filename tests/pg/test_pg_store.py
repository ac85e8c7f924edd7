"""The session store on a real PostgreSQL server: the SQLite store's interface, schema and guarantees."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.pg.conftest import PgServer

from nmre.errors import StoreError
from nmre.sessions.store import SCHEMA_VERSION, SqliteStore, open_store
from nmre.sessions.store_pg import PostgresStore, migration

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]


def _scenario(store: Any, recording: Path) -> dict[str, Any]:
    """Everything the store interface offers, done once; what it gave back, without the wall-clock times."""
    first = store.save_recording(recording)
    store.add_patient("P-0002", note="left knee")
    second = store.save_recording(recording, patient="P-0002")
    store.set_summary(second, {"told": 4, "comment": "steadier"})
    store.add_note("felt good", session=first, author="T1")
    store.add_note("next week: depth", patient="P-0002")

    def plain(row: Any) -> dict[str, Any]:
        d = dataclasses.asdict(row)
        for key in ("created", "last_session"):
            d.pop(key, None)
        return d

    notes = [{k: v for k, v in n.items() if k != "written"} for n in store.notes()]
    return {
        "ids": (first, second),
        "schema": store.schema_version,
        "patients": [plain(p) for p in store.patients()],
        "sessions": [plain(s) for s in store.sessions()],
        "of_p2": [s.id for s in store.sessions("P-0002")],
        "reps": [dataclasses.asdict(r) for r in store.reps(first)],
        "calibrations": store.calibrations(first),
        "notes": notes,
        "session_notes": [n["text"] for n in store.notes(session=first)],
    }


def test_postgresql_gives_back_exactly_what_sqlite_does(
    pg_database: str, tmp_path: Path, squat_recording
) -> None:
    path, _ = squat_recording
    with open_store(tmp_path / "store.sqlite") as lite:
        expected = _scenario(lite, path)
    with open_store(pg_database) as pg:
        assert isinstance(pg, PostgresStore)
        got = _scenario(pg, path)
        csv_pg = tmp_path / "pg.csv"
        pg.export_metrics_csv(csv_pg)
    with SqliteStore(tmp_path / "store.sqlite") as lite:
        csv_lite = tmp_path / "lite.csv"
        lite.export_metrics_csv(csv_lite)
    assert expected["sessions"][0]["metrics"]["reps"] == 4  # the scenario stored something real
    assert got == expected
    assert csv_pg.read_text() == csv_lite.read_text()
    with open_store(pg_database) as pg, pytest.raises(StoreError, match="no patient 'P-404'"):
        pg.sessions("P-404")


def _build_at(url: str, version: int) -> None:
    """A PostgreSQL store at an earlier schema version, with data as that version held it."""
    with psycopg.connect(url, autocommit=True) as conn:
        if version == 0:
            return
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (%s)", (version,))
        for k in range(version):
            for stmt in migration(k).split(";"):
                if stmt.strip():
                    conn.execute(stmt)
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


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_a_store_of_every_earlier_version_migrates_and_keeps_its_data(
    pg_database: str, squat_recording, version: int
) -> None:
    _build_at(pg_database, version)
    with open_store(pg_database) as s:
        assert s.schema_version == SCHEMA_VERSION
        if version >= 1:
            old = s.sessions("P-OLD")[0]
            assert old.metrics == {"reps": 10} and old.recording is None and old.summary == {}
            assert s.reps(old.id)[0].unjudged == [] and s.reps(old.id)[0].unit == "rep"
        if version >= 2:
            assert s.notes(patient="P-OLD")[0]["text"] == "old note"
        sid = s.save_recording(squat_recording[0])
        assert s.session(sid).recording_sha256 and len(s.reps(sid)) == 4
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*), max(version) FROM schema_version").fetchone() == (
            1,
            SCHEMA_VERSION,
        )


def test_two_workstations_opening_an_old_store_at_once_migrate_it_once(pg_database: str) -> None:
    _build_at(pg_database, 1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def open_one() -> None:
        try:
            barrier.wait(10)
            with open_store(pg_database) as s:
                assert s.schema_version == SCHEMA_VERSION
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with open_store(pg_database) as s:
        assert [p.id for p in s.patients()] == ["P-OLD"] and s.schema_version == SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_left_untouched(pg_database: str) -> None:
    with open_store(pg_database):
        pass
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(
        StoreError, match=rf"schema version 99, newer than this nmre reads \({SCHEMA_VERSION}\): upgrade nmre"
    ):
        open_store(pg_database)
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (99,)


def test_a_database_of_other_tables_is_refused_untouched(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(
        StoreError, match="expected an nmre store or an empty database, got a database that holds"
    ):
        open_store(pg_database)
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT to_regclass('patients')").fetchone() == (None,)


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nmre.sessions.store import open_store
    target, recording, go, n, tag = sys.argv[1:6]
    with open_store(target) as store:          # opened (and checked) before the start signal
        while not Path(go).exists():
            time.sleep(0.005)
        for k in range(int(n)):
            sid = store.save_recording(recording, patient="P-SHARED")
            store.add_note(f"{tag} {k}", session=sid)
    """
)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_workstations_writing_for_one_patient_at_once_keep_every_session(
    backend: str, pg_database: str, tmp_path: Path, squat_recording
) -> None:
    target = pg_database if backend == "postgresql" else str(tmp_path / "shared.sqlite")
    path, _ = squat_recording
    go = tmp_path / "go"
    n = 8
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, target, str(path), str(go), str(n), tag],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("ws1", "ws2")
    ]
    # the patient is new: both make it in the same instant, as two workstations on a first visit would
    go.touch()
    for w in writers:
        _, err = w.communicate(timeout=150)
        assert w.returncode == 0, err
    with open_store(target) as store:
        sessions = store.sessions("P-SHARED")
        assert len(sessions) == 2 * n and len({s.id for s in sessions}) == 2 * n
        assert all(len(store.reps(s.id)) == 4 and s.metrics["reps"] == 4 for s in sessions)
        texts = sorted(note["text"] for note in store.notes(patient="P-SHARED"))
        assert texts == sorted(f"{tag} {k}" for tag in ("ws1", "ws2") for k in range(n))
        assert [p.id for p in store.patients()] == ["P-SHARED"]


def test_threads_with_their_own_connections_keep_every_session(pg_database: str, squat_recording) -> None:
    path, _ = squat_recording
    stores = [open_store(pg_database) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def write(store: Any) -> None:
        try:
            barrier.wait(10)
            for _ in range(4):
                store.save_recording(path, patient="P-THREADS")
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for s in stores:
        s.close()
    assert errors == []
    with open_store(pg_database) as store:
        assert len(store.sessions("P-THREADS")) == 12


def test_a_read_only_database_fails_when_the_store_opens(pg_database: str, squat_recording) -> None:
    with open_store(pg_database) as s:
        s.save_recording(squat_recording[0])
    name = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(StoreError, match=r"expected a writable database, got a read-only one"):
        open_store(pg_database)
    with open_store(pg_database, writable=False) as reader:  # a report may still read it
        assert len(reader.sessions()) == 1


def test_a_user_without_write_rights_fails_when_the_store_opens(
    pg_server: PgServer, pg_database: str
) -> None:
    with open_store(pg_database):
        pass
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'pw'")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    url = pg_database.replace(f"{pg_server.user}:{pg_server.password}@", "reader:pw@")
    try:
        with pytest.raises(StoreError, match="the user may not write to the store"):
            open_store(url)
        with open_store(url, writable=False) as reader:
            assert reader.patients() == []
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("DROP OWNED BY reader")
            conn.execute("DROP ROLE reader")


@pytest.fixture
def small_tablespace(pg_server: PgServer):
    """A database whose files live on a 16 MiB tmpfs (a full disk on the server), and a way to fill it."""
    import pwd
    import shutil
    import tempfile

    root = Path(
        tempfile.mkdtemp(prefix="nmre-pgspace-")
    )  # not under pytest's folder: the server must reach it
    root.chmod(0o755)
    where = root / "tiny"
    where.mkdir()
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    mounted = subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            f"size=16m,uid={owner.pw_uid},gid={owner.pw_gid},mode=700",
            "none",
            str(where),
        ],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    space = f"tiny_{os.getpid()}"
    name = f"{space}_db"
    admin = pg_server.url()
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {space} LOCATION '{where}'")
            conn.execute(f'CREATE DATABASE "{name}" TABLESPACE {space}')

        def fill() -> None:
            filler = where / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)

        yield pg_server.url(name), fill
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"DROP TABLESPACE IF EXISTS {space}")
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_full_disk_on_the_server_fails_when_the_store_opens_and_a_save_keeps_nothing(
    small_tablespace, squat_recording
) -> None:
    url, fill = small_tablespace
    store = open_store(url)  # enough space: opens, migrates, passes its preflight
    store.save_recording(squat_recording[0])
    fill()
    try:
        with pytest.raises(StoreError, match=r"has no space left on its disk.*nothing was saved"):
            for _ in range(50):  # a save that needs a new page on the full disk
                store.save_recording(squat_recording[0])
        sessions = store.sessions()
        assert sessions and all(store.reps(s.id) for s in sessions)  # whole sessions only
    finally:
        store.close()
    with pytest.raises(
        StoreError, match=r"^the PostgreSQL server of the store .* has no space left on its disk"
    ):
        open_store(url)  # before the next session starts


def _nmre(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "nmre", *args], capture_output=True, text=True, timeout=120, env=full
    )


def test_the_cli_takes_the_store_url_from_the_option_or_nmre_store(pg_database: str) -> None:
    added = _nmre("patients", "--store", pg_database, "--add", "P-CLI")
    assert added.returncode == 0 and added.stdout.strip() == "P-CLI", added.stderr
    listed = _nmre("patients", env={"NMRE_STORE": pg_database})
    assert listed.returncode == 0, listed.stderr
    assert "P-CLI" in listed.stdout and "postgresql://nmre@" in listed.stdout
    assert pg_database.split(":")[2].split("@")[0] not in listed.stdout  # never the password


@pytest.mark.parametrize("how", ["credentials", "unreachable", "newer schema"])
def test_a_store_that_cannot_be_used_is_one_line_and_exit_2_before_the_session(
    pg_server: PgServer, pg_database: str, how: str, tmp_path: Path
) -> None:
    if how == "newer schema":
        with open_store(pg_database):
            pass
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = version + 1")
        url = pg_database
        said = "newer than this nmre reads"
    elif how == "credentials":
        url = f"postgresql://nmre:wrong@{pg_server.host}:{pg_server.port}/postgres"
        said = "refused the credentials of user 'nmre'"
    else:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"postgresql://nmre:wrong@127.0.0.1:{port}/nmre?connect_timeout=2"
        said = "cannot reach the PostgreSQL store at 127.0.0.1"
    for args in (
        ["patients", "--store", url],
        [
            "studio",
            "--sim",
            "--seconds",
            "2",
            "--patient",
            "P-1",
            "--store",
            url,
            "--screenshot",
            str(tmp_path),
            "--no-sound",
        ],
    ):
        proc = _nmre(*args, env={"QT_QPA_PLATFORM": "offscreen"})
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and said in lines[0] and "wrong" not in lines[0], proc.stderr
        assert pg_server.password not in lines[0]
        assert not (tmp_path / "summary.json").exists()  # no session ran


def test_a_session_is_saved_after_the_server_dropped_the_connection(
    pg_database: str, squat_recording
) -> None:
    store = open_store(pg_database)  # opened when the session started
    try:
        with psycopg.connect(pg_database, autocommit=True) as admin:  # the server drops it meanwhile
            pid = store.conn.info.backend_pid
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        sid = store.save_recording(squat_recording[0])  # at the end of the session: connects again and saves
        assert len(store.reps(sid)) == 4
        assert store.conn.info.backend_pid != pid
        with psycopg.connect(pg_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
        assert [s.id for s in store.sessions()] == [sid]  # a read is repeated on a new connection
    finally:
        store.close()


def test_the_studio_saves_its_session_into_the_postgresql_store(pg_database: str, tmp_path: Path) -> None:
    import json

    shots = tmp_path / "shots"
    args = ["studio", "--sim", "--seconds", "4", "--patient", "P-0042", "--no-sound"]
    proc = _nmre(
        *args, "--screenshot", str(shots), env={"QT_QPA_PLATFORM": "offscreen", "NMRE_STORE": pg_database}
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((shots / "summary.json").read_text())
    assert summary["store"].startswith("saved as session"), summary["store"]
    with open_store(pg_database, writable=False) as store:
        (row,) = store.sessions("P-0042")
        assert row.drill == "squat" and row.duration == pytest.approx(summary["session_seconds"], abs=0.01)
        assert row.summary["session_seconds"] == summary["session_seconds"]

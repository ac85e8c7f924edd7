"""The session store on a real PostgreSQL server: same interface and answers as SQLite, concurrent workstations."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.pg.conftest import PgServer

from nmre.errors import StoreError

store_mod = pytest.importorskip("nmre.sessions.store", reason="sessions' store (issue 10) is not on main yet")
if not hasattr(pytest.importorskip("nmre.sessions.store_pg"), "PostgresStore"):
    pytest.skip("the PostgreSQL store (store_pg.PostgresStore, issue 12) is not on main yet", allow_module_level=True)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def session_events() -> list[Any]:
    """The events of a real (simulated) squat session: reps, checks, cues, calibration."""
    from nmre.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(reps=3, seed=7)).events


def _fill(store: Any, events: list[Any]) -> dict[str, Any]:
    """The same operations a clinic makes, and what the store answers (without the wall-clock stamps)."""
    store.add_patient("P-0042", note="left ACL reconstruction, week 6")
    first = store.save_session("P-0042", events, drill="squat", settings={"depth": [75, 115]}, duration=21.5)
    second = store.save_session("P-0043", events, drill="squat", level="2", schedule="faded")
    store.add_note("knee pain 2/10 after set 2", session=first, author="therapist A")
    store.set_summary(second, {"comment": "good depth"})
    sessions = store.sessions()
    return {
        "patients": [(p.id, p.note, p.sessions) for p in store.patients()],
        "sessions": [
            (s.id, s.patient, s.drill, s.duration, s.settings, s.metrics, s.level, s.schedule, s.summary)
            for s in sessions
        ],
        "reps": [store.reps(s.id) for s in sessions],
        "calibrations": [store.calibrations(s.id) for s in sessions],
        "notes": [
            (n["patient"], n["session"], n["author"], n["text"]) for n in store.notes(patient="P-0042")
        ],
    }


def test_the_postgres_store_answers_as_the_sqlite_store_does(
    pg_database: str, tmp_path: Path, session_events: list[Any]
) -> None:
    with store_mod.open_store(pg_database) as pg:
        assert type(pg).__name__ == "PostgresStore"
        assert pg.schema_version == store_mod.SCHEMA_VERSION
        assert pg.tls  # the test server offers TLS: sslmode=prefer took it
        got = _fill(pg, session_events)
    with store_mod.open_store(tmp_path / "nmre.sqlite") as lite:
        want = _fill(lite, session_events)
    assert got == want
    assert sum(len(r) for r in got["reps"]) >= 6 and got["calibrations"][0]


def test_times_keep_double_precision(pg_database: str, session_events: list[Any]) -> None:
    with store_mod.open_store(pg_database) as pg:
        sid = pg.save_session("P-1", session_events, drill="squat", duration=1234.56789012345)
        assert pg.session(sid).duration == 1234.56789012345  # REAL would be float4 in PostgreSQL
        starts = [r.start for r in pg.reps(sid)]
    with psycopg.connect(pg_database) as conn:
        kinds = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'reps'"
            ).fetchall()
        )
    assert kinds["start_s"] == "double precision"
    assert all(isinstance(s, float) for s in starts if s is not None)


def test_two_workstations_writing_sessions_for_one_patient_at_once_lose_nothing(
    pg_database: str, session_events: list[Any]
) -> None:
    """Two workstations (each its own connection), 15 sessions each, the same new patient, at the same time."""
    n = 15
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    ids: dict[str, list[int]] = {"A": [], "B": []}

    def workstation(name: str) -> None:
        try:
            with store_mod.open_store(pg_database) as store:
                start.wait(timeout=60)
                for k in range(n):
                    ids[name].append(
                        store.save_session(
                            "P-0777", session_events, drill="squat", summary={"by": name, "k": k}
                        )
                    )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=workstation, args=(w,)) for w in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors
    with store_mod.open_store(pg_database) as store:
        sessions = store.sessions("P-0777")
        assert len(sessions) == 2 * n
        assert sorted(s.id for s in sessions) == sorted(ids["A"] + ids["B"])
        assert {(s.summary["by"], s.summary["k"]) for s in sessions} == {
            (w, k) for w in "AB" for k in range(n)
        }
        per_session = {len(store.reps(s.id)) for s in sessions}
        assert per_session == {len(store.reps(sessions[0].id))} and per_session != {0}
        assert [p.id for p in store.patients()] == ["P-0777"]


def test_two_workstations_opening_a_new_database_at_once_migrate_it_once(pg_database: str) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            start.wait(timeout=60)
            with store_mod.open_store(pg_database) as store:
                assert store.schema_version == store_mod.SCHEMA_VERSION
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(store_mod.SCHEMA_VERSION,)]


def test_an_older_store_is_migrated_keeping_its_data(pg_database: str) -> None:
    from nmre.sessions.store_pg import PostgresStore, _dialect

    with psycopg.connect(pg_database, autocommit=True) as conn:  # a store written by an nmre of schema 1
        for stmt in _dialect(store_mod.MIGRATIONS[0].format(id=PostgresStore.id_type)).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO patients (id, created) VALUES ('P-OLD', '2026-01-01T00:00:00+00:00')")
        conn.execute(
            "INSERT INTO sessions (patient_id, started, drill, duration) VALUES ('P-OLD', '2026-01-01', 'squat', 30)"
        )
    with store_mod.open_store(pg_database) as store:
        assert store.schema_version == store_mod.SCHEMA_VERSION
        (old,) = store.sessions("P-OLD")
        assert (old.drill, old.duration, old.recording) == ("squat", 30.0, None)
        store.add_note("migrated fine", patient="P-OLD")


def test_a_newer_store_is_refused_in_one_line(pg_database: str) -> None:
    with store_mod.open_store(pg_database):
        pass
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(
        StoreError, match=r"has schema version 99, newer than this nmre reads .*: upgrade nmre"
    ):
        store_mod.open_store(pg_database)


def test_a_database_of_something_else_is_refused(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE patients (name TEXT, birthday DATE)")
    with pytest.raises(StoreError, match="already holds tables that are not an nmre store"):
        store_mod.open_store(pg_database)


def test_a_user_who_may_not_write_is_told_before_the_session(pg_server: PgServer, pg_database: str) -> None:
    with store_mod.open_store(pg_database):
        pass
    name = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO reader')
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    url = f"postgresql://reader:reader-pw@{pg_server.host}:{pg_server.port}/{name}"
    with pytest.raises(StoreError, match="refuses this user the write"):
        store_mod.open_store(url)


def test_an_unreachable_store_is_one_line_and_exit_2_in_the_cli(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "nmre", "patients", "--store", f"postgresql://nmre:pw@127.0.0.1:{port}/nmre"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"nmre patients: cannot reach the PostgreSQL store at 127.0.0.1:{port}: ")
    assert "pw@" not in line

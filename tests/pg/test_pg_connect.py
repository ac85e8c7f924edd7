"""Connections to the PostgreSQL store: TLS when offered, and one clear line when it cannot connect."""

from __future__ import annotations

import socket

import pytest
from tests.pg.conftest import PgServer

from nmre.errors import StoreError
from nmre.sessions.store_pg import connect, describe_url, is_pg_url

pytestmark = pytest.mark.timeout(120)


def test_the_connection_uses_tls_when_the_server_offers_it(pg_server: PgServer) -> None:
    with connect(pg_server.url()) as conn:
        tls = conn.pgconn.ssl_in_use
        version = conn.execute("select version()").fetchone()[0]
    assert "PostgreSQL" in version
    assert tls, "sslmode=prefer should have used the TLS the test server offers"


def test_a_url_may_still_turn_tls_off(pg_server: PgServer) -> None:
    with connect(pg_server.url(sslmode="disable")) as conn:
        assert not conn.pgconn.ssl_in_use


def test_wrong_credentials_are_one_line_naming_server_and_user_not_the_password(pg_server: PgServer) -> None:
    url = f"postgresql://nmre:not-the-password@{pg_server.host}:{pg_server.port}/postgres"
    with pytest.raises(StoreError) as info:
        connect(url)
    message = str(info.value)
    assert message == (
        f"the PostgreSQL server at {pg_server.host}:{pg_server.port} refused the credentials of user 'nmre': "
        "check the store URL"
    )
    assert "not-the-password" not in message and "\n" not in message


def test_a_missing_database_is_one_line(pg_server: PgServer) -> None:
    with pytest.raises(StoreError, match=r"has no database 'clinic_x': create it or fix the store URL"):
        connect(pg_server.url("clinic_x"))


def test_an_unreachable_server_is_one_line_within_the_timeout() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=rf"^cannot reach the PostgreSQL store at 127\.0\.0\.1:{port}: "):
        connect(f"postgresql://nmre:secret@127.0.0.1:{port}/nmre", connect_timeout=2)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://nmre:s3cret@db.clinic:5432/nmre", "postgresql://nmre:***@db.clinic:5432/nmre"),
        ("host=db user=nmre password=s3cret dbname=nmre", "host=db user=nmre password=*** dbname=nmre"),
        ("postgresql://db.clinic/nmre", "postgresql://db.clinic/nmre"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert describe_url(url) == shown


def test_pg_urls_are_told_from_sqlite_paths() -> None:
    assert is_pg_url("postgresql://db/nmre") and is_pg_url("POSTGRES://db/nmre")
    assert not is_pg_url("/var/lib/nmre/store.sqlite") and not is_pg_url("sqlite:///x.db")


def test_an_unreadable_url_is_one_line() -> None:
    with pytest.raises(StoreError, match=r"expected postgresql://user:password@host:port/database"):
        connect("postgresql://nmre:pw@[db/nmre")

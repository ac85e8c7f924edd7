"""A real PostgreSQL server for the store tests, started from Debian's packages.

PostgreSQL refuses to run as root, so when the tests run as root the server's
data directory belongs to the ``postgres`` user (made by the Debian package) and
``initdb``/``pg_ctl`` run as that user. The server listens on 127.0.0.1 only, on
a free port, with password (SCRAM) authentication and TLS (a self-signed
certificate made here). Tests skip with the reason where the server cannot be
installed or started.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    data: Path

    def url(self, database: str = "postgres", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    roots = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name), reverse=True
    )
    return roots[0] if roots else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=120, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session (a fresh database per test comes from ``pg_database``)."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL is not installed (scripts/setup-system.sh installs Debian's postgresql)")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="nmre-pg-"))
    data = root / "data"
    password = secrets.token_hex(12)
    pwfile = root / "pw"
    pwfile.write_text(password)
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(pwfile, user)
    try:
        made = _run_as(
            user,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "nmre",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        if made.returncode != 0:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-400:]}")
        # TLS with a self-signed certificate, so sslmode=prefer (nmre's default) is seen to use it
        cert, key = data / "server.crt", data / "server.key"
        tls = subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-x509",
                "-days",
                "2",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-out",
                str(cert),
                "-keyout",
                str(key),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\nfsync = off\nsynchronous_commit = off\nmax_connections = 40\n")
            if tls.returncode == 0:
                conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        if user is not None and tls.returncode == 0:
            for f in (cert, key):
                shutil.chown(f, user)
        if key.exists():
            key.chmod(0o600)
        port = _free_port()
        started = _run_as(
            user,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                "start",
            ],
        )
        if started.returncode != 0:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            pytest.skip(f"PostgreSQL did not start: {started.stderr.strip()[-300:]} {log[-300:]}")
        try:
            yield PgServer("127.0.0.1", port, "nmre", password, data)
        finally:
            _run_as(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database on the test server (dropped afterwards)."""
    import psycopg

    name = f"nmre_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.url(name)
    finally:
        with psycopg.connect(pg_server.url(), autocommit=True) as conn, contextlib.suppress(Exception):
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


# the recorded squat session the sessions tests use (one recording per test session)
from tests.sessions.conftest import squat_recording, squat_sim  # noqa: E402,F401

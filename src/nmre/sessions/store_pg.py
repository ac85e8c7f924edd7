"""The session store on PostgreSQL: one store for every workstation of a clinic.

Selected by a URL in the configuration (``postgresql://user:password@host:5432/nmre``,
or the keyword form libpq takes); everything else is the store interface of the
SQLite default (:mod:`nmre.sessions.store`), with the same schema migrations.

Connections
-----------
* TLS when the server offers it: ``sslmode=prefer`` unless the URL says otherwise
  (``sslmode=require`` or ``verify-full`` to insist on it). A connection to
  another computer that ends up unencrypted is logged as a warning.
* A server that cannot be reached, refuses the credentials or lacks the
  database is one line (:class:`~nmre.errors.StoreError`) naming the server and
  the user, never the password, raised when the store is opened, before a
  session starts.
* ``connect_timeout`` (seconds, default 5) bounds the wait for an unreachable host.

The store
---------
:class:`PostgresStore` is :class:`~nmre.sessions.store.SqlStore` with
PostgreSQL's placeholders and keys; the migrations are the SQLite store's
(``{id}`` becomes ``SERIAL PRIMARY KEY`` and ``REAL`` double precision, so
values come back as SQLite gives them). The version is the one row of the
``schema_version`` table; migrations run in one transaction under an advisory
lock, so two workstations opening an older store at once migrate it once.
Saving a session is one transaction (the patient is made in it if new), so
concurrent writers for one patient keep every session and a failure saves none.

Checks on opening (and :meth:`PostgresStore.preflight`, which the studio repeats
before the patient starts): a schema newer than this nmre reads, a database that
holds other tables, a server or database in read-only mode (a hot standby,
``default_transaction_read_only``), a user without write rights, and a server
whose disk cannot take :data:`PROBE_BYTES` more (a temporary table of that size is
written and dropped: PostgreSQL has no call that tells a client its free space).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from nmre.errors import StoreError
from nmre.sessions.store import MIGRATIONS, SCHEMA_VERSION, SqlStore, _statements

__all__ = [
    "CONNECT_TIMEOUT",
    "PROBE_BYTES",
    "PostgresStore",
    "connect",
    "describe_url",
    "is_pg_url",
    "migration",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for the server before giving up (libpq's ``connect_timeout``).
CONNECT_TIMEOUT = 5

_LOCAL = {"localhost", "127.0.0.1", "::1", ""}
#: Bytes the server must be able to write when the store opens (the preflight's temporary table).
PROBE_BYTES = 4 << 20
#: The advisory lock key migrations hold (``'nmre'`` in ASCII).
_LOCK = 0x6E6D7265


def is_pg_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    return bool(re.match(r"postgres(ql)?://", url.strip(), re.IGNORECASE))


def _params(url: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return dict(conninfo_to_dict(url))
    except Exception as error:
        raise StoreError(
            f"store URL {describe_url(url)!r}: expected postgresql://user:password@host:port/database, got an "
            f"unreadable URL ({str(error).splitlines()[0]})"
        ) from None


def describe_url(url: str) -> str:
    """``url`` with its password hidden (for messages and logs)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", re.sub(r"(password=)\S+", r"\1***", url))


def _where(params: Mapping[str, Any]) -> str:
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"{host}:{port}"


def connect(url: str, *, connect_timeout: int = CONNECT_TIMEOUT, autocommit: bool = False) -> Any:
    """Open a psycopg connection to the store at ``url``; one-line :class:`StoreError` if it cannot.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database[?sslmode=...]``. Without
        ``sslmode`` the connection uses TLS when the server offers it.
    connect_timeout : int
        Seconds to wait for the server (at least 2; libpq's unit).
    autocommit : bool
        Passed to psycopg.

    Returns
    -------
    psycopg.Connection
    """
    import psycopg

    params = _params(url)
    params.setdefault("sslmode", "prefer")
    params.setdefault("connect_timeout", str(max(2, int(connect_timeout))))
    params.setdefault("application_name", "nmre")
    where = _where(params)
    user = params.get("user") or "(the login user)"
    database = params.get("dbname") or user
    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise StoreError(_explain(str(error), where, user, database)) from None
    except psycopg.Error as error:
        raise StoreError(f"PostgreSQL store at {where}: {_first_line(str(error))}") from None
    if (
        not conn.pgconn.ssl_in_use
        and params.get("host") not in _LOCAL
        and not str(params.get("host", "")).startswith("/")
    ):
        logger.warning(
            "the connection to the PostgreSQL store at %s is not encrypted (the server offers no TLS); "
            "add sslmode=require to the URL to refuse such connections",
            where,
        )
    return conn


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text.strip()


def _explain(message: str, where: str, user: str, database: str) -> str:
    """One line for a failed connection: unreachable, refused credentials, missing database, or libpq's words."""
    low = message.lower()
    if (
        "password authentication failed" in low
        or "no password supplied" in low
        or "authentication failed" in low
    ):
        return (
            f"the PostgreSQL server at {where} refused the credentials of user {user!r}: check the store URL"
        )
    if f'database "{database.lower()}" does not exist' in low or (
        "does not exist" in low and "database" in low
    ):
        return (
            f"the PostgreSQL server at {where} has no database {database!r}: create it or fix the store URL"
        )
    if "ssl" in low and ("not support" in low or "required" in low or "does not support ssl" in low):
        return f"the PostgreSQL server at {where} does not offer TLS, and the store URL requires it (sslmode)"
    reachable = (
        "connection refused",
        "timeout expired",
        "could not translate host name",
        "no route to host",
        "network is unreachable",
        "could not connect",
        "connection timed out",
        "name or service not known",
        "failed to resolve host",
    )
    if any(r in low for r in reachable):
        return f"cannot reach the PostgreSQL store at {where}: {_first_line(message)}"
    return f"PostgreSQL store at {where}: {_first_line(message)}"


def migration(step: int) -> str:
    """``MIGRATIONS[step]`` in PostgreSQL's dialect (keys, double-precision reals)."""
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", MIGRATIONS[step].format(id=PostgresStore.id_type))


def _sqlstate(error: BaseException) -> str:
    return str(getattr(error, "sqlstate", "") or "")


class PostgresStore(SqlStore):
    """The session store in a PostgreSQL database (see the module docs).

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database[?sslmode=...]``.
    writable : bool
        ``False`` for readers (reports, history): no write check on opening.
    connect_timeout : int
        Seconds to wait for the server.
    """

    placeholder = "%s"
    id_type = "SERIAL PRIMARY KEY"

    def __init__(self, url: str, *, writable: bool = True, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        super().__init__()
        params = _params(url)
        user = params.get("user") or ""
        self.where = (
            f"postgresql://{user + '@' if user else ''}{_where(params)}/{params.get('dbname') or user}"
        )
        self.writable = writable
        self._url = url
        self._timeout = connect_timeout
        self.conn = connect(url, connect_timeout=connect_timeout, autocommit=True)
        try:
            self._open()
            if writable:
                self.preflight()
        except BaseException:
            self.close()
            raise

    # -- errors ----------------------------------------------------------------------------------------
    def _explain(self, error: BaseException) -> str:
        state = _sqlstate(error)
        text = _first_line(str(error))
        if state == "53100":
            return f"the PostgreSQL server of the store {self.where} has no space left on its disk ({text})"
        if state == "25006":
            return f"store {self.where}: expected a writable database, got a read-only one ({text})"
        if state == "42501":
            return f"store {self.where}: the user may not write to the store ({text}); ask for write rights"
        if state.startswith("08") or self.conn is None or self.conn.closed:
            return f"lost the connection to the PostgreSQL store {self.where} ({text})"
        return f"store {self.where}: {text}"

    class _Tx:
        def __init__(self, store: PostgresStore, rollback: bool = False) -> None:
            self.store = store
            self.rollback = rollback
            self.tx: Any = None

        def __enter__(self) -> Any:
            import psycopg

            self.store._live()  # a server restarted during a long session: connect again before saving it
            try:
                self.tx = self.store.conn.transaction(force_rollback=self.rollback)
                self.tx.__enter__()
            except psycopg.Error as error:
                raise StoreError(self.store._explain(error)) from None
            return self.store.conn.cursor()

        def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
            import psycopg

            try:
                self.tx.__exit__(et, ev, tb)
            except psycopg.Error as error:
                raise StoreError(self.store._explain(error) + "; nothing was saved") from None
            if isinstance(ev, psycopg.Error):
                raise StoreError(self.store._explain(ev) + "; nothing was saved") from None
            return False

    def _transaction(self) -> Any:
        return PostgresStore._Tx(self)

    def _live(self) -> None:
        """Make sure the connection works; connect again (once) if the server dropped it."""
        import psycopg

        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                pass
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = connect(self._url, connect_timeout=self._timeout, autocommit=True)
        logger.warning("the PostgreSQL store %s dropped the connection; connected again", self.where)

    def _rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return super()._rows(sql, params)
        except psycopg.OperationalError as error:
            if self.conn is None or not (self.conn.closed or self.conn.broken):
                raise StoreError(self._explain(error)) from None
        except psycopg.Error as error:
            raise StoreError(self._explain(error)) from None
        self._live()  # the connection broke: a read is safe to repeat on a new one
        try:
            return super()._rows(sql, params)
        except psycopg.Error as error:
            raise StoreError(self._explain(error)) from None

    def _insert(self, cur: Any, sql: str, params: Any) -> int:
        cur.execute(self._sql(sql) + " RETURNING id", tuple(params))
        return int(cur.fetchone()[0])

    # -- schema ----------------------------------------------------------------------------------------
    def _version(self, cur: Any) -> int | None:
        """The stored schema version; 0 for an empty database; ``None`` for a database of other tables."""
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT max(version) FROM schema_version")
            got = cur.fetchone()[0]
            return int(got or 0)
        cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'"
        )
        return 0 if int(cur.fetchone()[0]) == 0 else None

    def _open(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            version = self._version(cur)
            if version is None:
                raise StoreError(
                    f"store {self.where}: expected an nmre store or an empty database, got a database that "
                    "holds other tables and no nmre schema version"
                )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.where} has schema version {version}, newer than this nmre reads "
                    f"({SCHEMA_VERSION}): upgrade nmre before using this store"
                )
            if version < SCHEMA_VERSION:
                if version == 0:
                    cur.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    cur.execute("INSERT INTO schema_version (version) VALUES (0)")
                for k in range(version, SCHEMA_VERSION):
                    for stmt in _statements(migration(k)):
                        cur.execute(stmt)
                cur.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    @property
    def schema_version(self) -> int:
        rows = self._rows("SELECT max(version) FROM schema_version")
        return int(rows[0][0] or 0)

    def preflight(self) -> None:
        """Raise :class:`StoreError` unless a session could be saved now: connected, writable, disk space."""
        import psycopg

        if self.conn is None or self.conn.closed:
            raise StoreError(f"lost the connection to the PostgreSQL store {self.where}")
        rows = PROBE_BYTES // 1000
        try:
            with self.conn.transaction(force_rollback=True), self.conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                if cur.fetchone()[0]:
                    raise StoreError(
                        f"store {self.where}: expected a writable database, got a read-only standby server"
                    )
                cur.execute("UPDATE schema_version SET version = version")  # a write to the store itself
                cur.execute("CREATE TEMP TABLE nmre_preflight (x TEXT) ON COMMIT DROP")
                cur.execute(
                    "INSERT INTO nmre_preflight SELECT repeat('x', 1000) FROM generate_series(1, %s)", (rows,)
                )
        except psycopg.Error as error:
            raise StoreError(self._explain(error)) from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

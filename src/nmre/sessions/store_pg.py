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
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from nmre.errors import StoreError

__all__ = ["CONNECT_TIMEOUT", "connect", "describe_url", "is_pg_url"]

logger = logging.getLogger(__name__)

#: Seconds to wait for the server before giving up (libpq's ``connect_timeout``).
CONNECT_TIMEOUT = 5

_LOCAL = {"localhost", "127.0.0.1", "::1", ""}


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

"""Connections to the central PostgreSQL server: timeouts, keepalives, and one-line errors.

A cut network must never hang a door's sync thread: connecting gives up after
``CONNECT_TIMEOUT_S``, TCP keepalives and ``tcp_user_timeout`` end a connection whose peer vanished,
and every statement is limited to ``STATEMENT_TIMEOUT_MS``.
"""

from __future__ import annotations

import re
from typing import Any, Final

import psycopg

from desktop_app.core.central.errors import CentralError, CentralUnavailable

CONNECT_TIMEOUT_S: Final[int] = 5
STATEMENT_TIMEOUT_MS: Final[int] = 30_000
_OPTIONS: Final[dict[str, Any]] = {
    "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3,
    "keepalives_count": 3, "tcp_user_timeout": 15_000, "application_name": "facegate",
}


def redact_dsn(dsn: str) -> str:
    """The DSN without its password (for messages and cache file names)."""
    out = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", out)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to the server; CentralUnavailable (one line) when it cannot be reached,
    CentralError for a DSN that is not valid."""
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, **_OPTIONS)
    except psycopg.ProgrammingError as exc:
        raise CentralError(f"The central server address {redact_dsn(dsn)!r} is not valid: {one_line(exc)}") from None
    except psycopg.Error as exc:
        raise CentralUnavailable(f"The central server {redact_dsn(dsn)} cannot be reached: {one_line(exc)}") from None
    try:
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        if not autocommit:
            conn.commit()
    except psycopg.Error as exc:
        conn.close()
        raise CentralUnavailable(f"The central server {redact_dsn(dsn)} failed: {one_line(exc)}") from None
    return conn


def mapped_error(exc: BaseException, dsn: str) -> CentralError:
    """The CentralError to raise for a psycopg error met while talking to the server."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return CentralUnavailable(f"The central server {redact_dsn(dsn)} failed: {one_line(exc)}")
    return CentralError(f"The central server {redact_dsn(dsn)} refused a request: {one_line(exc)}")

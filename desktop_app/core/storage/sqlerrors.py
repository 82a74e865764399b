"""Translation of ``sqlite3`` exceptions into ``StorageError`` messages a person can act on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from desktop_app.core.errors import StorageError

# Primary SQLite result codes (https://www.sqlite.org/rescode.html).
SQLITE_PERM: Final = 3
SQLITE_BUSY: Final = 5
SQLITE_LOCKED: Final = 6
SQLITE_NOMEM: Final = 7
SQLITE_READONLY: Final = 8
SQLITE_IOERR: Final = 10
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_CANTOPEN: Final = 14
SQLITE_CONSTRAINT: Final = 19
SQLITE_NOTADB: Final = 26


def primary_code(exc: sqlite3.Error) -> int | None:
    """Primary SQLite result code of ``exc`` (extended codes folded), None when unknown."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _code_from_text(text: str) -> int | None:
    """Fallback when the driver gave no code: recognise SQLite's standard messages."""
    table = (
        ("database is locked", SQLITE_BUSY),
        ("database table is locked", SQLITE_LOCKED),
        ("database or disk is full", SQLITE_FULL),
        ("file is not a database", SQLITE_NOTADB),
        ("malformed", SQLITE_CORRUPT),
        ("readonly database", SQLITE_READONLY),
        ("unable to open database", SQLITE_CANTOPEN),
        ("disk i/o error", SQLITE_IOERR),
    )
    low = text.lower()
    for needle, code in table:
        if needle in low:
            return code
    return None


def to_storage_error(exc: sqlite3.Error, path: Path, action: str, timeout_s: float) -> StorageError:
    """A StorageError explaining ``exc`` raised while ``action`` (e.g. "saving an event") on ``path``."""
    text = str(exc)
    code = primary_code(exc)
    if code is None:
        code = _code_from_text(text)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        msg = (
            f"The database {path} is locked by another program (waited {timeout_s:g} s while {action}). "
            "Close other FaceGate windows or tools that use this file, then try again."
        )
    elif code == SQLITE_FULL:
        msg = (
            f"Could not finish {action}: database or disk is full ({path}). "
            "Free some disk space and try again; data saved before is intact."
        )
    elif code in (SQLITE_NOTADB, SQLITE_CORRUPT):
        msg = (
            f"{path} is not a FaceGate database or it is corrupt ({text}). "
            "Restore it from a backup or choose another database file."
        )
    elif code in (SQLITE_READONLY, SQLITE_PERM):
        msg = (
            f"Could not finish {action}: the database {path} is read-only ({text}). "
            "Check the file and folder permissions, or move the database to a writable place."
        )
    elif code == SQLITE_CANTOPEN:
        msg = (
            f"Cannot open the database file {path} ({text}). Check that the folder exists and that you may write to it."
        )
    elif code == SQLITE_IOERR:
        msg = f"A disk error happened while {action} on {path} ({text}). Check the disk and try again."
    elif isinstance(exc, sqlite3.IntegrityError) or code == SQLITE_CONSTRAINT:
        msg = f"Could not finish {action}: it conflicts with data already stored ({text})."
    else:
        msg = f"Database error while {action} on {path}: {text}"
    err = StorageError(msg)
    err.__cause__ = exc
    return err


@contextmanager
def mapped(path: Path, action: str, timeout_s: float) -> Iterator[None]:
    """Run the block, re-raising any ``sqlite3.Error`` as a StorageError (see ``to_storage_error``)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise to_storage_error(exc, path, action, timeout_s) from exc

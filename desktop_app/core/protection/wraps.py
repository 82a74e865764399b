"""The protection tables (``schema.migration_7``) and the wrapping of data keys.

- ``protection``, one row: the database's random ``database_uid`` (it names the machine key), the
  ``state`` of its values (``ProtectionState``) and the ``current_key_id`` that new values use;
- ``key_wraps``: each data key, encrypted (wrapped) with AES-256-GCM by a key-encryption key:
  the machine key (``kind`` "machine", ``key_ref`` the machine key's id) or a key derived from a
  password (``kind`` "password", ``key_ref`` the account, ``kdf_json`` the argon2id parameters).

A wrap is ``nonce (12) | AES-GCM(data key) (32 + 16 tag)`` with associated data
``facegate-wrap|<database uid>|<data key id>|<kind>|<key ref>|<kdf_json>``: a wrap moved to
another database, key or kind, or with its parameters changed, does not open.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop_app.core.protection.envelope import KEY_BYTES, NONCE_BYTES

#: the tables of ``schema.migration_7``
TABLES: Final[tuple[str, ...]] = (
    """CREATE TABLE protection (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        database_uid TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('plain', 'sealing', 'scrubbing', 'sealed')),
        current_key_id INTEGER CHECK (current_key_id > 0),
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE key_wraps (
        data_key_id INTEGER NOT NULL CHECK (data_key_id > 0),
        kind TEXT NOT NULL CHECK (kind IN ('machine', 'password')),
        key_ref TEXT NOT NULL,
        kdf_json TEXT,
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (data_key_id, kind, key_ref)
    )""",
)


@unique
class ProtectionState(StrEnum):
    """How far the database's face data is encrypted."""

    PLAIN = "plain"
    """Not encrypted yet (a database from before encryption, or no machine key could be kept)."""
    SEALING = "sealing"
    """A data key exists; values written before it are being encrypted (resumable, in batches)."""
    SCRUBBING = "scrubbing"
    """Every value is encrypted; old plain copies may remain in free pages or the write-ahead log
    until the file is vacuumed and checkpointed (retried at each start)."""
    SEALED = "sealed"
    """Every value is encrypted and no plain copy is left in the database files."""


@unique
class WrapKind(StrEnum):
    """What wraps a data key."""

    MACHINE = "machine"
    PASSWORD = "password"


@dataclass(frozen=True)
class ProtectionRow:
    """The ``protection`` row."""

    database_uid: str
    state: ProtectionState
    current_key_id: int | None


@dataclass(frozen=True)
class Wrap:
    """One ``key_wraps`` row (``wrapped``: nonce and ciphertext of the data key)."""

    data_key_id: int
    kind: WrapKind
    key_ref: str
    kdf_json: str | None
    wrapped: bytes
    created_at: str

    def __repr__(self) -> str:
        return f"Wrap({self.data_key_id}, {self.kind.value}, {self.key_ref!r})"


def insert_protection_row(conn: sqlite3.Connection, now: str) -> None:
    """The first ``protection`` row: a new random database uid, state plain (migration_7)."""
    conn.execute("INSERT INTO protection (id, database_uid, state, current_key_id, updated_at)"
                 " VALUES (1, ?, ?, NULL, ?)", (uuid.uuid4().hex, ProtectionState.PLAIN.value, now))


def _aad(database_uid: str, data_key_id: int, kind: WrapKind, key_ref: str, kdf_json: str | None) -> bytes:
    return f"facegate-wrap|{database_uid}|{data_key_id}|{kind.value}|{key_ref}|{kdf_json or ''}".encode()


def wrap_key(kek: bytes, data_key: bytes, database_uid: str, data_key_id: int, kind: WrapKind, key_ref: str,
             kdf_json: str | None = None) -> bytes:
    """The wrapped form of ``data_key`` under the key-encryption key ``kek`` (32 bytes)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _aad(database_uid, data_key_id, kind, key_ref, kdf_json))


def unwrap_key(kek: bytes, wrap: Wrap, database_uid: str) -> bytes | None:
    """The data key of ``wrap`` under ``kek``; None when ``kek`` is not its key (or the wrap was altered)."""
    blob = wrap.wrapped
    if len(blob) != NONCE_BYTES + KEY_BYTES + 16:
        return None
    try:
        key = AESGCM(kek).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                  _aad(database_uid, wrap.data_key_id, wrap.kind, wrap.key_ref, wrap.kdf_json))
    except InvalidTag:
        return None
    return key if len(key) == KEY_BYTES else None


# -- the tables ------------------------------------------------------------------------------
def read_row(conn: sqlite3.Connection) -> ProtectionRow | None:
    """The ``protection`` row; None when the table is empty (damaged)."""
    row = conn.execute("SELECT database_uid, state, current_key_id FROM protection WHERE id = 1").fetchone()
    if row is None:
        return None
    try:
        state = ProtectionState(str(row[1]))
    except ValueError:
        return None
    return ProtectionRow(str(row[0]), state, None if row[2] is None else int(row[2]))


def set_state(conn: sqlite3.Connection, state: ProtectionState, now: str, current_key_id: int | None = None) -> None:
    """Set the state (and, when given, the current data key id)."""
    if current_key_id is None:
        conn.execute("UPDATE protection SET state = ?, updated_at = ? WHERE id = 1", (state.value, now))
    else:
        conn.execute("UPDATE protection SET state = ?, current_key_id = ?, updated_at = ? WHERE id = 1",
                     (state.value, int(current_key_id), now))


def read_wraps(conn: sqlite3.Connection) -> list[Wrap]:
    """Every wrap, by data key id, kind and reference."""
    rows = conn.execute("SELECT data_key_id, kind, key_ref, kdf_json, wrapped, created_at FROM key_wraps"
                        " ORDER BY data_key_id, kind, key_ref").fetchall()
    out: list[Wrap] = []
    for kid, kind, ref, kdf, wrapped, created in rows:
        try:
            out.append(Wrap(int(kid), WrapKind(str(kind)), str(ref), None if kdf is None else str(kdf),
                            bytes(wrapped), str(created)))
        except ValueError:
            continue
    return out


def put_wraps(conn: sqlite3.Connection, wraps: Sequence[Wrap]) -> None:
    """Insert or replace wraps."""
    conn.executemany(
        "INSERT OR REPLACE INTO key_wraps (data_key_id, kind, key_ref, kdf_json, wrapped, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(w.data_key_id, w.kind.value, w.key_ref, w.kdf_json, w.wrapped, w.created_at) for w in wraps])


def delete_wraps(conn: sqlite3.Connection, kind: WrapKind | None = None, key_ref: str | None = None,
                 data_key_id: int | None = None) -> int:
    """Delete the wraps matching every filter given; returns how many."""
    where, args = [], []
    for column, value in (("kind", None if kind is None else kind.value), ("key_ref", key_ref),
                          ("data_key_id", data_key_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "DELETE FROM key_wraps" + (" WHERE " + " AND ".join(where) if where else "")
    return int(conn.execute(sql, args).rowcount)

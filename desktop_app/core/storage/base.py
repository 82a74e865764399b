"""Shared machinery of the store's parts: connection attributes, the lock, transactions, and
look-ups that several parts need. ``Store`` (store.py) combines the parts and opens the file."""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlite_utils import Database

from desktop_app.core.errors import StorageError
from desktop_app.core.storage import audit_chain, codecs, times
from desktop_app.core.storage.records import Person
from desktop_app.core.storage.rows import PERSON_SELECT, person_from_row
from desktop_app.core.storage.sqlerrors import mapped

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreBase")


def api(action: str) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Decorate a public store method: hold the store's lock and turn sqlite3 errors into
    StorageError messages that say what was being done (``action``, e.g. "saving an event")."""

    def decorate(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(fn)
        def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self._lock, mapped(self.path, action, self.timeout_s):
                self._actions.append(action)
                try:
                    return fn(self, *args, **kwargs)
                finally:
                    self._actions.pop()

        return wrapper

    return decorate


class StoreBase:
    """State and helpers common to every part of the store."""

    path: Path
    db: Database
    timeout_s: float
    local_tz: tzinfo | None
    _lock: threading.RLock
    _savepoints: itertools.count[int]
    _actions: list[str]  # what the public calls in progress are doing, for error messages

    def _doing(self, default: str) -> str:
        return self._actions[-1] if self._actions else default

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic group of writes: everything inside commits together or not at all.

        Nested use creates a savepoint. The outermost level starts with ``BEGIN IMMEDIATE`` so
        that waiting for another program's lock happens up front (within ``timeout_s``). The
        store's lock is held until the block ends, so other threads wait for it.
        """
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                name = f"facegate_{next(self._savepoints)}"
                with mapped(self.path, self._doing("starting a change"), self.timeout_s):
                    conn.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    if conn.in_transaction:
                        with mapped(self.path, self._doing("undoing a change"), self.timeout_s):
                            conn.execute(f"ROLLBACK TO {name}")
                            conn.execute(f"RELEASE {name}")
                    raise
                with mapped(self.path, self._doing("saving changes"), self.timeout_s):
                    conn.execute(f"RELEASE {name}")
                return
            with mapped(self.path, self._doing("starting a change"), self.timeout_s):
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._rollback_quietly()
                raise
            try:
                with mapped(self.path, self._doing("saving changes"), self.timeout_s):
                    conn.execute("COMMIT")
            except BaseException:
                self._rollback_quietly()
                raise
            self._after_commit()

    def _rollback_quietly(self) -> None:
        """Roll back an open transaction; a failure here would hide the error that caused it."""
        conn = self.db.conn
        self._audit_written = False
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it; True when fully done."""
        if self.db.conn.in_transaction:
            return False
        busy, _log, _done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(busy) == 0

    def _person_or_none(self, person_id: int) -> Person | None:
        rows = list(self.db.query(f"{PERSON_SELECT} WHERE p.id = ?", [person_id]))
        return person_from_row(rows[0]) if rows else None

    def _require_person(self, person_id: int) -> Person:
        person = self._person_or_none(person_id)
        if person is None:
            raise StorageError(f"There is no person with id {person_id} (was it erased?)")
        return person

    def _insert_audit(self, actor: str, action: str, details: Mapping[str, object] | None) -> None:
        """Append one hash-chained audit row (``audit_chain``); the head file follows after the commit."""
        text = codecs.to_json(dict(details or {}), "audit details")
        with self.transaction():  # the newest row must not change between reading it and chaining to it
            audit_chain.append(self.db.conn, times.now_db(), actor, action, text)
            self._audit_written = True

    #: an audit row was written in the transaction in progress (the head file is synced after its commit)
    _audit_written: bool = False

    def _after_commit(self) -> None:
        """Called after the outermost transaction committed (the audit part writes its head file)."""

    def _expected_dim(self, model_sha256: str) -> int | None:
        """Embedding length of a model: registered dim, else that of any stored vector, else None."""
        for sql in (
            "SELECT embedding_dim FROM models WHERE sha256 = ?",
            "SELECT dim FROM templates WHERE model_sha256 = ? LIMIT 1",
            "SELECT dim FROM strangers WHERE model_sha256 = ? LIMIT 1",
        ):
            row = self.db.execute(sql, (model_sha256,)).fetchone()
            if row is not None:
                return int(row[0])
        return None

    def _check_dim(self, model_sha256: str, dim: int, what: str) -> None:
        """ValueError when ``dim`` differs from the model's embedding length."""
        expected = self._expected_dim(model_sha256)
        if expected is not None and expected != dim:
            raise ValueError(
                f"{what} has {dim} values but model {model_sha256[:12]} produces {expected}-value embeddings"
            )

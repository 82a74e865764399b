"""The event store: one SQLite file holding people, face samples, templates, events, attendance,
audit log, model registry, calibrations, stranger embeddings and settings.

Connection settings: WAL journal, foreign keys on, ``secure_delete`` on (erased data is
overwritten, not left in free pages), busy timeout ``timeout_s`` (5 s by default). Every sqlite3
error is re-raised as ``StorageError`` with a message a person can act on (locked by another
program, database or disk full, not a database / corrupt, read-only); malformed arguments raise
``ValueError``. Each write method is atomic; ``transaction()`` groups several into one.

A ``Store`` may be shared between threads: calls are serialised by a re-entrant lock, and an
open ``transaction()`` holds that lock until it ends.

Times (see ``times``): instants are stored in UTC, naive datetimes given to the store are local
time, and attendance days are local calendar days (``local_tz``, the machine's zone by default).

The methods live in mixins, one module per concept: people.py, samples.py, events.py,
exports.py, audit.py, registry.py, calibration.py, settings.py, access.py (schedules, groups,
permissions, validity), doors.py (doors, cameras, remote commands); base.py holds transactions.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sqlite3
import threading
import time
from datetime import tzinfo
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from desktop_app.core.errors import StorageError
from desktop_app.core.file_modes import create_private_file, make_private, make_private_dirs, mode_warning
from desktop_app.core.storage.access import AccessMixin
from desktop_app.core.storage.audit import AuditMixin
from desktop_app.core.storage.calibrations import CalibrationMixin
from desktop_app.core.storage.corrections import CorrectionsMixin
from desktop_app.core.storage.doors import DoorsMixin
from desktop_app.core.storage.exports import ExportsMixin
from desktop_app.core.storage.keys import KeysMixin
from desktop_app.core.storage.models import RegistryMixin
from desktop_app.core.storage.privacy import PrivacyStoreMixin
from desktop_app.core.storage.reembedding import ReembeddingMixin
from desktop_app.core.storage.replica import ReplicaMixin
from desktop_app.core.storage.reserve import ensure_reserve
from desktop_app.core.storage.revision import RevisionMixin
from desktop_app.core.storage.samples import SamplesMixin
from desktop_app.core.storage.schema import AUDIT_CHAIN_VERSION, SCHEMA_VERSION, check_file, migrate, quick_check
from desktop_app.core.storage.sealed_settings import SealedSettingsMixin
from desktop_app.core.storage.sqlerrors import mapped, to_storage_error
from desktop_app.core.storage.unknown_clusters import UnknownClustersMixin
from desktop_app.core.storage.validate import fold

log = logging.getLogger(__name__)


def _journal_mode_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Switch to WAL and return the journal mode now in force. SQLite answers "locked" at once,
    without its busy handler, when several processes make a new file WAL at the same moment, so
    this retries for up to ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _not_writable(path: Path) -> bool:
    """True when ``path`` is an existing, non-empty database that this process may not write, or
    whose folder it may not write (SQLite needs the folder for its journal files)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


class Store(ExportsMixin, SamplesMixin, AuditMixin, RegistryMixin, CalibrationMixin, SealedSettingsMixin,
            RevisionMixin, AccessMixin, DoorsMixin, KeysMixin, PrivacyStoreMixin, UnknownClustersMixin,
            CorrectionsMixin, ReplicaMixin, ReembeddingMixin):
    """FaceGate's SQLite event store (see the module docstring for conventions).

    path: the database file (created with its parent folders when missing, migrated to the
    current schema when older); timeout_s: how long to wait, in seconds, for another program's
    lock before raising StorageError; local_tz: time zone of attendance days and of naive
    datetimes (None: the machine's zone). StorageError when the file cannot be opened, is not a
    FaceGate database, or was written by a newer FaceGate.

    Opening also checks the file, and says what it found in ``open_warnings`` (each one logged as
    a warning too): an existing file of 0 bytes is started as a new database (it holds nothing to
    lose, and refusing would leave the door shut until someone deletes the file, but the user is
    told, since the data they expected is not there); ``PRAGMA quick_check`` runs for at most
    ``quick_check_s`` seconds (about 1 GB/s; larger files are left to ``facegate doctor``), and
    damage is reported rather than refused, so that the door keeps working with what can be
    read while the file is backed up and repaired. Files and folders of the data that other users
    can read are reported too, with the chmod command that fixes them (``file_modes``): FaceGate
    creates them 0600 / 0700 but never changes existing ones by itself.

    Face data (crops, templates, stranger vectors, snapshots) is encrypted with the database's
    data key, unwrapped at opening with this computer's machine key (``keys.KeysMixin``); when it
    cannot be, the store opens *locked* (``locked_reason``, in ``open_warnings`` too) and only
    reading or writing face data raises ``DataLockedError``.

    read_only: open for reading only (None: when the existing file or its folder cannot be
    written, e.g. a read-only mount). Then nothing is created, migrated or written; every write
    raises StorageError, and ``open_warnings`` starts with "read-only: changes are not saved".
    """

    def __init__(self, path: Path, *, timeout_s: float = 5.0, local_tz: tzinfo | None = None,
                 quick_check_s: float = 1.0, read_only: bool | None = None) -> None:
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        if not self.timeout_s >= 0:
            raise ValueError(f"timeout_s must be >= 0 seconds, got {timeout_s}")
        self.local_tz = local_tz
        self._lock = threading.RLock()
        self._savepoints = itertools.count(1)
        self._actions = []
        self._closed = False
        self._quarantine = {}
        self.open_warnings: tuple[str, ...] = ()
        self.read_only = read_only if read_only is not None else _not_writable(self.path)
        if self.read_only:
            self._open_read_only(quick_check_s)
            return
        try:
            make_private_dirs(self.path.parent)  # 0700: it holds biometric data (file_modes)
        except OSError as exc:
            raise StorageError(
                f"Cannot create the folder {self.path.parent} for the database: {exc.strerror or exc}"
            ) from exc
        if self.path.is_dir():
            raise StorageError(f"{self.path} is a folder; choose a file name for the database")
        action = "opening the database"
        was_empty = self.path.is_file() and self.path.stat().st_size == 0
        with contextlib.suppress(OSError):  # else SQLite creates it (and says why it cannot)
            # 0600 before SQLite opens it: its -wal and -shm files take the database file's mode
            if not create_private_file(self.path) and was_empty:
                make_private(self.path)  # an empty file becomes a new database: FaceGate's own now
        with mapped(self.path, action, self.timeout_s):
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
        try:
            with mapped(self.path, action, self.timeout_s):
                conn.execute(f"PRAGMA busy_timeout = {round(self.timeout_s * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA secure_delete = ON")
                self.db = Database(conn, execute_plugins=False)
                self.db.register_function(fold, deterministic=True, name="facegate_fold")
                check_file(self.db)  # before WAL mode rewrites the header of a foreign file
                self._check_on_open(was_empty, quick_check_s)
                mode = _journal_mode_wal(conn, self.timeout_s)
                if mode != "wal":
                    raise StorageError(
                        f"The database {self.path} cannot use write-ahead logging (journal mode stays "
                        f"{mode!r}); keep it on a local disk rather than a network share."
                    )
                if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                    raise StorageError("This SQLite library cannot enforce foreign keys; update Python")
                start = migrate(self.db)
        except BaseException:
            conn.close()
            raise
        if start < AUDIT_CHAIN_VERSION:  # the chain was just created: its head file too (audit_chain)
            self._sync_audit_head_file()
        try:
            with mapped(self.path, "unlocking the face data", self.timeout_s):
                self._open_protection(writable=True)  # data key; encrypts what was written before (keys.py)
        except BaseException:
            conn.close()
            raise
        self._finish_purges_at_open()  # an erasure that a reader or a crash left on disk (purge.py)
        ensure_reserve(self.path)  # disk space kept for erasing on a full disk (reserve.py)
        self._warn_file_modes()

    def _open_read_only(self, quick_check_s: float) -> None:
        """Open an existing database for reading only (``read_only``): nothing is created,
        switched or migrated, and every write raises StorageError (read-only). A WAL file whose
        folder cannot hold the ``-shm`` index is opened as immutable (nobody can write it either)."""
        action = "opening the database read-only"
        if self.path.is_dir():
            raise StorageError(f"{self.path} is a folder; choose a file name for the database")
        if not self.path.is_file():
            raise StorageError(f"The database {self.path} does not exist (and is opened read-only).")
        if self.path.stat().st_size == 0:
            raise StorageError(f"The database file {self.path} is empty (0 bytes) and read-only: there is "
                               "nothing to read. Restore it from a backup.")
        base = self.path.resolve().as_uri()
        last: sqlite3.Error | None = None
        for query in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"{base}?{query}", uri=True, timeout=self.timeout_s, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {round(self.timeout_s * 1000)}")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.Error as exc:
                conn.close()
                last = exc
        else:
            assert last is not None
            raise to_storage_error(last, self.path, action, self.timeout_s) from last
        try:
            with mapped(self.path, action, self.timeout_s):
                conn.execute("PRAGMA foreign_keys = ON")
                self.db = Database(conn, execute_plugins=False)
                self.db.register_function(fold, deterministic=True, name="facegate_fold")
                version = check_file(self.db)
                if version != SCHEMA_VERSION:
                    raise StorageError(
                        f"The database {self.path} was written by an older FaceGate (schema {version}, now "
                        f"{SCHEMA_VERSION}) and must be upgraded, which a read-only file does not allow: "
                        "open it once where it can be written."
                    )
                self._check_on_open(False, quick_check_s)
                self._open_protection(writable=False)  # the data key, when this computer holds it (keys.py)
        except BaseException:
            conn.close()
            raise
        text = f"read-only: changes are not saved ({self.path} or its folder cannot be written)."
        log.info("%s", text)
        self.open_warnings = (text, *self.open_warnings)
        self._warn_file_modes()

    def _warn_file_modes(self) -> None:
        """Add to ``open_warnings`` (and log) that other users can read FaceGate's data, with the
        chmod command that fixes it (``file_modes``); never raises."""
        try:
            text = mode_warning(self.path)
        except OSError:
            return
        if text is not None:
            log.warning("%s", text)
            self.open_warnings = (*self.open_warnings, text)

    def _check_on_open(self, was_empty: bool, budget_s: float) -> None:
        """Fill ``open_warnings``: an empty file started afresh, damage found by a bounded quick_check."""
        warnings: list[str] = []
        if was_empty and int(self.db.conn.execute("PRAGMA page_count").fetchone()[0]) == 0:
            warnings.append(
                f"The database file {self.path} was empty (0 bytes): starting a new database. "
                "If it should hold your people and events, restore it from a backup."
            )
        problems = quick_check(self.db, budget_s)
        if problems is None:
            log.info("The quick check of %s did not finish within %.2g s; run `facegate doctor` for a full "
                     "check.", self.path, budget_s)
        elif problems:
            first = problems[0].replace("\n", "; ")
            warnings.append(
                f"The database {self.path} is damaged: the quick check found {len(problems)} problem(s), "
                f"first: {first}. FaceGate goes on with what it can read; back the file up and run "
                f"`facegate doctor --db {self.path}`, or restore it from a backup."
            )
        for text in warnings:
            log.warning("%s", text)
        self.open_warnings = tuple(warnings)

    def close(self) -> None:
        """Close the database (idempotent); an unfinished transaction is rolled back."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with mapped(self.path, "closing the database", self.timeout_s):
                self._rollback_quietly()
                self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

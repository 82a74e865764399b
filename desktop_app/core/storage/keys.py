"""The store's key management: at opening, the data key is unwrapped with the machine key (or made,
the first time, and every value written before it encrypted); and the administrative key
operations (password wrap, unlock with the password, machine key rotation, full re-key).

Opening never fails for a key problem: a database whose key cannot be unwrapped here opens
*locked* (``locked_reason``, also in ``open_warnings``): face data cannot be read or written
(``DataLockedError``, whose message says how to unlock), everything else works, so that the doctor,
``facegate keys status`` and ``facegate unlock`` can run. A machine key that cannot be kept
(the key folder cannot be written) leaves a database that was never encrypted plain, with a
warning (``protection_warning``), rather than keep the door shut; the next opening tries again.

Encrypting what was written before (``_finish_sealing``), at every writable opening until done:
the values not yet encrypted are encrypted in batches of ``SEAL_BATCH`` rows, one transaction
each (a crash loses at most one batch's work, which the next opening redoes: the values say by
their first bytes whether they are encrypted), then the state moves to ``scrubbing``: the
write-ahead log is checkpointed, the file vacuumed (``secure_delete`` is on as well: freed cells
are zeroed) and checkpointed again with TRUNCATE, so no page of the plain values is left in the
database file or its WAL; only when the last checkpoint completed is the state ``sealed``
(another program reading the database can hold it back: retried at the next opening). Saved
gallery files that are not encrypted are overwritten with zeros and deleted (FaceGate rebuilds
them, encrypted, from the database).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from desktop_app.core.accounts.policy import password_problem
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.protection import envelope
from desktop_app.core.protection.data_keys import DataKeys, new_data_key
from desktop_app.core.protection.errors import DataDamagedError, KeyStoreError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.protection.key_manager import (
    Unlocked,
    add_machine_key,
    current_machine_key,
    machine_wraps,
    new_keys,
    open_with_password,
    password_wraps,
    unlock_with_machine,
)
from desktop_app.core.protection.machine_keys import MachineKeyStore, check_uid, machine_key_id
from desktop_app.core.protection.password_kdf import check_password
from desktop_app.core.protection.status import RECOVERY_WRAP, ProtectionStatus
from desktop_app.core.protection.wraps import (
    ProtectionRow,
    ProtectionState,
    Wrap,
    WrapKind,
    delete_wraps,
    put_wraps,
    read_row,
    read_wraps,
    set_state,
)
from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.sealing import SealingBase
from desktop_app.core.storage.validate import name_key, required_text

log = logging.getLogger(__name__)

#: rows encrypted per transaction when encrypting existing values
SEAL_BATCH: Final[int] = 256
_MAGIC: Final[bytes] = envelope.VALUE_MAGIC + bytes([envelope.VERSION])


@dataclass(frozen=True)
class _Column:
    """A column of encrypted values: its field, the rowid-like cursor column, the row key's SQL,
    and which rows hold one (SQL condition; "" for all)."""

    field: SealedField
    cursor: str
    key_sql: str
    rows: str = ""

    @property
    def only(self) -> str:
        """`` AND <rows>`` (or nothing) for a WHERE clause."""
        return f" AND ({self.rows})" if self.rows else ""


COLUMNS: Final[tuple[_Column, ...]] = (
    _Column(SealedField.SAMPLE_CROP, "id", "id"),
    _Column(SealedField.TEMPLATE_VECTOR, "rowid", "sample_id || ':' || model_sha256"),
    _Column(SealedField.STRANGER_VECTOR, "id", "id"),
    _Column(SealedField.EVENT_SNAPSHOT, "id", "id"),
    _Column(SealedField.EVENT_FACE_VECTOR, "event_id", "event_id"),
    _Column(SealedField.EVENT_FACE_CROP, "event_id", "event_id"),
    _Column(SealedField.DOOR_OUTPUT, "id", "id"),
    _Column(SealedField.DOOR_SECRET, "id", "id"),
    _Column(SealedField.CAMERA_SOURCE, "rowid", "door_id || ':' || position"),
    _Column(SealedField.SETTINGS_SECRETS, "rowid", "key", "key LIKE '%" + "!sealed'"),
)


@dataclass(frozen=True)
class RekeyReport:
    """What ``rekey_data`` did: the old and new data key ids, values re-encrypted, and the
    accounts whose password wrap was dropped (their password must be set again with ``protect``)."""

    old_key_id: int
    new_key_id: int
    values: int
    dropped_password_accounts: tuple[str, ...]


class GallerySealer:
    """Encryption of saved gallery files with the database's data keys (``gallery.FileSealer``)."""

    def __init__(self, keys: DataKeys) -> None:
        self._keys = keys

    def write_sealed(self, out: BinaryIO, name: str, plain: bytes | memoryview) -> None:
        self._keys.write_file(out, SealedField.GALLERY_FILE, name, plain)

    def read_sealed(self, data: bytes, name: str) -> bytes | bytearray:
        return self._keys.read_file(data, SealedField.GALLERY_FILE, name, f"the saved gallery {name}")

    def is_sealed(self, head: bytes) -> bool:
        return envelope.is_sealed_file(head)


def _account_ref(account: str) -> str:
    """How an account names its password wrap: its name NFC-normalised and case-folded, as the
    accounts compare names."""
    return name_key(required_text(account, "account").strip())


def _check_new_password(password: str, account: str) -> None:
    """InputError unless ``password`` may wrap the data key for ``account``: the accounts' password
    rules (``accounts.policy.password_problem``: no 1234, no "password", not the account's name), the
    same for an account's password and for ``facegate protect`` on a database without accounts; a
    recovery code (random, made by FaceGate) is only checked for length."""
    check_password(password)
    if account != RECOVERY_WRAP and (problem := password_problem(password, account)) is not None:
        raise InputError(problem)


def _key_bytes(key_id: int) -> bytes:
    return struct.pack(">I", key_id)


class KeysMixin(SealingBase):
    """Key management methods of ``Store``."""

    #: why the face data is not encrypted although it should be (the machine key cannot be kept)
    protection_warning: str | None = None
    open_warnings: tuple[str, ...]
    read_only: bool

    # ----------------------------------------------------------------------------- opening
    def _open_protection(self, writable: bool) -> None:
        """Unwrap (or make) the data key, then finish encrypting; called once by ``Store.__init__``."""
        row = read_row(self.db.conn)
        if row is None:
            self._lock_with(f"The protection record of {self.path} is missing or damaged, so its face data cannot be "
                            "decrypted; restore the database from a backup.")
            return
        self.database_uid = row.database_uid
        self._protection_state = row.state
        try:
            check_uid(row.database_uid)
        except KeyStoreError as exc:
            self._lock_with(str(exc))
            return
        if row.current_key_id is None:
            if writable:
                self._start_encryption()
                if self._keys is not None:
                    self._seal_clear_values()  # values kept apart from their columns (the settings' secrets)
            return
        self._take(self._machine_unlock(row))
        if writable and self._keys is not None:
            self._finish_sealing()
            self._seal_clear_values()

    def _warn(self, text: str) -> None:
        log.warning("%s", text)
        self.open_warnings = (*self.open_warnings, text)

    def _lock_with(self, reason: str) -> None:
        self._keys = None
        self.locked_reason = reason
        log.info("%s", reason)  # said by whoever needs the face data (DataLockedError), not twice here
        self.open_warnings = (*self.open_warnings, reason)

    def _machine_unlock(self, row: ProtectionRow) -> Unlocked:
        try:
            return unlock_with_machine(self.db.conn, self.path, row)
        except KeyStoreError as exc:
            return Unlocked(None, str(exc))

    def _take(self, result: Unlocked) -> None:
        if result.keys is not None:
            self._keys = result.keys
            self.locked_reason = None
        else:
            self._lock_with(result.reason or "The face data cannot be decrypted here.")

    def _follow_rekey(self) -> None:
        row = read_row(self.db.conn)
        if row is None or row.current_key_id is None:
            return
        result = self._machine_unlock(row)
        if result.keys is not None and self._keys is not None:  # keep the old keys too: values may still use them
            self._keys = DataKeys(row.database_uid, row.current_key_id, {**self._keys.keys, **result.keys.keys})
        else:
            self._take(result)

    def _start_encryption(self) -> None:
        """Make the data key and the machine key, the first time (the database was plain)."""
        now = times.now_db()
        try:
            with self.transaction():
                row = read_row(self.db.conn)  # another program may have done it meanwhile
                if row is not None and row.current_key_id is None:
                    keys = new_keys(row.database_uid)
                    machine = new_data_key()
                    add_machine_key(MachineKeyStore(row.database_uid, self.path), machine)  # durable before the wrap
                    put_wraps(self.db.conn, machine_wraps(keys, machine, now))
                    set_state(self.db.conn, ProtectionState.SEALING, now, keys.current_id)
        except KeyStoreError as exc:
            self.protection_warning = (f"The face data in {self.path} is NOT encrypted: {exc} FaceGate tries again at "
                                       "the next start.")
            self._warn(self.protection_warning)
            return
        row = read_row(self.db.conn)
        assert row is not None and row.current_key_id is not None
        self._protection_state = row.state
        self._take(self._machine_unlock(row))
        if self._keys is not None:
            self._finish_sealing()

    # ----------------------------------------------------------------------------- encrypting what was there
    def _finish_sealing(self) -> None:
        """Encrypt the values not encrypted yet (or re-encrypt those of a retired key), then scrub
        the old copies from the files; resumable (see the module docstring)."""
        keys = self._keys
        assert keys is not None
        try:
            rekeying = {w.data_key_id for w in read_wraps(self.db.conn)} - {keys.current_id}
            initial = self._protection_state == ProtectionState.SEALING
            if initial or rekeying:
                counts = self._seal_values(allow_plain=initial)
                with self.transaction():
                    for old in sorted(rekeying):
                        delete_wraps(self.db.conn, data_key_id=old)
                    set_state(self.db.conn, ProtectionState.SCRUBBING, times.now_db())
                    if initial and any(counts.values()):
                        self._insert_audit("facegate", "keys.encrypt_existing", dict(counts))
                self._protection_state = ProtectionState.SCRUBBING
                self._scrub_gallery_files()
            if self._protection_state == ProtectionState.SCRUBBING:
                self._scrub()
        except (StorageError, sqlite3.Error) as exc:  # the door keeps going; the next opening resumes
            log.warning("Encrypting the face data of %s is not finished (%s); FaceGate resumes at the next start.",
                        self.path, exc)

    def _seal_values(self, allow_plain: bool) -> dict[str, int]:
        """Encrypt, with the current key, every value that is plain (only when ``allow_plain``: the
        initial encryption; afterwards a plain value was written by another program and is left
        to fail) or encrypted by another key held here; returns how many per column."""
        keys = self._keys
        assert keys is not None
        counts: dict[str, int] = {}
        for col in COLUMNS:
            table, column = col.field.table, col.field.column
            sql = (f"SELECT {col.cursor}, {col.key_sql}, {column} FROM {table} WHERE {col.cursor} > ?{col.only}"
                   f" AND {column} IS NOT NULL AND (substr({column}, 1, 4) != ? OR substr({column}, 5, 4) != ?)"
                   f" ORDER BY {col.cursor} LIMIT {SEAL_BATCH}")
            last, done = -1, 0
            while True:
                with self.transaction():
                    rows = self.db.conn.execute(sql, (last, _MAGIC, _key_bytes(keys.current_id))).fetchall()
                    for cursor, row_key, blob in rows:
                        value = blob.encode() if isinstance(blob, str) else bytes(blob)  # doors, cameras: text in clear
                        if not envelope.is_sealed(value):
                            if not allow_plain:
                                continue
                            plain = value
                        else:
                            try:
                                plain = keys.open(col.field, row_key, value, "it")
                            except DataDamagedError:
                                continue  # damaged: reported where it is read, never re-encrypted as sound
                        self.db.conn.execute(f"UPDATE {table} SET {column} = ? WHERE {col.cursor} = ?",
                                             (keys.seal(col.field, row_key, plain), cursor))
                        done += 1
                if len(rows) < SEAL_BATCH:
                    break
                last = int(rows[-1][0])
            counts[col.field.value] = done
        return counts

    def _scrub(self) -> None:
        """Leave no old page in the files: checkpoint, VACUUM, checkpoint (TRUNCATE); ``sealed``
        only when the last checkpoint completed."""
        try:
            with self._lock:
                self._checkpoint()
                self.db.conn.execute("VACUUM")
                done = self._checkpoint()
        except sqlite3.Error as exc:
            log.info("Vacuuming %s after encrypting its face data is postponed (%s).", self.path, exc)
            return
        if not done:
            log.info("Another program reads %s: old pages leave its write-ahead log at the next start.", self.path)
            return
        with self.transaction():
            set_state(self.db.conn, ProtectionState.SEALED, times.now_db())
        self._protection_state = ProtectionState.SEALED
        with contextlib.suppress(sqlite3.Error):
            self._checkpoint()

    def _scrub_gallery_files(self) -> None:
        """Overwrite with zeros and delete the saved gallery files that are not encrypted."""
        folder = self.path.parent / "gallery"
        if not folder.is_dir():
            return
        for index in folder.glob("*.hnsw"):
            try:
                with index.open("rb") as fh:
                    head = fh.read(16)
                if envelope.is_sealed_file(head):
                    continue
                size = index.stat().st_size
                with index.open("r+b") as fh:
                    for start in range(0, size, 1 << 20):
                        fh.write(b"\0" * min(1 << 20, size - start))
                    fh.flush()
                    os.fsync(fh.fileno())
                index.unlink()
                index.with_name(index.name + ".meta.npz").unlink(missing_ok=True)
            except OSError as exc:
                log.warning("Could not delete the unencrypted gallery file %s (%s); delete it.", index, exc)

    # ----------------------------------------------------------------------------- reading
    def _keys_for_admin(self) -> DataKeys:
        self._require_unlocked()
        if self._keys is None:
            raise StorageError(self.protection_warning or f"The face data in {self.path} is not encrypted.")
        return self._keys

    def _writable(self) -> None:
        if self.read_only:
            raise StorageError(f"read-only: {self.path} cannot be written, so its keys cannot be changed here.")

    def gallery_sealer(self) -> GallerySealer | None:
        """The encryption of saved gallery files (None when the database is not encrypted);
        DataLockedError when locked."""
        with self._lock:
            self._require_unlocked()
            return None if self._keys is None else GallerySealer(self._keys)

    @api("reading encrypted face data")
    def decrypt_value(self, where: SealedField, row_key: str | int, stored: bytes, what: str) -> bytes:
        """The plain value of a stored one read directly (the doctor); DataDamagedError when it
        fails its authentication check, DataLockedError when locked."""
        return self._unseal(where, row_key, bytes(stored), what)

    @api("checking the data protection")
    def protection_status(self) -> ProtectionStatus:
        """How this database's face data is protected (``facegate keys status``)."""
        wraps = read_wraps(self.db.conn)
        row = read_row(self.db.conn)
        current = None if row is None else row.current_key_id
        try:
            store = MachineKeyStore(self.database_uid, self.path)
            location = store.location()
            kept = store.load()
        except KeyStoreError as exc:
            location, kept = None, {}
            message: str | None = str(exc)
        else:
            message = None
        mk = next((w.key_ref for w in wraps if w.kind == WrapKind.MACHINE and w.data_key_id == current
                   and w.key_ref in kept), None)
        return ProtectionStatus(
            state=self._protection_state, database_uid=self.database_uid, locked=self.locked_reason is not None,
            message=self.locked_reason or self.protection_warning or message,
            key_store=location.kind if location else "none", key_location=location.where if location else "nowhere",
            machine_key_id=mk,
            password_accounts=tuple(sorted({w.key_ref for w in wraps if w.kind == WrapKind.PASSWORD
                                            and w.data_key_id == current and w.key_ref != RECOVERY_WRAP})),
            recovery_code=any(w.kind == WrapKind.PASSWORD and w.data_key_id == current and w.key_ref == RECOVERY_WRAP
                              for w in wraps),
            data_key_ids=tuple(sorted({w.data_key_id for w in wraps})), current_key_id=current,
            plain_values=self._count_unsealed(current))

    def _count_unsealed(self, current: int | None) -> int:
        n = 0
        for col in COLUMNS:
            table, column = col.field.table, col.field.column
            sql = f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL{col.only}"
            if current is None:
                n += int(self.db.conn.execute(sql).fetchone()[0])
            else:
                n += int(self.db.conn.execute(
                    f"{sql} AND (substr({column}, 1, 4) != ? OR substr({column}, 5, 4) != ?)",
                    (_MAGIC, _key_bytes(current))).fetchone()[0])
        return n

    @api("reading the key wraps")
    def _wraps(self) -> list[Wrap]:
        return read_wraps(self.db.conn)

    # ----------------------------------------------------------------------------- administration
    def protect_with_password(self, password: str, actor: str, account: str = "admin") -> None:
        """Add (or replace) the wrap of the data key by ``password`` for ``account``, so that the
        password can unlock the face data where the machine key is missing. InputError for a
        password the accounts' rules refuse (too short, common, a sequence; a recovery code is
        random and only checked for length); DataLockedError when locked (unlock first). Audited."""
        _check_new_password(password, account)
        who = _account_ref(account)
        with self._lock:
            keys = self._keys_for_admin()
            self._writable()
        wraps = password_wraps(keys, password, who, times.now_db())  # argon2id: not under the lock
        self._replace_password_wraps(who, wraps, actor, "keys.password.set")

    @api("saving the password protection")
    def _replace_password_wraps(self, account: str, wraps: Sequence[Wrap], actor: str, action: str) -> None:
        with self.transaction():
            delete_wraps(self.db.conn, kind=WrapKind.PASSWORD, key_ref=account)
            put_wraps(self.db.conn, wraps)
            self._insert_audit(actor, action, {"account": account})

    def change_protection_password(self, old: str, new: str, actor: str, account: str = "admin") -> None:
        """Replace ``account``'s password wrap: ``old`` must open the current one; the data key is
        re-wrapped (no value is re-encrypted) and ``old`` no longer opens anything. InputError
        when ``old`` is wrong, ``new`` refused by the accounts' rules, or no password protects the
        data yet. Audited."""
        _check_new_password(new, account)
        who = _account_ref(account)
        with self._lock:
            self._writable()
        wraps = self._wraps()
        if not any(w.kind == WrapKind.PASSWORD and w.key_ref == who for w in wraps):
            raise InputError(f"No password of {who!r} protects the face data yet: set one with "
                             f"facegate protect --db {self.path} --password-stdin.")
        opened = open_with_password(wraps, old, self.database_uid, account=who)
        if opened is None:
            raise InputError("The current password is wrong: the protection password was not changed.")
        with self._lock:
            keys = self._keys or self._opened_keys(opened.keys)
        self._replace_password_wraps(who, password_wraps(keys, new, who, times.now_db()), actor,
                                     "keys.password.change")

    @api("removing a password protection")
    def forget_protection_password(self, actor: str, account: str = "admin") -> bool:
        """Remove ``account``'s password wrap (an account deleted); True when there was one. Audited."""
        self._writable()
        with self.transaction():
            n = delete_wraps(self.db.conn, kind=WrapKind.PASSWORD, key_ref=_account_ref(account))
            if n:
                self._insert_audit(actor, "keys.password.remove", {"account": _account_ref(account)})
        return bool(n)

    def _opened_keys(self, keys: dict[int, bytes]) -> DataKeys:
        row = read_row(self.db.conn)
        if row is None or row.current_key_id is None or row.current_key_id not in keys:
            raise InputError("This password does not open the current data key.")
        return DataKeys(row.database_uid, row.current_key_id, dict(keys))

    def unlock_with_password(self, password: str, actor: str) -> bool:
        """Unlock face data whose machine key is missing (the data folder moved to another computer)
        with a password that wraps its data key; a new machine key is made here and wraps it, so the
        door starts by itself again from now on (the previous machine's wrap is replaced). Returns
        False when the data was not locked (nothing changed; the password is still checked).
        InputError when the password opens nothing. Audited."""
        if not isinstance(password, str) or not password:
            raise InputError("Give the password that protects the face data.")
        wraps = self._wraps()
        if not any(w.kind == WrapKind.PASSWORD for w in wraps):
            raise InputError(f"No password protects the face data of {self.path}: it can only be opened with its "
                             "original machine key.")
        opened = open_with_password(wraps, password, self.database_uid)  # argon2id: not under the lock
        if opened is None:
            raise InputError("This password does not unlock the face data.")
        return self._apply_unlock(opened.keys, opened.account, actor)

    @api("unlocking the face data")
    def _apply_unlock(self, opened: dict[int, bytes], account: str, actor: str) -> bool:
        if self.locked_reason is None and self._keys is not None:
            return False
        keys = self._opened_keys(opened)
        if not self.read_only:
            store = MachineKeyStore(self.database_uid, self.path)
            machine = new_data_key()
            location = add_machine_key(store, machine)
            with self.transaction():
                delete_wraps(self.db.conn, kind=WrapKind.MACHINE)
                put_wraps(self.db.conn, machine_wraps(keys, machine, times.now_db()))
                self._insert_audit(actor, "keys.unlock", {"account": account, "machine_key": machine_key_id(machine),
                                                          "kept_in": location.kind})
        reason = self.locked_reason
        self._keys, self.locked_reason = keys, None
        self.open_warnings = tuple(w for w in self.open_warnings if w != reason)
        if not self.read_only:
            self._finish_sealing()
        return True

    @api("rotating the machine key")
    def rotate_machine_key(self, actor: str) -> str:
        """Make a new machine key and re-wrap the data key with it (no value is re-encrypted); the
        old machine key is deleted and opens nothing any more (nor an old copy of this database:
        copies need the password). Returns the new key's id. Audited."""
        keys = self._keys_for_admin()
        self._writable()
        store = MachineKeyStore(self.database_uid, self.path)
        machine = new_data_key()
        location = add_machine_key(store, machine)  # durable beside the old one before the database names it
        kid = machine_key_id(machine)
        with self.transaction():
            delete_wraps(self.db.conn, kind=WrapKind.MACHINE)
            put_wraps(self.db.conn, machine_wraps(keys, machine, times.now_db()))
            self._insert_audit(actor, "keys.machine.rotate", {"machine_key": kid, "kept_in": location.kind})
        store.save({kid: machine})  # the old key goes
        return kid

    def rekey_data(self, actor: str, password: str | None = None, account: str = "admin") -> RekeyReport:
        """Replace the data key itself and re-encrypt every value with the new one (resumable: an
        interrupted re-key finishes at the next opening), e.g. after the data key may have leaked
        from memory. The machine key wraps the new key; ``password`` (``account``'s, checked
        against its current wrap) wraps it too; other accounts' password wraps are dropped (listed
        in the report: set them again). Audited."""
        with self._lock:
            keys = self._keys_for_admin()
            self._writable()
        wraps = self._wraps()
        pw: list[Wrap] = []
        new_id = max([*keys.keys, *(w.data_key_id for w in wraps)]) + 1
        fresh = DataKeys(keys.database_uid, new_id, {new_id: new_data_key()})
        if password is not None:
            opened = open_with_password(wraps, password, self.database_uid, account=_account_ref(account))
            if opened is None or keys.current_id not in opened.keys:
                raise InputError(f"The password of {account!r} is wrong: the data key was not replaced.")
            pw = password_wraps(fresh, password, _account_ref(account), times.now_db())
        dropped = tuple(sorted({w.key_ref for w in wraps if w.kind == WrapKind.PASSWORD}
                               - ({_account_ref(account)} if password is not None else set())))
        return self._apply_rekey(keys, fresh, pw, dropped, actor)

    @api("replacing the data key")
    def _apply_rekey(self, keys: DataKeys, fresh: DataKeys, pw: list[Wrap], dropped: tuple[str, ...],
                     actor: str) -> RekeyReport:
        store = MachineKeyStore(self.database_uid, self.path)
        machine = current_machine_key(self.db.conn, store, keys)
        if machine is None:
            machine = new_data_key()
            add_machine_key(store, machine)
        with self.transaction():
            put_wraps(self.db.conn, [*machine_wraps(fresh, machine, times.now_db()), *pw])
            set_state(self.db.conn, self._protection_state, times.now_db(), fresh.current_id)
            self._insert_audit(actor, "keys.rekey", {"from": keys.current_id, "to": fresh.current_id,
                                                     "dropped_password_wraps": list(dropped)})
        self._keys = DataKeys(keys.database_uid, fresh.current_id, {**keys.keys, **fresh.keys})
        before = self._count_unsealed(fresh.current_id)
        self._finish_sealing()
        return RekeyReport(keys.current_id, fresh.current_id, before - self._count_unsealed(fresh.current_id), dropped)


def key_file_of(db_path: Path, database_uid: str) -> Path:
    """The machine key file of a database (for tests and docs): ``<key folder>/<uid>.key``."""
    return MachineKeyStore(database_uid, db_path).file


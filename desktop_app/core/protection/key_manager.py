"""Making, wrapping and unwrapping the data keys of one database (on its SQLite connection).

The callers (``storage.keys.KeysMixin``) hold the store's lock and open the transactions; the
slow part of a password (argon2id, about half a second) is done here before they write. Order of
durable writes: a new machine key is saved (fsync) to the keyring or key file *before* the
transaction that stores its wrap commits, so a crash in between leaves an unused key, never a
wrap without its key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.protection.data_keys import DataKeys, new_data_key
from desktop_app.core.protection.machine_keys import KeyLocation, MachineKeyStore, machine_key_id
from desktop_app.core.protection.password_kdf import KdfParams, check_password, derive_key
from desktop_app.core.protection.wraps import (
    ProtectionRow,
    Wrap,
    WrapKind,
    read_wraps,
    unwrap_key,
    wrap_key,
)


@dataclass(frozen=True)
class Unlocked:
    """What the machine key opened: ``keys`` (None when locked) and, when locked, why (``reason``)."""

    keys: DataKeys | None
    reason: str | None = None


def unlock_command(db_path: Path) -> str:
    return f"facegate unlock --db {db_path} --password-stdin"


def locked_message(db_path: Path, location: KeyLocation, password_accounts: Iterable[str], why: str) -> str:
    """Why the face data of ``db_path`` cannot be decrypted here, and the way out."""
    accounts = sorted(set(password_accounts))
    head = (f"The face data in {db_path} is encrypted and cannot be opened on this computer: {why}; looked in "
            f"{location.where}.")
    if accounts:
        return (f"{head} Unlock it once with the admin password: {unlock_command(db_path)} (then the door starts "
                "by itself again). Until then FaceGate cannot recognise anyone from this database.")
    return (f"{head} No password protects it, so only the original machine key can open it: put the key file (or "
            "keyring entry) back from the computer or backup it came from. Until then FaceGate cannot recognise "
            "anyone from this database.")


def unlock_with_machine(conn: sqlite3.Connection, db_path: Path, row: ProtectionRow) -> Unlocked:
    """The data keys that this computer's machine key unwraps (the door's unattended start)."""
    assert row.current_key_id is not None
    store = MachineKeyStore(row.database_uid, db_path)
    machine = store.load()
    wraps = read_wraps(conn)
    keys: dict[int, bytes] = {}
    for w in wraps:
        if w.kind == WrapKind.MACHINE and w.key_ref in machine and w.data_key_id not in keys:
            key = unwrap_key(machine[w.key_ref], w, row.database_uid)
            if key is not None:
                keys[w.data_key_id] = key
    if row.current_key_id in keys:
        return Unlocked(DataKeys(row.database_uid, row.current_key_id, keys))
    accounts = [w.key_ref for w in wraps if w.kind == WrapKind.PASSWORD and w.data_key_id == row.current_key_id]
    named = {w.key_ref for w in wraps if w.kind == WrapKind.MACHINE and w.data_key_id == row.current_key_id}
    if not machine:
        why = "its machine key is missing (the data folder was moved or copied here, or the key was deleted)"
    elif named & set(machine):
        why = "its machine key does not open the stored key (the key or the database was altered)"
    else:
        why = "the machine key found here belongs to another copy or an older key (the key was rotated)"
    return Unlocked(None, locked_message(db_path, store.location(), accounts, why))


def machine_wraps(keys: DataKeys, machine_key: bytes, now: str) -> list[Wrap]:
    """Wraps of every data key held under ``machine_key``."""
    ref = machine_key_id(machine_key)
    return [Wrap(kid, WrapKind.MACHINE, ref, None, wrap_key(machine_key, key, keys.database_uid, kid,
                                                            WrapKind.MACHINE, ref), now)
            for kid, key in sorted(keys.keys.items())]


def add_machine_key(store: MachineKeyStore, machine_key: bytes) -> KeyLocation:
    """Keep ``machine_key`` beside the keys already kept for this database (durably)."""
    kept = store.load()
    kept[machine_key_id(machine_key)] = machine_key
    return store.save(kept)


def current_machine_key(conn: sqlite3.Connection, store: MachineKeyStore, keys: DataKeys) -> bytes | None:
    """The machine key that wraps the current data key here, when it is kept."""
    kept = store.load()
    for w in read_wraps(conn):
        if w.kind == WrapKind.MACHINE and w.data_key_id == keys.current_id and w.key_ref in kept:
            return kept[w.key_ref]
    return None


def new_keys(database_uid: str, key_id: int = 1) -> DataKeys:
    """A fresh data key with id ``key_id``."""
    return DataKeys(database_uid, key_id, {key_id: new_data_key()})


def password_wraps(keys: DataKeys, password: str, account: str, now: str) -> list[Wrap]:
    """Wraps of every data key held under a key derived from ``password`` (new argon2id salt; slow)."""
    params = KdfParams.new()
    kek = derive_key(check_password(password), params)
    kdf = params.to_json()
    return [Wrap(kid, WrapKind.PASSWORD, account, kdf, wrap_key(kek, key, keys.database_uid, kid, WrapKind.PASSWORD,
                                                                 account, kdf), now)
            for kid, key in sorted(keys.keys.items())]


@dataclass(frozen=True)
class PasswordOpen:
    """What a password opened: the data keys by id, and the account whose wrap it matched."""

    keys: dict[int, bytes]
    account: str


def open_with_password(wraps: Iterable[Wrap], password: str, database_uid: str,
                       account: str | None = None) -> PasswordOpen | None:
    """The data keys that ``password`` unwraps (trying each account's wraps, or only ``account``'s);
    None when it opens none. One argon2id derivation per account tried."""
    groups: dict[tuple[str, str], list[Wrap]] = {}
    for w in wraps:
        if w.kind == WrapKind.PASSWORD and w.kdf_json is not None and (account is None or w.key_ref == account):
            groups.setdefault((w.key_ref, w.kdf_json), []).append(w)
    for (ref, kdf), members in sorted(groups.items()):
        try:
            params = KdfParams.from_json(kdf)
        except ValueError:
            continue
        kek = derive_key(password, params)
        opened = {w.data_key_id: key for w in members if (key := unwrap_key(kek, w, database_uid)) is not None}
        if opened:
            return PasswordOpen(opened, ref)
    return None

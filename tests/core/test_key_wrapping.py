"""Key management on real SQLite files and real key files: the data key is stored only wrapped (by
the machine key kept outside the data folder, and by a password through argon2id); the data file
alone decrypts nothing; a password brings the data back on a "new machine" (another key folder);
rotating the machine key, changing the password and forgetting it re-wrap the data key without
re-encrypting a single value, and the old wraps stop working; the full re-key re-encrypts every
value; a key folder inside the data folder is refused; an OS keyring is used when one exists."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.protection import envelope
from desktop_app.core.protection.errors import DataLockedError
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV, KEY_STORE_ENV, machine_key_id
from desktop_app.core.protection.wraps import ProtectionState
from desktop_app.core.storage.store import Store

MODEL = "c" * 64
PASSWORD = "correct horse battery staple"
VALUE_COLUMNS = (("samples", "id", "crop_png"), ("templates", "sample_id", "vector"), ("strangers", "id", "vector"),
                 ("events", "id", "snapshot_jpg"))


def unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def noise(seed: int, shape: tuple[int, ...] = (112, 112, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def raw_values(db: Path) -> dict[tuple[str, int], bytes]:
    """Every stored face data value as it is in the file, by (table, row key)."""
    conn = sqlite3.connect(db)
    try:
        return {(table, int(key)): bytes(blob) for table, key_col, col in VALUE_COLUMNS
                for key, blob in conn.execute(f"SELECT {key_col}, {col} FROM {table} WHERE {col} IS NOT NULL")}
    finally:
        conn.close()


def fill(db: Path) -> dict[str, object]:
    """Two people with face samples, stranger vectors and an event snapshot; what was written."""
    with Store(db) as store:
        ann, bob = store.add_person("Ann Example"), store.add_person("Bob Example")
        crops = {store.add_sample(p, noise(i), {}, "cam", unit(i), MODEL): noise(i) for i, p in ((1, ann), (2, ann),
                                                                                                 (3, bob))}
        store.add_strangers(np.stack([unit(10), unit(11)]), MODEL, "test")
        event = store.log_event(person_id=bob, score=0.9, decision="granted", camera="door", model_sha256=MODEL,
                                ts=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), snapshot=noise(9, (60, 80, 3)))
    return {"crops": crops, "event": event, "vectors": {sid: unit(i) for sid, i in zip(crops, (1, 2, 3), strict=True)}}


def assert_readable(db: Path, written: dict[str, object]) -> None:
    """The face data reads back exactly as written."""
    with Store(db) as store:
        assert not store.data_locked, store.locked_reason
        crops = written["crops"]
        assert isinstance(crops, dict)
        for sid, crop in crops.items():
            assert np.array_equal(store.sample_crop(sid), crop)
        ids, _, vecs = store.templates(MODEL)
        vectors = written["vectors"]
        assert isinstance(vectors, dict)
        assert np.allclose(vecs, np.stack([vectors[int(i)] for i in ids]), atol=1e-7)
        assert store.strangers(MODEL).shape == (2, 128)
        assert store.event_snapshot(int(written["event"])) is not None  # type: ignore[call-overload]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    db = tmp_path / "site" / "facegate.db"
    yield db, fill(db)


def move_to_new_machine(db: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the data folder (database only) on a "new machine": another, empty key folder."""
    new_db = dest / "moved" / db.name
    new_db.parent.mkdir(mode=0o700, parents=True)
    shutil.copy2(db, new_db)
    monkeypatch.setenv(KEY_DIR_ENV, str(dest / "other-machine-keys"))
    return new_db


def key_files(db: Path) -> list[Path]:
    with Store(db) as store:
        uid = store.database_uid
    return sorted(Path(os.environ[KEY_DIR_ENV]).glob(f"{uid}.key"))


# ------------------------------------------------------------------------------------------
def test_every_value_is_stored_encrypted_and_reads_back(site: tuple[Path, dict[str, object]]) -> None:
    db, written = site
    values = raw_values(db)
    assert len(values) == 3 + 3 + 2 + 1
    for (table, key), blob in values.items():
        assert envelope.is_sealed(blob), (table, key)
        assert envelope.value_key_id(blob) == 1
    assert_readable(db, written)
    with Store(db) as store:
        status = store.protection_status()
        assert status.state == ProtectionState.SEALED and status.encrypted and not status.locked
        assert status.plain_values == 0 and status.data_key_ids == (1,) and status.password_accounts == ()
    (key_file,) = key_files(db)
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.parent.stat().st_mode & 0o777 == 0o700
    assert not key_file.is_relative_to(db.parent), "the key lives outside the data folder"
    record = json.loads(key_file.read_text())
    assert record["format"] == "facegate-machine-key" and len(record["keys"]) == 1
    conn = sqlite3.connect(db)
    (wrapped,) = conn.execute("SELECT wrapped FROM key_wraps WHERE kind = 'machine'").fetchone()
    conn.close()
    assert len(wrapped) == 12 + 32 + 16, "only the wrapped data key is in the database"


def test_the_data_file_alone_decrypts_nothing_and_the_password_brings_it_back(
        site: tuple[Path, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, written = site
    with Store(db) as store:
        store.protect_with_password(PASSWORD, actor="test")
    before = raw_values(db)
    moved = move_to_new_machine(db, tmp_path, monkeypatch)
    with Store(moved) as store:
        assert store.data_locked
        reason = store.locked_reason or ""
        assert f"facegate unlock --db {moved} --password-stdin" in reason and "machine key is missing" in reason
        assert reason in store.open_warnings
        with pytest.raises(DataLockedError, match="facegate unlock"):
            store.sample_crop(next(iter(written["crops"])))  # type: ignore[call-overload]
        with pytest.raises(DataLockedError):
            store.templates(MODEL)
        with pytest.raises(DataLockedError):
            store.add_sample(store.list_people()[0].id, noise(5), {}, "cam", unit(5), MODEL)
        assert len(store.list_people()) == 2, "what is not face data still reads"
        store.log_event(person_id=None, score=0.1, decision="unknown", camera="door", model_sha256=MODEL)
        with pytest.raises(InputError, match="does not unlock"):
            store.unlock_with_password("wrong password here", actor="test")
        assert store.data_locked
        assert store.unlock_with_password(PASSWORD, actor="test")
        assert not store.data_locked and reason not in store.open_warnings
        assert store.audit_log()[0].action == "keys.unlock"
    assert_readable(moved, written)  # a fresh start on the new machine: its own machine key now
    assert len(key_files(moved)) == 1
    after = raw_values(moved)
    assert all(after[k] == v for k, v in before.items()), "unlocking re-wraps the key, re-encrypts nothing"
    with Store(moved) as store:
        assert not store.unlock_with_password(PASSWORD, actor="test"), "not locked: nothing to do"


def test_without_a_password_the_moved_data_stays_locked_with_the_way_out(
        site: tuple[Path, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = site
    moved = move_to_new_machine(db, tmp_path, monkeypatch)
    with Store(moved) as store:
        assert store.data_locked and "No password protects it" in (store.locked_reason or "")
        with pytest.raises(InputError, match="No password protects"):
            store.unlock_with_password(PASSWORD, actor="test")


def test_rotation_rewraps_without_reencrypting_and_the_old_machine_key_stops_working(
        site: tuple[Path, dict[str, object]]) -> None:
    db, written = site
    (key_file,) = key_files(db)
    old_record = key_file.read_text()
    before = raw_values(db)
    with Store(db) as store:
        old_id = store.protection_status().machine_key_id
        new_id = store.rotate_machine_key(actor="test")
        assert new_id != old_id and store.protection_status().machine_key_id == new_id
        assert store.audit_log()[0].action == "keys.machine.rotate"
    assert raw_values(db) == before, "no value was re-encrypted"
    assert list(json.loads(key_file.read_text())["keys"]) == [new_id], "the old key was deleted"
    assert_readable(db, written)
    new_record = key_file.read_text()
    key_file.write_text(old_record)  # the old machine key, kept somewhere by an attacker
    with Store(db) as store:
        assert store.data_locked and "another copy or an older key" in (store.locked_reason or "")
    key_file.write_text(new_record)
    assert_readable(db, written)


def test_password_change_rewraps_without_reencrypting_and_the_old_password_stops_working(
        site: tuple[Path, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, written = site
    new_password = "another long passphrase"
    with Store(db) as store:
        store.protect_with_password(PASSWORD, actor="test")
        kdf = json.loads(store.db.execute("SELECT kdf_json FROM key_wraps WHERE kind = 'password'").fetchone()[0])
        assert kdf["alg"] == "argon2id" and kdf["m_kib"] >= 65536 and kdf["t"] >= 3 and len(kdf["salt"]) == 32
        before = raw_values(db)
        with pytest.raises(InputError, match="current password is wrong"):
            store.change_protection_password("not the password", new_password, actor="test")
        with pytest.raises(InputError, match="too short"):
            store.change_protection_password(PASSWORD, "1234", actor="test")
        store.change_protection_password(PASSWORD, new_password, actor="test")
        assert [r.action for r in store.audit_log()[:2]] == ["keys.password.change", "keys.password.set"]
    assert raw_values(db) == before
    moved = move_to_new_machine(db, tmp_path, monkeypatch)
    with Store(moved) as store:
        with pytest.raises(InputError):
            store.unlock_with_password(PASSWORD, actor="test")
        assert store.unlock_with_password(new_password, actor="test")
    assert_readable(moved, written)


def test_forgetting_the_password_wrap(site: tuple[Path, dict[str, object]], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = site
    with Store(db) as store:
        with pytest.raises(InputError, match="too short"):
            store.protect_with_password("short", actor="test")
        store.protect_with_password(PASSWORD, actor="test", account="alice")
        assert store.protection_status().password_accounts == ("alice",)
        assert store.forget_protection_password("test", account="alice")
        assert not store.forget_protection_password("test", account="alice")
        assert store.protection_status().password_accounts == ()
    moved = move_to_new_machine(db, tmp_path, monkeypatch)
    with Store(moved) as store, pytest.raises(InputError, match="No password protects"):
        store.unlock_with_password(PASSWORD, actor="test")


def test_a_tampered_wrap_locks_the_data_instead_of_crashing(site: tuple[Path, dict[str, object]]) -> None:
    db, _ = site
    conn = sqlite3.connect(db)
    (wrapped,) = conn.execute("SELECT wrapped FROM key_wraps").fetchone()
    conn.execute("UPDATE key_wraps SET wrapped = ?", (wrapped[:-1] + bytes([wrapped[-1] ^ 1]),))
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.data_locked and "does not open the stored key" in (store.locked_reason or "")


def test_full_rekey_reencrypts_every_value_and_drops_the_old_key(site: tuple[Path, dict[str, object]]) -> None:
    db, written = site
    with Store(db) as store:
        store.protect_with_password(PASSWORD, actor="test")
        store.protect_with_password(PASSWORD + "!", actor="test", account="bob")
        with pytest.raises(InputError, match="wrong"):
            store.rekey_data("test", password="not it at all")
        report = store.rekey_data("test", password=PASSWORD)
        assert (report.old_key_id, report.new_key_id, report.values) == (1, 2, 9)
        assert report.dropped_password_accounts == ("bob",)
        status = store.protection_status()
        assert status.data_key_ids == (2,) and status.current_key_id == 2 and status.password_accounts == ("admin",)
        assert status.state == ProtectionState.SEALED and status.plain_values == 0
    assert {envelope.value_key_id(b) for b in raw_values(db).values()} == {2}
    assert_readable(db, written)


def test_a_key_folder_inside_the_data_folder_is_refused_and_the_data_stays_plain_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "data" / "facegate.db"
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "data" / "keys"))
    with Store(db) as store:
        warning = store.protection_warning or ""
        assert "NOT encrypted" in warning and "inside the data folder" in warning
        assert warning in store.open_warnings
        pid = store.add_person("Ann Example")
        store.add_sample(pid, noise(1), {}, "cam", unit(1), MODEL)
        assert not store.protection_status().encrypted
    assert not (tmp_path / "data" / "keys").exists()
    assert all(not envelope.is_sealed(b) for b in raw_values(db).values())
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "keys"))  # fixed: the next start encrypts what is there
    with Store(db) as store:
        assert store.protection_status().state == ProtectionState.SEALED
        assert store.audit_log()[0].action == "keys.encrypt_existing"
    assert all(envelope.is_sealed(b) for b in raw_values(db).values())


class MemoryKeyring:
    """A keyring backend held in memory (the real ``keyring`` API), standing for the OS keyring."""

    priority = 5

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


def test_the_machine_key_goes_to_the_os_keyring_when_there_is_one(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Backend(MemoryKeyring, KeyringBackend):
        pass

    backend = Backend()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        monkeypatch.setenv(KEY_STORE_ENV, "auto")
        monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "keys"))
        db = tmp_path / "data" / "facegate.db"
        written = fill(db)
        assert not (tmp_path / "keys").exists(), "no key file when the keyring holds the key"
        ((service, user), text) = next(iter(backend.entries.items()))
        record = json.loads(text)
        assert service == "facegate" and user == f"machine-key:{record['database_uid']}"
        with Store(db) as store:
            status = store.protection_status()
            assert status.key_store == "keyring" and status.machine_key_id in record["keys"]
            assert machine_key_id(bytes(32)) not in record["keys"]
        assert_readable(db, written)
        backend.entries.clear()  # the keyring entry deleted
        with Store(db) as store:
            assert store.data_locked and "the OS keyring" in (store.locked_reason or "")
    finally:
        keyring.set_keyring(previous)


def test_a_read_only_opening_decrypts_with_the_machine_key_and_changes_no_key(
        site: tuple[Path, dict[str, object]]) -> None:
    db, written = site
    with Store(db, read_only=True) as store:
        assert not store.data_locked
        crops = written["crops"]
        assert isinstance(crops, dict)
        sid = next(iter(crops))
        assert np.array_equal(store.sample_crop(sid), crops[sid])
        assert store.templates(MODEL)[2].shape == (3, 128)
        with pytest.raises(StorageError, match="read-only"):
            store.rotate_machine_key(actor="test")


def test_a_program_open_during_another_programs_rekey_follows_the_new_key(
        site: tuple[Path, dict[str, object]]) -> None:
    db, _ = site
    with Store(db) as door, Store(db) as admin:  # the door opened before the administrator re-keyed
        assert door.templates(MODEL)[0].size == 3
        admin.rekey_data("test")
        ids, _, _ = door.templates(MODEL)
        assert ids.size == 3 and door.quarantine == (), "read with the new key, nothing left out"
        sid = door.add_sample(door.list_people()[0].id, noise(7), {}, "cam", unit(7), MODEL)
    blob = raw_values(db)[("samples", sid)]
    assert envelope.value_key_id(blob) == 2, "written with the new key"
    with Store(db) as store:
        assert np.array_equal(store.sample_crop(sid), noise(7)) and store.templates(MODEL)[0].size == 4
        assert store.protection_status().data_key_ids == (2,)

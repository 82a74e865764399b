"""Backup and restore of the data folder (issue 12) on real data: enrol from the clips photos,
back up, erase Lin, restore: Alex is back and recognised, Lin erased again (the erasure ledger); a wrong
passphrase, a tampered or truncated archive, a newer schema and a database held by a running
program are refused with nothing changed; a backup taken while another connection keeps writing
events restores a consistent prefix; an older schema migrates on restore."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from desktop_app.core.backup import (
    BackupDamagedError,
    BackupError,
    DatabaseInUseError,
    WrongPassphraseError,
    database_in_use,
)
from desktop_app.core.backup import snapshot as snapshot_mod
from desktop_app.core.backup.archive import (
    BackupHeader,
    DecryptingReader,
    EncryptingWriter,
    key_check,
    open_key,
    read_header,
)
from desktop_app.core.backup.restore import restore_backup
from desktop_app.core.backup.snapshot import create_backup, spool_path
from desktop_app.core.protection.password_kdf import KdfParams, derive_key
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.event_spool import PendingEvent
from desktop_app.core.storage.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from desktop_app.core.storage.store import Store
from desktop_app.core.video.imageio import read_image

PASS = "correct horse battery staple"
LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"


def light_kdf() -> KdfParams:
    """argon2id parameters cheap enough for tests (the real default costs ~0.5 s and 64 MiB)."""
    return KdfParams(salt=os.urandom(16), time_cost=1, memory_kib=8 * 1024, parallelism=1)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path, db: Path) -> list[str]:
    """Files a failed restore must not leave: staging folders and safety copies."""
    return sorted(p.name for p in folder.iterdir() if ".restore-" in p.name or ".before-restore-" in p.name)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    folder = tmp_path_factory.mktemp("backup") / "data"
    with FaceGate(folder / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
        assert gate.enrol_images(ALEX, [clips / "alex-lacamoire.png"]).added
        gate.protect_with_password("a door-keeper's phrase", actor="test")
    return folder / "facegate.db"


@pytest.fixture
def db(enrolled: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(enrolled.parent, dst)
    return dst / enrolled.name


@pytest.fixture
def archive(db: Path, tmp_path: Path) -> Path:
    out = tmp_path / "site.fgbak"
    create_backup(db, out, PASS, kdf=light_kdf())
    return out


def test_backup_erase_restore_recognises_again(db: Path, tmp_path: Path, clips: Path) -> None:
    spool_line = PendingEvent(uid=PendingEvent.new_uid(), ts=datetime.now().astimezone(),
                              person_id=None, score=0.1, decision="unknown", camera="front", model_sha256="x")
    spool_path(db).write_text(spool_line.to_line() + "\n" + '{"half a line')  # the door appending meanwhile
    out = tmp_path / "site.fgbak"
    with FaceGate(db, device="cpu") as gate:
        report = gate.backup_to(out, PASS, actor="alice", kdf=light_kdf())
        assert (report.people, report.templates) == (2, 2) and report.warnings == ()
        assert report.sha256 == sha(out) and oct(out.stat().st_mode & 0o777) == "0o600"
        lin = gate.find_person(LIN, None)
        assert lin is not None
        gate.erase_person(lin.id, actor="alice")
        assert [p.name for p in gate.people()] == [ALEX]
    spool_path(db).unlink()
    # the archive holds no plain face data: neither crops (PNG) nor the database's own text
    blob = out.read_bytes()
    assert b"\x89PNG" not in blob and b"SQLite format 3" not in blob and LIN.encode() not in blob
    header = FaceGate.read_backup_header(out)
    assert header.schema_version == SCHEMA_VERSION and header.database_uid == report.database_uid
    restored = FaceGate.restore_backup(db, out, PASS, actor="alice")
    assert (restored.people, restored.templates, restored.pending_events) == (2, 2, 1)
    assert restored.locked is None and restored.previous is None and leftovers(db.parent, db) == []
    assert spool_path(db).read_text() == spool_line.to_line() + "\n"  # complete lines only
    assert restored.erasures_reapplied == 1  # Lin's erasure survives the restore (the erasure ledger)
    with FaceGate(db, device="cpu") as gate:
        assert [p.name for p in gate.people()] == [ALEX]
        found = gate.identify(read_image(clips / "alex-lacamoire.png"))
        assert found and found[0].accepted and found[0].name == ALEX
        assert gate.verify_audit().intact  # a new audit head file follows the restored chain
    with sqlite3.connect(db) as conn:
        (details,) = conn.execute("SELECT details_json FROM audit WHERE action = 'backup.restore'").fetchone()
        assert report.sha256 in details and "alice" in conn.execute(
            "SELECT actor FROM audit WHERE action = 'backup.restore'").fetchone()[0]


def test_wrong_passphrase_changes_nothing(db: Path, archive: Path) -> None:
    before = sha(db)
    with pytest.raises(WrongPassphraseError, match="does not open the backup"):
        restore_backup(db, archive, "not the passphrase", "test")
    assert sha(db) == before and leftovers(db.parent, db) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "header"])
def test_tampered_or_truncated_archive_refused(db: Path, archive: Path, damage: str) -> None:
    data = bytearray(archive.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[-200:]
    elif damage == "append":
        data += b"\0" * 64
    else:  # the header's created_at (readable without the key) edited
        i = data.index(b'"created_at":"') + len(b'"created_at":"')
        data[i] = ord("1") if data[i] != ord("1") else ord("2")
    archive.write_bytes(bytes(data))
    before = sha(db)
    with pytest.raises(BackupDamagedError):
        restore_backup(db, archive, PASS, "test")
    assert sha(db) == before and leftovers(db.parent, db) == []


def _small_chunk_archive(chunk: int, payload: bytes) -> tuple[bytes, bytes]:
    params = light_kdf()
    key = derive_key(PASS, params)
    header = BackupHeader(1, params, "2026-12-02T00:00:00+00:00", None, 1, chunk, key_check(key), "test")
    buf = io.BytesIO()
    writer = EncryptingWriter(buf, header, key)
    writer.write(payload)
    writer.finish()
    return buf.getvalue(), key


def _read(data: bytes) -> bytes:
    src = io.BytesIO(data)
    header, ad = read_header(src)
    reader = DecryptingReader(src, header, open_key(header, PASS), ad)
    out = reader.read()
    reader.drain()
    return bytes(out or b"")


def test_chunk_framing_detects_cut_dropped_reordered_chunks() -> None:
    payload = os.urandom(64 * 4)  # exactly 4 full chunks: the writer adds an empty last one
    data, _key = _small_chunk_archive(64, payload)
    assert _read(data) == payload
    full = 12 + 64 + 16
    body_at = len(data) - 4 * full - (12 + 16)
    chunks = [data[body_at + i * full: body_at + (i + 1) * full] for i in range(4)]
    tail = data[body_at + 4 * full:]
    head = data[:body_at]
    bad = {
        "cut at a chunk boundary": head + b"".join(chunks),
        "a chunk dropped": head + chunks[0] + chunks[2] + chunks[3] + tail,
        "chunks swapped": head + chunks[1] + chunks[0] + chunks[2] + chunks[3] + tail,
        "a chunk repeated": head + chunks[0] + chunks[0] + chunks[1] + chunks[2] + chunks[3] + tail,
    }
    for what, blob in bad.items():
        with pytest.raises(BackupDamagedError):
            _read(blob)
        assert what


def test_newer_schema_refused_older_schema_migrates(db: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer" / "facegate.db"
    newer.parent.mkdir()
    shutil.copy(db, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    out = tmp_path / "newer.fgbak"
    create_backup(newer, out, PASS, kdf=light_kdf())
    before = sha(db)
    with pytest.raises(BackupError, match="newer FaceGate"):
        restore_backup(db, out, PASS, "test")
    assert sha(db) == before and leftovers(db.parent, db) == []

    old = tmp_path / "old" / "facegate.db"
    old.parent.mkdir()
    conn = sqlite3.connect(old, isolation_level=None)
    from sqlite_utils import Database

    migrate(Database(conn), MIGRATIONS[:5])  # a file from before encryption and accounts
    conn.execute("INSERT INTO people (name, name_key, created_at, updated_at) "
                 "VALUES ('Old Timer', 'old timer', '2025-01-01T00:00:00', '2025-01-01T00:00:00')")
    conn.close()
    out_old = tmp_path / "old.fgbak"
    assert create_backup(old, out_old, PASS, kdf=light_kdf()).schema_version == 5
    target = tmp_path / "fresh" / "facegate.db"  # a new computer: nothing there yet
    report = restore_backup(target, out_old, PASS, "test")
    assert (report.schema_version, report.schema_now, report.people) == (5, SCHEMA_VERSION, 1)


def test_restore_refused_while_another_program_holds_the_database(db: Path, archive: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('SELECT count(*) FROM people').fetchone(); print('ready', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert database_in_use(db)
        before = sha(db)
        with pytest.raises(DatabaseInUseError, match="running door"):
            restore_backup(db, archive, PASS, "test")
        assert sha(db) == before and leftovers(db.parent, db) == []
    finally:
        holder.communicate("", timeout=30)
    assert not database_in_use(db)
    report = restore_backup(db, archive, PASS, "test", keep_previous=True)
    assert report.previous is not None and report.previous.is_file()  # the safety copy, kept on request


def test_backup_while_another_connection_writes_is_a_consistent_prefix(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "door" / "facegate.db"
    with Store(db) as store:
        store.db.conn.execute("BEGIN")
        for i in range(3000):  # a few MB of events, so that the copy takes many steps
            store.db.conn.execute("INSERT INTO events (ts, score, decision, camera, model_sha256, uid) "
                                  "VALUES (?, ?, 'unknown', 'front', 'm', ?)",
                                  (f"2026-12-02T08:{i // 60 % 60:02d}:{i % 60:02d}", i / 3000, "x" * 900 + str(i)))
        store.db.conn.execute("COMMIT")
    monkeypatch.setattr(snapshot_mod, "PAGES_PER_STEP", 16)
    stop = threading.Event()
    written: list[int] = []

    def door() -> None:  # another connection, as the door process: one event per commit
        with Store(db) as store:
            while not stop.is_set():
                written.append(store.log_event(person_id=None, score=0.2, decision="unknown", camera="front",
                                               model_sha256="m"))

    thread = threading.Thread(target=door)
    thread.start()
    steps: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        if message == "copying the database":
            steps.append(done)
            time.sleep(0.002)  # let the door commit between the copy's steps

    try:
        while not written:
            time.sleep(0.01)
        out = tmp_path / "live.fgbak"
        report = create_backup(db, out, PASS, kdf=light_kdf(), progress=progress)
    finally:
        stop.set()
        thread.join()
    assert len(steps) > 10 and len(written) > report.events - 3000  # the door wrote during the copy
    target = tmp_path / "restored" / "facegate.db"
    restored = restore_backup(target, out, PASS, "test")
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) == restored.events == report.events
    assert 3000 < report.events < 3000 + len(written)  # some of the door's events, in order, none missing


def test_fine_tuned_model_files_travel_the_default_model_does_not(tmp_path: Path) -> None:
    from desktop_app.core.storage.records import ModelRecord

    db = tmp_path / "site" / "facegate.db"
    content = os.urandom(4096)  # stands for a retrained model's file (only its registered sha256 is checked)
    digest = hashlib.sha256(content).hexdigest()
    custom = db.parent / "models" / f"retrained-{digest[:12]}.onnx"
    default = db.parent / "models" / "sface-2021dec-fp32.onnx"
    with Store(db) as store:
        custom.parent.mkdir()
        custom.write_bytes(content)
        default.write_bytes(b"rebuilt from the shipped model")
        store.register_model(ModelRecord(name="retrained", sha256=digest, path=str(custom)))
        store.register_model(ModelRecord(name="default", sha256=hashlib.sha256(default.read_bytes()).hexdigest(),
                                         path=str(default)))
    out = tmp_path / "site.fgbak"
    report = create_backup(db, out, PASS, kdf=light_kdf())
    assert f"models/{custom.name}" in report.files and "models/sface-2021dec-fp32.onnx" not in report.files
    target = tmp_path / "elsewhere" / "facegate.db"
    restored = restore_backup(target, out, PASS, "test")
    assert restored.models == 1 and (target.parent / "models" / custom.name).read_bytes() == content
    custom.write_bytes(b"damaged")  # a model file that no longer matches its registration is not backed up
    with pytest.raises(BackupError, match="does not match its registered sha256"):
        create_backup(db, tmp_path / "again.fgbak", PASS, kdf=light_kdf())
    assert not (tmp_path / "again.fgbak").exists() and not list(tmp_path.glob(".again.fgbak*"))


def test_a_restored_database_that_does_not_open_puts_the_previous_one_back(
        db: Path, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop_app.core.errors import StorageError

    spool_path(db).write_text("")
    before = {p.name: sha(p) for p in db.parent.iterdir() if p.is_file()}

    def refuse(self: Store, *args: object, **kwargs: object) -> None:
        raise StorageError("the disk is full (simulated)")

    monkeypatch.setattr(Store, "__init__", refuse)
    with pytest.raises(BackupError, match="previous one was put back unchanged"):
        restore_backup(db, archive, PASS, "test")
    monkeypatch.undo()
    after = {p.name: sha(p) for p in db.parent.iterdir() if p.is_file()}
    assert after == before and leftovers(db.parent, db) == []


def test_weak_passphrase_refused(db: Path, tmp_path: Path) -> None:
    from desktop_app.core.errors import InputError

    for weak in ("short", "password123", "aaaaaaaaaaaa", "abcdefghijkl"):
        with pytest.raises(InputError, match="backup passphrase"):
            create_backup(db, tmp_path / "weak.fgbak", weak, kdf=light_kdf())
    assert not (tmp_path / "weak.fgbak").exists()
